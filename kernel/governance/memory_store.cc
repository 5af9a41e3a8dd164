#include "governance/memory_store.h"

#include <algorithm>
#include <utility>

#include "util/clock.h"

namespace sluice::governance {

namespace {

// Below this many entries a shard never bothers to sweep.
constexpr size_t kMinSweepSize = 64;

int64_t monotonicMs() { return static_cast<int64_t>(util::monotonicNs() / 1000000); }

// A vector that stays on the stack up to kMaxInline elements: a request
// touches a handful of keys.
constexpr size_t kMaxInline = 16;
template <typename T>
struct SmallVec {
  T* begin() { return heap_.empty() ? reinterpret_cast<T*>(inline_) : heap_.data(); }
  T* end() { return begin() + n_; }
  const T* begin() const { return const_cast<SmallVec*>(this)->begin(); }
  const T* end() const { return begin() + n_; }
  void push(T v) {
    if (n_ < kMaxInline) {
      new (reinterpret_cast<T*>(inline_) + n_) T(v);
    } else {
      if (heap_.empty()) heap_.assign(begin(), end());
      heap_.push_back(v);
    }
    n_++;
  }
  alignas(T) unsigned char inline_[kMaxInline * sizeof(T)];
  std::vector<T> heap_;
  size_t n_ = 0;
};

}  // namespace

int64_t weightedValue(int64_t value, uint32_t weight_ppm) {
  if (weight_ppm == 1000000) return value;  // a budget's settled spend counts whole
  __int128 product = static_cast<__int128>(value) * weight_ppm;
  __int128 quotient = product / 1000000;
  if (product % 1000000 != 0 && product < 0) --quotient;  // floor, not truncation
  return static_cast<int64_t>(quotient);
}

// The keys of one call, hashed once, and the locks of their shards, taken in
// ascending order (any fixed order avoids deadlock); both live on the stack.
class MemoryCounters::ShardLocks {
 public:
  // `items`: checks (key, other_key) or deltas (key).
  template <typename Items>
  ShardLocks(MemoryCounters& counters, const Items& items) {
    for (const auto& item : items) {
      keys_.push(Key(item.key, item.key_hash));
      if constexpr (requires { item.other_key; }) {
        keys_.push(Key(item.other_key, item.other_key_hash));  // empty when none: never looked up
      }
    }
    for (const Key& k : keys_) {
      if (k.text.empty()) continue;
      Shard* s = &counters.shardOf(k);
      if (std::find(shards_.begin(), shards_.end(), s) == shards_.end()) shards_.push(s);
    }
    std::sort(shards_.begin(), shards_.end());
    for (Shard* s : shards_) s->mutex.lock();
  }
  ~ShardLocks() {
    for (Shard* s : shards_) s->mutex.unlock();
  }
  ShardLocks(const ShardLocks&) = delete;
  ShardLocks& operator=(const ShardLocks&) = delete;

  // The i-th key in the order given: for checks 2i is key, 2i + 1 other_key.
  const Key& key(size_t i) const { return keys_.begin()[i]; }

 private:
  SmallVec<Key> keys_;
  SmallVec<Shard*> shards_;
};

MemoryCounters::MemoryCounters(Clock now_ms, size_t shard_count)
    : now_ms_(now_ms ? std::move(now_ms) : Clock(monotonicMs)) {
  shards_.reserve(std::max<size_t>(shard_count, 1));
  for (size_t i = 0; i < std::max<size_t>(shard_count, 1); ++i) {
    shards_.push_back(std::make_unique<Shard>());
  }
}

bool MemoryCounters::expired(const Entry& e, int64_t now) const {
  return e.expires_at_ms != 0 && e.expires_at_ms <= now;
}

int64_t MemoryCounters::valueOf(const Key& key, int64_t now) {
  const Entry* e = findLive(key, now);
  return e ? e->value : 0;
}

MemoryCounters::Entry* MemoryCounters::findLive(const Key& key, int64_t now) {
  auto& entries = shardOf(key).entries;
  auto it = entries.find(key);
  if (it == entries.end() || expired(it->second, now)) return nullptr;
  return &it->second;
}

MemoryCounters::Entry& MemoryCounters::liveEntry(const Key& key, int64_t now) {
  Shard& shard = shardOf(key);
  auto it = shard.entries.find(key);
  if (it != shard.entries.end()) {
    if (expired(it->second, now)) it->second = Entry{};
    return it->second;
  }
  it = shard.entries.emplace(std::string(key.text), Entry{}).first;
  // Erasing never moves other entries, so `it` stays valid.
  sweepIfGrown(shard, now);
  return it->second;
}

int64_t MemoryCounters::add(const Key& key, int64_t delta, uint32_t ttl_s, int64_t now) {
  return addTo(liveEntry(key, now), delta, ttl_s, now);
}

int64_t MemoryCounters::addTo(Entry& e, int64_t delta, uint32_t ttl_s, int64_t now) {
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
  ReserveResult result;
  reserve(checks, &result);
  return result;
}

void MemoryCounters::reserve(const std::vector<CounterCheck>& checks, ReserveResult* out) {
  ShardLocks locks(*this, checks);
  int64_t now = now_ms_();

  ReserveResult& result = *out;
  result.status = ReserveResult::Status::Admitted;
  result.refused = -1;
  result.before.clear();
  result.before.reserve(checks.size());
  // Each check's live entry (null: none yet), found once for both passes:
  // a sweep only erases entries expired now, so these stay put.
  SmallVec<Entry*> found;
  for (size_t i = 0; i < checks.size(); ++i) {
    const CounterCheck& c = checks[i];
    Entry* e = findLive(locks.key(2 * i), now);
    found.push(e);
    int64_t before = e ? e->value : 0;
    if (!c.other_key.empty() && c.other_weight_ppm > 0) {
      before += weightedValue(valueOf(locks.key(2 * i + 1), now), c.other_weight_ppm);
    }
    result.before.push_back(before);
    if (result.refused < 0 && c.enforce && before + c.amount > c.limit) {
      result.refused = static_cast<int>(i);
    }
  }
  if (result.refused >= 0) {
    result.status = ReserveResult::Status::Refused;
    return;
  }
  for (size_t i = 0; i < checks.size(); ++i) {
    Entry* e = found.begin()[i];
    addTo(e ? *e : liveEntry(locks.key(2 * i), now), checks[i].amount, checks[i].ttl_s, now);
  }
}

void MemoryCounters::add(const std::vector<CounterDelta>& deltas) {
  ShardLocks locks(*this, deltas);
  int64_t now = now_ms_();
  for (size_t i = 0; i < deltas.size(); ++i) add(locks.key(i), deltas[i].delta, deltas[i].ttl_s, now);
}

std::vector<int64_t> MemoryCounters::adjust(const std::vector<CounterDelta>& deltas) {
  ShardLocks locks(*this, deltas);
  int64_t now = now_ms_();
  std::vector<int64_t> values;
  values.reserve(deltas.size());
  for (size_t i = 0; i < deltas.size(); ++i) {
    values.push_back(add(locks.key(i), deltas[i].delta, deltas[i].ttl_s, now));
  }
  return values;
}

std::vector<int64_t> MemoryCounters::read(const std::vector<std::string>& keys) {
  std::vector<int64_t> values;
  values.reserve(keys.size());
  for (const std::string& text : keys) {
    Key key(text);
    std::lock_guard lock(shardOf(key).mutex);
    values.push_back(valueOf(key, now_ms_()));
  }
  return values;
}

bool MemoryCounters::claimOnce(const std::string& text, uint32_t ttl_s) {
  Key key(text);
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

  void reserve(const std::vector<CounterCheck>& checks, ReserveDone done) override {
    // The spare result's memory serves every call; a call made from `done`
    // (a downgrade reserves again) finds none and makes its own.
    ReserveResult result = std::move(spare_);
    counters_->reserve(checks, &result);
    if (done) done(result);
    spare_ = std::move(result);
  }
  void adjust(const std::vector<CounterDelta>& deltas, ValuesDone done) override {
    if (!done) return counters_->add(deltas);  // settlements: nobody reads the values
    std::vector<int64_t> values = counters_->adjust(deltas);
    done(values);
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
  ReserveResult spare_;
};

}  // namespace

std::unique_ptr<CounterStore> makeMemoryStore(std::shared_ptr<MemoryCounters> counters) {
  return std::make_unique<MemoryStore>(std::move(counters));
}

CounterStoreFactory memoryStoreFactory(std::shared_ptr<MemoryCounters> counters) {
  return [counters](uv_loop_t*) { return makeMemoryStore(counters); };
}

}  // namespace sluice::governance
