#include "governance/memory_store.h"

#include <algorithm>
#include <utility>

#include "util/clock.h"

namespace sluice::governance {

namespace {

// Below this many entries a shard never bothers to sweep.
constexpr size_t kMinSweepSize = 64;

int64_t monotonicMs() { return static_cast<int64_t>(util::monotonicNs() / 1000000); }

}  // namespace

int64_t weightedValue(int64_t value, uint32_t weight_ppm) {
  __int128 product = static_cast<__int128>(value) * weight_ppm;
  __int128 quotient = product / 1000000;
  if (product % 1000000 != 0 && product < 0) --quotient;  // floor, not truncation
  return static_cast<int64_t>(quotient);
}

// Holds the locks of every shard a call touches, taken in ascending order.
class MemoryCounters::ShardLocks {
 public:
  ShardLocks(MemoryCounters& counters, const std::vector<const std::string*>& keys) {
    std::vector<Shard*> shards;
    shards.reserve(keys.size());
    for (const std::string* key : keys) shards.push_back(&counters.shardOf(*key));
    std::sort(shards.begin(), shards.end());  // any fixed order avoids deadlock
    shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
    locks_.reserve(shards.size());
    for (Shard* shard : shards) locks_.emplace_back(shard->mutex);
  }

 private:
  std::vector<std::unique_lock<std::mutex>> locks_;
};

MemoryCounters::MemoryCounters(Clock now_ms, size_t shard_count)
    : now_ms_(now_ms ? std::move(now_ms) : Clock(monotonicMs)) {
  shards_.reserve(std::max<size_t>(shard_count, 1));
  for (size_t i = 0; i < std::max<size_t>(shard_count, 1); ++i) {
    shards_.push_back(std::make_unique<Shard>());
  }
}

MemoryCounters::Shard& MemoryCounters::shardOf(const std::string& key) {
  return *shards_[std::hash<std::string>{}(key) % shards_.size()];
}

bool MemoryCounters::expired(const Entry& e, int64_t now) const {
  return e.expires_at_ms != 0 && e.expires_at_ms <= now;
}

int64_t MemoryCounters::valueOf(const std::string& key, int64_t now) {
  const auto& entries = shardOf(key).entries;
  auto it = entries.find(key);
  if (it == entries.end() || expired(it->second, now)) return 0;
  return it->second.value;
}

MemoryCounters::Entry& MemoryCounters::liveEntry(const std::string& key, int64_t now) {
  Shard& shard = shardOf(key);
  auto [it, inserted] = shard.entries.try_emplace(key);
  if (!inserted && expired(it->second, now)) it->second = Entry{};
  // Erasing never moves other entries, so `it` stays valid.
  if (inserted) sweepIfGrown(shard, now);
  return it->second;
}

int64_t MemoryCounters::add(const std::string& key, int64_t delta, uint32_t ttl_s, int64_t now) {
  Entry& e = liveEntry(key, now);
  e.value += delta;
  if (ttl_s > 0) e.expires_at_ms = now + static_cast<int64_t>(ttl_s) * 1000;
  return e.value;
}

void MemoryCounters::sweepIfGrown(Shard& shard, int64_t now) {
  if (shard.entries.size() <= 2 * std::max(shard.size_at_sweep, kMinSweepSize)) return;
  std::erase_if(shard.entries, [&](const auto& kv) { return expired(kv.second, now); });
  shard.size_at_sweep = shard.entries.size();
}

ReserveResult MemoryCounters::reserve(const std::vector<CounterCheck>& checks) {
  std::vector<const std::string*> keys;
  for (const CounterCheck& c : checks) {
    keys.push_back(&c.key);
    if (!c.other_key.empty()) keys.push_back(&c.other_key);
  }
  ShardLocks locks(*this, keys);
  int64_t now = now_ms_();

  ReserveResult result;
  result.before.reserve(checks.size());
  for (size_t i = 0; i < checks.size(); ++i) {
    const CounterCheck& c = checks[i];
    int64_t before = valueOf(c.key, now);
    if (!c.other_key.empty() && c.other_weight_ppm > 0) {
      before += weightedValue(valueOf(c.other_key, now), c.other_weight_ppm);
    }
    result.before.push_back(before);
    if (result.refused < 0 && c.enforce && before + c.amount > c.limit) {
      result.refused = static_cast<int>(i);
    }
  }
  if (result.refused >= 0) {
    result.status = ReserveResult::Status::Refused;
    return result;
  }
  for (const CounterCheck& c : checks) add(c.key, c.amount, c.ttl_s, now);
  return result;
}

std::vector<int64_t> MemoryCounters::adjust(const std::vector<CounterDelta>& deltas) {
  std::vector<const std::string*> keys;
  for (const CounterDelta& d : deltas) keys.push_back(&d.key);
  ShardLocks locks(*this, keys);
  int64_t now = now_ms_();
  std::vector<int64_t> values;
  values.reserve(deltas.size());
  for (const CounterDelta& d : deltas) values.push_back(add(d.key, d.delta, d.ttl_s, now));
  return values;
}

std::vector<int64_t> MemoryCounters::read(const std::vector<std::string>& keys) {
  std::vector<int64_t> values;
  values.reserve(keys.size());
  for (const std::string& key : keys) {
    std::lock_guard lock(shardOf(key).mutex);
    values.push_back(valueOf(key, now_ms_()));
  }
  return values;
}

bool MemoryCounters::claimOnce(const std::string& key, uint32_t ttl_s) {
  std::lock_guard lock(shardOf(key).mutex);
  int64_t now = now_ms_();
  if (valueOf(key, now) != 0) return false;
  add(key, 1, ttl_s, now);
  return true;
}

size_t MemoryCounters::entryCount() const {
  size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mutex);
    n += shard->entries.size();
  }
  return n;
}

namespace {

class MemoryStore : public CounterStore {
 public:
  explicit MemoryStore(std::shared_ptr<MemoryCounters> counters) : counters_(std::move(counters)) {}

  void reserve(std::vector<CounterCheck> checks, ReserveDone done) override {
    ReserveResult result = counters_->reserve(checks);
    if (done) done(result);
  }
  void adjust(std::vector<CounterDelta> deltas, ValuesDone done) override {
    std::vector<int64_t> values = counters_->adjust(deltas);
    if (done) done(values);
  }
  void read(std::vector<std::string> keys, ValuesDone done) override {
    std::vector<int64_t> values = counters_->read(keys);
    if (done) done(values);
  }
  void claimOnce(std::string key, uint32_t ttl_s, ClaimDone done) override {
    bool first = counters_->claimOnce(key, ttl_s);
    if (done) done(first);
  }

 private:
  std::shared_ptr<MemoryCounters> counters_;
};

}  // namespace

std::unique_ptr<CounterStore> makeMemoryStore(std::shared_ptr<MemoryCounters> counters) {
  return std::make_unique<MemoryStore>(std::move(counters));
}

CounterStoreFactory memoryStoreFactory(std::shared_ptr<MemoryCounters> counters) {
  return [counters](uv_loop_t*) { return makeMemoryStore(counters); };
}

}  // namespace sluice::governance
