// The behaviour every counter store must share, run against the memory store
// and against a Redis store talking to a real redis-server.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "governance/memory_store.h"
#include "governance/redis_store.h"
#include "support/redis_server.h"
#include "support/uv_test_loop.h"

namespace sluice::governance {
namespace {

using Status = ReserveResult::Status;
using testing::RedisServer;
using testing::UvTestLoop;

// A store under test, with the loop it answers on and a way to let time pass.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual CounterStore& store() = 0;
  UvTestLoop& loop() { return loop_; }
  // Lets `ms` pass for expiry: the memory store's clock jumps, Redis waits.
  virtual void passTime(uint64_t ms) = 0;

 protected:
  UvTestLoop loop_;
};

class MemoryBackend : public Backend {
 public:
  MemoryBackend()
      : counters_(std::make_shared<MemoryCounters>([this] { return now_ms_; })),
        store_(makeMemoryStore(counters_)) {}
  CounterStore& store() override { return *store_; }
  void passTime(uint64_t ms) override { now_ms_ += static_cast<int64_t>(ms); }

 private:
  int64_t now_ms_ = 1'000'000;
  std::shared_ptr<MemoryCounters> counters_;
  std::unique_ptr<CounterStore> store_;
};

RedisServer& sharedRedis() {
  static RedisServer server;
  if (!server.running()) {
    std::string error;
    EXPECT_TRUE(server.start(&error)) << error;
  }
  return server;
}

class RedisBackend : public Backend {
 public:
  RedisBackend() {
    RedisServer& server = sharedRedis();
    EXPECT_EQ(server.command({"FLUSHALL"}), "OK");
    RedisOptions options;
    options.url = server.url();
    options.timeout_ms = 5000;  // slow sanitizer builds must not time out
    store_ = std::make_unique<RedisStore>(loop_.get(), options);
    EXPECT_TRUE(loop_.runUntil([this] { return store_->connected(); }));
  }
  ~RedisBackend() override {
    store_->close();
    EXPECT_EQ(loop_.close(), 0);
  }
  CounterStore& store() override { return *store_; }
  void passTime(uint64_t ms) override {
    loop_.runUntil([] { return false; }, ms);  // the loop's own timer, not a sleep
  }

 private:
  std::unique_ptr<RedisStore> store_;
};

using BackendFactory = std::function<std::unique_ptr<Backend>()>;

class CounterStoreContract : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override { backend_ = GetParam()(); }

  CounterStore& store() { return backend_->store(); }

  ReserveResult reserve(std::vector<CounterCheck> checks) {
    std::optional<ReserveResult> result;
    int calls = 0;
    store().reserve(std::move(checks), [&](const ReserveResult& r) {
      result = r;
      ++calls;
    });
    EXPECT_TRUE(backend_->loop().runUntil([&] { return result.has_value(); }));
    EXPECT_EQ(calls, 1);
    if (!result) return ReserveResult{Status::Unavailable, -1, {}};
    return *result;
  }

  std::vector<int64_t> adjust(std::vector<CounterDelta> deltas) {
    std::optional<std::vector<int64_t>> values;
    store().adjust(std::move(deltas), [&](const std::vector<int64_t>& v) { values = v; });
    EXPECT_TRUE(backend_->loop().runUntil([&] { return values.has_value(); }));
    return values.value_or(std::vector<int64_t>{});
  }

  std::vector<int64_t> read(std::vector<std::string> keys) {
    std::optional<std::vector<int64_t>> values;
    store().read(std::move(keys), [&](const std::vector<int64_t>& v) { values = v; });
    EXPECT_TRUE(backend_->loop().runUntil([&] { return values.has_value(); }));
    return values.value_or(std::vector<int64_t>{});
  }

  bool claimOnce(const std::string& key, uint32_t ttl_s) {
    std::optional<bool> first;
    store().claimOnce(key, ttl_s, [&](bool f) { first = f; });
    EXPECT_TRUE(backend_->loop().runUntil([&] { return first.has_value(); }));
    return first.value_or(false);
  }

  // Lets time pass in steps until `key` reads 0; false after `max_ms`.
  bool expiresWithin(const std::string& key, uint64_t max_ms) {
    for (uint64_t waited = 0; waited <= max_ms; waited += 100) {
      if (read({key}) == std::vector<int64_t>{0}) return true;
      backend_->passTime(100);
    }
    return false;
  }

  static CounterCheck check(std::string_view key, int64_t limit, int64_t amount) {
    CounterCheck c;
    c.key = key;  // a view: the caller keeps the key alive
    c.limit = limit;
    c.amount = amount;
    return c;
  }

  std::unique_ptr<Backend> backend_;
};

TEST_P(CounterStoreContract, AdmitsUpToTheLimitThenRefuses) {
  for (int64_t i = 0; i < 3; ++i) {
    ReserveResult r = reserve({check("rpm", 3, 1)});
    EXPECT_EQ(r.status, Status::Admitted) << "request " << i;
    EXPECT_EQ(r.refused, -1);
    EXPECT_EQ(r.before, std::vector<int64_t>{i});
  }
  ReserveResult r = reserve({check("rpm", 3, 1)});
  EXPECT_EQ(r.status, Status::Refused);
  EXPECT_EQ(r.refused, 0);
  EXPECT_EQ(r.before, std::vector<int64_t>{3});
  EXPECT_EQ(read({"rpm"}), std::vector<int64_t>{3});
}

TEST_P(CounterStoreContract, AmountMustFitBelowTheLimit) {
  EXPECT_EQ(reserve({check("tokens", 10, 4)}).status, Status::Admitted);
  EXPECT_EQ(reserve({check("tokens", 10, 4)}).status, Status::Admitted);
  ReserveResult r = reserve({check("tokens", 10, 4)});
  EXPECT_EQ(r.status, Status::Refused);
  EXPECT_EQ(r.before, std::vector<int64_t>{8});
  EXPECT_EQ(reserve({check("tokens", 10, 2)}).status, Status::Admitted);  // exactly 10
  EXPECT_EQ(read({"tokens"}), std::vector<int64_t>{10});
}

TEST_P(CounterStoreContract, OneFailingCheckAddsNothingAnywhere) {
  adjust({{"b", 5, 0}, {"c", 9, 0}});
  ReserveResult r = reserve({check("a", 100, 1), check("b", 5, 1), check("c", 9, 1)});
  EXPECT_EQ(r.status, Status::Refused);
  EXPECT_EQ(r.refused, 1) << "the first enforced check over its limit";
  EXPECT_EQ(r.before, (std::vector<int64_t>{0, 5, 9}));
  EXPECT_EQ(read({"a", "b", "c"}), (std::vector<int64_t>{0, 5, 9}));

  r = reserve({check("a", 100, 1), check("b", 6, 1), check("c", 10, 1)});
  EXPECT_EQ(r.status, Status::Admitted);
  EXPECT_EQ(read({"a", "b", "c"}), (std::vector<int64_t>{1, 6, 10}));
}

TEST_P(CounterStoreContract, UnenforcedChecksAddPastTheLimit) {
  CounterCheck audit = check("audit", 1, 5);
  audit.enforce = false;
  EXPECT_EQ(reserve({audit}).status, Status::Admitted);
  ReserveResult r = reserve({audit});
  EXPECT_EQ(r.status, Status::Admitted);
  EXPECT_EQ(r.before, std::vector<int64_t>{5});
  EXPECT_EQ(read({"audit"}), std::vector<int64_t>{10});

  // ...but still only when every enforced check passes.
  r = reserve({audit, check("hard", 0, 1)});
  EXPECT_EQ(r.status, Status::Refused);
  EXPECT_EQ(r.refused, 1);
  EXPECT_EQ(read({"audit", "hard"}), (std::vector<int64_t>{10, 0}));
}

TEST_P(CounterStoreContract, OtherKeyCountsByItsWeight) {
  adjust({{"prev", 101, 0}});
  CounterCheck c = check("cur", 60, 10);
  c.other_key = "prev";
  c.other_weight_ppm = 500'000;  // half of the previous window: floor(50.5) = 50
  ReserveResult r = reserve({c});
  EXPECT_EQ(r.status, Status::Admitted);
  EXPECT_EQ(r.before, std::vector<int64_t>{50});
  r = reserve({c});
  EXPECT_EQ(r.status, Status::Refused);
  EXPECT_EQ(r.before, std::vector<int64_t>{60});
  EXPECT_EQ(read({"cur", "prev"}), (std::vector<int64_t>{10, 101})) << "other_key is only read";

  c.other_weight_ppm = 1'000'000;  // a budget: settled spend counts in full
  c.limit = 1000;
  r = reserve({c});
  EXPECT_EQ(r.before, std::vector<int64_t>{111});
}

TEST_P(CounterStoreContract, AdjustReturnsTheNewValues) {
  EXPECT_EQ(adjust({{"a", 5, 0}, {"b", 7, 0}, {"a", 1, 0}}), (std::vector<int64_t>{5, 7, 6}));
  EXPECT_EQ(adjust({{"a", -2, 0}}), std::vector<int64_t>{4});
  EXPECT_EQ(adjust({{"fresh", -3, 0}}), std::vector<int64_t>{-3});
  EXPECT_EQ(read({"a", "b", "fresh"}), (std::vector<int64_t>{4, 7, -3}));
}

TEST_P(CounterStoreContract, MissingKeysReadAsZero) {
  adjust({{"present", 42, 0}});
  EXPECT_EQ(read({"missing", "present", "also-missing"}), (std::vector<int64_t>{0, 42, 0}));
}

TEST_P(CounterStoreContract, ClaimOnceIsTrueForTheFirstCallerOnly) {
  EXPECT_TRUE(claimOnce("alert:80%", 60));
  EXPECT_FALSE(claimOnce("alert:80%", 60));
  EXPECT_FALSE(claimOnce("alert:80%", 60));
  EXPECT_TRUE(claimOnce("alert:100%", 60));
}

TEST_P(CounterStoreContract, CountersExpireAfterTheirTtl) {
  CounterCheck c = check("window", 10, 3);
  c.ttl_s = 1;
  EXPECT_EQ(reserve({c}).status, Status::Admitted);
  EXPECT_EQ(read({"window"}), std::vector<int64_t>{3});
  EXPECT_TRUE(expiresWithin("window", 3000));
  ReserveResult r = reserve({c});
  EXPECT_EQ(r.status, Status::Admitted);
  EXPECT_EQ(r.before, std::vector<int64_t>{0}) << "a fresh window";
}

// Expiry is set when a key is made; touching it again must not lose it.
TEST_P(CounterStoreContract, ACounterTouchedAgainStillExpires) {
  CounterCheck c = check("touched", 10, 3);
  c.ttl_s = 1;
  EXPECT_EQ(reserve({c}).status, Status::Admitted);
  ReserveResult again = reserve({c});
  EXPECT_EQ(again.status, Status::Admitted);
  EXPECT_EQ(again.before, std::vector<int64_t>{3});
  EXPECT_EQ(adjust({{"touched", -3, 1}}), std::vector<int64_t>{3});
  EXPECT_TRUE(expiresWithin("touched", 3000));
}

TEST_P(CounterStoreContract, AdjustAndClaimSetExpiry) {
  EXPECT_EQ(adjust({{"spent", 7, 1}}), std::vector<int64_t>{7});
  EXPECT_TRUE(claimOnce("once", 1));
  EXPECT_TRUE(expiresWithin("spent", 3000));
  EXPECT_TRUE(expiresWithin("once", 3000));
  EXPECT_TRUE(claimOnce("once", 1)) << "claimable again after expiry";
}

TEST_P(CounterStoreContract, KeysWithoutTtlDoNotExpire) {
  adjust({{"forever", 1, 0}});
  backend_->passTime(1500);
  EXPECT_EQ(read({"forever"}), std::vector<int64_t>{1});
}

INSTANTIATE_TEST_SUITE_P(
    Stores, CounterStoreContract,
    ::testing::Values(BackendFactory([] { return std::make_unique<MemoryBackend>(); }),
                      BackendFactory([] { return std::make_unique<RedisBackend>(); })),
    [](const ::testing::TestParamInfo<BackendFactory>& info) {
      return info.index == 0 ? "Memory" : "Redis";
    });

}  // namespace
}  // namespace sluice::governance
