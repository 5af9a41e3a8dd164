// The HTTP request path: bytes as a client may send them, split into reads
// at sizes the input chooses, through the parser and its limits, including
// pipelined messages after the first.
#include <cstddef>
#include <cstdint>

#include "http/request_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  sluice::manifest::Limits limits;
  limits.max_body_bytes = 4096;
  limits.max_header_bytes = 2048;
  sluice::http::RequestParser parser(limits);
  size_t step = (data[0] % 64) + 1;
  const char* p = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  while (left > 0) {
    size_t n = left < step ? left : step;
    size_t used = 0;
    auto r = parser.parse(p, n, &used);
    if (r == sluice::http::RequestParser::Result::Error) return 0;
    if (used > n) __builtin_trap();
    if (r == sluice::http::RequestParser::Result::Complete) {
      (void)parser.request().path();
      (void)parser.request().header("content-type");
      parser.reset();
    }
    p += used;
    left -= used;
    if (used == 0 && r != sluice::http::RequestParser::Result::Complete) break;
  }
  return 0;
}
