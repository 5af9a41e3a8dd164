// What the request path hands to Lua policy hooks and what it gets back
// (DESIGN §5, "Lua policy API"). The pipeline fills these views; kernel/lua
// turns them into the `req`, `res` and `record` tables scripts see.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "governance/identity.h"

namespace sluice::http {
struct Request;
}

namespace sluice::lua {

enum class Hook : uint8_t { Request = 0, Response = 1, Log = 2 };
constexpr int kHookCount = 3;

// "on_request", "on_response", "on_log": the function a script defines.
const char* hookName(Hook hook);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The request as policies see it. One view per request, reused by every hook.
struct RequestView {
  std::string_view id;
  std::string model;  // the model the client asked for; on_request may rewrite it
  std::string_view subject;
  std::string_view team;
  governance::Metadata* metadata = nullptr;  // hooks may change it; never null
  // The client's request, for req.headers; null once it is gone (on_log).
  const http::Request* request = nullptr;
  HeaderList upstream_headers;  // from req.set_upstream_header, in order
};

// The answer as on_response sees it, before its head goes to the client.
struct ResponseView {
  int status = 0;
  int64_t prompt_tokens = -1;  // -1: not known yet (streams report usage at their end)
  int64_t completion_tokens = -1;
  std::string_view model;     // the model that answered, "<provider>/<model>"
  std::string_view provider;  // its provider account
  bool stream = false;
};

// How a hook ended.
struct Outcome {
  enum class Kind { Continue, Reject, Error } kind = Kind::Continue;
  int status = 0;       // Reject: the script's status; Error: 500
  std::string message;  // for the client: the script's, or which policy failed
  std::string code;     // the OpenAI-shaped error's code
};

}  // namespace sluice::lua
