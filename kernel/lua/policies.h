// The manifest's `policies`: each script read, compiled and its top level run
// once in a scratch sandbox when the manifest loads, so `sluice validate`,
// `serve` and a reload refuse a script that cannot work (a syntax error
// names script:line). Immutable afterwards; workers run their own states of
// it (worker_policies.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lua/hooks.h"
#include "manifest/config.h"
#include "sluice/lua_sandbox.h"

namespace sluice::lua {

// One policy script as loaded.
struct Script {
  std::string path;  // absolute: names the chunk in Lua messages
  std::string name;  // the file name, for clients and log lines
  std::string source;
  uint8_t hooks = 0;  // one bit per Hook that runs
  sluice_lua_limits limits{};

  bool runs(Hook h) const { return hooks & (1u << static_cast<int>(h)); }
};

constexpr size_t kMaxScriptBytes = 1024 * 1024;

class Policies {
 public:
  // Every problem becomes one "file:line:col: policies[i].key: why" line in
  // *errors; returns nullptr then. No policies: an empty set.
  static std::shared_ptr<const Policies> load(const std::vector<manifest::PolicyConfig>& configs,
                                              std::vector<std::string>* errors);

  bool empty() const { return scripts_.empty(); }
  bool runs(Hook h) const { return hooks_ & (1u << static_cast<int>(h)); }
  const std::vector<Script>& scripts() const { return scripts_; }
  // Unique per load: a worker's states belong to exactly one set.
  uint64_t id() const { return id_; }

 private:
  Policies() = default;
  std::vector<Script> scripts_;
  uint8_t hooks_ = 0;
  uint64_t id_ = 0;
};

}  // namespace sluice::lua
