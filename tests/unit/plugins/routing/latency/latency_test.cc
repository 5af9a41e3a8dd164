// Strategy `latency`: the lowest recent TPOT first, targets within
// equal_within of it (and unmeasured ones) sharing the lead, the rest by
// TPOT, unhealthy last; its config keys.
#include <gtest/gtest.h>

#include <map>

#include "support/fake_host.h"
#include "support/routing_stats.h"

namespace sluice::testing {
namespace {

constexpr double kChi2Df1 = 23.93;  // p = 1e-6, see weighted_test.cc
constexpr double kChi2Df2 = 27.63;

class Latency : public ::testing::Test {
 protected:
  void create(const char* config) {
    strategy_.reset(host_.table(), config);
    ASSERT_TRUE(strategy_.created());
    instance_ = strategy_.get();
  }
  void SetUp() override { create("{\"equal_within\":1.2,\"min_samples\":3}"); }

  static sluice_target_stats& measured(Candidates& c, const std::string& name, double tpot,
                                       uint32_t samples = 10) {
    sluice_target_stats& s = c.add(name);
    s.tpot_ms = tpot;
    s.tpot_samples = samples;
    return s;
  }
  // How often each target leads over `n` calls.
  std::vector<double> leads(const Candidates& c, int n = 6000) {
    std::vector<double> out(c.stats.size(), 0);
    for (int i = 0; i < n; i++) out[orderOnce(instance_, c)[0]]++;
    return out;
  }

  FakeHost host_;
  StrategyInstance strategy_{host_.table()};
  void* instance_ = nullptr;
};

TEST_F(Latency, DescriptorDeclaresItsKeys) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_STREQ(d->name, "latency");
  ASSERT_NE(d->config, nullptr);
  EXPECT_STREQ(d->config[0].name, "equal_within");
  EXPECT_STREQ(d->config[0].default_json, "1.2");
  EXPECT_STREQ(d->config[1].name, "min_samples");
  EXPECT_STREQ(d->config[1].default_json, "3");
  EXPECT_EQ(d->config[2].name, nullptr);
}

TEST_F(Latency, TheFastestLeadsAndTheRestFollowByTpot) {
  Candidates c;
  measured(c, "slow", 80);
  measured(c, "fast", 10);
  measured(c, "middle", 30);
  for (int i = 0; i < 200; i++) {
    EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{1, 2, 0}));
  }
}

TEST_F(Latency, WithinTheFactorTheyShareTheTraffic) {
  Candidates c;
  measured(c, "a", 10);
  measured(c, "b", 11.9);  // < 1.2 x 10
  measured(c, "c", 12.1);  // > 1.2 x 10
  std::vector<double> l = leads(c);
  EXPECT_EQ(l[2], 0);
  EXPECT_LT(chiSquare({l[0], l[1]}, {0.5, 0.5}), kChi2Df1);
  for (int i = 0; i < 100; i++) EXPECT_EQ(orderOnce(instance_, c)[2], 2u);
}

TEST_F(Latency, UnmeasuredTargetsGetTrafficUntilMeasured) {
  Candidates c;
  measured(c, "fast", 10);
  measured(c, "new", 500, 2);  // two samples, slow ones: not enough to judge
  measured(c, "slow", 50);
  std::vector<double> l = leads(c);
  EXPECT_EQ(l[2], 0);
  EXPECT_LT(chiSquare({l[0], l[1]}, {0.5, 0.5}), kChi2Df1);
  // Once it has min_samples it is judged: far slower, it leads no more.
  c.stats[1].tpot_samples = 3;
  for (int i = 0; i < 100; i++)
    EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{0, 2, 1}));
}

TEST_F(Latency, NothingMeasuredSharesEvenly) {
  Candidates c;
  c.add("a");
  c.add("b");
  c.add("c");
  std::vector<double> l = leads(c);
  EXPECT_LT(chiSquare(l, {1.0 / 3, 1.0 / 3, 1.0 / 3}), kChi2Df2);
}

TEST_F(Latency, UnhealthyTargetsGoLastEvenWhenFastest) {
  Candidates c;
  measured(c, "broken", 1).healthy = 0;
  measured(c, "ok", 40);
  measured(c, "slower", 90);
  for (int i = 0; i < 50; i++) EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{1, 2, 0}));
}

TEST_F(Latency, ConfigKeysChangeTheGroup) {
  Candidates c;
  measured(c, "a", 10);
  measured(c, "b", 25, 1);
  create("{\"equal_within\":3,\"min_samples\":1}");  // b is measured, and within 3x
  std::vector<double> l = leads(c, 2000);
  EXPECT_GT(l[0], 700);
  EXPECT_GT(l[1], 700);
  create("{\"equal_within\":2,\"min_samples\":1}");  // b is 2.5x: behind
  for (int i = 0; i < 50; i++) EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{0, 1}));
}

TEST_F(Latency, AStickyKeyKeepsItsLead) {
  Candidates c;
  measured(c, "a", 10);
  measured(c, "b", 10);
  std::vector<uint32_t> first = orderOnce(instance_, c, "session");
  for (int i = 0; i < 50; i++) EXPECT_EQ(orderOnce(instance_, c, "session"), first);
}

}  // namespace
}  // namespace sluice::testing
