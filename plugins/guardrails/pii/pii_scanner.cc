#include "pii_scanner.h"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "number_run.h"
#include "text.h"

namespace sluice::pii {

using guardrails::isAlnum;
using guardrails::isAlpha;
using guardrails::isDigit;
using guardrails::isHexDigit;
using guardrails::isUpper;
using guardrails::Match;

const char* const kTypeNames[kTypeCount] = {"EMAIL",  "PHONE", "CREDIT_CARD",
                                            "US_SSN", "IBAN",  "IP_ADDRESS"};

namespace {

constexpr size_t kMaxLocalPart = 64;
constexpr size_t kMaxIpv6 = 45;

bool isLocalChar(unsigned char c) {
  return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
bool isDomainChar(unsigned char c) { return isAlnum(c) || c == '-' || c == '.'; }

// Bytes near which something may start: an address's '@', an IPv6 colon, a number's digit,
// '+' or '('. An IPv6 address has its colon within its first five bytes and an IBAN its check
// digits at the third and fourth, so nothing starts more than kTriggerReach bytes before one.
constexpr guardrails::ByteSet kTriggers = guardrails::byteSet([](unsigned char c) {
  return isDigit(c) || c == '@' || c == ':' || c == '+' || c == '(';
});
constexpr size_t kTriggerReach = 4;

// Every trigger lies in '(' .. '@' (digits, ':', '+', '(' and '@' all do).
constexpr bool triggersInRange() {
  for (unsigned c = 0; c < 256; c++) {
    if (kTriggers[c] && (c < '(' || c > '@')) return false;
  }
  return true;
}
static_assert(triggersInRange());

// The first offset from `at` on whose byte is a trigger, or text.size(). Eight bytes at a
// time where the machine is little-endian: one range test rules out letters and spaces, and
// only bytes in the triggers' range (digits, some punctuation) are looked up.
size_t findTrigger(std::string_view text, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
#if defined(SLUICE_SCAN_SSE2)
  // Sixteen bytes at a time, the triggers exactly: '0' .. ':' is one range.
  const auto eq = [](__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); };
  for (; at + 16 <= n; at += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    __m128i digit_colon = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                        _mm_cmpgt_epi8(_mm_set1_epi8(':' + 1), v));
    __m128i found =
        _mm_or_si128(_mm_or_si128(digit_colon, eq(v, '@')), _mm_or_si128(eq(v, '+'), eq(v, '(')));
    if (int mask = _mm_movemask_epi8(found)) {
      return at + static_cast<size_t>(std::countr_zero(static_cast<unsigned>(mask)));
    }
  }
#endif
  if constexpr (std::endian::native == std::endian::little) {
    for (; at + 8 <= n; at += 8) {
      uint64_t v;
      memcpy(&v, p + at, 8);
      // '(' <= byte <= '@', for ASCII bytes only.
      uint64_t in = guardrails::bytesInRange(v & 0x7f * guardrails::kByteOnes, '(', '@') & ~v;
      for (; in != 0; in &= in - 1) {
        const size_t k = at + static_cast<size_t>(std::countr_zero(in)) / 8;
        if (kTriggers[p[k]]) return k;
      }
    }
  }
  while (at < n && !kTriggers[p[at]]) at++;
  return at;
}

// The first trigger from `at` on that may start something: a '(' or '+' glued to the word
// before it ("settle(", "C+") starts nothing, and no address or IBAN reaches back to one.
size_t findStartingTrigger(std::string_view text, size_t at) {
  for (;; at++) {
    at = findTrigger(text, at);
    if (at >= text.size() || (text[at] != '(' && text[at] != '+') || at == 0) return at;
    const unsigned char before = text[at - 1];
    if (!isAlnum(before) && before != '_' && before != ']') return at;
  }
}

// Whether text[at] continues the word before it: a letter, a digit, '_', or a placeholder
// ("…::[IP_ADDRESS_1]") that a redaction put there.
bool gluedAt(std::string_view text, size_t at) {
  return at < text.size() &&
         (isAlnum(text[at]) || text[at] == '_' || guardrails::placeholderAt(text, at) > 0);
}

// "example.co.uk": two labels or more, each 1-63 letters, digits or inner hyphens, and an
// alphabetic top-level domain of two letters or more.
bool domainValid(std::string_view d) {
  size_t labels = 0;
  size_t start = 0;
  while (start <= d.size()) {
    size_t dot = d.find('.', start);
    if (dot == std::string_view::npos) dot = d.size();
    std::string_view label = d.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    labels++;
    if (dot == d.size()) {
      if (label.size() < 2) return false;
      for (char c : label) {
        if (!isAlpha(c)) return false;
      }
    }
    start = dot + 1;
  }
  return labels >= 2;
}

}  // namespace

// ISO 13616 lengths from the SWIFT IBAN registry (with the territories that use a parent
// country's format).
int ibanLength(char a, char b) {
  struct Entry {
    char code[3];
    int len;
  };
  static constexpr Entry kLengths[] = {
      {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AX", 18}, {"AZ", 28}, {"BA", 20},
      {"BE", 16}, {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BL", 27}, {"BR", 29}, {"BY", 28},
      {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18},
      {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18},
      {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GF", 27}, {"GG", 22}, {"GI", 23}, {"GL", 18},
      {"GP", 27}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22},
      {"IL", 23}, {"IM", 22}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JE", 22}, {"JO", 30},
      {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
      {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MF", 27}, {"MK", 19},
      {"MN", 20}, {"MQ", 27}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NC", 27}, {"NI", 28},
      {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PF", 27}, {"PK", 24}, {"PL", 28}, {"PM", 27},
      {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RE", 27}, {"RO", 24}, {"RS", 22}, {"RU", 33},
      {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
      {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TF", 27}, {"TL", 23}, {"TN", 24}, {"TR", 26},
      {"UA", 29}, {"VA", 22}, {"VG", 24}, {"WF", 27}, {"XK", 20}, {"YE", 30}, {"YT", 27},
  };
  auto key = [](char x, char y) {
    return (static_cast<unsigned char>(x) << 8) | static_cast<unsigned char>(y);
  };
  int wanted = key(a, b);
  auto it =
      std::lower_bound(std::begin(kLengths), std::end(kLengths), wanted,
                       [&key](const Entry& e, int k) { return key(e.code[0], e.code[1]) < k; });
  return it != std::end(kLengths) && key(it->code[0], it->code[1]) == wanted ? it->len : 0;
}

bool luhnValid(std::string_view digits) {
  int sum = 0;
  bool twice = false;
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digits[i] - '0';
    if (twice && (d *= 2) > 9) d -= 9;
    sum += d;
    twice = !twice;
  }
  return !digits.empty() && sum % 10 == 0;
}

bool ibanChecksumValid(std::string_view iban) {
  if (iban.size() < 5) return false;
  int rest = 0;
  for (size_t k = 0; k < iban.size(); k++) {
    char c = iban[(k + 4) % iban.size()];  // the first four characters go last
    if (isDigit(c)) {
      rest = (rest * 10 + (c - '0')) % 97;
    } else if (isUpper(c)) {
      rest = (rest * 100 + (c - 'A' + 10)) % 97;
    } else {
      return false;
    }
  }
  return rest == 1;
}

PiiScanner::PiiScanner(const std::vector<bool>& enabled) : enabled_(0) {
  for (int t = 0; t < kTypeCount; t++) {
    if (enabled.empty() || (static_cast<size_t>(t) < enabled.size() && enabled[t])) {
      enabled_ |= 1u << t;
    }
  }
}

void PiiScanner::scanEmail(std::string_view text, size_t at, std::vector<Match>* out,
                           size_t* pending) const {
  size_t begin = at;
  while (begin > 0 && at - begin < kMaxLocalPart && isLocalChar(text[begin - 1])) begin--;
  if (begin > 0 && isLocalChar(text[begin - 1])) return;  // a local part over 64 bytes
  while (begin < at && text[begin] == '.') begin++;       // dots before it are punctuation
  if (begin == at || text[at - 1] == '.') return;
  size_t end = at + 1;
  while (end < text.size() && isDomainChar(text[end])) end++;
  if (end == text.size()) *pending = std::min(*pending, begin);  // the domain may go on
  if (guardrails::placeholderAt(text, end) > 0 || (begin > 0 && text[begin - 1] == ']')) {
    return;  // glued to a placeholder: part of what was redacted there
  }
  while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) end--;
  if (end > at + 1 && domainValid(text.substr(at + 1, end - at - 1))) {
    out->push_back({begin, end, kEmail});
  }
}

size_t PiiScanner::scanIban(std::string_view text, size_t at, std::vector<Match>* out,
                            size_t* pending) const {
  const size_t n = text.size();
  if (at + 4 > n || !isUpper(text[at + 1]) || !isDigit(text[at + 2]) || !isDigit(text[at + 3])) {
    return at;
  }
  int len = ibanLength(text[at], text[at + 1]);
  if (len == 0) return at;
  char iban[34];
  memcpy(iban, text.data() + at, 4);
  int count = 4;
  size_t i = at + 4;
  while (count < len) {
    if (i == n) {
      *pending = std::min(*pending, at);
      return at;
    }
    unsigned char c = text[i];
    // "DE89 3704 0044 ...": one space between groups of four.
    if (c == ' ' && count % 4 == 0) {
      if (i + 1 == n) {
        *pending = std::min(*pending, at);
        return at;
      }
      if (isAlnum(text[i + 1])) {
        i++;
        continue;
      }
    }
    if (!isAlnum(c)) return at;
    iban[count++] = static_cast<char>(isAlpha(c) ? c & ~0x20 : c);
    i++;
  }
  if (i == n) *pending = std::min(*pending, at);
  if (gluedAt(text, i)) return at;
  if (!ibanChecksumValid(std::string_view(iban, count))) return at;
  out->push_back({at, i, kIban});
  return i;
}

size_t PiiScanner::scanIpv6(std::string_view text, size_t at, std::vector<Match>* out,
                            size_t* pending) const {
  const size_t n = text.size();
  size_t end = at;
  int colons = 0;
  bool digit = false;
  while (end < n && (isHexDigit(text[end]) || text[end] == ':' || text[end] == '.')) {
    colons += text[end] == ':';
    digit = digit || isDigit(text[end]);
    end++;
  }
  if (end == n) *pending = std::min(*pending, at);
  size_t run_end = end;
  while (end > at && text[end - 1] == '.') end--;  // a full stop after the address
  if (colons < 2 || !digit) return at;
  // Past here the run is an attempt at an address: if it is not one, no part of it is.
  if (end - at > kMaxIpv6 || gluedAt(text, end)) return run_end;
  char buf[kMaxIpv6 + 1];
  memcpy(buf, text.data() + at, end - at);
  buf[end - at] = '\0';
  unsigned char addr[16];
  if (inet_pton(AF_INET6, buf, addr) != 1) return run_end;
  out->push_back({at, end, kIpAddress});
  return end;
}

size_t PiiScanner::scan(std::string_view text, std::vector<Match>* out,
                        std::vector<guardrails::Span>* units) const {
  const size_t n = text.size();
  size_t pending = n;
  const uint32_t numbers =
      enabled_ & ((1u << kPhone) | (1u << kCreditCard) | (1u << kUsSsn) | (1u << kIpAddress));
  size_t i = 0;
  size_t trigger = findStartingTrigger(text, 0);
  while (i < n) {
    if (trigger < i) trigger = findStartingTrigger(text, i);
    if (trigger > i + kTriggerReach) i = trigger - kTriggerReach;  // nothing starts before
    unsigned char c = text[i];
    if (c == '@') {
      if (on(kEmail)) scanEmail(text, i, out, &pending);
      i++;
      continue;
    }
    // Everything else starts at the start of a word (text glued to a placeholder's ']' is not).
    if (i > 0 && (isAlnum(text[i - 1]) || text[i - 1] == '_' || text[i - 1] == ']')) {
      i++;
      continue;
    }
    if (on(kIpAddress) && (isHexDigit(c) || c == ':')) {
      // An IPv6 address has a colon within its first five bytes.
      size_t j = i;
      while (j < n && j - i < 4 && isHexDigit(text[j])) j++;
      if (j < n && text[j] == ':') {
        size_t end = scanIpv6(text, i, out, &pending);
        if (end > i) {
          i = end;
          continue;
        }
      }
    }
    if (numbers && (isDigit(c) || c == '+' || c == '(')) {
      size_t end = scanNumberRun(text, i, numbers, out, &pending);
      if (guardrails::hasSpace(text.substr(i, end - i))) units->push_back({i, end});
      i = end;
      continue;
    }
    if (on(kIban) && isUpper(c)) {
      size_t end = scanIban(text, i, out, &pending);
      if (end > i) {
        if (guardrails::hasSpace(text.substr(i, end - i))) units->push_back({i, end});
        i = end;
        continue;
      }
    }
    // Nothing starts here; in a word, nothing starts in the rest of it either.
    i++;
    if (isAlnum(c)) {
      while (i < n && isAlnum(text[i])) i++;
    }
  }
  if (n > 0) {
    // What ends the text may still grow into an address ("bob" before "@example.com" arrives)
    // or open a phone number.
    size_t j = n;
    while (j > 0 && n - j < kMaxLocalPart && isLocalChar(text[j - 1])) j--;
    if (text[n - 1] == '(') j = n - 1;
    pending = std::min(pending, j);
  }
  return pending;
}

void PiiScanner::appendCanonical(uint8_t type, std::string_view value, std::string* key) const {
  for (unsigned char c : value) {
    switch (type) {
      case kEmail:
      case kIpAddress:
        key->push_back(guardrails::toLower(c));
        break;
      case kIban:
        if (isAlnum(c)) key->push_back(static_cast<char>(isAlpha(c) ? c & ~0x20 : c));
        break;
      default:  // numbers: the digits (and a leading '+') decide
        if (isDigit(c) || c == '+') key->push_back(static_cast<char>(c));
    }
  }
}

}  // namespace sluice::pii
