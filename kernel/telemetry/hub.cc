#include "telemetry/hub.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>

#include "util/clock.h"
#include "util/log.h"

namespace sluice::telemetry {
namespace {

// Whether a sink's table reaches `field` (added after ABI 1.0) and sets it.
#define SINK_HAS(vt, field)                                                          \
  ((vt)->struct_size >= offsetof(sluice_sink_vtable, field) + sizeof((vt)->field) && \
   (vt)->field != nullptr)

sluice_str ss(std::string_view s) { return sluice_str{s.data(), s.size()}; }

void appendCounter(std::string* out, const char* name, const char* help, const char* type) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ").append(name);
  out->append(" ").append(type).append("\n");
}

void appendSample(std::string* out, const char* name, std::string_view labels, uint64_t v) {
  out->append(name);
  if (!labels.empty()) out->append("{").append(labels).append("}");
  out->append(" ").append(std::to_string(v)).append("\n");
}

}  // namespace

struct Hub::Sink {
  std::string label;
  std::string plugin;
  std::string config_json;
  const sluice_sink_vtable* vt = nullptr;
  void* instance = nullptr;
  bool attached = false;
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> refused{0};  // records in batches write() returned an error for

  ~Sink() {
    if (instance && vt->destroy) vt->destroy(instance);
  }
  // ABI 1.2: the sink reads the views only, so no JSON is built for it.
  bool viewsOnly() const {
    return vt->struct_size >= offsetof(sluice_sink_vtable, flags) + sizeof(vt->flags) &&
           (vt->flags & SLUICE_SINK_VIEWS_ONLY) != 0;
  }
  uint64_t dropped() {
    uint64_t n = refused.load(std::memory_order_relaxed);
    if (SINK_HAS(vt, dropped)) n += vt->dropped(instance);
    return n;
  }
};

// ------------------------------------------------------------------ Outbox

void Outbox::submit(pipeline::RequestRecord&& record) {
  std::unique_ptr<pipeline::RequestRecord> shell = reuse();
  if (!shell) shell = std::make_unique<pipeline::RequestRecord>();
  std::swap(*shell, record);  // the spent record's strings go back to the caller, freed there
  submit(std::move(shell));
}

void Outbox::submit(std::unique_ptr<pipeline::RequestRecord> record) {
  // Single writer: a plain load and store, no read-modify-write.
  submitted_.store(submitted_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (!ring_.push(record.get())) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return;  // freed here, on the worker
  }
  record.release();
  // A full batch wakes the sink thread; smaller ones wait for its timer.
  uint32_t batch = hub_->batch_records_.load(std::memory_order_relaxed);
  if (ring_.size() % batch == 0) hub_->wake();
}

void Outbox::event(std::string json) { hub_->pushEvent(std::move(json)); }

// ------------------------------------------------------------------ Hub

Hub::Hub(int producers, const manifest::LoggingConfig& logging)
    : batch_records_(logging.batch_records), flush_interval_ms_(logging.flush_interval_ms) {
  for (int i = 0; i < producers; i++) {
    outboxes_.push_back(std::unique_ptr<Outbox>(new Outbox(this, logging.queue_records, &active_)));
  }
}

Hub::~Hub() {
  stop();
  // Whatever was never delivered (no thread ran) is freed with the queues.
  for (auto& o : outboxes_) {
    while (pipeline::RequestRecord* r = o->ring_.pop()) delete r;
    while (pipeline::RequestRecord* r = o->returned_.pop()) delete r;
  }
}

bool Hub::configure(const manifest::Config& config, plugins::Registry* registry,
                    std::vector<std::string>* errors) {
  std::lock_guard<std::mutex> lock(config_mu_);
  std::vector<std::shared_ptr<Sink>> next;
  std::vector<bool> reused(configured_.size(), false);
  std::map<std::string, int> seen;
  size_t before = errors->size();
  for (size_t i = 0; i < config.sinks.size(); i++) {
    const manifest::SinkConfig& sc = config.sinks[i];
    std::string json = sc.plugin_config_json.empty() ? "{}" : sc.plugin_config_json;
    int n = ++seen[sc.plugin];
    std::string label = n == 1 ? sc.plugin : sc.plugin + "#" + std::to_string(n);
    std::shared_ptr<Sink> sink;
    for (size_t j = 0; j < configured_.size() && !sink; j++) {
      if (!reused[j] && configured_[j]->plugin == sc.plugin &&
          configured_[j]->config_json == json && configured_[j]->label == label) {
        reused[j] = true;
        sink = configured_[j];
      }
    }
    if (!sink) {
      std::string where = "sinks[" + std::to_string(i) + "] (" + sc.plugin + ")";
      std::string why;
      const plugins::Plugin* plugin = registry->find(SLUICE_KIND_SINK, sc.plugin, &why);
      if (!plugin) {
        errors->push_back(where + ": " + why);
        continue;
      }
      auto* vt = static_cast<const sluice_sink_vtable*>(plugin->vtable());
      sink = std::make_shared<Sink>();
      sink->label = label;
      sink->plugin = sc.plugin;
      sink->config_json = json;
      sink->vt = vt;
      char err[512] = {0};
      if (vt->create(plugins::hostServices(), json.c_str(), &sink->instance, err, sizeof err) !=
          SLUICE_OK) {
        sink->instance = nullptr;
        errors->push_back(where + ": " + (err[0] ? err : "create failed"));
        continue;
      }
    }
    next.push_back(std::move(sink));
  }
  if (errors->size() != before) return false;  // new instances go with `next`, never attached
  configured_ = next;
  pending_ = std::move(next);
  has_pending_ = true;
  batch_records_.store(config.logging.batch_records);
  flush_interval_ms_.store(config.logging.flush_interval_ms);
  active_.store(!configured_.empty());
  wake();
  return true;
}

bool Hub::start(const manifest::UpstreamDefaults& upstream, std::string* error) {
  // An eventfd the workers write to, not a uv_async_t: uv_async_send marks
  // the handle busy around its write, and a sink thread woken by that write
  // on the worker's own core spins (then yields) until the worker, which it
  // preempted, runs again to clear the mark. Here a wake is one write.
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    *error = std::string("sink thread: eventfd: ") + strerror(errno);
    return false;
  }
  uv_loop_init(&loop_);
  int rc = uv_poll_init(&loop_, &wake_, wake_fd_);
  if (rc != 0) {
    *error = std::string("sink thread: polling its eventfd: ") + uv_strerror(rc);
    uv_loop_close(&loop_);
    close(wake_fd_);
    wake_fd_ = -1;
    return false;
  }
  wake_.data = this;
  http::ClientOptions opts;
  opts.connect_timeout_ms = upstream.connect_timeout_ms;
  opts.first_byte_timeout_ms = upstream.first_byte_timeout_ms;
  opts.total_timeout_ms = upstream.total_timeout_ms;
  opts.ca_file = upstream.ca_file;
  opts.verify_tls = upstream.verify_tls;
  client_ = http::Client::create(&loop_, opts, error);
  if (!client_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    close(wake_fd_);
    wake_fd_ = -1;
    return false;
  }
  worker_.loop = &loop_;
  worker_.client = client_.get();
  worker_.index = -1;
  uv_poll_start(&wake_, UV_READABLE, [](uv_poll_t* h, int, int) {
    auto* hub = static_cast<Hub*>(h->data);
    uint64_t count;
    while (read(hub->wake_fd_, &count, sizeof count) > 0) {
    }
    if (hub->stopping_.load()) {
      hub->finish();
    } else {
      hub->pump();
    }
  });
  uv_timer_init(&loop_, &tick_);
  tick_.data = this;
  uv_timer_init(&loop_, &grace_);
  grace_.data = this;
  tick_interval_ms_ = flush_interval_ms_.load();
  uv_timer_start(
      &tick_, [](uv_timer_t* t) { static_cast<Hub*>(t->data)->pump(); }, tick_interval_ms_,
      tick_interval_ms_);
  started_.store(true);
  thread_ = std::thread([this] { run(); });
  return true;
}

void Hub::wake() {
  if (!started_.load(std::memory_order_acquire)) return;
  uint64_t one = 1;
  // EAGAIN: the counter is full, so a wake-up is pending anyway.
  while (write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Hub::pushEvent(std::string json) {
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    if (events_.size() >= 1024) return;  // a stuck sink thread must not grow this forever
    events_.push_back(std::move(json));
  }
  wake();
}

void Hub::run() {
  adoptPending();
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Everything is closed; let the client's own handles finish closing.
  client_->closeIdle();
  uv_run(&loop_, UV_RUN_DEFAULT);
  client_.reset();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
}

void Hub::stop(uint32_t grace_ms) {
  if (!started_.load()) {
    std::lock_guard<std::mutex> lock(config_mu_);
    configured_.clear();
    pending_.clear();
    has_pending_ = false;
    std::unique_lock<std::shared_mutex> sinks_lock(sinks_mu_);
    sinks_.clear();
    return;
  }
  {
    // The sink thread holds the last reference to every sink: they are
    // destroyed there, where their loop calls can be cancelled.
    std::lock_guard<std::mutex> lock(config_mu_);
    configured_.clear();
  }
  grace_ms_ = grace_ms;
  stopping_.store(true);
  wake();
  thread_.join();
  started_.store(false);
  uv_loop_close(&loop_);
  close(wake_fd_);
  wake_fd_ = -1;
}

void Hub::pump() {
  uint32_t interval = flush_interval_ms_.load();
  if (interval != tick_interval_ms_) {
    tick_interval_ms_ = interval;
    uv_timer_start(
        &tick_, [](uv_timer_t* t) { static_cast<Hub*>(t->data)->pump(); }, interval, interval);
  }
  std::vector<std::string> events;
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    events.swap(events_);
  }
  for (const auto& e : events) {
    for (auto& s : sinks_) {
      if (SINK_HAS(s->vt, event)) s->vt->event(s->instance, ss(e));
    }
  }
  size_t batch = batch_records_.load();
  bool delivered = false;
  for (auto& o : outboxes_) {
    // What is there now; records arriving meanwhile wait for the next turn.
    for (size_t n = o->ring_.size(); n > 0; n--) {
      pipeline::RequestRecord* r = o->ring_.pop();
      if (!r) break;
      taken_.emplace_back(r);
      taken_from_.push_back(o.get());
      if (taken_.size() >= batch) {
        deliver(&taken_);
        delivered = true;
      }
    }
  }
  if (!taken_.empty()) {
    deliver(&taken_);
    delivered = true;
  }
  if (delivered) {
    for (auto& s : sinks_) {
      if (s->vt->flush) s->vt->flush(s->instance);
    }
  }
  adoptPending();
}

void Hub::deliver(std::vector<std::unique_ptr<pipeline::RequestRecord>>* records) {
  if (!sinks_.empty()) {
    batch_.build(*records, json_wanted_);
    for (auto& s : sinks_) {
      int rc = s->vt->write(s->instance, &batch_.batch());
      (rc == SLUICE_OK ? s->written : s->refused)
          .fetch_add(batch_.size(), std::memory_order_relaxed);
    }
  }
  // Back to the worker that made each one (freed here only if its ring is full).
  for (size_t i = 0; i < records->size(); i++) {
    if (taken_from_[i]->returned_.push((*records)[i].get())) (*records)[i].release();
  }
  records->clear();
  taken_from_.clear();
}

void Hub::adoptPending() {
  std::vector<std::shared_ptr<Sink>> next;
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    if (!has_pending_) return;
    next = std::move(pending_);
    pending_.clear();
    has_pending_ = false;
  }
  for (auto& s : next) {
    if (!s->attached && SINK_HAS(s->vt, attach)) s->vt->attach(s->instance, &worker_);
    s->attached = true;
  }
  {
    std::unique_lock<std::shared_mutex> lock(sinks_mu_);
    sinks_.swap(next);
  }
  json_wanted_ = false;
  for (auto& s : sinks_) json_wanted_ = json_wanted_ || !s->viewsOnly();
  // `next` holds the outgoing set: sinks not carried over end here.
  for (auto& s : next) {
    if (s->vt->flush) s->vt->flush(s->instance);
  }
}

void Hub::finish() {
  uv_timer_stop(&tick_);
  pump();
  for (auto& s : sinks_) {
    if (s->vt->flush) s->vt->flush(s->instance);
  }
  // In-flight deliveries (a ClickHouse insert, a webhook) get a grace period.
  grace_deadline_ms_ = util::monotonicNs() / 1000000 + grace_ms_;
  uv_timer_start(
      &grace_,
      [](uv_timer_t* t) {
        auto* hub = static_cast<Hub*>(t->data);
        if (hub->worker_.http_in_flight > 0 &&
            util::monotonicNs() / 1000000 < hub->grace_deadline_ms_) {
          return;
        }
        uv_timer_stop(t);
        std::vector<std::shared_ptr<Sink>> last;
        {
          std::unique_lock<std::shared_mutex> lock(hub->sinks_mu_);
          last.swap(hub->sinks_);
        }
        {
          std::lock_guard<std::mutex> lock(hub->config_mu_);
          hub->pending_.clear();
          hub->has_pending_ = false;
        }
        last.clear();  // destroy(): sinks cancel what is still in flight
        uv_close(reinterpret_cast<uv_handle_t*>(&hub->wake_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&hub->tick_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&hub->grace_), nullptr);
      },
      0, 10);
}

bool Hub::query(std::string_view name, const Params& params, const Reply& reply) {
  std::vector<sluice_header> hs;
  hs.reserve(params.size());
  for (const auto& [k, v] : params) hs.push_back({ss(k), ss(v)});
  sluice_sink_query q{};
  q.struct_size = sizeof q;
  q.name = ss(name);
  q.params = hs.data();
  q.param_count = hs.size();
  struct Ctx {
    const Reply* reply;
    bool replied = false;
  } ctx{&reply};
  auto trampoline = [](void* c, int status, const char* content_type, const char* body,
                       size_t len) {
    auto* x = static_cast<Ctx*>(c);
    if (x->replied) return;
    x->replied = true;
    (*x->reply)(status, content_type ? content_type : "application/json",
                std::string_view(body ? body : "", body ? len : 0));
  };
  std::shared_lock<std::shared_mutex> lock(sinks_mu_);
  for (auto& s : sinks_) {
    if (!SINK_HAS(s->vt, query)) continue;
    int rc = s->vt->query(s->instance, &q, trampoline, &ctx);
    if (rc == SLUICE_OK && ctx.replied) return true;
    if (ctx.replied) return true;  // answered, then reported an error: the answer stands
  }
  return false;
}

void Hub::appendMetrics(std::string* out) {
  uint64_t submitted = 0, dropped = 0, depth = 0;
  for (auto& o : outboxes_) {
    submitted += o->submitted_.load(std::memory_order_relaxed);
    dropped += o->dropped_.load(std::memory_order_relaxed);
    depth += o->ring_.size();
  }
  appendCounter(out, "sluice_telemetry_records_total",
                "Request records the workers handed to the sink thread.", "counter");
  appendSample(out, "sluice_telemetry_records_total", "", submitted);
  appendCounter(out, "sluice_telemetry_queue_dropped_total",
                "Request records dropped because the sink queue was full.", "counter");
  appendSample(out, "sluice_telemetry_queue_dropped_total", "", dropped);
  appendCounter(out, "sluice_telemetry_queue_depth", "Request records waiting for the sink thread.",
                "gauge");
  appendSample(out, "sluice_telemetry_queue_depth", "", depth);
  std::shared_lock<std::shared_mutex> lock(sinks_mu_);
  appendCounter(out, "sluice_sink_records_total", "Request records a sink accepted.", "counter");
  for (auto& s : sinks_) {
    appendSample(out, "sluice_sink_records_total", "sink=\"" + s->label + "\"",
                 s->written.load(std::memory_order_relaxed));
  }
  appendCounter(out, "sluice_sink_dropped_total",
                "Request records a sink refused or could not deliver.", "counter");
  for (auto& s : sinks_) {
    appendSample(out, "sluice_sink_dropped_total", "sink=\"" + s->label + "\"", s->dropped());
  }
}

std::vector<std::string> Hub::sinkLabels() {
  std::shared_lock<std::shared_mutex> lock(sinks_mu_);
  std::vector<std::string> out;
  for (auto& s : sinks_) out.push_back(s->label);
  return out;
}

}  // namespace sluice::telemetry
