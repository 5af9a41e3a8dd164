// Byte-level edits of a JSON object that is already known to be valid:
// find a top-level member's value span, replace it, insert a member. The
// rest of the client's bytes (tools, unknown fields, number formatting) reach
// the upstream untouched, and no re-serialisation is paid for.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::pipeline {

struct Span {
  size_t begin = 0;
  size_t end = 0;  // exclusive
  bool found = false;
};

// The value span of top-level member `key` in the JSON object `json`.
Span findTopLevelMember(std::string_view json, std::string_view key);

// json with the value at `span` replaced by `value` (raw JSON text).
std::string replaceSpan(std::string_view json, Span span, std::string_view value);

// json with `"key":value` added as the object's first member.
std::string insertMember(std::string_view json, std::string_view key, std::string_view value);

}  // namespace sluice::pipeline
