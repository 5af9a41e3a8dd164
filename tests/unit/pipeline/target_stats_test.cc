// Target stats: sliding windows and the circuit breaker, driven by an
// explicit clock (every method takes the time), and the stats table that
// outlives configuration snapshots.
#include "pipeline/target_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace sluice::pipeline {
namespace {

constexpr uint64_t kT0 = 1000000000;  // an arbitrary monotonic start, in ms
constexpr uint32_t kShort = 180000;

AttemptSample answered(double latency, double ttft, double tpot) {
  AttemptSample s;
  s.answered = true;
  s.latency_ms = latency;
  s.ttft_ms = ttft;
  s.tpot_ms = tpot;
  return s;
}

AttemptSample failed() {
  AttemptSample s;
  s.failure = true;
  return s;
}

// One attempt through the front door: acquire, start, finish.
bool attempt(TargetStats& t, uint64_t now, const AttemptSample& s, const BreakerSettings& b = {}) {
  bool probe = false;
  if (!t.acquire(now, b, &probe)) return false;
  t.attemptStarted();
  t.attemptFinished(s, now, b, probe);
  return true;
}

TEST(TargetStats, EmptyViewIsZero) {
  TargetStats t("a/m");
  StatsView v = t.view(kT0, kShort);
  EXPECT_EQ(v.tpot_samples, 0u);
  EXPECT_EQ(v.tpot_ms, 0);
  EXPECT_EQ(v.error_rate, 0);
  EXPECT_EQ(v.attempts_short, 0u);
  EXPECT_EQ(t.name(), "a/m");
}

TEST(TargetStats, MeansOfAnsweredAttempts) {
  TargetStats t("a/m");
  attempt(t, kT0, answered(100, 10, 5));
  attempt(t, kT0 + 1000, answered(200, 20, 15));
  attempt(t, kT0 + 2000, answered(300, 30, 25));
  AttemptSample no_tpot = answered(400, -1, -1);  // e.g. an embedding: no tokens out
  attempt(t, kT0 + 3000, no_tpot);
  StatsView v = t.view(kT0 + 3000, kShort);
  EXPECT_DOUBLE_EQ(v.latency_ms, 250);
  EXPECT_DOUBLE_EQ(v.ttft_ms, 20);
  EXPECT_DOUBLE_EQ(v.tpot_ms, 15);
  EXPECT_EQ(v.tpot_samples, 3u);
  EXPECT_EQ(v.answers, 4u);
  EXPECT_DOUBLE_EQ(v.tpot_ms_short, 15);
  EXPECT_EQ(v.tpot_samples_short, 3u);
}

TEST(TargetStats, ErrorRateOverTheShortWindow) {
  TargetStats t("a/m");
  BreakerSettings never;
  never.failures = 0;
  attempt(t, kT0, answered(10, 1, 1), never);
  attempt(t, kT0, answered(10, 1, 1), never);
  attempt(t, kT0, answered(10, 1, 1), never);
  attempt(t, kT0, failed(), never);
  StatsView v = t.view(kT0, kShort);
  EXPECT_EQ(v.attempts_short, 4u);
  EXPECT_EQ(v.failures_short, 1u);
  EXPECT_DOUBLE_EQ(v.error_rate, 0.25);
  // A failure is no timing sample.
  EXPECT_EQ(v.answers, 3u);
  // Past the short window the rate starts over; the 20-minute means stay.
  StatsView later = t.view(kT0 + kShort + kStatsBucketMs, kShort);
  EXPECT_EQ(later.attempts_short, 0u);
  EXPECT_EQ(later.error_rate, 0);
  EXPECT_EQ(later.answers, 3u);
}

TEST(TargetStats, ShortWindowFollowsTheClock) {
  TargetStats t("a/m");
  attempt(t, kT0, answered(10, 1, 100));  // slow, at t0
  attempt(t, kT0 + 170000, answered(10, 1, 20));
  StatsView v = t.view(kT0 + 170000, kShort);
  EXPECT_EQ(v.tpot_samples_short, 2u);
  EXPECT_DOUBLE_EQ(v.tpot_ms_short, 60);
  // 3 minutes (and a bucket) after t0 the slow sample has left the short
  // window but not the 20-minute one.
  v = t.view(kT0 + 185000, kShort);
  EXPECT_EQ(v.tpot_samples_short, 1u);
  EXPECT_DOUBLE_EQ(v.tpot_ms_short, 20);
  EXPECT_EQ(v.tpot_samples, 2u);
  EXPECT_DOUBLE_EQ(v.tpot_ms, 60);
  // Another window length reads the same ring.
  v = t.view(kT0 + 185000, 10000);
  EXPECT_EQ(v.tpot_samples_short, 0u);
}

// A sample at a bucket's last millisecond stays in a 5-second window for
// the full 5 seconds, and is gone within 5 more.
TEST(TargetStats, ShortWindowHoldsASampleForAtLeastTheWindow) {
  TargetStats t("a/m");
  const uint64_t end_of_bucket = kT0 + kStatsBucketMs - 1;
  attempt(t, end_of_bucket, answered(10, 1, 60));
  EXPECT_EQ(t.view(end_of_bucket + 1, 5000).tpot_samples_short, 1u);  // the next bucket
  EXPECT_EQ(t.view(end_of_bucket + 5000, 5000).tpot_samples_short, 1u);
  EXPECT_EQ(t.view(end_of_bucket + 10001, 5000).tpot_samples_short, 0u);
}

TEST(TargetStats, TwentyMinuteWindowForgets) {
  TargetStats t("a/m");
  attempt(t, kT0, answered(10, 1, 40));
  attempt(t, kT0 + 600000, answered(10, 1, 20));  // 10 minutes later
  EXPECT_DOUBLE_EQ(t.view(kT0 + 600000, kShort).tpot_ms, 30);
  EXPECT_EQ(t.view(kT0 + kLongWindowMs - 1, kShort).tpot_samples, 2u);
  StatsView v = t.view(kT0 + kLongWindowMs + kStatsBucketMs, kShort);
  EXPECT_EQ(v.tpot_samples, 1u);
  EXPECT_DOUBLE_EQ(v.tpot_ms, 20);
  // A jump of more than the whole ring clears it at once.
  v = t.view(kT0 + 10 * kLongWindowMs, kShort);
  EXPECT_EQ(v.tpot_samples, 0u);
  attempt(t, kT0 + 10 * kLongWindowMs, answered(10, 1, 7));
  EXPECT_DOUBLE_EQ(t.view(kT0 + 10 * kLongWindowMs, kShort).tpot_ms, 7);
}

TEST(TargetStats, InFlightCountsStartedAttempts) {
  TargetStats t("a/m");
  t.attemptStarted();
  t.attemptStarted();
  EXPECT_EQ(t.view(kT0, kShort).in_flight, 2u);
  t.attemptFinished(answered(1, 1, 1), kT0, {}, false);
  t.attemptAbandoned(false);
  EXPECT_EQ(t.view(kT0, kShort).in_flight, 0u);
}

TEST(Breaker, OpensAfterTwoFailuresWithinTheWindow) {
  TargetStats t("a/m");
  BreakerSettings b;  // defaults: 2 failures in 120 s, 30 s cool-down
  EXPECT_TRUE(attempt(t, kT0, failed(), b));
  EXPECT_EQ(t.breaker(kT0, b).state, BreakerState::Closed);
  EXPECT_EQ(t.breaker(kT0, b).recent_failures, 1u);
  EXPECT_TRUE(attempt(t, kT0 + 60000, failed(), b));
  BreakerView v = t.breaker(kT0 + 60000, b);
  EXPECT_EQ(v.state, BreakerState::Open);
  EXPECT_EQ(v.retry_in_ms, 30000u);
  EXPECT_FALSE(t.admits(kT0 + 60000, b));
  bool probe = true;
  EXPECT_FALSE(t.acquire(kT0 + 89999, b, &probe));
  EXPECT_FALSE(probe);
}

TEST(Breaker, FailuresFurtherApartThanTheWindowDoNotOpenIt) {
  TargetStats t("a/m");
  BreakerSettings b;
  attempt(t, kT0, failed(), b);
  attempt(t, kT0 + 120000, failed(), b);  // the first left the window
  EXPECT_EQ(t.breaker(kT0 + 120000, b).state, BreakerState::Closed);
  attempt(t, kT0 + 130000, failed(), b);
  EXPECT_EQ(t.breaker(kT0 + 130000, b).state, BreakerState::Open);
}

TEST(Breaker, HalfOpenLetsExactlyOneProbeThrough) {
  TargetStats t("a/m");
  BreakerSettings b;
  attempt(t, kT0, failed(), b);
  attempt(t, kT0, failed(), b);
  uint64_t later = kT0 + b.cooldown_ms;
  EXPECT_EQ(t.breaker(later, b).state, BreakerState::HalfOpen);
  EXPECT_TRUE(t.admits(later, b));
  bool probe = false;
  ASSERT_TRUE(t.acquire(later, b, &probe));
  EXPECT_TRUE(probe);
  t.attemptStarted();
  bool second = false;
  EXPECT_FALSE(t.acquire(later, b, &second));  // the probe is out
  EXPECT_FALSE(t.admits(later, b));
  EXPECT_EQ(t.breaker(later, b).state, BreakerState::HalfOpen);
  // The probe fails: another full cool-down.
  t.attemptFinished(failed(), later + 500, b, true);
  BreakerView v = t.breaker(later + 500, b);
  EXPECT_EQ(v.state, BreakerState::Open);
  EXPECT_EQ(v.retry_in_ms, b.cooldown_ms);
  // The next probe succeeds: closed, and everyone gets through.
  uint64_t again = later + 500 + b.cooldown_ms;
  ASSERT_TRUE(t.acquire(again, b, &probe));
  ASSERT_TRUE(probe);
  t.attemptStarted();
  t.attemptFinished(answered(5, 1, 1), again, b, true);
  EXPECT_EQ(t.breaker(again, b).state, BreakerState::Closed);
  EXPECT_EQ(t.breaker(again, b).recent_failures, 0u);
  EXPECT_TRUE(t.acquire(again, b, &probe));
  EXPECT_FALSE(probe);
  // Closed afresh: one failure does not reopen it.
  t.attemptStarted();
  t.attemptFinished(failed(), again + 1, b, false);
  EXPECT_EQ(t.breaker(again + 1, b).state, BreakerState::Closed);
}

TEST(Breaker, AnAbandonedProbeHandsTheProbeOn) {
  TargetStats t("a/m");
  BreakerSettings b;
  attempt(t, kT0, failed(), b);
  attempt(t, kT0, failed(), b);
  uint64_t later = kT0 + b.cooldown_ms;
  bool probe = false;
  ASSERT_TRUE(t.acquire(later, b, &probe));
  t.attemptStarted();
  t.attemptAbandoned(true);  // the client left: no verdict
  EXPECT_EQ(t.breaker(later, b).state, BreakerState::HalfOpen);
  bool next = false;
  EXPECT_TRUE(t.acquire(later, b, &next));
  EXPECT_TRUE(next);
}

TEST(Breaker, ZeroFailuresNeverOpens) {
  TargetStats t("a/m");
  BreakerSettings b;
  b.failures = 0;
  for (int i = 0; i < 50; i++) EXPECT_TRUE(attempt(t, kT0 + i, failed(), b));
  EXPECT_EQ(t.breaker(kT0 + 50, b).state, BreakerState::Closed);
}

TEST(Breaker, CustomThresholds) {
  TargetStats t("a/m");
  BreakerSettings b{3, 10000, 2000};
  attempt(t, kT0, failed(), b);
  attempt(t, kT0 + 1, failed(), b);
  EXPECT_EQ(t.breaker(kT0 + 1, b).state, BreakerState::Closed);
  attempt(t, kT0 + 2, failed(), b);
  EXPECT_EQ(t.breaker(kT0 + 2, b).state, BreakerState::Open);
  EXPECT_EQ(t.breaker(kT0 + 2, b).retry_in_ms, 2000u);
  EXPECT_EQ(t.breaker(kT0 + 2002, b).state, BreakerState::HalfOpen);
}

// The windows are running sums: against a recount from a plain list of
// samples over a random walk of the clock and of the short window's length.
TEST(TargetStats, RunningSumsMatchARecount) {
  TargetStats t("a/m");
  BreakerSettings never;
  never.failures = 0;
  struct Rec {
    int64_t bucket;
    bool failure;
    double tpot;
  };
  std::vector<Rec> recs;
  uint64_t now = kT0;
  uint32_t seed = 12345;
  auto rnd = [&seed](uint32_t n) {
    seed = seed * 1664525u + 1013904223u;
    return (seed >> 8) % n;
  };
  const uint32_t windows[] = {5000, 60000, 180000, kLongWindowMs};
  for (int step = 0; step < 5000; step++) {
    now += rnd(10) == 0 ? rnd(400000) : rnd(8000);  // mostly small steps, some long gaps
    bool failure = rnd(5) == 0;
    double tpot = failure ? -1 : 1 + rnd(100);
    AttemptSample s = failure ? AttemptSample{true} : answered(10, 1, tpot);
    t.attemptStarted();
    t.attemptFinished(s, now, never, false);
    recs.push_back({static_cast<int64_t>(now / kStatsBucketMs), failure, tpot});
    uint32_t window = windows[rnd(4)];
    StatsView v = t.view(now, window);
    int64_t head = static_cast<int64_t>(now / kStatsBucketMs);
    uint32_t short_buckets =
        std::min((window + kStatsBucketMs - 1) / kStatsBucketMs + 1, kStatsBuckets);
    int64_t short_from = head - short_buckets + 1;
    int64_t long_from = head - kStatsBuckets + 1;
    uint32_t attempts = 0, failures = 0, tpot_n = 0, long_n = 0;
    double tpot_sum = 0, long_sum = 0;
    for (const Rec& r : recs) {
      if (r.bucket >= short_from) {
        attempts++;
        failures += r.failure;
        if (!r.failure) tpot_n++, tpot_sum += r.tpot;
      }
      if (r.bucket >= long_from && !r.failure) long_n++, long_sum += r.tpot;
    }
    ASSERT_EQ(v.attempts_short, attempts) << "step " << step;
    ASSERT_EQ(v.failures_short, failures) << "step " << step;
    ASSERT_EQ(v.tpot_samples_short, tpot_n) << "step " << step;
    ASSERT_EQ(v.tpot_samples, long_n) << "step " << step;
    if (tpot_n) ASSERT_NEAR(v.tpot_ms_short, tpot_sum / tpot_n, 1e-6) << "step " << step;
    if (long_n) ASSERT_NEAR(v.tpot_ms, long_sum / long_n, 1e-6) << "step " << step;
  }
}

// Workers record and read at once: nothing is lost, reads stay coherent.
TEST(TargetStats, ConcurrentRecordingAndReading) {
  TargetStats t("a/m");
  BreakerSettings never;
  never.failures = 0;
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; w++) {
    threads.emplace_back([&t, &never, w] {
      for (int i = 0; i < kEach; i++) {
        uint64_t now = kT0 + static_cast<uint64_t>(i / 100);  // a slowly moving clock
        t.attemptStarted();
        t.attemptFinished(i % 4 == 0 ? failed() : answered(10, 2, 4), now, never, false);
        StatsView v = t.view(now, kShort);
        // A torn snapshot would show a mean away from the only value recorded.
        if (v.tpot_samples > 0 && v.tpot_ms != 4) ADD_FAILURE() << "torn read " << v.tpot_ms;
        if (w == 0 && i % 1000 == 0 && v.attempts_short < v.failures_short) ADD_FAILURE();
      }
    });
  }
  for (auto& th : threads) th.join();
  StatsView v = t.view(kT0 + kEach / 100, kShort);
  EXPECT_EQ(v.attempts_short, uint32_t(kThreads * kEach));
  EXPECT_EQ(v.failures_short, uint32_t(kThreads * kEach / 4));
  EXPECT_EQ(v.tpot_samples, uint32_t(kThreads * kEach * 3 / 4));
  EXPECT_EQ(v.in_flight, 0u);
}

TEST(TargetStatsTable, OneObjectPerName) {
  TargetStatsTable table;
  auto a = table.get("a/m");
  auto again = table.get("a/m");
  auto b = table.get("b/m");
  EXPECT_EQ(a.get(), again.get());
  EXPECT_NE(a.get(), b.get());
  attempt(*a, kT0, answered(1, 1, 9));
  EXPECT_EQ(table.get("a/m")->view(kT0, kShort).tpot_samples, 1u);
  // Only what someone still holds survives a prune.
  b.reset();
  table.prune();
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.get("a/m").get(), a.get());
}

}  // namespace
}  // namespace sluice::pipeline
