// Response headers, formatted as they are added: "Name: value\r\n" lines in
// one buffer, so a response with a dozen headers costs one allocation, not
// two per header.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::http {

// RFC 9110 tchar, the bytes of a method or header name, as a table: checking
// a byte on the per-request path is one load.
inline constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; c++) t[c] = true;
  for (int c = 'a'; c <= 'z'; c++) t[c] = true;
  for (int c = 'A'; c <= 'Z'; c++) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

inline bool isTokenChar(unsigned char c) { return kTokenChars[c]; }

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
  // The line is written on the stack and appended once: resizing the buffer
  // to the most the value can take would zero-fill it and then shrink it.
  constexpr size_t kMaxLine = 128;
  std::string_view n = name.text();
  size_t most = n.size() + max_bytes + 4;
  char stack_line[kMaxLine];
  std::string heap_line;
  char* line = stack_line;
  if (most > kMaxLine) {
    heap_line.resize(most);
    line = heap_line.data();
  }
  char* p = std::copy(n.begin(), n.end(), line);
  *p++ = ':';
  *p++ = ' ';
  p = write(p);
  *p++ = '\r';
  *p++ = '\n';
  text_.append(line, static_cast<size_t>(p - line));
}

}  // namespace sluice::http
