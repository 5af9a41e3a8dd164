// Decoders the scanners use to look inside encoded text (JWT headers, base64
// or hex payloads). Lenient on padding, strict on the alphabet.
#pragma once

#include <string>
#include <string_view>

#include "text.h"

namespace sluice::guardrails {

// The 6-bit value of a base64 (or base64url) digit, -1 for anything else.
inline int base64Value(unsigned char c) {
  if (isUpper(c)) return c - 'A';
  if (isLower(c)) return c - 'a' + 26;
  if (isDigit(c)) return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Appends the bytes `in` encodes (standard or url alphabet, padding optional) to `out`; false
// on a character outside the alphabet or a length no encoder produces.
inline bool decodeBase64(std::string_view in, std::string* out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return false;
  unsigned bits = 0;
  int have = 0;
  for (unsigned char c : in) {
    int v = base64Value(c);
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<unsigned>(v);
    have += 6;
    if (have >= 8) {
      have -= 8;
      out->push_back(static_cast<char>((bits >> have) & 0xff));
    }
  }
  return true;
}

// Appends the bytes of hex digits `in` (even count) to `out`; false otherwise.
inline bool decodeHex(std::string_view in, std::string* out) {
  if (in.size() % 2 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 2) {
    int hi = hexValue(in[i]), lo = hexValue(in[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

}  // namespace sluice::guardrails
