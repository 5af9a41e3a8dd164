// Plans by request shape, per worker: a caller's steady stream of requests
// builds its counter keys once per window instead of once per request. Only
// the owning worker's thread touches a cache, so it takes no lock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "governance/limits.h"

namespace sluice::governance {

class PlanCache {
 public:
  // Past this many shapes the cache starts over (metadata values with many
  // distinct values would otherwise grow it without bound).
  static constexpr size_t kMaxShapes = 4096;

  // The same plan as policy.plan(facts, waived), from a cached shape when
  // one is still valid at facts.now_ms.
  Plan plan(const Policy& policy, const RequestFacts& facts, const Waived& waived = {});

  size_t size() const { return shapes_.size(); }
  uint64_t builds() const { return builds_; }  // shapes built (misses), for tests

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  uint64_t policy_id_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const PlanShape>, Hash, std::equal_to<>> shapes_;
  std::string signature_;  // reused: no allocation per lookup
  uint64_t builds_ = 0;
};

}  // namespace sluice::governance
