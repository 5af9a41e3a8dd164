// Phase 12: request records leave the workers and reach the sinks. Each
// worker owns an Outbox, a lock-free bounded queue it pushes finished records
// into; one sink thread (its own libuv loop) drains the queues in batches —
// by size, or every flush interval — turns them into field views (and JSON,
// when a sink wants it) and hands each batch to every sink plugin. A full queue drops the record
// and counts it, so a slow or dead sink never slows a request. The sink set
// is swapped by a reload; sinks whose plugin and config did not change keep
// running (their counters and connections with them).
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "http/client.h"
#include "manifest/config.h"
#include "pipeline/record.h"
#include "plugins/host.h"
#include "plugins/registry.h"
#include "telemetry/record_batch.h"
#include "telemetry/spsc_ring.h"

namespace sluice::telemetry {

class Hub;

// One worker's way to the sink thread. submit() and event() are called by
// that worker only. Delivered records come back through a second ring and
// carry the next submission, so a record is allocated and freed on the
// worker that made it: no allocation per request once warm, and no free
// across threads.
class Outbox {
 public:
  // Some sink is configured: records are worth building.
  bool active() const { return active_->load(std::memory_order_relaxed); }
  // A cleared record to fill, one the sink thread is done with, or null when
  // none has come back yet. Cleared here, on the worker whose allocations its
  // lists hold: what clearing frees goes back to this thread's malloc cache
  // for the request about to fill it, not across threads.
  std::unique_ptr<pipeline::RequestRecord> reuse() {
    std::unique_ptr<pipeline::RequestRecord> r(returned_.pop());
    if (r) r->clear();
    return r;
  }
  // Hands a filled record to the sink thread.
  void submit(std::unique_ptr<pipeline::RequestRecord> record);
  // Takes the record's contents (what is left in `record` is a spent one,
  // to be destroyed by the caller).
  void submit(pipeline::RequestRecord&& record);
  // A kernel event for the sinks' event() (budget thresholds), as JSON.
  void event(std::string json);

 private:
  friend class Hub;
  Outbox(Hub* hub, size_t capacity, const std::atomic<bool>* active)
      : hub_(hub), active_(active), ring_(capacity), returned_(capacity) {}
  Hub* hub_;
  const std::atomic<bool>* active_;
  SpscRing<pipeline::RequestRecord> ring_;      // worker -> sink thread
  SpscRing<pipeline::RequestRecord> returned_;  // sink thread -> worker: delivered, to reuse
  // Written by the worker only, read by the admin thread.
  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> dropped_{0};
};

class Hub {
 public:
  using Params = std::vector<std::pair<std::string, std::string>>;
  using Reply =
      std::function<void(int status, std::string_view content_type, std::string_view body)>;

  // One outbox per producer (worker). Queue size is fixed here; batch size
  // and flush interval follow configure().
  Hub(int producers, const manifest::LoggingConfig& logging);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  Outbox* outbox(int index) { return outboxes_[index].get(); }

  // Creates the sinks `config` names, on the calling thread, reusing the
  // running instances whose plugin and config are unchanged; the sink thread
  // takes the new set over at its next turn. On failure nothing changes and
  // *errors has one line per sink that could not be created.
  bool configure(const manifest::Config& config, plugins::Registry* registry,
                 std::vector<std::string>* errors);

  // Starts the sink thread; `upstream` sets its HTTP client (TLS, timeouts).
  bool start(const manifest::UpstreamDefaults& upstream, std::string* error);
  // Once the workers have stopped: delivers every queued record, flushes,
  // gives in-flight sink HTTP calls up to `grace_ms`, destroys the sinks and
  // ends the thread.
  void stop(uint32_t grace_ms = 3000);

  // Admin thread. Asks the sinks in manifest order; false when none serves
  // `name` (reply is not called then).
  bool query(std::string_view name, const Params& params, const Reply& reply);
  // The kernel's own telemetry metrics, Prometheus text format.
  void appendMetrics(std::string* out);
  // Names of the running sinks ("sqlite", "access-log#2").
  std::vector<std::string> sinkLabels();

 private:
  struct Sink;
  friend class Outbox;
  void wake();  // the sink thread, through wake_fd_, once it is started
  void pushEvent(std::string json);
  void run();
  void pump();
  void adoptPending();
  void deliver(std::vector<std::unique_ptr<pipeline::RequestRecord>>* records);
  void finish();

  std::vector<std::unique_ptr<Outbox>> outboxes_;
  std::atomic<bool> active_{false};
  std::atomic<uint32_t> batch_records_;
  std::atomic<uint32_t> flush_interval_ms_;

  // configure() -> sink thread.
  std::mutex config_mu_;
  std::vector<std::shared_ptr<Sink>> configured_;  // the latest set configure() made
  std::vector<std::shared_ptr<Sink>> pending_;
  bool has_pending_ = false;
  std::vector<std::string> events_;

  // The running set: written by the sink thread under the lock, read by it
  // without, and by the admin thread under a shared lock.
  std::shared_mutex sinks_mu_;
  std::vector<std::shared_ptr<Sink>> sinks_;

  // Sink thread.
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  uv_loop_t loop_;
  int wake_fd_ = -1;  // eventfd: the workers wake the sink thread through it
  uv_poll_t wake_;
  uv_timer_t tick_;
  uv_timer_t grace_;
  uint64_t grace_deadline_ms_ = 0;
  uint32_t grace_ms_ = 3000;
  uint32_t tick_interval_ms_ = 0;
  std::unique_ptr<http::Client> client_;
  sluice_worker worker_{};
  RecordBatch batch_;
  bool json_wanted_ = true;  // some running sink reads the records' JSON
  std::vector<std::unique_ptr<pipeline::RequestRecord>> taken_;
  std::vector<Outbox*> taken_from_;  // parallel to taken_
};

}  // namespace sluice::telemetry
