#include "number_run.h"

#include "pii_scanner.h"
#include "text.h"

namespace sluice::pii {
namespace {

using guardrails::isAlpha;
using guardrails::isDigit;
using guardrails::Match;

constexpr int kMaxGroups = 12;
constexpr int kMaxGroupDigits = 19;
constexpr int kMaxDigits = 40;
constexpr char kRunEnd = '\0';
constexpr char kAfterParen = ')';  // "(415)555": a group right after a parenthesised one

struct Group {
  size_t begin;   // the '(' of a parenthesised group, else its first digit
  size_t end;     // after its last digit, or after ')'
  size_t digits;  // offset of the first digit
  int len;        // digits in the group
  bool paren;
  char sep_after;  // ' ', '-', '.', '/', kAfterParen or kRunEnd
};

struct Run {
  Group groups[kMaxGroups];
  int count = 0;
  bool plus = false;         // starts with '+'
  bool reached_end = false;  // the input ends inside the run (or right after a separator)
};

bool isSeparator(char c) { return c == ' ' || c == '-' || c == '.' || c == '/'; }

// Reads the groups of the run at text[at]. A group glued to a following letter, '_' or '@' is
// part of a word and left out.
void readRun(std::string_view text, size_t at, Run* run) {
  const size_t n = text.size();
  size_t i = at;
  if (text[i] == '+') {
    run->plus = true;
    if (++i == n) {
      run->reached_end = true;
      return;
    }
    if (!isDigit(text[i]) && text[i] != '(') return;
  }
  while (run->count < kMaxGroups) {
    Group g{i, i, i, 0, false, kRunEnd};
    if (text[i] == '(') {
      size_t j = i + 1;
      while (j < n && isDigit(text[j]) && j - i <= 6) j++;
      if (j == n) {
        run->reached_end = true;
        break;
      }
      if (text[j] != ')' || j == i + 1) break;
      g = {i, j + 1, i + 1, static_cast<int>(j - i - 1), true, kRunEnd};
    } else if (isDigit(text[i])) {
      size_t j = i;
      while (j < n && isDigit(text[j])) j++;
      g = {i, j, i, static_cast<int>(j - i), false, kRunEnd};
    } else {
      break;
    }
    i = g.end;
    run->groups[run->count++] = g;
    Group& last = run->groups[run->count - 1];
    if (i == n) {
      run->reached_end = true;
      break;
    }
    char c = text[i];
    if (g.paren && (isDigit(c) || c == '(')) {
      last.sep_after = kAfterParen;
      continue;
    }
    if (isSeparator(c)) {
      if (i + 1 == n) {
        run->reached_end = true;
        break;
      }
      char next = text[i + 1];
      if (isDigit(next) || next == '(') {
        last.sep_after = c;
        i++;
        continue;
      }
      break;
    }
    // "0100x", "0100[PHONE_1]": part of a word
    if (isAlpha(c) || c == '_' || c == '@' || guardrails::placeholderAt(text, i) > 0) {
      run->count--;
    }
    break;
  }
  if (run->count > 0) run->groups[run->count - 1].sep_after = kRunEnd;
}

bool ssnValid(const char* d) {
  int area = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
  int group = (d[3] - '0') * 10 + (d[4] - '0');
  int serial = (d[5] - '0') * 1000 + (d[6] - '0') * 100 + (d[7] - '0') * 10 + (d[8] - '0');
  return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
}

// The issuer ranges of the major card networks, with their lengths.
bool cardIssuerValid(const char* d, int len) {
  auto prefix = [d](int digits) {
    int v = 0;
    for (int i = 0; i < digits; i++) v = v * 10 + (d[i] - '0');
    return v;
  };
  int p2 = prefix(2), p3 = prefix(3), p4 = prefix(4);
  if (d[0] == '4') return len == 13 || len == 16 || len == 19;                         // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return len == 16;          // Mastercard
  if (p2 == 34 || p2 == 37) return len == 15;                                          // Amex
  if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649)) return len >= 16;            // Discover
  if (p4 >= 3528 && p4 <= 3589) return len >= 16;                                      // JCB
  if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) return len >= 14;  // Diners
  if (p2 == 62) return len >= 16;                                                      // UnionPay
  if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p2 == 67) return len >= 13;                // Maestro
  return false;
}

// Groups of a written card number: 4-4-4-4(-3), 4-6-5 (Amex) or 4-6-4 (Diners).
bool cardGrouping(const Group* g, int k) {
  if (k == 1) return true;
  char sep = g[0].sep_after;
  if (sep != ' ' && sep != '-') return false;
  for (int i = 0; i + 1 < k; i++) {
    if (g[i].sep_after != sep) return false;
  }
  if (k == 3 && g[0].len == 4 && g[1].len == 6 && (g[2].len == 5 || g[2].len == 4)) return true;
  for (int i = 0; i + 1 < k; i++) {
    if (g[i].len != 4) return false;
  }
  return g[k - 1].len >= 1 && g[k - 1].len <= 4;
}

bool ipv4(const Group* g, int k, std::string_view text) {
  if (k != 4) return false;
  for (int i = 0; i < 4; i++) {
    if (g[i].paren || g[i].len > 3 || (i < 3 && g[i].sep_after != '.')) return false;
    const char* d = text.data() + g[i].digits;
    if (g[i].len > 1 && d[0] == '0') return false;
    int v = 0;
    for (int j = 0; j < g[i].len; j++) v = v * 10 + (d[j] - '0');
    if (v > 255) return false;
  }
  char after = g[3].sep_after;
  return after == kRunEnd || after == ' ' || after == '/';  // "/24": a CIDR block
}

bool phone(const Group* g, int k, bool plus, const char* d, int len) {
  if (plus) return d[0] != '0' && len >= 8 && len <= 15;
  if (k < 2) return false;  // bare digit strings are too ambiguous to call phone numbers
  for (int i = 1; i < k; i++) {
    if (g[i].paren) return false;
  }
  bool nanp_groups =
      (k == 3 && g[0].len == 3 && g[1].len == 3 && g[2].len == 4) ||
      (k == 4 && d[0] == '1' && g[0].len == 1 && g[1].len == 3 && g[2].len == 3 && g[3].len == 4);
  if (nanp_groups) {
    int area = len - 10;
    return d[area] >= '2' && d[area + 3] >= '2';
  }
  if (d[0] == '0' && d[1] == '0') return d[2] != '0' && len >= 10 && len <= 17;  // 0044 ...
  if (d[0] == '0') {  // national formats with a trunk 0: UK, DE, FR, IN, ...
    if (d[1] == '0' || len < 10 || len > 12 || k > 6) return false;
    for (int i = 0; i < k; i++) {
      if (g[i].len < 2) return false;
    }
    return true;
  }
  return k == 2 && g[0].len == 5 && g[1].len == 5 && d[0] >= '6';  // Indian mobile 98765 43210
}

// The type of groups [first, first + k) of the run, or -1.
int classify(const Run& run, int first, int k, std::string_view text, uint32_t enabled) {
  const Group* g = run.groups + first;
  char after = g[k - 1].sep_after;
  if (after != kRunEnd && after != ' ' && after != '/') return -1;
  bool plus = run.plus && first == 0;
  bool paren = false;
  char digits[kMaxDigits];
  int len = 0;
  for (int i = 0; i < k; i++) {
    if (g[i].len > kMaxGroupDigits || len + g[i].len > kMaxDigits) return -1;
    paren = paren || g[i].paren;
    // "+44 (0)20 ...": the trunk 0 in parentheses is not dialled from abroad.
    bool trunk = plus && i == 1 && g[i].paren && g[i].len == 1 && text[g[i].digits] == '0';
    if (trunk) continue;
    for (int j = 0; j < g[i].len; j++) digits[len++] = text[g[i].digits + j];
  }
  auto on = [enabled](Type t) { return (enabled >> t) & 1u; };
  if (!plus && !paren) {
    if (on(kIpAddress) && ipv4(g, k, text)) return kIpAddress;
    if (after != '/' && on(kCreditCard) && len >= 13 && len <= 19 && cardGrouping(g, k) &&
        cardIssuerValid(digits, len) && luhnValid(std::string_view(digits, len))) {
      return kCreditCard;
    }
    if (after != '/' && on(kUsSsn) && k == 3 && g[0].len == 3 && g[1].len == 2 && g[2].len == 4 &&
        g[0].sep_after == g[1].sep_after && (g[0].sep_after == '-' || g[0].sep_after == ' ') &&
        ssnValid(digits)) {
      return kUsSsn;
    }
  }
  if (after != '/' && on(kPhone) && len >= 2 && phone(g, k, plus, digits, len)) return kPhone;
  return -1;
}

}  // namespace

size_t scanNumberRun(std::string_view text, size_t at, uint32_t enabled, std::vector<Match>* out,
                     size_t* pending) {
  Run run;
  readRun(text, at, &run);
  // More digits may change what the whole run is ("020 7946 0958" + " 12"): hold all of it.
  if (run.reached_end && at < *pending) *pending = at;
  int g = 0;
  bool after_match = false;
  while (g < run.count) {
    // A value starts where the run starts, or after another value and a space
    // ("415-555-0100 415-555-0199"); never in the middle of a longer number.
    bool can_start = g == 0 || (after_match && run.groups[g - 1].sep_after == ' ');
    int found = 0;
    for (int k = run.count - g; can_start && k >= 1 && found == 0; k--) {
      int type = classify(run, g, k, text, enabled);
      if (type < 0) continue;
      size_t begin = g == 0 ? at : run.groups[g].begin;
      out->push_back({begin, run.groups[g + k - 1].end, static_cast<uint8_t>(type)});
      found = k;
    }
    after_match = found > 0;
    if (!after_match) break;
    g += found;
  }
  if (run.count == 0) return at + 1;
  return run.groups[run.count - 1].end;
}

}  // namespace sluice::pii
