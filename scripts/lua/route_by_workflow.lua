-- Sends each workflow to the model that suits it, whatever model the caller
-- named. The rewritten model goes through model access (403) and lookup
-- (404) like any other, and x-sluice-resolved-model shows where it went.
--
--   policies:
--     - {script: scripts/lua/route_by_workflow.lua, hooks: [on_request]}
--
-- Callers send X-Sluice-Metadata: {"workflow": "repo-understanding"}.

-- metadata.workflow -> "<provider>/<model>"; edit to match your manifest.
local MODEL_FOR_WORKFLOW = {
  ["repo-understanding"] = "on-prem/llama-3.1-70b",
  ["summarise"] = "openai-main/gpt-4o-mini",
  ["triage"] = "openai-main/gpt-4o-mini",
}

function on_request(req)
  local model = MODEL_FOR_WORKFLOW[req.metadata.workflow]
  if model and model ~= req.model then
    sluice.log("debug", "workflow " .. req.metadata.workflow .. ": " .. req.model .. " -> " .. model)
    req.model = model
  end
end
