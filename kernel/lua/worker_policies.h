// What the request path calls: one worker's Lua states for one set of
// policies, each script's state made once and reused for every request.
// Policies run in manifest order; the first rejection or failure ends a
// hook. A failing script fails only its own request (500 policy_error) and
// writes one log line; its state serves the next request.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lua/hooks.h"
#include "lua/policies.h"
#include "lua/script_state.h"

namespace sluice::http {
class Headers;
}
namespace sluice::pipeline {
struct RequestRecord;
}

namespace sluice::lua {

class WorkerPolicies {
 public:
  explicit WorkerPolicies(std::shared_ptr<const Policies> policies);

  const Policies& policies() const { return *policies_; }
  bool runs(Hook h) const { return policies_->runs(h); }

  // Phase 4: may change req.model and req.metadata, collect upstream
  // headers, or reject.
  Outcome onRequest(RequestView& req);
  // Before the answer's head goes out: may add headers to `add` or replace
  // the answer with an error.
  Outcome onResponse(RequestView& req, const ResponseView& res, http::Headers* add);
  // The request is over: may change the record's metadata (req.metadata is
  // the record's here). Failures are logged; every policy runs.
  void onLog(RequestView& req, pipeline::RequestRecord* record);

 private:
  Outcome run(CallContext& ctx);
  ScriptState* state(size_t i, std::string* error);

  std::shared_ptr<const Policies> policies_;
  std::vector<std::unique_ptr<ScriptState>> states_;  // made on first use
};

// Per worker: the states of the policies in use, replaced when a reload
// brings new ones. Requests hold their own reference, so they finish on the
// states they started with.
class PolicyStates {
 public:
  const std::shared_ptr<WorkerPolicies>& get(const std::shared_ptr<const Policies>& policies);

 private:
  std::shared_ptr<WorkerPolicies> current_;
};

}  // namespace sluice::lua
