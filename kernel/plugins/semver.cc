// Version constraints follow npm's ranges, minus pre-release tags: an
// alternative ("||") matches when all of its comparators (separated by
// commas or spaces) match. A partial version in a range stands for every
// version it names: "1.2" is 1.2.x, "<=1.2" is <1.3.0, ">1" is >=2.0.0.
#include "plugins/semver.h"

#include <vector>

#include "plugins/registry.h"

namespace sluice::plugins {
namespace {

enum class Op { kGe, kGt, kLt, kLe, kEq };

struct Comparator {
  Op op;
  Version v;
};

using Alternative = std::vector<Comparator>;

constexpr size_t kMaxDigits = 9;  // keeps part + 1 inside uint32_t

bool isWildcard(std::string_view part) { return part == "x" || part == "X" || part == "*"; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses up to three dot-separated parts, numbers first, then wildcards.
// *numeric is how many leading parts are numbers; *present how many parts
// were written (wildcards included).
bool parsePartial(std::string_view text, Version* v, int* numeric, int* present) {
  uint32_t parts[3] = {0, 0, 0};
  int n = 0;
  int count = 0;
  bool wild = false;
  size_t start = 0;
  while (true) {
    size_t dot = text.find('.', start);
    std::string_view part =
        text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (count == 3 || part.empty()) return false;
    if (isWildcard(part)) {
      wild = true;
    } else {
      if (wild || part.size() > kMaxDigits) return false;
      uint32_t value = 0;
      for (char c : part) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + static_cast<uint32_t>(c - '0');
      }
      parts[n++] = value;
    }
    ++count;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  *v = Version{parts[0], parts[1], parts[2]};
  *numeric = n;
  *present = count;
  return true;
}

bool matches(const Comparator& c, const Version& v) {
  switch (c.op) {
    case Op::kGe: return v >= c.v;
    case Op::kGt: return v > c.v;
    case Op::kLt: return v < c.v;
    case Op::kLe: return v <= c.v;
    case Op::kEq: return v == c.v;
  }
  return false;
}

// The smallest version past every version the partial `v` (n numeric parts)
// names: 1 -> 2.0.0, 1.2 -> 1.3.0, 1.2.3 -> 1.2.4.
Version nextAfter(const Version& v, int n) {
  if (n == 1) return Version{v.major + 1, 0, 0};
  if (n == 2) return Version{v.major, v.minor + 1, 0};
  return Version{v.major, v.minor, v.patch + 1};
}

// One comparator token such as "^1.2", ">=1.0" or "1.2.3", expanded to plain
// comparisons appended to *out.
bool parseComparator(std::string_view token, Alternative* out, std::string* detail) {
  std::string_view op;
  if (token.starts_with(">=") || token.starts_with("<=")) {
    op = token.substr(0, 2);
  } else if (!token.empty() && std::string_view("<>=^~").find(token[0]) != std::string_view::npos) {
    op = token.substr(0, 1);
  }
  std::string_view rest = token.substr(op.size());
  Version v;
  int n = 0;
  int present = 0;
  if (rest.empty() || !parsePartial(rest, &v, &n, &present)) {
    *detail =
        "'" + printable(token) + "' is not a version range (try 1.2.3, ^1.2, ~1.2, >=1.0, <2 or *)";
    return false;
  }
  if (n == 0) {  // "*", "x", ">=*": any version; "<*" and ">*" match none
    if (op == "<" || op == ">") {
      *detail = "'" + printable(token) + "' can never match";
      return false;
    }
    return true;
  }
  if (op.empty() || op == "=") {
    if (n == 3) {
      out->push_back({Op::kEq, v});
    } else {
      out->push_back({Op::kGe, v});
      out->push_back({Op::kLt, nextAfter(v, n)});
    }
  } else if (op == ">=") {
    out->push_back({Op::kGe, v});
  } else if (op == ">") {
    out->push_back(n == 3 ? Comparator{Op::kGt, v} : Comparator{Op::kGe, nextAfter(v, n)});
  } else if (op == "<") {
    out->push_back({Op::kLt, v});
  } else if (op == "<=") {
    out->push_back(n == 3 ? Comparator{Op::kLe, v} : Comparator{Op::kLt, nextAfter(v, n)});
  } else if (op == "~") {
    out->push_back({Op::kGe, v});
    out->push_back({Op::kLt, nextAfter(v, n == 1 ? 1 : 2)});
  } else {  // "^": changes left of the first non-zero part are breaking
    out->push_back({Op::kGe, v});
    int keep = 1;
    if (v.major == 0 && n >= 2) keep = (v.minor == 0 && n == 3) ? 3 : 2;
    out->push_back({Op::kLt, nextAfter(v, keep)});
  }
  return true;
}

bool parseAlternative(std::string_view text, Alternative* out, std::string* detail) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == ',') {
      ++i;
      continue;
    }
    size_t end = text.find_first_of(" \t,", i);
    if (end == std::string_view::npos) end = text.size();
    tokens.emplace_back(text.substr(i, end - i));
    i = end;
  }
  if (tokens.empty()) {
    *detail = "empty alternative around '||'";
    return false;
  }
  for (size_t t = 0; t < tokens.size(); ++t) {
    std::string token = tokens[t];
    // ">= 1.0": an operator standing alone takes the next token.
    if (token.find_first_not_of("<>=^~") == std::string::npos) {
      if (t + 1 == tokens.size()) {
        *detail = "'" + printable(token) + "' needs a version after it";
        return false;
      }
      token += tokens[++t];
    }
    if (!parseComparator(token, out, detail)) return false;
  }
  return true;
}

// An empty result means any version.
bool parseConstraint(std::string_view constraint, std::vector<Alternative>* out, std::string* why) {
  std::string_view c = trim(constraint);
  out->clear();
  if (c.empty()) return true;
  std::string detail;
  size_t start = 0;
  bool any = false;
  while (true) {
    size_t bar = c.find("||", start);
    std::string_view text =
        c.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start);
    Alternative alt;
    if (!parseAlternative(text, &alt, &detail)) {
      if (why) *why = "bad version constraint '" + printable(c) + "': " + detail;
      return false;
    }
    if (alt.empty()) any = true;
    out->push_back(std::move(alt));
    if (bar == std::string_view::npos) break;
    start = bar + 2;
  }
  if (any) out->clear();
  return true;
}

}  // namespace

std::string Version::str() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

bool parseVersion(std::string_view text, Version* out, std::string* why) {
  Version v;
  int n = 0;
  int present = 0;
  if (!parsePartial(text, &v, &n, &present) || n < 2 || n != present) {
    if (why) *why = "bad version '" + printable(text) + "' (expected MAJOR.MINOR.PATCH)";
    return false;
  }
  if (out) *out = v;
  return true;
}

bool checkConstraint(std::string_view constraint, std::string* why) {
  std::vector<Alternative> alts;
  return parseConstraint(constraint, &alts, why);
}

std::string printable(std::string_view text, size_t max) {
  std::string out;
  out.reserve(text.size() < max ? text.size() : max + 3);
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == max) {
      out += "...";
      break;
    }
    unsigned char c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  return out;
}

bool versionSatisfies(const std::string& version, const std::string& constraint, std::string* why) {
  Version v;
  if (!parseVersion(version, &v, why)) return false;
  std::vector<Alternative> alts;
  if (!parseConstraint(constraint, &alts, why)) return false;
  if (alts.empty()) return true;
  for (const Alternative& alt : alts) {
    bool all = true;
    for (const Comparator& c : alt) all = all && matches(c, v);
    if (all) return true;
  }
  if (why) {
    *why = "version " + printable(version) + " does not satisfy " + printable(trim(constraint));
  }
  return false;
}

}  // namespace sluice::plugins
