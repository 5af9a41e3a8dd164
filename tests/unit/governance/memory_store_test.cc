// The memory store beyond the shared contract: exact expiry on a fake clock,
// bounded memory, one table shared by every loop, and exactness under threads.
#include "governance/memory_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <thread>
#include <vector>

namespace sluice::governance {
namespace {

using Status = ReserveResult::Status;

CounterCheck check(std::string_view key, int64_t limit, int64_t amount, uint32_t ttl_s = 0) {
  CounterCheck c;
  c.key = key;  // a view: the caller keeps the key alive
  c.limit = limit;
  c.amount = amount;
  c.ttl_s = ttl_s;
  return c;
}

TEST(MemoryCounters, ExpiresExactlyAtTheTtl) {
  int64_t now = 5'000;
  MemoryCounters counters([&] { return now; });
  EXPECT_EQ(counters.reserve({check("k", 10, 4, 1)}).status, Status::Admitted);
  now += 999;
  EXPECT_EQ(counters.read({"k"}), std::vector<int64_t>{4});
  now += 1;
  EXPECT_EQ(counters.read({"k"}), std::vector<int64_t>{0});
  EXPECT_EQ(counters.adjust({{"k", 2, 0}}), std::vector<int64_t>{2}) << "restarts from zero";
}

TEST(MemoryCounters, EachWriteWithTtlPushesExpiryBack) {
  int64_t now = 0;
  MemoryCounters counters([&] { return now; });
  counters.adjust({{"k", 1, 1}});
  now += 800;
  counters.adjust({{"k", 1, 1}});
  now += 800;
  EXPECT_EQ(counters.read({"k"}), std::vector<int64_t>{2});
  counters.adjust({{"k", 1, 0}});  // ttl 0 keeps the expiry it has
  now += 200;
  EXPECT_EQ(counters.read({"k"}), std::vector<int64_t>{0});
}

TEST(MemoryCounters, SweepingKeepsExpiredEntriesBounded) {
  int64_t now = 0;
  MemoryCounters counters([&] { return now; }, /*shard_count=*/1);
  constexpr int kPerRound = 1000;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < kPerRound; ++i) {
      counters.adjust({{"r" + std::to_string(round) + ":" + std::to_string(i), 1, 1}});
    }
    now += 2000;  // every key of this round has expired
  }
  EXPECT_LE(counters.entryCount(), 2u * kPerRound + 200) << "10 rounds were written";
  counters.adjust({{"live", 3, 0}});
  EXPECT_EQ(counters.read({"live", "r9:1"}), (std::vector<int64_t>{3, 0}));
}

TEST(MemoryCounters, RefusedReservationsCreateNoEntries) {
  MemoryCounters counters;
  EXPECT_EQ(counters.reserve({check("a", 0, 1)}).status, Status::Refused);
  EXPECT_EQ(counters.entryCount(), 0u);
}

TEST(MemoryCounters, WeightIsExactForLargeAndNegativeValues) {
  EXPECT_EQ(weightedValue(101, 500'000), 50);
  EXPECT_EQ(weightedValue(-101, 500'000), -51) << "floor, not truncation";
  EXPECT_EQ(weightedValue(std::numeric_limits<int64_t>::max(), 1'000'000),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(weightedValue(9'000'000'000'000'001, 999'999), 8'999'991'000'000'000);
}

TEST(MemoryStore, HandlesShareOneTableAndAnswerBeforeReturning) {
  auto counters = std::make_shared<MemoryCounters>();
  CounterStoreFactory factory = memoryStoreFactory(counters);
  std::unique_ptr<CounterStore> a = factory(nullptr);
  std::unique_ptr<CounterStore> b = factory(nullptr);
  bool answered = false;
  a->reserve({check("shared", 1, 1)}, [&](const ReserveResult& r) {
    answered = true;
    EXPECT_EQ(r.status, Status::Admitted);
  });
  EXPECT_TRUE(answered);
  b->reserve({check("shared", 1, 1)}, [&](const ReserveResult& r) {
    EXPECT_EQ(r.status, Status::Refused);
    EXPECT_EQ(r.before, std::vector<int64_t>{1});
  });
  b->adjust({{"shared", -1, 0}}, nullptr);  // an empty callback is allowed
  std::vector<int64_t> values;
  a->read({"shared"}, [&](const std::vector<int64_t>& v) { values = v; });
  EXPECT_EQ(values, std::vector<int64_t>{0});
}

// Four threads race 1,000 reservations at a limit of 500. Each reservation
// also touches a per-thread key, listed first or last, so shards are locked
// in every combination.
TEST(MemoryStore, ConcurrentReservationsNeverOvershoot) {
  auto counters = std::make_shared<MemoryCounters>();
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::unique_ptr<CounterStore> store = makeMemoryStore(counters);
      std::string my_key = "thread" + std::to_string(t);
      for (int i = 0; i < 250; ++i) {
        CounterCheck global = check("global", 500, 1);
        CounterCheck mine = check(my_key, 1'000'000, 1);
        std::vector<CounterCheck> checks =
            i % 2 ? std::vector{global, mine} : std::vector{mine, global};
        store->reserve(checks, [&](const ReserveResult& r) {
          (r.status == Status::Admitted ? admitted : refused)++;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 500);
  EXPECT_EQ(refused.load(), 500);
  std::vector<int64_t> per_thread = counters->read({"thread0", "thread1", "thread2", "thread3"});
  int64_t sum = 0;
  for (int64_t v : per_thread) sum += v;
  EXPECT_EQ(counters->read({"global"}), std::vector<int64_t>{500});
  EXPECT_EQ(sum, 500) << "per-thread keys moved together with the global one";
}

}  // namespace
}  // namespace sluice::governance
