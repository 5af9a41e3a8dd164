// The webhook sink: which records become events, their JSON and Slack text,
// and the POSTs through a recording fake host.
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <string>

#include "event_text.h"
#include "support/fake_host.h"
#include "support/sink_records.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {
namespace {

const sluice_sink_vtable* table() {
  return static_cast<const sluice_sink_vtable*>(sluice_plugin_entry()->vtable);
}

TEST(WebhookEvents, BlocksAndDowngradesComeFromTheRecord) {
  RecordData d;
  d.status = 429;
  d.error_code = "rate_limit_exceeded";
  d.events = {{"per-caller", "rate_limit:blocked"}};
  RecordBatchBuilder b;
  b.add(d);
  auto events = webhook_sink::eventsOf(b.batch()->views[0]);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "rate_limit_blocked");
  cJSON* j = cJSON_Parse(events[0].json.c_str());
  EXPECT_STREQ(cJSON_GetObjectItem(j, "rule")->valuestring, "per-caller");
  EXPECT_STREQ(cJSON_GetObjectItem(j, "time")->valuestring, "2026-11-18T11:06:40Z");
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metadata"), "env")->valuestring, "prod");
  cJSON_Delete(j);
  EXPECT_EQ(events[0].text,
            "Sluice: rate limit 'per-caller' blocked a request from user:alice@example.com (team "
            "payments) for model openai/gpt-4o, request req_1");

  RecordData g;
  g.error_code = "guardrail_blocked";
  RecordBatchBuilder b2;
  b2.add(g);
  auto guard = webhook_sink::eventsOf(b2.batch()->views[0]);
  ASSERT_EQ(guard.size(), 1u);
  EXPECT_EQ(guard[0].type, "guardrail_blocked");
}

TEST(WebhookEvents, BudgetThresholdText) {
  webhook_sink::Event e;
  ASSERT_TRUE(webhook_sink::kernelEvent(
      "{\"type\":\"budget_threshold\",\"budget\":\"team-monthly\",\"key\":\"team=payments\","
      "\"threshold_percent\":80,\"spent\":80.01,\"limit\":100,\"unit\":\"cost_per_month\"}",
      &e));
  EXPECT_EQ(e.type, "budget_threshold");
  EXPECT_EQ(
      e.text,
      "Sluice: budget 'team-monthly' reached 80% for team=payments (80.01 of 100, cost_per_month)");
  EXPECT_FALSE(webhook_sink::kernelEvent("not json", &e));
  EXPECT_EQ(webhook_sink::slackBody("a \"b\""), "{\"text\":\"a \\\"b\\\"\"}");
}

TEST(WebhookSink, PostsWantedEventsOnly) {
  FakeHost host;
  void* inst = nullptr;
  char err[256] = {0};
  ASSERT_EQ(
      table()->create(host.table(),
                      "{\"url\":\"https://hooks.example.com/x\",\"format\":\"slack\","
                      "\"events\":[\"budget_threshold\"],\"timeout_ms\":100,\"max_in_flight\":8}",
                      &inst, err, sizeof err),
      SLUICE_OK)
      << err;
  table()->attach(inst, reinterpret_cast<sluice_worker*>(0x1));
  RecordData d;
  d.events = {{"per-caller", "rate_limit:blocked"}};
  RecordBatchBuilder b;
  b.add(d);
  table()->write(inst, b.batch());
  EXPECT_TRUE(host.http_calls.empty()) << "rate_limit_blocked is not wanted";
  std::string ev = "{\"type\":\"budget_threshold\",\"budget\":\"b\",\"threshold_percent\":50}";
  table()->event(inst, {ev.data(), ev.size()});
  ASSERT_EQ(host.http_calls.size(), 1u);
  EXPECT_EQ(host.http_calls[0].url, "https://hooks.example.com/x");
  EXPECT_EQ(host.http_calls[0].body.rfind("{\"text\":\"Sluice: budget 'b' reached 50%", 0), 0u);
  host.respond(0, 500, "nope");
  EXPECT_EQ(table()->dropped(inst), 1u);
  table()->destroy(inst);
}

}  // namespace
}  // namespace sluice::testing
