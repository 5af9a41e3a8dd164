-- A guardrail (plugin `lua`) that keeps conversations off listed topics.
--
--   guardrails:
--     - {name: topics, plugin: lua, operation: validate, mode: enforce,
--        config: {script: scripts/lua/block_topics.lua}}
--   guardrail_rules:
--     - {llm_input: [topics]}
--
-- Matching is plain (no patterns) and case-insensitive; the reason names the
-- topic, never the text around it.

local BLOCKED_TOPICS = {"insider trading", "share price forecast", "unreleased product"}

function check(content, ctx)
  local text = content:lower()
  for _, topic in ipairs(BLOCKED_TOPICS) do
    if text:find(topic, 1, true) then
      return "block", "the topic '" .. topic .. "' is off limits", {{type = "TOPIC"}}
    end
  end
end
