#include "plugins/host.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "http/client.h"
#include "util/clock.h"
#include "util/log.h"

struct sluice_timer {
  uv_timer_t handle;
  sluice_timer_cb cb;
  void* user;
};

// An HTTP call made by a plugin: the whole response is collected, then handed
// to the plugin's callback in one piece.
struct sluice_http_call : sluice::http::ClientHandler {
  sluice_worker* worker = nullptr;
  sluice::http::Call* call = nullptr;
  sluice_http_cb cb = nullptr;
  void* user = nullptr;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  void onHead(int s, const std::vector<std::pair<std::string, std::string>>& h) override {
    status = s;
    headers = h;
  }
  void onBody(const char* data, size_t len) override { body.append(data, len); }
  void onEnd() override { finish(status, ""); }
  void onError(sluice::http::ClientError e, const std::string& detail) override {
    std::string why = sluice::http::clientErrorName(e);
    if (!detail.empty()) why += ": " + detail;
    finish(0, why);
  }
  void finish(int s, const std::string& error) {
    std::vector<sluice_header> hs;
    hs.reserve(headers.size());
    for (auto& h : headers) {
      hs.push_back({{h.first.data(), h.first.size()}, {h.second.data(), h.second.size()}});
    }
    sluice_http_response res{};
    res.struct_size = sizeof res;
    res.status = s;
    res.error = {error.data(), error.size()};
    res.headers = hs.data();
    res.header_count = hs.size();
    res.body = {body.data(), body.size()};
    worker->http_in_flight--;
    cb(user, &res);
    delete this;
  }
};

namespace sluice::plugins {
namespace {

void hostLog(sluice_log_level level, const char* plugin, const char* message) {
  std::string component = std::string("plugin ") + (plugin ? plugin : "?");
  util::log(static_cast<util::LogLevel>(level), component, message ? message : "");
}

uint64_t hostNowMs() { return util::wallMs(); }
uint64_t hostMonotonicNs() { return util::monotonicNs(); }

// Plugin metrics: counters, and observations as a sum and a count; /metrics
// shows them (appendHostMetrics).
struct HostMetric {
  double sum = 0;
  uint64_t count = 0;
  bool observed = false;
};
std::mutex g_metrics_mu;
std::map<std::string, HostMetric> g_metrics;
void hostMetricAdd(const char* name, double v) {
  if (!name) return;
  std::lock_guard<std::mutex> lock(g_metrics_mu);
  g_metrics[name].sum += v;
}
void hostMetricObserve(const char* name, double v) {
  if (!name) return;
  std::lock_guard<std::mutex> lock(g_metrics_mu);
  HostMetric& m = g_metrics[name];
  m.sum += v;
  m.count++;
  m.observed = true;
}

// A Prometheus metric name: [a-zA-Z0-9_:], prefixed so plugins cannot
// shadow the kernel's own.
std::string metricName(const std::string& name) {
  std::string out = "sluice_plugin_";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':';
    out.push_back(ok ? c : '_');
  }
  return out;
}

std::mutex g_secrets_mu;
std::map<std::string, std::unique_ptr<std::string>> g_secrets;
const char* hostSecret(const char* ref) {
  if (!ref) return nullptr;
  std::string r(ref);
  std::lock_guard<std::mutex> lock(g_secrets_mu);
  auto it = g_secrets.find(r);
  if (it != g_secrets.end()) return it->second->c_str();
  std::string value;
  if (r.rfind("env:", 0) == 0) {
    const char* v = getenv(r.c_str() + 4);
    if (!v) return nullptr;
    value = v;
  } else if (r.rfind("file:", 0) == 0) {
    std::ifstream f(r.substr(5), std::ios::binary);
    if (!f) return nullptr;
    std::stringstream ss;
    ss << f.rdbuf();
    value = ss.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  } else {
    return nullptr;
  }
  auto& slot = g_secrets[r];
  slot = std::make_unique<std::string>(std::move(value));
  return slot->c_str();
}

std::mutex g_counters_mu;
std::map<std::string, int64_t> g_counters;
int64_t hostCounterAdd(const char* key, int64_t delta, uint32_t) {
  std::lock_guard<std::mutex> lock(g_counters_mu);
  return g_counters[key ? key : ""] += delta;
}

void closeTimer(sluice_timer* t) {
  uv_close(reinterpret_cast<uv_handle_t*>(&t->handle),
           [](uv_handle_t* h) { delete reinterpret_cast<sluice_timer*>(h); });
}

sluice_timer* hostTimerStart(sluice_worker* worker, uint64_t delay_ms, sluice_timer_cb cb,
                             void* user) {
  if (!worker || !worker->loop || !cb) return nullptr;
  auto* t = new sluice_timer{{}, cb, user};
  uv_timer_init(worker->loop, &t->handle);
  t->handle.data = t;
  uv_timer_start(
      &t->handle,
      [](uv_timer_t* h) {
        auto* timer = static_cast<sluice_timer*>(h->data);
        timer->cb(timer->user);
        // The callback may have cancelled (closed) its own timer already.
        if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(h))) closeTimer(timer);
      },
      delay_ms, 0);
  return t;
}

void hostTimerCancel(sluice_timer* t) {
  if (!t || uv_is_closing(reinterpret_cast<uv_handle_t*>(&t->handle))) return;
  uv_timer_stop(&t->handle);
  closeTimer(t);
}

sluice_http_call* hostHttpRequest(sluice_worker* worker, const sluice_http_request* req,
                                  sluice_http_cb cb, void* user) {
  if (!worker || !worker->client || !req || !cb) return nullptr;
  http::ClientRequest cr;
  if (!http::Url::parse(std::string_view(req->url.ptr, req->url.len), &cr.url)) return nullptr;
  cr.method.assign(req->method.ptr, req->method.len);
  if (cr.method.empty()) cr.method = "GET";
  for (size_t i = 0; i < req->header_count; i++) {
    cr.headers.emplace_back(std::string(req->headers[i].name.ptr, req->headers[i].name.len),
                            std::string(req->headers[i].value.ptr, req->headers[i].value.len));
  }
  cr.body.assign(req->body.ptr ? req->body.ptr : "", req->body.len);
  cr.total_timeout_ms = req->timeout_ms;
  auto* call = new sluice_http_call;
  call->worker = worker;
  worker->http_in_flight++;
  call->cb = cb;
  call->user = user;
  call->call = worker->client->start(std::move(cr), call);
  return call;
}

void hostHttpCancel(sluice_http_call* call) {
  if (!call) return;
  if (call->call) call->call->cancel();
  call->worker->http_in_flight--;
  delete call;
}

const sluice_host kHost = {
    sizeof(sluice_host), SLUICE_ABI_MINOR, hostLog,        hostNowMs,       hostMonotonicNs,
    hostMetricAdd,       hostMetricObserve, hostSecret,    hostCounterAdd,  hostTimerStart,
    hostTimerCancel,     hostHttpRequest,   hostHttpCancel,
};

}  // namespace

const sluice_host* hostServices() { return &kHost; }

void appendHostMetrics(std::string* out) {
  std::lock_guard<std::mutex> lock(g_metrics_mu);
  char buf[64];
  for (const auto& [name, m] : g_metrics) {
    std::string n = metricName(name);
    if (m.observed) {
      snprintf(buf, sizeof buf, "%.17g", m.sum);
      *out += "# TYPE " + n + " summary\n" + n + "_sum " + buf + "\n" + n + "_count " +
              std::to_string(m.count) + "\n";
    } else {
      snprintf(buf, sizeof buf, "%.17g", m.sum);
      *out += "# TYPE " + n + " counter\n" + n + " " + buf + "\n";
    }
  }
}

}  // namespace sluice::plugins
