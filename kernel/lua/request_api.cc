#include "lua/request_api.h"

#include <cstdio>
#include <cstring>
#include <lua.hpp>

#include "governance/identity.h"
#include "http/headers.h"
#include "http/server.h"
#include "lua/header_rules.h"
#include "lua/policies.h"
#include "pipeline/record.h"
#include "util/log.h"

namespace sluice::lua {
namespace {

// Registry keys: their addresses are unique. Each state keeps one `req`,
// `res` and `record` view and refills their fields for every call, so a
// hook call allocates next to nothing.
char kRejectionMeta;
char kReqFields;
char kReqView;
char kMetadata;
char kResFields;
char kResView;
char kRecordFields;
char kRecordView;

ApiBinding* bindingOf(lua_State* L) { return *static_cast<ApiBinding**>(lua_getextraspace(L)); }
CallContext* callOf(lua_State* L) { return bindingOf(L)->call; }

void pushView(lua_State* L, std::string_view s) { lua_pushlstring(L, s.data(), s.size()); }

// table[key] = value; `table` is an absolute index.
void setString(lua_State* L, int table, const char* key, std::string_view value) {
  pushView(L, value);
  lua_setfield(L, table, key);
}
// table[key] = value, or nil when it is empty (views are reused: a field
// left from the previous call must go).
void setOptionalString(lua_State* L, int table, const char* key, std::string_view value) {
  if (value.empty()) {
    lua_pushnil(L);
  } else {
    pushView(L, value);
  }
  lua_setfield(L, table, key);
}
void setInteger(lua_State* L, int table, const char* key, lua_Integer value) {
  lua_pushinteger(L, value);
  lua_setfield(L, table, key);
}
void setBoolean(lua_State* L, int table, const char* key, bool value) {
  lua_pushboolean(L, value);
  lua_setfield(L, table, key);
}
void setFunction(lua_State* L, int table, const char* key, lua_CFunction fn) {
  lua_pushcfunction(L, fn);
  lua_setfield(L, table, key);
}
// {prompt_tokens = p, completion_tokens = c}, or nil when unknown.
void setUsage(lua_State* L, int table, int64_t prompt, int64_t completion) {
  if (prompt < 0 || completion < 0) {
    lua_pushnil(L);
    lua_setfield(L, table, "usage");
    return;
  }
  lua_createtable(L, 0, 2);
  int usage = lua_gettop(L);
  setInteger(L, usage, "prompt_tokens", prompt);
  setInteger(L, usage, "completion_tokens", completion);
  lua_setfield(L, table, "usage");
}

const char* keyText(lua_State* L, int index) {
  return lua_type(L, index) == LUA_TSTRING ? lua_tostring(L, index) : "?";
}

// ------------------------------------------------------------ table views

// __newindex of a read-only view; upvalue 1: the view's name.
int refuseWrite(lua_State* L) {
  return luaL_error(L, "%s.%s cannot be changed", lua_tostring(L, lua_upvalueindex(1)),
                    keyText(L, 2));
}

int nextField(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

// __pairs of a view: iterates its fields table (upvalue 1).
int pairsOfFields(lua_State* L) {
  lua_pushcfunction(L, nextField);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushnil(L);
  return 3;
}

// Pushes a view of the fields table at `fields`: reads go to the fields,
// writes to `assign` (a closure over the fields) or fail.
void pushProxy(lua_State* L, int fields, const char* name, lua_CFunction assign) {
  fields = lua_absindex(L, fields);
  lua_createtable(L, 0, 0);
  lua_createtable(L, 0, 4);
  int meta = lua_gettop(L);
  lua_pushvalue(L, fields);
  lua_setfield(L, meta, "__index");
  if (assign) {
    lua_pushvalue(L, fields);
    lua_pushcclosure(L, assign, 1);
  } else {
    lua_pushstring(L, name);
    lua_pushcclosure(L, refuseWrite, 1);
  }
  lua_setfield(L, meta, "__newindex");
  lua_pushvalue(L, fields);
  lua_pushcclosure(L, pairsOfFields, 1);
  lua_setfield(L, meta, "__pairs");
  lua_pushstring(L, name);
  lua_setfield(L, meta, "__metatable");
  lua_setmetatable(L, -2);
}

// ------------------------------------------------------------ req

// The caller's credentials never reach a script.
bool hiddenHeader(std::string_view name) {
  return name == "authorization" || name == "proxy-authorization" || name == "x-api-key";
}

// __index of req's fields for what is built only when a script asks:
// req.headers, a read-only copy of the client's headers (lower-case names;
// repeated headers joined with ", "), empty once the request is gone.
int lazyReqField(lua_State* L) {
  if (lua_type(L, 2) != LUA_TSTRING || strcmp(lua_tostring(L, 2), "headers") != 0) return 0;
  CallContext* call = callOf(L);
  const http::Request* request = call && call->req ? call->req->request : nullptr;
  lua_createtable(L, 0, request ? static_cast<int>(request->headers.size()) : 0);
  int copy = lua_gettop(L);
  if (request) {
    for (const auto& [name, value] : request->headers) {
      if (hiddenHeader(name)) continue;
      pushView(L, name);
      lua_pushvalue(L, -1);
      if (lua_rawget(L, copy) == LUA_TSTRING) {
        lua_pushliteral(L, ", ");
        pushView(L, value);
        lua_concat(L, 3);
      } else {
        lua_pop(L, 1);
        pushView(L, value);
      }
      lua_rawset(L, copy);
    }
  }
  pushProxy(L, copy, "req.headers", nullptr);
  lua_pushliteral(L, "headers");
  lua_pushvalue(L, -2);
  lua_rawset(L, 1);  // built once per hook call
  return 1;
}

// __newindex of req; upvalue 1: its fields.
int assignReqField(lua_State* L) {
  const char* key = keyText(L, 2);
  if (strcmp(key, "model") == 0) {
    CallContext* call = callOf(L);
    if (!call || call->hook != Hook::Request) {
      return luaL_error(L, "req.model can only be changed in on_request");
    }
    if (lua_type(L, 3) != LUA_TSTRING) {
      return luaL_error(L, "req.model must be a string, not %s", luaL_typename(L, 3));
    }
    size_t len = 0;
    lua_tolstring(L, 3, &len);
    if (len == 0 || len > kMaxModelBytes) {
      return luaL_error(L, "req.model must be 1 to %d bytes long",
                        static_cast<int>(kMaxModelBytes));
    }
  } else if (strcmp(key, "metadata") == 0) {
    if (!lua_istable(L, 3)) {
      return luaL_error(L, "req.metadata must be a table, not %s", luaL_typename(L, 3));
    }
  } else {
    return luaL_error(L, "req.%s cannot be changed (a hook may change req.model and req.metadata)",
                      key);
  }
  lua_settop(L, 3);
  lua_rawset(L, lua_upvalueindex(1));
  return 0;
}

// Remembers a header for the provider's request; a later value of the same
// name replaces the earlier one. False when the list is full.
bool rememberHeader(HeaderList* list, std::string_view name, std::string_view value) {
  for (auto& h : *list) {
    if (h.first.size() == name.size() &&
        strncasecmp(h.first.data(), name.data(), name.size()) == 0) {
      h.second.assign(value);
      return true;
    }
  }
  if (list->size() >= kMaxPolicyHeaders) return false;
  list->emplace_back(name, value);
  return true;
}

// The (name, value) arguments of `fn` (req.set_upstream_header or
// res.set_header, called with a dot or a colon), checked for `target`; the
// call in progress, which must be of `hook`.
CallContext* headerCall(lua_State* L, HeaderTarget target, Hook hook, const char* fn,
                        std::string_view* name, std::string_view* value) {
  int at = lua_istable(L, 1) ? 2 : 1;
  size_t name_len = 0, value_len = 0;
  const char* n = luaL_checklstring(L, at, &name_len);
  const char* v = luaL_checklstring(L, at + 1, &value_len);
  CallContext* call = callOf(L);
  if (!call || call->hook != hook) luaL_error(L, "%s can only be used in %s", fn, hookName(hook));
  char why[200];
  if (!headerAllowed(target, {n, name_len}, {v, value_len}, why, sizeof why)) {
    luaL_error(L, "%s: %s", fn, why);
  }
  *name = {n, name_len};
  *value = {v, value_len};
  return call;
}

int setUpstreamHeader(lua_State* L) {
  std::string_view name, value;
  CallContext* call = headerCall(L, HeaderTarget::Upstream, Hook::Request,
                                 "req.set_upstream_header", &name, &value);
  if (!rememberHeader(&call->req->upstream_headers, name, value)) {
    return luaL_error(L, "req.set_upstream_header: at most %d headers per request",
                      static_cast<int>(kMaxPolicyHeaders));
  }
  return 0;
}

// Empties the table at `t` (setting existing fields to nil while traversing
// is allowed).
void clearTable(lua_State* L, int t) {
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushnil(L);
    lua_rawset(L, t);
  }
}

// Pushes req's fields, refilled with this call's request.
void pushReqFields(lua_State* L, const RequestView& req) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kReqFields);
  int fields = lua_gettop(L);
  setString(L, fields, "id", req.id);
  setString(L, fields, "model", req.model);
  setString(L, fields, "subject", req.subject);
  setOptionalString(L, fields, "team", req.team);
  lua_pushnil(L);
  lua_setfield(L, fields, "headers");  // made again on first use
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kMetadata);
  int metadata = lua_gettop(L);
  clearTable(L, metadata);
  for (const auto& [key, value] : *req.metadata) {
    pushView(L, key);
    pushView(L, value);
    lua_rawset(L, metadata);
  }
  lua_setfield(L, fields, "metadata");
}

// Copies `why` into the C buffer: governance's checks build std::strings,
// which must be gone before the caller raises a Lua error.
bool metadataEntryOk(std::string_view key, std::string_view value, char* why, size_t why_len) {
  std::string problem = governance::metadataKeyError(key);
  if (problem.empty()) problem = governance::metadataValueError(key, value);
  if (problem.empty()) return true;
  snprintf(why, why_len, "%s", problem.c_str());
  return false;
}

std::string_view stringAt(lua_State* L, int index) {
  size_t len = 0;
  const char* s = lua_tolstring(L, index, &len);
  return {s, len};
}

// Reads req.metadata back into the request, after checking every entry.
// Unchanged metadata costs no allocation.
void readMetadata(lua_State* L, int fields, CallContext* call) {
  lua_getfield(L, fields, "metadata");
  int table = lua_gettop(L);
  governance::Metadata& out = *call->req->metadata;
  size_t count = 0;
  bool same = true;
  char why[256];
  lua_pushnil(L);
  while (lua_next(L, table)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      luaL_error(L, "req.metadata keys must be strings, not %s", luaL_typename(L, -2));
    }
    if (lua_type(L, -1) != LUA_TSTRING) {
      luaL_error(L, "req.metadata.%s must be a string, not %s", lua_tostring(L, -2),
                 luaL_typename(L, -1));
    }
    std::string_view key = stringAt(L, -2), value = stringAt(L, -1);
    auto it = out.find(key);
    bool unchanged = it != out.end() && it->second == value;  // checked when it came in
    if (!unchanged && !metadataEntryOk(key, value, why, sizeof why)) {
      luaL_error(L, "req.metadata: %s", why);
    }
    same = same && unchanged;
    count++;
    lua_pop(L, 1);
  }
  if (!same || count != out.size()) {
    out.clear();
    lua_pushnil(L);
    while (lua_next(L, table)) {
      out.emplace(stringAt(L, -2), stringAt(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

void readModel(lua_State* L, int fields, CallContext* call) {
  lua_getfield(L, fields, "model");
  std::string_view model = stringAt(L, -1);  // a string: assignReqField saw to it
  if (model != call->req->model) call->req->model.assign(model);
  lua_pop(L, 1);
}

// ------------------------------------------------------------ res, record

int setResponseHeader(lua_State* L) {
  std::string_view name, value;
  CallContext* call =
      headerCall(L, HeaderTarget::Response, Hook::Response, "res.set_header", &name, &value);
  if (call->response_headers_added >= kMaxPolicyHeaders) {
    return luaL_error(L, "res.set_header: at most %d headers per response",
                      static_cast<int>(kMaxPolicyHeaders));
  }
  call->response_headers_added++;
  call->response_headers->add(name, value);
  return 0;
}

// Pushes res, refilled with this call's answer.
void pushRes(lua_State* L, const ResponseView& res) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kResFields);
  int fields = lua_gettop(L);
  setInteger(L, fields, "status", res.status);
  setString(L, fields, "model", res.model);
  setString(L, fields, "provider", res.provider);
  setBoolean(L, fields, "stream", res.stream);
  setUsage(L, fields, res.prompt_tokens, res.completion_tokens);
  lua_pop(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kResView);
}

// Pushes record, refilled with this request's record. record.metadata is
// req.metadata: what it holds after on_log goes into the record.
void pushRecord(lua_State* L, const pipeline::RequestRecord& r, int req_fields) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kRecordFields);
  int fields = lua_gettop(L);
  setString(L, fields, "id", r.id);
  setInteger(L, fields, "status", r.status);
  setString(L, fields, "model", r.requested_model);
  setOptionalString(L, fields, "resolved_model", r.resolved_model);
  setOptionalString(L, fields, "provider", r.provider);
  setBoolean(L, fields, "stream", r.stream);
  setUsage(L, fields, r.prompt_tokens, r.completion_tokens);
  if (r.phases.total >= 0) {
    lua_pushnumber(L, r.phases.total);
  } else {
    lua_pushnil(L);
  }
  lua_setfield(L, fields, "duration_ms");
  lua_getfield(L, req_fields, "metadata");
  lua_setfield(L, fields, "metadata");
  lua_pop(L, 1);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kRecordView);
}

// ------------------------------------------------------------ sluice.*

bool validCode(const char* code, size_t len) {
  if (len == 0 || len > 64) return false;
  for (size_t i = 0; i < len; i++) {
    char c = code[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

void recordRejection(CallContext* call, lua_Integer status, std::string_view message,
                     std::string_view code) {
  if (call->rejected) return;  // the first rejection wins
  call->rejected = true;
  call->reject_status = static_cast<int>(status);
  call->reject_message.assign(message);
  call->reject_code.assign(code);
}

// sluice.reject(status, message [, code]): rejects the request (even when
// the hook forgets to return the value) and returns the value to return.
int apiReject(lua_State* L) {
  CallContext* call = callOf(L);
  if (!call) return luaL_error(L, "sluice.reject can only be used inside a hook");
  if (call->hook == Hook::Log) {
    return luaL_error(L, "sluice.reject cannot be used in on_log: the answer has been sent");
  }
  lua_Integer status = luaL_checkinteger(L, 1);
  if (status < 400 || status > 599) {
    return luaL_error(L, "sluice.reject: status must be from 400 to 599, not %I", status);
  }
  size_t len = 0, code_len = 0;
  const char* message = luaL_checklstring(L, 2, &len);
  if (len == 0 || len > kMaxRejectMessageBytes) {
    return luaL_error(L, "sluice.reject: the message must be 1 to %d bytes long",
                      static_cast<int>(kMaxRejectMessageBytes));
  }
  if (governance::utf8Length({message, len}) < 0) {
    return luaL_error(L, "sluice.reject: the message must be valid UTF-8");
  }
  const char* code = luaL_optlstring(L, 3, "policy_rejected", &code_len);
  if (!validCode(code, code_len)) {
    return luaL_error(L, "sluice.reject: the code must be 1 to 64 characters of a-z, 0-9 and _");
  }
  recordRejection(call, status, {message, len}, {code, code_len});
  lua_createtable(L, 0, 3);
  int token = lua_gettop(L);
  setInteger(L, token, "status", status);
  lua_pushvalue(L, 2);
  lua_setfield(L, token, "message");
  pushView(L, {code, code_len});
  lua_setfield(L, token, "code");
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kRejectionMeta);
  lua_setmetatable(L, token);
  return 1;
}

bool parseLevel(std::string_view level, util::LogLevel* out) {
  static const std::pair<std::string_view, util::LogLevel> kLevels[] = {
      {"debug", util::LogLevel::Debug},
      {"info", util::LogLevel::Info},
      {"warn", util::LogLevel::Warn},
      {"error", util::LogLevel::Error}};
  for (const auto& [name, value] : kLevels) {
    if (level == name) {
      *out = value;
      return true;
    }
  }
  return false;
}

void writeScriptLog(const ApiBinding& binding, util::LogLevel level, std::string_view message) {
  std::string line = binding.script ? binding.script->name : "policy";
  if (binding.call && binding.call->req)
    line.append(" [").append(binding.call->req->id).append("]");
  line.append(": ").append(logSafe(message, kMaxLogMessageBytes));
  util::log(level, "policy", line);
}

// sluice.log(level, message)
int apiLog(lua_State* L) {
  size_t len = 0;
  const char* level_name = luaL_checkstring(L, 1);
  const char* message = luaL_checklstring(L, 2, &len);
  util::LogLevel level;
  if (!parseLevel(level_name, &level)) {
    return luaL_error(L, "sluice.log: the level must be debug, info, warn or error, not '%s'",
                      level_name);
  }
  writeScriptLog(*bindingOf(L), level, {message, len});
  return 0;
}

// What a hook returned: nothing, or a rejection.
void checkReturned(lua_State* L, CallContext* call) {
  int type = lua_type(L, -1);
  if (type == LUA_TNIL) return;
  if (type == LUA_TTABLE && lua_getmetatable(L, -1)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kRejectionMeta);
    bool rejection = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (rejection) {  // one made in this call is recorded already; an older one counts too
      lua_getfield(L, -1, "status");
      lua_getfield(L, -2, "message");
      lua_getfield(L, -3, "code");
      recordRejection(call, lua_tointeger(L, -3), stringAt(L, -2), stringAt(L, -1));
      lua_pop(L, 3);
      return;
    }
  }
  luaL_error(L,
             "%s returned a %s value; return nothing to go on, or sluice.reject(status, message)",
             hookName(call->hook), luaL_typename(L, -1));
}

}  // namespace

std::string logSafe(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 8);
  for (size_t i = 0; i < text.size() && out.size() < max_bytes; i++) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out.append("\\n");
    } else if (c == '\r') {
      out.append("\\r");
    } else {
      out.push_back(c < 0x20 && c != '\t' ? '?' : static_cast<char>(c));
    }
  }
  if (out.size() >= max_bytes && text.size() > max_bytes) out.append("...");
  return out;
}

void bindApi(lua_State* L, ApiBinding* binding) {
  *static_cast<ApiBinding**>(lua_getextraspace(L)) = binding;
}

int installApi(lua_State* L) {
  lua_createtable(L, 0, 2);
  int api = lua_gettop(L);
  setFunction(L, api, "reject", apiReject);
  setFunction(L, api, "log", apiLog);
  lua_setglobal(L, "sluice");

  lua_createtable(L, 0, 2);
  lua_pushliteral(L, "sluice.rejection");
  lua_setfield(L, -2, "__name");
  lua_pushliteral(L, "sluice.rejection");
  lua_setfield(L, -2, "__metatable");
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kRejectionMeta);

  // req: its fields (req.headers made on first use), the view scripts get,
  // and the metadata table it carries.
  lua_createtable(L, 0, 8);
  int req = lua_gettop(L);
  setFunction(L, req, "set_upstream_header", setUpstreamHeader);
  lua_createtable(L, 0, 1);
  setFunction(L, lua_gettop(L), "__index", lazyReqField);
  lua_setmetatable(L, req);
  pushProxy(L, req, "req", assignReqField);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kReqView);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kReqFields);
  lua_createtable(L, 0, 8);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kMetadata);

  lua_createtable(L, 0, 6);
  setFunction(L, lua_gettop(L), "set_header", setResponseHeader);
  pushProxy(L, -1, "res", nullptr);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kResView);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kResFields);

  lua_createtable(L, 0, 10);
  pushProxy(L, -1, "record", nullptr);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kRecordView);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kRecordFields);
  return 0;
}

int findHooks(lua_State* L) {
  int* refs = static_cast<int*>(lua_touserdata(L, 1));
  for (int h = 0; h < kHookCount; h++) {
    const char* name = hookName(static_cast<Hook>(h));
    int type = lua_getglobal(L, name);
    if (type == LUA_TNIL) {
      refs[h] = -1;
      lua_pop(L, 1);
    } else if (type == LUA_TFUNCTION) {
      refs[h] = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
      return luaL_error(L, "%s is a %s; a hook must be a function", name, lua_typename(L, type));
    }
  }
  return 0;
}

int runHook(lua_State* L) {
  CallContext* call = static_cast<CallContext*>(lua_touserdata(L, 1));
  pushReqFields(L, *call->req);
  int fields = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, call->function_ref);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kReqView);
  int nargs = 1;
  if (call->hook == Hook::Response) {
    pushRes(L, *call->res);
    nargs++;
  } else if (call->hook == Hook::Log) {
    pushRecord(L, *call->record, fields);
    nargs++;
  }
  lua_call(L, nargs, 1);
  checkReturned(L, call);
  lua_pop(L, 1);
  if (call->hook == Hook::Request) readModel(L, fields, call);
  readMetadata(L, fields, call);
  return 0;
}

}  // namespace sluice::lua
