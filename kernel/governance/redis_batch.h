// One loop turn's settlements and reservations for the Redis store, as the
// arguments of one run of redis_scripts::kBatch. Each distinct key and each
// distinct check shape (key, other key, weight, limit, enforce, ttl) is sent
// once however many requests use it; a reservation then costs two numbers
// per check. Settlements are added up per key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "governance/counter_store.h"
#include "governance/redis_resp.h"

namespace sluice::governance {

class RedisBatch {
 public:
  void settle(const CounterDelta& delta);
  void reserve(const std::vector<CounterCheck>& checks, CounterStore::ReserveDone done);
  bool empty() const { return group_sizes_.empty() && !settled_; }

  // What one script run needs; take() leaves the batch empty.
  struct Run {
    RespArgs args;  // the key count, the keys, then ARGV
    std::vector<size_t> group_sizes;  // checks per reservation
    std::vector<CounterStore::ReserveDone> dones;
  };
  Run take();

 private:
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shape {
    uint32_t key = 0, other = 0, ppm = 0, ttl_s = 0;
    int64_t limit = 0;
    bool enforce = true;
    bool operator==(const Shape&) const = default;
  };
  struct ShapeHash {
    size_t operator()(const Shape& s) const;
  };
  struct Add {
    int64_t delta = 0;
    uint32_t ttl_s = 0;
  };

  uint32_t key(std::string_view name);  // 1-based, as the script's KEYS

  RespArgs keys_;
  std::unordered_map<std::string, uint32_t, KeyHash, std::equal_to<>> key_index_;
  std::vector<Add> adds_;  // per key index - 1
  bool settled_ = false;
  std::unordered_map<Shape, uint32_t, ShapeHash> shape_index_;
  RespArgs shapes_;
  RespArgs reservations_;
  std::vector<size_t> group_sizes_;
  std::vector<CounterStore::ReserveDone> dones_;
};

}  // namespace sluice::governance
