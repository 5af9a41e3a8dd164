// The shipped strategy plugins (loaded from the build's plugins/ like
// `sluice serve` does) over the kernel's live target stats, on a fake clock:
// the priority SLA cutoff marks a slow target and restores it, the latency
// strategy moves traffic to the faster target, weighted routing steps around
// an open breaker.
#include <gtest/gtest.h>

#include "plugins/registry.h"
#include "route_fixture.h"

namespace sluice::pipeline {
namespace {

constexpr uint64_t kT0 = 50000000;

class Strategies : public ::testing::Test {
 protected:
  Strategies() : registry_({std::string(SLUICE_BINARY_DIR) + "/plugins"}) {
    fx_.model("a");
    fx_.model("b");
  }

  void build() {
    std::vector<std::string> errors;
    for (const auto& m : fx_.config.providers[0].models) {
      ModelEntry e;
      e.id = "p/" + m.name;
      e.config = &m;
      e.provider = &fx_.provider;
      fx_.models[e.id] = e;
    }
    router_ = Router::build(
        fx_.config,
        [this](std::string_view id) -> const ModelEntry* {
          auto it = fx_.models.find(std::string(id));
          return it == fx_.models.end() ? nullptr : &it->second;
        },
        [this](const std::string& name, uint16_t* minor, std::string* why) {
          const plugins::Plugin* p = registry_.find(SLUICE_KIND_ROUTING, name, why);
          if (!p) return static_cast<const sluice_routing_vtable*>(nullptr);
          *minor = p->descriptor->abi_minor;
          return static_cast<const sluice_routing_vtable*>(p->vtable());
        },
        &fx_.stats, &errors);
    ASSERT_TRUE(router_) << ::testing::PrintToString(errors);
  }

  uint32_t first(uint64_t now) {
    TargetOrder o;
    router_->routes()[0]->order("", now, &o);
    EXPECT_GT(o.count, 0u);
    return o.index[0];
  }

  void answered(const std::string& target, uint64_t now, double tpot) {
    testing::recordAnswer(*fx_.stats.get(target), now, tpot);
  }

  plugins::Registry registry_;
  testing::RouteFixture fx_;
  std::unique_ptr<Router> router_;
};

TEST_F(Strategies, PrioritySlaCutoffMarksAndRestores) {
  auto& r = fx_.rule("r", "priority", {"p/a", "p/b"});
  r.strategy_config_json = "{}";
  r.targets[0].sla_tpot_ms = 50;
  r.targets[1].priority = 1;
  build();
  EXPECT_EQ(first(kT0), 0u);
  answered("p/a", kT0, 40);
  EXPECT_EQ(first(kT0), 0u);  // 40 ms: within the cutoff
  answered("p/a", kT0 + 1000, 90);
  answered("p/a", kT0 + 2000, 90);
  EXPECT_EQ(first(kT0 + 2000), 1u);  // mean 73 ms over 3 minutes: marked
  // No traffic reaches it while marked; 3 minutes (and a bucket) after its
  // last sample its window is empty and it is tried again.
  EXPECT_EQ(first(kT0 + 2000 + 170000), 1u);
  EXPECT_EQ(first(kT0 + 2000 + 185000), 0u);
  // It recovered: fast samples keep it first.
  answered("p/a", kT0 + 190000, 20);
  EXPECT_EQ(first(kT0 + 190000), 0u);
}

TEST_F(Strategies, PrioritySlaWindowIsPerTarget) {
  auto& r = fx_.rule("r", "priority", {"p/a", "p/b"});
  r.strategy_config_json = "{}";
  r.targets[0].sla_tpot_ms = 50;
  r.targets[0].sla_window_seconds = 10;
  r.targets[1].priority = 1;
  build();
  answered("p/a", kT0, 500);
  EXPECT_EQ(first(kT0), 1u);
  EXPECT_EQ(first(kT0 + 15000), 0u);  // ten seconds on, the slow sample is out of its window
}

TEST_F(Strategies, LatencyMovesTrafficToTheFasterTarget) {
  auto& r = fx_.rule("r", "latency", {"p/a", "p/b"});
  r.strategy_config_json = R"({"equal_within":1.2,"min_samples":3})";
  build();
  // Unmeasured: both lead now and then.
  int a_leads = 0;
  for (int i = 0; i < 400; i++) a_leads += first(kT0) == 0 ? 1 : 0;
  EXPECT_GT(a_leads, 100);
  EXPECT_LT(a_leads, 300);
  for (int i = 0; i < 3; i++) {
    answered("p/a", kT0 + i, 60);
    answered("p/b", kT0 + i, 15);
  }
  for (int i = 0; i < 200; i++) EXPECT_EQ(first(kT0 + 10), 1u);
  // b slows down to a's pace: they share again.
  for (int i = 0; i < 30; i++) answered("p/b", kT0 + 20, 70);
  a_leads = 0;
  for (int i = 0; i < 400; i++) a_leads += first(kT0 + 20) == 0 ? 1 : 0;
  EXPECT_GT(a_leads, 100);
  EXPECT_LT(a_leads, 300);
  // Twenty minutes later nothing is measured any more.
  EXPECT_EQ(fx_.stats.get("p/b")->view(kT0 + kLongWindowMs + 10000, 180000).tpot_samples, 0u);
}

TEST_F(Strategies, WeightedStepsAroundAnOpenBreaker) {
  auto& r = fx_.rule("r", "weighted", {"p/a", "p/b"});
  r.strategy_config_json = "{}";
  r.targets[0].weight = 99;
  r.targets[1].weight = 1;
  build();
  testing::recordFailures(*fx_.stats.get("p/a"), kT0, 2);
  for (int i = 0; i < 100; i++) EXPECT_EQ(first(kT0 + 1000), 1u);
}

}  // namespace
}  // namespace sluice::pipeline
