// The safety envelope's configuration for one manifest snapshot: the
// guardrail plugin instances (`guardrails:`), the rules that pick them per
// hook (`guardrail_rules:`), and the X-Sluice-Guardrails header that adds
// configured guardrails to a request (never removes one).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "governance/limits.h"
#include "manifest/config.h"
#include "plugins/registry.h"
#include "sluice/plugin.h"

namespace sluice::pipeline {

enum class GuardHook { LlmInput = 0, LlmOutput = 1, McpPreTool = 2, McpPostTool = 3 };
constexpr size_t kGuardHookCount = 4;

const char* hookName(GuardHook hook);  // "llm_input", ...
sluice_hook hookAbi(GuardHook hook);

struct Guardrail {
  const manifest::GuardrailConfig* config = nullptr;  // name, operation, mode, priority, timeout
  const sluice_guardrail_vtable* vt = nullptr;
  void* instance = nullptr;
  size_t index = 0;  // its slot in per-request state
  bool validate() const { return config->operation == manifest::GuardOperation::Validate; }
  // The plugin was built against a vtable that has request_end.
  bool hasRequestEnd() const;
};

// The guardrails one request runs, per hook: mutate ones first, in priority
// order, then the validate ones (which run in parallel).
struct GuardPlan {
  std::array<std::vector<const Guardrail*>, kGuardHookCount> hooks;
  std::vector<std::string> rule_ids;  // the guardrail rules that matched
  const std::vector<const Guardrail*>& of(GuardHook h) const {
    return hooks[static_cast<size_t>(h)];
  }
  bool runs(GuardHook h) const { return !of(h).empty(); }
  bool empty() const;
  void clear();  // keeps the lists' buffers
};

// Guardrails a caller asked for by name, per hook (X-Sluice-Guardrails).
using GuardNames = std::array<std::vector<std::string>, kGuardHookCount>;

class GuardrailSet {
 public:
  // Creates every guardrail instance. nullptr with one line per problem in
  // *errors when a plugin is missing or refuses its config.
  static std::unique_ptr<GuardrailSet> build(const manifest::Config& config,
                                             plugins::Registry* registry,
                                             std::vector<std::string>* errors);
  ~GuardrailSet();
  GuardrailSet(const GuardrailSet&) = delete;
  GuardrailSet& operator=(const GuardrailSet&) = delete;

  bool empty() const { return guards_.empty(); }
  size_t size() const { return guards_.size(); }
  const Guardrail* find(std::string_view name) const;

  // Parses an X-Sluice-Guardrails value: a JSON object whose keys
  // llm_input_guardrails, llm_output_guardrails,
  // mcp_tool_pre_invoke_guardrails and mcp_tool_post_invoke_guardrails hold
  // arrays of configured guardrail names. False with *error naming the
  // problem (an unknown key or name, a wrong type).
  bool parseHeader(std::string_view header, GuardNames* out, std::string* error) const;

  // What the rules matching this request pick, plus what the header asked for, into `out`
  // (its buffers reused).
  void plan(const governance::RequestFacts& facts, const GuardNames* extra, GuardPlan* out) const;

 private:
  GuardrailSet() = default;
  const manifest::Config* config_ = nullptr;
  std::vector<std::unique_ptr<Guardrail>> guards_;
};

}  // namespace sluice::pipeline
