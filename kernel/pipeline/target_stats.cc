#include "pipeline/target_stats.h"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace sluice::pipeline {
namespace {

int64_t toUs(double ms) { return static_cast<int64_t>(std::llround(ms * 1000.0)); }

double meanMs(int64_t sum_us, int64_t n) {
  return n > 0 ? static_cast<double>(sum_us) / 1000.0 / static_cast<double>(n) : 0;
}

// The whole buckets that cover the window, plus the current one, which has
// only begun: a sample then counts for at least the window (and at most one
// bucket more), never for less just because it fell at a bucket's end.
uint32_t bucketsFor(uint32_t window_ms) {
  uint32_t n = (window_ms + kStatsBucketMs - 1) / kStatsBucketMs + 1;
  return std::clamp<uint32_t>(n, 1, kStatsBuckets);
}

}  // namespace

const char* breakerStateName(BreakerState s) {
  switch (s) {
    case BreakerState::Closed:
      return "closed";
    case BreakerState::Open:
      return "open";
    case BreakerState::HalfOpen:
      return "half_open";
  }
  return "closed";
}

void TargetStats::Totals::add(const Totals& o, int sign) {
  attempts += sign * o.attempts;
  failures += sign * o.failures;
  answers += sign * o.answers;
  latency_us += sign * o.latency_us;
  ttft_us += sign * o.ttft_us;
  ttft_n += sign * o.ttft_n;
  tpot_us += sign * o.tpot_us;
  tpot_n += sign * o.tpot_n;
}

TargetStats::TargetStats(std::string name) : name_(std::move(name)) {
  for (size_t i = 0; i < kTotalsWords; i++) {
    snap_long_[i].store(0, std::memory_order_relaxed);
    snap_short_[i].store(0, std::memory_order_relaxed);
  }
}

// ------------------------------------------------------------------ breaker

bool TargetStats::admits(uint64_t now_ms, const BreakerSettings& b) const {
  if (state_.load(std::memory_order_acquire) == BreakerState::Closed) return true;
  if (probe_out_.load(std::memory_order_acquire)) return false;
  return now_ms >= opened_at_ms_.load(std::memory_order_acquire) + b.cooldown_ms;
}

bool TargetStats::acquire(uint64_t now_ms, const BreakerSettings& b, bool* probe) {
  *probe = false;
  if (state_.load(std::memory_order_acquire) == BreakerState::Closed) return true;
  if (now_ms < opened_at_ms_.load(std::memory_order_acquire) + b.cooldown_ms) return false;
  bool expected = false;
  if (!probe_out_.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) return false;
  // The breaker may have closed between the load and the exchange (another
  // probe succeeded): then this is an ordinary attempt.
  if (state_.load(std::memory_order_acquire) == BreakerState::Closed) {
    probe_out_.store(false, std::memory_order_release);
    return true;
  }
  *probe = true;
  return true;
}

uint32_t TargetStats::recentFailures(uint64_t now_ms, uint32_t window_ms) const {
  uint32_t n = 0;
  for (size_t i = 0; i < failures_count_; i++) {
    if (failures_at_[i] + window_ms > now_ms) n++;
  }
  return n;
}

BreakerView TargetStats::breaker(uint64_t now_ms, const BreakerSettings& b) const {
  BreakerView v;
  std::lock_guard<std::mutex> lock(mu_);
  v.recent_failures = recentFailures(now_ms, b.window_ms);
  if (state_.load(std::memory_order_acquire) == BreakerState::Closed) return v;
  uint64_t until = opened_at_ms_.load(std::memory_order_acquire) + b.cooldown_ms;
  if (probe_out_.load(std::memory_order_acquire) || now_ms >= until) {
    v.state = BreakerState::HalfOpen;
  } else {
    v.state = BreakerState::Open;
    v.retry_in_ms = until - now_ms;
  }
  return v;
}

// ------------------------------------------------------------------ attempts

void TargetStats::attemptAbandoned(bool probe) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  if (probe) probe_out_.store(false, std::memory_order_release);
}

void TargetStats::attemptFinished(const AttemptSample& s, uint64_t now_ms, const BreakerSettings& b,
                                  bool probe) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  Totals t;
  t.attempts = 1;
  t.failures = s.failure ? 1 : 0;
  if (s.answered && !s.failure) {
    t.answers = 1;
    t.latency_us = toUs(std::max(0.0, s.latency_ms));
    if (s.ttft_ms >= 0) {
      t.ttft_us = toUs(s.ttft_ms);
      t.ttft_n = 1;
    }
    if (s.tpot_ms >= 0) {
      t.tpot_us = toUs(s.tpot_ms);
      t.tpot_n = 1;
    }
  }
  int64_t index = static_cast<int64_t>(now_ms / kStatsBucketMs);
  std::lock_guard<std::mutex> lock(mu_);
  advance(index);
  // Another thread's clock may be a little ahead: count in the newest bucket,
  // never in one that already left the running sums.
  index = head_;
  ring_[index % kStatsBuckets].t.add(t, 1);
  long_.add(t, 1);
  short_.add(t, 1);

  if (s.failure) {
    failures_at_[failures_next_] = now_ms;
    failures_next_ = (failures_next_ + 1) % kFailureSlots;
    failures_count_ = std::min(failures_count_ + 1, kFailureSlots);
  }
  if (probe) {
    if (s.failure) {
      opened_at_ms_.store(now_ms, std::memory_order_release);  // another cool-down
    } else {
      failures_count_ = 0;  // closed afresh: old failures do not count again
      failures_next_ = 0;
      state_.store(BreakerState::Closed, std::memory_order_release);
    }
    probe_out_.store(false, std::memory_order_release);
  } else if (s.failure && b.failures > 0 &&
             state_.load(std::memory_order_acquire) == BreakerState::Closed &&
             recentFailures(now_ms, b.window_ms) >= b.failures) {
    opened_at_ms_.store(now_ms, std::memory_order_release);
    state_.store(BreakerState::Open, std::memory_order_release);
  }
  publish(index);
}

// ------------------------------------------------------------------ windows

// Moves the ring to bucket `index`: buckets that leave the short window
// leave its running sum, buckets reused for new time leave the long one.
// Amortised O(1) per call: each bucket is entered and left once.
void TargetStats::advance(int64_t index) {
  if (index <= head_) return;
  if (head_ < 0 || index - head_ >= static_cast<int64_t>(kStatsBuckets)) {
    for (Bucket& b : ring_) b = Bucket{};
    long_ = Totals{};
    short_ = Totals{};
  } else {
    for (int64_t i = head_ + 1; i <= index; i++) {
      int64_t leaving = i - short_buckets_;
      if (leaving >= 0) {
        const Bucket& old = ring_[leaving % kStatsBuckets];
        if (old.index == leaving) short_.add(old.t, -1);
      }
      Bucket& b = ring_[i % kStatsBuckets];
      if (b.index >= 0) long_.add(b.t, -1);
      b = Bucket{};
    }
  }
  for (int64_t i = std::max(head_ + 1, index - static_cast<int64_t>(kStatsBuckets) + 1); i <= index;
       i++) {
    ring_[i % kStatsBuckets].index = i;
  }
  head_ = index;
}

void TargetStats::setShortWindow(uint32_t buckets) {
  if (buckets == short_buckets_) return;
  short_buckets_ = buckets;
  short_ = Totals{};
  for (int64_t i = head_ - buckets + 1; i <= head_; i++) {
    if (i < 0) continue;
    const Bucket& b = ring_[i % kStatsBuckets];
    if (b.index == i) short_.add(b.t, 1);
  }
}

void TargetStats::publish(int64_t index) {
  uint64_t seq = seq_.load(std::memory_order_relaxed);
  seq_.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  snap_index_.store(index, std::memory_order_relaxed);
  snap_short_buckets_.store(short_buckets_, std::memory_order_relaxed);
  long_.store(snap_long_);
  short_.store(snap_short_);
  seq_.store(seq + 2, std::memory_order_release);
}

void TargetStats::Totals::store(std::atomic<int64_t>* w) const {
  const int64_t v[kTotalsWords] = {attempts, failures, answers, latency_us,
                                   ttft_us,  ttft_n,   tpot_us, tpot_n};
  for (size_t i = 0; i < kTotalsWords; i++) w[i].store(v[i], std::memory_order_relaxed);
}

void TargetStats::Totals::load(const std::atomic<int64_t>* w) {
  int64_t* v[kTotalsWords] = {&attempts, &failures, &answers, &latency_us,
                              &ttft_us,  &ttft_n,   &tpot_us, &tpot_n};
  for (size_t i = 0; i < kTotalsWords; i++) *v[i] = w[i].load(std::memory_order_relaxed);
}

StatsView TargetStats::view(uint64_t now_ms, uint32_t short_window_ms) {
  int64_t index = static_cast<int64_t>(now_ms / kStatsBucketMs);
  uint32_t short_buckets = bucketsFor(short_window_ms);
  Totals l, s;
  bool fresh = false;
  for (int tries = 0; tries < 4 && !fresh; tries++) {
    uint64_t before = seq_.load(std::memory_order_acquire);
    if (before & 1) continue;
    int64_t snap_index = snap_index_.load(std::memory_order_relaxed);
    uint32_t snap_buckets = snap_short_buckets_.load(std::memory_order_relaxed);
    l.load(snap_long_);
    s.load(snap_short_);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (seq_.load(std::memory_order_relaxed) != before) continue;
    if (snap_index != index || snap_buckets != short_buckets) break;
    fresh = true;
  }
  if (!fresh) {
    // The clock entered a new bucket (or the window changed): refresh the
    // snapshot, once, for everybody.
    std::lock_guard<std::mutex> lock(mu_);
    advance(index);
    setShortWindow(short_buckets);
    publish(head_);
    l = long_;
    s = short_;
  }
  StatsView v;
  v.answers = static_cast<uint32_t>(l.answers);
  v.latency_ms = meanMs(l.latency_us, l.answers);
  v.ttft_ms = meanMs(l.ttft_us, l.ttft_n);
  v.tpot_ms = meanMs(l.tpot_us, l.tpot_n);
  v.tpot_samples = static_cast<uint32_t>(l.tpot_n);
  v.attempts_short = static_cast<uint32_t>(s.attempts);
  v.failures_short = static_cast<uint32_t>(s.failures);
  v.error_rate =
      s.attempts > 0 ? static_cast<double>(s.failures) / static_cast<double>(s.attempts) : 0;
  v.tpot_ms_short = meanMs(s.tpot_us, s.tpot_n);
  v.tpot_samples_short = static_cast<uint32_t>(s.tpot_n);
  v.in_flight = in_flight_.load(std::memory_order_relaxed);
  return v;
}

// ------------------------------------------------------------------ table

std::shared_ptr<TargetStats> TargetStatsTable::get(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = by_name_[name];
  if (!slot) slot = std::make_shared<TargetStats>(name);
  return slot;
}

void TargetStatsTable::prune() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = by_name_.begin(); it != by_name_.end();) {
    it = it->second.use_count() == 1 ? by_name_.erase(it) : std::next(it);
  }
}

size_t TargetStatsTable::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return by_name_.size();
}

}  // namespace sluice::pipeline
