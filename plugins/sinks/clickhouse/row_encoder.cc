#include "row_encoder.h"

#include <charconv>
#include <string_view>

#include "../common/json_text.h"

namespace sluice::clickhouse_sink {
namespace {

using sink_json::appendString;
using sink_json::sv;

template <typename T>
void appendNumber(std::string* out, T v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

class Row {
 public:
  explicit Row(std::string* out) : out_(out) { out_->push_back('{'); }
  ~Row() { out_->append("}\n"); }
  void str(const char* k, std::string_view v) {
    key(k);
    appendString(out_, v);
  }
  template <typename T>
  void num(const char* k, T v) {
    key(k);
    appendNumber(out_, v);
  }
  std::string* key(const char* k) {
    if (!first_) out_->push_back(',');
    first_ = false;
    out_->push_back('"');
    out_->append(k).append("\":");
    return out_;
  }

 private:
  std::string* out_;
  bool first_ = true;
};

}  // namespace

std::string createTableSql(const std::string& database, const std::string& table) {
  return "CREATE TABLE IF NOT EXISTS " + database + "." + table +
         " (id String, start DateTime, start_ms UInt64, end_ms UInt64, subject String, "
         "team String, requested_model String, resolved_model String, provider String, "
         "status UInt16, error_code String, stream UInt8, prompt_tokens Int64, "
         "completion_tokens Int64, cached_tokens Int64, tokens_estimated UInt8, cost_usd Float64, "
         "total_ms Float64, ttft_ms Float64, applied_rules Array(String), metadata String, "
         "trace_id String, record String) "
         "ENGINE = MergeTree() PARTITION BY toYYYYMM(start) ORDER BY (start, id)";
}

void appendRow(const sluice_record& r, std::string* out) {
  Row row(out);
  row.str("id", sv(r.id));
  row.num("start", r.start_ms / 1000);  // Unix seconds: no time zone to misread
  row.num("start_ms", r.start_ms);
  row.num("end_ms", r.end_ms);
  row.str("subject", sv(r.subject));
  row.str("team", sv(r.team));
  row.str("requested_model", sv(r.requested_model));
  row.str("resolved_model", sv(r.resolved_model));
  row.str("provider", sv(r.provider));
  row.num("status", r.status);
  row.str("error_code", sv(r.error_code));
  row.num("stream", r.stream);
  row.num("prompt_tokens", r.prompt_tokens);
  row.num("completion_tokens", r.completion_tokens);
  row.num("cached_tokens", r.cached_tokens);
  row.num("tokens_estimated", r.tokens_estimated);
  row.num("cost_usd", r.cost_usd);
  row.num("total_ms", r.total_ms);
  row.num("ttft_ms", r.ttft_ms);
  std::string* o = row.key("applied_rules");
  o->push_back('[');
  for (size_t i = 0; i < r.applied_rule_count; i++) {
    if (i) o->push_back(',');
    appendString(o, sv(r.applied_rules[i]));
  }
  o->push_back(']');
  row.str("metadata", sink_json::metadataObject(r));
  row.str("trace_id", sv(r.trace_id));
  row.str("record", sv(r.json));
}

}  // namespace sluice::clickhouse_sink
