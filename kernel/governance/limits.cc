#include "governance/limits.h"

#include <atomic>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace sluice::governance {
namespace {

constexpr int64_t kMinuteMs = 60 * 1000;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Values go into counter keys: the separators of the dimension list are escaped.
void appendEscaped(std::string* out, std::string_view v) {
  static const char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : v) {
    if (c == '%' || c == ',' || c == '=' || c < 0x20) {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
}

std::string_view dimensionValue(std::string_view dim, const RequestFacts& f) {
  if (dim == "subject") return f.principal ? std::string_view(f.principal->subject) : "-";
  if (dim == "team") {
    return f.principal && !f.principal->team.empty() ? std::string_view(f.principal->team) : "-";
  }
  if (dim == "model") return f.model;
  if (dim.substr(0, 9) == "metadata." && f.metadata) {
    auto it = f.metadata->find(dim.substr(9));
    if (it != f.metadata->end()) return it->second;
  }
  return "-";
}

void yearMonthOf(int64_t now_ms, int* year, int* month) {
  time_t secs = static_cast<time_t>(floorDiv(now_ms, 1000));
  tm t{};
  gmtime_r(&secs, &t);
  *year = t.tm_year + 1900;
  *month = t.tm_mon + 1;
}

int64_t monthStartMs(int year, int month) {
  tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = 1;
  return static_cast<int64_t>(timegm(&t)) * 1000;
}

double nanoPerToken(double usd_per_mtok) { return usd_per_mtok * kNanoPerUsd / 1e6; }

int64_t worstCase(CounterKind kind, const RequestFacts& f) {
  switch (kind) {
    case CounterKind::Requests: return 1;
    case CounterKind::Tokens: return f.prompt_estimate + f.max_output;
    case CounterKind::Cost:
      if (!f.pricing) return 0;
      return static_cast<int64_t>(
          std::ceil(static_cast<double>(f.prompt_estimate) * nanoPerToken(f.pricing->input_per_mtok) +
                    static_cast<double>(f.max_output) * nanoPerToken(f.pricing->output_per_mtok)));
  }
  return 0;
}

}  // namespace

const char* unitName(manifest::LimitUnit unit) {
  using U = manifest::LimitUnit;
  switch (unit) {
    case U::RequestsPerMinute: return "requests_per_minute";
    case U::RequestsPerHour: return "requests_per_hour";
    case U::RequestsPerDay: return "requests_per_day";
    case U::TokensPerMinute: return "tokens_per_minute";
    case U::TokensPerHour: return "tokens_per_hour";
    case U::TokensPerDay: return "tokens_per_day";
  }
  return "";
}

const char* unitName(manifest::BudgetUnit unit) {
  using U = manifest::BudgetUnit;
  switch (unit) {
    case U::CostPerDay: return "cost_per_day";
    case U::CostPerWeek: return "cost_per_week";
    case U::CostPerMonth: return "cost_per_month";
    case U::TokensPerDay: return "tokens_per_day";
    case U::TokensPerMonth: return "tokens_per_month";
  }
  return "";
}

CounterKind kindOf(manifest::LimitUnit unit) {
  using U = manifest::LimitUnit;
  return unit == U::RequestsPerMinute || unit == U::RequestsPerHour || unit == U::RequestsPerDay
             ? CounterKind::Requests
             : CounterKind::Tokens;
}

CounterKind kindOf(manifest::BudgetUnit unit) {
  using U = manifest::BudgetUnit;
  return unit == U::TokensPerDay || unit == U::TokensPerMonth ? CounterKind::Tokens
                                                              : CounterKind::Cost;
}

Period windowFor(manifest::LimitUnit unit, int64_t now_ms) {
  using U = manifest::LimitUnit;
  int64_t len = kMinuteMs;
  char tag = 'm';
  if (unit == U::RequestsPerHour || unit == U::TokensPerHour) {
    len = kHourMs;
    tag = 'h';
  } else if (unit == U::RequestsPerDay || unit == U::TokensPerDay) {
    len = kDayMs;
    tag = 'd';
  }
  int64_t index = floorDiv(now_ms, len);
  Period p;
  p.start_ms = index * len;
  p.end_ms = p.start_ms + len;
  p.label = tag + std::to_string(index);
  return p;
}

Period periodFor(manifest::BudgetUnit unit, int64_t now_ms) {
  using U = manifest::BudgetUnit;
  Period p;
  int64_t day = floorDiv(now_ms, kDayMs);
  if (unit == U::CostPerDay || unit == U::TokensPerDay) {
    p.start_ms = day * kDayMs;
    p.end_ms = p.start_ms + kDayMs;
    p.label = 'd' + std::to_string(day);
  } else if (unit == U::CostPerWeek) {
    // 1970-01-01 was a Thursday: weeks start on the Monday three days before.
    int64_t week = floorDiv(day + 3, 7);
    p.start_ms = (week * 7 - 3) * kDayMs;
    p.end_ms = p.start_ms + 7 * kDayMs;
    p.label = 'w' + std::to_string(week);
  } else {
    int year = 0, month = 0;
    yearMonthOf(now_ms, &year, &month);
    p.start_ms = monthStartMs(year, month);
    p.end_ms = month == 12 ? monthStartMs(year + 1, 1) : monthStartMs(year, month + 1);
    char buf[32];
    snprintf(buf, sizeof buf, "%04d-%02d", year, month);
    p.label = buf;
  }
  return p;
}

bool matches(const manifest::When& when, const RequestFacts& f) {
  auto any = [](const std::vector<std::string>& patterns, std::string_view value) {
    for (const auto& p : patterns) {
      if (matchesPattern(p, value)) return true;
    }
    return false;
  };
  if (!when.models.empty() && !any(when.models, f.model)) return false;
  if (!when.subjects.empty() &&
      !any(when.subjects, f.principal ? std::string_view(f.principal->subject) : "anonymous")) {
    return false;
  }
  if (!when.teams.empty()) {
    std::string_view team = f.principal ? std::string_view(f.principal->team) : "";
    bool found = false;
    for (const auto& t : when.teams) found = found || t == team;
    if (!found) return false;
  }
  for (const auto& [key, value] : when.metadata) {
    if (!f.metadata) return false;
    auto it = f.metadata->find(key);
    if (it == f.metadata->end() || it->second != value) return false;
  }
  return true;
}

std::string dimensionKey(const std::vector<std::string>& applies_per, const RequestFacts& f) {
  std::string out;
  for (const auto& dim : applies_per) {
    if (!out.empty()) out.push_back(',');
    out.append(dim).push_back('=');
    appendEscaped(&out, dimensionValue(dim, f));
  }
  return out;
}

namespace {

std::atomic<uint64_t> next_policy_id{1};

void appendSized(std::string* out, std::string_view v) {
  uint32_t n = static_cast<uint32_t>(v.size());
  out->append(reinterpret_cast<const char*>(&n), sizeof n).append(v);
}

void noteMetadataKey(std::vector<std::string>* keys, const std::string& key) {
  for (const auto& k : *keys) {
    if (k == key) return;
  }
  keys->push_back(key);
}

bool isWaived(const Waived& waived, const manifest::BudgetRule* rule) {
  for (const auto* w : waived) {
    if (w == rule) return true;
  }
  return false;
}

}  // namespace

const std::string& Plan::ruleIds() const {
  static const std::string kNone;
  return shape ? shape->rule_ids : kNone;
}

std::string rateKey(const std::string& prefix, const manifest::RateLimitRule& rule,
                    const std::string& window_label, std::string_view dims) {
  std::string key;
  key.reserve(prefix.size() + rule.id.size() + window_label.size() + dims.size() + 5);
  key.append(prefix).append("rl:").append(rule.id).append(":").append(window_label).append(":");
  return key.append(dims);
}

std::string budgetKeyBase(const std::string& prefix, const manifest::BudgetRule& rule,
                          const std::string& period_label, std::string_view dims) {
  std::string key;
  key.reserve(prefix.size() + rule.id.size() + period_label.size() + dims.size() + 11);
  key.append(prefix).append("bg:").append(rule.id).append(":").append(period_label).append(":");
  return key.append(dims);
}

Policy::Policy(const manifest::Config& config, std::string key_prefix)
    : prefix_(std::move(key_prefix)), id_(next_policy_id.fetch_add(1)) {
  auto noteRule = [this](const manifest::When& when, const std::vector<std::string>& per) {
    for (const auto& [key, value] : when.metadata) noteMetadataKey(&metadata_keys_, key);
    for (const auto& dim : per) {
      if (dim.rfind("metadata.", 0) == 0) noteMetadataKey(&metadata_keys_, dim.substr(9));
    }
  };
  for (const auto& r : config.rate_limits) {
    rates_.push_back(&r);
    noteRule(r.when, r.applies_per);
  }
  for (const auto& b : config.budgets) {
    budgets_.push_back(&b);
    noteRule(b.when, b.applies_per);
  }
}

void Policy::signature(const RequestFacts& f, const Waived& waived, std::string* out) const {
  // The principal pointer stands for its subject and team: principals live
  // as long as the snapshot this policy belongs to.
  const Principal* who = f.principal;
  out->append(reinterpret_cast<const char*>(&who), sizeof who);
  appendSized(out, f.model);
  for (const auto& key : metadata_keys_) {
    auto it = f.metadata ? f.metadata->find(key) : Metadata::const_iterator{};
    if (!f.metadata || it == f.metadata->end()) {
      out->push_back('\0');
    } else {
      out->push_back('\1');
      appendSized(out, it->second);
    }
  }
  for (const auto* w : waived) out->append(reinterpret_cast<const char*>(&w), sizeof w);
}

std::shared_ptr<const PlanShape> Policy::shape(const RequestFacts& f, const Waived& waived) const {
  auto shape = std::make_shared<PlanShape>();
  shape->valid_until_ms = INT64_MAX;
  for (const auto* rule : rates_) {
    if (!matches(rule->when, f)) continue;
    Period w = windowFor(rule->unit, f.now_ms);
    CheckInfo info;
    info.rate = rule;
    info.kind = kindOf(rule->unit);
    info.dims = dimensionKey(rule->applies_per, f);
    info.key = rateKey(prefix_, *rule, w.label, info.dims);
    info.window_end_ms = w.end_ms;
    info.window_ms = w.end_ms - w.start_ms;
    shape->info.push_back(std::move(info));
  }
  for (const auto* rule : budgets_) {
    if (!matches(rule->when, f)) continue;
    Period p = periodFor(rule->unit, f.now_ms);
    CheckInfo info;
    info.budget = rule;
    info.kind = kindOf(rule->unit);
    info.dims = dimensionKey(rule->applies_per, f);
    std::string base = budgetKeyBase(prefix_, *rule, p.label, info.dims);
    info.key = base + ":held";
    info.spent_key = std::move(base.append(":spent"));
    info.window_end_ms = p.end_ms;
    info.window_ms = p.end_ms - p.start_ms;
    shape->info.push_back(std::move(info));
  }
  // The checks view the info's strings, which stay where they are from here on.
  shape->checks.reserve(shape->info.size());
  for (const CheckInfo& info : shape->info) {
    CounterCheck c;
    c.key = info.key;
    c.key_hash = counterKeyHash(info.key);
    if (info.rate) {
      c.limit = info.rate->limit_to;
      c.ttl_s = static_cast<uint32_t>(info.window_ms / 1000 + 60);
    } else {
      c.other_key = info.spent_key;
      c.other_key_hash = counterKeyHash(info.spent_key);
      c.other_weight_ppm = 1000000;
      c.limit = info.kind == CounterKind::Cost ? std::llround(info.budget->limit_to * kNanoPerUsd)
                                               : std::llround(info.budget->limit_to);
      c.enforce = info.budget->on_exceed != manifest::BudgetRule::OnExceed::Audit &&
                  !isWaived(waived, info.budget);
      c.ttl_s = static_cast<uint32_t>(info.window_ms / 1000 + 86400);
    }
    shape->checks.push_back(c);
    const std::string& id = info.rate ? info.rate->id : info.budget->id;
    if (!shape->rule_ids.empty()) shape->rule_ids.push_back(',');
    shape->rule_ids.append(id);
    shape->valid_until_ms = std::min(shape->valid_until_ms, info.window_end_ms);
  }
  return shape;
}

Plan planFor(std::shared_ptr<const PlanShape> shape, const RequestFacts& f) {
  Plan plan;
  plan.checks = shape->checks;
  for (size_t i = 0; i < plan.checks.size(); i++) {
    plan.checks[i].amount = worstCase(shape->info[i].kind, f);
  }
  plan.shape = std::move(shape);
  return plan;
}

Plan Policy::plan(const RequestFacts& f, const Waived& waived) const {
  return planFor(shape(f, waived), f);
}

int64_t costNano(const manifest::Pricing* pricing, const Usage& u) {
  if (!pricing) return 0;
  int64_t cached = std::min(std::max<int64_t>(u.cached, 0), u.prompt);
  double nano = static_cast<double>(u.prompt - cached) * nanoPerToken(pricing->input_per_mtok) +
                static_cast<double>(cached) * nanoPerToken(pricing->cached_input_per_mtok) +
                static_cast<double>(u.completion) * nanoPerToken(pricing->output_per_mtok);
  return std::llround(nano);
}

int64_t settledAmount(const CheckInfo& info, const manifest::Pricing* pricing, const Usage& u) {
  switch (info.kind) {
    case CounterKind::Requests: return 1;
    case CounterKind::Tokens: return u.prompt + u.completion;
    case CounterKind::Cost: return costNano(pricing, u);
  }
  return 0;
}

std::vector<CounterDelta> settlement(const Plan& plan, const manifest::Pricing* pricing,
                                     const Usage& usage) {
  std::vector<CounterDelta> out;
  settlement(plan, pricing, usage, &out);
  return out;
}

void settlement(const Plan& plan, const manifest::Pricing* pricing, const Usage& usage,
                std::vector<CounterDelta>* out) {
  out->clear();
  out->reserve(plan.checks.size() * 2);
  for (size_t i = 0; i < plan.checks.size(); i++) {
    const CounterCheck& c = plan.checks[i];
    const CheckInfo& info = plan.info(i);
    int64_t actual = settledAmount(info, pricing, usage);
    if (info.budget) {
      out->push_back({c.key, -c.amount, c.ttl_s, c.key_hash});
      out->push_back({info.spent_key, actual, c.ttl_s, c.other_key_hash});
    } else if (actual != c.amount) {
      out->push_back({c.key, actual - c.amount, c.ttl_s, c.key_hash});
    }
  }
}

std::vector<CounterDelta> release(const Plan& plan) {
  std::vector<CounterDelta> out;
  for (const auto& c : plan.checks) {
    if (c.amount) out.push_back({c.key, -c.amount, c.ttl_s, c.key_hash});
  }
  return out;
}

std::string jsonNumber(double v) {
  char buf[48];
  snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

char* formatDuration(int64_t ms, char* out) {
  char* p = out;
  auto put = [&p, out](int64_t v, const char* unit) {
    p = std::to_chars(p, out + kDurationChars, v).ptr;
    while (*unit) *p++ = *unit++;
  };
  if (ms < 0) ms = 0;
  if (ms < 1000) {
    put(ms, "ms");
  } else {
    int64_t s = (ms + 999) / 1000;
    if (s >= 3600) {
      put(s / 3600, "h");
      put(s % 3600 / 60, "m");
    } else if (s >= 60) {
      put(s / 60, "m");
    }
    put(s % 60, "s");
  }
  return p;
}

std::string formatDuration(int64_t ms) {
  char buf[kDurationChars];
  return std::string(buf, formatDuration(ms, buf));
}

}  // namespace sluice::governance
