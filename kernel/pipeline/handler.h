// The request lifecycle for one worker: path -> endpoint, authentication,
// body checks, identity and metadata, model access and resolution, then an
// Exchange, which reserves rate limits and budgets before calling the
// provider. Later phases (policy, guardrails, routing) slot in between, in
// DESIGN §3 order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "http/server.h"
#include "lua/worker_policies.h"
#include "pipeline/errors.h"
#include "pipeline/gateway.h"
#include "plugins/host.h"

namespace sluice::pipeline {

struct ExchangeSpec;

class RequestHandler {
 public:
  RequestHandler(sluice_worker* worker, GatewayHolder* holder);
  void handle(http::Request& req, http::Response& res);

 private:
  const std::shared_ptr<Gateway>& current();
  std::string newRequestId(const http::Request& req);
  const governance::Principal* authenticate(const Gateway& gw, const http::Request& req,
                                            http::Response& res, const std::string& request_id);
  bool ttftTimeout(const http::Request& req, http::Response& res, const std::string& request_id,
                   uint32_t* out);
  bool identify(const Gateway& gw, const governance::Principal& caller, const http::Request& req,
                http::Response& res, const std::string& request_id, governance::Metadata* out);
  bool planGuards(const Gateway& gw, const http::Request& req, http::Response& res,
                  ExchangeSpec* spec);
  bool loggingChoice(const Gateway& gw, const http::Request& req, http::Response& res,
                     const std::string& request_id, bool* log_bodies);
  void respondError(http::Response& res, const ApiError& e, const std::string& request_id);
  // Phase 12 for requests answered here, before any exchange: what is known
  // of the request so far goes to the sinks with the answer's status.
  void recordEarly(int status, const std::string& error_code, const std::string& request_id,
                   std::string_view response_body);

  struct EarlyFacts {
    const http::Request* req = nullptr;
    const Gateway* gw = nullptr;
    const governance::Principal* caller = nullptr;
    const governance::Metadata* metadata = nullptr;
    std::string_view model;
  };
  EarlyFacts early_;

  sluice_worker* worker_;
  GatewayHolder* holder_;
  std::shared_ptr<Gateway> gateway_;
  uint64_t generation_ = 0;
  lua::PolicyStates policy_states_;  // this worker's Lua states
  uint64_t rng_;
};

}  // namespace sluice::pipeline
