#include "pipeline/json_splice.h"

namespace sluice::pipeline {
namespace {

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Index just past the string starting at json[i] == '"'.
size_t skipString(std::string_view json, size_t i) {
  for (i++; i < json.size(); i++) {
    if (json[i] == '\\') {
      i++;
    } else if (json[i] == '"') {
      return i + 1;
    }
  }
  return json.size();
}

// Index just past the value starting at json[i].
size_t skipValue(std::string_view json, size_t i) {
  if (i >= json.size()) return i;
  char c = json[i];
  if (c == '"') return skipString(json, i);
  if (c == '{' || c == '[') {
    int depth = 0;
    for (; i < json.size(); i++) {
      char d = json[i];
      if (d == '"') {
        i = skipString(json, i) - 1;
      } else if (d == '{' || d == '[') {
        depth++;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return json.size();
  }
  while (i < json.size() && json[i] != ',' && json[i] != '}' && json[i] != ']' && !isSpace(json[i]))
    i++;
  return i;
}

size_t skipSpace(std::string_view json, size_t i) {
  while (i < json.size() && isSpace(json[i])) i++;
  return i;
}

}  // namespace

Span findTopLevelMember(std::string_view json, std::string_view key) {
  Span span;
  size_t i = skipSpace(json, 0);
  if (i >= json.size() || json[i] != '{') return span;
  i++;
  while (true) {
    i = skipSpace(json, i);
    if (i >= json.size() || json[i] != '"') return span;
    size_t kend = skipString(json, i);
    // Keys with escapes never equal our plain ASCII keys; compare raw.
    std::string_view k = json.substr(i + 1, kend - i - 2);
    i = skipSpace(json, kend);
    if (i >= json.size() || json[i] != ':') return span;
    i = skipSpace(json, i + 1);
    size_t vend = skipValue(json, i);
    if (k == key) {
      span.begin = i;
      span.end = vend;
      span.found = true;
      return span;
    }
    i = skipSpace(json, vend);
    if (i >= json.size() || json[i] != ',') return span;
    i++;
  }
}

std::string replaceSpan(std::string_view json, Span span, std::string_view value) {
  std::string out;
  out.reserve(json.size() + value.size());
  out.append(json.substr(0, span.begin)).append(value).append(json.substr(span.end));
  return out;
}

std::string insertMember(std::string_view json, std::string_view key, std::string_view value) {
  size_t brace = json.find('{');
  std::string out;
  out.reserve(json.size() + key.size() + value.size() + 4);
  out.append(json.substr(0, brace + 1));
  out.push_back('"');
  out.append(key).append("\":").append(value);
  size_t next = skipSpace(json, brace + 1);
  if (next < json.size() && json[next] != '}') out.push_back(',');
  out.append(json.substr(brace + 1));
  return out;
}

}  // namespace sluice::pipeline
