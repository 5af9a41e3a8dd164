#include "admin/admin.h"

#include <openssl/crypto.h>

#include "admin/ui_assets.h"
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

namespace {

bool sameSecret(std::string_view given, const std::string& token) {
  return given.size() == token.size() &&
         CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

// The value of cookie `name` in a Cookie header, or empty.
std::string_view cookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    size_t semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.compare(0, name.size(), name) == 0 &&
        pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
  }
  return {};
}

}  // namespace

// The token comes as `Authorization: Bearer <token>` or, from the dashboard
// in a browser (which cannot add a header to a page load), as the cookie its
// login page sets.
bool AdminServer::authorized(const http::Request& req) const {
  if (config_.token.empty()) return true;  // loopback only, enforced at start
  static constexpr std::string_view kBearer = "Bearer ";
  const std::string* auth = req.header("authorization");
  if (auth && auth->compare(0, kBearer.size(), kBearer) == 0) {
    return sameSecret(std::string_view(*auth).substr(kBearer.size()), config_.token);
  }
  const std::string* cookie = req.header("cookie");
  return cookie && sameSecret(cookieValue(*cookie, "sluice_admin_token"), config_.token);
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
      const UiAsset* login = findUiAsset("login.html");
      if ((path == "/ui" || path == "/ui/") && login) {  // a browser: ask for the token
        res.respond(401, {{"Content-Type", login->content_type}}, login->body);
        return;
      }
      res.respond(401, json,
                  pipeline::errorBody(pipeline::makeError(
                      401, "admin token missing or wrong", "invalid_admin_token")));
      return;
    }
  }
  const Route* handler = nullptr;
  std::string_view matched;
  for (auto& [route_path, h] : routes_) {
    if (path == route_path) {
      handler = &h;
      matched = route_path;
      break;
    }
  }
  for (size_t i = 0; !handler && i < prefix_routes_.size(); i++) {
    if (path.rfind(prefix_routes_[i].first, 0) == 0) {
      handler = &prefix_routes_[i].second;
      matched = path;
    }
  }
  if (handler) {
    if (req.method != "GET") {
      res.respond(405, {{"Content-Type", "application/json"}, {"Allow", "GET"}},
                  pipeline::errorBody(pipeline::makeError(
                      405, "use GET for " + std::string(matched), "method_not_allowed")));
      return;
    }
    (*handler)(req, res);
    return;
  }
  res.respond(404, json,
              pipeline::errorBody(pipeline::makeError(404, "no admin route for " +
                                                               std::string(path), "unknown_url")));
}

}  // namespace sluice::admin
