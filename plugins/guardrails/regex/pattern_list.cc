#include "pattern_list.h"

#include <algorithm>

namespace sluice::regex {
namespace {

thread_local std::vector<int> t_matches;

}  // namespace

bool PatternList::load(const char* key, const cJSON* list, bool case_insensitive,
                       std::string* err) {
  if (!cJSON_IsArray(list)) {
    *err = std::string(key) + ": expected a list of patterns (strings or {name, pattern})";
    return false;
  }
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(!case_insensitive);
  set_ = std::make_unique<re2::RE2::Set>(options, re2::RE2::UNANCHORED);
  int index = 0;
  for (const cJSON* item = list->child; item; item = item->next, index++) {
    std::string where = std::string(key) + "[" + std::to_string(index) + "]";
    std::string name = where;
    const cJSON* pattern = item;
    if (cJSON_IsObject(item)) {
      for (const cJSON* field = item->child; field; field = field->next) {
        std::string f = field->string ? field->string : "";
        if (f != "name" && f != "pattern") {
          *err = where + ": unknown key '" + f + "' (a pattern has name and pattern)";
          return false;
        }
      }
      const cJSON* n = cJSON_GetObjectItemCaseSensitive(item, "name");
      if (n && (!cJSON_IsString(n) || n->valuestring[0] == '\0')) {
        *err = where + ".name: expected a non-empty string";
        return false;
      }
      if (n) name = n->valuestring;
      pattern = cJSON_GetObjectItemCaseSensitive(item, "pattern");
      if (pattern == nullptr) {
        *err = where + ": missing required key 'pattern'";
        return false;
      }
    }
    std::string label = name == where ? where : where + " '" + name + "'";
    if (!cJSON_IsString(pattern) || pattern->valuestring[0] == '\0') {
      *err = label + ": the pattern must be a non-empty string";
      return false;
    }
    // Compiled alone first, so the error names this pattern and says what RE2 found wrong.
    re2::RE2 alone(pattern->valuestring, options);
    if (!alone.ok()) {
      *err = label + ": invalid pattern: " + alone.error();
      return false;
    }
    std::string why;
    if (set_->Add(pattern->valuestring, &why) < 0) {
      *err = label + ": invalid pattern: " + why;
      return false;
    }
    names_.push_back(name);
  }
  if (names_.empty()) {
    *err = std::string(key) + ": the list is empty";
    return false;
  }
  if (!set_->Compile()) {
    *err = std::string(key) + ": the patterns together exceed RE2's memory budget";
    return false;
  }
  reasons_.reserve(names_.size());
  findings_.reserve(names_.size());
  for (const std::string& n : names_) {
    reasons_.push_back(std::string("matched ") + key + " pattern '" + n + "'");
  }
  for (const std::string& n : names_) {
    findings_.push_back({{n.data(), n.size()}, 1, {"block", 5}});
  }
  return true;
}

int PatternList::firstMatch(std::string_view text) const {
  std::vector<int>& matches = t_matches;
  matches.clear();
  if (!set_ || !set_->Match(re2::StringPiece(text.data(), text.size()), &matches)) return -1;
  return *std::min_element(matches.begin(), matches.end());
}

}  // namespace sluice::regex
