#include "lua/worker_policies.h"

#include "lua/request_api.h"
#include "pipeline/record.h"
#include "util/log.h"

namespace sluice::lua {
namespace {

constexpr size_t kMaxLoggedErrorBytes = 1024;

Outcome failed(const Script& script, std::string_view request_id) {
  Outcome o;
  o.kind = Outcome::Kind::Error;
  o.status = 500;
  o.message = "policy '" + script.name + "' failed; the gateway log has the details (request " +
              std::string(request_id) + ")";
  o.code = "policy_error";
  return o;
}

}  // namespace

WorkerPolicies::WorkerPolicies(std::shared_ptr<const Policies> policies)
    : policies_(std::move(policies)), states_(policies_->scripts().size()) {}

ScriptState* WorkerPolicies::state(size_t i, std::string* error) {
  if (!states_[i]) states_[i] = ScriptState::create(policies_->scripts()[i], error);
  return states_[i].get();
}

Outcome WorkerPolicies::run(CallContext& ctx) {
  const std::vector<Script>& scripts = policies_->scripts();
  for (size_t i = 0; i < scripts.size(); i++) {
    const Script& script = scripts[i];
    if (!script.runs(ctx.hook)) continue;
    std::string error;
    ScriptState* st = state(i, &error);
    sluice_lua_status status = st ? st->call(&ctx, &error) : SLUICE_LUA_ERR_MEMORY;
    if (status != SLUICE_LUA_OK) {
      std::string line = script.name + " " + hookName(ctx.hook) + " failed for request " +
                         std::string(ctx.req->id) + ": " + logSafe(error, kMaxLoggedErrorBytes);
      // A state that stays full after its failed call was collected holds
      // on to data in globals: the next request gets a fresh one.
      if (st && status == SLUICE_LUA_ERR_MEMORY && st->nearlyFull()) {
        states_[i].reset();
        line += " (its Lua state is started afresh)";
      }
      util::logError("policy", line);
      if (ctx.hook == Hook::Log) continue;
      return failed(script, ctx.req->id);
    }
    if (ctx.rejected) {
      Outcome o;
      o.kind = Outcome::Kind::Reject;
      o.status = ctx.reject_status;
      o.message = std::move(ctx.reject_message);
      o.code = std::move(ctx.reject_code);
      return o;
    }
  }
  return Outcome();
}

Outcome WorkerPolicies::onRequest(RequestView& req) {
  if (!runs(Hook::Request)) return Outcome();
  CallContext ctx;
  ctx.hook = Hook::Request;
  ctx.req = &req;
  return run(ctx);
}

Outcome WorkerPolicies::onResponse(RequestView& req, const ResponseView& res, http::Headers* add) {
  if (!runs(Hook::Response)) return Outcome();
  CallContext ctx;
  ctx.hook = Hook::Response;
  ctx.req = &req;
  ctx.res = &res;
  ctx.response_headers = add;
  return run(ctx);
}

void WorkerPolicies::onLog(RequestView& req, pipeline::RequestRecord* record) {
  if (!runs(Hook::Log)) return;
  CallContext ctx;
  ctx.hook = Hook::Log;
  ctx.req = &req;
  ctx.record = record;
  run(ctx);
}

const std::shared_ptr<WorkerPolicies>& PolicyStates::get(
    const std::shared_ptr<const Policies>& policies) {
  if (!current_ || current_->policies().id() != policies->id()) {
    current_ = std::make_shared<WorkerPolicies>(policies);
  }
  return current_;
}

}  // namespace sluice::lua
