// Byte classes for the scanners: ASCII only, locale-free and branch-light.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

// The scanners' SSE2 loops. Built with SLUICE_PORTABLE_SCAN they use their portable
// loops instead, as on a machine without SSE2; the unit tests of pii and secrets also run
// against such a build (their `.portable` twins), so those loops are tested too.
#if defined(__SSE2__) && !defined(SLUICE_PORTABLE_SCAN)
#define SLUICE_SCAN_SSE2 1
#include <emmintrin.h>
#endif

namespace sluice::guardrails {

// Each class test is one subtraction and one unsigned comparison.
constexpr bool inRange(unsigned char c, unsigned char first, unsigned count) {
  return static_cast<unsigned>(c - first) < count;
}
constexpr bool isDigit(unsigned char c) { return inRange(c, '0', 10); }
constexpr bool isUpper(unsigned char c) { return inRange(c, 'A', 26); }
constexpr bool isLower(unsigned char c) { return inRange(c, 'a', 26); }
constexpr bool isAlpha(unsigned char c) { return inRange(c | 0x20, 'a', 26); }
constexpr bool isAlnum(unsigned char c) { return isDigit(c) || isAlpha(c); }
constexpr bool isHexDigit(unsigned char c) { return isDigit(c) || inRange(c | 0x20, 'a', 6); }
// ' ', \t \n \v \f \r
constexpr bool isSpace(unsigned char c) { return c == ' ' || inRange(c, '\t', 5); }
constexpr char toLower(unsigned char c) { return static_cast<char>(isUpper(c) ? c | 0x20 : c); }
inline int hexValue(unsigned char c) {
  if (isDigit(c)) return c - '0';
  return inRange(c | 0x20, 'a', 6) ? (c | 0x20) - 'a' + 10 : -1;
}

// A set of bytes as a 256-entry table, so a membership test is one load.
using ByteSet = std::array<bool, 256>;

template <typename Pred>
constexpr ByteSet byteSet(Pred pred) {
  ByteSet set{};
  for (unsigned c = 0; c < 256; c++) set[c] = pred(static_cast<unsigned char>(c));
  return set;
}

// The first offset from `at` on whose byte is not in `set`, or text.size(). Four bytes per
// bounds test: words are runs of a few bytes, each a load and a test.
inline size_t skipBytes(std::string_view text, size_t at, const ByteSet& set) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (; at + 4 <= n; at += 4) {
    if (!set[p[at]]) return at;
    if (!set[p[at + 1]]) return at + 1;
    if (!set[p[at + 2]]) return at + 2;
    if (!set[p[at + 3]]) return at + 3;
  }
  while (at < n && set[p[at]]) at++;
  return at;
}

// Eight bytes at a time, one per byte lane of a 64-bit word.
constexpr uint64_t kByteOnes = 0x0101010101010101ull;
constexpr uint64_t kByteHighs = 0x80 * kByteOnes;

// Bit 7 of each byte of `low` (every byte below 0x80, so no lane carries into the next) set
// where lo <= byte <= hi.
constexpr uint64_t bytesInRange(uint64_t low, unsigned char lo, unsigned char hi) {
  return (low + (0x80 - lo) * kByteOnes) & ~(low + (0x80 - hi - 1) * kByteOnes) & kByteHighs;
}

// Bit 7 set in the lowest byte of `v` (little-endian) that is not an ASCII letter, for
// std::countr_zero(). Bytes above it may be marked wrongly: a byte from 0x80 on carries into
// the next one, which saves masking each byte to 7 bits first.
constexpr uint64_t firstNonLetterMark(uint64_t v) {
  // Folded, an ASCII byte is a letter when it is at least 'a' and below 'z' + 1.
  const uint64_t x = v | 0x20 * kByteOnes;
  const uint64_t at_least_a = x + (0x80 - 'a') * kByteOnes;
  const uint64_t past_z = x + (0x80 - 'z' - 1) * kByteOnes;
  return (~at_least_a | past_z | v) & kByteHighs;
}

// The first offset from `at` on whose byte is not an ASCII letter, or text.size(). Eight
// bytes per step where the machine is little-endian: words are long runs of letters.
inline size_t skipLetters(std::string_view text, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  if constexpr (std::endian::native == std::endian::little) {
    while (at + 8 <= n) {
      uint64_t v;
      memcpy(&v, p + at, 8);
      const uint64_t others = firstNonLetterMark(v);
      if (others) return at + static_cast<size_t>(std::countr_zero(others)) / 8;
      at += 8;
    }
  }
  while (at < n && isAlpha(p[at])) at++;
  return at;
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
