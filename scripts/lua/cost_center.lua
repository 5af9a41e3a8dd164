-- Tags every request with the cost centre of the caller's team. The tag is
-- request metadata from then on: rate limits and budgets can count by it
-- (applies_per: [metadata.cost_center]), the request record carries it, and
-- the provider sees it in an x-cost-center header (for its own usage reports).
--
--   policies:
--     - {script: scripts/lua/cost_center.lua, hooks: [on_request]}

-- team -> cost centre; edit to match your `auth.teams`.
local COST_CENTER_FOR_TEAM = {
  ["payments"] = "CC-1001",
  ["research"] = "CC-2002",
}
local UNASSIGNED = "CC-0000"

function on_request(req)
  local cost_center = COST_CENTER_FOR_TEAM[req.team] or UNASSIGNED
  req.metadata.cost_center = cost_center
  req.set_upstream_header("x-cost-center", cost_center)
end
