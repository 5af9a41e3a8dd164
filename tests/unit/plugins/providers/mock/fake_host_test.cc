// The recording fake host itself: the mock's timing tests rely on it.
#include "support/fake_host.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::testing {
namespace {

TEST(FakeHost, TimersFireInDeadlineOrderOnlyWhenTheClockMoves) {
  FakeHost host;
  const sluice_host* h = host.table();
  std::vector<int> fired;
  struct Ctx {
    std::vector<int>* fired;
    int id;
  } a{&fired, 1}, b{&fired, 2}, c{&fired, 3};
  auto cb = [](void* user) {
    auto* ctx = static_cast<Ctx*>(user);
    ctx->fired->push_back(ctx->id);
  };
  h->timer_start(nullptr, 30, cb, &a);
  h->timer_start(nullptr, 10, cb, &b);
  sluice_timer* tc = h->timer_start(nullptr, 20, cb, &c);
  EXPECT_TRUE(fired.empty());
  h->timer_cancel(tc);
  host.advance(15);
  EXPECT_EQ(fired, std::vector<int>{2});
  host.advance(15);
  EXPECT_EQ(fired, (std::vector<int>{2, 1}));
  EXPECT_EQ(host.pendingTimers(), 0u);
  EXPECT_EQ(host.late_timer_cancels, 0);
  h->timer_cancel(reinterpret_cast<sluice_timer*>(host.timers()[0].get()));
  EXPECT_EQ(host.late_timer_cancels, 1);
}

struct Chain {
  FakeHost* host;
  int left;
  std::vector<uint64_t> at;
};

// Records the time and re-arms itself 10 ms later until `left` runs out.
void chainStep(void* user) {
  auto* c = static_cast<Chain*>(user);
  c->at.push_back(c->host->now());
  if (--c->left > 0) c->host->table()->timer_start(nullptr, 10, chainStep, c);
}

TEST(FakeHost, TimersStartedByCallbacksFireWithinTheSameAdvance) {
  FakeHost host;
  Chain chain{&host, 3, {}};
  uint64_t t0 = host.now();
  host.table()->timer_start(nullptr, 5, chainStep, &chain);
  host.advance(20);
  EXPECT_EQ(chain.at, (std::vector<uint64_t>{t0 + 5, t0 + 15}));
  EXPECT_EQ(host.now(), t0 + 20);
  host.advance(20);
  EXPECT_EQ(chain.at, (std::vector<uint64_t>{t0 + 5, t0 + 15, t0 + 25}));
  EXPECT_EQ(host.pendingTimers(), 0u);
}

TEST(FakeHost, RecordsLogsMetricsAndHttpCalls) {
  FakeHost host;
  const sluice_host* h = host.table();
  h->log(SLUICE_LOG_INFO, "p", "hello");
  h->metric_add("requests", 1);
  h->metric_add("requests", 2);
  h->metric_observe("latency", 0.5);
  host.secrets["env:KEY"] = "v";
  EXPECT_STREQ(h->secret("env:KEY"), "v");
  EXPECT_EQ(h->secret("env:NONE"), nullptr);
  EXPECT_TRUE(host.logged("hello"));
  EXPECT_EQ(host.counters["requests"], 3);
  ASSERT_EQ(host.observations.size(), 1u);

  sluice_header hdr{{"X-A", 3}, {"1", 1}};
  sluice_http_request req{sizeof(req), {"POST", 4}, {"http://x/y", 10}, &hdr, 1, {"{}", 2}, 100};
  int status = 0;
  std::string body;
  struct Out {
    int* status;
    std::string* body;
  } out{&status, &body};
  h->http_request(
      nullptr, &req,
      [](void* user, const sluice_http_response* res) {
        auto* o = static_cast<Out*>(user);
        *o->status = res->status;
        *o->body = toString(res->body);
      },
      &out);
  ASSERT_EQ(host.http_calls.size(), 1u);
  EXPECT_EQ(host.http_calls[0].url, "http://x/y");
  EXPECT_EQ(host.http_calls[0].headers[0].first, "X-A");
  host.respond(0, 201, "ok");
  EXPECT_EQ(status, 201);
  EXPECT_EQ(body, "ok");
  host.respond(0, 500, "again");  // answered once only
  EXPECT_EQ(status, 201);
}

}  // namespace
}  // namespace sluice::testing
