// The router: rule matching, the strategy's order and what it is given,
// sticky sessions, per-target overrides, reservations' worst case and the
// /admin/targets report.
#include "pipeline/router.h"

#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include "route_fixture.h"

namespace sluice::pipeline {
namespace {

using testing::recordAnswer;
using testing::recordFailures;
using testing::RouteFixture;
using testing::StubStrategies;

constexpr uint64_t kNow = 7000000;

std::vector<uint32_t> orderOf(const Route& route, std::string_view key = "", uint64_t now = kNow) {
  TargetOrder o;
  route.order(key, now, &o);
  return std::vector<uint32_t>(o.index, o.index + o.count);
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fx_.model("a", 1, 2, 1000);
    fx_.model("b", 3, 1, 8000);
    fx_.model("c");
    fx_.config.virtual_models = {"prod/assistant", "prod/other"};
    alice_.subject = "user:alice@example.com";
    alice_.team = "payments";
    bob_.subject = "user:bob@example.com";
  }
  RouteFixture fx_;
  governance::Principal alice_, bob_;
  governance::Metadata none_;
};

TEST_F(RouterTest, BuildReportsEveryBrokenRule) {
  fx_.rule("ok", "in-order", {"p/a"});
  fx_.rule("nostrategy", "missing", {"p/a"});
  fx_.rule("refused", "refuse", {"p/a"});
  fx_.rule("nomodel", "in-order", {"p/zz"});
  fx_.build();
  EXPECT_EQ(fx_.router, nullptr);
  EXPECT_EQ(fx_.build_errors,
            (std::vector<std::string>{
                "routing rule 'nostrategy': no routing plugin named 'missing'",
                "routing rule 'refused' (strategy 'refuse'): refused: bad config",
                "routing rule 'nomodel': target 'p/zz' names no configured model"}));
}

TEST_F(RouterTest, FirstMatchingRuleWins) {
  auto& gold = fx_.rule("gold", "in-order", {"p/b"});
  gold.when.models = {"prod/assistant"};
  gold.when.metadata = {{"tier", "gold"}};
  auto& team = fx_.rule("payments", "in-order", {"p/c"});
  team.when.models = {"prod/*"};
  team.when.teams = {"payments"};
  auto& rest = fx_.rule("rest", "in-order", {"p/a"});
  rest.when.models = {"prod/assistant"};
  fx_.build();
  ASSERT_TRUE(fx_.router);
  const Router& r = *fx_.router;
  governance::Metadata gold_md{{"tier", "gold"}};
  EXPECT_EQ(r.match("prod/assistant", bob_, gold_md)->id(), "gold");
  EXPECT_EQ(r.match("prod/assistant", alice_, none_)->id(), "payments");
  EXPECT_EQ(r.match("prod/other", alice_, none_)->id(), "payments");
  EXPECT_EQ(r.match("prod/assistant", bob_, none_)->id(), "rest");
  EXPECT_EQ(r.match("prod/other", bob_, none_), nullptr);  // virtual, but no rule holds
  EXPECT_EQ(r.match("p/a", alice_, none_), nullptr);       // direct names pass through
  EXPECT_TRUE(r.isVirtual("prod/other"));
  EXPECT_FALSE(r.isVirtual("p/a"));
}

TEST_F(RouterTest, ARuleMayRerouteADirectName) {
  auto& subj = fx_.rule("bob-to-c", "in-order", {"p/c"});
  subj.when.models = {"p/a"};
  subj.when.subjects = {"user:bob@example.com"};
  fx_.build();
  EXPECT_EQ(fx_.router->match("p/a", bob_, none_)->id(), "bob-to-c");
  EXPECT_EQ(fx_.router->match("p/a", alice_, none_), nullptr);
}

TEST_F(RouterTest, OrderComesFromTheStrategy) {
  fx_.rule("fwd", "in-order", {"p/a", "p/b", "p/c"});
  fx_.rule("rev", "reverse", {"p/a", "p/b", "p/c"});
  fx_.rule("one", "first-only", {"p/a", "p/b", "p/c"});
  fx_.build();
  EXPECT_EQ(orderOf(fx_.route(0)), (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(orderOf(fx_.route(1)), (std::vector<uint32_t>{2, 1, 0}));
  EXPECT_EQ(orderOf(fx_.route(2)), (std::vector<uint32_t>{0}));  // only what it returns is tried
}

TEST_F(RouterTest, AnInvalidStrategyAnswerFallsBackToManifestOrder) {
  fx_.rule("bad", "broken", {"p/a", "p/b"});
  fx_.build();
  EXPECT_EQ(orderOf(fx_.route(0)), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(orderOf(fx_.route(0)), (std::vector<uint32_t>{0, 1}));
}

TEST_F(RouterTest, StrategyGetsLiveStats) {
  auto& r = fx_.rule("r", "in-order", {"p/a", "p/b"});
  r.targets[0].priority = 3;
  r.targets[0].weight = 70;
  r.targets[0].sla_tpot_ms = 50;
  r.targets[0].sla_window_seconds = 10;
  fx_.build();
  auto a = fx_.stats.get("p/a");
  recordAnswer(*a, kNow - 60000, 90);  // in the 20 minutes, not in the 10-second SLA window
  recordAnswer(*a, kNow, 30);
  recordFailures(*fx_.stats.get("p/b"), kNow, 2);  // b's breaker opens
  a->attemptStarted();                   // one in flight
  orderOf(fx_.route(0));
  const auto& seen = StubStrategies::seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].struct_size, sizeof(sluice_target_stats));
  EXPECT_EQ(std::string(seen[0].target.ptr, seen[0].target.len), "p/a");
  EXPECT_EQ(seen[0].priority, 3);
  EXPECT_EQ(seen[0].weight, 70);
  EXPECT_DOUBLE_EQ(seen[0].tpot_ms, 60);
  EXPECT_EQ(seen[0].tpot_samples, 2u);
  EXPECT_DOUBLE_EQ(seen[0].tpot_ms_3m, 30);
  EXPECT_EQ(seen[0].tpot_samples_3m, 1u);
  EXPECT_DOUBLE_EQ(seen[0].sla_tpot_ms, 50);
  EXPECT_DOUBLE_EQ(seen[0].ttft_ms, 10);
  EXPECT_EQ(seen[0].in_flight, 1u);
  EXPECT_EQ(seen[0].healthy, 1);
  EXPECT_STREQ(seen[0].target_config_json, "{\"target\":\"p/a\"}");
  EXPECT_EQ(seen[1].healthy, 0);
  EXPECT_DOUBLE_EQ(seen[1].error_rate, 1.0);
  EXPECT_DOUBLE_EQ(seen[1].sla_tpot_ms, 0);
  a->attemptAbandoned(false);
}

TEST_F(RouterTest, APluginBuiltForABI10GetsThe10Layout) {
  fx_.rule("r", "in-order", {"p/a", "p/b"});
  fx_.build(/*minor=*/0);
  orderOf(fx_.route(0));
  // The stub reads with the 1.1 layout; only the first element is where a
  // 1.0 plugin would expect it, and its struct_size says which layout it is.
  EXPECT_EQ(StubStrategies::seen()[0].struct_size, offsetof(sluice_target_stats, sla_tpot_ms));
}

TEST_F(RouterTest, StickySessionsKeepTheirTarget) {
  auto& r = fx_.rule("r", "reverse", {"p/a", "p/b", "p/c"});
  r.sticky = manifest::StickyRouting{60, {{"header", "X-Session-Id"}, {"metadata", "session_id"}}};
  fx_.build();
  const Route& route = fx_.route(0);
  http::Request req;
  EXPECT_EQ(route.stickyKey(req, none_), "");  // no session named: not sticky
  req.headers.emplace_back("x-session-id", "s-1");
  std::string key = route.stickyKey(req, none_);
  EXPECT_EQ(key, "header.x-session-id=s-1\n");
  governance::Metadata md{{"session_id", "m-9"}};
  EXPECT_EQ(route.stickyKey(req, md), "header.x-session-id=s-1\nmetadata.session_id=m-9\n");

  EXPECT_EQ(orderOf(route, key), (std::vector<uint32_t>{2, 1, 0}));
  EXPECT_EQ(StubStrategies::lastKey(), key);  // the strategy sees the session too
  route.pin(key, 0, kNow);                    // p/a answered it
  EXPECT_EQ(orderOf(route, key), (std::vector<uint32_t>{0, 2, 1}));
  EXPECT_EQ(orderOf(route, "another"), (std::vector<uint32_t>{2, 1, 0}));
  // Every answer slides the TTL; 60 s after the last one the pin is gone.
  route.pin(key, 0, kNow + 50000);
  EXPECT_EQ(orderOf(route, key, kNow + 109999), (std::vector<uint32_t>{0, 2, 1}));
  EXPECT_EQ(orderOf(route, key, kNow + 110000), (std::vector<uint32_t>{2, 1, 0}));
  // A pinned target whose breaker opened does not hold the session.
  route.pin(key, 0, kNow);
  recordFailures(*fx_.stats.get("p/a"), kNow, 2);
  EXPECT_EQ(orderOf(route, key), (std::vector<uint32_t>{2, 1, 0}));
}

TEST_F(RouterTest, RulesWithoutStickyRoutingHaveNoSessions) {
  fx_.rule("r", "in-order", {"p/a"});
  fx_.build();
  http::Request req;
  req.headers.emplace_back("x-session-id", "s-1");
  EXPECT_EQ(fx_.route(0).stickyKey(req, none_), "");
}

TEST(StickyTable, BoundedAndExpiring) {
  StickyTable t(1000);
  EXPECT_EQ(t.find("k", 0), -1);
  t.pin("k", 3, 0);
  EXPECT_EQ(t.find("k", 999), 3);
  EXPECT_EQ(t.find("k", 1000), -1);
  EXPECT_EQ(t.size(), 0u);  // the expired pin was dropped
  for (size_t i = 0; i < StickyTable::kMaxSessions; i++) t.pin(std::to_string(i), 1, 0);
  EXPECT_EQ(t.size(), StickyTable::kMaxSessions);
  t.pin("late", 2, 10);  // full, nothing expired: not pinned
  EXPECT_EQ(t.find("late", 10), -1);
  t.pin("later", 2, 2000);  // the old ones expired: swept, then pinned
  EXPECT_EQ(t.find("later", 2000), 2);
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(RouterTest, OverridesMergeIntoTheBodyAndHeaders) {
  auto& r = fx_.rule("r", "in-order", {"p/a"});
  r.targets[0].override_params_json = R"({"temperature":0.2,"max_tokens":64,"tools":[]})";
  r.targets[0].headers_set = {{"X-Team", "platform"}, {"authorization", "Bearer other"}};
  r.targets[0].headers_remove = {"OpenAI-Organization"};
  fx_.build();
  const RoutedTarget& t = fx_.route(0).targets()[0];
  std::string body =
      R"({"model":"gpt","temperature":1,"messages":[{"role":"user","content":"x"}]})";
  std::string out = t.withOverrides(body);
  cJSON* j = cJSON_Parse(out.c_str());
  ASSERT_NE(j, nullptr) << out;
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(j, "temperature")->valuedouble, 0.2);
  EXPECT_EQ(cJSON_GetObjectItem(j, "max_tokens")->valueint, 64);
  EXPECT_TRUE(cJSON_IsArray(cJSON_GetObjectItem(j, "tools")));
  EXPECT_STREQ(cJSON_GetObjectItem(j, "model")->valuestring, "gpt");
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")), 1);
  cJSON_Delete(j);

  std::vector<std::pair<std::string, std::string>> h = {{"Authorization", "Bearer sk"},
                                                        {"openai-organization", "org"},
                                                        {"Content-Type", "application/json"}};
  t.overrideHeaders(&h);
  EXPECT_EQ(h,
            (std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer other"},
                                                              {"Content-Type", "application/json"},
                                                              {"X-Team", "platform"}}));
}

TEST_F(RouterTest, ReservationsCoverTheDearestTarget) {
  fx_.rule("priced", "in-order", {"p/a", "p/b"});
  fx_.rule("free", "in-order", {"p/c"});
  fx_.build();
  const manifest::Pricing* w = fx_.route(0).worstPricing();
  ASSERT_NE(w, nullptr);
  EXPECT_DOUBLE_EQ(w->input_per_mtok, 3);
  EXPECT_DOUBLE_EQ(w->output_per_mtok, 2);
  EXPECT_EQ(fx_.route(0).maxOutputTokens(), 8000);
  EXPECT_EQ(fx_.route(1).worstPricing(), nullptr);
  EXPECT_EQ(fx_.route(1).maxOutputTokens(), 4096);
}

TEST_F(RouterTest, TargetsReport) {
  auto& r = fx_.rule("r", "in-order", {"p/a", "p/b"});
  r.targets[0].sla_tpot_ms = 20;
  r.targets[1].circuit_breaker = {5, 60, 10};
  fx_.build();
  recordAnswer(*fx_.stats.get("p/a"), kNow, 25);
  std::string js = fx_.router->targetsJson(kNow);
  cJSON* root = cJSON_Parse(js.c_str());
  ASSERT_NE(root, nullptr) << js;
  const cJSON* rule = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "rules"), 0);
  EXPECT_STREQ(cJSON_GetObjectItem(rule, "id")->valuestring, "r");
  EXPECT_STREQ(cJSON_GetObjectItem(rule, "strategy")->valuestring, "in-order");
  const cJSON* targets = cJSON_GetObjectItem(rule, "targets");
  ASSERT_EQ(cJSON_GetArraySize(targets), 2);
  const cJSON* a = cJSON_GetArrayItem(targets, 0);
  EXPECT_STREQ(cJSON_GetObjectItem(a, "target")->valuestring, "p/a");
  EXPECT_DOUBLE_EQ(cJSON_GetObjectItem(a, "tpot_ms")->valuedouble, 25);
  EXPECT_EQ(cJSON_GetObjectItem(a, "answers")->valueint, 1);
  const cJSON* sla = cJSON_GetObjectItem(a, "sla_cutoff");
  ASSERT_NE(sla, nullptr);
  EXPECT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(sla, "within")));  // 25 > 20
  const cJSON* breaker = cJSON_GetObjectItem(cJSON_GetArrayItem(targets, 1), "breaker");
  EXPECT_STREQ(cJSON_GetObjectItem(breaker, "state")->valuestring, "closed");
  EXPECT_EQ(cJSON_GetObjectItem(breaker, "failures")->valueint, 5);
  EXPECT_EQ(cJSON_GetObjectItem(breaker, "cooldown_seconds")->valueint, 10);
  EXPECT_EQ(cJSON_GetObjectItem(cJSON_GetArrayItem(targets, 1), "sla_cutoff"), nullptr);
  cJSON_Delete(root);
}

}  // namespace
}  // namespace sluice::pipeline
