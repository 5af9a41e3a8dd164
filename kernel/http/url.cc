#include <arpa/inet.h>

#include <cstring>

#include "http/client.h"

namespace sluice::http {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (lower(s[i]) != prefix[i]) return false;
  }
  return true;
}

bool isHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// Request-target bytes we are willing to put on the request line: no
// controls, spaces or non-ASCII (callers percent-encode).
bool isPathChar(char c) { return c > 0x20 && c < 0x7f; }

bool parsePort(std::string_view s, uint16_t* out) {
  if (s.empty() || s.size() > 5) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

bool Url::parse(std::string_view text, Url* out) {
  Url url;
  if (startsWithNoCase(text, "https://")) {
    url.tls = true;
    text.remove_prefix(8);
  } else if (startsWithNoCase(text, "http://")) {
    text.remove_prefix(7);
  } else {
    return false;
  }
  size_t end = text.find_first_of("/?#");
  std::string_view authority = text.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view() : text.substr(end);
  if (authority.find('@') != std::string_view::npos) return false;  // no userinfo

  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    std::string host(authority.substr(1, close - 1));
    unsigned char addr[16];
    if (inet_pton(AF_INET6, host.c_str(), addr) != 1) return false;
    url.host = std::move(host);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return false;
      has_port = true;
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(colon + 1);
    }
    if (host.empty()) return false;
    for (char c : host) {
      if (!isHostChar(c)) return false;
    }
    url.host.reserve(host.size());
    for (char c : host) url.host.push_back(lower(c));
  }
  url.port = url.tls ? 443 : 80;
  if (has_port && !port.empty() && !parsePort(port, &url.port)) return false;

  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  for (char c : rest) {
    if (!isPathChar(c)) return false;
  }
  if (rest.empty()) {
    url.path = "/";
  } else if (rest[0] == '?') {
    url.path = "/";
    url.path.append(rest);
  } else {
    url.path = std::string(rest);
  }
  *out = std::move(url);
  return true;
}

std::string Url::origin() const {
  std::string s = tls ? "https://" : "http://";
  bool v6 = host.find(':') != std::string::npos;
  if (v6) s.push_back('[');
  s += host;
  if (v6) s.push_back(']');
  s.push_back(':');
  s += std::to_string(port);
  return s;
}

}  // namespace sluice::http
