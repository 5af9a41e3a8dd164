// A named list of RE2 patterns (the regex guardrail's `deny` or `allow`),
// compiled once into an RE2::Set so one pass over a text finds every match.
#pragma once

#include <cjson/cJSON.h>
#include <re2/re2.h>
#include <re2/set.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::regex {

class PatternList {
 public:
  // Reads `list` (the config key `key`): each item a pattern string or {name, pattern}.
  // False with *err naming the item ("deny[2] 'salaries': invalid pattern: ...").
  bool load(const char* key, const cJSON* list, bool case_insensitive, std::string* err);

  bool empty() const { return names_.empty(); }
  // The first pattern (in list order) that matches somewhere in `text`, or -1.
  int firstMatch(std::string_view text) const;

  const std::string& name(int i) const { return names_[i]; }
  // A block's reason and finding for pattern i, built once at load.
  const std::string& reason(int i) const { return reasons_[i]; }
  const sluice_finding& finding(int i) const { return findings_[i]; }

 private:
  std::vector<std::string> names_;
  std::vector<std::string> reasons_;
  std::vector<sluice_finding> findings_;
  std::unique_ptr<re2::RE2::Set> set_;
};

}  // namespace sluice::regex
