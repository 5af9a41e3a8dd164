// One script in one sandbox: the `sluice` API installed, the script's top
// level run, its hook functions found. A worker keeps one per script and
// reuses it for every request (OpenResty's one VM per worker).
#pragma once

#include <memory>
#include <string>

#include "lua/hooks.h"
#include "lua/policies.h"
#include "lua/request_api.h"
#include "sluice/lua_sandbox.h"

namespace sluice::lua {

class ScriptState {
 public:
  // nullptr with *error ("path:line: why") when the script cannot start.
  static std::unique_ptr<ScriptState> create(const Script& script, std::string* error);
  ~ScriptState();
  ScriptState(const ScriptState&) = delete;
  ScriptState& operator=(const ScriptState&) = delete;

  bool defines(Hook h) const { return refs_[static_cast<int>(h)] >= 0; }
  // Runs ctx's hook (runHook) under the budget; false with *error on failure.
  sluice_lua_status call(CallContext* ctx, std::string* error);

  // The state grew close to its cap and stayed there after a full
  // collection (a script hoarding data in globals): better start afresh.
  bool nearlyFull() const;
  size_t memoryUsed() const { return sluice_lua_sandbox_memory_used(sandbox_); }

 private:
  ScriptState() = default;

  sluice_lua_sandbox* sandbox_ = nullptr;
  ApiBinding binding_;
  int refs_[kHookCount] = {-1, -1, -1};
};

}  // namespace sluice::lua
