-- Production traffic must name the change ticket it belongs to.
--
--   policies:
--     - {script: scripts/lua/require_ticket.lua, hooks: [on_request]}
--
-- Callers send it in X-Sluice-Metadata: {"ticket_id": "CHG-1234"}. The
-- environment comes from the caller's account metadata (or default_metadata).

function on_request(req)
  if req.metadata.environment == "production" and not req.metadata.ticket_id then
    return sluice.reject(400, "ticket_id is required in production")
  end
end
