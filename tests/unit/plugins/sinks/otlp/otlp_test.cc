// The otlp sink: the OTLP/HTTP JSON it sends, and its delivery through the
// host's HTTP client (a recording fake host).
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <string>

#include "span_encoder.h"
#include "support/fake_host.h"
#include "support/sink_records.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {
namespace {

const sluice_sink_vtable* table() {
  return static_cast<const sluice_sink_vtable*>(sluice_plugin_entry()->vtable);
}

cJSON* attr(cJSON* span, const char* key) {
  cJSON* a = nullptr;
  cJSON_ArrayForEach(a, cJSON_GetObjectItem(span, "attributes")) {
    if (strcmp(cJSON_GetObjectItem(a, "key")->valuestring, key) == 0) {
      return cJSON_GetObjectItem(a, "value")->child;
    }
  }
  return nullptr;
}

TEST(SpanEncoder, OneServerSpanAndOneChildPerPhase) {
  RecordData d;
  d.parent_span_id = "00f067aa0ba902b7";
  RecordBatchBuilder b;
  b.add(d);
  std::string json;
  otlp_sink::encodeTraces(*b.batch(), "svc", &json);
  cJSON* root = cJSON_Parse(json.c_str());
  ASSERT_NE(root, nullptr) << json;
  cJSON* rs = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "resourceSpans"), 0);
  cJSON* spans =
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rs, "scopeSpans"), 0), "spans");
  ASSERT_EQ(cJSON_GetArraySize(spans), 4);  // request, auth, route, upstream
  cJSON* server = cJSON_GetArrayItem(spans, 0);
  EXPECT_STREQ(cJSON_GetObjectItem(server, "traceId")->valuestring, d.trace_id.c_str());
  EXPECT_STREQ(cJSON_GetObjectItem(server, "spanId")->valuestring, d.span_id.c_str());
  EXPECT_STREQ(cJSON_GetObjectItem(server, "parentSpanId")->valuestring, "00f067aa0ba902b7");
  EXPECT_EQ(cJSON_GetObjectItem(server, "kind")->valueint, 2);
  EXPECT_STREQ(cJSON_GetObjectItem(server, "startTimeUnixNano")->valuestring,
               "1795000000123000000");
  EXPECT_STREQ(cJSON_GetObjectItem(server, "endTimeUnixNano")->valuestring, "1795000000456000000");
  EXPECT_STREQ(attr(server, "gen_ai.operation.name")->valuestring, "chat");
  EXPECT_STREQ(attr(server, "gen_ai.system")->valuestring, "openai");
  EXPECT_STREQ(attr(server, "gen_ai.usage.input_tokens")->valuestring, "12");
  EXPECT_STREQ(attr(server, "gen_ai.usage.output_tokens")->valuestring, "30");
  EXPECT_STREQ(attr(server, "sluice.metadata.env")->valuestring, "prod");
  cJSON* upstream = cJSON_GetArrayItem(spans, 3);
  EXPECT_STREQ(cJSON_GetObjectItem(upstream, "name")->valuestring, "chat openai/gpt-4o");
  EXPECT_EQ(cJSON_GetObjectItem(upstream, "kind")->valueint, 3);
  EXPECT_STREQ(cJSON_GetObjectItem(upstream, "parentSpanId")->valuestring, d.span_id.c_str());
  // auth 0.2 ms then route 0.1 ms: the upstream span starts 0.3 ms in.
  EXPECT_STREQ(cJSON_GetObjectItem(upstream, "startTimeUnixNano")->valuestring,
               "1795000000123300000");
  cJSON_Delete(root);
}

TEST(SpanEncoder, UntracedRecordsAreSkipped) {
  RecordData d;
  d.trace_id = "";
  RecordBatchBuilder b;
  b.add(d);
  std::string json;
  otlp_sink::encodeTraces(*b.batch(), "svc", &json);
  EXPECT_NE(json.find("\"spans\":[]"), std::string::npos) << json;
}

TEST(OtlpSink, PostsEachBatchAndCountsFailedExports) {
  FakeHost host;
  void* inst = nullptr;
  char err[256] = {0};
  ASSERT_EQ(table()->create(host.table(),
                            "{\"endpoint\":\"http://collector:4318/\",\"service_name\":\"gw\","
                            "\"timeout_ms\":500,\"max_in_flight\":1,\"headers\":{\"x-key\":\"k\"}}",
                            &inst, err, sizeof err),
            SLUICE_OK)
      << err;
  auto* worker = reinterpret_cast<sluice_worker*>(0x1);
  table()->attach(inst, worker);
  RecordBatchBuilder b;
  b.add(RecordData{}).add(RecordData{});
  ASSERT_EQ(table()->write(inst, b.batch()), SLUICE_OK);
  ASSERT_EQ(host.http_calls.size(), 1u);
  const auto& call = host.http_calls[0];
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.url, "http://collector:4318/v1/traces");
  EXPECT_EQ(call.timeout_ms, 500u);
  EXPECT_EQ(call.headers[0], (std::pair<std::string, std::string>{"x-key", "k"}));
  // In flight: the next batch has no slot and is dropped.
  ASSERT_EQ(table()->write(inst, b.batch()), SLUICE_OK);
  EXPECT_EQ(host.http_calls.size(), 1u);
  EXPECT_EQ(table()->dropped(inst), 2u);
  host.respond(0, 503, "busy");
  EXPECT_EQ(table()->dropped(inst), 4u);
  EXPECT_TRUE(host.logged("delivery failed: answered 503: busy"));
  ASSERT_EQ(table()->write(inst, b.batch()), SLUICE_OK);
  host.respond(1, 200, "{}");
  EXPECT_EQ(table()->dropped(inst), 4u);
  table()->destroy(inst);
}

TEST(OtlpSink, ConfigErrors) {
  FakeHost host;
  void* inst = nullptr;
  char err[256] = {0};
  EXPECT_EQ(
      table()->create(host.table(), "{\"endpoint\":\"collector:4318\"}", &inst, err, sizeof err),
      SLUICE_ERR_CONFIG);
  EXPECT_STREQ(err, "endpoint must be an http:// or https:// URL");
  EXPECT_EQ(table()->create(host.table(), "{\"endpoint\":\"http://c\",\"headers\":{\"a\":1}}",
                            &inst, err, sizeof err),
            SLUICE_ERR_CONFIG);
  EXPECT_STREQ(err, "headers.a must be a string");
}

}  // namespace
}  // namespace sluice::testing
