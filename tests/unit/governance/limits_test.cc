#include "governance/limits.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace sluice::governance {
namespace {

using manifest::BudgetRule;
using manifest::BudgetUnit;
using manifest::LimitUnit;

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kDayMs = 86400 * kSecondMs;

// Wall-clock instants as Unix seconds (UTC), written out by date.
constexpr int64_t kWed_2026_11_18_134530 = 1795009530;
constexpr int64_t kWed_2026_11_18_134500 = 1795009500;
constexpr int64_t kWed_2026_11_18_130000 = 1795006800;
constexpr int64_t kWed_2026_11_18_000000 = 1794960000;
constexpr int64_t kMon_2026_11_16_000000 = 1794787200;
constexpr int64_t kSun_2026_11_22_235959 = 1795391999;
constexpr int64_t kMon_2026_11_23_000000 = 1795392000;
constexpr int64_t kSun_2026_11_01_000000 = 1793491200;
constexpr int64_t kTue_2026_12_01_000000 = 1796083200;
constexpr int64_t kTue_2026_12_15_080000 = 1797321600;
constexpr int64_t kFri_2027_01_01_000000 = 1798761600;
constexpr int64_t kThu_2024_02_01_000000 = 1706745600;
constexpr int64_t kThu_2024_02_29_120000 = 1709208000;
constexpr int64_t kFri_2024_03_01_000000 = 1709251200;
constexpr int64_t kWed_2023_02_01_000000 = 1675209600;
constexpr int64_t kWed_2023_03_01_000000 = 1677628800;

constexpr int64_t ms(int64_t unix_seconds) { return unix_seconds * kSecondMs; }

// ---- windows (rate limits) ----

TEST(WindowFor, MinuteHourDayAlignToUtcBoundaries) {
  int64_t now = ms(kWed_2026_11_18_134530) + 250;

  Period minute = windowFor(LimitUnit::RequestsPerMinute, now);
  EXPECT_EQ(minute.start_ms, ms(kWed_2026_11_18_134500));
  EXPECT_EQ(minute.end_ms, ms(kWed_2026_11_18_134500 + 60));
  EXPECT_EQ(minute.label, "m29916825");

  Period hour = windowFor(LimitUnit::TokensPerHour, now);
  EXPECT_EQ(hour.start_ms, ms(kWed_2026_11_18_130000));
  EXPECT_EQ(hour.end_ms, ms(kWed_2026_11_18_130000 + 3600));
  EXPECT_EQ(hour.label, "h498613");

  Period day = windowFor(LimitUnit::RequestsPerDay, now);
  EXPECT_EQ(day.start_ms, ms(kWed_2026_11_18_000000));
  EXPECT_EQ(day.end_ms, ms(kWed_2026_11_18_000000) + kDayMs);
  EXPECT_EQ(day.label, "d20775");
}

TEST(WindowFor, TokenAndRequestUnitsShareWindows) {
  int64_t now = ms(kWed_2026_11_18_134530);
  EXPECT_EQ(windowFor(LimitUnit::RequestsPerMinute, now).label,
            windowFor(LimitUnit::TokensPerMinute, now).label);
  EXPECT_EQ(windowFor(LimitUnit::RequestsPerHour, now).label,
            windowFor(LimitUnit::TokensPerHour, now).label);
  EXPECT_EQ(windowFor(LimitUnit::RequestsPerDay, now).label,
            windowFor(LimitUnit::TokensPerDay, now).label);
}

TEST(WindowFor, EdgesBelongToTheWindowTheyStart) {
  int64_t start = ms(kWed_2026_11_18_134500);
  Period at_start = windowFor(LimitUnit::RequestsPerMinute, start);
  Period last_ms = windowFor(LimitUnit::RequestsPerMinute, start + 60 * kSecondMs - 1);
  Period next = windowFor(LimitUnit::RequestsPerMinute, start + 60 * kSecondMs);
  EXPECT_EQ(at_start.start_ms, start);
  EXPECT_EQ(last_ms.label, at_start.label);
  EXPECT_EQ(next.start_ms, start + 60 * kSecondMs);
  EXPECT_NE(next.label, at_start.label);

  int64_t midnight = ms(kWed_2026_11_18_000000);
  EXPECT_EQ(windowFor(LimitUnit::TokensPerDay, midnight - 1).end_ms, midnight);
  EXPECT_EQ(windowFor(LimitUnit::TokensPerDay, midnight).start_ms, midnight);
}

// ---- periods (budgets) ----

TEST(PeriodFor, DayIsTheUtcDay) {
  Period p = periodFor(BudgetUnit::CostPerDay, ms(kWed_2026_11_18_134530));
  EXPECT_EQ(p.start_ms, ms(kWed_2026_11_18_000000));
  EXPECT_EQ(p.end_ms, ms(kWed_2026_11_18_000000) + kDayMs);
  Period tokens = periodFor(BudgetUnit::TokensPerDay, ms(kWed_2026_11_18_134530));
  EXPECT_EQ(tokens.start_ms, p.start_ms);
  EXPECT_EQ(tokens.end_ms, p.end_ms);
  EXPECT_EQ(tokens.label, p.label);
}

TEST(PeriodFor, WeekStartsMondayMidnightUtc) {
  Period monday = periodFor(BudgetUnit::CostPerWeek, ms(kMon_2026_11_16_000000));
  EXPECT_EQ(monday.start_ms, ms(kMon_2026_11_16_000000));
  EXPECT_EQ(monday.end_ms, ms(kMon_2026_11_23_000000));

  Period wednesday = periodFor(BudgetUnit::CostPerWeek, ms(kWed_2026_11_18_134530));
  EXPECT_EQ(wednesday.start_ms, ms(kMon_2026_11_16_000000));
  EXPECT_EQ(wednesday.label, monday.label);

  // The last second of Sunday still belongs to the week that began on Monday.
  Period sunday = periodFor(BudgetUnit::CostPerWeek, ms(kSun_2026_11_22_235959) + 999);
  EXPECT_EQ(sunday.start_ms, ms(kMon_2026_11_16_000000));
  EXPECT_EQ(sunday.end_ms, ms(kMon_2026_11_23_000000));
  EXPECT_EQ(sunday.label, monday.label);

  Period next = periodFor(BudgetUnit::CostPerWeek, ms(kMon_2026_11_23_000000));
  EXPECT_EQ(next.start_ms, ms(kMon_2026_11_23_000000));
  EXPECT_EQ(next.end_ms, ms(kMon_2026_11_23_000000) + 7 * kDayMs);
  EXPECT_NE(next.label, monday.label);
}

TEST(PeriodFor, WeekAroundTheEpoch) {
  // 1970-01-01 was a Thursday: its week began on Monday 1969-12-29.
  Period first = periodFor(BudgetUnit::CostPerWeek, 0);
  EXPECT_EQ(first.start_ms, -3 * kDayMs);
  EXPECT_EQ(first.end_ms, 4 * kDayMs);
  // 1970-01-05, a Monday.
  Period second = periodFor(BudgetUnit::CostPerWeek, 4 * kDayMs);
  EXPECT_EQ(second.start_ms, 4 * kDayMs);
}

TEST(PeriodFor, MonthUsesCalendarMonths) {
  Period nov = periodFor(BudgetUnit::CostPerMonth, ms(kWed_2026_11_18_134530));
  EXPECT_EQ(nov.start_ms, ms(kSun_2026_11_01_000000));
  EXPECT_EQ(nov.end_ms, ms(kTue_2026_12_01_000000));
  EXPECT_EQ(nov.label, "2026-11");

  Period tokens = periodFor(BudgetUnit::TokensPerMonth, ms(kWed_2026_11_18_134530));
  EXPECT_EQ(tokens.start_ms, nov.start_ms);
  EXPECT_EQ(tokens.label, "2026-11");

  // The first millisecond of December is December; the last of November is not.
  EXPECT_EQ(periodFor(BudgetUnit::CostPerMonth, ms(kTue_2026_12_01_000000)).label, "2026-12");
  EXPECT_EQ(periodFor(BudgetUnit::CostPerMonth, ms(kTue_2026_12_01_000000) - 1).label, "2026-11");
}

TEST(PeriodFor, DecemberEndsOnJanuaryFirstOfTheNextYear) {
  Period dec = periodFor(BudgetUnit::CostPerMonth, ms(kTue_2026_12_15_080000));
  EXPECT_EQ(dec.start_ms, ms(kTue_2026_12_01_000000));
  EXPECT_EQ(dec.end_ms, ms(kFri_2027_01_01_000000));
  EXPECT_EQ(dec.label, "2026-12");
  EXPECT_EQ(periodFor(BudgetUnit::CostPerMonth, ms(kFri_2027_01_01_000000)).label, "2027-01");
}

TEST(PeriodFor, FebruaryInLeapAndCommonYears) {
  Period leap = periodFor(BudgetUnit::CostPerMonth, ms(kThu_2024_02_29_120000));
  EXPECT_EQ(leap.start_ms, ms(kThu_2024_02_01_000000));
  EXPECT_EQ(leap.end_ms, ms(kFri_2024_03_01_000000));
  EXPECT_EQ(leap.end_ms - leap.start_ms, 29 * kDayMs);
  EXPECT_EQ(leap.label, "2024-02");

  Period common = periodFor(BudgetUnit::TokensPerMonth, ms(kWed_2023_02_01_000000) + 5 * kDayMs);
  EXPECT_EQ(common.start_ms, ms(kWed_2023_02_01_000000));
  EXPECT_EQ(common.end_ms, ms(kWed_2023_03_01_000000));
  EXPECT_EQ(common.end_ms - common.start_ms, 28 * kDayMs);
}

// ---- request facts, `when`, dimensions ----

struct Caller {
  Principal principal;
  Metadata metadata;
  manifest::Pricing pricing;
  RequestFacts facts;

  Caller() {
    principal.subject = "user:alice@example.com";
    principal.team = "payments";
    metadata = {{"project_id", "p-1"}, {"workflow", "repo-understanding"}};
    pricing.input_per_mtok = 2.5;          // 2,500 nano-dollars a token
    pricing.output_per_mtok = 10;          // 10,000
    pricing.cached_input_per_mtok = 1.25;  // 1,250
    facts.principal = &principal;
    facts.model = "openai/gpt-4o";
    facts.metadata = &metadata;
    facts.prompt_estimate = 100;
    facts.max_output = 50;
    facts.pricing = &pricing;
    facts.now_ms = ms(kWed_2026_11_18_134530);
  }
  Caller(const Caller&) = delete;
};

TEST(Matches, EmptyWhenMatchesEverything) {
  Caller c;
  EXPECT_TRUE(matches(manifest::When{}, c.facts));
  c.facts.principal = nullptr;
  c.facts.metadata = nullptr;
  EXPECT_TRUE(matches(manifest::When{}, c.facts));
}

TEST(Matches, ModelsArePatterns) {
  Caller c;
  manifest::When when;
  when.models = {"anthropic/*", "openai/*"};
  EXPECT_TRUE(matches(when, c.facts));
  when.models = {"openai/gpt-4o"};
  EXPECT_TRUE(matches(when, c.facts));
  when.models = {"openai/gpt-4o-mini", "prod/*"};
  EXPECT_FALSE(matches(when, c.facts));
}

TEST(Matches, SubjectsArePatternsAndAbsentPrincipalIsAnonymous) {
  Caller c;
  manifest::When when;
  when.subjects = {"user:alice@example.com"};
  EXPECT_TRUE(matches(when, c.facts));
  when.subjects = {"user:*"};
  EXPECT_TRUE(matches(when, c.facts));
  when.subjects = {"virtualaccount:*", "user:bob@example.com"};
  EXPECT_FALSE(matches(when, c.facts));

  c.facts.principal = nullptr;
  when.subjects = {"anonymous"};
  EXPECT_TRUE(matches(when, c.facts));
  when.subjects = {"user:*"};
  EXPECT_FALSE(matches(when, c.facts));
}

TEST(Matches, TeamsAreExact) {
  Caller c;
  manifest::When when;
  when.teams = {"search", "payments"};
  EXPECT_TRUE(matches(when, c.facts));
  when.teams = {"pay*"};
  EXPECT_FALSE(matches(when, c.facts));
  when.teams = {"search"};
  EXPECT_FALSE(matches(when, c.facts));

  c.principal.team = "";
  when.teams = {"payments"};
  EXPECT_FALSE(matches(when, c.facts));
  c.facts.principal = nullptr;
  EXPECT_FALSE(matches(when, c.facts));
}

TEST(Matches, EveryMetadataPairMustBePresentAndEqual) {
  Caller c;
  manifest::When when;
  when.metadata = {{"workflow", "repo-understanding"}, {"project_id", "p-1"}};
  EXPECT_TRUE(matches(when, c.facts));

  when.metadata["project_id"] = "p-2";
  EXPECT_FALSE(matches(when, c.facts));

  when.metadata = {{"workflow", "repo-understanding"}, {"environment", "production"}};
  EXPECT_FALSE(matches(when, c.facts));  // environment is missing

  when.metadata = {{"workflow", "repo-understanding"}};
  c.facts.metadata = nullptr;
  EXPECT_FALSE(matches(when, c.facts));
}

TEST(Matches, AllConditionsMustHold) {
  Caller c;
  manifest::When when;
  when.models = {"openai/*"};
  when.subjects = {"user:*"};
  when.teams = {"payments"};
  when.metadata = {{"workflow", "repo-understanding"}};
  EXPECT_TRUE(matches(when, c.facts));

  manifest::When wrong_model = when;
  wrong_model.models = {"anthropic/*"};
  EXPECT_FALSE(matches(wrong_model, c.facts));

  manifest::When wrong_subject = when;
  wrong_subject.subjects = {"virtualaccount:*"};
  EXPECT_FALSE(matches(wrong_subject, c.facts));

  manifest::When wrong_team = when;
  wrong_team.teams = {"search"};
  EXPECT_FALSE(matches(wrong_team, c.facts));

  manifest::When wrong_metadata = when;
  wrong_metadata.metadata["workflow"] = "chat";
  EXPECT_FALSE(matches(wrong_metadata, c.facts));
}

TEST(DimensionKey, NamesEachDimensionInOrder) {
  Caller c;
  EXPECT_EQ(dimensionKey({}, c.facts), "");
  EXPECT_EQ(dimensionKey({"team"}, c.facts), "team=payments");
  EXPECT_EQ(dimensionKey({"model", "team", "metadata.project_id"}, c.facts),
            "model=openai/gpt-4o,team=payments,metadata.project_id=p-1");
}

TEST(DimensionKey, MissingValuesAreDashes) {
  Caller c;
  c.principal.team = "";
  EXPECT_EQ(dimensionKey({"team", "metadata.environment", "metadata.project_id"}, c.facts),
            "team=-,metadata.environment=-,metadata.project_id=p-1");

  c.facts.principal = nullptr;
  c.facts.metadata = nullptr;
  EXPECT_EQ(dimensionKey({"subject", "team", "metadata.project_id"}, c.facts),
            "subject=-,team=-,metadata.project_id=-");
}

TEST(DimensionKey, EscapesKeySeparatorsInValues) {
  Caller c;
  // ',' and '=' separate the dimensions, '%' escapes, control characters are hidden.
  // ':' stays readable ("user:alice"): the dimensions end the counter key.
  EXPECT_EQ(dimensionKey({"subject"}, c.facts), "subject=user:alice@example.com");
  c.metadata["project_id"] = "a,b=c:d%e\n";
  EXPECT_EQ(dimensionKey({"metadata.project_id"}, c.facts),
            "metadata.project_id=a%2Cb%3Dc:d%25e%0A");

  // A value that looks like two dimensions cannot collide with two real ones.
  c.principal.team = "x,model=openai/gpt-4o";
  std::string forged = dimensionKey({"team"}, c.facts);
  c.principal.team = "x";
  std::string real = dimensionKey({"team", "model"}, c.facts);
  EXPECT_EQ(real, "team=x,model=openai/gpt-4o");
  EXPECT_EQ(forged, "team=x%2Cmodel%3Dopenai/gpt-4o");
  EXPECT_NE(forged, real);

  // An escaped-looking value stays distinct from the character it would stand for.
  c.metadata["project_id"] = "%3A";
  EXPECT_EQ(dimensionKey({"metadata.project_id"}, c.facts), "metadata.project_id=%253A");
}

// ---- plans ----

manifest::RateLimitRule rateRule(std::string id, LimitUnit unit, int64_t limit,
                                 std::vector<std::string> applies_per) {
  manifest::RateLimitRule r;
  r.id = std::move(id);
  r.unit = unit;
  r.limit_to = limit;
  r.applies_per = std::move(applies_per);
  return r;
}

BudgetRule budgetRule(std::string id, BudgetUnit unit, double limit,
                      std::vector<std::string> applies_per,
                      BudgetRule::OnExceed on_exceed = BudgetRule::OnExceed::Block) {
  BudgetRule b;
  b.id = std::move(id);
  b.unit = unit;
  b.limit_to = limit;
  b.applies_per = std::move(applies_per);
  b.on_exceed = on_exceed;
  return b;
}

// Rules of every kind; the Policy keeps pointers into this config.
manifest::Config sampleConfig() {
  manifest::Config cfg;
  cfg.rate_limits.push_back(rateRule("rpm", LimitUnit::RequestsPerMinute, 10, {"subject"}));
  cfg.rate_limits.push_back(
      rateRule("tph", LimitUnit::TokensPerHour, 100000, {"team", "metadata.project_id"}));
  auto other_model = rateRule("anthropic-only", LimitUnit::RequestsPerDay, 5, {});
  other_model.when.models = {"anthropic/*"};
  cfg.rate_limits.push_back(other_model);

  cfg.budgets.push_back(budgetRule("monthly", BudgetUnit::CostPerMonth, 500, {"team"}));
  cfg.budgets.push_back(budgetRule("daily-tokens", BudgetUnit::TokensPerDay, 2000000.4, {"subject"},
                                   BudgetRule::OnExceed::Audit));
  auto weekly =
      budgetRule("weekly", BudgetUnit::CostPerWeek, 20, {}, BudgetRule::OnExceed::Downgrade);
  weekly.downgrade_to = "openai/gpt-4o-mini";
  cfg.budgets.push_back(weekly);
  auto other_team = budgetRule("search-budget", BudgetUnit::CostPerDay, 1, {});
  other_team.when.teams = {"search"};
  cfg.budgets.push_back(other_team);
  return cfg;
}

TEST(Plan, OneCheckPerMatchingRuleInRuleOrder) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  EXPECT_FALSE(policy.empty());
  Caller c;
  Plan plan = policy.plan(c.facts);
  ASSERT_EQ(plan.checks.size(), 5u);
  ASSERT_EQ(plan.shape->info.size(), 5u);
  EXPECT_EQ(plan.ruleIds(), "rpm,tph,monthly,daily-tokens,weekly");
  EXPECT_EQ(plan.info(0).rate, &cfg.rate_limits[0]);
  EXPECT_EQ(plan.info(1).rate, &cfg.rate_limits[1]);
  EXPECT_EQ(plan.info(2).budget, &cfg.budgets[0]);
  EXPECT_EQ(plan.info(3).budget, &cfg.budgets[1]);
  EXPECT_EQ(plan.info(4).budget, &cfg.budgets[2]);
  for (size_t i = 0; i < 2; i++) EXPECT_EQ(plan.info(i).budget, nullptr);
  for (size_t i = 2; i < 5; i++) EXPECT_EQ(plan.info(i).rate, nullptr);
}

TEST(Plan, NoRulesNoChecks) {
  manifest::Config cfg;
  Policy policy(cfg, "sl:");
  EXPECT_TRUE(policy.empty());
  Caller c;
  EXPECT_TRUE(policy.plan(c.facts).empty());
}

TEST(Plan, RequestRateCheck) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  const CounterCheck& rpm = plan.checks[0];
  EXPECT_EQ(rpm.key, "sl:rl:rpm:m29916825:subject=user:alice@example.com");
  EXPECT_EQ(rpm.other_key, "");
  EXPECT_EQ(rpm.limit, 10);
  EXPECT_EQ(rpm.amount, 1);
  EXPECT_TRUE(rpm.enforce);
  EXPECT_EQ(rpm.ttl_s, 60u + 60u);
  EXPECT_EQ(plan.info(0).kind, CounterKind::Requests);
  EXPECT_EQ(plan.info(0).dims, "subject=user:alice@example.com");
  EXPECT_EQ(plan.info(0).window_end_ms, ms(kWed_2026_11_18_134500 + 60));
  EXPECT_EQ(plan.info(0).window_ms, 60 * kSecondMs);
}

TEST(Plan, TokenRateCheckReservesPromptEstimatePlusMaxOutput) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  const CounterCheck& tph = plan.checks[1];
  EXPECT_EQ(tph.key, "sl:rl:tph:h498613:team=payments,metadata.project_id=p-1");
  EXPECT_EQ(tph.limit, 100000);
  EXPECT_EQ(tph.amount, 100 + 50);
  EXPECT_TRUE(tph.enforce);
  EXPECT_EQ(tph.ttl_s, 3600u + 60u);
  EXPECT_EQ(plan.info(1).kind, CounterKind::Tokens);
  EXPECT_EQ(plan.info(1).window_end_ms, ms(kWed_2026_11_18_130000 + 3600));
}

TEST(Plan, CostBudgetCheckHoldsWorstCaseNextToSpent) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  const CounterCheck& monthly = plan.checks[2];
  const CheckInfo& info = plan.info(2);
  EXPECT_EQ(monthly.key, "sl:bg:monthly:2026-11:team=payments:held");
  EXPECT_EQ(info.spent_key, "sl:bg:monthly:2026-11:team=payments:spent");
  EXPECT_EQ(monthly.other_key, info.spent_key);
  EXPECT_EQ(monthly.other_weight_ppm, 1000000u);
  EXPECT_EQ(monthly.limit, 500LL * 1000000000LL);
  // 100 prompt tokens at $2.50/M + 50 output tokens at $10/M.
  EXPECT_EQ(monthly.amount, 100 * 2500 + 50 * 10000);
  EXPECT_TRUE(monthly.enforce);
  // November has 30 days; a day more so late settlements still find the counter.
  EXPECT_EQ(monthly.ttl_s, 30u * 86400u + 86400u);
  EXPECT_EQ(info.kind, CounterKind::Cost);
  EXPECT_EQ(info.window_end_ms, ms(kTue_2026_12_01_000000));
  EXPECT_EQ(info.window_ms, 30 * kDayMs);
}

TEST(Plan, CostWorstCaseRoundsUpToWholeNanoDollars) {
  manifest::Config cfg;
  cfg.budgets.push_back(budgetRule("b", BudgetUnit::CostPerDay, 1, {}));
  Policy policy(cfg, "");
  Caller c;
  c.pricing.input_per_mtok = 0.0015;  // 1.5 nano-dollars a token
  c.pricing.output_per_mtok = 0;
  c.facts.prompt_estimate = 3;
  c.facts.max_output = 0;
  Plan plan = policy.plan(c.facts);
  ASSERT_EQ(plan.checks.size(), 1u);
  EXPECT_EQ(plan.checks[0].amount, 5);  // 4.5 -> 5
  EXPECT_EQ(plan.checks[0].key, "bg:b:d20775::held");
}

TEST(Plan, CostWithoutPricingReservesNothing) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  c.facts.pricing = nullptr;
  Plan plan = policy.plan(c.facts);
  EXPECT_EQ(plan.checks[2].amount, 0);
  EXPECT_EQ(plan.checks[1].amount, 150);  // tokens still count
}

TEST(Plan, AuditBudgetIsChargedButNotEnforced) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  const CounterCheck& audit = plan.checks[3];
  EXPECT_EQ(audit.key, "sl:bg:daily-tokens:d20775:subject=user:alice@example.com:held");
  EXPECT_EQ(audit.limit, 2000000);  // token budgets: whole tokens
  EXPECT_EQ(audit.amount, 150);
  EXPECT_FALSE(audit.enforce);
  EXPECT_EQ(audit.ttl_s, 86400u + 86400u);
  EXPECT_EQ(plan.info(3).kind, CounterKind::Tokens);
}

TEST(Plan, DowngradeBudgetIsEnforcedUnlessWaived) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  const CounterCheck& weekly = plan.checks[4];
  EXPECT_EQ(weekly.key,
            "sl:bg:weekly:" + periodFor(BudgetUnit::CostPerWeek, c.facts.now_ms).label + "::held");
  EXPECT_EQ(weekly.limit, 20LL * 1000000000LL);
  EXPECT_TRUE(weekly.enforce);
  EXPECT_EQ(weekly.ttl_s, 7u * 86400u + 86400u);
  EXPECT_EQ(plan.info(4).window_end_ms, ms(kMon_2026_11_23_000000));

  Plan waived = policy.plan(c.facts, {&cfg.budgets[2]});
  ASSERT_EQ(waived.checks.size(), 5u);
  EXPECT_FALSE(waived.checks[4].enforce);
  EXPECT_EQ(waived.checks[4].amount, weekly.amount);  // still charged
  // Waiving one budget leaves the others enforced.
  EXPECT_TRUE(waived.checks[2].enforce);
  EXPECT_TRUE(waived.checks[0].enforce);
}

TEST(Plan, DistinctCallersGetDistinctCounters) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller alice;
  Caller bob;
  bob.principal.subject = "user:bob@example.com";
  bob.metadata["project_id"] = "p-2";
  Plan a = policy.plan(alice.facts);
  Plan b = policy.plan(bob.facts);
  EXPECT_NE(a.checks[0].key, b.checks[0].key);  // per subject
  EXPECT_NE(a.checks[1].key, b.checks[1].key);  // per team and project
  EXPECT_EQ(a.checks[2].key, b.checks[2].key);  // per team: same team
  EXPECT_EQ(a.checks[4].key, b.checks[4].key);  // no applies_per: one counter
}

// ---- cost, settlement, release ----

TEST(CostNano, PricesPromptCachedAndCompletionTokens) {
  manifest::Pricing p;
  p.input_per_mtok = 2.5;
  p.output_per_mtok = 10;
  p.cached_input_per_mtok = 1.25;
  EXPECT_EQ(costNano(&p, {80, 20, 0}), 80 * 2500 + 20 * 10000);
  // 50 uncached + 30 cached prompt tokens.
  EXPECT_EQ(costNano(&p, {80, 20, 30}), 50 * 2500 + 30 * 1250 + 20 * 10000);
  // Cached tokens beyond the prompt are capped at the prompt; negatives are none.
  EXPECT_EQ(costNano(&p, {80, 20, 500}), 80 * 1250 + 20 * 10000);
  EXPECT_EQ(costNano(&p, {80, 20, -5}), 80 * 2500 + 20 * 10000);
  EXPECT_EQ(costNano(nullptr, {80, 20, 30}), 0);
}

TEST(CostNano, OneMillionTokensCostTheListPrice) {
  manifest::Pricing p;
  p.input_per_mtok = 0.15;
  p.output_per_mtok = 0.6;
  p.cached_input_per_mtok = 0.075;
  EXPECT_EQ(costNano(&p, {1000000, 0, 0}), 150000000);
  EXPECT_EQ(costNano(&p, {0, 1000000, 0}), 600000000);
  EXPECT_EQ(costNano(&p, {1000000, 0, 1000000}), 75000000);
}

const CounterDelta* deltaFor(const std::vector<CounterDelta>& deltas, std::string_view key) {
  auto it = std::find_if(deltas.begin(), deltas.end(),
                         [&](const CounterDelta& d) { return d.key == key; });
  return it == deltas.end() ? nullptr : &*it;
}

TEST(Settlement, RateTokensSettleToActualRequestsStay) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  Usage used{80, 20, 30};  // 100 tokens against 150 reserved
  std::vector<CounterDelta> deltas = settlement(plan, c.facts.pricing, used);

  EXPECT_EQ(deltaFor(deltas, plan.checks[0].key), nullptr);  // a request is a request
  const CounterDelta* tph = deltaFor(deltas, plan.checks[1].key);
  ASSERT_NE(tph, nullptr);
  EXPECT_EQ(tph->delta, 100 - 150);
  EXPECT_EQ(tph->ttl_s, plan.checks[1].ttl_s);
}

TEST(Settlement, RateTokensCanGrowPastTheReservationOrStayExact) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  auto more = settlement(plan, c.facts.pricing, {120, 60, 0});
  ASSERT_NE(deltaFor(more, plan.checks[1].key), nullptr);
  EXPECT_EQ(deltaFor(more, plan.checks[1].key)->delta, 180 - 150);

  auto exact = settlement(plan, c.facts.pricing, {100, 50, 0});
  EXPECT_EQ(deltaFor(exact, plan.checks[1].key), nullptr);
}

TEST(Settlement, BudgetsReleaseHeldAndAddSpent) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  Usage used{80, 20, 30};
  std::vector<CounterDelta> deltas = settlement(plan, c.facts.pricing, used);
  // 1 token-rate delta + 2 for each of the three budgets.
  EXPECT_EQ(deltas.size(), 1u + 3u * 2u);

  const int64_t cost = 50 * 2500 + 30 * 1250 + 20 * 10000;
  struct Expect {
    size_t check;
    int64_t spent;
  };
  for (Expect e : {Expect{2, cost}, Expect{3, 100}, Expect{4, cost}}) {
    const CounterCheck& check = plan.checks[e.check];
    const CounterDelta* held = deltaFor(deltas, check.key);
    const CounterDelta* spent = deltaFor(deltas, plan.info(e.check).spent_key);
    ASSERT_NE(held, nullptr) << check.key;
    ASSERT_NE(spent, nullptr) << check.key;
    EXPECT_EQ(held->delta, -check.amount) << check.key;
    EXPECT_EQ(spent->delta, e.spent) << check.key;
    EXPECT_EQ(held->ttl_s, check.ttl_s);
    EXPECT_EQ(spent->ttl_s, check.ttl_s);
  }
}

TEST(SettledAmount, ByKind) {
  manifest::Pricing p;
  p.input_per_mtok = 1;
  p.output_per_mtok = 2;
  p.cached_input_per_mtok = 1;
  CheckInfo info;
  info.kind = CounterKind::Requests;
  EXPECT_EQ(settledAmount(info, &p, {500, 300, 0}), 1);
  info.kind = CounterKind::Tokens;
  EXPECT_EQ(settledAmount(info, &p, {500, 300, 0}), 800);
  info.kind = CounterKind::Cost;
  EXPECT_EQ(settledAmount(info, &p, {500, 300, 0}), 500 * 1000 + 300 * 2000);
}

TEST(Release, UndoesEveryNonZeroReservation) {
  manifest::Config cfg = sampleConfig();
  Policy policy(cfg, "sl:");
  Caller c;
  Plan plan = policy.plan(c.facts);
  std::vector<CounterDelta> deltas = release(plan);
  ASSERT_EQ(deltas.size(), plan.checks.size());
  for (size_t i = 0; i < plan.checks.size(); i++) {
    EXPECT_EQ(deltas[i].key, plan.checks[i].key);
    EXPECT_EQ(deltas[i].delta, -plan.checks[i].amount);
    EXPECT_EQ(deltas[i].ttl_s, plan.checks[i].ttl_s);
  }
  // Spent counters are untouched: nothing was used.
  for (const auto& info : plan.shape->info) {
    if (info.budget) EXPECT_EQ(deltaFor(deltas, info.spent_key), nullptr);
  }

  c.facts.pricing = nullptr;  // cost reservations are zero: nothing to undo for them
  Plan free_plan = policy.plan(c.facts);
  std::vector<CounterDelta> free_deltas = release(free_plan);
  EXPECT_EQ(free_deltas.size(), 3u);  // rpm, tph, daily-tokens
  EXPECT_EQ(deltaFor(free_deltas, free_plan.checks[2].key), nullptr);
  EXPECT_EQ(deltaFor(free_deltas, free_plan.checks[4].key), nullptr);
}

TEST(UnitNames, MatchTheManifest) {
  EXPECT_STREQ(unitName(LimitUnit::RequestsPerMinute), "requests_per_minute");
  EXPECT_STREQ(unitName(LimitUnit::TokensPerDay), "tokens_per_day");
  EXPECT_STREQ(unitName(BudgetUnit::CostPerWeek), "cost_per_week");
  EXPECT_STREQ(unitName(BudgetUnit::TokensPerMonth), "tokens_per_month");
  EXPECT_EQ(kindOf(LimitUnit::RequestsPerHour), CounterKind::Requests);
  EXPECT_EQ(kindOf(LimitUnit::TokensPerMinute), CounterKind::Tokens);
  EXPECT_EQ(kindOf(BudgetUnit::CostPerDay), CounterKind::Cost);
  EXPECT_EQ(kindOf(BudgetUnit::TokensPerDay), CounterKind::Tokens);
}

}  // namespace
}  // namespace sluice::governance
