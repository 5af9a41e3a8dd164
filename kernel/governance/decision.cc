#include "governance/decision.h"

#include <cinttypes>
#include <cstdio>

namespace sluice::governance {
namespace {

const char* per(int64_t window_ms) {
  if (window_ms <= 60 * 1000) return "minute";
  if (window_ms <= 3600 * 1000) return "hour";
  if (window_ms <= 86400 * 1000) return "day";
  if (window_ms <= 7 * 86400 * 1000LL) return "week";
  return "month";
}

int64_t retryAfterSeconds(int64_t until_ms) { return std::max<int64_t>(1, (until_ms + 999) / 1000); }

RateLimitHeaders::Figures tightest(const Plan& plan, CounterKind kind,
                                   const std::vector<int64_t>& before, int64_t now_ms,
                                   bool admitted) {
  RateLimitHeaders::Figures f;
  for (size_t i = 0; i < plan.checks.size(); i++) {
    const CheckInfo& info = plan.info(i);
    if (!info.rate || info.kind != kind) continue;
    const CounterCheck& c = plan.checks[i];
    int64_t used = (i < before.size() ? before[i] : 0) + (admitted ? c.amount : 0);
    int64_t remaining = std::max<int64_t>(0, c.limit - used);
    if (!f.set || remaining < f.remaining) {
      f = {true, c.limit, remaining, info.window_end_ms - now_ms};
    }
  }
  return f;
}

void appendFigures(const RateLimitHeaders::Figures& f, http::HeaderName limit,
                   http::HeaderName remaining, http::HeaderName reset, HeaderList* out) {
  if (!f.set) return;
  out->addNumber(limit, f.limit);
  out->addNumber(remaining, f.remaining);
  out->addWritten(reset, kDurationChars, [&f](char* at) { return formatDuration(f.reset_ms, at); });
}

Decision refuseRate(const Plan& plan, size_t i, const ReserveResult& r, int64_t now_ms) {
  const CheckInfo& info = plan.info(i);
  const CounterCheck& c = plan.checks[i];
  Decision d;
  d.kind = Decision::Kind::Refuse;
  d.status = 429;
  d.code = "rate_limit_exceeded";
  int64_t wait_ms = info.window_end_ms - now_ms;
  const char* unit = info.kind == CounterKind::Requests ? "requests" : "tokens";
  d.message = "rate limit '" + info.rate->id + "' exceeded: " + std::to_string(c.limit) + " " +
              unit + " per " + per(info.window_ms);
  if (!info.dims.empty()) d.message += " for " + info.dims;
  if (c.amount > c.limit) {
    d.message += "; this request alone needs " + std::to_string(c.amount) +
                 " tokens (prompt estimate + max_tokens): lower max_tokens";
  } else {
    d.message += "; retry in " + std::to_string(retryAfterSeconds(wait_ms)) + "s";
  }
  d.headers.add("Retry-After", std::to_string(retryAfterSeconds(wait_ms)));
  rateLimitHeaders(plan, r.before, now_ms, false).appendTo(&d.headers);
  return d;
}

Decision refuseBudget(const Plan& plan, size_t i, const ReserveResult& r, int64_t now_ms) {
  const CheckInfo& info = plan.info(i);
  const CounterCheck& c = plan.checks[i];
  Decision d;
  d.kind = Decision::Kind::Refuse;
  d.status = 429;
  d.code = "budget_exceeded";
  d.message = "budget '" + info.budget->id + "' exceeded: " + formatAmount(info.kind, c.limit) +
              " per " + per(info.window_ms);
  if (!info.dims.empty()) d.message += " for " + info.dims;
  int64_t used = i < r.before.size() ? r.before[i] : 0;
  d.message += " (spent and reserved " + formatAmount(info.kind, used) +
               ", this request may use up to " + formatAmount(info.kind, c.amount) + ")";
  d.headers.add("Retry-After", std::to_string(retryAfterSeconds(info.window_end_ms - now_ms)));
  rateLimitHeaders(plan, r.before, now_ms, false).appendTo(&d.headers);
  return d;
}

}  // namespace

std::string formatAmount(CounterKind kind, int64_t amount) {
  char buf[64];
  if (kind == CounterKind::Cost) {
    snprintf(buf, sizeof buf, "$%.4f", static_cast<double>(amount) / kNanoPerUsd);
    // Trim to cents when exact: "$1.0000" -> "$1.00".
    std::string s = buf;
    while (s.size() > 4 && s.back() == '0' && s[s.size() - 3] != '.') s.pop_back();
    return s;
  }
  snprintf(buf, sizeof buf, "%" PRId64 " %s", amount, kind == CounterKind::Tokens ? "tokens" : "requests");
  return buf;
}

void RateLimitHeaders::appendTo(HeaderList* out) const {
  appendFigures(requests, "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests", out);
  appendFigures(tokens, "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens", out);
}

RateLimitHeaders rateLimitHeaders(const Plan& plan, const std::vector<int64_t>& before,
                                  int64_t now_ms, bool admitted) {
  return {tightest(plan, CounterKind::Requests, before, now_ms, admitted),
          tightest(plan, CounterKind::Tokens, before, now_ms, admitted)};
}

Decision decide(const Plan& plan, const ReserveResult& r, int64_t now_ms, bool fail_closed) {
  Decision d;
  switch (r.status) {
    case ReserveResult::Status::Unavailable:
      if (fail_closed) {
        d.kind = Decision::Kind::Refuse;
        d.status = 503;
        d.code = "state_unavailable";
        d.message = "rate limits and budgets cannot be checked: the state backend is unavailable";
        d.headers.add("Retry-After", "1");
      }
      return d;  // fail_open: admitted, nothing reserved
    case ReserveResult::Status::Admitted:
      d.reserved = true;
      d.limits = rateLimitHeaders(plan, r.before, now_ms, true);
      return d;
    case ReserveResult::Status::Refused:
      break;
  }
  size_t i = r.refused >= 0 ? static_cast<size_t>(r.refused) : 0;
  if (i >= plan.checks.size()) {
    d.kind = Decision::Kind::Refuse;
    d.status = 429;
    d.code = "rate_limit_exceeded";
    d.message = "a rate limit or budget was exceeded";
    return d;
  }
  const CheckInfo& info = plan.info(i);
  if (info.budget && info.budget->on_exceed == manifest::BudgetRule::OnExceed::Downgrade) {
    d.kind = Decision::Kind::Downgrade;
    d.downgrade = info.budget;
    return d;
  }
  return info.budget ? refuseBudget(plan, i, r, now_ms) : refuseRate(plan, i, r, now_ms);
}

}  // namespace sluice::governance
