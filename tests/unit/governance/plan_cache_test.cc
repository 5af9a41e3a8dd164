#include "governance/plan_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::governance {
namespace {

using manifest::BudgetRule;
using manifest::BudgetUnit;
using manifest::LimitUnit;

// Wed 2026-11-18 13:45:30 UTC.
constexpr int64_t kNowMs = 1795009530LL * 1000;

manifest::Config sampleConfig() {
  manifest::Config cfg;
  manifest::RateLimitRule per_caller;
  per_caller.id = "per-caller";
  per_caller.unit = LimitUnit::RequestsPerMinute;
  per_caller.limit_to = 60;
  per_caller.applies_per = {"subject"};
  cfg.rate_limits.push_back(per_caller);

  manifest::RateLimitRule per_project;
  per_project.id = "per-project";
  per_project.unit = LimitUnit::TokensPerHour;
  per_project.limit_to = 100000;
  per_project.applies_per = {"metadata.project_id"};
  cfg.rate_limits.push_back(per_project);

  manifest::RateLimitRule production_only;
  production_only.id = "production-only";
  production_only.unit = LimitUnit::RequestsPerDay;
  production_only.limit_to = 5;
  production_only.when.metadata = {{"environment", "production"}};
  cfg.rate_limits.push_back(production_only);

  BudgetRule team;
  team.id = "team-monthly";
  team.unit = BudgetUnit::CostPerMonth;
  team.limit_to = 100;
  team.applies_per = {"team"};
  team.on_exceed = BudgetRule::OnExceed::Downgrade;
  team.downgrade_to = "openai/gpt-4o-mini";
  cfg.budgets.push_back(team);
  return cfg;
}

struct Request {
  Principal principal;
  Metadata metadata;
  manifest::Pricing pricing{2.5, 10, 1.25};
  RequestFacts facts;

  explicit Request(std::string subject = "user:alice@example.com") {
    principal.subject = std::move(subject);
    principal.team = "payments";
    metadata = {{"project_id", "p-1"}, {"request_type", "chat"}};
    facts.principal = &principal;
    facts.model = "openai/gpt-4o";
    facts.metadata = &metadata;
    facts.prompt_estimate = 100;
    facts.max_output = 50;
    facts.pricing = &pricing;
    facts.now_ms = kNowMs;
  }
  Request(const Request&) = delete;
};

std::vector<std::string> keysOf(const Plan& plan) {
  std::vector<std::string> keys;
  for (const auto& c : plan.checks) keys.emplace_back(c.key);
  return keys;
}

// The cached plan must be the plan the policy would build afresh.
void expectSamePlan(const Plan& cached, const Plan& fresh) {
  ASSERT_EQ(cached.checks.size(), fresh.checks.size());
  for (size_t i = 0; i < fresh.checks.size(); i++) {
    EXPECT_EQ(cached.checks[i].key, fresh.checks[i].key) << i;
    EXPECT_EQ(cached.checks[i].other_key, fresh.checks[i].other_key) << i;
    EXPECT_EQ(cached.checks[i].limit, fresh.checks[i].limit) << i;
    EXPECT_EQ(cached.checks[i].amount, fresh.checks[i].amount) << i;
    EXPECT_EQ(cached.checks[i].enforce, fresh.checks[i].enforce) << i;
    EXPECT_EQ(cached.checks[i].ttl_s, fresh.checks[i].ttl_s) << i;
    EXPECT_EQ(cached.info(i).dims, fresh.info(i).dims) << i;
    EXPECT_EQ(cached.info(i).window_end_ms, fresh.info(i).window_end_ms) << i;
  }
  EXPECT_EQ(cached.ruleIds(), fresh.ruleIds());
}

TEST(PlanCache, SameShapeIsBuiltOnceAndAmountsFollowEachRequest) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "{sluice}:");
  PlanCache cache;
  Request a;
  Plan first = cache.plan(policy, a.facts);
  expectSamePlan(first, policy.plan(a.facts));
  EXPECT_EQ(first.ruleIds(), "per-caller,per-project,team-monthly");

  a.facts.prompt_estimate = 900;  // a bigger request of the same shape
  a.facts.max_output = 10;
  Plan second = cache.plan(policy, a.facts);
  expectSamePlan(second, policy.plan(a.facts));
  EXPECT_EQ(cache.builds(), 1u);
  EXPECT_EQ(second.shape.get(), first.shape.get());
  EXPECT_EQ(second.checks[1].amount, 910);  // tokens: prompt + max output
  EXPECT_EQ(first.checks[1].amount, 150);
}

TEST(PlanCache, ANewWindowBuildsANewShape) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "{sluice}:");
  PlanCache cache;
  Request a;
  Plan before = cache.plan(policy, a.facts);
  a.facts.now_ms = kNowMs + 29'999;  // 13:45:59.999: the same minute
  EXPECT_EQ(cache.plan(policy, a.facts).shape.get(), before.shape.get());
  a.facts.now_ms = kNowMs + 30'000;  // 13:46:00: the minute window turned over
  Plan after = cache.plan(policy, a.facts);
  EXPECT_EQ(cache.builds(), 2u);
  expectSamePlan(after, policy.plan(a.facts));
  EXPECT_NE(after.checks[0].key, before.checks[0].key);
  EXPECT_EQ(after.checks[1].key, before.checks[1].key);  // the hour rule's window did not
  EXPECT_EQ(cache.size(), 1u);  // replaced, not added
}

TEST(PlanCache, MetadataTheRulesReadSeparatesShapesOtherMetadataDoesNot) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "{sluice}:");
  PlanCache cache;
  Request a;
  Plan p1 = cache.plan(policy, a.facts);

  a.metadata["request_type"] = "batch";  // no rule reads it
  EXPECT_EQ(cache.plan(policy, a.facts).shape.get(), p1.shape.get());

  a.metadata["project_id"] = "p-2";  // per-project counts by it
  Plan p2 = cache.plan(policy, a.facts);
  expectSamePlan(p2, policy.plan(a.facts));
  EXPECT_NE(p2.checks[1].key, p1.checks[1].key);

  a.metadata["environment"] = "production";  // production-only matches now
  Plan p3 = cache.plan(policy, a.facts);
  expectSamePlan(p3, policy.plan(a.facts));
  EXPECT_EQ(p3.checks.size(), p1.checks.size() + 1);

  a.metadata.erase("project_id");  // missing and present are different shapes
  Plan p4 = cache.plan(policy, a.facts);
  expectSamePlan(p4, policy.plan(a.facts));
  EXPECT_EQ(cache.builds(), 4u);
}

TEST(PlanCache, ValuesCannotForgeAnotherShapesSignature) {
  manifest::Config cfg = sampleConfig();
  cfg.rate_limits[0].applies_per = {"metadata.a", "metadata.b"};
  Policy policy(cfg, "{sluice}:");
  PlanCache cache;
  Request r;
  r.metadata = {{"a", std::string("x\0\1y", 4)}};
  Plan one = cache.plan(policy, r.facts);
  r.metadata = {{"a", "x"}, {"b", "y"}};
  Plan two = cache.plan(policy, r.facts);
  EXPECT_NE(one.checks[0].key, two.checks[0].key);
  expectSamePlan(two, policy.plan(r.facts));
  EXPECT_EQ(cache.builds(), 2u);
}

TEST(PlanCache, CallersAndModelsHaveTheirOwnShapes) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "{sluice}:");
  PlanCache cache;
  Request alice("user:alice@example.com");
  Request bob("user:bob@example.com");
  Plan pa = cache.plan(policy, alice.facts);
  Plan pb = cache.plan(policy, bob.facts);
  EXPECT_NE(pa.checks[0].key, pb.checks[0].key);
  expectSamePlan(pb, policy.plan(bob.facts));
  bob.facts.model = "openai/gpt-4o-mini";
  expectSamePlan(cache.plan(policy, bob.facts), policy.plan(bob.facts));
  EXPECT_EQ(cache.builds(), 3u);
}

TEST(PlanCache, WaivedBudgetsGetTheirOwnShape) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "{sluice}:");
  PlanCache cache;
  Request a;
  Plan normal = cache.plan(policy, a.facts);
  Waived waived{&cfg.budgets[0]};
  Plan downgraded = cache.plan(policy, a.facts, waived);
  EXPECT_TRUE(normal.checks.back().enforce);
  EXPECT_FALSE(downgraded.checks.back().enforce);
  expectSamePlan(downgraded, policy.plan(a.facts, waived));
  EXPECT_EQ(cache.plan(policy, a.facts).shape.get(), normal.shape.get());
}

TEST(PlanCache, AReloadedPolicyStartsOver) {
  manifest::Config cfg = sampleConfig();
  PlanCache cache;
  Request a;
  auto old_policy = std::make_unique<Policy>(cfg, "{sluice}:");
  Plan old_plan = cache.plan(*old_policy, a.facts);
  old_policy.reset();  // the old snapshot is gone; its plan keeps its shape alive
  EXPECT_EQ(old_plan.checks[0].key, old_plan.info(0).key);

  cfg.rate_limits[0].limit_to = 7;
  Policy reloaded(cfg, "{sluice}:");
  Plan fresh = cache.plan(reloaded, a.facts);
  EXPECT_EQ(cache.builds(), 2u);
  EXPECT_EQ(fresh.checks[0].limit, 7);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(PlanCache, StaysBounded) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "{sluice}:");
  PlanCache cache;
  Request a;
  for (size_t i = 0; i < PlanCache::kMaxShapes + 10; i++) {
    a.metadata["project_id"] = "p-" + std::to_string(i);
    Plan p = cache.plan(policy, a.facts);
    ASSERT_EQ(p.info(1).dims, "metadata.project_id=p-" + std::to_string(i));
  }
  EXPECT_LE(cache.size(), PlanCache::kMaxShapes);
  EXPECT_EQ(cache.builds(), PlanCache::kMaxShapes + 10);
}

}  // namespace
}  // namespace sluice::governance
