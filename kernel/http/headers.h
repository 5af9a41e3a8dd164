// Response headers, formatted as they are added: "Name: value\r\n" lines in
// one buffer, so a response with a dozen headers costs one allocation, not
// two per header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::http {

class Headers {
 public:
  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> list);
  // CR and LF are dropped from names and values: a header can never split.
  void add(std::string_view name, std::string_view value);
  // A decimal value, formatted straight into the buffer.
  void addNumber(std::string_view name, int64_t value);
  void append(const Headers& other) { text_.append(other.text_); }
  void reserve(size_t bytes) { text_.reserve(bytes); }
  bool empty() const { return text_.empty(); }
  size_t count() const;
  // The formatted lines, for the response head.
  const std::string& text() const { return text_; }
  // The first value of `name` (case-insensitive), or nullopt; for tests and
  // checks off the hot path.
  std::optional<std::string> find(std::string_view name) const;

 private:
  // name and value are free of CR and LF.
  void appendLine(std::string_view name, std::string_view value);

  std::string text_;
};

}  // namespace sluice::http
