#include "admin/telemetry_routes.h"

#include "admin/ui_assets.h"
#include "http/query.h"
#include "pipeline/errors.h"
#include "plugins/host.h"

namespace sluice::admin {
namespace {

void respondJsonError(http::Response& res, int status, std::string message, std::string code) {
  res.respond(
      status, {{"Content-Type", "application/json"}},
      pipeline::errorBody(pipeline::makeError(status, std::move(message), std::move(code))));
}

// Asks the sinks; a query no configured sink serves is 501 with what to add.
void answerQuery(telemetry::Hub* hub, std::string_view name, const http::QueryParams& params,
                 http::Response& res, std::string_view what) {
  bool answered =
      hub->query(name, params, [&res](int status, std::string_view type, std::string_view body) {
        res.respond(status, {{"Content-Type", std::string(type)}, {"Cache-Control", "no-store"}},
                    body);
      });
  if (!answered) {
    respondJsonError(
        res, 501,
        std::string(what) + " needs a sink that answers queries: add {plugin: sqlite} to `sinks`",
        "no_query_sink");
  }
}

}  // namespace

void addTelemetryRoutes(AdminServer* admin, telemetry::Hub* hub) {
  admin->route("/metrics", [hub](http::Request& req, http::Response& res) {
    std::string text;
    text.reserve(16 * 1024);
    hub->appendMetrics(&text);
    plugins::appendHostMetrics(&text);
    hub->query("metrics", http::parseQuery(req.target),
               [&text](int status, std::string_view, std::string_view body) {
                 if (status == 200) text.append(body);
               });
    res.respond(200, {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}}, text);
  });
  admin->route("/admin/requests", [hub](http::Request& req, http::Response& res) {
    answerQuery(hub, "requests", http::parseQuery(req.target), res, "/admin/requests");
  });
  admin->routePrefix("/admin/requests/", [hub](http::Request& req, http::Response& res) {
    std::string id = http::percentDecode(req.path().substr(sizeof("/admin/requests/") - 1));
    if (id.empty() || id.find('/') != std::string::npos) {
      respondJsonError(res, 404, "no admin route for " + std::string(req.path()), "unknown_url");
      return;
    }
    http::QueryParams params = http::parseQuery(req.target);
    params.emplace_back("id", id);
    answerQuery(hub, "request", params, res, "/admin/requests/{id}");
  });
  admin->route("/admin/analytics", [hub](http::Request& req, http::Response& res) {
    answerQuery(hub, "analytics", http::parseQuery(req.target), res, "/admin/analytics");
  });
  auto ui = [](http::Request& req, http::Response& res) {
    std::string_view path = req.path();
    std::string_view name = path == "/ui" || path == "/ui/" ? "index.html" : path.substr(4);
    const UiAsset* asset = findUiAsset(name);
    if (!asset || name == "login.html") {
      respondJsonError(res, 404, "no dashboard file " + std::string(path), "unknown_url");
      return;
    }
    res.respond(200, {{"Content-Type", asset->content_type}, {"Cache-Control", "no-cache"}},
                asset->body);
  };
  admin->route("/ui", ui);
  admin->routePrefix("/ui/", ui);
}

}  // namespace sluice::admin
