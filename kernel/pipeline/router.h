// Phase 7, route: the manifest's routing rules, ready for the request path.
// The first rule whose `when` holds for a request decides it; the rule's
// strategy plugin orders its targets from their live stats; a sticky session
// keeps the target that answered it. Built once per configuration snapshot;
// the stats outlive it (TargetStatsTable).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "governance/identity.h"
#include "http/server.h"
#include "manifest/config.h"
#include "pipeline/target_stats.h"
#include "sluice/plugin.h"

namespace sluice::pipeline {

struct ModelEntry;

constexpr size_t kMaxRouteTargets = 32;  // the manifest refuses more per rule

// One target of one rule.
struct RoutedTarget {
  const manifest::RouteTarget* config = nullptr;
  const ModelEntry* model = nullptr;
  std::shared_ptr<TargetStats> stats;
  BreakerSettings breaker;
  uint32_t sla_window_ms = kDefaultShortWindowMs;
  // override_params as (top-level key, raw JSON value), parsed once.
  std::vector<std::pair<std::string, std::string>> override_members;

  // The body with override_params merged in: each key replaces the client's.
  std::string withOverrides(std::string body) const;
  // headers_override: removes, then sets (case-insensitive names).
  void overrideHeaders(std::vector<std::pair<std::string, std::string>>* headers) const;
};

// Targets in the order to try them, as indexes into Route::targets().
struct TargetOrder {
  uint32_t count = 0;
  uint32_t index[kMaxRouteTargets] = {};
};

// Sessions pinned to the target that answered them, for ttl after their last
// request. Bounded: past kMaxSessions, new sessions are not pinned until old
// ones expire.
class StickyTable {
 public:
  static constexpr size_t kMaxSessions = 100000;
  explicit StickyTable(uint64_t ttl_ms) : ttl_ms_(ttl_ms) {}
  // The pinned target of `key`, or -1.
  int find(std::string_view key, uint64_t now_ms);
  void pin(std::string_view key, uint32_t target, uint64_t now_ms);
  size_t size();

 private:
  struct Pin {
    uint32_t target;
    uint64_t expires_ms;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  uint64_t ttl_ms_;
  std::mutex mu_;
  std::unordered_map<std::string, Pin, Hash, std::equal_to<>> pins_;
};

class Route {
 public:
  Route(const manifest::RoutingRule* rule, const sluice_routing_vtable* vt, void* instance,
        uint16_t abi_minor);
  ~Route();
  Route(const Route&) = delete;
  Route& operator=(const Route&) = delete;

  const manifest::RoutingRule& rule() const { return *rule_; }
  const std::string& id() const { return rule_->id; }
  const std::vector<RoutedTarget>& targets() const { return targets_; }

  // The most any target may cost, for reservations made before one is chosen.
  const manifest::Pricing* worstPricing() const { return has_pricing_ ? &worst_pricing_ : nullptr; }
  int64_t maxOutputTokens() const { return max_output_tokens_; }

  // The session a request belongs to (sticky_routing), or "" when the rule
  // is not sticky or the request names no session.
  std::string stickyKey(const http::Request& req, const governance::Metadata& metadata) const;
  // The order to try the targets in: a live sticky pin first, then the
  // strategy's order.
  void order(std::string_view sticky_key, uint64_t now_ms, TargetOrder* out) const;
  // Target `index` answered the session: keep it there for ttl_seconds.
  void pin(std::string_view sticky_key, uint32_t index, uint64_t now_ms) const;

 private:
  friend class Router;
  void strategyOrder(std::string_view sticky_key, uint64_t now_ms, TargetOrder* out) const;

  const manifest::RoutingRule* rule_;
  const sluice_routing_vtable* vt_;
  void* instance_;
  size_t stats_stride_;  // sizeof the plugin's sluice_target_stats
  std::vector<RoutedTarget> targets_;
  manifest::Pricing worst_pricing_;
  bool has_pricing_ = false;
  int64_t max_output_tokens_ = 0;
  std::unique_ptr<StickyTable> sticky_;
  std::vector<std::string> session_keys_;    // sticky identifiers' keys, header names lower-cased
  mutable std::atomic<bool> warned_{false};  // a bad strategy answer is logged once
};

class Router {
 public:
  using ModelLookup = std::function<const ModelEntry*(std::string_view id)>;
  // A routing plugin's table and the ABI minor it was built against.
  using StrategyLookup = std::function<const sluice_routing_vtable*(
      const std::string& name, uint16_t* abi_minor, std::string* why)>;

  // Creates one strategy instance per rule. On failure returns nullptr and
  // appends one line per problem to *errors.
  static std::unique_ptr<Router> build(const manifest::Config& config, const ModelLookup& models,
                                       const StrategyLookup& strategies, TargetStatsTable* stats,
                                       std::vector<std::string>* errors);

  // The first rule whose `when` holds, or nullptr.
  const Route* match(std::string_view model, const governance::Principal& caller,
                     const governance::Metadata& metadata) const;
  bool isVirtual(std::string_view model) const;
  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }

  // GET /admin/targets: every rule's targets with their live stats.
  std::string targetsJson(uint64_t now_ms) const;

 private:
  std::vector<std::unique_ptr<Route>> routes_;
  std::vector<std::string> virtual_models_;
};

// Monotonic milliseconds: the clock of the stats and the breakers.
uint64_t routingNowMs();

}  // namespace sluice::pipeline
