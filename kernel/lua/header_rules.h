// Which headers a policy may set: req.set_upstream_header on the request to
// the provider, res.set_header on the answer to the client. Credentials,
// framing and the gateway's own headers are never a script's to choose.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lua/hooks.h"

namespace sluice::lua {

enum class HeaderTarget { Upstream, Response };

constexpr size_t kMaxPolicyHeaders = 32;  // per request and target
constexpr size_t kMaxHeaderNameBytes = 128;
constexpr size_t kMaxHeaderValueBytes = 4096;

// True when `name: value` may be set on `target`; otherwise writes why into
// `why` (plain C buffer: callers run between Lua frames that longjmp).
bool headerAllowed(HeaderTarget target, std::string_view name, std::string_view value, char* why,
                   size_t why_len);

// Adds a request's policy headers to the provider's request. Each replaces
// the provider's headers of the same name, so a policy may, for instance,
// choose an OpenAI project per team; the credentials it may never touch.
void applyUpstreamHeaders(const HeaderList& policy,
                          std::vector<std::pair<std::string, std::string>>* headers);

}  // namespace sluice::lua
