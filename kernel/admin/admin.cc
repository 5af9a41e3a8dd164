#include "admin/admin.h"

#include <openssl/crypto.h>

#include "pipeline/errors.h"

namespace sluice::admin {

bool isLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

AdminServer::AdminServer(uv_loop_t* loop, const manifest::AdminConfig& config, AdminState* state)
    : loop_(loop), config_(config), state_(state) {}

bool AdminServer::start(std::string* error) {
  if (!config_.listen) return true;
  const auto& addr = *config_.listen;
  if (config_.token.empty() && !isLoopback(addr.host)) {
    *error = "admin.listen " + addr.host + ":" + std::to_string(addr.port) +
             " is not a loopback address: set admin.token to expose the admin API";
    return false;
  }
  manifest::Limits limits;
  limits.max_body_bytes = 4 * 1024 * 1024;
  server_ = std::make_unique<http::Server>(
      loop_, limits, [this](http::Request& req, http::Response& res) { handle(req, res); });
  return server_->listen(addr.host, addr.port, error) == 0;
}

void AdminServer::drain(std::function<void()> done) {
  if (!server_) {
    done();
    return;
  }
  server_->drain(std::move(done));
}

bool AdminServer::authorized(const http::Request& req) const {
  if (config_.token.empty()) return true;  // loopback only, enforced at start
  const std::string* auth = req.header("authorization");
  static constexpr std::string_view kBearer = "Bearer ";
  if (!auth || auth->size() != kBearer.size() + config_.token.size() ||
      auth->compare(0, kBearer.size(), kBearer) != 0) {
    return false;
  }
  return CRYPTO_memcmp(auth->data() + kBearer.size(), config_.token.data(),
                       config_.token.size()) == 0;
}

void AdminServer::handle(http::Request& req, http::Response& res) {
  std::string_view path = req.path();
  const http::Response::Headers text = {{"Content-Type", "text/plain; charset=utf-8"}};
  const http::Response::Headers json = {{"Content-Type", "application/json"}};
  if (path == "/healthz") {
    res.respond(200, text, "ok\n");
    return;
  }
  if (path == "/readyz") {
    bool ready = state_->ready.load() && !state_->draining.load();
    res.respond(ready ? 200 : 503, text, ready ? "ready\n" : "not ready\n");
    return;
  }
  if (path.rfind("/admin/", 0) == 0 || path == "/ui" || path.rfind("/ui/", 0) == 0) {
    if (!authorized(req)) {
      res.respond(401, json,
                  pipeline::errorBody(pipeline::makeError(
                      401, "admin token missing or wrong", "invalid_admin_token")));
      return;
    }
    for (auto& [route_path, handler] : routes_) {
      if (path != route_path) continue;
      if (req.method != "GET") {
        res.respond(405, {{"Content-Type", "application/json"}, {"Allow", "GET"}},
                    pipeline::errorBody(pipeline::makeError(405, "use GET for " + route_path,
                                                            "method_not_allowed")));
        return;
      }
      handler(req, res);
      return;
    }
  }
  res.respond(404, json,
              pipeline::errorBody(pipeline::makeError(404, "no admin route for " +
                                                               std::string(path), "unknown_url")));
}

}  // namespace sluice::admin
