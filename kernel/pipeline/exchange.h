// One proxied request: the provider turns the canonical request into the
// native one, the upstream client (or a local provider) answers, and the
// answer goes back to the client — whole, or streamed as SSE with
// backpressure, usage read on the way.
#pragma once

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
#include "pipeline/errors.h"
#include "pipeline/gateway.h"
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
  const ModelEntry* model = nullptr;
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
  void send();
  void prepareBody();
  void settle();
  governance::Usage usedTokens();
  void finishRecord();
  void submitRecord();
  void noteResponse(int status, std::string_view body);
  void fail(const ApiError& e, const governance::HeaderList* extra = nullptr);
  void clientGone();
  void head(int status, std::string_view content_type);
  void body(const char* data, size_t len);
  void end();
  bool handleEvent(std::string_view event, std::string_view data, std::string* out);
  void forwardChunk(std::string_view json, std::string* out);
  void noteUsageFrom(std::string_view json);
  void appendIdentityHeaders(http::Response::Headers* h) const;
  void appendRuleHeader(http::Response::Headers* h) const;
  void appendTimingHeaders(http::Response::Headers* h, uint64_t now) const;
  void streamFailed(const ApiError& e);
  void cancelLocal();
  void maybeDelete();

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
  governance::HeaderList limit_headers_;
  bool reserved_ = false;
  bool admitting_ = false;  // the store has not answered yet
  bool sent_ = false;       // the provider was called
  int64_t delta_chars_ = 0;  // streamed text, for an estimate when no usage arrives
  bool usage_estimated_ = false;
  http::Response& res_;
  ExchangeSpec spec_;
  const sluice_provider_vtable* vt_;
  void* call_state_ = nullptr;
  void* local_state_ = nullptr;
  bool local_active_ = false;
  sluice_provider_call call_{};
  sluice_upstream_request ureq_{};
  sluice_emitter emitter_{};
  sluice_local_response local_{};
  http::Call* upstream_ = nullptr;

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
  uint64_t head_ns_ = 0;
  uint64_t first_byte_ns_ = 0;
  uint64_t start_ns_ = 0;  // the request's first byte (req_ may be gone by the end)
  // What happened, for the sinks; other phases add attempts, findings and
  // their rule ids as they run. Its trace ids also go upstream (traceparent).
  RequestRecord record_;
  bool client_done_ = false;
  bool upstream_done_ = false;
};

}  // namespace sluice::pipeline
