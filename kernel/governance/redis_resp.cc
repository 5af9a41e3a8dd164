#include "governance/redis_resp.h"

#include <charconv>
#include <cstdlib>

namespace sluice::governance {
namespace {

// "<prefix><n>\r\n" into buf; returns its length.
size_t respHeader(char prefix, size_t n, char (&buf)[24]) {
  buf[0] = prefix;
  char* end = std::to_chars(buf + 1, buf + sizeof buf - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  return static_cast<size_t>(end - buf);
}

}  // namespace

RespArgs& RespArgs::add(std::string_view arg) {
  char len[24];
  text.append(len, respHeader('$', arg.size(), len)).append(arg).append("\r\n");
  count++;
  return *this;
}

RespArgs& RespArgs::add(int64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  return add(std::string_view(digits, static_cast<size_t>(end - digits)));
}

RespArgs& RespArgs::append(const RespArgs& other) {
  text.append(other.text);
  count += other.count;
  return *this;
}

std::vector<std::string_view> RespArgs::views() const {
  std::vector<std::string_view> out;
  out.reserve(count);
  size_t at = 0;
  while (at < text.size() && text[at] == '$') {
    size_t eol = text.find("\r\n", at);
    if (eol == std::string::npos) break;
    size_t len = std::strtoull(text.c_str() + at + 1, nullptr, 10);
    if (eol + 2 + len > text.size()) break;
    out.emplace_back(text.data() + eol + 2, len);
    at = eol + 2 + len + 2;
  }
  return out;
}

std::string respCommand(std::initializer_list<std::string_view> head, const RespArgs& tail) {
  char buf[24];
  size_t n = respHeader('*', head.size() + tail.count, buf);
  size_t bytes = n + tail.text.size();
  for (std::string_view h : head) bytes += h.size() + 16;
  std::string out;
  out.reserve(bytes);
  out.append(buf, n);
  for (std::string_view h : head) {
    out.append(buf, respHeader('$', h.size(), buf)).append(h).append("\r\n");
  }
  return out.append(tail.text);
}

}  // namespace sluice::governance
