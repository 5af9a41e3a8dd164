-- Keeps some models out of some environments (metadata.environment, which
-- callers cannot override when their account sets it). A request for a
-- forbidden model gets 403 naming the model and the environment.
--
--   policies:
--     - {script: scripts/lua/forbid_models.lua, hooks: [on_request]}
--
-- List it after policies that rewrite the model, so it checks the model
-- that would really be used.

-- environment -> forbidden models: exact names, or a prefix ending in "*".
local FORBIDDEN = {
  production = {"openai-main/gpt-4o", "experimental/*"},
  development = {"openai-main/o1*"},
}

local function matches(pattern, model)
  if pattern:sub(-1) == "*" then
    return model:sub(1, #pattern - 1) == pattern:sub(1, -2)
  end
  return model == pattern
end

function on_request(req)
  local environment = req.metadata.environment or "development"
  for _, pattern in ipairs(FORBIDDEN[environment] or {}) do
    if matches(pattern, req.model) then
      return sluice.reject(403, "model '" .. req.model .. "' is not allowed in " .. environment,
                           "model_forbidden")
    end
  end
end
