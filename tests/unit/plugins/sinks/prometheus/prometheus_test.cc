// The prometheus sink: families, labels (with the metadata allowlist),
// histogram buckets, the series cap and config errors.
#include <gtest/gtest.h>

#include <string>

#include "metric_registry.h"
#include "support/fake_host.h"
#include "support/sink_records.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {
namespace {

const sluice_sink_vtable* table() {
  return static_cast<const sluice_sink_vtable*>(sluice_plugin_entry()->vtable);
}

std::string render(void* inst) {
  std::string out;
  sluice_sink_query q{sizeof q, {"metrics", 7}, nullptr, 0};
  EXPECT_EQ(table()->query(
                inst, &q,
                [](void* ctx, int status, const char* type, const char* body, size_t len) {
                  EXPECT_EQ(status, 200);
                  EXPECT_STREQ(type, "text/plain; version=0.0.4; charset=utf-8");
                  static_cast<std::string*>(ctx)->assign(body, len);
                },
                &out),
            SLUICE_OK);
  return out;
}

bool has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(PrometheusSink, CountsByModelProviderStatusAndAllowlistedMetadata) {
  FakeHost host;
  void* inst = nullptr;
  char err[256] = {0};
  ASSERT_EQ(table()->create(host.table(), "{\"metadata_labels\":[\"env\"],\"max_series\":100}",
                            &inst, err, sizeof err),
            SLUICE_OK)
      << err;
  RecordData ok;
  ok.metadata = {{"env", "prod"}, {"user_secret", "x"}};
  RecordData limited;
  limited.status = 429;
  limited.error_code = "rate_limit_exceeded";
  limited.provider = "";
  limited.resolved_model = "";
  limited.prompt = limited.completion = 0;
  limited.cost = 0;
  limited.ttft = -1;
  limited.events = {{"per-caller", "rate_limit:blocked"}};
  RecordData failed;
  failed.status = 502;
  failed.error_code = "upstream_error";
  failed.metadata = {};
  failed.findings = {{{"pii", 3}, {"llm_input", 9}, {"EMAIL", 5}, 2, {"redact", 6}}};
  RecordBatchBuilder b;
  b.add(ok).add(ok).add(limited).add(failed);
  ASSERT_EQ(table()->write(inst, b.batch()), SLUICE_OK);
  std::string text = render(inst);
  EXPECT_TRUE(has(text,
                  "sluice_requests_total{model=\"openai/"
                  "gpt-4o\",provider=\"openai\",status=\"200\",env=\"prod\"} 2"))
      << text;
  EXPECT_TRUE(
      has(text,
          "sluice_input_tokens_total{model=\"openai/gpt-4o\",provider=\"openai\",env=\"prod\"} 24"))
      << text;
  EXPECT_TRUE(has(
      text,
      "sluice_output_tokens_total{model=\"openai/gpt-4o\",provider=\"openai\",env=\"prod\"} 60"))
      << text;
  EXPECT_TRUE(has(
      text,
      "sluice_requests_total{model=\"openai/gpt-4o\",provider=\"\",status=\"429\",env=\"prod\"} 1"))
      << text;
  EXPECT_TRUE(has(text, "sluice_rate_limit_events_total{rule=\"per-caller\",action=\"blocked\"} 1"))
      << text;
  EXPECT_TRUE(has(
      text,
      "sluice_upstream_errors_total{model=\"openai/gpt-4o\",provider=\"openai\",status=\"502\"} 1"))
      << text;
  EXPECT_TRUE(has(
      text,
      "sluice_guardrail_verdicts_total{guardrail=\"pii\",hook=\"llm_input\",action=\"redact\"} 2"))
      << text;
  // 333 ms lands in the 0.5 s bucket and every one above it.
  EXPECT_TRUE(has(text,
                  "sluice_request_duration_seconds_bucket{model=\"openai/"
                  "gpt-4o\",provider=\"openai\",le=\"0.25\"} 0"))
      << text;
  EXPECT_TRUE(has(text,
                  "sluice_request_duration_seconds_bucket{model=\"openai/"
                  "gpt-4o\",provider=\"openai\",le=\"0.5\"} 3"))
      << text;
  EXPECT_TRUE(has(text,
                  "sluice_request_duration_seconds_bucket{model=\"openai/"
                  "gpt-4o\",provider=\"openai\",le=\"+Inf\"} 3"))
      << text;
  EXPECT_TRUE(has(
      text, "sluice_request_duration_seconds_count{model=\"openai/gpt-4o\",provider=\"openai\"} 3"))
      << text;
  EXPECT_EQ(text.find("user_secret"), std::string::npos);
  EXPECT_NE(text.find("# TYPE sluice_ttft_seconds histogram"), std::string::npos);
  table()->destroy(inst);
}

TEST(PrometheusSink, TheSeriesCapDropsAndCounts) {
  FakeHost host;
  void* inst = nullptr;
  char err[256] = {0};
  ASSERT_EQ(table()->create(host.table(), "{\"metadata_labels\":[\"env\"],\"max_series\":2}", &inst,
                            err, sizeof err),
            SLUICE_OK);
  RecordBatchBuilder b;
  for (const char* env : {"a", "b", "c", "d"}) {
    RecordData d;
    d.metadata = {{"env", env}};
    b.add(d);
  }
  table()->write(inst, b.batch());
  std::string text = render(inst);
  EXPECT_EQ(text.find("env=\"c\""), std::string::npos);
  EXPECT_NE(text.find("sluice_prometheus_series_dropped_total "), std::string::npos);
  EXPECT_EQ(text.find("sluice_prometheus_series_dropped_total 0\n"), std::string::npos) << text;
  table()->destroy(inst);
}

TEST(PrometheusSink, LabelNamesAreChecked) {
  FakeHost host;
  void* inst = nullptr;
  char err[512] = {0};
  for (const char* bad : {"team-name", "9lives", "__x", "status"}) {
    std::string cfg = std::string("{\"metadata_labels\":[\"") + bad + "\"]}";
    EXPECT_EQ(table()->create(host.table(), cfg.c_str(), &inst, err, sizeof err),
              SLUICE_ERR_CONFIG);
    EXPECT_EQ(std::string(err).rfind(std::string("metadata_labels: '") + bad + "' cannot be", 0),
              0u)
        << err;
  }
}

TEST(MetricRegistry, EscapesLabelValues) {
  std::string out;
  prometheus_sink::appendLabelValue(&out, "a\"b\\c\nd");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\"");
}

}  // namespace
}  // namespace sluice::testing
