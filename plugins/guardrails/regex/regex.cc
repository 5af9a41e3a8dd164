// Guardrail `regex`: deny and allow lists of RE2 patterns. A text matching a
// `deny` pattern is blocked (the reason names the pattern, never the text); with
// an `allow` list, a text matching none of its patterns is blocked (topic
// filtering). Patterns are compiled once, at create().
#include <algorithm>
#include <memory>
#include <string>

#include "pattern_list.h"
#include "plugin_util.h"
#include "sluice/plugin.h"
#include "text.h"

namespace sluice::regex {
namespace {

constexpr const char* kName = "regex";

struct Instance {
  PatternList deny;
  PatternList allow;
  size_t stream_hold = 0;
  std::string off_topic_reason;
  sluice_finding off_topic{};
};

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  guardrails::JsonConfig cfg;
  std::string why;
  auto inst = std::make_unique<Instance>();
  bool ok = cfg.parse(config_json, &why);
  bool ci = ok && cfg.boolean("case_insensitive", false);
  if (ok && cfg.get("deny") == nullptr && cfg.get("allow") == nullptr) {
    why = "give a deny list, an allow list, or both";
    ok = false;
  }
  if (ok && cfg.get("deny")) ok = inst->deny.load("deny", cfg.get("deny"), ci, &why);
  if (ok && cfg.get("allow")) ok = inst->allow.load("allow", cfg.get("allow"), ci, &why);
  if (!ok) {
    guardrails::copyError(why, err, err_len);
    return SLUICE_ERR_CONFIG;
  }
  inst->stream_hold = static_cast<size_t>(cfg.number("stream_hold_bytes", 64));
  inst->off_topic_reason = "matched no allow pattern";
  inst->off_topic = {guardrails::str("OFF_TOPIC"), 1, guardrails::str("block")};
  *instance = inst.release();
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

void block(const std::string& reason, const sluice_finding* finding, sluice_guard_result* result) {
  result->verdict = SLUICE_VERDICT_BLOCK;
  result->reason = guardrails::str(reason);
  result->findings = finding;
  result->finding_count = 1;
}

int check(void* instance, const sluice_guard_input* in, sluice_guard_result* result) {
  const auto* inst = static_cast<const Instance*>(instance);
  guardrails::resetResult(result);
  std::string_view text = guardrails::view(in->content);
  int denied = inst->deny.firstMatch(text);
  if (denied >= 0) {
    block(inst->deny.reason(denied), &inst->deny.finding(denied), result);
    return SLUICE_OK;
  }
  // Topic filtering judges what is asked; a streamed answer is never whole in one window.
  if (!inst->allow.empty() && in->hook != SLUICE_HOOK_LLM_OUTPUT &&
      inst->allow.firstMatch(text) < 0) {
    block(inst->off_topic_reason, &inst->off_topic, result);
    return SLUICE_OK;
  }
  if (!inst->deny.empty() && inst->stream_hold > 0) {
    size_t from = text.size() > inst->stream_hold ? text.size() - inst->stream_hold : 0;
    guardrails::setHoldBytes(result, text.size() - guardrails::utf8Start(text, from));
  }
  return SLUICE_OK;
}

const sluice_config_key kConfig[] = {
    {"deny", SLUICE_CFG_ANY, 0, nullptr, 0, 0, nullptr, nullptr,
     "patterns that block: a list of RE2 patterns, each a string or {name, pattern}; the "
     "reason names the first matching pattern in list order"},
    {"allow", SLUICE_CFG_ANY, 0, nullptr, 0, 0, nullptr, nullptr,
     "when given, text matching none of these patterns is blocked (llm_input and MCP hooks; "
     "not applied to llm_output)"},
    {"case_insensitive", SLUICE_CFG_BOOL, 0, "false", 0, 0, nullptr, nullptr,
     "match without regard to case (or use (?i) in a pattern)"},
    {"stream_hold_bytes", SLUICE_CFG_INT, 0, "64", 0, 65536, nullptr, nullptr,
     "streams: bytes held back so a deny match cut between chunks is still seen (the longest "
     "text a deny pattern must match across a cut)"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_guardrail_vtable kVtable = {
    sizeof(sluice_guardrail_vtable), create, destroy, check, guardrails::noCancel, nullptr,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_GUARDRAIL,
    kName,
    "1.0.0",
    "Deny and allow lists of RE2 patterns (linear time, no backtracking). Deny blocks naming "
    "the pattern; allow blocks text matching none (topic filtering).",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::regex

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::regex::kDescriptor;
}
