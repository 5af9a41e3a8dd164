// The Lua side of the policy API (DESIGN §5): the `sluice` table
// (sluice.reject, sluice.log) and the `req`, `res` and `record` tables a hook
// receives, with what the script may change read back and checked.
//
// Everything here runs inside the sandbox's protected calls, where a Lua
// error longjmps over C++ frames: no object with a destructor may be alive
// across a Lua API call that can raise.
#pragma once

#include <lua.hpp>
#include <string>

#include "lua/hooks.h"

namespace sluice::http {
class Headers;
}
namespace sluice::pipeline {
struct RequestRecord;
}

namespace sluice::lua {

struct Script;

// One hook call in progress.
struct CallContext {
  Hook hook = Hook::Request;
  int function_ref = -1;  // registry reference of the script's hook function
  RequestView* req = nullptr;
  const ResponseView* res = nullptr;          // on_response
  http::Headers* response_headers = nullptr;  // on_response: where res.set_header adds
  size_t response_headers_added = 0;
  pipeline::RequestRecord* record = nullptr;  // on_log

  // What the script decided: sluice.reject, first call wins.
  bool rejected = false;
  int reject_status = 0;
  std::string reject_message;
  std::string reject_code;
};

// What the API functions of one state reach through the state's extra space:
// the script (for log lines) and the call in progress (null between calls).
struct ApiBinding {
  const Script* script = nullptr;
  CallContext* call = nullptr;
};

constexpr size_t kMaxRejectMessageBytes = 1024;
constexpr size_t kMaxLogMessageBytes = 2048;
constexpr size_t kMaxModelBytes = 256;

// `text` fit for one log line: CR and LF escaped, other control characters
// replaced, cut at `max_bytes`.
std::string logSafe(std::string_view text, size_t max_bytes);

// Points the state's API at `binding` (which must outlive the state).
void bindApi(lua_State* L, ApiBinding* binding);

// lua_CFunctions for sluice_lua_sandbox_call:
// installs the `sluice` table and the metatables the hooks use (no argument);
int installApi(lua_State* L);
// stores a registry reference to each global hook function into the int[3]
// at argument 1 (-1 when the script does not define it);
int findHooks(lua_State* L);
// runs the hook of the CallContext at argument 1 and reads back what it changed.
int runHook(lua_State* L);

}  // namespace sluice::lua
