#include "lua/header_rules.h"

#include <strings.h>

#include <algorithm>
#include <cstdio>

#include "http/headers.h"

namespace sluice::lua {
namespace {

bool sameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && sameName(s.substr(0, prefix.size()), prefix);
}

// Hop-by-hop headers and the body's framing and type: the HTTP layers on
// either side own them.
constexpr std::string_view kFraming[] = {
    "content-length", "content-type", "transfer-encoding", "connection", "keep-alive",
    "upgrade",        "te",           "trailer",           "host",       "expect"};

// The caller's and the provider's credentials.
constexpr std::string_view kCredentials[] = {"authorization", "proxy-authorization", "x-api-key",
                                             "api-key", "x-goog-api-key"};

// What the gateway itself answers with.
constexpr std::string_view kGatewayResponse[] = {"server-timing", "retry-after", "cache-control"};
constexpr std::string_view kGatewayPrefixes[] = {"x-sluice-", "x-ratelimit-"};

bool listed(std::string_view name, const std::string_view* list, size_t n) {
  return std::any_of(list, list + n, [name](std::string_view r) { return sameName(name, r); });
}

}  // namespace

bool headerAllowed(HeaderTarget target, std::string_view name, std::string_view value, char* why,
                   size_t why_len) {
  int n = static_cast<int>(std::min<size_t>(name.size(), 64));
  if (name.empty() || name.size() > kMaxHeaderNameBytes) {
    snprintf(why, why_len, "a header name must be 1 to %zu characters long", kMaxHeaderNameBytes);
    return false;
  }
  for (unsigned char c : name) {
    if (!http::isTokenChar(c)) {
      snprintf(why, why_len, "'%.*s' is not a valid header name", n, name.data());
      return false;
    }
  }
  if (value.size() > kMaxHeaderValueBytes) {
    snprintf(why, why_len, "the value of '%.*s' is longer than %zu bytes", n, name.data(),
             kMaxHeaderValueBytes);
    return false;
  }
  for (unsigned char c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      snprintf(why, why_len, "the value of '%.*s' holds a control character (CR, LF, NUL, ...)", n,
               name.data());
      return false;
    }
  }
  bool reserved = listed(name, kFraming, std::size(kFraming)) ||
                  listed(name, kCredentials, std::size(kCredentials));
  if (target == HeaderTarget::Response) {
    reserved = reserved || listed(name, kGatewayResponse, std::size(kGatewayResponse)) ||
               std::any_of(std::begin(kGatewayPrefixes), std::end(kGatewayPrefixes),
                           [name](std::string_view p) { return startsWithNoCase(name, p); });
  }
  if (reserved) {
    snprintf(why, why_len, "'%.*s' is set by the gateway; a policy cannot set it", n, name.data());
    return false;
  }
  return true;
}

void applyUpstreamHeaders(const HeaderList& policy,
                          std::vector<std::pair<std::string, std::string>>* headers) {
  for (const auto& [name, value] : policy) {
    std::string_view n = name;
    headers->erase(std::remove_if(headers->begin(), headers->end(),
                                  [n](const auto& h) { return sameName(h.first, n); }),
                   headers->end());
  }
  headers->insert(headers->end(), policy.begin(), policy.end());
}

}  // namespace sluice::lua
