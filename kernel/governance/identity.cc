#include "governance/identity.h"

#include <cjson/cJSON.h>
// SHA256_Init & co. are deprecated in OpenSSL 3 in favour of EVP, which
// allocates per digest; they remain supported.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <strings.h>

#include <cstring>

namespace sluice::governance {
namespace {

uint64_t bucketOf(const Digest& d) {
  uint64_t v;
  memcpy(&v, d.data(), sizeof v);
  return v;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// A run of stray continuation bytes must not pass as a short value.
int64_t utf8Length(std::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); n++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return -1;
    for (size_t k = 1; k < len; k++) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return -1;
    }
    i += len;
  }
  return n;
}

Digest sha256(std::string_view data) {
  // The plain SHA-256 functions: no allocation and no provider lookup, which
  // OpenSSL 3's EVP interface costs on every call — once per request here.
  SHA256_CTX ctx;
  Digest d;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, data.data(), data.size());
  SHA256_Final(d.data(), &ctx);
  return d;
}

std::string toHex(const Digest& d) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char c : d) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

bool fromHex(std::string_view hex, Digest* out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; i++) {
    int hi = hexValue(hex[2 * i]), lo = hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

bool matchesPattern(std::string_view pattern, std::string_view value) {
  if (!pattern.empty() && pattern.back() == '*') {
    pattern.remove_suffix(1);
    return value.substr(0, pattern.size()) == pattern;
  }
  return pattern == value;
}

Directory::Directory(const std::optional<manifest::AuthConfig>& auth) {
  anonymous_.subject = "anonymous";
  anonymous_.all_models = true;
  if (!auth) return;
  open_ = false;
  auto add = [this](const std::string& hex, std::unique_ptr<Principal> p) {
    Entry e;
    if (!fromHex(hex, &e.digest)) return;  // the loader checked the format
    e.principal = std::move(p);
    index_.emplace(bucketOf(e.digest), entries_.size());
    entries_.push_back(std::move(e));
  };
  for (const auto& u : auth->users) {
    auto p = std::make_unique<Principal>();
    p->subject = "user:" + u.email;
    p->team = u.team;
    if (p->team.empty()) {
      for (const auto& t : auth->teams) {
        for (const auto& m : t.members) {
          if (strcasecmp(m.c_str(), u.email.c_str()) == 0 && p->team.empty()) p->team = t.name;
        }
      }
    }
    p->models = u.models;
    p->metadata = u.metadata;
    add(u.token_sha256, std::move(p));
  }
  for (const auto& a : auth->virtual_accounts) {
    auto p = std::make_unique<Principal>();
    p->subject = "virtualaccount:" + a.name;
    p->team = a.team;
    p->models = a.models;
    p->metadata = a.metadata;
    add(a.token_sha256, std::move(p));
  }
}

const Principal* Directory::find(std::string_view token) const {
  if (token.empty()) return nullptr;
  Digest d = sha256(token);
  auto [lo, hi] = index_.equal_range(bucketOf(d));
  for (auto it = lo; it != hi; ++it) {
    const Entry& e = entries_[it->second];
    if (CRYPTO_memcmp(e.digest.data(), d.data(), d.size()) == 0) return e.principal.get();
  }
  return nullptr;
}

bool Directory::mayUse(const Principal& p, std::string_view model) const {
  if (p.all_models) return true;
  for (const auto& pattern : p.models) {
    if (matchesPattern(pattern, model)) return true;
  }
  return false;
}

std::string_view presentedToken(const std::string* authorization, const std::string* api_key) {
  if (authorization) {
    std::string_view v = *authorization;
    if (v.size() > 7 && strncasecmp(v.data(), "bearer ", 7) == 0) {
      v.remove_prefix(7);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      return v;
    }
  }
  if (api_key) return *api_key;
  return {};
}

std::string metadataKeyError(std::string_view key) {
  int64_t chars = utf8Length(key);
  if (key.empty()) return "keys must not be empty";
  if (chars < 0) return "keys must be valid UTF-8";
  if (chars > static_cast<int64_t>(kMaxMetadataValueChars)) {
    return "key '" + std::string(key.substr(0, 64)) + "...' is longer than 128 characters";
  }
  return "";
}

std::string metadataValueError(std::string_view key, std::string_view value) {
  int64_t chars = utf8Length(value);
  if (chars < 0) return "value of '" + std::string(key) + "' is not valid UTF-8";
  if (chars > static_cast<int64_t>(kMaxMetadataValueChars)) {
    return "value of '" + std::string(key) + "' is " + std::to_string(chars) +
           " characters long; at most 128 are allowed";
  }
  return "";
}

bool parseMetadataHeader(std::string_view header, Metadata* out, std::string* error,
                         std::string* bad_key) {
  const char* end = nullptr;
  cJSON* root = cJSON_ParseWithLengthOpts(header.data(), header.size(), &end, false);
  struct Free {
    cJSON* p;
    ~Free() { cJSON_Delete(p); }
  } free_root{root};
  // Nothing but white space may follow the object.
  size_t rest = root && end ? static_cast<size_t>(end - header.data()) : header.size();
  bool trailing = header.find_first_not_of(" \t\r\n", rest) != std::string_view::npos;
  if (!cJSON_IsObject(root) || trailing) {
    *error = "must be a JSON object of string values";
    return false;
  }
  for (const cJSON* item = root->child; item; item = item->next) {
    std::string key = item->string ? item->string : "";
    std::string why = metadataKeyError(key);
    if (!why.empty()) {
      *bad_key = utf8Length(key) < 0 ? "" : key.substr(0, 64);
      *error = why;
      return false;
    }
    if (!cJSON_IsString(item)) {
      *bad_key = key;
      *error = "value of '" + key + "' must be a string";
      return false;
    }
    why = metadataValueError(key, item->valuestring);
    if (!why.empty()) {
      *bad_key = key;
      *error = why;
      return false;
    }
    (*out)[key] = item->valuestring;
  }
  return true;
}

}  // namespace sluice::governance
