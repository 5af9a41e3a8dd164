// Live health of one routing target (an upstream "<provider>/<model>"),
// shared by every worker: requests in flight, time to first token, time per
// output token (TPOT) and error rate over sliding windows, and the circuit
// breaker. Recording happens once per finished attempt; reading happens on
// every routed request and takes no lock in the common case (a seqlock
// snapshot, refreshed when the clock moves to a new bucket).
//
// Every method takes the time (monotonic milliseconds) from its caller, so
// tests drive the windows and the breaker with a fake clock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sluice::pipeline {

// The windows are rings of 5-second buckets: 240 of them make the 20 minutes
// TPOT, TTFT and latency are averaged over; the short (SLA) window is the
// newest ceil(window / 5 s) + 1 of them, so a sample counts in it for at
// least the window and at most 5 s more.
constexpr uint32_t kStatsBucketMs = 5000;
constexpr uint32_t kStatsBuckets = 240;
constexpr uint32_t kLongWindowMs = kStatsBucketMs * kStatsBuckets;
constexpr uint32_t kDefaultShortWindowMs = 180000;

// circuit_breaker of a target block. failures == 0: the breaker never opens.
struct BreakerSettings {
  uint32_t failures = 2;
  uint32_t window_ms = 120000;
  uint32_t cooldown_ms = 30000;
};

// What one finished attempt tells its target.
struct AttemptSample {
  bool failure = false;  // counts toward the error rate and the breaker
  // A successful answer: the timings below are samples (negative: none).
  bool answered = false;
  double latency_ms = -1;  // request sent -> answer complete
  double ttft_ms = -1;     // request sent -> first body byte
  double tpot_ms = -1;     // see RoutedAttempt in exchange.cc for how it is measured
};

enum class BreakerState { Closed, Open, HalfOpen };
const char* breakerStateName(BreakerState s);

// Means are 0 when their window holds no sample.
struct StatsView {
  double latency_ms = 0;
  double ttft_ms = 0;
  double tpot_ms = 0;  // 20 minutes
  uint32_t tpot_samples = 0;
  uint32_t answers = 0;      // successful attempts, 20 minutes
  double tpot_ms_short = 0;  // the short window
  uint32_t tpot_samples_short = 0;
  uint32_t attempts_short = 0;
  uint32_t failures_short = 0;
  double error_rate = 0;  // failures / attempts over the short window
  uint32_t in_flight = 0;
};

struct BreakerView {
  BreakerState state = BreakerState::Closed;
  uint32_t recent_failures = 0;  // within the breaker's window
  uint64_t retry_in_ms = 0;      // open: until the cool-down ends
};

class TargetStats {
 public:
  explicit TargetStats(std::string name);
  TargetStats(const TargetStats&) = delete;
  TargetStats& operator=(const TargetStats&) = delete;

  const std::string& name() const { return name_; }

  // The breaker's verdict for a new attempt: true when the target may be
  // tried. While open and past its cool-down, exactly one caller gets true
  // with *probe set (the half-open probe); the others get false until that
  // probe's attempt finishes.
  bool acquire(uint64_t now_ms, const BreakerSettings& b, bool* probe);
  // Would acquire() let an attempt through now? (No probe is taken.)
  bool admits(uint64_t now_ms, const BreakerSettings& b) const;

  void attemptStarted() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
  // A verdict for an attempt that acquire() let through. A failed probe opens
  // the breaker for another cool-down; a successful one closes it.
  void attemptFinished(const AttemptSample& s, uint64_t now_ms, const BreakerSettings& b,
                       bool probe);
  // The attempt ended without a verdict (the client left): only in-flight
  // and the probe are released.
  void attemptAbandoned(bool probe);

  StatsView view(uint64_t now_ms, uint32_t short_window_ms);
  BreakerView breaker(uint64_t now_ms, const BreakerSettings& b) const;

 private:
  static constexpr size_t kTotalsWords = 8;
  struct Totals {
    int64_t attempts = 0, failures = 0, answers = 0;
    int64_t latency_us = 0, ttft_us = 0, ttft_n = 0, tpot_us = 0, tpot_n = 0;
    void add(const Totals& o, int sign);
    void store(std::atomic<int64_t>* words) const;  // kTotalsWords of them
    void load(const std::atomic<int64_t>* words);
  };
  struct Bucket {
    int64_t index = -1;  // bucket number (time / kStatsBucketMs) it holds
    Totals t;
  };

  // mu_ held:
  void advance(int64_t index);
  void setShortWindow(uint32_t buckets);
  void publish(int64_t index);
  uint32_t recentFailures(uint64_t now_ms, uint32_t window_ms) const;  // mu_ held

  std::string name_;
  std::atomic<uint32_t> in_flight_{0};

  // Breaker: Closed fast path is one relaxed load.
  std::atomic<BreakerState> state_{BreakerState::Closed};
  std::atomic<uint64_t> opened_at_ms_{0};
  std::atomic<bool> probe_out_{false};

  mutable std::mutex mu_;  // the ring, the failure times, publishing
  Bucket ring_[kStatsBuckets];
  Totals long_;   // sum of the ring
  Totals short_;  // sum of its newest short_buckets_
  uint32_t short_buckets_ = kDefaultShortWindowMs / kStatsBucketMs;
  int64_t head_ = -1;  // newest bucket number the ring was advanced to
  static constexpr size_t kFailureSlots = 128;
  uint64_t failures_at_[kFailureSlots] = {};  // newest failure times, a ring
  size_t failures_next_ = 0;
  size_t failures_count_ = 0;

  // The published snapshot (seqlock): odd seq while being written.
  std::atomic<uint64_t> seq_{0};
  std::atomic<int64_t> snap_index_{-1};
  std::atomic<uint32_t> snap_short_buckets_{0};
  std::atomic<int64_t> snap_long_[kTotalsWords];
  std::atomic<int64_t> snap_short_[kTotalsWords];
};

// Every target's stats, by name, for the life of the process: a reloaded
// manifest that still names a target keeps its numbers and breaker.
class TargetStatsTable {
 public:
  std::shared_ptr<TargetStats> get(const std::string& name);
  // Forgets the targets no configuration snapshot uses any more.
  void prune();
  size_t size();

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<TargetStats>> by_name_;
};

}  // namespace sluice::pipeline
