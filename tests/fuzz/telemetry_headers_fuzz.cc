// What clients control in phase 12: traceparent, X-Sluice-Logging-Config and
// the admin API's query strings. Nothing may crash, and what parses must be
// what the record and the upstream traceparent then carry.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/query.h"
#include "telemetry/body_policy.h"
#include "telemetry/trace_context.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string trace, span;
  if (sluice::telemetry::parseTraceparent(in, &trace, &span)) {
    if (trace.size() != 32 || span.size() != 16) abort();
    if (sluice::telemetry::traceparent(trace, span).size() != 55) abort();
  }
  std::optional<bool> bodies;
  std::string error;
  if (!sluice::telemetry::parseLoggingHeader(in, &bodies, &error) && error.empty()) abort();
  for (const auto& [k, v] : sluice::http::parseQuery(in)) {
    if (k.size() + v.size() > size) abort();
  }
  return 0;
}
