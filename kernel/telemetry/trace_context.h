// W3C Trace Context (traceparent): the client's trace is honoured, and the
// upstream call carries the same trace id with the gateway's span as parent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::telemetry {

// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>". False (and the
// header is ignored) when malformed, or when an id is all zeros.
bool parseTraceparent(std::string_view header, std::string* trace_id, std::string* parent_span_id);

// Fresh random ids (lower-case hex) into *out, from a per-thread generator;
// a reused string keeps its memory.
void newTraceId(std::string* out);  // 32 hex digits
void newSpanId(std::string* out);   // 16 hex digits

// The sixteen lower-case hex digits of v, most significant first, at
// out[0..16); no terminator.
void writeHex(char* out, uint64_t v);

// The traceparent header for a call made as span `span_id` of `trace_id`.
std::string traceparent(std::string_view trace_id, std::string_view span_id);

}  // namespace sluice::telemetry
