#include "http/headers.h"

#include <string.h>
#include <strings.h>

namespace sluice::http {

Headers::Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> list) {
  size_t n = 0;
  for (const auto& [name, value] : list) n += name.size() + value.size() + 4;
  text_.reserve(n);
  for (const auto& [name, value] : list) add(name, value);
}

void Headers::add(std::string_view name, std::string_view value) {
  auto append = [this](std::string_view s) {
    if (!memchr(s.data(), '\r', s.size()) && !memchr(s.data(), '\n', s.size())) {
      text_.append(s);
      return;
    }
    for (char c : s) {
      if (c != '\r' && c != '\n') text_.push_back(c);
    }
  };
  append(name);
  text_.append(": ");
  append(value);
  text_.append("\r\n");
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
