// Filling a RequestRecord from what the pipeline knows: shared by the
// handler (requests it answers itself) and the exchange (proxied requests).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "governance/identity.h"
#include "http/server.h"
#include "manifest/config.h"
#include "pipeline/record.h"

namespace sluice::pipeline {

// Method, path (without the query), client IP and the trace: the client's
// traceparent when it sent a valid one, else a new trace id.
void recordRequest(const http::Request& req, RequestRecord* r);
// The trace ids alone (see recordRequest); the gateway's span id is new.
void recordTrace(const http::Request& req, RequestRecord* r);
void recordCaller(const governance::Principal& caller, RequestRecord* r);
// start_ms/end_ms (wall clock) and phases.total from monotonic times.
void recordTimes(uint64_t start_ns, uint64_t end_ns, RequestRecord* r);
// Appends `data` to a logged body without passing `cap` bytes, cutting at a
// UTF-8 character boundary.
void appendCapped(std::string* body, std::string_view data, uint64_t cap);

// Milliseconds, to the microsecond: the nearest double to a 3-decimal value,
// which every sink's text writes short and reads back exactly.
inline double elapsedMs(uint64_t from_ns, uint64_t to_ns) {
  return static_cast<double>((to_ns - from_ns + 500) / 1000) / 1000.0;
}

}  // namespace sluice::pipeline
