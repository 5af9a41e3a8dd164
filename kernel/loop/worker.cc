#include "loop/worker.h"

#include <future>

#include "util/log.h"

namespace sluice::loop {

int resolveWorkerCount(int configured) {
  if (configured > 0) return configured;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

Worker::Worker(int index, const manifest::ServerConfig& server, pipeline::GatewayHolder* holder,
               std::shared_ptr<http::TlsContext> tls, governance::CounterStoreFactory counters,
               telemetry::Outbox* records)
    : index_(index), server_config_(server), holder_(holder), tls_(std::move(tls)),
      counters_factory_(std::move(counters)), records_(records) {}

Worker::~Worker() { join(); }

bool Worker::start(std::string* error) {
  std::promise<std::string> ready;
  auto result = ready.get_future();
  thread_ = std::thread([this, &ready] {
    std::string err;
    if (!setUp(&err)) {
      tearDown();
      ready.set_value(err.empty() ? "worker failed to start" : err);
      return;
    }
    ready.set_value("");
    run();
  });
  std::string err = result.get();
  if (!err.empty()) {
    *error = err;
    thread_.join();
    return false;
  }
  return true;
}

bool Worker::setUp(std::string* error) {
  uv_loop_init(&loop_);
  loop_.data = this;
  uv_async_init(&loop_, &wake_, onWake);
  wake_.data = this;
  uv_timer_init(&loop_, &deadline_);
  deadline_.data = this;

  http::ClientOptions opts;
  const auto& up = server_config_.upstream;
  opts.connect_timeout_ms = up.connect_timeout_ms;
  opts.first_byte_timeout_ms = up.first_byte_timeout_ms;
  opts.total_timeout_ms = up.total_timeout_ms;
  opts.ca_file = up.ca_file;
  opts.verify_tls = up.verify_tls;
  client_ = http::Client::create(&loop_, opts, error);
  if (!client_) return false;

  handle_.loop = &loop_;
  handle_.client = client_.get();
  if (counters_factory_) counters_ = counters_factory_(&loop_);
  handle_.counters = counters_.get();
  handle_.plans = &plans_;
  handle_.telemetry = records_;
  handle_.index = index_;
  handler_ = std::make_unique<pipeline::RequestHandler>(&handle_, holder_);
  pipeline::RequestHandler* h = handler_.get();
  server_ = std::make_unique<http::Server>(
      &loop_, server_config_.limits,
      [h](http::Request& req, http::Response& res) { h->handle(req, res); }, tls_);
  for (const auto& addr : server_config_.listen) {
    if (server_->listen(addr.host, addr.port, error) != 0) return false;
  }
  bound_port_ = server_->boundPort();
  return true;
}

void Worker::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  tearDown();
  finished_.store(true);
}

void Worker::tearDown() {
  // Close in dependency order: connections (which cancel their upstream
  // calls), then pooled upstream connections, then the loop's own handles.
  if (server_) {
    if (!server_->draining()) server_->drain(nullptr);
    server_->closeAll();
  }
  if (client_) client_->closeIdle();
  if (counters_) counters_->close();  // after the connections: their settlements are sent first
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&wake_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&deadline_), nullptr);
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  server_.reset();
  handler_.reset();
  client_.reset();
  handle_.counters = nullptr;
  counters_.reset();
  uv_walk(
      &loop_,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
}

void Worker::drain(uint32_t deadline_ms) {
  drain_deadline_ms_.store(deadline_ms);
  drain_requested_.store(true);
  uv_async_send(&wake_);
}

void Worker::onWake(uv_async_t* handle) {
  auto* w = static_cast<Worker*>(handle->data);
  if (!w->drain_requested_.load() || w->server_->draining()) return;
  auto finish = [w] {
    uv_timer_stop(&w->deadline_);
    uv_stop(&w->loop_);
  };
  uv_timer_start(
      &w->deadline_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Worker*>(t->data);
        util::logWarn("worker", "drain deadline passed; closing remaining connections");
        self->server_->closeAll();
        uv_stop(&self->loop_);
      },
      w->drain_deadline_ms_.load(), 0);
  w->server_->drain(finish);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace sluice::loop
