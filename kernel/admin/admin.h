// The admin listener: /healthz, /readyz, and (with a token, or on loopback)
// the /admin API. It runs on the main thread's loop, apart from the workers.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/server.h"
#include "manifest/config.h"

namespace sluice::admin {

struct AdminState {
  std::atomic<bool> ready{false};     // workers listening
  std::atomic<bool> draining{false};  // shutting down
};

class AdminServer {
 public:
  AdminServer(uv_loop_t* loop, const manifest::AdminConfig& config, AdminState* state);
  // Refuses a non-loopback listener without a token.
  bool start(std::string* error);
  void drain(std::function<void()> done);
  // An extra GET route; under /admin/ and /ui it is behind the admin token.
  // The handler may answer later, on this loop.
  using Route = std::function<void(http::Request& req, http::Response& res)>;
  void route(std::string path, Route handler) { routes_.emplace_back(std::move(path), std::move(handler)); }
  // Every path that starts with `prefix` (after the exact routes).
  void routePrefix(std::string prefix, Route handler) {
    prefix_routes_.emplace_back(std::move(prefix), std::move(handler));
  }
  uint16_t boundPort() const { return server_ ? server_->boundPort() : 0; }

 private:
  void handle(http::Request& req, http::Response& res);
  bool authorized(const http::Request& req) const;

  uv_loop_t* loop_;
  manifest::AdminConfig config_;
  AdminState* state_;
  std::unique_ptr<http::Server> server_;
  std::vector<std::pair<std::string, Route>> routes_;
  std::vector<std::pair<std::string, Route>> prefix_routes_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool isLoopback(const std::string& host);

}  // namespace sluice::admin
