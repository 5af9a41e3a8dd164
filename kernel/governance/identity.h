// Who asks: the callers the manifest's `auth` section names (users with
// personal tokens, virtual accounts with application tokens, teams), looked
// up by the SHA-256 of the presented token — the token itself is never kept.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "manifest/config.h"

namespace sluice::governance {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view data);
std::string toHex(const Digest& d);
// Parses 64 hex characters; false on anything else.
bool fromHex(std::string_view hex, Digest* out);

struct Principal {
  std::string subject;  // "user:alice@example.com", "virtualaccount:checkout-prod", "anonymous"
  std::string team;     // empty: none
  std::vector<std::string> models;  // access patterns; empty: no model
  bool all_models = false;          // no auth section: the open gateway
  std::map<std::string, std::string> metadata;  // the account's own; wins over the caller's
};

// "*" matches everything, "prefix*" a prefix, anything else itself.
bool matchesPattern(std::string_view pattern, std::string_view value);

class Directory {
 public:
  // No auth section: everyone is the one anonymous principal.
  explicit Directory(const std::optional<manifest::AuthConfig>& auth);

  bool open() const { return open_; }
  const Principal& anonymous() const { return anonymous_; }
  // The principal whose token hashes to the presented one, or nullptr. The
  // final comparison is constant-time.
  const Principal* find(std::string_view token) const;
  bool mayUse(const Principal& p, std::string_view model) const;

 private:
  struct Entry {
    Digest digest;
    std::unique_ptr<Principal> principal;
  };
  bool open_ = true;
  Principal anonymous_;
  std::vector<Entry> entries_;
  // First 8 bytes of the digest -> index in entries_.
  std::unordered_multimap<uint64_t, size_t> index_;
};

// The token from `Authorization: Bearer <token>` (or `x-api-key`, which
// Anthropic clients send); empty when none.
std::string_view presentedToken(const std::string* authorization, const std::string* api_key);

// The request's metadata: defaults, then the caller's header, then the
// account's own (which wins: a caller cannot claim another environment).
using Metadata = std::map<std::string, std::string, std::less<>>;

constexpr size_t kMaxMetadataValueChars = 128;

// UTF-8 code points in s, or -1 when s is not valid UTF-8.
int64_t utf8Length(std::string_view s);

// Why `key` cannot name request metadata (empty, not UTF-8, too long), or
// empty when it can.
std::string metadataKeyError(std::string_view key);
// Why `value` cannot be the value of metadata `key`, or empty when it can.
std::string metadataValueError(std::string_view key, std::string_view value);

// Parses an X-Sluice-Metadata value into *out. On failure returns false and
// *error names the offending key.
bool parseMetadataHeader(std::string_view header, Metadata* out, std::string* error,
                         std::string* bad_key);

}  // namespace sluice::governance
