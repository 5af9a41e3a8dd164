// Rate limits and budgets as counter reservations. A request's plan holds one
// counter check per matching rule and key; the store admits the whole plan or
// none of it, and settlement replaces each worst-case reservation with what
// the request really used.
//
// Rate limits count in fixed windows aligned to UTC (minute, hour, day). A
// window admits at most `limit_to`; the counter resets when the window ends,
// so `Retry-After` and `x-ratelimit-reset-*` are exact. Worst case: a burst
// at the end of one window and another at the start of the next can pass up
// to twice the limit within one window's length.
//
// Budgets count in UTC periods (day, week from Monday, month): settled spend
// plus outstanding reservations may never pass the limit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "governance/counter_store.h"
#include "governance/identity.h"
#include "manifest/config.h"

namespace sluice::governance {

// Costs are counted in nano-dollars: exact integer sums on every backend.
constexpr double kNanoPerUsd = 1e9;

enum class CounterKind { Requests, Tokens, Cost };

struct RequestFacts {
  const Principal* principal = nullptr;
  std::string_view model;  // the requested model, as rules and access see it
  const Metadata* metadata = nullptr;
  int64_t prompt_estimate = 0;  // tokens
  int64_t max_output = 0;       // tokens the answer may use at most
  const manifest::Pricing* pricing = nullptr;  // of the model that will answer; null: free
  int64_t now_ms = 0;                          // wall clock
};

// Why a check is in the plan, for headers, errors and settlement.
struct CheckInfo {
  const manifest::RateLimitRule* rate = nullptr;  // exactly one of these is set
  const manifest::BudgetRule* budget = nullptr;
  CounterKind kind = CounterKind::Requests;
  std::string dims;            // "team=payments,metadata.project_id=p1"
  std::string key;             // the counter the request reserves on
  std::string spent_key;       // budgets: the settled-spend counter
  int64_t window_end_ms = 0;   // when the counter resets
  int64_t window_ms = 0;
};

// Everything of a plan but its amounts. It depends only on the caller, the
// requested model, the metadata the rules read, the waived budgets and the
// current windows, so requests of the same shape share one (PlanCache); it
// never changes once built, and the checks' key views point into it.
struct PlanShape {
  std::vector<CheckInfo> info;
  std::vector<CounterCheck> checks;  // parallel to info; amounts are 0 here
  std::string rule_ids;              // "per-caller,team-monthly", for x-sluice-applied-rules
  int64_t valid_until_ms = 0;        // the first window end: a new shape after it
};

// One request's plan: its shape, and the checks with this request's amounts.
struct Plan {
  std::shared_ptr<const PlanShape> shape;
  std::vector<CounterCheck> checks;  // views into `shape`, which this plan keeps alive
  bool empty() const { return checks.empty(); }
  const CheckInfo& info(size_t i) const { return shape->info[i]; }
  const std::string& ruleIds() const;
};

struct Usage {
  int64_t prompt = 0;
  int64_t completion = 0;
  int64_t cached = 0;
};

using Waived = std::vector<const manifest::BudgetRule*>;

class Policy {
 public:
  Policy(const manifest::Config& config, std::string key_prefix);

  bool empty() const { return rates_.empty() && budgets_.empty(); }
  // The plan for one request, built afresh. Budgets in `waived` are charged
  // but not enforced (a downgrade already happened because of them).
  Plan plan(const RequestFacts& facts, const Waived& waived = {}) const;
  // The shape part of plan(): what PlanCache keeps.
  std::shared_ptr<const PlanShape> shape(const RequestFacts& facts, const Waived& waived) const;
  // Appends to *out everything shape() reads of `facts` and `waived` except
  // the clock: equal signatures within a shape's validity give equal shapes.
  void signature(const RequestFacts& facts, const Waived& waived, std::string* out) const;
  // Unique per Policy object in this process (caches tell snapshots apart).
  uint64_t id() const { return id_; }

  const std::vector<const manifest::RateLimitRule*>& rateRules() const { return rates_; }
  const std::vector<const manifest::BudgetRule*>& budgetRules() const { return budgets_; }
  const std::string& keyPrefix() const { return prefix_; }

 private:
  std::vector<const manifest::RateLimitRule*> rates_;
  std::vector<const manifest::BudgetRule*> budgets_;
  std::vector<std::string> metadata_keys_;  // every metadata key a rule reads
  std::string prefix_;
  uint64_t id_;
};

// A plan with `shape` and this request's worst-case amounts.
Plan planFor(std::shared_ptr<const PlanShape> shape, const RequestFacts& facts);

// Counter keys: "<prefix>rl:<rule>:<window>:<dims>" and, for budgets,
// "<prefix>bg:<rule>:<period>:<dims>" + ":held" / ":spent".
std::string rateKey(const std::string& prefix, const manifest::RateLimitRule& rule,
                    const std::string& window_label, std::string_view dims);
std::string budgetKeyBase(const std::string& prefix, const manifest::BudgetRule& rule,
                          const std::string& period_label, std::string_view dims);

// Does a `when` clause hold for this request?
bool matches(const manifest::When& when, const RequestFacts& facts);
// "subject=user:a,team=t" for a rule's applies_per; missing values are "-".
std::string dimensionKey(const std::vector<std::string>& applies_per, const RequestFacts& facts);

int64_t costNano(const manifest::Pricing* pricing, const Usage& usage);
// What a check's counter settles to for this usage.
int64_t settledAmount(const CheckInfo& info, const manifest::Pricing* pricing, const Usage& usage);
// Deltas that turn the plan's reservations into the real usage (their keys
// are views into the plan's shape).
std::vector<CounterDelta> settlement(const Plan& plan, const manifest::Pricing* pricing,
                                     const Usage& usage);
// The same into *out (replacing what it held), reusing its memory.
void settlement(const Plan& plan, const manifest::Pricing* pricing, const Usage& usage,
                std::vector<CounterDelta>* out);
// Deltas that undo the plan's reservations (nothing was used).
std::vector<CounterDelta> release(const Plan& plan);

// Window / period boundaries, UTC, in milliseconds since the epoch.
struct Period {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
  std::string label;  // part of the counter key: "m29483210", "2026-11", "2026-W47"
};
Period windowFor(manifest::LimitUnit unit, int64_t now_ms);
Period periodFor(manifest::BudgetUnit unit, int64_t now_ms);

const char* unitName(manifest::LimitUnit unit);
const char* unitName(manifest::BudgetUnit unit);
CounterKind kindOf(manifest::LimitUnit unit);
CounterKind kindOf(manifest::BudgetUnit unit);

// A JSON number for a USD amount or a percentage ("%.9g").
std::string jsonNumber(double v);

// OpenAI's reset format: "1m30s", "6s", "250ms".
std::string formatDuration(int64_t ms);
// The same, written at `out` (at most kDurationChars); returns its end.
constexpr size_t kDurationChars = 48;
char* formatDuration(int64_t ms, char* out);

}  // namespace sluice::governance
