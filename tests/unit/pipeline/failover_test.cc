// Failover: when an attempt fails, retry (retry_config, Retry-After), fall
// back (fallback_status_codes, connection errors, timeouts) or give up; the
// attempt history and its x-sluice-attempts header.
#include "pipeline/failover.h"

#include <gtest/gtest.h>

#include "route_fixture.h"

namespace sluice::pipeline {
namespace {

using Next = FailoverDecision::Next;
using Kind = AttemptOutcome::Kind;

constexpr uint64_t kNow = 5000000;

AttemptOutcome status(int code, int64_t retry_after_ms = -1) {
  AttemptOutcome o;
  o.kind = Kind::Status;
  o.status = code;
  o.retry_after_ms = retry_after_ms;
  return o;
}

AttemptOutcome of(Kind kind) {
  AttemptOutcome o;
  o.kind = kind;
  return o;
}

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fx_.model("a");
    fx_.model("b");
    fx_.model("c");
  }
  // Starts a failover over the rule's targets in manifest order.
  Failover start() {
    if (!fx_.router) fx_.build();
    EXPECT_TRUE(fx_.router) << ::testing::PrintToString(fx_.build_errors);
    Failover f;
    TargetOrder order;
    fx_.route(0).order("", kNow, &order);
    f.start(&fx_.route(0), order);
    return f;
  }
  testing::RouteFixture fx_;
};

TEST_F(FailoverTest, DefaultsFallBackOnTheDesignsStatusesOnly) {
  fx_.rule("r", "in-order", {"p/a", "p/b"});
  for (int code : {401, 403, 404, 429, 500, 502, 503}) {
    Failover f = start();
    EXPECT_EQ(f.decide(status(code), kNow).next, Next::Fallback) << code;
  }
  for (int code : {400, 408, 409, 413, 422, 504}) {
    Failover f = start();
    EXPECT_EQ(f.decide(status(code), kNow).next, Next::GiveUp) << code;
  }
}

TEST_F(FailoverTest, NoRetryByDefault) {
  fx_.rule("r", "in-order", {"p/a"});
  Failover f = start();
  EXPECT_EQ(f.decide(status(503), kNow).next, Next::GiveUp);  // and no target after it
  EXPECT_EQ(f.decide(of(Kind::Connection), kNow).next, Next::GiveUp);
}

TEST_F(FailoverTest, RetriesThenFallsBack) {
  auto& r = fx_.rule("r", "in-order", {"p/a", "p/b"});
  r.targets[0].retry.attempts = 2;
  r.targets[0].retry.delay_ms = 250;
  Failover f = start();
  for (int i = 0; i < 2; i++) {
    FailoverDecision d = f.decide(status(500), kNow);
    ASSERT_EQ(d.next, Next::Retry) << i;
    EXPECT_EQ(d.delay_ms, 250u);
    f.commit(d);
    EXPECT_EQ(f.current()->config->target, "p/a");
  }
  FailoverDecision d = f.decide(status(500), kNow);
  EXPECT_EQ(d.next, Next::Fallback);
  f.commit(d);
  EXPECT_EQ(f.current()->config->target, "p/b");
  // The next target has retries of its own (none) and is the last.
  EXPECT_EQ(f.decide(status(500), kNow).next, Next::GiveUp);
}

TEST_F(FailoverTest, RetryStatusesAreConfigurable) {
  auto& r = fx_.rule("r", "in-order", {"p/a", "p/b"});
  r.targets[0].retry.attempts = 1;
  r.targets[0].retry.on_status_codes = {502};
  r.targets[0].fallback_status_codes = {502};
  Failover f = start();
  EXPECT_EQ(f.decide(status(502), kNow).next, Next::Retry);
  EXPECT_EQ(f.decide(status(503), kNow).next, Next::GiveUp);  // neither retried nor a fallback
}

TEST_F(FailoverTest, RetryAfterIsHonouredUpToItsCap) {
  auto& r = fx_.rule("r", "in-order", {"p/a", "p/b"});
  r.targets[0].retry.attempts = 3;
  r.targets[0].retry.delay_ms = 100;
  Failover f = start();
  FailoverDecision d = f.decide(status(429, 1500), kNow);
  EXPECT_EQ(d.next, Next::Retry);
  EXPECT_EQ(d.delay_ms, 1500u);
  d = f.decide(status(429, 20), kNow);  // shorter than delay_ms: delay_ms wins
  EXPECT_EQ(d.delay_ms, 100u);
  d = f.decide(status(429, Failover::kMaxRetryAfterMs), kNow);
  EXPECT_EQ(d.next, Next::Retry);
  // Longer than the gateway waits: the next target instead.
  d = f.decide(status(429, Failover::kMaxRetryAfterMs + 1), kNow);
  EXPECT_EQ(d.next, Next::Fallback);
}

TEST_F(FailoverTest, ConnectionErrorsRetryTimeoutsFallBack) {
  auto& r = fx_.rule("r", "in-order", {"p/a", "p/b"});
  r.targets[0].retry.attempts = 1;
  r.targets[0].retry.delay_ms = 40;
  Failover f = start();
  FailoverDecision d = f.decide(of(Kind::Connection), kNow);
  EXPECT_EQ(d.next, Next::Retry);
  EXPECT_EQ(d.delay_ms, 40u);
  for (Kind k : {Kind::Timeout, Kind::TtftTimeout, Kind::Unsendable}) {
    EXPECT_EQ(f.decide(of(k), kNow).next, Next::Fallback);
  }
  f.commit(f.decide(of(Kind::Connection), kNow));  // the one retry
  EXPECT_EQ(f.decide(of(Kind::Connection), kNow).next, Next::Fallback);
}

TEST_F(FailoverTest, NoFallbackToTargetsWhoseBreakerIsOpen) {
  fx_.rule("r", "in-order", {"p/a", "p/b", "p/c"});
  Failover f = start();
  // Open b's and c's breakers.
  testing::recordFailures(*fx_.stats.get("p/b"), kNow, 2);
  testing::recordFailures(*fx_.stats.get("p/c"), kNow, 2);
  EXPECT_EQ(f.decide(status(503), kNow).next, Next::GiveUp);
  // Once their cool-down is over a probe may go there: fallback is back.
  EXPECT_EQ(f.decide(status(503), kNow + 30000).next, Next::Fallback);
}

TEST_F(FailoverTest, DirectModelsNeitherRetryNorFallBack) {
  Failover f;
  EXPECT_EQ(f.current(), nullptr);
  EXPECT_EQ(f.decide(status(503), kNow).next, Next::GiveUp);
}

TEST(FailoverHeader, CountsEveryAttemptAndNamesTheFailedOnes) {
  Failover f;
  f.record("p/a", 503, "", 12.5);
  f.record("p/a", 0, "reset", 1);
  f.record("p/b", 200, "", 40);
  EXPECT_EQ(f.header(), "3; p/a=503; p/a=reset");
  ASSERT_EQ(f.attempts().size(), 3u);
  EXPECT_EQ(f.attempts()[0].target, "p/a");
  EXPECT_EQ(f.attempts()[0].status, 503);
  EXPECT_DOUBLE_EQ(f.attempts()[0].duration_ms, 12.5);
  EXPECT_EQ(f.attempts()[1].error, "reset");
  // A stream that is answering is counted before it is recorded.
  Failover g;
  g.record("p/a", 0, "connect_timeout", 5);
  EXPECT_EQ(g.header(1), "2; p/a=connect_timeout");
}

TEST(RetryAfter, SecondsMillisecondsAndDates) {
  using H = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(parseRetryAfter(H{}, 0), -1);
  EXPECT_EQ(parseRetryAfter(H{{"Retry-After", "2"}}, 0), 2000);
  EXPECT_EQ(parseRetryAfter(H{{"retry-after", "0.25"}}, 0), 250);
  EXPECT_EQ(parseRetryAfter(H{{"retry-after", " x"}}, 0), -1);
  EXPECT_EQ(parseRetryAfter(H{{"retry-after", "-3"}}, 0), -1);
  // retry-after-ms (OpenAI's SDKs read it) is the more precise one.
  EXPECT_EQ(parseRetryAfter(H{{"retry-after", "2"}, {"Retry-After-Ms", "1200"}}, 0), 1200);
  // An HTTP-date: 2015-10-21T07:28:00Z is 1445412480 s after the epoch.
  H date{{"Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"}};
  EXPECT_EQ(parseRetryAfter(date, 1445412480000 - 3000), 3000);
  EXPECT_EQ(parseRetryAfter(date, 1445412480000 + 9000), 0);  // already past
  EXPECT_EQ(parseRetryAfter(H{{"Retry-After", "Wed, 21 Oct 2015"}}, 0), -1);
}

TEST(TargetFailure, WhatCountsAgainstATarget) {
  EXPECT_TRUE(isTargetFailure(status(500)));
  EXPECT_TRUE(isTargetFailure(status(503)));
  EXPECT_TRUE(isTargetFailure(status(429)));
  EXPECT_TRUE(isTargetFailure(of(Kind::Connection)));
  EXPECT_TRUE(isTargetFailure(of(Kind::Timeout)));
  EXPECT_FALSE(isTargetFailure(status(400)));
  EXPECT_FALSE(isTargetFailure(status(401)));
  EXPECT_FALSE(isTargetFailure(status(404)));
  EXPECT_FALSE(isTargetFailure(status(200)));
  EXPECT_FALSE(isTargetFailure(of(Kind::TtftTimeout)));  // the client's deadline
  EXPECT_FALSE(isTargetFailure(of(Kind::Unsendable)));
  // Neither of those two says anything about the target, a 400 does (it is up).
  EXPECT_FALSE(judgesTarget(of(Kind::TtftTimeout)));
  EXPECT_FALSE(judgesTarget(of(Kind::Unsendable)));
  EXPECT_TRUE(judgesTarget(status(400)));
  EXPECT_TRUE(judgesTarget(of(Kind::Timeout)));
}

}  // namespace
}  // namespace sluice::pipeline
