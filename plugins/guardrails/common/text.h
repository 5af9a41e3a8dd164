// Byte classes for the scanners: ASCII only, locale-free and branch-light.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::guardrails {

// Each class test is one subtraction and one unsigned comparison.
inline bool inRange(unsigned char c, unsigned char first, unsigned count) {
  return static_cast<unsigned>(c - first) < count;
}
inline bool isDigit(unsigned char c) { return inRange(c, '0', 10); }
inline bool isUpper(unsigned char c) { return inRange(c, 'A', 26); }
inline bool isLower(unsigned char c) { return inRange(c, 'a', 26); }
inline bool isAlpha(unsigned char c) { return inRange(c | 0x20, 'a', 26); }
inline bool isAlnum(unsigned char c) { return isDigit(c) || isAlpha(c); }
inline bool isHexDigit(unsigned char c) { return isDigit(c) || inRange(c | 0x20, 'a', 6); }
inline bool isSpace(unsigned char c) { return c == ' ' || inRange(c, '\t', 5); }  // \t \n \v \f \r
inline char toLower(unsigned char c) { return static_cast<char>(isUpper(c) ? c | 0x20 : c); }
inline int hexValue(unsigned char c) {
  if (isDigit(c)) return c - '0';
  return inRange(c | 0x20, 'a', 6) ? (c | 0x20) - 'a' + 10 : -1;
}

inline bool startsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

inline bool hasSpace(std::string_view s) {
  for (unsigned char c : s) {
    if (isSpace(c)) return true;
  }
  return false;
}

// The start of the UTF-8 character holding byte `at` (so a hold never splits one).
inline size_t utf8Start(std::string_view text, size_t at) {
  while (at > 0 && at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) at--;
  return at;
}

// Length of a redaction placeholder such as "[EMAIL_1]" or "[AWS_ACCESS_KEY_12]" starting at
// text[i], else 0. Scanners skip these so text they already rewrote never matches again.
inline size_t placeholderAt(std::string_view text, size_t i) {
  constexpr size_t kMax = 48;
  if (i >= text.size() || text[i] != '[') return 0;
  size_t j = i + 1;
  if (j >= text.size() || !isUpper(text[j])) return 0;
  size_t last_underscore = 0;
  for (; j < text.size() && j - i < kMax; j++) {
    unsigned char c = text[j];
    if (c == ']') break;
    if (c == '_') {
      last_underscore = j;
    } else if (!isUpper(c) && !isDigit(c)) {
      return 0;
    }
  }
  if (j >= text.size() || text[j] != ']' || last_underscore == 0 || last_underscore + 1 == j) {
    return 0;
  }
  for (size_t k = last_underscore + 1; k < j; k++) {
    if (!isDigit(text[k])) return 0;
  }
  return j + 1 - i;
}

}  // namespace sluice::guardrails
