// One proxied request: the provider turns the canonical request into the
// native one, the upstream client (or a local provider) answers, and the
// answer goes back to the client — whole, or streamed as SSE with
// backpressure, usage read on the way. A routed request is a loop of
// attempts over its rule's ordered targets (Failover decides retries and
// fallbacks) until one answers or none is left; the client sees nothing of
// a failed attempt.
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "governance/decision.h"
#include "governance/identity.h"
#include "governance/limits.h"
#include "http/client.h"
#include "http/server.h"
#include "http/sse.h"
#include "lua/worker_policies.h"
#include "pipeline/errors.h"
#include "pipeline/failover.h"
#include "pipeline/gateway.h"
#include "pipeline/guard_run.h"
#include "pipeline/guard_text.h"
#include "pipeline/stream_guard.h"
#include "pipeline/router.h"
#include "pipeline/record.h"
#include "plugins/host.h"
#include "sluice/plugin.h"

namespace sluice::pipeline {

struct Usage {
  int64_t prompt = -1;  // -1: not reported
  int64_t completion = -1;
  int64_t cached = 0;
};

// What the handler resolved before handing the request over.
struct ExchangeSpec {
  std::shared_ptr<Gateway> gateway;
  const ModelEntry* model = nullptr;  // a direct model; a routed request's first target
  const Route* route = nullptr;       // the routing rule that applies, or nullptr
  std::string sticky_key;             // the request's session for the route, or ""
  uint32_t ttft_timeout_ms = 0;       // X-Sluice-TTFT-Timeout-Ms; 0: none
  sluice_endpoint endpoint = SLUICE_EP_CHAT;
  bool stream = false;
  bool client_wants_usage = false;  // the client itself asked for the usage chunk
  bool has_stream_options = false;
  std::string body;                 // canonical body for the provider (set by the exchange)
  std::string request_id;
  uint64_t auth_done_ns = 0;        // identity, access and limits decided
  uint64_t route_done_ns = 0;

  // The identity envelope and what rate limits and budgets need.
  const governance::Principal* principal = nullptr;  // owned by `gateway`
  governance::Metadata metadata;
  std::string requested_model;
  int64_t prompt_estimate = 0;  // tokens
  int64_t max_tokens = -1;      // from the body; -1: the model's max_output_tokens

  // Lua policies: this worker's states (null when the manifest has none)
  // and the headers on_request set for the provider.
  std::shared_ptr<lua::WorkerPolicies> policies;
  lua::HeaderList policy_headers;

  // The request's guardrails; null when none applies.
  std::unique_ptr<RequestGuards> guards;
  // The body as the handler parsed it, handed over when input guardrails run;
  // null otherwise.
  struct JsonFree {
    void operator()(cJSON* p) const { cJSON_Delete(p); }
  };
  std::unique_ptr<cJSON, JsonFree> parsed_body;
  // Phase 12: a record goes to the sinks (some are configured), with the
  // bodies when logging allows them.
  bool record = false;
  bool log_bodies = false;
};

class Exchange : public http::ClientHandler {
 public:
  // Starts the exchange; it deletes itself when both sides are done.
  static void start(sluice_worker* worker, http::Request& req, http::Response& res,
                    ExchangeSpec spec);
  // From and back to a per-thread list of freed exchanges (exchange.cc).
  static void* operator new(size_t size);
  static void operator delete(void* p, size_t size);

  // Every attempt so far, in order (the request record's `attempts`).
  const std::vector<AttemptRecord>& attempts() const { return failover_.attempts(); }

  // ClientHandler
  void onHead(int status, const std::vector<std::pair<std::string, std::string>>& headers) override;
  void onBody(const char* data, size_t len) override;
  void onEnd() override;
  void onError(http::ClientError error, const std::string& detail) override;

 private:
  Exchange(sluice_worker* worker, http::Request& req, http::Response& res, ExchangeSpec spec);
  ~Exchange();
  void run();
  void reserve();
  void admitted(const governance::ReserveResult& result);
  bool downgrade(const manifest::BudgetRule* rule);
  governance::RequestFacts facts() const;
  governance::Plan makePlan() const;
  void send();
  void prepareBody();
  std::string_view clientBody() const;
  // Guardrails (exchange_guards.cc): the request before it is sent, the
  // whole answer before it is returned.
  void guardInput();
  void guardRequestHook(size_t next, uint64_t start_ns);
  void respondWhole(std::string_view body);
  void guardResponseHook(size_t next, uint64_t start_ns, std::string_view body);
  void guardBlocked(const GuardOutcome& outcome);
  void respondNow(std::string_view body);
  void guardStream();
  bool guardBacklogged() const;
  // One SSE event to the client: into the batch being written, or now.
  void sendEvent(std::string_view data);
  void settle();
  // The attempt loop.
  void nextAttempt();
  void useTarget(const RoutedTarget* target, bool probe);
  void startAttempt();
  void resetAttempt();
  void unsendable(const ApiError& e);
  // `error` names the failure in the attempt history ("" for a status).
  bool moveOn(const AttemptOutcome& o, const ApiError& e, std::string_view error);
  void finishAttempt(bool failure, bool answered, int status, std::string_view error);
  void abandonAttempt();
  double tpotMs(double latency_ms) const;
  void noTargetLeft();
  void startTimer(uint64_t delay_ms, bool retry);
  void cancelTimer();
  static void onTimer(void* user);
  void ttftExpired();
  void stopUpstream();
  void endCall();

  governance::Usage usedTokens();
  void finishRecord();
  void submitRecord();
  void noteResponse(int status, std::string_view body);
  void fail(const ApiError& e, const governance::HeaderList* extra = nullptr);
  void clientGone();
  void head(int status, std::string_view content_type, int64_t retry_after_ms);
  void beginStream();
  void body(const char* data, size_t len);
  void end();
  bool handleEvent(std::string_view event, std::string_view data, std::string* out);
  void forwardChunk(std::string_view json, std::string* out);
  void noteUsageFrom(std::string_view json);
  void appendIdentityHeaders(http::Response::Headers* h, bool answering = false) const;
  void appendRuleHeader(http::Response::Headers* h) const;
  void appendAttemptsHeader(http::Response::Headers* h, bool answering) const;
  void appendTimingHeaders(http::Response::Headers* h, uint64_t now) const;
  void streamFailed(const ApiError& e);
  void cancelLocal();
  void maybeDelete();
  // Lua on_response and on_log (exchange_policies.cc).
  lua::RequestView policyView();
  bool responsePolicies(int status, http::Response::Headers* h);
  void logPolicies(RequestRecord* record);

  static void emitChunk(void* ctx, const char* json, size_t len);
  static void emitUsage(void* ctx, int64_t prompt, int64_t completion, int64_t cached);
  static void localStart(void* ctx, int status, const char* content_type);
  static void localWrite(void* ctx, const char* data, size_t len);
  static void localFinish(void* ctx);

  sluice_worker* worker_;
  http::Request& req_;
  // Rate limits and budgets: the plan reserved before sending, settled in
  // the destructor with what the request used.
  governance::Plan plan_;
  std::vector<const manifest::BudgetRule*> waived_;
  governance::RateLimitHeaders limit_headers_;
  bool reserved_ = false;
  bool admitting_ = false;  // the store has not answered yet
  bool sent_ = false;       // the provider was called for the current attempt
  int64_t delta_chars_ = 0;  // streamed text, for an estimate when no usage arrives
  bool usage_estimated_ = false;
  http::Response& res_;
  ExchangeSpec spec_;
  const sluice_provider_vtable* vt_;
  const ProviderInstance* call_provider_ = nullptr;  // whose call_state_ is open
  void* call_state_ = nullptr;
  void* local_state_ = nullptr;
  bool local_active_ = false;
  sluice_provider_call call_{};
  sluice_upstream_request ureq_{};
  sluice_emitter emitter_{};
  sluice_local_response local_{};
  http::Call* upstream_ = nullptr;

  // The attempt loop: the targets and history, the attempt in flight.
  Failover failover_;
  const RoutedTarget* target_ = nullptr;  // routed requests: the attempt's target
  bool probe_ = false;                    // the attempt is its breaker's half-open probe
  bool attempt_live_ = false;             // counted in the target's in-flight
  uint64_t attempt_start_ns_ = 0;
  uint64_t last_body_ns_ = 0;
  sluice_timer* timer_ = nullptr;  // a retry's delay, or the attempt's TTFT deadline
  bool timer_is_retry_ = false;
  ApiError last_error_;  // the last failed attempt's, when later targets are all skipped
  bool has_last_error_ = false;

  int status_ = 0;
  bool streaming_ = false;  // SSE is being relayed
  std::string content_type_;
  std::string buffered_;      // whole (non-streamed) response
  std::string* out_ = nullptr;  // where emitted chunks go while decoding a stream
  std::string decoded_;         // decode_body's canonical response
  bool has_decoded_ = false;
  int busy_ = 0;  // >0 while one of our entry points runs: deletion waits for it

  // Keeps the exchange alive across one entry point: a write to the client
  // can close the connection and abort us in the middle of it.
  struct Hold {
    explicit Hold(Exchange* e) : ex(e) { ex->busy_++; }
    ~Hold() {
      ex->busy_--;
      ex->maybeDelete();
    }
    Exchange* ex;
  };
  http::SseParser sse_;
  bool saw_done_ = false;
  Usage usage_;
  // Guardrail work in progress: the parsed body, the string items a hook
  // looks at and their texts, which the guardrails edit.
  GuardedJson guard_json_;
  std::vector<cJSON*> guard_items_;
  std::vector<std::string> guard_texts_;
  bool guard_changed_ = false;
  size_t guard_hook_ = 0;        // the request hook whose guardrails run
  uint64_t guard_start_ns_ = 0;  // when the request's guardrails began
  std::string guarded_body_;  // the request body after input guardrails; empty: unchanged
  std::unique_ptr<StreamGuard> stream_guard_;  // output guardrails on SSE
  uint64_t guard_in_ns_ = 0;  // time spent in input guardrails
  uint64_t guard_out_ns_ = 0;
  uint64_t guard_done_ns_ = 0;
  uint64_t head_ns_ = 0;
  uint64_t first_byte_ns_ = 0;
  uint64_t start_ns_ = 0;  // the request's first byte (req_ may be gone by the end)
  int answered_status_ = 0;            // what the client was answered
  bool response_policies_ran_ = false;  // on_response runs once, whichever answer
  // What happened, for the sinks; other phases add attempts, findings and
  // their rule ids as they run. Its trace ids also go upstream (traceparent).
  // With sinks, a record the sink thread handed back (its memory reused);
  // else own_record_.
  RequestRecord own_record_;
  std::unique_ptr<RequestRecord> reused_record_;
  RequestRecord* record_ = &own_record_;
  bool client_done_ = false;
  bool upstream_done_ = false;
};

}  // namespace sluice::pipeline
