// Strategy `weighted`: traffic in proportion to the weights (chi-square),
// fallbacks drawn the same way, weight 0 and unhealthy targets last, and a
// sticky key that always draws the same order.
#include <gtest/gtest.h>

#include <map>

#include "support/fake_host.h"
#include "support/routing_stats.h"

namespace sluice::testing {
namespace {

// Chi-square critical values at p = 1e-6: a correct strategy fails these
// bounds about once in a million runs, while a skew of a few percent of
// 20,000 draws exceeds them many times over.
constexpr double kChi2Df1 = 23.93;
constexpr double kChi2Df2 = 27.63;

class Weighted : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(strategy_.created()); }
  FakeHost host_;
  StrategyInstance strategy_{host_.table()};
  void* instance_ = strategy_.get();
};

TEST_F(Weighted, Descriptor) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_EQ(d->kind, SLUICE_KIND_ROUTING);
  EXPECT_STREQ(d->name, "weighted");
  EXPECT_EQ(d->abi_minor, SLUICE_ABI_MINOR);
  EXPECT_EQ(d->config, nullptr);  // weights live on the targets
}

TEST_F(Weighted, FirstChoiceFollowsTheWeights) {
  Candidates c;
  c.add("a").weight = 70;
  c.add("b").weight = 20;
  c.add("c").weight = 10;
  constexpr int kDraws = 20000;
  std::vector<double> first(3, 0);
  std::vector<double> second_after_a(2, 0);  // b, c
  for (int i = 0; i < kDraws; i++) {
    std::vector<uint32_t> o = orderOnce(instance_, c);
    ASSERT_EQ(o.size(), 3u);
    first[o[0]]++;
    if (o[0] == 0) second_after_a[o[1] - 1]++;
  }
  EXPECT_LT(chiSquare(first, {0.7, 0.2, 0.1}), kChi2Df2)
      << first[0] << " " << first[1] << " " << first[2];
  // The fallback after a is drawn from b and c by their weights: 2 to 1.
  EXPECT_LT(chiSquare(second_after_a, {2.0 / 3, 1.0 / 3}), kChi2Df1);
}

TEST_F(Weighted, ZeroWeightIsOnlyAFallbackAndUnhealthyGoesLast) {
  Candidates c;
  c.add("down").weight = 50;
  c.stats.back().healthy = 0;
  c.add("zero").weight = 0;
  c.add("a").weight = 1;
  c.add("b").weight = 1;
  std::map<uint32_t, int> leads;
  for (int i = 0; i < 2000; i++) {
    std::vector<uint32_t> o = orderOnce(instance_, c);
    ASSERT_EQ(o.size(), 4u);
    leads[o[0]]++;
    EXPECT_EQ(o[2], 1u);  // weight 0 after the weighted ones
    EXPECT_EQ(o[3], 0u);  // the unhealthy one last, whatever its weight
  }
  EXPECT_EQ(leads.count(0), 0u);
  EXPECT_EQ(leads.count(1), 0u);
  EXPECT_GT(leads[2], 800);
  EXPECT_GT(leads[3], 800);
}

TEST_F(Weighted, AllWeightsZeroKeepsManifestOrder) {
  Candidates c;
  c.add("a").weight = 0;
  c.add("b").weight = 0;
  EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{0, 1}));
  Candidates none;
  EXPECT_EQ(orderOnce(instance_, none), (std::vector<uint32_t>{}));
}

TEST_F(Weighted, AStickyKeyAlwaysDrawsTheSameOrder) {
  Candidates c;
  c.add("a").weight = 50;
  c.add("b").weight = 30;
  c.add("c").weight = 20;
  std::vector<uint32_t> first = orderOnce(instance_, c, "session-42");
  for (int i = 0; i < 100; i++) EXPECT_EQ(orderOnce(instance_, c, "session-42"), first);
  // Across many sessions the weights still hold.
  std::vector<double> leads(3, 0);
  for (int s = 0; s < 20000; s++) leads[orderOnce(instance_, c, "s" + std::to_string(s))[0]]++;
  EXPECT_LT(chiSquare(leads, {0.5, 0.3, 0.2}), kChi2Df2);
}

}  // namespace
}  // namespace sluice::testing
