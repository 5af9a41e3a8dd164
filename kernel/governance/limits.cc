#include "governance/limits.h"

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
    p.label = "d" + std::to_string(day);
  } else if (unit == U::CostPerWeek) {
    // 1970-01-01 was a Thursday: weeks start on the Monday three days before.
    int64_t week = floorDiv(day + 3, 7);
    p.start_ms = (week * 7 - 3) * kDayMs;
    p.end_ms = p.start_ms + 7 * kDayMs;
    p.label = "w" + std::to_string(week);
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

Policy::Policy(const manifest::Config& config, std::string key_prefix)
    : prefix_(std::move(key_prefix)) {
  for (const auto& r : config.rate_limits) rates_.push_back(&r);
  for (const auto& b : config.budgets) budgets_.push_back(&b);
}

Plan Policy::plan(const RequestFacts& f, const std::vector<const manifest::BudgetRule*>& waived) const {
  Plan plan;
  for (const auto* rule : rates_) {
    if (!matches(rule->when, f)) continue;
    Period w = windowFor(rule->unit, f.now_ms);
    CheckInfo info;
    info.rate = rule;
    info.kind = kindOf(rule->unit);
    info.dims = dimensionKey(rule->applies_per, f);
    info.window_end_ms = w.end_ms;
    info.window_ms = w.end_ms - w.start_ms;
    CounterCheck c;
    c.key = prefix_ + "rl:" + rule->id + ":" + w.label + ":" + info.dims;
    c.limit = rule->limit_to;
    c.amount = worstCase(info.kind, f);
    c.ttl_s = static_cast<uint32_t>(info.window_ms / 1000 + 60);
    plan.checks.push_back(std::move(c));
    plan.info.push_back(std::move(info));
    plan.rule_ids.push_back(rule->id);
  }
  for (const auto* rule : budgets_) {
    if (!matches(rule->when, f)) continue;
    Period p = periodFor(rule->unit, f.now_ms);
    CheckInfo info;
    info.budget = rule;
    info.kind = kindOf(rule->unit);
    info.dims = dimensionKey(rule->applies_per, f);
    info.window_end_ms = p.end_ms;
    info.window_ms = p.end_ms - p.start_ms;
    std::string base = prefix_ + "bg:" + rule->id + ":" + p.label + ":" + info.dims;
    info.spent_key = base + ":spent";
    bool waive = false;
    for (const auto* w : waived) waive = waive || w == rule;
    CounterCheck c;
    c.key = base + ":held";
    c.other_key = info.spent_key;
    c.other_weight_ppm = 1000000;
    c.limit = info.kind == CounterKind::Cost ? std::llround(rule->limit_to * kNanoPerUsd)
                                             : std::llround(rule->limit_to);
    c.amount = worstCase(info.kind, f);
    c.enforce = rule->on_exceed != manifest::BudgetRule::OnExceed::Audit && !waive;
    c.ttl_s = static_cast<uint32_t>(info.window_ms / 1000 + 86400);
    plan.checks.push_back(std::move(c));
    plan.info.push_back(std::move(info));
    plan.rule_ids.push_back(rule->id);
  }
  return plan;
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
  for (size_t i = 0; i < plan.checks.size(); i++) {
    const CounterCheck& c = plan.checks[i];
    const CheckInfo& info = plan.info[i];
    int64_t actual = settledAmount(info, pricing, usage);
    if (info.budget) {
      out.push_back({c.key, -c.amount, c.ttl_s});
      out.push_back({info.spent_key, actual, c.ttl_s});
    } else if (actual != c.amount) {
      out.push_back({c.key, actual - c.amount, c.ttl_s});
    }
  }
  return out;
}

std::vector<CounterDelta> release(const Plan& plan) {
  std::vector<CounterDelta> out;
  for (const auto& c : plan.checks) {
    if (c.amount) out.push_back({c.key, -c.amount, c.ttl_s});
  }
  return out;
}

std::string jsonNumber(double v) {
  char buf[48];
  snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string formatDuration(int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) return std::to_string(ms) + "ms";
  int64_t s = (ms + 999) / 1000;
  std::string out;
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
    out += std::to_string(s / 60) + "m";
    s %= 60;
  } else if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  out += std::to_string(s) + "s";
  return out;
}

}  // namespace sluice::governance
