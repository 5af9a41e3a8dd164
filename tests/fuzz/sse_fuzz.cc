// The SSE splitter every streamed upstream response passes through.
#include <cstddef>
#include <cstdint>

#include "http/sse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  sluice::http::SseParser sse;
  size_t step = (data[0] % 32) + 1;
  size_t events = 0;
  for (size_t i = 1; i < size; i += step) {
    size_t n = size - i < step ? size - i : step;
    sse.feed(reinterpret_cast<const char*>(data + i), n,
             [&](std::string_view event, std::string_view body) {
               events += event.size() + body.size() > 0 ? 1 : 0;
               return true;
             });
  }
  return static_cast<int>(events * 0);
}
