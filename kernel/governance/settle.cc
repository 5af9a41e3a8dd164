#include "governance/settle.h"

#include <ctime>

#include "governance/counter_store.h"
#include "governance/decision.h"
#include "http/client.h"
#include "pipeline/errors.h"
#include "telemetry/hub.h"
#include "util/clock.h"
#include "util/log.h"

namespace sluice::governance {
namespace {

// One webhook POST; deletes itself when the upstream answers or fails.
class AlertPost : public http::ClientHandler {
 public:
  explicit AlertPost(std::string what) : what_(std::move(what)) {}
  void onHead(int status, const std::vector<std::pair<std::string, std::string>>&) override {
    status_ = status;
  }
  void onBody(const char*, size_t) override {}
  void onEnd() override {
    if (status_ >= 300) {
      util::logWarn("budget", what_ + ": alert webhook answered " + std::to_string(status_));
    }
    delete this;
  }
  void onError(http::ClientError e, const std::string&) override {
    util::logWarn("budget", what_ + ": alert webhook failed: " + http::clientErrorName(e));
    delete this;
  }

 private:
  std::string what_;
  int status_ = 0;
};

void postAlert(sluice_worker* worker, const std::string& url, std::string body,
               const std::string& what) {
  http::ClientRequest req;
  if (!http::Url::parse(url, &req.url)) {
    util::logWarn("budget", what + ": alert webhook URL is not an http(s) URL");
    return;
  }
  req.method = "POST";
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = std::move(body);
  req.total_timeout_ms = 10000;
  worker->client->start(std::move(req), new AlertPost(what));
}

double asUnits(CounterKind kind, int64_t v) {
  return kind == CounterKind::Cost ? static_cast<double>(v) / kNanoPerUsd : static_cast<double>(v);
}

// What an alert needs once the store has answered; the exchange may be gone,
// the plan's shape is kept alive here.
struct PendingAlert {
  std::shared_ptr<const PlanShape> shape;
  size_t check = 0;
  int64_t limit = 0;
  int64_t delta = 0;
  size_t value_index = 0;  // of the spent counter in the adjust answer
};

}  // namespace

std::string alertJson(const CheckInfo& info, int64_t limit, double threshold, int64_t spent,
                      int64_t now_ms) {
  Period p = periodFor(info.budget->unit, now_ms);
  std::string out = "{\"type\":\"budget_threshold\",\"budget\":";
  pipeline::appendJsonString(&out, info.budget->id);
  out += ",\"key\":";
  pipeline::appendJsonString(&out, info.dims);
  out += ",\"threshold_percent\":" + jsonNumber(threshold);
  out += ",\"spent\":" + jsonNumber(asUnits(info.kind, spent));
  out += ",\"limit\":" + jsonNumber(asUnits(info.kind, limit));
  out += ",\"unit\":\"";
  out += unitName(info.budget->unit);
  out += "\",\"period_start\":\"" + util::isoTimeUtc(p.start_ms) + "\",\"period_end\":\"" +
         util::isoTimeUtc(p.end_ms) + "\"}";
  return out;
}

namespace {

// What runs once the store has answered a settlement: the alerts of the
// budgets whose spent counter it moved. Empty when no budget has alerts.
CounterStore::ValuesDone alertsDone(sluice_worker* worker, const Plan& plan,
                                    const std::vector<CounterDelta>& deltas) {
  // Budgets with alerts: find their spent counter among the deltas.
  std::vector<PendingAlert> alerts;
  for (size_t i = 0; i < plan.checks.size(); i++) {
    const CheckInfo& info = plan.info(i);
    if (!info.budget || !info.budget->alerts || info.budget->alerts->thresholds.empty()) continue;
    for (size_t d = 0; d < deltas.size(); d++) {
      if (deltas[d].key != info.spent_key || deltas[d].delta <= 0) continue;
      alerts.push_back({plan.shape, i, plan.checks[i].limit, deltas[d].delta, d});
    }
  }
  if (alerts.empty()) return nullptr;
  return [worker, alerts = std::move(alerts)](const std::vector<int64_t>& values) {
    if (values.empty()) return;  // store unavailable: no alert rather than a wrong one
    int64_t now_ms = static_cast<int64_t>(time(nullptr)) * 1000;
    for (const auto& a : alerts) {
      if (a.value_index >= values.size()) continue;
      const CheckInfo& info = a.shape->info[a.check];
      int64_t after = values[a.value_index];
      int64_t before = after - a.delta;
      for (double t : info.budget->alerts->thresholds) {
        double mark = static_cast<double>(a.limit) * t / 100.0;
        if (!(static_cast<double>(before) < mark && static_cast<double>(after) >= mark)) continue;
        std::string body = alertJson(info, a.limit, t, after, now_ms);
        std::string url = info.budget->alerts->webhook;
        std::string what = "budget '" + info.budget->id + "' reached " + jsonNumber(t) + "%";
        uint32_t ttl = static_cast<uint32_t>(info.window_ms / 1000 + 86400);
        worker->counters->claimOnce(
            info.spent_key + ":alert:" + jsonNumber(t), ttl,
            [worker, url, body = std::move(body), what](bool first) mutable {
              if (!first) return;
              util::logWarn("budget", what);
              if (worker->telemetry) worker->telemetry->event(body);  // the sinks' event()
              if (!url.empty()) postAlert(worker, url, std::move(body), what);
            });
      }
    }
  };
}

}  // namespace

void settle(sluice_worker* worker, const Plan& plan, const manifest::Pricing* pricing,
            const Usage& usage) {
  if (!worker || !worker->counters || plan.empty()) return;
  // Stores copy what they keep, so one vector per worker thread serves
  // every settlement (a nested call would find it taken and make its own).
  static thread_local std::vector<CounterDelta> spare;
  std::vector<CounterDelta> deltas = std::move(spare);
  settlement(plan, pricing, usage, &deltas);
  if (!deltas.empty()) worker->counters->adjust(deltas, alertsDone(worker, plan, deltas));
  spare = std::move(deltas);
}

void releasePlan(sluice_worker* worker, const Plan& plan) {
  if (!worker || !worker->counters || plan.empty()) return;
  std::vector<CounterDelta> deltas = release(plan);
  if (!deltas.empty()) worker->counters->adjust(deltas, nullptr);
}

}  // namespace sluice::governance
