#include "span_encoder.h"

#include <charconv>
#include <cstdint>
#include <string_view>

#include "../common/json_text.h"

namespace sluice::otlp_sink {
namespace {

// OTLP span kinds and status codes (opentelemetry/proto/trace/v1).
constexpr int kKindInternal = 1;
constexpr int kKindServer = 2;
constexpr int kKindClient = 3;
constexpr int kStatusOk = 1;
constexpr int kStatusError = 2;

using sink_json::appendString;
using sink_json::sv;

void appendInt(std::string* out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// A span's id for phase `name` of the request span: deterministic (FNV-1a of
// the request's span id and the name), so one record always encodes alike.
std::string childSpanId(std::string_view parent, std::string_view name) {
  uint64_t h = 1469598103934665603ull;
  for (char c : parent) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  if (h == 0) h = 1;
  static const char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (int i = 15; i >= 0; i--, h >>= 4) id[i] = kHex[h & 0xf];
  return id;
}

class Attributes {
 public:
  explicit Attributes(std::string* out) : out_(out) { out_->append(",\"attributes\":["); }
  ~Attributes() { out_->push_back(']'); }
  void str(std::string_view key, std::string_view v) {
    if (v.empty()) return;
    open(key);
    out_->append("{\"stringValue\":");
    appendString(out_, v);
    out_->append("}}");
  }
  void integer(std::string_view key, int64_t v) {  // int64 is a JSON string in OTLP
    open(key);
    out_->append("{\"intValue\":\"");
    appendInt(out_, v);
    out_->append("\"}}");
  }
  void real(std::string_view key, double v) {
    open(key);
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append("{\"doubleValue\":").append(buf, r.ptr).append("}}");
  }
  void boolean(std::string_view key, bool v) {
    open(key);
    out_->append(v ? "{\"boolValue\":true}}" : "{\"boolValue\":false}}");
  }

 private:
  void open(std::string_view key) {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->append("{\"key\":");
    appendString(out_, key);
    out_->append(",\"value\":");
  }
  std::string* out_;
  bool first_ = true;
};

struct SpanHead {
  std::string_view trace_id, span_id, parent_id, name;
  int kind;
  int64_t start_ns, end_ns;
  bool error;
  std::string_view error_message;
};

void openSpan(std::string* out, const SpanHead& s) {
  out->append("{\"traceId\":\"").append(s.trace_id).append("\",\"spanId\":\"").append(s.span_id);
  out->append("\"");
  if (!s.parent_id.empty()) out->append(",\"parentSpanId\":\"").append(s.parent_id).append("\"");
  out->append(",\"name\":");
  appendString(out, s.name);
  out->append(",\"kind\":");
  appendInt(out, s.kind);
  out->append(",\"startTimeUnixNano\":\"");
  appendInt(out, s.start_ns);
  out->append("\",\"endTimeUnixNano\":\"");
  appendInt(out, s.end_ns);
  out->append("\",\"status\":{\"code\":");
  appendInt(out, s.error ? kStatusError : kStatusOk);
  if (s.error && !s.error_message.empty()) {
    out->append(",\"message\":");
    appendString(out, s.error_message);
  }
  out->push_back('}');
}

// gen_ai.operation.name for the endpoint the path names.
std::string_view operationFor(std::string_view path) {
  auto ends = [path](std::string_view tail) {
    return path.size() >= tail.size() && path.substr(path.size() - tail.size()) == tail;
  };
  if (ends("/chat/completions") || ends("/messages")) return "chat";
  if (ends("/completions")) return "text_completion";
  if (ends("/embeddings")) return "embeddings";
  return "";
}

void genAiAttributes(Attributes* a, const sluice_record& r, std::string_view operation) {
  a->str("gen_ai.operation.name", operation);
  a->str("gen_ai.system", sv(r.provider_type));
  a->str("gen_ai.provider.name", sv(r.provider_type));
  a->str("gen_ai.request.model", sv(r.requested_model));
  a->str("gen_ai.response.model", sv(r.resolved_model));
  if (r.prompt_tokens > 0 || r.completion_tokens > 0) {
    a->integer("gen_ai.usage.input_tokens", r.prompt_tokens);
    a->integer("gen_ai.usage.output_tokens", r.completion_tokens);
  }
}

void encodeRecord(const sluice_record& r, std::string* out, bool* first_span) {
  if (r.trace_id.len != 32 || r.span_id.len != 16) return;  // not traced
  auto next = [&] {
    if (!*first_span) out->push_back(',');
    *first_span = false;
  };
  int64_t start_ns = r.start_ms * 1000000;
  int64_t end_ns = r.end_ms * 1000000;
  if (r.total_ms >= 0) end_ns = start_ns + static_cast<int64_t>(r.total_ms * 1e6);
  bool failed = r.status >= 500 || r.error_code.len > 0;
  std::string_view operation = operationFor(sv(r.path));
  std::string name(sv(r.method));
  name.append(" ").append(sv(r.path));

  next();
  openSpan(out, {sv(r.trace_id), sv(r.span_id), sv(r.parent_span_id), name, kKindServer, start_ns,
                 end_ns, failed, sv(r.error_code)});
  {
    Attributes a(out);
    a.str("http.request.method", sv(r.method));
    a.str("url.path", sv(r.path));
    a.integer("http.response.status_code", r.status);
    a.str("client.address", sv(r.client_ip));
    a.str("error.type", sv(r.error_code));
    genAiAttributes(&a, r, operation);
    a.str("sluice.request_id", sv(r.id));
    a.str("sluice.subject", sv(r.subject));
    a.str("sluice.team", sv(r.team));
    a.str("sluice.provider", sv(r.provider));
    a.integer("gen_ai.usage.cached_tokens", r.cached_tokens);
    a.boolean("sluice.tokens_estimated", r.tokens_estimated != 0);
    a.real("sluice.cost_usd", r.cost_usd);
    a.boolean("sluice.stream", r.stream != 0);
    for (size_t i = 0; i < r.metadata_count; i++) {
      std::string key = "sluice.metadata.";
      key.append(sv(r.metadata[i].name));
      a.str(key, sv(r.metadata[i].value));
    }
  }
  out->push_back('}');

  // The phases, one after the other; the upstream call runs to the end.
  int64_t cursor = start_ns;
  struct Phase {
    const char* name;
    double ms;
  };
  for (Phase p :
       {Phase{"auth", r.auth_ms}, Phase{"guard_in", r.guard_in_ms}, Phase{"route", r.route_ms}}) {
    if (p.ms < 0) continue;
    int64_t end = cursor + static_cast<int64_t>(p.ms * 1e6);
    std::string id = childSpanId(sv(r.span_id), p.name);
    next();
    openSpan(out, {sv(r.trace_id),
                   id,
                   sv(r.span_id),
                   std::string("sluice.") + p.name,
                   kKindInternal,
                   cursor,
                   end,
                   false,
                   {}});
    out->push_back('}');
    cursor = end;
  }
  int64_t guard_out_ns = r.guard_out_ms >= 0 ? static_cast<int64_t>(r.guard_out_ms * 1e6) : 0;
  if (r.upstream_ms >= 0 || r.ttft_ms >= 0) {
    std::string span_name(operation.empty() ? "upstream" : operation);
    if (r.resolved_model.len) span_name.append(" ").append(sv(r.resolved_model));
    std::string id = childSpanId(sv(r.span_id), "upstream");
    next();
    openSpan(out, {sv(r.trace_id), id, sv(r.span_id), span_name, kKindClient, cursor,
                   end_ns - guard_out_ns, failed, sv(r.error_code)});
    {
      Attributes a(out);
      genAiAttributes(&a, r, operation);
      a.str("sluice.provider", sv(r.provider));
      if (r.upstream_ms >= 0) a.real("sluice.upstream_head_ms", r.upstream_ms);
      if (r.ttft_ms >= 0) a.real("sluice.ttft_ms", r.ttft_ms);
      if (r.tpot_ms >= 0) a.real("sluice.tpot_ms", r.tpot_ms);
    }
    out->push_back('}');
  }
  if (r.guard_out_ms >= 0) {
    std::string id = childSpanId(sv(r.span_id), "guard_out");
    next();
    openSpan(out, {sv(r.trace_id),
                   id,
                   sv(r.span_id),
                   "sluice.guard_out",
                   kKindInternal,
                   end_ns - guard_out_ns,
                   end_ns,
                   false,
                   {}});
    out->push_back('}');
  }
}

}  // namespace

void encodeTraces(const sluice_record_batch& batch, const std::string& service_name,
                  std::string* out) {
  out->append(
      "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
      "\"value\":{\"stringValue\":");
  appendString(out, service_name);
  out->append(
      "}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"sluice\",\"version\":\"1.0.0\"},"
      "\"spans\":[");
  bool first = true;
  for (size_t i = 0; i < batch.count; i++) encodeRecord(batch.views[i], out, &first);
  out->append("]}]}]}");
}

}  // namespace sluice::otlp_sink
