#include "governance/decision.h"

#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "governance/settle.h"

namespace sluice::governance {
namespace {

using manifest::BudgetRule;
using manifest::BudgetUnit;
using manifest::LimitUnit;

constexpr int64_t kSecondMs = 1000;
// Wednesday 2026-11-18 13:45:30 UTC, as Unix seconds.
constexpr int64_t kWed_2026_11_18_134530 = 1795009530;
// 13:45:30.500: 29.5 s before the minute ends, 14 min 29.5 s before the hour ends.
constexpr int64_t kNowMs = kWed_2026_11_18_134530 * kSecondMs + 500;
constexpr int64_t kMinuteStartMs = (kWed_2026_11_18_134530 - 30) * kSecondMs;
// 2026-12-01 00:00:00 UTC: the end of the November budget period.
constexpr int64_t kDecemberMs = 1796083200LL * kSecondMs;

constexpr int64_t kNanoPerDollar = 1000000000;

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

// One caller and the rules that apply to it; plans are made at `now_ms`.
struct Scene {
  manifest::Config config;
  Principal principal;
  Metadata metadata;
  manifest::Pricing pricing;
  RequestFacts facts;

  Scene() {
    principal.subject = "user:alice@example.com";
    principal.team = "payments";
    pricing.input_per_mtok = 1;   // $0.05 for 50,000 prompt tokens
    pricing.output_per_mtok = 2;  // $0.20 for 100,000 output tokens
    pricing.cached_input_per_mtok = 1;
    facts.principal = &principal;
    facts.model = "openai/gpt-4o";
    facts.metadata = &metadata;
    facts.prompt_estimate = 100;
    facts.max_output = 50;
    facts.pricing = &pricing;
    facts.now_ms = kNowMs;
  }
  Scene(const Scene&) = delete;

  Plan plan() const { return Policy(config, "t:").plan(facts); }
};

// Every rate-limit unit twice: a minute and an hour rule for requests and tokens.
void addRateRules(manifest::Config* cfg) {
  cfg->rate_limits.push_back(rateRule("rpm", LimitUnit::RequestsPerMinute, 10, {"team"}));
  cfg->rate_limits.push_back(rateRule("rph", LimitUnit::RequestsPerHour, 100, {}));
  cfg->rate_limits.push_back(rateRule("tpm", LimitUnit::TokensPerMinute, 1000, {"team"}));
  cfg->rate_limits.push_back(rateRule("tph", LimitUnit::TokensPerHour, 100000, {}));
}

// The value of `name` in the formatted header lines; nullopt when absent.
std::optional<std::string> header(const HeaderList& headers, std::string_view name) {
  std::optional<std::string> found;
  std::string_view text = headers.text();
  for (size_t at = 0; at < text.size();) {
    size_t eol = text.find("\r\n", at);
    std::string_view line = text.substr(at, eol - at);
    size_t colon = line.find(": ");
    if (line.substr(0, colon) == name) {
      EXPECT_FALSE(found.has_value()) << "header " << name << " appears twice";
      found = std::string(line.substr(colon + 2));
    }
    at = eol + 2;
  }
  return found;
}

std::string headerValue(const HeaderList& headers, std::string_view name) {
  return header(headers, name).value_or("<missing " + std::string(name) + ">");
}

// An admitted request's x-ratelimit-* lines, as its answer will carry them.
HeaderList limitHeaders(const Decision& d) {
  EXPECT_TRUE(d.headers.empty());
  HeaderList h;
  d.limits.appendTo(&h);
  return h;
}

ReserveResult admitted(std::vector<int64_t> before) {
  ReserveResult r;
  r.status = ReserveResult::Status::Admitted;
  r.before = std::move(before);
  return r;
}

ReserveResult refused(int index, std::vector<int64_t> before) {
  ReserveResult r;
  r.status = ReserveResult::Status::Refused;
  r.refused = index;
  r.before = std::move(before);
  return r;
}

// ---- admitted ----

TEST(Decide, AdmittedCarriesTheTightestRuleOfEachUnit) {
  Scene s;
  addRateRules(&s.config);
  Plan plan = s.plan();
  ASSERT_EQ(plan.checks.size(), 4u);
  // rpm: 3 used + 1 -> 6 left; rph: 98 + 1 -> 1 left (tightest requests rule).
  // tpm: 100 + 150 -> 750 left (tightest tokens rule); tph: 0 + 150 -> 99,850 left.
  Decision d = decide(plan, admitted({3, 98, 100, 0}), kNowMs, false);
  HeaderList limits = limitHeaders(d);
  EXPECT_EQ(d.kind, Decision::Kind::Admit);
  EXPECT_TRUE(d.reserved);
  EXPECT_EQ(d.status, 0);
  EXPECT_EQ(limits.count(), 6u);
  EXPECT_EQ(headerValue(limits, "x-ratelimit-limit-requests"), "100");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-remaining-requests"), "1");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-reset-requests"), "14m30s");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-limit-tokens"), "1000");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-remaining-tokens"), "750");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-reset-tokens"), "30s");
  EXPECT_FALSE(header(limits, "Retry-After"));
}

TEST(Decide, TightestRuleFollowsTheCounters) {
  Scene s;
  addRateRules(&s.config);
  Plan plan = s.plan();
  // Now the minute rules are nearly used up and the hour rules are not.
  Decision d = decide(plan, admitted({8, 10, 800, 90000}), kNowMs, false);
  HeaderList limits = limitHeaders(d);
  EXPECT_EQ(headerValue(limits, "x-ratelimit-limit-requests"), "10");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-remaining-requests"), "1");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-reset-requests"), "30s");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-limit-tokens"), "1000");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-remaining-tokens"), "50");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-reset-tokens"), "30s");
}

TEST(Decide, OnlyUnitsWithARuleGetHeaders) {
  Scene s;
  s.config.rate_limits.push_back(rateRule("rpd", LimitUnit::RequestsPerDay, 5, {}));
  s.config.budgets.push_back(budgetRule("monthly", BudgetUnit::CostPerMonth, 500, {}));
  Plan plan = s.plan();
  Decision d = decide(plan, admitted({2, 0}), kNowMs, false);
  HeaderList limits = limitHeaders(d);
  EXPECT_EQ(d.kind, Decision::Kind::Admit);
  EXPECT_EQ(limits.count(), 3u);
  EXPECT_EQ(headerValue(limits, "x-ratelimit-limit-requests"), "5");
  EXPECT_EQ(headerValue(limits, "x-ratelimit-remaining-requests"), "2");
  // Midnight is 10 h 14 min 29.5 s away.
  EXPECT_EQ(headerValue(limits, "x-ratelimit-reset-requests"), "10h14m30s");
  EXPECT_FALSE(header(limits, "x-ratelimit-limit-tokens"));
}

TEST(Decide, BudgetsAloneGiveNoRateLimitHeaders) {
  Scene s;
  s.config.budgets.push_back(budgetRule("monthly", BudgetUnit::CostPerMonth, 500, {}));
  Decision d = decide(s.plan(), admitted({0}), kNowMs, false);
  HeaderList limits = limitHeaders(d);
  EXPECT_EQ(d.kind, Decision::Kind::Admit);
  EXPECT_TRUE(d.reserved);
  EXPECT_TRUE(limits.empty());
}

// ---- refused by a rate limit ----

TEST(Decide, RefusedRequestRateNamesRuleLimitUnitAndKey) {
  Scene s;
  addRateRules(&s.config);
  Plan plan = s.plan();
  Decision d = decide(plan, refused(0, {10, 40, 0, 0}), kNowMs, false);
  EXPECT_EQ(d.kind, Decision::Kind::Refuse);
  EXPECT_FALSE(d.reserved);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.code, "rate_limit_exceeded");
  EXPECT_EQ(d.message,
            "rate limit 'rpm' exceeded: 10 requests per minute for team=payments; retry in 30s");
  EXPECT_EQ(headerValue(d.headers, "Retry-After"), "30");
  EXPECT_EQ(headerValue(d.headers, "x-ratelimit-limit-requests"), "10");
  EXPECT_EQ(headerValue(d.headers, "x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(headerValue(d.headers, "x-ratelimit-reset-requests"), "30s");
}

TEST(Decide, RefusedTokenRateNamesTokensAndHour) {
  Scene s;
  addRateRules(&s.config);
  Plan plan = s.plan();
  Decision d = decide(plan, refused(3, {0, 0, 0, 99900}), kNowMs, false);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.code, "rate_limit_exceeded");
  // No applies_per: one counter for everyone, so no key to name.
  EXPECT_EQ(d.message, "rate limit 'tph' exceeded: 100000 tokens per hour; retry in 870s");
  EXPECT_EQ(headerValue(d.headers, "Retry-After"), "870");
  // 100 tokens are left; this request needed more.
  EXPECT_EQ(headerValue(d.headers, "x-ratelimit-remaining-tokens"), "100");
  EXPECT_EQ(headerValue(d.headers, "x-ratelimit-limit-tokens"), "100000");
}

TEST(Decide, RefusedDailyRateSaysDay) {
  Scene s;
  s.config.rate_limits.push_back(rateRule("rpd", LimitUnit::RequestsPerDay, 5, {"subject"}));
  Decision d = decide(s.plan(), refused(0, {5}), kNowMs, false);
  // 10 h 14 min 29.5 s to midnight: 36,870 s.
  EXPECT_EQ(d.message,
            "rate limit 'rpd' exceeded: 5 requests per day for subject=user:alice@example.com; "
            "retry in 36870s");
  EXPECT_EQ(headerValue(d.headers, "Retry-After"), "36870");
}

TEST(Decide, RetryAfterIsTheCeilingOfSecondsLeftAndAtLeastOne) {
  struct Case {
    int64_t now_ms;
    std::string retry_after;
  };
  for (const Case& c : {Case{kMinuteStartMs, "60"}, Case{kMinuteStartMs + 1, "60"},
                        Case{kMinuteStartMs + 59000, "1"}, Case{kMinuteStartMs + 58999, "2"},
                        Case{kMinuteStartMs + 59999, "1"}}) {
    Scene s;
    s.facts.now_ms = c.now_ms;
    s.config.rate_limits.push_back(rateRule("rpm", LimitUnit::RequestsPerMinute, 10, {}));
    Decision d = decide(s.plan(), refused(0, {10}), c.now_ms, false);
    EXPECT_EQ(headerValue(d.headers, "Retry-After"), c.retry_after) << c.now_ms;
    EXPECT_EQ(d.message,
              "rate limit 'rpm' exceeded: 10 requests per minute; retry in " + c.retry_after + "s")
        << c.now_ms;
  }
}

TEST(Decide, TokenRequestLargerThanTheWholeLimitSaysLowerMaxTokens) {
  Scene s;
  addRateRules(&s.config);
  s.facts.prompt_estimate = 900;
  s.facts.max_output = 200;
  Plan plan = s.plan();
  ASSERT_EQ(plan.checks[2].amount, 1100);
  Decision d = decide(plan, refused(2, {0, 0, 0, 0}), kNowMs, false);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.code, "rate_limit_exceeded");
  EXPECT_EQ(d.message,
            "rate limit 'tpm' exceeded: 1000 tokens per minute for team=payments; this request "
            "alone needs 1100 tokens (prompt estimate + max_tokens): lower max_tokens");
  EXPECT_EQ(headerValue(d.headers, "Retry-After"), "30");
}

TEST(Decide, TokenRequestThatFitsAnEmptyWindowSaysRetry) {
  Scene s;
  addRateRules(&s.config);
  s.facts.prompt_estimate = 800;
  s.facts.max_output = 200;  // exactly the limit
  Plan plan = s.plan();
  Decision d = decide(plan, refused(2, {0, 0, 1, 0}), kNowMs, false);
  EXPECT_EQ(d.message,
            "rate limit 'tpm' exceeded: 1000 tokens per minute for team=payments; retry in 30s");
}

// ---- refused by a budget ----

TEST(Decide, RefusedCostBudget) {
  Scene s;
  s.config.budgets.push_back(budgetRule("monthly", BudgetUnit::CostPerMonth, 500, {"team"}));
  s.facts.prompt_estimate = 50000;
  s.facts.max_output = 100000;
  Plan plan = s.plan();
  ASSERT_EQ(plan.checks[0].amount, kNanoPerDollar / 4);
  Decision d = decide(plan, refused(0, {499900000000}), kNowMs, false);
  EXPECT_EQ(d.kind, Decision::Kind::Refuse);
  EXPECT_FALSE(d.reserved);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.code, "budget_exceeded");
  EXPECT_EQ(d.message,
            "budget 'monthly' exceeded: $500.00 per month for team=payments (spent and reserved "
            "$499.90, this request may use up to $0.25)");
  // Until 2026-12-01 00:00:00: 1,073,669.5 s.
  EXPECT_EQ(headerValue(d.headers, "Retry-After"), "1073670");
  EXPECT_FALSE(header(d.headers, "x-ratelimit-limit-requests"));
}

TEST(Decide, RefusedTokenBudgetWithRateRulesAlongside) {
  Scene s;
  s.config.rate_limits.push_back(rateRule("rpm", LimitUnit::RequestsPerMinute, 10, {}));
  s.config.budgets.push_back(budgetRule("tokens", BudgetUnit::TokensPerDay, 2000, {}));
  Plan plan = s.plan();
  Decision d = decide(plan, refused(1, {4, 1990}), kNowMs, false);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.code, "budget_exceeded");
  EXPECT_EQ(d.message,
            "budget 'tokens' exceeded: 2000 tokens per day (spent and reserved 1990 tokens, this "
            "request may use up to 150 tokens)");
  EXPECT_EQ(headerValue(d.headers, "Retry-After"), "36870");
  EXPECT_EQ(headerValue(d.headers, "x-ratelimit-limit-requests"), "10");
  EXPECT_TRUE(header(d.headers, "x-ratelimit-remaining-requests"));
}

TEST(Decide, RefusalHeadersDoNotCountTheRefusedRequest) {
  // A refused request reserves nothing, so what remains is the limit minus
  // what was used before it — not minus this request's amount as well.
  Scene s;
  s.config.rate_limits.push_back(rateRule("rpm", LimitUnit::RequestsPerMinute, 10, {}));
  s.config.rate_limits.push_back(rateRule("tpm", LimitUnit::TokensPerMinute, 1000, {}));
  s.config.budgets.push_back(budgetRule("tokens", BudgetUnit::TokensPerDay, 2000, {}));
  Plan plan = s.plan();
  Decision d = decide(plan, refused(2, {4, 300, 1990}), kNowMs, false);
  EXPECT_EQ(d.code, "budget_exceeded");
  EXPECT_EQ(headerValue(d.headers, "x-ratelimit-remaining-requests"), "6");
  EXPECT_EQ(headerValue(d.headers, "x-ratelimit-remaining-tokens"), "700");

  // A token request too large for the whole limit: the window is still empty.
  s.facts.prompt_estimate = 900;
  s.facts.max_output = 200;
  Plan big = s.plan();
  Decision too_big = decide(big, refused(1, {0, 0, 0}), kNowMs, false);
  EXPECT_EQ(too_big.code, "rate_limit_exceeded");
  EXPECT_EQ(headerValue(too_big.headers, "x-ratelimit-remaining-tokens"), "1000");
  EXPECT_EQ(headerValue(too_big.headers, "x-ratelimit-remaining-requests"), "10");
}

TEST(Decide, WeeklyBudgetSaysWeek) {
  Scene s;
  s.config.budgets.push_back(budgetRule("weekly", BudgetUnit::CostPerWeek, 20, {}));
  Decision d = decide(s.plan(), refused(0, {20 * kNanoPerDollar}), kNowMs, false);
  EXPECT_EQ(d.code, "budget_exceeded");
  EXPECT_EQ(d.message.rfind("budget 'weekly' exceeded: $20.00 per week (", 0), 0u) << d.message;
  // Until Monday 2026-11-23 00:00:00: 4 days 10 h 14 min 29.5 s.
  EXPECT_EQ(headerValue(d.headers, "Retry-After"), std::to_string(4 * 86400 + 36870));
}

TEST(Decide, DowngradeBudgetSendsTheRequestElsewhere) {
  Scene s;
  s.config.rate_limits.push_back(rateRule("rpm", LimitUnit::RequestsPerMinute, 10, {}));
  auto cheap = budgetRule("frontier", BudgetUnit::CostPerMonth, 100, {"team"},
                          BudgetRule::OnExceed::Downgrade);
  cheap.downgrade_to = "openai/gpt-4o-mini";
  s.config.budgets.push_back(cheap);
  Plan plan = s.plan();
  Decision d = decide(plan, refused(1, {0, 100 * kNanoPerDollar}), kNowMs, false);
  EXPECT_EQ(d.kind, Decision::Kind::Downgrade);
  ASSERT_NE(d.downgrade, nullptr);
  EXPECT_EQ(d.downgrade, &s.config.budgets[0]);
  EXPECT_EQ(d.downgrade->downgrade_to, "openai/gpt-4o-mini");
  EXPECT_FALSE(d.reserved);
  EXPECT_EQ(d.status, 0);
}

TEST(Decide, RefusalWithoutAKnownCheckIsStillA429) {
  Scene s;
  s.config.rate_limits.push_back(rateRule("rpm", LimitUnit::RequestsPerMinute, 10, {}));
  Decision d = decide(s.plan(), refused(7, {10}), kNowMs, false);
  EXPECT_EQ(d.kind, Decision::Kind::Refuse);
  EXPECT_EQ(d.status, 429);
  EXPECT_EQ(d.code, "rate_limit_exceeded");
  EXPECT_EQ(d.message, "a rate limit or budget was exceeded");
}

// ---- state backend unavailable ----

TEST(Decide, UnavailableFailOpenAdmitsWithoutReservation) {
  Scene s;
  addRateRules(&s.config);
  ReserveResult r;
  r.status = ReserveResult::Status::Unavailable;
  Decision d = decide(s.plan(), r, kNowMs, false);
  EXPECT_EQ(d.kind, Decision::Kind::Admit);
  EXPECT_FALSE(d.reserved);
  EXPECT_EQ(d.status, 0);
  EXPECT_TRUE(d.headers.empty());
}

TEST(Decide, UnavailableFailClosedIs503) {
  Scene s;
  addRateRules(&s.config);
  ReserveResult r;
  r.status = ReserveResult::Status::Unavailable;
  Decision d = decide(s.plan(), r, kNowMs, true);
  EXPECT_EQ(d.kind, Decision::Kind::Refuse);
  EXPECT_FALSE(d.reserved);
  EXPECT_EQ(d.status, 503);
  EXPECT_EQ(d.code, "state_unavailable");
  EXPECT_EQ(d.message,
            "rate limits and budgets cannot be checked: the state backend is unavailable");
  EXPECT_EQ(headerValue(d.headers, "Retry-After"), "1");
}

// ---- formatting ----

TEST(FormatAmount, DollarsTrimmedToCentsWhenExact) {
  EXPECT_EQ(formatAmount(CounterKind::Cost, 0), "$0.00");
  EXPECT_EQ(formatAmount(CounterKind::Cost, kNanoPerDollar), "$1.00");
  EXPECT_EQ(formatAmount(CounterKind::Cost, 1250000000), "$1.25");
  EXPECT_EQ(formatAmount(CounterKind::Cost, 100000000), "$0.10");
  EXPECT_EQ(formatAmount(CounterKind::Cost, 500 * kNanoPerDollar), "$500.00");
  EXPECT_EQ(formatAmount(CounterKind::Cost, 123000000), "$0.123");
  EXPECT_EQ(formatAmount(CounterKind::Cost, 123456789), "$0.1235");
  EXPECT_EQ(formatAmount(CounterKind::Cost, 12 * kNanoPerDollar + 345600000), "$12.3456");
}

TEST(FormatAmount, TokensAndRequests) {
  EXPECT_EQ(formatAmount(CounterKind::Tokens, 1200), "1200 tokens");
  EXPECT_EQ(formatAmount(CounterKind::Tokens, 0), "0 tokens");
  EXPECT_EQ(formatAmount(CounterKind::Requests, 3), "3 requests");
}

TEST(FormatDuration, OpenAiResetFormat) {
  EXPECT_EQ(formatDuration(0), "0ms");
  EXPECT_EQ(formatDuration(250), "250ms");
  EXPECT_EQ(formatDuration(999), "999ms");
  EXPECT_EQ(formatDuration(1000), "1s");
  EXPECT_EQ(formatDuration(1001), "2s");  // rounded up: never reset before it does
  EXPECT_EQ(formatDuration(12000), "12s");
  EXPECT_EQ(formatDuration(59999), "1m0s");
  EXPECT_EQ(formatDuration(60000), "1m0s");
  EXPECT_EQ(formatDuration(90000), "1m30s");
  EXPECT_EQ(formatDuration(3599000), "59m59s");
  EXPECT_EQ(formatDuration(3600000), "1h0m0s");
  EXPECT_EQ(formatDuration(7205000), "2h0m5s");
  EXPECT_EQ(formatDuration(86400000), "24h0m0s");
  EXPECT_EQ(formatDuration(-5), "0ms");
}

// ---- budget alert body ----

struct Json {
  explicit Json(const std::string& text) : root(cJSON_Parse(text.c_str())) {}
  ~Json() { cJSON_Delete(root); }
  Json(const Json&) = delete;

  const cJSON* get(const char* name) const { return cJSON_GetObjectItemCaseSensitive(root, name); }
  std::string str(const char* name) const {
    const cJSON* v = get(name);
    return cJSON_IsString(v) ? v->valuestring : "<not a string: " + std::string(name) + ">";
  }
  double num(const char* name) const {
    const cJSON* v = get(name);
    EXPECT_TRUE(cJSON_IsNumber(v)) << name;
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
  }
  int size() const { return cJSON_GetArraySize(root); }

  cJSON* root;
};

TEST(AlertJson, CostBudgetThreshold) {
  Scene s;
  auto monthly = budgetRule("team-monthly", BudgetUnit::CostPerMonth, 1, {"team"});
  monthly.alerts = manifest::BudgetAlerts{{50, 80, 100}, "http://127.0.0.1:1/hook"};
  s.config.budgets.push_back(monthly);
  Plan plan = s.plan();
  std::string body = alertJson(plan.info(0), plan.checks[0].limit, 50, kNanoPerDollar / 2, kNowMs);

  Json j(body);
  ASSERT_TRUE(cJSON_IsObject(j.root)) << body;
  EXPECT_EQ(j.size(), 9) << body;
  EXPECT_EQ(j.str("type"), "budget_threshold");
  EXPECT_EQ(j.str("budget"), "team-monthly");
  EXPECT_EQ(j.str("key"), "team=payments");
  EXPECT_EQ(j.num("threshold_percent"), 50);
  EXPECT_EQ(j.num("spent"), 0.5);
  EXPECT_EQ(j.num("limit"), 1);
  EXPECT_EQ(j.str("unit"), "cost_per_month");
  EXPECT_EQ(j.str("period_start"), "2026-11-01T00:00:00Z");
  EXPECT_EQ(j.str("period_end"), "2026-12-01T00:00:00Z");
}

TEST(AlertJson, TokenBudgetCountsTokensAndDayPeriod) {
  Scene s;
  s.config.budgets.push_back(budgetRule("daily", BudgetUnit::TokensPerDay, 2000, {}));
  Plan plan = s.plan();
  std::string body = alertJson(plan.info(0), plan.checks[0].limit, 80, 1600, kNowMs);
  Json j(body);
  ASSERT_TRUE(cJSON_IsObject(j.root)) << body;
  EXPECT_EQ(j.str("key"), "");
  EXPECT_EQ(j.num("threshold_percent"), 80);
  EXPECT_EQ(j.num("spent"), 1600);
  EXPECT_EQ(j.num("limit"), 2000);
  EXPECT_EQ(j.str("unit"), "tokens_per_day");
  EXPECT_EQ(j.str("period_start"), "2026-11-18T00:00:00Z");
  EXPECT_EQ(j.str("period_end"), "2026-11-19T00:00:00Z");
}

TEST(AlertJson, WeekPeriodAndFractionalValues) {
  Scene s;
  s.config.budgets.push_back(budgetRule("weekly", BudgetUnit::CostPerWeek, 12.5, {}));
  Plan plan = s.plan();
  std::string body = alertJson(plan.info(0), plan.checks[0].limit, 33.5, 4187500000, kNowMs);
  Json j(body);
  ASSERT_TRUE(cJSON_IsObject(j.root)) << body;
  EXPECT_EQ(j.num("threshold_percent"), 33.5);
  EXPECT_EQ(j.num("spent"), 4.1875);
  EXPECT_EQ(j.num("limit"), 12.5);
  EXPECT_EQ(j.str("unit"), "cost_per_week");
  EXPECT_EQ(j.str("period_start"), "2026-11-16T00:00:00Z");
  EXPECT_EQ(j.str("period_end"), "2026-11-23T00:00:00Z");
}

TEST(AlertJson, QuotesAndBackslashesInIdsAndKeysStayValidJson) {
  Scene s;
  s.principal.team = "pay\"ments\\ops\n";
  s.config.budgets.push_back(budgetRule("b\"1\\", BudgetUnit::CostPerDay, 1, {"team"}));
  Plan plan = s.plan();
  std::string body = alertJson(plan.info(0), plan.checks[0].limit, 100, kNanoPerDollar, kNowMs);
  Json j(body);
  ASSERT_TRUE(cJSON_IsObject(j.root)) << body;
  EXPECT_EQ(j.str("budget"), "b\"1\\");
  EXPECT_EQ(j.str("key"), plan.info(0).dims);
  EXPECT_EQ(j.str("key"), "team=pay\"ments\\ops%0A");
}

}  // namespace
}  // namespace sluice::governance
