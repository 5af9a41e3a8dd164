#include "pipeline/record_fill.h"

#include "telemetry/trace_context.h"
#include "util/clock.h"

namespace sluice::pipeline {

void recordRequest(const http::Request& req, RequestRecord* r) {
  r->method = req.method;
  r->path.assign(req.path());
  r->client_ip = req.client_ip;
  recordTrace(req, r);
}

void recordTrace(const http::Request& req, RequestRecord* r) {
  const std::string* tp = req.header("traceparent");
  if (!tp || !telemetry::parseTraceparent(*tp, &r->trace_id, &r->parent_span_id)) {
    r->trace_id = telemetry::newTraceId();
  }
  r->span_id = telemetry::newSpanId();
}

void recordCaller(const governance::Principal& caller, RequestRecord* r) {
  r->subject = caller.subject;
  r->team = caller.team;
}

void recordTimes(uint64_t start_ns, uint64_t end_ns, RequestRecord* r) {
  r->end_ms = static_cast<int64_t>(util::wallMs());
  r->start_ms = r->end_ms - static_cast<int64_t>((end_ns - start_ns) / 1000000);
  r->phases.total = elapsedMs(start_ns, end_ns);
}

void appendCapped(std::string* body, std::string_view data, uint64_t cap) {
  if (body->size() >= cap) return;
  size_t room = static_cast<size_t>(cap - body->size());
  if (data.size() > room) {
    size_t cut = room;
    // Back up over continuation bytes so no character is split.
    while (cut > 0 && (static_cast<unsigned char>(data[cut]) & 0xC0) == 0x80) cut--;
    data = data.substr(0, cut);
  }
  body->append(data);
}

}  // namespace sluice::pipeline
