// GET /admin/limits: each rate rule's live counters per key, each budget's
// spend and outstanding reservations, and the state backend's health.
#pragma once

#include <functional>
#include <string>

#include "governance/counter_store.h"
#include "governance/limits.h"

namespace sluice::governance {

struct StateStatus {
  std::string backend;  // memory | redis
  std::string on_unavailable;
  bool connected = true;
  uint64_t unavailable_total = 0;
};

void reportLimits(const Policy& policy, const StateStatus& status, CounterStore* store,
                  int64_t now_ms, std::function<void(std::string json)> done);

}  // namespace sluice::governance
