// One thread's sandbox running a guardrail script: the script's top level run
// once, then its check function called for every piece of content.
#pragma once

#include <cjson/cJSON.h>

#include <memory>
#include <string>
#include <vector>

#include "sluice/lua_sandbox.h"
#include "sluice/plugin.h"

namespace sluice::lua_guard {

// What a guardrail script is, shared by every thread's state.
struct ScriptSpec {
  std::string path;      // as configured: names the chunk in messages
  std::string function;  // the global function to call, "check" by default
  std::string source;
  sluice_lua_limits limits{};
  const sluice_host* host = nullptr;  // for sluice.log
};

constexpr size_t kMaxFindings = 32;
constexpr size_t kMaxFindingTypeBytes = 64;

class GuardState {
 public:
  // nullptr with *error ("guard.lua:3: why") when the script cannot start.
  static std::unique_ptr<GuardState> create(const ScriptSpec& spec, std::string* error);
  ~GuardState();
  GuardState(const GuardState&) = delete;
  GuardState& operator=(const GuardState&) = delete;

  // Calls the function with (content, ctx) and fills *result; its strings
  // live in this state until its next check.
  void check(const sluice_guard_input& in, sluice_guard_result* result);

 private:
  explicit GuardState(const ScriptSpec& spec) : spec_(spec) {}

  const ScriptSpec& spec_;
  sluice_lua_sandbox* sandbox_ = nullptr;
  int function_ref_ = -1;
  // The last result's memory.
  std::string reason_;
  std::string content_;
  std::vector<std::string> finding_text_;  // type, action, type, action, ...
  std::vector<sluice_finding> findings_;
};

}  // namespace sluice::lua_guard
