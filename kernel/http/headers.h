// Response headers, formatted as they are added: "Name: value\r\n" lines in
// one buffer, so a response with a dozen headers costs one allocation, not
// two per header.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::http {

// A header name fixed when the program is built: the compiler checks that it
// holds no CR or LF, so adding it needs no scan per request.
class HeaderName {
 public:
  template <size_t N>
  consteval HeaderName(const char (&name)[N]) : text_(name, N - 1) {
    for (char c : text_) {
      if (c == '\r' || c == '\n') throw "a header name must not hold CR or LF";
    }
  }
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

class Headers {
 public:
  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> list);
  // CR and LF are dropped from names and values: a header can never split.
  void add(std::string_view name, std::string_view value);
  // A decimal value, formatted straight into the buffer.
  void addNumber(HeaderName name, int64_t value);
  // A value of at most `max_bytes` that `write(char* at)` writes in place,
  // returning where it ends; it must write no CR or LF (numbers, durations).
  template <typename Write>
  void addWritten(HeaderName name, size_t max_bytes, Write write);
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

template <typename Write>
void Headers::addWritten(HeaderName name, size_t max_bytes, Write write) {
  size_t at = text_.size();
  text_.resize(at + name.text().size() + max_bytes + 4);
  char* p = text_.data() + at;
  p = std::copy(name.text().begin(), name.text().end(), p);
  *p++ = ':';
  *p++ = ' ';
  p = write(p);
  *p++ = '\r';
  *p++ = '\n';
  text_.resize(static_cast<size_t>(p - text_.data()));
}

}  // namespace sluice::http
