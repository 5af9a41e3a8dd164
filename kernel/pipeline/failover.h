// Phase 8's decisions: after an attempt fails, whether to retry the same
// target (retry_config, honouring the upstream's Retry-After), fall back to
// the next target (fallback_status_codes, connection errors, timeouts), or
// give up and answer the client with the last failure. Pure logic over the
// route's ordered targets; the exchange does the sending and the waiting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline/record.h"
#include "pipeline/router.h"

namespace sluice::pipeline {

// How one attempt failed.
struct AttemptOutcome {
  enum class Kind {
    Status,       // the upstream answered an error status
    Connection,   // refused, reset, DNS, TLS, malformed answer
    Timeout,      // connect, first byte, timeout_ms / total
    TtftTimeout,  // no first token within X-Sluice-TTFT-Timeout-Ms
    Unsendable    // the provider could not build the request for this target
  };
  Kind kind = Kind::Status;
  int status = 0;               // Kind::Status
  int64_t retry_after_ms = -1;  // the upstream's Retry-After, when it sent one
};

// Counts toward a target's error rate and circuit breaker: connection
// errors, the gateway's own timeouts, 429 and 5xx. A client's short TTFT
// deadline or its own bad request says nothing about the target's health.
bool isTargetFailure(const AttemptOutcome& o);
// Whether the outcome says anything about the target at all (a late first
// token against the client's own deadline, or a request the provider could
// not build, does not: such an attempt is not counted, nor a probe's verdict).
bool judgesTarget(const AttemptOutcome& o);

struct FailoverDecision {
  enum class Next { Retry, Fallback, GiveUp } next = Next::GiveUp;
  uint32_t delay_ms = 0;  // Retry: wait this long first
};

// Retry-After / retry-after-ms as milliseconds from now; -1 when absent or
// unreadable. Accepts delta-seconds (fractions too) and an HTTP-date.
int64_t parseRetryAfter(const std::vector<std::pair<std::string, std::string>>& headers,
                        int64_t now_wall_ms);

class Failover {
 public:
  // A longer Retry-After is not waited for: the request falls back instead.
  static constexpr int64_t kMaxRetryAfterMs = 30000;

  // The targets of `route` in `order`; without a route (a direct model) the
  // one attempt has no retry and no fallback.
  void start(const Route* route, const TargetOrder& order);
  const Route* route() const { return route_; }
  // The target to try now; nullptr once every target was passed.
  const RoutedTarget* current() const;
  uint32_t currentIndex() const { return order_.index[pos_]; }
  // Moves past the current target.
  void advance();

  FailoverDecision decide(const AttemptOutcome& o, uint64_t now_ms) const;
  // Applies a decision: a retry is counted, a fallback moves on.
  void commit(const FailoverDecision& d);

  void record(std::string_view target, int status, std::string_view error, double duration_ms);
  const std::vector<AttemptRecord>& attempts() const { return attempts_; }
  // x-sluice-attempts: "3; a/m=503; a/m=503; b/m=reset" — the count, then
  // each attempt that did not answer 2xx, with its status or error.
  // `in_flight` attempts not recorded yet are counted (they are answering).
  std::string header(size_t in_flight = 0) const;

 private:
  bool laterTargetAvailable(uint64_t now_ms) const;

  const Route* route_ = nullptr;
  TargetOrder order_;
  uint32_t pos_ = 0;
  uint32_t retries_ = 0;  // of the current target
  std::vector<AttemptRecord> attempts_;
};

}  // namespace sluice::pipeline
