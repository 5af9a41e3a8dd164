#include "lua/script_state.h"

namespace sluice::lua {

std::unique_ptr<ScriptState> ScriptState::create(const Script& script, std::string* error) {
  std::unique_ptr<ScriptState> s(new ScriptState());
  char err[512] = {0};
  s->sandbox_ = sluice_lua_sandbox_new(&script.limits, err, sizeof err);
  if (!s->sandbox_) {
    *error = std::string(err) + " (raise memory_bytes)";
    return nullptr;
  }
  s->binding_.script = &script;
  bindApi(sluice_lua_sandbox_state(s->sandbox_), &s->binding_);
  if (sluice_lua_sandbox_call(s->sandbox_, installApi, nullptr, err, sizeof err) != SLUICE_LUA_OK) {
    *error = std::string("cannot set up the policy API: ") + err + " (raise memory_bytes)";
    return nullptr;
  }
  if (sluice_lua_sandbox_run(s->sandbox_, script.source.data(), script.source.size(),
                             script.path.c_str(), err, sizeof err) != SLUICE_LUA_OK) {
    *error = err;
    return nullptr;
  }
  if (sluice_lua_sandbox_call(s->sandbox_, findHooks, s->refs_, err, sizeof err) != SLUICE_LUA_OK) {
    *error = err;
    return nullptr;
  }
  return s;
}

ScriptState::~ScriptState() { sluice_lua_sandbox_free(sandbox_); }

sluice_lua_status ScriptState::call(CallContext* ctx, std::string* error) {
  char err[512] = {0};
  ctx->function_ref = refs_[static_cast<int>(ctx->hook)];
  binding_.call = ctx;
  sluice_lua_status status = sluice_lua_sandbox_call(sandbox_, runHook, ctx, err, sizeof err);
  binding_.call = nullptr;
  if (status != SLUICE_LUA_OK) *error = err;
  return status;
}

bool ScriptState::nearlyFull() const {
  size_t cap = sluice_lua_sandbox_memory_cap(sandbox_);
  return cap && sluice_lua_sandbox_memory_used(sandbox_) > cap / 4 * 3;
}

}  // namespace sluice::lua
