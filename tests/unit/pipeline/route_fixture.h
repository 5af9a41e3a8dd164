// A Router built from a hand-made configuration, with stub strategy plugins,
// for the routing and failover tests.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "manifest/config.h"
#include "pipeline/gateway.h"
#include "pipeline/router.h"

namespace sluice::pipeline::testing {

// One finished attempt that answered, with this time per output token.
inline void recordAnswer(TargetStats& s, uint64_t now_ms, double tpot_ms) {
  s.attemptStarted();
  AttemptSample a;
  a.answered = true;
  a.latency_ms = 100;
  a.ttft_ms = 10;
  a.tpot_ms = tpot_ms;
  s.attemptFinished(a, now_ms, {}, false);
}

// `times` failed attempts (default breaker settings: two open it).
inline void recordFailures(TargetStats& s, uint64_t now_ms, int times) {
  for (int i = 0; i < times; i++) {
    s.attemptStarted();
    AttemptSample f;
    f.failure = true;
    s.attemptFinished(f, now_ms, {}, false);
  }
}

// Strategies that need no plugin: "in-order" keeps the manifest's order,
// "reverse" reverses it, "broken" answers an index out of range, "first-only"
// returns just the first target. Each records the stats it was last given.
struct StubStrategies {
  static std::vector<sluice_target_stats>& seen() {
    static std::vector<sluice_target_stats> v;
    return v;
  }
  static std::string& lastKey() {
    static std::string k;
    return k;
  }
  static int order(void* instance, const sluice_target_stats* t, size_t n, sluice_str key,
                   uint32_t* out) {
    std::string mode = static_cast<const char*>(instance);
    seen().assign(t, t + n);
    lastKey().assign(key.ptr ? key.ptr : "", key.len);
    if (mode == "broken") {
      out[0] = static_cast<uint32_t>(n + 5);
      return 1;
    }
    if (mode == "first-only") {
      out[0] = 0;
      return 1;
    }
    for (size_t i = 0; i < n; i++) {
      out[i] = static_cast<uint32_t>(mode == "reverse" ? n - 1 - i : i);
    }
    return static_cast<int>(n);
  }
  // The rule's strategy config is the mode's name.
  static int create(const sluice_host*, const char* config, void** instance, char* err,
                    size_t err_len) {
    if (std::string(config) == "refuse") {
      snprintf(err, err_len, "refused: bad config");
      return SLUICE_ERR_CONFIG;
    }
    *instance = strdup(config);
    return SLUICE_OK;
  }
  static void destroy(void* instance) { free(instance); }
};

class RouteFixture {
 public:
  RouteFixture() {
    config.providers.push_back({});
    config.providers[0].name = "p";
    provider.name = "p";
    provider.type = "openai";
  }

  // A model "p/<name>" with optional pricing.
  void model(const std::string& name, double in = -1, double out = -1, int64_t max_out = 4096) {
    manifest::ModelConfig mc;
    mc.name = name;
    mc.max_output_tokens = max_out;
    if (in >= 0) mc.pricing = manifest::Pricing{in, out, in};
    config.providers[0].models.push_back(mc);
  }

  manifest::RoutingRule& rule(const std::string& id, const std::string& strategy,
                              const std::vector<std::string>& targets) {
    manifest::RoutingRule r;
    r.id = id;
    r.strategy = strategy;
    r.strategy_config_json = strategy;  // the stubs' mode
    for (const auto& t : targets) {
      manifest::RouteTarget rt;
      rt.target = t;
      rt.raw_json = "{\"target\":\"" + t + "\"}";
      r.targets.push_back(rt);
    }
    config.routing.push_back(r);
    return config.routing.back();
  }

  // Builds the router; `minor` is the ABI minor the stubs claim.
  void build(uint16_t minor = SLUICE_ABI_MINOR) {
    // Model entries point into `config`, which no longer changes.
    for (const auto& mc : config.providers[0].models) {
      ModelEntry e;
      e.id = "p/" + mc.name;
      e.upstream_name = mc.name;
      e.provider = &provider;
      e.config = &mc;
      models[e.id] = e;
    }
    std::vector<std::string> errors;
    router = Router::build(
        config,
        [this](std::string_view id) -> const ModelEntry* {
          auto it = models.find(std::string(id));
          return it == models.end() ? nullptr : &it->second;
        },
        [minor](const std::string& name, uint16_t* abi_minor, std::string* why) {
          static const sluice_routing_vtable stub = {
              sizeof(sluice_routing_vtable), StubStrategies::create, StubStrategies::destroy,
              StubStrategies::order};
          if (name == "missing") {
            *why = "no routing plugin named 'missing'";
            return static_cast<const sluice_routing_vtable*>(nullptr);
          }
          *abi_minor = minor;
          return &stub;
        },
        &stats, &errors);
    build_errors = errors;
  }

  const Route& route(size_t i) const { return *router->routes()[i]; }

  manifest::Config config;
  ProviderInstance provider;
  std::map<std::string, ModelEntry> models;
  TargetStatsTable stats;
  std::unique_ptr<Router> router;
  std::vector<std::string> build_errors;
};

}  // namespace sluice::pipeline::testing
