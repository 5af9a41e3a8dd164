#include "guard_state.h"

#include <cstdio>
#include <cstring>
#include <lua.hpp>
#include <string_view>

// The glue below runs inside the sandbox's protected calls, where a Lua error
// longjmps over C++ frames: no object with a destructor may be alive across
// a Lua API call that can raise.

namespace sluice::lua_guard {
namespace {

const char* hookName(sluice_hook hook) {
  switch (hook) {
    case SLUICE_HOOK_LLM_INPUT: return "llm_input";
    case SLUICE_HOOK_LLM_OUTPUT: return "llm_output";
    case SLUICE_HOOK_MCP_PRE_TOOL: return "mcp_pre_tool";
    case SLUICE_HOOK_MCP_POST_TOOL: return "mcp_post_tool";
  }
  return "unknown";
}

std::string_view view(sluice_str s) { return {s.ptr ? s.ptr : "", s.len}; }

void pushStr(lua_State* L, std::string_view s) { lua_pushlstring(L, s.data(), s.size()); }

std::string_view stringAt(lua_State* L, int index) {
  size_t len = 0;
  const char* s = lua_tolstring(L, index, &len);
  return {s, len};
}

struct Finding {
  std::string type;
  std::string action;
  uint32_t count;
};

// One check in progress: its input, and where the answer goes.
struct CheckCall {
  const ScriptSpec* spec;
  const sluice_guard_input* in;
  const cJSON* metadata;  // the request's metadata, parsed; may be null
  int function_ref;
  sluice_verdict verdict = SLUICE_VERDICT_PASS;
  std::string* reason;
  std::string* content;
  std::vector<Finding>* findings;
};

// sluice.log(level, message); upvalue 1: the ScriptSpec.
int apiLog(lua_State* L) {
  static const char* const kLevels[] = {"debug", "info", "warn", "error", nullptr};
  int level = luaL_checkoption(L, 1, nullptr, kLevels);
  size_t len = 0;
  const char* message = luaL_checklstring(L, 2, &len);
  const auto* spec = static_cast<const ScriptSpec*>(lua_touserdata(L, lua_upvalueindex(1)));
  // One line: control characters become spaces.
  char line[1024];
  int n = snprintf(line, sizeof line, "%s: %.*s", spec->path.c_str(),
                   static_cast<int>(len > 900 ? 900 : len), message);
  for (int i = 0; i < n && i < static_cast<int>(sizeof line) - 1; i++) {
    if (static_cast<unsigned char>(line[i]) < 0x20) line[i] = ' ';
  }
  if (spec->host && spec->host->log) {
    spec->host->log(static_cast<sluice_log_level>(level), "lua", line);
  }
  return 0;
}

int installApi(lua_State* L) {
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, 1);  // the ScriptSpec
  lua_pushcclosure(L, apiLog, 1);
  lua_setfield(L, -2, "log");
  lua_setglobal(L, "sluice");
  return 0;
}

struct FunctionLookup {
  const char* name;
  int ref;
};

int findFunction(lua_State* L) {
  auto* lookup = static_cast<FunctionLookup*>(lua_touserdata(L, 1));
  int type = lua_getglobal(L, lookup->name);
  if (type == LUA_TNIL) return luaL_error(L, "the script defines no function '%s'", lookup->name);
  if (type != LUA_TFUNCTION) {
    return luaL_error(L, "'%s' is a %s, not a function", lookup->name, lua_typename(L, type));
  }
  lookup->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

// ctx = {hook, model, subject, request_id, metadata = {...}}
void pushContext(lua_State* L, const CheckCall& call) {
  lua_createtable(L, 0, 5);
  int ctx = lua_gettop(L);
  lua_pushstring(L, hookName(call.in->hook));
  lua_setfield(L, ctx, "hook");
  pushStr(L, view(call.in->model));
  lua_setfield(L, ctx, "model");
  pushStr(L, view(call.in->subject));
  lua_setfield(L, ctx, "subject");
  pushStr(L, view(call.in->request_id));
  lua_setfield(L, ctx, "request_id");
  lua_createtable(L, 0, 0);
  for (const cJSON* item = call.metadata ? call.metadata->child : nullptr; item;
       item = item->next) {
    if (!item->string || !cJSON_IsString(item)) continue;
    lua_pushstring(L, item->valuestring);
    lua_setfield(L, -2, item->string);
  }
  lua_setfield(L, ctx, "metadata");
}

void readVerdict(lua_State* L, int at, CheckCall* call) {
  const char* fn = call->spec->function.c_str();
  int type = lua_type(L, at);
  if (type == LUA_TNIL) return;
  if (type != LUA_TSTRING) {
    luaL_error(L, "%s returned a %s; expected nil, 'pass', 'block' or 'mutate'", fn,
               luaL_typename(L, at));
  }
  std::string_view verdict = stringAt(L, at);
  if (verdict == "pass") return;
  if (verdict == "block") {
    call->verdict = SLUICE_VERDICT_BLOCK;
    int reason = lua_type(L, at + 1);
    if (reason == LUA_TSTRING) {
      call->reason->assign(stringAt(L, at + 1));
    } else if (reason == LUA_TNIL) {
      call->reason->assign("blocked by " + call->spec->path);
    } else {
      luaL_error(L, "%s: the reason for 'block' must be a string, not %s", fn,
                 luaL_typename(L, at + 1));
    }
    return;
  }
  if (verdict == "mutate") {
    if (lua_type(L, at + 1) != LUA_TSTRING) {
      luaL_error(L, "%s: 'mutate' needs the new content (a string) as its second value, not %s", fn,
                 luaL_typename(L, at + 1));
    }
    call->verdict = SLUICE_VERDICT_MUTATE;
    call->content->assign(stringAt(L, at + 1));
    return;
  }
  luaL_error(L, "%s returned '%s'; expected nil, 'pass', 'block' or 'mutate'", fn,
             lua_tostring(L, at));
}

const char* defaultAction(sluice_verdict v) {
  return v == SLUICE_VERDICT_BLOCK ? "block" : v == SLUICE_VERDICT_MUTATE ? "redact" : "audit";
}

// findings = {{type = "PROFANITY", count = 2, action = "redact"}, ...}
void readFindings(lua_State* L, int at, CheckCall* call) {
  if (lua_isnil(L, at)) return;
  if (!lua_istable(L, at)) luaL_error(L, "findings must be a table, not %s", luaL_typename(L, at));
  for (lua_Integer i = 1; lua_rawgeti(L, at, i) != LUA_TNIL; i++) {
    if (static_cast<size_t>(i) > kMaxFindings) {
      luaL_error(L, "at most %d findings", static_cast<int>(kMaxFindings));
    }
    if (!lua_istable(L, -1)) luaL_error(L, "findings[%d] must be a table", static_cast<int>(i));
    int f = lua_gettop(L);
    if (lua_getfield(L, f, "type") != LUA_TSTRING || lua_rawlen(L, -1) == 0 ||
        lua_rawlen(L, -1) > kMaxFindingTypeBytes) {
      luaL_error(L, "findings[%d].type must be a string of 1 to %d bytes", static_cast<int>(i),
                 static_cast<int>(kMaxFindingTypeBytes));
    }
    lua_Integer count = 1;
    if (lua_getfield(L, f, "count") != LUA_TNIL) {
      int exact = 0;
      count = lua_tointegerx(L, -1, &exact);
      if (!exact || count < 1 || count > UINT32_MAX) {
        luaL_error(L, "findings[%d].count must be a positive integer", static_cast<int>(i));
      }
    }
    int action = lua_getfield(L, f, "action");
    if (action != LUA_TNIL && action != LUA_TSTRING) {
      luaL_error(L, "findings[%d].action must be a string", static_cast<int>(i));
    }
    std::string_view type = stringAt(L, f + 1);
    std::string_view act =
        action == LUA_TSTRING ? stringAt(L, f + 3) : std::string_view(defaultAction(call->verdict));
    call->findings->push_back(
        Finding{std::string(type), std::string(act.substr(0, 32)), static_cast<uint32_t>(count)});
    lua_pop(L, 4);
  }
  lua_pop(L, 1);
}

// The check: function(content, ctx) -> verdict, detail, findings.
int runCheck(lua_State* L) {
  auto* call = static_cast<CheckCall*>(lua_touserdata(L, 1));
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->function_ref);
  pushStr(L, view(call->in->content));
  pushContext(L, *call);
  lua_call(L, 2, 3);
  int first = lua_gettop(L) - 2;
  readVerdict(L, first, call);
  readFindings(L, first + 2, call);
  return 0;
}

}  // namespace

std::unique_ptr<GuardState> GuardState::create(const ScriptSpec& spec, std::string* error) {
  std::unique_ptr<GuardState> s(new GuardState(spec));
  char err[512] = {0};
  s->sandbox_ = sluice_lua_sandbox_new(&spec.limits, err, sizeof err);
  if (!s->sandbox_) {
    *error = std::string(err) + " (raise memory_bytes)";
    return nullptr;
  }
  if (sluice_lua_sandbox_call(s->sandbox_, installApi, const_cast<ScriptSpec*>(&spec), err,
                              sizeof err) != SLUICE_LUA_OK) {
    *error = err;
    return nullptr;
  }
  if (sluice_lua_sandbox_run(s->sandbox_, spec.source.data(), spec.source.size(), spec.path.c_str(),
                             err, sizeof err) != SLUICE_LUA_OK) {
    *error = err;
    return nullptr;
  }
  FunctionLookup lookup{spec.function.c_str(), -1};
  if (sluice_lua_sandbox_call(s->sandbox_, findFunction, &lookup, err, sizeof err) !=
      SLUICE_LUA_OK) {
    *error = spec.path + ": " + err;
    return nullptr;
  }
  s->function_ref_ = lookup.ref;
  return s;
}

GuardState::~GuardState() { sluice_lua_sandbox_free(sandbox_); }

void GuardState::check(const sluice_guard_input& in, sluice_guard_result* result) {
  reason_.clear();
  content_.clear();
  std::vector<Finding> found;
  cJSON* metadata = in.metadata_json.len
                        ? cJSON_ParseWithLength(in.metadata_json.ptr, in.metadata_json.len)
                        : nullptr;
  CheckCall call{&spec_,   &in,       metadata, function_ref_, SLUICE_VERDICT_PASS,
                 &reason_, &content_, &found};
  char err[512] = {0};
  sluice_lua_status status = sluice_lua_sandbox_call(sandbox_, runCheck, &call, err, sizeof err);
  cJSON_Delete(metadata);

  sluice_verdict verdict = call.verdict;
  if (status != SLUICE_LUA_OK) {
    // The guardrail itself failed: the manifest's mode decides what happens.
    verdict = SLUICE_VERDICT_FAIL;
    reason_ = err;
    content_.clear();
    found.clear();
    if (spec_.host && spec_.host->log) {
      std::string line = spec_.path + ": check failed: " + reason_;
      spec_.host->log(SLUICE_LOG_WARN, "lua", line.c_str());
    }
  }
  finding_text_.clear();
  findings_.clear();
  finding_text_.reserve(found.size() * 2);  // findings_ point into these strings
  for (const Finding& f : found) {
    finding_text_.push_back(f.type);
    finding_text_.push_back(f.action);
  }
  for (size_t i = 0; i < found.size(); i++) {
    const std::string& type = finding_text_[2 * i];
    const std::string& action = finding_text_[2 * i + 1];
    findings_.push_back(
        sluice_finding{{type.data(), type.size()}, found[i].count, {action.data(), action.size()}});
  }
  result->verdict = verdict;
  result->reason = {reason_.data(), reason_.size()};
  result->content = verdict == SLUICE_VERDICT_MUTATE ? sluice_str{content_.data(), content_.size()}
                                                     : sluice_str{nullptr, 0};
  result->findings = findings_.empty() ? nullptr : findings_.data();
  result->finding_count = findings_.size();
  if (result->struct_size >= offsetof(sluice_guard_result, hold_bytes) + sizeof(size_t)) {
    result->hold_bytes = 0;  // the script sees each piece of a stream as it comes
  }
}

}  // namespace sluice::lua_guard
