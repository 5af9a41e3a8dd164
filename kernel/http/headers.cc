#include "http/headers.h"

#include <string.h>
#include <strings.h>

#include <charconv>

namespace sluice::http {

Headers::Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> list) {
  size_t n = 0;
  for (const auto& [name, value] : list) n += name.size() + value.size() + 4;
  text_.reserve(n);
  for (const auto& [name, value] : list) add(name, value);
}

namespace {

bool hasCrLf(std::string_view s) {
  return memchr(s.data(), '\r', s.size()) || memchr(s.data(), '\n', s.size());
}

void appendStripped(std::string* out, std::string_view s) {
  for (char c : s) {
    if (c != '\r' && c != '\n') out->push_back(c);
  }
}

}  // namespace

void Headers::add(std::string_view name, std::string_view value) {
  if (hasCrLf(name) || hasCrLf(value)) {
    appendStripped(&text_, name);
    text_.append(": ");
    appendStripped(&text_, value);
    text_.append("\r\n");
    return;
  }
  appendLine(name, value);
}

void Headers::addNumber(HeaderName name, int64_t value) {
  constexpr size_t kMaxDigits = 20;  // "-9223372036854775808"
  addWritten(name, kMaxDigits, [value](char* at) { return std::to_chars(at, at + kMaxDigits, value).ptr; });
}

void Headers::appendLine(std::string_view name, std::string_view value) {
  // One resize and four copies: a response adds a dozen of these.
  size_t at = text_.size();
  text_.resize(at + name.size() + value.size() + 4);
  char* p = text_.data() + at;
  memcpy(p, name.data(), name.size());
  p += name.size();
  memcpy(p, ": ", 2);
  memcpy(p + 2, value.data(), value.size());
  memcpy(p + 2 + value.size(), "\r\n", 2);
}

size_t Headers::count() const {
  size_t n = 0;
  for (size_t at = text_.find("\r\n"); at != std::string::npos; at = text_.find("\r\n", at + 2)) n++;
  return n;
}

std::optional<std::string> Headers::find(std::string_view name) const {
  size_t at = 0;
  while (at < text_.size()) {
    size_t eol = text_.find("\r\n", at);
    std::string_view line(text_.data() + at, eol - at);
    size_t colon = line.find(": ");
    if (colon == name.size() && strncasecmp(line.data(), name.data(), name.size()) == 0) {
      return std::string(line.substr(colon + 2));
    }
    at = eol + 2;
  }
  return std::nullopt;
}

}  // namespace sluice::http
