#include "pipeline/record_fill.h"

#include "telemetry/trace_context.h"
#include "util/clock.h"

namespace sluice::pipeline {

void RequestRecord::clear() {
  for (std::string* s : {&id, &method, &path, &client_ip, &trace_id, &span_id, &parent_span_id,
                         &subject, &team, &requested_model, &resolved_model, &provider,
                         &provider_type, &error_code, &request_body, &response_body}) {
    s->clear();
  }
  start_ms = end_ms = 0;
  metadata.clear();
  applied_rules.clear();
  attempts.clear();
  events.clear();
  status = 0;
  stream = false;
  prompt_tokens = completion_tokens = cached_tokens = 0;
  tokens_estimated = false;
  cost_usd = 0;
  phases = PhaseTimes();
  findings.clear();
  bodies_logged = false;
}

void recordRequest(const http::Request& req, RequestRecord* r) {
  r->method = req.method;
  r->path.assign(req.path());
  r->client_ip = req.client_ip;
  recordTrace(req, r);
}

void recordTrace(const http::Request& req, RequestRecord* r) {
  const std::string* tp = req.header("traceparent");
  if (!tp || !telemetry::parseTraceparent(*tp, &r->trace_id, &r->parent_span_id)) {
    telemetry::newTraceId(&r->trace_id);
  }
  telemetry::newSpanId(&r->span_id);
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
