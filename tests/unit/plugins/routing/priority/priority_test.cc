// Strategy `priority`: lowest number first, manifest order among equals, a
// target over its SLA cutoff behind the healthy ones until it recovers, and
// unhealthy targets last.
#include <gtest/gtest.h>

#include "support/fake_host.h"
#include "support/routing_stats.h"

namespace sluice::testing {
namespace {

class Priority : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(strategy_.created()); }
  FakeHost host_;
  StrategyInstance strategy_{host_.table()};
  void* instance_ = strategy_.get();
};

TEST_F(Priority, LowestNumberFirstManifestOrderAmongEquals) {
  Candidates c;
  c.add("a").priority = 2;
  c.add("b").priority = 0;
  c.add("c").priority = 1;
  c.add("d").priority = 0;
  c.add("e").priority = -5;
  EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{4, 1, 3, 2, 0}));
}

TEST_F(Priority, OverItsSlaCutoffATargetGoesBehindTheHealthyOnes) {
  Candidates c;
  sluice_target_stats& a = c.add("a");
  a.priority = 0;
  a.sla_tpot_ms = 50;
  c.add("b").priority = 1;
  c.add("c").priority = 2;
  // Mean TPOT over the SLA window: 80 ms over 4 samples.
  c.stats[0].tpot_ms_3m = 80;
  c.stats[0].tpot_samples_3m = 4;
  EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{1, 2, 0}));
  // Back under the cutoff (or exactly on it): healthy again.
  c.stats[0].tpot_ms_3m = 50;
  EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{0, 1, 2}));
  // No recent samples: nothing to hold against it.
  c.stats[0].tpot_ms_3m = 0;
  c.stats[0].tpot_samples_3m = 0;
  EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{0, 1, 2}));
  // Without a cutoff, slowness is no reason.
  c.stats[1].tpot_ms_3m = 900;
  c.stats[1].tpot_samples_3m = 9;
  EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{0, 1, 2}));
}

TEST_F(Priority, UnhealthyLastEvenBehindSlaViolators) {
  Candidates c;
  c.add("broken").healthy = 0;
  sluice_target_stats& slow = c.add("slow");
  slow.priority = 1;
  slow.sla_tpot_ms = 10;
  slow.tpot_ms_3m = 20;
  slow.tpot_samples_3m = 1;
  c.add("ok").priority = 2;
  EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{2, 1, 0}));
}

TEST_F(Priority, AHostWithout11FieldsHasNoSla) {
  Candidates c;
  sluice_target_stats& a = c.add("a");
  a.sla_tpot_ms = 10;
  a.tpot_ms_3m = 99;
  a.tpot_samples_3m = 5;
  c.add("b").priority = 1;
  // A 1.0 host's stats end before sla_tpot_ms; whatever lies there is not read.
  for (auto& s : c.stats) s.struct_size = offsetof(sluice_target_stats, sla_tpot_ms);
  // (The array keeps its 1.1 stride here; only struct_size tells the plugin.)
  EXPECT_EQ(orderOnce(instance_, c), (std::vector<uint32_t>{0, 1}));
}

}  // namespace
}  // namespace sluice::testing
