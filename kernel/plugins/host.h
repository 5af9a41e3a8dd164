// The host-services table handed to every plugin (sluice_host in plugin.h),
// and the kernel's side of the opaque sluice_worker handle.
#pragma once

#include <uv.h>

#include <string>

#include "sluice/plugin.h"

namespace sluice::http {
class Client;
}
namespace sluice::governance {
class CounterStore;
class PlanCache;
}
namespace sluice::telemetry {
class Outbox;
}

// The loop a plugin call runs on: timers and HTTP calls are scheduled there.
struct sluice_worker {
  uv_loop_t* loop = nullptr;
  sluice::http::Client* client = nullptr;
  sluice::governance::CounterStore* counters = nullptr;  // rate limits and budgets
  sluice::governance::PlanCache* plans = nullptr;         // this loop's plan shapes
  sluice::telemetry::Outbox* telemetry = nullptr;        // request records to the sinks
  int index = 0;
  int http_in_flight = 0;  // plugin HTTP calls not yet answered or cancelled
};

namespace sluice::plugins {

// The one host table for this process (its functions are thread-safe or
// worker-bound through the sluice_worker argument).
const sluice_host* hostServices();

// What plugins counted through metric_add / metric_observe, in Prometheus
// text format (names prefixed sluice_plugin_).
void appendHostMetrics(std::string* out);

}  // namespace sluice::plugins
