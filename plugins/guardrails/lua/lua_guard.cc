// Guardrail `lua`: a guardrail written as a Lua function, run in the same
// sandbox as the gateway's policies (sluice/lua_sandbox.h).
//
//   function check(content, ctx)   -- ctx = {hook, model, subject, request_id, metadata}
//     if content:find("forbidden topic") then return "block", "off-topic request" end
//     return "mutate", (content:gsub("%d%d%d%-%d%d%d%d", "[PHONE]")), {{type = "PHONE"}}
//   end
//
// It returns nil or "pass"; "block", reason; or "mutate", new_content; plus
// an optional findings table. An error, the instruction budget or the memory
// cap running out is a guardrail failure (SLUICE_VERDICT_FAIL).
//
// One plugin instance serves every worker thread: each thread gets its own
// Lua state, made on its first check and kept until the instance goes.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "guard_state.h"
#include "sluice/plugin.h"

namespace sluice::lua_guard {
namespace {

constexpr const char* kName = "lua";
constexpr size_t kMaxScriptBytes = 1024 * 1024;

struct Instance {
  ScriptSpec spec;
  std::mutex mu;  // guards states
  std::unordered_map<std::thread::id, std::unique_ptr<GuardState>> states;
};

void copyError(const std::string& msg, char* err, size_t err_len) {
  if (!err || err_len == 0) return;
  snprintf(err, err_len, "%s", msg.c_str());
}

std::string stringKey(const cJSON* config, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(config, key);
  return cJSON_IsString(v) ? v->valuestring : "";
}

uint64_t intKey(const cJSON* config, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(config, key);
  return cJSON_IsNumber(v) && v->valuedouble > 0 ? static_cast<uint64_t>(v->valuedouble) : 0;
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  cJSON* config = cJSON_Parse(config_json ? config_json : "{}");
  if (!config) {
    copyError("config is not valid JSON", err, err_len);
    return SLUICE_ERR_CONFIG;
  }
  auto inst = std::make_unique<Instance>();
  ScriptSpec& spec = inst->spec;
  spec.host = host;
  spec.path = stringKey(config, "script");
  spec.function = stringKey(config, "function");
  spec.limits.instruction_budget = intKey(config, "instruction_budget");
  spec.limits.memory_bytes = static_cast<size_t>(intKey(config, "memory_bytes"));
  cJSON_Delete(config);
  if (spec.function.empty()) spec.function = "check";

  char* text = nullptr;
  size_t len = 0;
  if (sluice_lua_read_file(spec.path.c_str(), kMaxScriptBytes, &text, &len, err, err_len) != 0) {
    return SLUICE_ERR_CONFIG;
  }
  spec.source.assign(text, len);
  free(text);
  std::string why;
  // Run it once now, as every worker will: a broken script stops `sluice
  // validate` and a reload instead of failing every request later.
  if (!GuardState::create(spec, &why)) {
    copyError(why, err, err_len);
    return SLUICE_ERR_CONFIG;
  }
  *instance = inst.release();
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

// This thread's state, made on its first check.
GuardState* stateForThisThread(Instance* inst, std::string* why) {
  std::lock_guard<std::mutex> lock(inst->mu);
  std::unique_ptr<GuardState>& st = inst->states[std::this_thread::get_id()];
  if (!st) st = GuardState::create(inst->spec, why);
  return st.get();
}

int check(void* instance, const sluice_guard_input* in, sluice_guard_result* result) {
  auto* inst = static_cast<Instance*>(instance);
  thread_local std::string failure;  // the reason's memory when no state could be made
  GuardState* st = stateForThisThread(inst, &failure);
  if (!st) {
    result->verdict = SLUICE_VERDICT_FAIL;
    result->reason = {failure.data(), failure.size()};
    result->content = {nullptr, 0};
    result->findings = nullptr;
    result->finding_count = 0;
    return SLUICE_OK;
  }
  st->check(*in, result);
  return SLUICE_OK;
}

void cancel(void*, void*) {}  // checks answer at once: nothing is ever pending

const sluice_config_key kConfig[] = {
    {"script", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr,
     "path of the Lua script (relative paths: from the gateway's working directory)"},
    {"function", SLUICE_CFG_STRING, 0, "\"check\"", 0, 0, nullptr, nullptr,
     "the global function called as function(content, ctx)"},
    {"instruction_budget", SLUICE_CFG_INT, 0, "10000000", 1000, 1e10, nullptr, nullptr,
     "Lua VM instructions (and pattern-matching steps) one check may run"},
    {"memory_bytes", SLUICE_CFG_INT, 0, "67108864", 65536, 4294967296.0, nullptr, nullptr,
     "memory cap of each worker's Lua state, content included"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_guardrail_vtable kVtable = {
    sizeof(sluice_guardrail_vtable), create, destroy, check, cancel, nullptr,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_GUARDRAIL,
    kName,
    "1.0.0",
    "A guardrail written in Lua: check(content, ctx) returns nil/'pass', 'block' and a reason, "
    "or 'mutate' and the new content, plus optional findings; sandboxed (no io/os/require, an "
    "instruction budget, a memory cap), one Lua state per worker.",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::lua_guard

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::lua_guard::kDescriptor;
}
