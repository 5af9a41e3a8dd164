// The arguments of a batch script run: each key and check shape once.
#include "governance/redis_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::governance {
namespace {

std::string joined(const RespArgs& args) {
  std::string out;
  for (std::string_view v : args.views()) {
    if (!out.empty()) out += ' ';
    out += v;
  }
  return out;
}

CounterCheck check(std::string_view key, int64_t limit, int64_t amount, uint32_t ttl_s) {
  CounterCheck c;
  c.key = key;
  c.limit = limit;
  c.amount = amount;
  c.ttl_s = ttl_s;
  return c;
}

TEST(RedisBatch, SendsEachKeyAndShapeOnceAndAddsSettlementsUp) {
  RedisBatch batch;
  EXPECT_TRUE(batch.empty());
  CounterCheck budget = check("b:held", 500, 40, 90);
  budget.other_key = "b:spent";
  budget.other_weight_ppm = 1000000;
  batch.reserve({check("r", 10, 1, 60), budget}, nullptr);
  batch.settle({"b:spent", 7, 90});
  batch.reserve({check("r", 10, 1, 60), budget}, nullptr);
  batch.settle({"b:spent", 5, 90});
  batch.settle({"x", 3, 0});
  batch.settle({"x", -3, 0});  // adds up to nothing: not sent
  budget.amount = 25;
  batch.reserve({budget}, nullptr);
  EXPECT_FALSE(batch.empty());

  RedisBatch::Run run = batch.take();
  EXPECT_TRUE(batch.empty());
  EXPECT_EQ(run.group_sizes, (std::vector<size_t>{2, 2, 1}));
  EXPECT_EQ(run.dones.size(), 3u);
  EXPECT_EQ(joined(run.args),
            "4 r b:held b:spent x "  // keys
            "1 3 12 90 "             // settlements: key, delta, ttl
            "2 1 0 0 10 1 60 2 3 1000000 500 1 90 "  // shapes
            "2 1 1 2 40 2 1 1 2 40 1 2 25");          // reservations: n, (shape, amount)...

  // Taken: the next run starts from nothing.
  batch.settle({"y", 1, 0});
  EXPECT_EQ(joined(batch.take().args), "1 y 1 1 1 0 0");
}

}  // namespace
}  // namespace sluice::governance
