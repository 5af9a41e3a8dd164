#include "telemetry/record_json.h"

#include <charconv>

#include "pipeline/errors.h"

namespace sluice::telemetry {
namespace {

using pipeline::appendJsonString;

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void key(const char* k) {
    if (need_comma_) out_->push_back(',');
    out_->push_back('"');
    out_->append(k);
    out_->append("\":");
    need_comma_ = true;
  }
  void open(char c) {
    out_->push_back(c);
    need_comma_ = false;
  }
  void close(char c) {
    out_->push_back(c);
    need_comma_ = true;
  }
  void item() {
    if (need_comma_) out_->push_back(',');
    need_comma_ = true;
  }
  // Empty strings are null: "not known" rather than "known to be empty".
  void str(const char* k, const std::string& v) {
    key(k);
    if (v.empty()) {
      out_->append("null");
    } else {
      appendJsonString(out_, v);
    }
  }
  void integer(const char* k, int64_t v) {
    key(k);
    number(v);
  }
  void number(int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append(buf, r.ptr);
  }
  void real(const char* k, double v) {
    key(k);
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append(buf, r.ptr);
  }
  void ms(const char* k, double v) {  // phase times to the microsecond
    if (v < 0) return;
    key(k);
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    out_->append(buf, r.ptr);
  }
  void boolean(const char* k, bool v) {
    key(k);
    out_->append(v ? "true" : "false");
  }
  std::string* out() { return out_; }

 private:
  std::string* out_;
  bool need_comma_ = false;
};

}  // namespace

void appendRecordJson(const pipeline::RequestRecord& r, std::string* out) {
  Writer w(out);
  w.open('{');
  w.integer("schema_version", kRecordSchemaVersion);
  w.str("id", r.id);
  w.integer("start_ms", r.start_ms);
  w.integer("end_ms", r.end_ms);
  w.str("method", r.method);
  w.str("path", r.path);
  w.str("client_ip", r.client_ip);
  w.str("trace_id", r.trace_id);
  w.str("span_id", r.span_id);
  w.str("parent_span_id", r.parent_span_id);
  w.str("subject", r.subject);
  w.str("team", r.team);
  w.key("metadata");
  w.open('{');
  for (const auto& [k, v] : r.metadata) {
    w.item();
    appendJsonString(out, k);
    out->push_back(':');
    appendJsonString(out, v);
  }
  w.close('}');
  w.str("requested_model", r.requested_model);
  w.str("resolved_model", r.resolved_model);
  w.str("provider", r.provider);
  w.str("provider_type", r.provider_type);
  w.key("applied_rules");
  w.open('[');
  for (const auto& id : r.applied_rules) {
    w.item();
    appendJsonString(out, id);
  }
  w.close(']');
  w.key("attempts");
  w.open('[');
  for (const auto& a : r.attempts) {
    w.item();
    w.open('{');
    w.str("target", a.target);
    w.integer("status", a.status);
    w.str("error", a.error);
    w.real("duration_ms", a.duration_ms);
    w.close('}');
  }
  w.close(']');
  w.key("events");
  w.open('[');
  for (const auto& e : r.events) {
    w.item();
    w.open('{');
    w.str("rule", e.rule);
    w.str("kind", e.kind);
    w.str("action", e.action);
    w.close('}');
  }
  w.close(']');
  w.integer("status", r.status);
  w.str("error_code", r.error_code);
  w.boolean("stream", r.stream);
  w.key("usage");
  w.open('{');
  w.integer("prompt_tokens", r.prompt_tokens);
  w.integer("completion_tokens", r.completion_tokens);
  w.integer("cached_tokens", r.cached_tokens);
  w.boolean("estimated", r.tokens_estimated);
  w.close('}');
  w.real("cost_usd", r.cost_usd);
  w.key("phases");
  w.open('{');
  w.ms("auth_ms", r.phases.auth);
  w.ms("guard_in_ms", r.phases.guard_in);
  w.ms("route_ms", r.phases.route);
  w.ms("upstream_ms", r.phases.upstream);
  w.ms("ttft_ms", r.phases.ttft);
  w.ms("tpot_ms", r.phases.tpot);
  w.ms("guard_out_ms", r.phases.guard_out);
  w.ms("total_ms", r.phases.total);
  w.close('}');
  w.key("findings");
  w.open('[');
  for (const auto& f : r.findings) {
    w.item();
    w.open('{');
    w.str("guardrail", f.guardrail);
    w.str("hook", f.hook);
    w.str("type", f.type);
    w.integer("count", f.count);
    w.str("action", f.action);
    w.close('}');
  }
  w.close(']');
  if (r.bodies_logged) {
    w.key("request_body");
    appendJsonString(out, r.request_body);
    w.key("response_body");
    appendJsonString(out, r.response_body);
  }
  w.close('}');
}

}  // namespace sluice::telemetry
