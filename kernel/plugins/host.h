// The host-services table handed to every plugin (sluice_host in plugin.h),
// and the kernel's side of the opaque sluice_worker handle.
#pragma once

#include <uv.h>

#include "sluice/plugin.h"

namespace sluice::http {
class Client;
}
namespace sluice::governance {
class CounterStore;
class PlanCache;
}

// The loop a plugin call runs on: timers and HTTP calls are scheduled there.
struct sluice_worker {
  uv_loop_t* loop = nullptr;
  sluice::http::Client* client = nullptr;
  sluice::governance::CounterStore* counters = nullptr;  // rate limits and budgets
  sluice::governance::PlanCache* plans = nullptr;         // this loop's plan shapes
  int index = 0;
};

namespace sluice::plugins {

// The one host table for this process (its functions are thread-safe or
// worker-bound through the sluice_worker argument).
const sluice_host* hostServices();

}  // namespace sluice::plugins
