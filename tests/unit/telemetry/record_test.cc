// The record's JSON (schema 1) and the field views sinks receive.
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "pipeline/record_fill.h"
#include "telemetry/record_batch.h"
#include "telemetry/record_json.h"

namespace sluice::telemetry {
namespace {

pipeline::RequestRecord sample() {
  pipeline::RequestRecord r;
  r.id = "req_1";
  r.start_ms = 1795000000000;
  r.end_ms = 1795000000100;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.subject = "user:a\"b@example.com";
  r.metadata = {{"env", "prod"}, {"k", "line\nbreak"}};
  r.requested_model = "openai/gpt-4o";
  r.applied_rules = {"per-caller"};
  r.events = {{"per-caller", "rate_limit", "blocked"}};
  r.attempts = {{"openai/gpt-4o", 429, "", 12.5}};
  r.findings = {{"pii", "llm_input", "EMAIL", 2, "redact"}};
  r.status = 429;
  r.error_code = "rate_limit_exceeded";
  r.prompt_tokens = 7;
  r.tokens_estimated = true;
  r.cost_usd = 0.000123;
  r.phases.auth = 0.25;
  r.phases.total = 1.5;
  return r;
}

TEST(RequestRecord, ClearMakesItNewAgain) {
  pipeline::RequestRecord r = sample();
  r.client_ip = "127.0.0.1";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.span_id = "00f067aa0ba902b7";
  r.parent_span_id = "00f067aa0ba902b8";
  r.team = "payments";
  r.resolved_model = "openai/gpt-4o-mini";
  r.provider = "openai";
  r.provider_type = "openai";
  r.stream = true;
  r.completion_tokens = 3;
  r.cached_tokens = 2;
  r.phases = {1, 2, 3, 4, 5, 6, 7, 8};
  r.bodies_logged = true;
  r.request_body = "{}";
  r.response_body = "{}";
  r.clear();
  EXPECT_EQ(r, pipeline::RequestRecord());
}

TEST(RequestRecord, TimesAreKeptToTheMicrosecond) {
  EXPECT_EQ(pipeline::elapsedMs(1000, 1000 + 1234567), 1.235);
  EXPECT_EQ(pipeline::elapsedMs(1000, 1000 + 1234499), 1.234);
  EXPECT_EQ(pipeline::elapsedMs(0, 120000000), 120.0);
  EXPECT_EQ(pipeline::elapsedMs(5, 5), 0.0);
}

TEST(RecordJson, SchemaOneWithNullsForUnknownsAndOnlyPhasesThatRan) {
  std::string json;
  appendRecordJson(sample(), &json);
  cJSON* o = cJSON_Parse(json.c_str());
  ASSERT_NE(o, nullptr) << json;
  EXPECT_EQ(cJSON_GetObjectItem(o, "schema_version")->valueint, 1);
  EXPECT_STREQ(cJSON_GetObjectItem(o, "subject")->valuestring, "user:a\"b@example.com");
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(o, "team")));
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(o, "resolved_model")));
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "k")->valuestring,
               "line\nbreak");
  EXPECT_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "attempts"), 0), "status")
                ->valueint,
            429);
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "events"), 0), "kind")
                   ->valuestring,
               "rate_limit");
  EXPECT_STREQ(
      cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "findings"), 0), "type")
          ->valuestring,
      "EMAIL");
  cJSON* usage = cJSON_GetObjectItem(o, "usage");
  EXPECT_EQ(cJSON_GetObjectItem(usage, "prompt_tokens")->valueint, 7);
  EXPECT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(usage, "estimated")));
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(o, "cost_usd")->valuedouble, 0.000123);
  cJSON* phases = cJSON_GetObjectItem(o, "phases");
  EXPECT_EQ(cJSON_GetArraySize(phases), 2);
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(phases, "auth_ms")->valuedouble, 0.25);
  EXPECT_EQ(cJSON_GetObjectItem(o, "request_body"), nullptr) << "bodies only when logged";
  cJSON_Delete(o);
}

TEST(RecordJson, BodiesWhenLogged) {
  pipeline::RequestRecord r = sample();
  r.bodies_logged = true;
  r.request_body = "{\"model\":\"x\"}";
  std::string json;
  appendRecordJson(r, &json);
  cJSON* o = cJSON_Parse(json.c_str());
  EXPECT_STREQ(cJSON_GetObjectItem(o, "request_body")->valuestring, "{\"model\":\"x\"}");
  EXPECT_STREQ(cJSON_GetObjectItem(o, "response_body")->valuestring, "");
  cJSON_Delete(o);
}

TEST(RecordBatch, ViewsMatchTheRecordsAndTheirJson) {
  std::vector<std::unique_ptr<pipeline::RequestRecord>> records;
  for (int i = 0; i < 3; i++) {
    records.push_back(std::make_unique<pipeline::RequestRecord>(sample()));
    records.back()->id = "req_" + std::to_string(i);
  }
  RecordBatch batch;
  batch.build(records);
  const sluice_record_batch& b = batch.batch();
  ASSERT_EQ(b.count, 3u);
  for (size_t i = 0; i < 3; i++) {
    const sluice_record& v = b.views[i];
    EXPECT_EQ(std::string(v.id.ptr, v.id.len), "req_" + std::to_string(i));
    EXPECT_EQ(v.status, 429);
    EXPECT_EQ(v.metadata_count, 2u);
    EXPECT_EQ(std::string(v.metadata[1].value.ptr, v.metadata[1].value.len), "line\nbreak");
    EXPECT_EQ(std::string(v.applied_rules[0].ptr, v.applied_rules[0].len), "per-caller");
    EXPECT_EQ(std::string(v.events[0].action.ptr, v.events[0].action.len), "blocked");
    EXPECT_EQ(v.findings[0].count, 2u);
    EXPECT_EQ(v.guard_in_ms, -1);
    EXPECT_EQ(v.json.ptr, b.records[i].ptr);
    cJSON* o = cJSON_ParseWithLength(b.records[i].ptr, b.records[i].len);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(std::string(cJSON_GetObjectItem(o, "id")->valuestring), "req_" + std::to_string(i));
    cJSON_Delete(o);
  }
}

}  // namespace
}  // namespace sluice::telemetry
