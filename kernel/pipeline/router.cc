#include "pipeline/router.h"

#include <cjson/cJSON.h>
#include <strings.h>

#include <algorithm>
#include <cstring>

#include "governance/limits.h"
#include "pipeline/errors.h"
#include "pipeline/gateway.h"
#include "pipeline/json_splice.h"
#include "plugins/host.h"
#include "util/clock.h"
#include "util/log.h"

namespace sluice::pipeline {

uint64_t routingNowMs() { return util::monotonicNs() / 1000000ull; }

// ------------------------------------------------------------ overrides

std::string RoutedTarget::withOverrides(std::string body) const {
  for (const auto& [key, value] : override_members) {
    Span at = findTopLevelMember(body, key);
    body = at.found ? replaceSpan(body, at, value) : insertMember(body, key, value);
  }
  return body;
}

void RoutedTarget::overrideHeaders(
    std::vector<std::pair<std::string, std::string>>* headers) const {
  auto same = [](const std::string& a, const std::string& b) {
    return a.size() == b.size() && strcasecmp(a.c_str(), b.c_str()) == 0;
  };
  for (const auto& name : config->headers_remove) {
    headers->erase(std::remove_if(headers->begin(), headers->end(),
                                  [&](const auto& h) { return same(h.first, name); }),
                   headers->end());
  }
  for (const auto& set : config->headers_set) {
    auto it = std::find_if(headers->begin(), headers->end(),
                           [&](const auto& h) { return same(h.first, set.first); });
    if (it != headers->end()) {
      it->second = set.second;
    } else {
      headers->emplace_back(set.first, set.second);
    }
  }
}

// ------------------------------------------------------------ sticky sessions

int StickyTable::find(std::string_view key, uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(key);
  if (it == pins_.end()) return -1;
  if (it->second.expires_ms <= now_ms) {
    pins_.erase(it);
    return -1;
  }
  return static_cast<int>(it->second.target);
}

void StickyTable::pin(std::string_view key, uint32_t target, uint64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(key);
  if (it != pins_.end()) {
    it->second = {target, now_ms + ttl_ms_};
    return;
  }
  if (pins_.size() >= kMaxSessions) {
    for (auto e = pins_.begin(); e != pins_.end();) {
      e = e->second.expires_ms <= now_ms ? pins_.erase(e) : std::next(e);
    }
    if (pins_.size() >= kMaxSessions) return;
  }
  pins_.emplace(std::string(key), Pin{target, now_ms + ttl_ms_});
}

size_t StickyTable::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return pins_.size();
}

// ------------------------------------------------------------ route

Route::Route(const manifest::RoutingRule* rule, const sluice_routing_vtable* vt, void* instance,
             uint16_t abi_minor)
    : rule_(rule), vt_(vt), instance_(instance) {
  // A 1.0 plugin knows the stats without the 1.1 fields: lay them out so.
  stats_stride_ =
      abi_minor >= 1 ? sizeof(sluice_target_stats) : offsetof(sluice_target_stats, sla_tpot_ms);
  if (!rule->sticky) return;
  sticky_ = std::make_unique<StickyTable>(rule->sticky->ttl_seconds * 1000ull);
  for (const auto& id : rule->sticky->session_identifiers) {
    std::string key = id.key;
    // Request header names arrive lower-cased; metadata keys are exact.
    if (id.source == "header") {
      for (char& c : key) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    }
    session_keys_.push_back(std::move(key));
  }
}

Route::~Route() {
  if (vt_ && vt_->destroy) vt_->destroy(instance_);
}

std::string Route::stickyKey(const http::Request& req, const governance::Metadata& metadata) const {
  std::string key;
  if (!sticky_) return key;
  const auto& ids = rule_->sticky->session_identifiers;
  for (size_t i = 0; i < ids.size(); i++) {
    const std::string& name = session_keys_[i];
    const std::string* value = nullptr;
    if (ids[i].source == "header") {
      value = req.header(name);
    } else {
      auto it = metadata.find(name);
      if (it != metadata.end()) value = &it->second;
    }
    if (!value || value->empty()) continue;
    key.append(ids[i].source).push_back('.');
    key.append(name).push_back('=');
    key.append(*value).push_back('\n');
  }
  return key;
}

void Route::strategyOrder(std::string_view sticky_key, uint64_t now_ms, TargetOrder* out) const {
  size_t n = targets_.size();
  alignas(sluice_target_stats) unsigned char stats[kMaxRouteTargets * sizeof(sluice_target_stats)];
  for (size_t i = 0; i < n; i++) {
    const RoutedTarget& t = targets_[i];
    StatsView v = t.stats->view(now_ms, t.sla_window_ms);
    sluice_target_stats s{};
    s.struct_size = static_cast<uint32_t>(stats_stride_);
    s.target = {t.config->target.data(), t.config->target.size()};
    s.priority = t.config->priority;
    s.weight = t.config->weight;
    s.latency_ms = v.latency_ms;
    s.ttft_ms = v.ttft_ms;
    s.tpot_ms = v.tpot_ms;
    s.tpot_ms_3m = v.tpot_ms_short;
    s.tpot_samples = v.tpot_samples;
    s.error_rate = v.error_rate;
    s.in_flight = v.in_flight;
    s.healthy = t.stats->admits(now_ms, t.breaker) ? 1 : 0;
    s.target_config_json = t.config->raw_json.c_str();
    s.sla_tpot_ms = t.config->sla_tpot_ms.value_or(0);
    s.tpot_samples_3m = v.tpot_samples_short;
    memcpy(stats + i * stats_stride_, &s, stats_stride_);
  }
  uint32_t raw[kMaxRouteTargets];
  int rc = vt_->order(instance_, reinterpret_cast<const sluice_target_stats*>(stats), n,
                      sluice_str{sticky_key.data(), sticky_key.size()}, raw);
  bool seen[kMaxRouteTargets] = {};
  bool bad = rc < 0 || static_cast<size_t>(rc) > n;
  out->count = 0;
  for (int k = 0; !bad && k < rc; k++) {
    if (raw[k] >= n || seen[raw[k]]) {
      bad = true;
      break;
    }
    seen[raw[k]] = true;
    out->index[out->count++] = raw[k];
  }
  if (bad) {
    // A strategy that misbehaves must not take the rule down: manifest order.
    if (!warned_.exchange(true)) {
      util::logError("routing", "rule '" + rule_->id + "': strategy '" + rule_->strategy +
                                    "' returned an invalid order (" + std::to_string(rc) +
                                    "); using the manifest's order");
    }
    out->count = static_cast<uint32_t>(n);
    for (size_t i = 0; i < n; i++) out->index[i] = static_cast<uint32_t>(i);
  }
}

void Route::order(std::string_view sticky_key, uint64_t now_ms, TargetOrder* out) const {
  TargetOrder strategy;
  strategyOrder(sticky_key, now_ms, &strategy);
  out->count = 0;
  int pinned = -1;
  if (sticky_ && !sticky_key.empty()) {
    pinned = sticky_->find(sticky_key, now_ms);
    if (pinned >= static_cast<int>(targets_.size())) pinned = -1;
    if (pinned >= 0) {
      const RoutedTarget& t = targets_[pinned];
      if (t.stats->admits(now_ms, t.breaker)) {
        out->index[out->count++] = static_cast<uint32_t>(pinned);
      } else {
        pinned = -1;  // its breaker is open: the session moves on
      }
    }
  }
  for (uint32_t k = 0; k < strategy.count; k++) {
    if (static_cast<int>(strategy.index[k]) != pinned) out->index[out->count++] = strategy.index[k];
  }
}

void Route::pin(std::string_view sticky_key, uint32_t index, uint64_t now_ms) const {
  if (sticky_ && !sticky_key.empty()) sticky_->pin(sticky_key, index, now_ms);
}

// ------------------------------------------------------------ router

namespace {

std::vector<std::pair<std::string, std::string>> parseOverrides(const std::string& json) {
  std::vector<std::pair<std::string, std::string>> out;
  if (json.empty()) return out;
  cJSON* root = cJSON_Parse(json.c_str());
  for (const cJSON* item = root ? root->child : nullptr; item; item = item->next) {
    char* printed = cJSON_PrintUnformatted(item);
    if (printed) out.emplace_back(item->string, printed);
    cJSON_free(printed);
  }
  cJSON_Delete(root);
  return out;
}

}  // namespace

std::unique_ptr<Router> Router::build(const manifest::Config& config, const ModelLookup& models,
                                      const StrategyLookup& strategies, TargetStatsTable* stats,
                                      std::vector<std::string>* errors) {
  stats->prune();  // targets that left the manifest in an earlier reload
  auto router = std::make_unique<Router>();
  router->virtual_models_ = config.virtual_models;
  size_t before = errors->size();
  for (const manifest::RoutingRule& rule : config.routing) {
    std::string where = "routing rule '" + rule.id + "'";
    uint16_t minor = 0;
    std::string why;
    const sluice_routing_vtable* vt = strategies(rule.strategy, &minor, &why);
    if (!vt) {
      errors->push_back(where + ": " + why);
      continue;
    }
    if (vt->struct_size < offsetof(sluice_routing_vtable, order) + sizeof(vt->order) ||
        !vt->create || !vt->order) {
      errors->push_back(where + ": plugin '" + rule.strategy + "' has an incomplete routing table");
      continue;
    }
    void* instance = nullptr;
    char err[512] = {0};
    std::string cfg = rule.strategy_config_json.empty() ? "{}" : rule.strategy_config_json;
    if (vt->create(plugins::hostServices(), cfg.c_str(), &instance, err, sizeof err) != SLUICE_OK) {
      errors->push_back(where + " (strategy '" + rule.strategy +
                        "'): " + (err[0] ? err : "create failed"));
      continue;
    }
    auto route = std::make_unique<Route>(&rule, vt, instance, minor);
    for (const manifest::RouteTarget& t : rule.targets) {
      RoutedTarget rt;
      rt.config = &t;
      rt.model = models(t.target);
      if (!rt.model) {
        errors->push_back(where + ": target '" + t.target + "' names no configured model");
        continue;
      }
      rt.stats = stats->get(t.target);
      rt.breaker = {t.circuit_breaker.failures, t.circuit_breaker.window_seconds * 1000,
                    t.circuit_breaker.cooldown_seconds * 1000};
      rt.sla_window_ms = t.sla_window_seconds * 1000;
      rt.override_members = parseOverrides(t.override_params_json);
      const manifest::ModelConfig* mc = rt.model->config;
      route->max_output_tokens_ =
          std::max(route->max_output_tokens_, mc ? mc->max_output_tokens : int64_t{4096});
      if (mc && mc->pricing) {
        manifest::Pricing& w = route->worst_pricing_;
        w.input_per_mtok = std::max(w.input_per_mtok, mc->pricing->input_per_mtok);
        w.output_per_mtok = std::max(w.output_per_mtok, mc->pricing->output_per_mtok);
        w.cached_input_per_mtok =
            std::max(w.cached_input_per_mtok, mc->pricing->cached_input_per_mtok);
        route->has_pricing_ = true;
      }
      route->targets_.push_back(std::move(rt));
    }
    router->routes_.push_back(std::move(route));
  }
  if (errors->size() != before) return nullptr;
  return router;
}

const Route* Router::match(std::string_view model, const governance::Principal& caller,
                           const governance::Metadata& metadata) const {
  if (routes_.empty()) return nullptr;
  governance::RequestFacts facts;
  facts.principal = &caller;
  facts.model = model;
  facts.metadata = &metadata;
  for (const auto& route : routes_) {
    if (governance::matches(route->rule().when, facts)) return route.get();
  }
  return nullptr;
}

bool Router::isVirtual(std::string_view model) const {
  return std::find(virtual_models_.begin(), virtual_models_.end(), model) != virtual_models_.end();
}

std::string Router::targetsJson(uint64_t now_ms) const {
  using governance::jsonNumber;
  std::string js = "{\"rules\":[";
  for (size_t r = 0; r < routes_.size(); r++) {
    const Route& route = *routes_[r];
    if (r) js.push_back(',');
    js += "{\"id\":";
    appendJsonString(&js, route.id());
    js += ",\"strategy\":";
    appendJsonString(&js, route.rule().strategy);
    js += ",\"targets\":[";
    for (size_t i = 0; i < route.targets().size(); i++) {
      const RoutedTarget& t = route.targets()[i];
      StatsView v = t.stats->view(now_ms, t.sla_window_ms);
      BreakerView b = t.stats->breaker(now_ms, t.breaker);
      if (i) js.push_back(',');
      js += "{\"target\":";
      appendJsonString(&js, t.config->target);
      js += ",\"priority\":" + std::to_string(t.config->priority);
      js += ",\"weight\":" + std::to_string(t.config->weight);
      js += ",\"breaker\":{\"state\":\"";
      js += breakerStateName(b.state);
      js += "\",\"recent_failures\":" + std::to_string(b.recent_failures);
      js += ",\"retry_in_ms\":" + std::to_string(b.retry_in_ms);
      js += ",\"failures\":" + std::to_string(t.breaker.failures);
      js += ",\"window_seconds\":" + std::to_string(t.breaker.window_ms / 1000);
      js += ",\"cooldown_seconds\":" + std::to_string(t.breaker.cooldown_ms / 1000) + "}";
      js += ",\"in_flight\":" + std::to_string(v.in_flight);
      js += ",\"answers\":" + std::to_string(v.answers);
      js += ",\"latency_ms\":" + jsonNumber(v.latency_ms);
      js += ",\"ttft_ms\":" + jsonNumber(v.ttft_ms);
      js += ",\"tpot_ms\":" + jsonNumber(v.tpot_ms);
      js += ",\"tpot_samples\":" + std::to_string(v.tpot_samples);
      js += ",\"recent\":{\"window_seconds\":" + std::to_string(t.sla_window_ms / 1000);
      js += ",\"attempts\":" + std::to_string(v.attempts_short);
      js += ",\"failures\":" + std::to_string(v.failures_short);
      js += ",\"error_rate\":" + jsonNumber(v.error_rate);
      js += ",\"tpot_ms\":" + jsonNumber(v.tpot_ms_short);
      js += ",\"tpot_samples\":" + std::to_string(v.tpot_samples_short) + "}";
      if (t.config->sla_tpot_ms) {
        bool over = v.tpot_samples_short > 0 && v.tpot_ms_short > *t.config->sla_tpot_ms;
        js += ",\"sla_cutoff\":{\"time_per_output_token_ms\":" + jsonNumber(*t.config->sla_tpot_ms);
        js += std::string(",\"within\":") + (over ? "false" : "true") + "}";
      }
      js.push_back('}');
    }
    js += "]}";
  }
  js += "]}";
  return js;
}

}  // namespace sluice::pipeline
