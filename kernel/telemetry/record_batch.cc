#include "telemetry/record_batch.h"

#include "telemetry/record_json.h"

namespace sluice::telemetry {
namespace {

sluice_str ss(const std::string& s) { return sluice_str{s.data(), s.size()}; }

}  // namespace

void RecordBatch::build(const std::vector<std::unique_ptr<pipeline::RequestRecord>>& records,
                        bool json) {
  json_.clear();
  json_ends_.clear();
  strs_.clear();
  views_.clear();
  metadata_.clear();
  rules_.clear();
  findings_.clear();
  events_.clear();
  attempts_.clear();
  // Sized up front: views point into these vectors, which must not move.
  size_t n_meta = 0, n_rules = 0, n_findings = 0, n_events = 0, n_attempts = 0;
  for (const auto& r : records) {
    n_meta += r->metadata.size();
    n_rules += r->applied_rules.size();
    n_findings += r->findings.size();
    n_events += r->events.size();
    n_attempts += r->attempts.size();
  }
  metadata_.reserve(n_meta);
  rules_.reserve(n_rules);
  findings_.reserve(n_findings);
  events_.reserve(n_events);
  attempts_.reserve(n_attempts);
  views_.reserve(records.size());
  strs_.reserve(records.size());

  if (json) {
    for (const auto& r : records) {
      appendRecordJson(*r, &json_);
      json_ends_.push_back(json_.size());
    }
  }
  size_t begin = 0;
  for (size_t i = 0; i < records.size(); i++) {
    const pipeline::RequestRecord& r = *records[i];
    if (json) {
      strs_.push_back(sluice_str{json_.data() + begin, json_ends_[i] - begin});
      begin = json_ends_[i];
    } else {
      strs_.push_back(sluice_str{"", 0});
    }

    sluice_record v{};
    v.struct_size = sizeof v;
    v.schema_version = kRecordSchemaVersion;
    v.json = strs_.back();
    v.id = ss(r.id);
    v.start_ms = r.start_ms;
    v.end_ms = r.end_ms;
    v.method = ss(r.method);
    v.path = ss(r.path);
    v.client_ip = ss(r.client_ip);
    v.trace_id = ss(r.trace_id);
    v.span_id = ss(r.span_id);
    v.parent_span_id = ss(r.parent_span_id);
    v.subject = ss(r.subject);
    v.team = ss(r.team);
    v.metadata = metadata_.data() + metadata_.size();
    for (const auto& [k, val] : r.metadata) metadata_.push_back({ss(k), ss(val)});
    v.metadata_count = r.metadata.size();
    v.requested_model = ss(r.requested_model);
    v.resolved_model = ss(r.resolved_model);
    v.provider = ss(r.provider);
    v.provider_type = ss(r.provider_type);
    v.applied_rules = rules_.data() + rules_.size();
    for (const auto& id : r.applied_rules) rules_.push_back(ss(id));
    v.applied_rule_count = r.applied_rules.size();
    v.status = r.status;
    v.error_code = ss(r.error_code);
    v.stream = r.stream ? 1 : 0;
    v.prompt_tokens = r.prompt_tokens;
    v.completion_tokens = r.completion_tokens;
    v.cached_tokens = r.cached_tokens;
    v.tokens_estimated = r.tokens_estimated ? 1 : 0;
    v.cost_usd = r.cost_usd;
    v.auth_ms = r.phases.auth;
    v.guard_in_ms = r.phases.guard_in;
    v.route_ms = r.phases.route;
    v.upstream_ms = r.phases.upstream;
    v.ttft_ms = r.phases.ttft;
    v.tpot_ms = r.phases.tpot;
    v.guard_out_ms = r.phases.guard_out;
    v.total_ms = r.phases.total;
    v.attempt_count = static_cast<uint32_t>(r.attempts.size());
    v.findings = findings_.data() + findings_.size();
    for (const auto& f : r.findings) {
      findings_.push_back({ss(f.guardrail), ss(f.hook), ss(f.type), f.count, ss(f.action)});
    }
    v.finding_count = r.findings.size();
    v.events = events_.data() + events_.size();
    for (const auto& e : r.events) events_.push_back({ss(e.rule), ss(e.kind), ss(e.action)});
    v.event_count = r.events.size();
    v.attempts = attempts_.data() + attempts_.size();
    for (const auto& a : r.attempts) {
      attempts_.push_back({ss(a.target), a.status, ss(a.error), a.duration_ms});
    }
    v.bodies_logged = r.bodies_logged ? 1 : 0;
    v.request_body = ss(r.request_body);
    v.response_body = ss(r.response_body);
    views_.push_back(v);
  }
  batch_.struct_size = sizeof batch_;
  batch_.records = strs_.data();
  batch_.count = strs_.size();
  batch_.views = views_.data();
}

}  // namespace sluice::telemetry
