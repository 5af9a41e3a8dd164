// Counters behind rate limits and budgets. A reservation checks several
// counters and adds to all of them atomically — or to none — so concurrent
// requests, on one process or many replicas, can never overshoot a limit.
// Amounts are integers: requests, tokens, or cost in nano-dollars.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::governance {

// One counter inside a reservation. Keys are views: the caller keeps them
// alive until reserve() returns (a store that answers later copies what it
// keeps).
struct CounterCheck {
  std::string_view key;        // receives `amount`
  std::string_view other_key;  // also counted toward the limit; empty: none
  // What `other_key` weighs, in parts per million (a sliding window's previous
  // window, or 1,000,000 for a budget's settled spend next to its reservations).
  uint32_t other_weight_ppm = 0;
  int64_t limit = 0;
  int64_t amount = 0;
  bool enforce = true;  // false: added even past the limit (audit rules)
  uint32_t ttl_s = 0;   // expiry of `key`; 0 = none
  // counterKeyHash() of key and other_key, for a caller that keeps its keys
  // and hashes them once (plans); 0: the memory store hashes them itself.
  size_t key_hash = 0;
  size_t other_key_hash = 0;
};

struct ReserveResult {
  enum class Status { Admitted, Refused, Unavailable } status = Status::Admitted;
  int refused = -1;  // index of the first enforced check that would pass its limit
  // Per check: key + weighted other_key before this reservation's amount.
  std::vector<int64_t> before;
};

struct CounterDelta {
  std::string_view key;  // kept alive by the caller until adjust() returns
  int64_t delta = 0;
  uint32_t ttl_s = 0;
  size_t key_hash = 0;  // as in CounterCheck
};

// The hash the memory store files a counter under.
inline size_t counterKeyHash(std::string_view key) { return std::hash<std::string_view>{}(key); }

class CounterStore {
 public:
  using ReserveDone = std::function<void(const ReserveResult&)>;
  // Values after the deltas, in order; empty when the store is unavailable.
  using ValuesDone = std::function<void(const std::vector<int64_t>&)>;
  using ClaimDone = std::function<void(bool first)>;

  virtual ~CounterStore() = default;

  // Adds every check's amount if every enforced check stays within its limit
  // (before + amount <= limit), else adds nothing. `done` runs on the loop the
  // store belongs to, and may run before reserve() returns.
  virtual void reserve(const std::vector<CounterCheck>& checks, ReserveDone done) = 0;
  // Adds the deltas (settlement, release). `done` may be empty.
  virtual void adjust(const std::vector<CounterDelta>& deltas, ValuesDone done) = 0;
  // Current values (0 for a missing key), for the admin API.
  virtual void read(std::vector<std::string> keys, ValuesDone done) = 0;
  // True for exactly one caller per key until it expires (alert thresholds).
  virtual void claimOnce(std::string key, uint32_t ttl_s, ClaimDone done) = 0;
  // Starts closing the loop handles the store owns (its loop runs once more
  // before the store is destroyed). Calls made after close() answer Unavailable.
  virtual void close() {}
  // False while a shared backend cannot be reached.
  virtual bool connected() const { return true; }
};

// Which store a loop gets: the memory store is one per process, shared by
// every worker; a Redis store is one connection per loop.
using CounterStoreFactory = std::function<std::unique_ptr<CounterStore>(uv_loop_t* loop)>;

}  // namespace sluice::governance
