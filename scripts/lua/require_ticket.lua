-- Production traffic must name the change ticket it belongs to, and its
-- answers name the ticket back (x-ticket-id), for the caller's own records.
--
--   policies:
--     - {script: scripts/lua/require_ticket.lua, hooks: [on_request, on_response]}
--
-- Callers send it in X-Sluice-Metadata: {"ticket_id": "CHG-1234"}. The
-- environment comes from the caller's account metadata (or default_metadata).

function on_request(req)
  if req.metadata.environment == "production" and not req.metadata.ticket_id then
    return sluice.reject(400, "ticket_id is required in production")
  end
end

function on_response(req, res)
  local ticket = req.metadata.ticket_id
  if ticket and not ticket:find("%c") then  -- a header value holds no control characters
    res.set_header("x-ticket-id", ticket)
  end
end
