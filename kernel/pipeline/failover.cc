#include "pipeline/failover.h"

#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace sluice::pipeline {
namespace {

bool contains(const std::vector<int>& codes, int status) {
  return std::find(codes.begin(), codes.end(), status) != codes.end();
}

bool nameIs(const std::string& name, const char* want) {
  return strcasecmp(name.c_str(), want) == 0;
}

// A non-negative decimal number of seconds (or milliseconds), or -1.
double parseAmount(const std::string& text) {
  if (text.empty() || !(isdigit(static_cast<unsigned char>(text[0])) || text[0] == '.')) return -1;
  char* end = nullptr;
  double v = strtod(text.c_str(), &end);
  while (end && (*end == ' ' || *end == '\t')) end++;
  return end && *end == '\0' && std::isfinite(v) && v >= 0 ? v : -1;
}

}  // namespace

bool isTargetFailure(const AttemptOutcome& o) {
  switch (o.kind) {
    case AttemptOutcome::Kind::Connection:
    case AttemptOutcome::Kind::Timeout:
      return true;
    case AttemptOutcome::Kind::Status:
      return o.status == 429 || o.status >= 500;
    case AttemptOutcome::Kind::TtftTimeout:
    case AttemptOutcome::Kind::Unsendable:
      return false;
  }
  return false;
}

bool judgesTarget(const AttemptOutcome& o) {
  return o.kind != AttemptOutcome::Kind::TtftTimeout && o.kind != AttemptOutcome::Kind::Unsendable;
}

int64_t parseRetryAfter(const std::vector<std::pair<std::string, std::string>>& headers,
                        int64_t now_wall_ms) {
  for (const auto& [name, value] : headers) {
    if (nameIs(name, "retry-after-ms")) {
      double ms = parseAmount(value);
      if (ms >= 0) return static_cast<int64_t>(std::ceil(ms));
    }
  }
  for (const auto& [name, value] : headers) {
    if (!nameIs(name, "retry-after")) continue;
    double seconds = parseAmount(value);
    if (seconds >= 0) return static_cast<int64_t>(std::ceil(seconds * 1000));
    tm t{};  // IMF-fixdate: "Wed, 21 Oct 2015 07:28:00 GMT"
    const char* end = strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &t);
    if (!end || *end) return -1;
    int64_t at = static_cast<int64_t>(timegm(&t)) * 1000;
    return std::max<int64_t>(0, at - now_wall_ms);
  }
  return -1;
}

void Failover::start(const Route* route, const TargetOrder& order) {
  route_ = route;
  order_ = order;
  pos_ = 0;
  retries_ = 0;
}

const RoutedTarget* Failover::current() const {
  if (!route_ || pos_ >= order_.count) return nullptr;
  return &route_->targets()[order_.index[pos_]];
}

void Failover::advance() {
  if (pos_ < order_.count) pos_++;
  retries_ = 0;
}

bool Failover::laterTargetAvailable(uint64_t now_ms) const {
  for (uint32_t k = pos_ + 1; k < order_.count; k++) {
    const RoutedTarget& t = route_->targets()[order_.index[k]];
    if (t.stats->admits(now_ms, t.breaker)) return true;
  }
  return false;
}

FailoverDecision Failover::decide(const AttemptOutcome& o, uint64_t now_ms) const {
  using Next = FailoverDecision::Next;
  const RoutedTarget* t = current();
  if (!t) return {Next::GiveUp, 0};
  const manifest::RouteTarget& cfg = *t->config;
  bool may_retry = retries_ < static_cast<uint32_t>(cfg.retry.attempts);
  bool may_fall_back = laterTargetAvailable(now_ms);
  switch (o.kind) {
    case AttemptOutcome::Kind::Status:
      if (may_retry && contains(cfg.retry.on_status_codes, o.status) &&
          o.retry_after_ms <= kMaxRetryAfterMs) {
        int64_t wait = std::max<int64_t>(cfg.retry.delay_ms, o.retry_after_ms);
        return {Next::Retry, static_cast<uint32_t>(wait)};
      }
      if (may_fall_back && contains(cfg.fallback_status_codes, o.status))
        return {Next::Fallback, 0};
      return {Next::GiveUp, 0};
    case AttemptOutcome::Kind::Connection:
      if (may_retry) return {Next::Retry, cfg.retry.delay_ms};
      [[fallthrough]];
    case AttemptOutcome::Kind::Timeout:
    case AttemptOutcome::Kind::TtftTimeout:
    case AttemptOutcome::Kind::Unsendable:
      return {may_fall_back ? Next::Fallback : Next::GiveUp, 0};
  }
  return {Next::GiveUp, 0};
}

void Failover::commit(const FailoverDecision& d) {
  if (d.next == FailoverDecision::Next::Retry) {
    retries_++;
  } else if (d.next == FailoverDecision::Next::Fallback) {
    advance();
  }
}

void Failover::record(std::string_view target, int status, std::string_view error,
                      double duration_ms) {
  if (attempts_.empty()) attempts_.reserve(4);
  AttemptRecord& a = attempts_.emplace_back();
  a.target.assign(target);
  a.status = status;
  a.error.assign(error);
  a.duration_ms = duration_ms;
}

std::string Failover::header(size_t in_flight) const {
  std::string out = std::to_string(attempts_.size() + in_flight);
  for (const AttemptRecord& a : attempts_) {
    if (a.error.empty() && a.status >= 200 && a.status < 300) continue;
    out.append("; ").append(a.target).push_back('=');
    if (a.error.empty()) {
      out.append(std::to_string(a.status));
    } else {
      out.append(a.error);
    }
  }
  return out;
}

}  // namespace sluice::pipeline
