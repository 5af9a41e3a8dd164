// The in-process counter store: one table per process, shared by every
// worker. Keys are spread over shards, each behind its own mutex; a
// reservation locks the shards of all its keys (in ascending order, so two
// reservations never deadlock) and checks and adds under those locks.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "governance/counter_store.h"

namespace sluice::governance {

// floor(value * weight_ppm / 1e6), exact for every int64 value.
int64_t weightedValue(int64_t value, uint32_t weight_ppm);

class MemoryCounters {
 public:
  using Clock = std::function<int64_t()>;  // milliseconds

  // `now_ms` drives expiry (default: the monotonic clock); tests pass a fake.
  explicit MemoryCounters(Clock now_ms = {}, size_t shard_count = 64);
  MemoryCounters(const MemoryCounters&) = delete;
  MemoryCounters& operator=(const MemoryCounters&) = delete;

  // The CounterStore operations, synchronous and thread-safe.
  ReserveResult reserve(const std::vector<CounterCheck>& checks);
  // The same into *out, reusing its memory.
  void reserve(const std::vector<CounterCheck>& checks, ReserveResult* out);
  std::vector<int64_t> adjust(const std::vector<CounterDelta>& deltas);
  // adjust() without the values after.
  void add(const std::vector<CounterDelta>& deltas);
  std::vector<int64_t> read(const std::vector<std::string>& keys);
  bool claimOnce(const std::string& key, uint32_t ttl_s);

  // Entries held, expired ones not yet swept included (memory stays bounded).
  size_t entryCount() const;

 private:
  struct Entry {
    int64_t value = 0;
    int64_t expires_at_ms = 0;  // 0: never
  };
  // A key with its hash, computed once per call: it picks the shard and
  // the bucket.
  struct Key {
    explicit Key(std::string_view k, size_t known_hash = 0)
        : text(k), hash(known_hash ? known_hash : counterKeyHash(k)) {
      assert(hash == counterKeyHash(k));
    }
    std::string_view text;
    size_t hash;
  };
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const std::string& s) const { return counterKeyHash(s); }
    size_t operator()(const Key& k) const { return k.hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(const std::string& a, const std::string& b) const { return a == b; }
    bool operator()(const std::string& a, const Key& b) const { return a == b.text; }
    bool operator()(const Key& a, const std::string& b) const { return a.text == b; }
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry, KeyHash, KeyEq> entries;
    size_t size_at_sweep = 0;
  };
  class ShardLocks;

  Shard& shardOf(const Key& key) { return *shards_[key.hash % shards_.size()]; }
  bool expired(const Entry& e, int64_t now) const;
  int64_t valueOf(const Key& key, int64_t now);
  // The entry for `key` if it exists and has not expired, else null.
  Entry* findLive(const Key& key, int64_t now);
  // The live entry for `key` (a fresh one if missing or expired).
  Entry& liveEntry(const Key& key, int64_t now);
  int64_t add(const Key& key, int64_t delta, uint32_t ttl_s, int64_t now);
  int64_t addTo(Entry& e, int64_t delta, uint32_t ttl_s, int64_t now);
  void sweepIfGrown(Shard& shard, int64_t now);

  Clock now_ms_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

// A per-loop handle on the shared table; callbacks run before each call returns.
std::unique_ptr<CounterStore> makeMemoryStore(std::shared_ptr<MemoryCounters> counters);
// Every loop gets a handle on the same table.
CounterStoreFactory memoryStoreFactory(std::shared_ptr<MemoryCounters> counters);

}  // namespace sluice::governance
