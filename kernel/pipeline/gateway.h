// One immutable snapshot of what the manifest configured: provider plugin
// instances and the model table. Workers share it; a reload builds a new one
// and in-flight requests finish on the snapshot they started with.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "governance/identity.h"
#include "governance/limits.h"
#include "lua/policies.h"
#include "manifest/config.h"
#include "pipeline/guardrails.h"
#include "pipeline/router.h"
#include "pipeline/target_stats.h"
#include "plugins/registry.h"
#include "sluice/plugin.h"

namespace sluice::pipeline {

struct ProviderInstance {
  std::string name;  // account name (model prefix)
  std::string type;  // plugin name
  const sluice_provider_vtable* vt = nullptr;
  void* instance = nullptr;
};

struct ModelEntry {
  std::string id;             // "<provider>/<model>", what clients send
  std::string upstream_name;  // what the provider is sent
  const ProviderInstance* provider = nullptr;
  const manifest::ModelConfig* config = nullptr;
};

// Lets the model table be searched with a string_view (no allocation per request).
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Gateway {
 public:
  // Creates every provider instance and routing strategy. On failure returns
  // nullptr and appends one line per problem to *errors. Pass the running
  // snapshot's targetStats() to a reload so targets keep their stats.
  static std::shared_ptr<Gateway> build(std::shared_ptr<const manifest::Config> config,
                                        plugins::Registry* registry,
                                        std::vector<std::string>* errors,
                                        std::shared_ptr<TargetStatsTable> stats = nullptr);
  ~Gateway();

  const ModelEntry* findModel(std::string_view id) const;
  const manifest::Config& config() const { return *config_; }
  // GET /models body: prebuilt for callers who may use every model.
  const std::string& modelsJson() const { return models_json_; }
  std::string modelsJsonFor(const governance::Principal& caller) const;
  const governance::Directory& directory() const { return *directory_; }
  const governance::Policy& policy() const { return *policy_; }
  // The Lua policies, compiled; empty when the manifest has none.
  const std::shared_ptr<const lua::Policies>& policies() const { return policies_; }
  const GuardrailSet& guardrails() const { return *guardrails_; }
  const Router& router() const { return *router_; }
  const std::shared_ptr<TargetStatsTable>& targetStats() const { return target_stats_; }
  // Strips a configured base path; returns the rest or npos-like empty view.
  bool stripBasePath(std::string_view path, std::string_view* rest) const;

 private:
  Gateway() = default;
  std::shared_ptr<const manifest::Config> config_;
  std::vector<std::unique_ptr<ProviderInstance>> providers_;
  std::unordered_map<std::string, ModelEntry, StringViewHash, std::equal_to<>> models_;
  std::string models_json_;
  std::unique_ptr<governance::Directory> directory_;
  std::unique_ptr<governance::Policy> policy_;
  std::shared_ptr<const lua::Policies> policies_;
  std::unique_ptr<GuardrailSet> guardrails_;
  std::shared_ptr<TargetStatsTable> target_stats_;
  std::unique_ptr<Router> router_;  // destroyed first: it names models above
};

// Counter keys of every replica share this prefix (one Redis hash slot).
constexpr const char* kCounterKeyPrefix = "{sluice}:";

}  // namespace sluice::pipeline

namespace sluice::pipeline {

// The current snapshot, swapped atomically on reload. Workers keep their own
// reference and compare a generation number per request (a relaxed load), so
// the hot path takes no lock and touches no shared reference count.
class GatewayHolder {
 public:
  void set(std::shared_ptr<Gateway> gw);
  std::shared_ptr<Gateway> get() const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<Gateway> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace sluice::pipeline
