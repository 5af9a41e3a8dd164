// A worker: one thread, one libuv loop, its own SO_REUSEPORT listeners, its
// own upstream client and request handler. Workers share nothing mutable but
// the gateway snapshot holder.
#pragma once

#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "governance/counter_store.h"
#include "governance/plan_cache.h"
#include "http/client.h"
#include "http/server.h"
#include "manifest/config.h"
#include "pipeline/gateway.h"
#include "pipeline/handler.h"
#include "plugins/host.h"

namespace sluice::loop {

class Worker {
 public:
  // `records` is this worker's queue to the sink thread (null: no records).
  Worker(int index, const manifest::ServerConfig& server, pipeline::GatewayHolder* holder,
         std::shared_ptr<http::TlsContext> tls, governance::CounterStoreFactory counters,
         telemetry::Outbox* records = nullptr);
  ~Worker();

  // Starts the thread and waits until it listens (true) or failed (*error).
  bool start(std::string* error);
  // Thread-safe: stop accepting, let in-flight requests finish for up to
  // `deadline_ms`, then close what is left and end the loop.
  void drain(uint32_t deadline_ms);
  void join();
  uint16_t boundPort() const { return bound_port_; }
  bool finished() const { return finished_.load(); }  // the loop has ended

 private:
  void run();
  bool setUp(std::string* error);
  void tearDown();
  static void onWake(uv_async_t* handle);

  int index_;
  manifest::ServerConfig server_config_;
  pipeline::GatewayHolder* holder_;
  std::shared_ptr<http::TlsContext> tls_;
  uv_loop_t loop_;
  uv_async_t wake_;
  uv_timer_t deadline_;
  sluice_worker handle_;
  governance::CounterStoreFactory counters_factory_;
  telemetry::Outbox* records_;
  std::unique_ptr<governance::CounterStore> counters_;
  governance::PlanCache plans_;
  std::unique_ptr<http::Client> client_;
  std::unique_ptr<pipeline::RequestHandler> handler_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
  std::atomic<bool> drain_requested_{false};
  std::atomic<uint32_t> drain_deadline_ms_{0};
  uint16_t bound_port_ = 0;
  std::atomic<bool> finished_{false};
};

// Number of workers for `server.workers` (0 = one per core).
int resolveWorkerCount(int configured);

}  // namespace sluice::loop
