// Candidate targets for routing-strategy tests: sluice_target_stats built
// field by field, and a strategy's order() called through its descriptor.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "sluice/plugin.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {

struct Candidates {
  std::vector<std::string> names;  // keeps target strings alive
  std::vector<sluice_target_stats> stats;

  // Adds a healthy target; returns it for further fields.
  sluice_target_stats& add(const std::string& name) {
    names.reserve(64);  // target.ptr points into these
    names.push_back(name);
    sluice_target_stats s{};
    s.struct_size = sizeof s;
    s.target = {names.back().data(), names.back().size()};
    s.healthy = 1;
    s.weight = 1;
    s.target_config_json = "{}";
    stats.push_back(s);
    return stats.back();
  }
};

inline const sluice_routing_vtable* routingVtable() {
  return static_cast<const sluice_routing_vtable*>(sluice_plugin_entry()->vtable);
}

// The strategy plugin created with a config, destroyed at scope exit.
class StrategyInstance {
 public:
  StrategyInstance(const sluice_host* host, const char* config = "{}") { reset(host, config); }
  ~StrategyInstance() { routingVtable()->destroy(instance_); }
  void reset(const sluice_host* host, const char* config) {
    if (created_) routingVtable()->destroy(instance_);
    created_ = routingVtable()->create(host, config, &instance_, nullptr, 0) == SLUICE_OK;
  }
  bool created() const { return created_; }
  void* get() const { return instance_; }

 private:
  void* instance_ = nullptr;
  bool created_ = false;
};

// One order() call; the indexes it returned.
inline std::vector<uint32_t> orderOnce(void* instance, const Candidates& c,
                                       const std::string& sticky = "") {
  std::vector<uint32_t> out(c.stats.size() + 1, 999);
  int n = routingVtable()->order(instance, c.stats.data(), c.stats.size(),
                                 sluice_str{sticky.data(), sticky.size()}, out.data());
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

// Pearson's chi-square statistic of observed counts against expected shares.
inline double chiSquare(const std::vector<double>& observed, const std::vector<double>& shares) {
  double total = 0, chi = 0;
  for (double o : observed) total += o;
  for (size_t i = 0; i < observed.size(); i++) {
    double e = total * shares[i];
    chi += (observed[i] - e) * (observed[i] - e) / e;
  }
  return chi;
}

}  // namespace sluice::testing
