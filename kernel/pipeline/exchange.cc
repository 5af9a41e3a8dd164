#include "pipeline/exchange.h"

#include <cjson/cJSON.h>

#include <cstring>

#include "governance/plan_cache.h"
#include "governance/settle.h"
#include "lua/header_rules.h"
#include "pipeline/json_splice.h"
#include "plugins/host.h"
#include "pipeline/record_fill.h"
#include "telemetry/hub.h"
#include "telemetry/trace_context.h"
#include "util/clock.h"
#include "util/log.h"

namespace sluice::pipeline {
namespace {

// A whole (non-streamed) upstream answer is held in memory; past this it is
// refused rather than risking the process.
constexpr size_t kMaxBufferedResponse = 64 * 1024 * 1024;
// Room for the gateway's response headers (identity, limits, rules, timing):
// six x-ratelimit-* lines alone take about 230 bytes.
constexpr size_t kHeadBytes = 768;

std::string_view sv(sluice_str s) { return std::string_view(s.ptr ? s.ptr : "", s.len); }
sluice_str ss(std::string_view s) { return sluice_str{s.data(), s.size()}; }

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  return strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// Position of the value of `"key":` anywhere in `json` when that value is an
// object (a chunk's usage); npos otherwise.
size_t findObjectValue(std::string_view json, std::string_view quoted_key) {
  size_t at = json.find(quoted_key);
  while (at != std::string_view::npos) {
    size_t i = at + quoted_key.size();
    while (i < json.size() && (json[i] == ' ' || json[i] == '\t')) i++;
    if (i < json.size() && json[i] == ':') {
      i++;
      while (i < json.size() && (json[i] == ' ' || json[i] == '\t')) i++;
      if (i < json.size() && json[i] == '{') return i;
    }
    at = json.find(quoted_key, at + 1);
  }
  return std::string_view::npos;
}

int64_t intField(const cJSON* obj, const char* name) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsNumber(v) ? static_cast<int64_t>(v->valuedouble) : -1;
}

// Characters of generated text in a chunk (content and tool-call arguments),
// for a token estimate when a stream ends without usage.
int64_t countDeltaChars(std::string_view json) {
  int64_t n = 0;
  for (std::string_view key : {std::string_view("\"content\":\""), std::string_view("\"arguments\":\"")}) {
    size_t at = json.find(key);
    while (at != std::string_view::npos) {
      size_t i = at + key.size();
      while (i < json.size() && json[i] != '"') {
        if (json[i] == '\\') {  // an escape is one character
          n++;
          i += i + 1 < json.size() && json[i + 1] == 'u' ? 6 : 2;
          continue;
        }
        if ((static_cast<unsigned char>(json[i]) & 0xC0) != 0x80) n++;
        i++;
      }
      at = json.find(key, i);
    }
  }
  return n;
}

// "name;dur=1.234" (milliseconds, three decimals), without printf's
// floating-point path: it runs several times per request.
void appendMs(std::string* out, const char* name, uint64_t ns) {
  if (!out->empty()) out->append(", ");
  out->append(name).append(";dur=");
  uint64_t us = (ns + 500) / 1000;
  char buf[24];
  char* end = buf + sizeof buf;
  char* p = end;
  for (int i = 0; i < 3; i++, us /= 10) *--p = static_cast<char>('0' + us % 10);
  *--p = '.';
  do {
    *--p = static_cast<char>('0' + us % 10);
    us /= 10;
  } while (us);
  out->append(p, static_cast<size_t>(end - p));
}

// Freed exchanges of this worker thread, kept for its next requests: an
// exchange is a few KB, more than malloc's per-thread cache serves, and
// malloc meets such a request by first merging every small chunk freed
// since the last one. Not under ASan, which must see each exchange freed.
struct SpareExchanges {
  std::vector<void*> blocks;
  ~SpareExchanges() {
    for (void* p : blocks) ::operator delete(p);
  }
};
thread_local SpareExchanges t_spare_exchanges;
constexpr size_t kMaxSpareExchanges = 256;

}  // namespace

void* Exchange::operator new(size_t size) {
#ifndef __SANITIZE_ADDRESS__
  std::vector<void*>& spare = t_spare_exchanges.blocks;
  if (size == sizeof(Exchange) && !spare.empty()) {
    void* p = spare.back();
    spare.pop_back();
    return p;
  }
#endif
  return ::operator new(size);
}

void Exchange::operator delete(void* p, size_t size) {
#ifndef __SANITIZE_ADDRESS__
  std::vector<void*>& spare = t_spare_exchanges.blocks;
  if (size == sizeof(Exchange) && spare.size() < kMaxSpareExchanges) {
    spare.push_back(p);
    return;
  }
#endif
  ::operator delete(p);
}

void Exchange::start(sluice_worker* worker, http::Request& req, http::Response& res,
                     ExchangeSpec spec) {
  auto* ex = new Exchange(worker, req, res, std::move(spec));
  ex->run();
}

Exchange::Exchange(sluice_worker* worker, http::Request& req, http::Response& res,
                   ExchangeSpec spec)
    : worker_(worker), req_(req), res_(res), spec_(std::move(spec)),
      vt_(spec_.model->provider->vt), start_ns_(req.start_ns) {
  emitter_ = {this, emitChunk, emitUsage};
  local_ = {this, localStart, localWrite, localFinish};
  if (spec_.record) {
    if (worker_->telemetry && (reused_record_ = worker_->telemetry->reuse())) {
      record_ = reused_record_.get();
    }
    recordRequest(req_, record_);
    if (spec_.log_bodies) {
      record_->bodies_logged = true;
      appendCapped(&record_->request_body, req_.body, spec_.gateway->config().logging.max_body_bytes);
    }
  } else if (req_.header("traceparent")) {
    recordTrace(req_, record_);  // honoured and passed on even with no sink to report to
  }
}

Exchange::~Exchange() {
  cancelTimer();  // every way out cancels it already; a late timer must never find us gone
  endCall();
  if (attempt_live_) abandonAttempt();
  settle();
  submitRecord();
}

void Exchange::endCall() {
  if (!call_provider_) return;
  if (call_provider_->vt->call_end) {
    call_provider_->vt->call_end(call_provider_->instance, call_state_);
  }
  call_provider_ = nullptr;
  call_state_ = nullptr;
}

// What the request used: the provider's usage or, for a stream cut short
// without it, the prompt estimate plus the text produced so far.
governance::Usage Exchange::usedTokens() {
  governance::Usage u;
  if (usage_.prompt >= 0 && usage_.completion >= 0) {
    u.prompt = usage_.prompt;
    u.completion = usage_.completion;
    u.cached = usage_.cached;
  } else if (sent_ && (status_ == 0 || status_ < 300)) {
    // No usage reported: the prompt reached the provider; the answer is
    // counted from its streamed text (about four characters per token).
    u.prompt = spec_.prompt_estimate;
    u.completion = (delta_chars_ + 3) / 4;
    usage_estimated_ = true;
  }
  return u;
}

// Phase 11: the reservation becomes what the request used.
void Exchange::settle() {
  if (!reserved_) return;
  const manifest::ModelConfig* mc = spec_.model->config;
  governance::settle(worker_, plan_, mc && mc->pricing ? &*mc->pricing : nullptr, usedTokens());
}

// Phase 12: the record gets what only the end knows, and leaves for the
// sink thread (which turns it into JSON there, off the request path).
void Exchange::finishRecord() {
  RequestRecord& r = *record_;
  uint64_t now = util::monotonicNs();
  recordTimes(start_ns_, now, &r);
  r.id = std::move(spec_.request_id);
  if (spec_.principal) recordCaller(*spec_.principal, &r);
  r.metadata = std::move(spec_.metadata);
  r.requested_model = std::move(spec_.requested_model);
  if (sent_) {
    r.resolved_model = spec_.model->id;
    r.provider = spec_.model->provider->name;
    r.provider_type = spec_.model->provider->type;
  }
  // The rules that applied, in x-sluice-applied-rules order: routing, then
  // rate limits and budgets, then guardrail rules.
  if (const Route* route = failover_.route()) r.applied_rules.push_back(route->id());
  for (size_t i = 0; i < plan_.checks.size(); i++) {
    const governance::CheckInfo& info = plan_.info(i);
    r.applied_rules.push_back(info.rate ? info.rate->id : info.budget->id);
  }
  r.attempts = failover_.attempts();
  if (spec_.guards) {
    const auto& guard_rules = spec_.guards->plan().rule_ids;
    r.applied_rules.insert(r.applied_rules.end(), guard_rules.begin(), guard_rules.end());
    r.findings = spec_.guards->findings();
  }
  if (guard_in_ns_) r.phases.guard_in = static_cast<double>(guard_in_ns_) / 1e6;
  if (guard_out_ns_) r.phases.guard_out = static_cast<double>(guard_out_ns_) / 1e6;
  r.stream = spec_.stream;
  if (r.status == 0) r.status = 499;  // nothing was answered: the client left first
  governance::Usage u = usedTokens();
  r.prompt_tokens = u.prompt;
  r.completion_tokens = u.completion;
  r.cached_tokens = u.cached;
  r.tokens_estimated = usage_estimated_;
  const manifest::ModelConfig* mc = spec_.model->config;
  r.cost_usd = static_cast<double>(governance::costNano(mc && mc->pricing ? &*mc->pricing : nullptr,
                                                        u)) /
               governance::kNanoPerUsd;
  if (spec_.auth_done_ns) r.phases.auth = elapsedMs(start_ns_, spec_.auth_done_ns);
  if (spec_.route_done_ns) {
    uint64_t from = guard_done_ns_ ? guard_done_ns_ : spec_.auth_done_ns ? spec_.auth_done_ns : start_ns_;
    r.phases.route = elapsedMs(from, spec_.route_done_ns);
    if (head_ns_) r.phases.upstream = elapsedMs(spec_.route_done_ns, head_ns_);
  }
  if (first_byte_ns_) {
    r.phases.ttft = elapsedMs(start_ns_, first_byte_ns_);
    if (u.completion > 1 && streaming_) {
      r.phases.tpot = elapsedMs(first_byte_ns_, now) / static_cast<double>(u.completion - 1);
    }
  }
}

// Lua on_log sees the finished record (and may enrich it) before it goes.
void Exchange::submitRecord() {
  bool sinks = spec_.record && worker_->telemetry;
  bool log_hook = spec_.policies && spec_.policies->runs(lua::Hook::Log);
  if (!sinks && !log_hook) return;
  finishRecord();
  if (log_hook) logPolicies(record_);
  if (!sinks) return;
  if (reused_record_) {
    worker_->telemetry->submit(std::move(reused_record_));
  } else {
    worker_->telemetry->submit(std::move(own_record_));
  }
}

void Exchange::run() {
  Hold hold(this);
  res_.onAbort([this] { clientGone(); });
  res_.onDrain([this] {
    Hold hold(this);
    if (upstream_ && !guardBacklogged()) upstream_->resume();
  });
  if (!spec_.gateway->policy().empty() && worker_->counters) {
    plan_ = makePlan();
    if (!plan_.empty()) {
      reserve();
      return;
    }
  }
  guardInput();
}

governance::RequestFacts Exchange::facts() const {
  governance::RequestFacts f;
  f.principal = spec_.principal;
  f.model = spec_.requested_model;
  f.metadata = &spec_.metadata;
  f.prompt_estimate = spec_.prompt_estimate;
  f.now_ms = static_cast<int64_t>(util::wallMs());
  if (spec_.route) {
    // Any target may answer: reserve for the dearest; settle() charges the one that did.
    f.max_output = spec_.max_tokens >= 0 ? spec_.max_tokens : spec_.route->maxOutputTokens();
    f.pricing = spec_.route->worstPricing();
    return f;
  }
  const manifest::ModelConfig* mc = spec_.model->config;
  f.max_output = spec_.max_tokens >= 0 ? spec_.max_tokens : (mc ? mc->max_output_tokens : 4096);
  f.pricing = mc && mc->pricing ? &*mc->pricing : nullptr;
  return f;
}

governance::Plan Exchange::makePlan() const {
  const governance::Policy& policy = spec_.gateway->policy();
  if (worker_->plans) return worker_->plans->plan(policy, facts(), waived_);
  return policy.plan(facts(), waived_);
}

// Phase 5: every matching rate limit and budget is reserved at once, or none.
void Exchange::reserve() {
  admitting_ = true;
  worker_->counters->reserve(plan_.checks, [this](const governance::ReserveResult& r) {
    Hold hold(this);
    admitted(r);
  });
}

void Exchange::admitted(const governance::ReserveResult& r) {
  admitting_ = false;
  bool fail_closed =
      spec_.gateway->config().state.on_unavailable == manifest::StateConfig::OnUnavailable::FailClosed;
  governance::Decision d =
      governance::decide(plan_, r, static_cast<int64_t>(util::wallMs()), fail_closed);
  if (client_done_) {  // the client left while the store was deciding
    if (d.reserved) governance::releasePlan(worker_, plan_);
    upstream_done_ = true;
    return;
  }
  switch (d.kind) {
    case governance::Decision::Kind::Admit:
      reserved_ = d.reserved;
      limit_headers_ = d.limits;
      spec_.auth_done_ns = util::monotonicNs();
      guardInput();
      return;
    case governance::Decision::Kind::Downgrade:
      if (spec_.record) record_->events.push_back({d.downgrade->id, "budget", "downgraded"});
      if (downgrade(d.downgrade)) return;
      d.status = 429;
      d.code = "budget_exceeded";
      d.message = "budget '" + d.downgrade->id + "' exceeded and its downgrade_to model '" +
                  d.downgrade->downgrade_to + "' cannot serve this request";
      break;
    case governance::Decision::Kind::Refuse:
      if (spec_.record && r.refused >= 0 && static_cast<size_t>(r.refused) < plan_.checks.size()) {
        const governance::CheckInfo& info = plan_.info(r.refused);
        record_->events.push_back(info.rate ? RuleEvent{info.rate->id, "rate_limit", "blocked"}
                                           : RuleEvent{info.budget->id, "budget", "blocked"});
      }
      break;
  }
  upstream_done_ = true;
  fail(makeError(d.status, d.message, d.code), &d.headers);
}

// A budget over its limit sends the request to its cheaper model: the plan
// is made again for that model with the budget charged but not enforced.
bool Exchange::downgrade(const manifest::BudgetRule* rule) {
  const ModelEntry* cheaper = spec_.gateway->findModel(rule->downgrade_to);
  if (!cheaper || !spec_.gateway->directory().mayUse(*spec_.principal, cheaper->id)) return false;
  for (const auto* w : waived_) {
    if (w == rule) return false;  // already downgraded for it
  }
  waived_.push_back(rule);
  spec_.route = nullptr;  // the downgrade model answers directly
  spec_.model = cheaper;
  vt_ = cheaper->provider->vt;
  plan_ = makePlan();
  reserve();
  return true;
}

// The provider's body: the client's bytes with only the model renamed and,
// for streams, usage requested — tools, response_format and unknown fields
// pass through untouched.
void Exchange::prepareBody() {
  std::string upstream_model;
  appendJsonString(&upstream_model, spec_.model->upstream_name);
  std::string_view client = clientBody();
  std::string body = replaceSpan(client, findTopLevelMember(client, "model"), upstream_model);
  if (target_ && !target_->override_members.empty()) body = target_->withOverrides(std::move(body));
  if (spec_.stream && !spec_.client_wants_usage) {
    if (!spec_.has_stream_options) {
      body = insertMember(body, "stream_options", "{\"include_usage\":true}");
    } else {
      cJSON* copy = cJSON_ParseWithLength(body.data(), body.size());
      cJSON* o = cJSON_GetObjectItemCaseSensitive(copy, "stream_options");
      if (cJSON_IsObject(o)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "include_usage");
        cJSON_AddTrueToObject(o, "include_usage");
      } else {
        cJSON_DeleteItemFromObjectCaseSensitive(copy, "stream_options");
        cJSON* fresh = cJSON_AddObjectToObject(copy, "stream_options");
        cJSON_AddTrueToObject(fresh, "include_usage");
      }
      char* printed = cJSON_PrintUnformatted(copy);
      body = printed;
      cJSON_free(printed);
      cJSON_Delete(copy);
    }
  }
  spec_.body = std::move(body);
}

std::string_view Exchange::clientBody() const {
  return guarded_body_.empty() ? std::string_view(req_.body) : std::string_view(guarded_body_);
}

// Phases 7 and 8: order the route's targets, then attempt them.
void Exchange::send() {
  if (spec_.route) {
    TargetOrder order;
    spec_.route->order(spec_.sticky_key, routingNowMs(), &order);
    failover_.start(spec_.route, order);
  }
  spec_.route_done_ns = util::monotonicNs();
  nextAttempt();
}

// The current target, or the next one whose breaker lets it be tried.
void Exchange::nextAttempt() {
  if (!spec_.route) {
    startAttempt();
    return;
  }
  uint64_t now = routingNowMs();
  while (const RoutedTarget* t = failover_.current()) {
    bool probe = false;
    if (t->stats->acquire(now, t->breaker, &probe)) {
      useTarget(t, probe);
      startAttempt();
      return;
    }
    failover_.advance();
  }
  noTargetLeft();
}

void Exchange::useTarget(const RoutedTarget* target, bool probe) {
  target_ = target;
  probe_ = probe;
  spec_.model = target->model;
  vt_ = target->model->provider->vt;
  target->stats->attemptStarted();
  attempt_live_ = true;
}

void Exchange::resetAttempt() {
  endCall();
  status_ = 0;
  streaming_ = false;
  content_type_.clear();
  buffered_.clear();
  decoded_.clear();
  has_decoded_ = false;
  sse_ = http::SseParser();
  saw_done_ = false;
  usage_ = Usage();
  delta_chars_ = 0;
  usage_estimated_ = false;
  head_ns_ = 0;
  first_byte_ns_ = 0;
  last_body_ns_ = 0;
  local_state_ = nullptr;
  sent_ = false;
}

void Exchange::startAttempt() {
  if (failover_.attempts().size() || call_provider_) resetAttempt();
  attempt_start_ns_ = util::monotonicNs();
  prepareBody();
  const ProviderInstance* provider = spec_.model->provider;
  call_ = sluice_provider_call{};
  call_.struct_size = sizeof call_;
  call_.endpoint = spec_.endpoint;
  call_.model = ss(spec_.model->upstream_name);
  call_.stream = spec_.stream ? 1 : 0;
  call_.body = ss(spec_.body);
  call_.worker = worker_;
  call_.request_id = ss(spec_.request_id);
  ureq_ = sluice_upstream_request{};
  ureq_.struct_size = sizeof ureq_;

  int rc = vt_->build_request(provider->instance, &call_, &ureq_, &call_state_);
  call_provider_ = provider;
  if (rc == SLUICE_ERR_UNSUPPORTED) {
    unsendable(makeError(400, "model '" + spec_.model->id + "' (provider type '" + provider->type +
                                  "') does not serve this endpoint",
                         "unsupported_endpoint", "model"));
    return;
  }
  if (rc != SLUICE_OK) {
    unsendable(makeError(
        500, "provider '" + provider->name + "' could not build the upstream request",
        "provider_error"));
    return;
  }
  if (ureq_.local) {
    if (!vt_->local_respond) {
      unsendable(makeError(500, "provider '" + provider->name + "' cannot answer locally",
                           "provider_error"));
      return;
    }
    local_active_ = true;
    sent_ = true;
    if (spec_.ttft_timeout_ms) startTimer(spec_.ttft_timeout_ms, false);
    if (vt_->local_respond(provider->instance, &call_, &local_, &local_state_) != SLUICE_OK) {
      local_active_ = false;
      sent_ = false;
      cancelTimer();
      unsendable(makeError(500, "provider '" + provider->name + "' failed to answer",
                           "provider_error"));
    }
    return;
  }
  http::ClientRequest cr;
  if (!http::Url::parse(sv(ureq_.url), &cr.url)) {
    unsendable(makeError(500, "provider '" + provider->name + "' produced an invalid upstream URL",
                         "provider_error"));
    return;
  }
  cr.method = ureq_.method.len ? std::string(sv(ureq_.method)) : "POST";
  cr.headers.reserve(ureq_.header_count + (target_ ? target_->config->headers_set.size() : 0));
  for (size_t i = 0; i < ureq_.header_count && i < 16; i++) {
    cr.headers.emplace_back(sv(ureq_.headers[i].name), sv(ureq_.headers[i].value));
  }
  lua::applyUpstreamHeaders(spec_.policy_headers, &cr.headers);
  if (target_) target_->overrideHeaders(&cr.headers);
  if (!record_->trace_id.empty()) {
    cr.headers.emplace_back("traceparent", telemetry::traceparent(record_->trace_id, record_->span_id));
  }
  // The body goes out unchanged unless the provider built its own.
  if (ureq_.body.len) {
    cr.body.assign(sv(ureq_.body));
  } else {
    cr.body = std::move(spec_.body);
    call_.body = ss("");
  }
  if (target_ && target_->config->timeout_ms) cr.total_timeout_ms = target_->config->timeout_ms;
  if (spec_.ttft_timeout_ms) startTimer(spec_.ttft_timeout_ms, false);
  sent_ = true;
  upstream_ = worker_->client->start(std::move(cr), this);
}

// The provider cannot send this request to this target (an endpoint it does
// not serve, a broken URL): another target may.
void Exchange::unsendable(const ApiError& e) {
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::Unsendable;
  if (moveOn(o, e, e.code)) return;
  abandonAttempt();
  finishAttempt(false, false, e.status, e.code);
  fail(e);
}

// After a failed attempt and before anything reached the client: a retry or
// a fallback when the route allows one (true), else false and the caller
// answers with this failure.
bool Exchange::moveOn(const AttemptOutcome& o, const ApiError& e, std::string_view error) {
  if (!spec_.route || res_.started() || client_done_) return false;
  FailoverDecision d = failover_.decide(o, routingNowMs());
  if (d.next == FailoverDecision::Next::GiveUp) return false;
  stopUpstream();
  if (!judgesTarget(o)) abandonAttempt();
  finishAttempt(isTargetFailure(o), false, o.kind == AttemptOutcome::Kind::Status ? o.status : 0,
                error);
  last_error_ = e;
  has_last_error_ = true;
  failover_.commit(d);
  // Even a fallback starts from the loop, never from inside the callback
  // (a provider's or the client's) that reported the failure.
  startTimer(d.next == FailoverDecision::Next::Retry ? d.delay_ms : 0, true);
  return true;
}

// TPOT = (last token - first token) / (completion tokens - 1) for streams;
// a whole answer has no token timings, so it counts latency / completion
// tokens, which includes the prompt's processing (an upper bound).
double Exchange::tpotMs(double latency_ms) const {
  int64_t tokens = usage_.completion;
  if (streaming_) {
    // Tokens that arrived in one read took no time apiece: TPOT 0.
    if (tokens < 2 || last_body_ns_ < first_byte_ns_) return -1;
    return static_cast<double>(last_body_ns_ - first_byte_ns_) / 1e6 /
           static_cast<double>(tokens - 1);
  }
  return tokens >= 1 ? latency_ms / static_cast<double>(tokens) : -1;
}

void Exchange::finishAttempt(bool failure, bool answered, int status, std::string_view error) {
  uint64_t now_ns = util::monotonicNs();
  double duration_ms = elapsedMs(attempt_start_ns_, now_ns);
  failover_.record(spec_.model->id, status, error, duration_ms);
  if (!attempt_live_) return;
  attempt_live_ = false;
  AttemptSample sample;
  sample.failure = failure;
  sample.answered = answered;
  if (answered) {
    sample.latency_ms = duration_ms;
    if (first_byte_ns_ > attempt_start_ns_) {
      sample.ttft_ms = static_cast<double>(first_byte_ns_ - attempt_start_ns_) / 1e6;
    }
    sample.tpot_ms = tpotMs(duration_ms);
    spec_.route->pin(spec_.sticky_key, failover_.currentIndex(), now_ns / 1000000);
  }
  target_->stats->attemptFinished(sample, now_ns / 1000000, target_->breaker, probe_);
}

// The attempt ends without a verdict on its target (the client left).
void Exchange::abandonAttempt() {
  if (!attempt_live_) return;
  attempt_live_ = false;
  target_->stats->attemptAbandoned(probe_);
}

void Exchange::noTargetLeft() {
  if (has_last_error_) {
    fail(last_error_);
    return;
  }
  // Nothing was tried: every target's breaker is open.
  uint64_t now = routingNowMs(), wait_ms = 0;
  for (const RoutedTarget& t : spec_.route->targets()) {
    uint64_t in = t.stats->breaker(now, t.breaker).retry_in_ms;
    if (in && (!wait_ms || in < wait_ms)) wait_ms = in;
  }
  governance::HeaderList headers;
  uint64_t seconds = std::max<uint64_t>(1, (wait_ms + 999) / 1000);
  headers.add("Retry-After", std::to_string(seconds));
  fail(makeError(503,
                 "no target of routing rule '" + spec_.route->id() +
                     "' is available: every circuit breaker is open",
                 "no_healthy_target"),
       &headers);
}

void Exchange::startTimer(uint64_t delay_ms, bool retry) {
  cancelTimer();
  timer_is_retry_ = retry;
  timer_ = plugins::hostServices()->timer_start(worker_, delay_ms, onTimer, this);
}

void Exchange::cancelTimer() {
  if (!timer_) return;
  plugins::hostServices()->timer_cancel(timer_);
  timer_ = nullptr;
}

void Exchange::onTimer(void* user) {
  auto* ex = static_cast<Exchange*>(user);
  Hold hold(ex);
  ex->timer_ = nullptr;  // released by the host once this returns
  if (ex->client_done_) return;
  if (ex->timer_is_retry_) {
    ex->nextAttempt();
  } else {
    ex->ttftExpired();
  }
}

// X-Sluice-TTFT-Timeout-Ms passed with no first byte: the attempt fails
// with 408 and the route may fall back.
void Exchange::ttftExpired() {
  ApiError e = makeError(408,
                         "no first token from '" + spec_.model->id + "' within " +
                             std::to_string(spec_.ttft_timeout_ms) +
                             " ms (X-Sluice-TTFT-Timeout-Ms)",
                         "ttft_timeout");
  AttemptOutcome o;
  o.kind = AttemptOutcome::Kind::TtftTimeout;
  if (moveOn(o, e, "ttft_timeout")) return;
  stopUpstream();
  abandonAttempt();
  finishAttempt(false, false, 0, "ttft_timeout");
  fail(e);
}

// Cancels whatever of the attempt is still running.
void Exchange::stopUpstream() {
  cancelTimer();
  if (upstream_) {
    upstream_->cancel();
    upstream_ = nullptr;
  }
  if (local_active_) cancelLocal();
}

// ------------------------------------------------------------ upstream side

void Exchange::onHead(int status, const std::vector<std::pair<std::string, std::string>>& headers) {
  Hold hold(this);
  std::string_view ct = "application/json";
  for (const auto& h : headers) {
    if (h.first.size() == 12 && strcasecmp(h.first.c_str(), "content-type") == 0) {
      ct = h.second;
      break;
    }
  }
  int64_t retry_after = status >= 400 && spec_.route
                            ? parseRetryAfter(headers, static_cast<int64_t>(util::wallMs()))
                            : -1;
  head(status, ct, retry_after);
}

void Exchange::onBody(const char* data, size_t len) {
  Hold hold(this);
  body(data, len);
}

void Exchange::onEnd() {
  Hold hold(this);
  upstream_ = nullptr;
  end();
}

void Exchange::onError(http::ClientError error, const std::string& detail) {
  Hold hold(this);
  upstream_ = nullptr;
  const std::string& provider = spec_.model->provider->name;
  ApiError e;
  AttemptOutcome o;
  if (http::isTimeout(error)) {
    const char* what = error == http::ClientError::ConnectTimeout     ? "connecting"
                       : error == http::ClientError::FirstByteTimeout ? "waiting for the first byte"
                                                                      : "waiting for the response";
    e = makeError(504, "upstream '" + provider + "' timed out " + what, "upstream_timeout");
    o.kind = AttemptOutcome::Kind::Timeout;
  } else {
    std::string why = http::clientErrorName(error);
    if (!detail.empty()) why += " (" + detail + ")";
    e = makeError(502, "upstream '" + provider + "' failed: " + why, "upstream_error");
    o.kind = AttemptOutcome::Kind::Connection;
  }
  if (client_done_) {
    upstream_done_ = true;
    maybeDelete();
    return;
  }
  if (moveOn(o, e, http::clientErrorName(error))) return;
  cancelTimer();
  finishAttempt(true, false, status_, http::clientErrorName(error));
  if (res_.started()) {
    streamFailed(e);
  } else {
    fail(e);
  }
}

void Exchange::localStart(void* ctx, int status, const char* content_type) {
  auto* ex = static_cast<Exchange*>(ctx);
  Hold hold(ex);
  ex->head(status, content_type ? content_type : "application/json", -1);
}

void Exchange::localWrite(void* ctx, const char* data, size_t len) {
  auto* ex = static_cast<Exchange*>(ctx);
  Hold hold(ex);
  ex->body(data, len);
}

void Exchange::localFinish(void* ctx) {
  auto* ex = static_cast<Exchange*>(ctx);
  Hold hold(ex);
  ex->local_active_ = false;
  ex->local_state_ = nullptr;
  ex->end();
}

void Exchange::head(int status, std::string_view content_type, int64_t retry_after_ms) {
  if (client_done_) return;
  if (status >= 400) {
    AttemptOutcome o;
    o.status = status;
    o.retry_after_ms = retry_after_ms;
    ApiError e = makeError(status, "upstream '" + spec_.model->provider->name + "' answered HTTP " +
                                       std::to_string(status),
                           "upstream_error");
    if (moveOn(o, e, "")) return;
    cancelTimer();  // an answer arrived: it goes to the client as it is
  }
  status_ = status;
  head_ns_ = util::monotonicNs();
  content_type_.assign(content_type);
  // The client's stream begins with the first event, so a target that fails
  // before sending one can still be replaced.
  streaming_ = spec_.stream && status == 200 && startsWithNoCase(content_type, "text/event-stream");
}

void Exchange::beginStream() {
  http::Response::Headers h;
  h.reserve(kHeadBytes);
  h.add("Content-Type", "text/event-stream");
  h.add("Cache-Control", "no-cache");
  appendIdentityHeaders(&h, /*answering=*/true);
  appendTimingHeaders(&h, util::monotonicNs());
  if (!responsePolicies(200, &h)) return;
  answered_status_ = 200;
  res_.begin(200, h);
  record_->status = 200;
  if (spec_.guards &&
      (spec_.guards->runs(GuardHook::LlmOutput) || spec_.guards->runs(GuardHook::McpPreTool))) {
    guardStream();
  }
}

void Exchange::body(const char* data, size_t len) {
  if (client_done_) return;
  uint64_t now = util::monotonicNs();
  if (!first_byte_ns_) {
    first_byte_ns_ = now;
    cancelTimer();  // the first token arrived in time
  }
  last_body_ns_ = now;
  if (!streaming_) {
    if (buffered_.size() + len > kMaxBufferedResponse) {
      stopUpstream();
      finishAttempt(true, false, status_, "response_too_large");
      fail(makeError(502, "upstream '" + spec_.model->provider->name +
                              "' response exceeds the gateway's buffer limit",
                     "upstream_error"));
      return;
    }
    buffered_.append(data, len);
    return;
  }
  if (!res_.started()) beginStream();
  std::string out;
  out_ = &out;
  bool ok = sse_.feed(data, len, [this, &out](std::string_view event, std::string_view d) {
    return handleEvent(event, d, &out);
  });
  out_ = nullptr;
  if (record_->bodies_logged) {
    appendCapped(&record_->response_body, out, spec_.gateway->config().logging.max_body_bytes);
  }
  if (!out.empty()) res_.write(out);
  if (client_done_) return;  // the write found the client gone
  if (!ok) {
    stopUpstream();
    finishAttempt(true, false, status_, "protocol");
    streamFailed(makeError(502, "upstream '" + spec_.model->provider->name +
                                    "' sent a malformed event stream",
                           "upstream_error"));
    return;
  }
  if (upstream_ && (res_.congested() || guardBacklogged())) upstream_->pause();
}

bool Exchange::handleEvent(std::string_view event, std::string_view data, std::string* out) {
  if (data == "[DONE]") {
    saw_done_ = true;
    if (stream_guard_) {  // after what the guardrails still hold
      stream_guard_->finish([this] { sendEvent("[DONE]"); });
    } else {
      out->append("data: [DONE]\n\n");
    }
    return true;
  }
  if (vt_->stream_event) {
    int rc = vt_->stream_event(spec_.model->provider->instance, call_state_, ss(event), ss(data),
                               &emitter_);
    return rc == SLUICE_OK;
  }
  forwardChunk(data, out);
  return true;
}

// A canonical chunk on its way to the client. The usage-only chunk the
// gateway asked for on the client's behalf is read and dropped.
void Exchange::forwardChunk(std::string_view json, std::string* out) {
  if (reserved_ || spec_.record) delta_chars_ += countDeltaChars(json);
  size_t usage_at = findObjectValue(json, "\"usage\"");
  if (usage_at != std::string_view::npos) {
    // A decoding provider reports usage itself (it may correct the figures).
    if (!vt_->stream_event) noteUsageFrom(json);
    if (!spec_.client_wants_usage) {
      Span choices = findTopLevelMember(json, "choices");
      bool usage_only = !choices.found;
      if (choices.found) {
        std::string_view v = json.substr(choices.begin, choices.end - choices.begin);
        usage_only = v.size() >= 2 && v.front() == '[' &&
                     v.find_first_not_of(" \t\r\n", 1) == v.size() - 1;
      }
      if (usage_only) return;
    }
  }
  if (stream_guard_) {
    stream_guard_->chunk(json);
  } else {
    out->append("data: ").append(json).append("\n\n");
  }
}

void Exchange::noteUsageFrom(std::string_view json) {
  cJSON* root = cJSON_ParseWithLength(json.data(), json.size());
  if (!root) return;
  const cJSON* u = cJSON_GetObjectItemCaseSensitive(root, "usage");
  if (cJSON_IsObject(u)) {
    usage_.prompt = intField(u, "prompt_tokens");
    usage_.completion = intField(u, "completion_tokens");
    const cJSON* details = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
    if (cJSON_IsObject(details)) {
      int64_t cached = intField(details, "cached_tokens");
      if (cached > 0) usage_.cached = cached;
    }
  }
  cJSON_Delete(root);
}

void Exchange::emitChunk(void* ctx, const char* json, size_t len) {
  auto* ex = static_cast<Exchange*>(ctx);
  std::string_view chunk(json, len);
  if (ex->out_) {
    ex->forwardChunk(chunk, ex->out_);
  } else {
    ex->decoded_.assign(chunk);  // decode_body's whole canonical response
    ex->has_decoded_ = true;
  }
}

void Exchange::emitUsage(void* ctx, int64_t prompt, int64_t completion, int64_t cached) {
  auto* ex = static_cast<Exchange*>(ctx);
  ex->usage_.prompt = prompt;
  ex->usage_.completion = completion;
  ex->usage_.cached = cached;
}

void Exchange::end() {
  cancelTimer();
  if (client_done_) {
    upstream_done_ = true;
    maybeDelete();
    return;
  }
  if (streaming_) {
    finishAttempt(false, true, status_, "");
    if (!res_.started()) beginStream();  // a stream without a single event
    upstream_done_ = true;
    auto close = [this] {
      res_.end();
      client_done_ = true;
      maybeDelete();
    };
    if (stream_guard_) {
      stream_guard_->finish(close);  // once what the guardrails hold is out
    } else {
      close();
    }
    return;
  }
  if (status_ == 0) {
    ApiError e = makeError(502, "upstream '" + spec_.model->provider->name + "' sent no response",
                           "upstream_error");
    AttemptOutcome o;
    o.kind = AttemptOutcome::Kind::Connection;
    if (moveOn(o, e, "no_response")) return;
    finishAttempt(true, false, 0, "no_response");
    fail(e);
    return;
  }
  std::string_view body = buffered_;
  if (vt_->decode_body) {
    int rc = vt_->decode_body(spec_.model->provider->instance, call_state_, status_,
                              buffered_.data(), buffered_.size(), &emitter_);
    if (rc != SLUICE_OK) {
      ApiError e = makeError(502, "upstream '" + spec_.model->provider->name +
                                      "' sent a response the provider could not decode",
                             "upstream_error");
      AttemptOutcome o;
      o.kind = AttemptOutcome::Kind::Connection;
      if (moveOn(o, e, "undecodable")) return;
      finishAttempt(true, false, status_, "undecodable");
      fail(e);
      return;
    }
    // Emitting nothing means "already canonical": body and type pass through.
    if (has_decoded_) {
      body = decoded_;
      content_type_ = "application/json";
    }
  } else if (status_ < 300) {
    Span u = findTopLevelMember(body, "usage");
    if (u.found) noteUsageFrom(body);
  }
  AttemptOutcome answered;
  answered.status = status_;
  finishAttempt(isTargetFailure(answered), status_ < 300, status_, "");
  upstream_done_ = true;
  respondWhole(body);
}

void Exchange::respondNow(std::string_view body) {
  http::Response::Headers h;
  h.reserve(kHeadBytes);
  h.add("Content-Type", content_type_);
  appendIdentityHeaders(&h);
  appendTimingHeaders(&h, util::monotonicNs());
  if (!responsePolicies(status_, &h)) return;
  answered_status_ = status_;
  res_.respond(status_, h, body);
  record_->status = status_;
  if (spec_.record) noteResponse(status_, body);
  client_done_ = true;
  maybeDelete();
}

// ------------------------------------------------------------ client side

void Exchange::fail(const ApiError& e, const governance::HeaderList* extra) {
  stopUpstream();
  abandonAttempt();
  upstream_done_ = !admitting_;
  if (client_done_) {
    maybeDelete();
    return;
  }
  http::Response::Headers h;
  h.reserve(kHeadBytes);
  h.add("Content-Type", "application/json");
  h.add("x-sluice-request-id", spec_.request_id);
  if (extra) h.append(*extra);
  appendRuleHeader(&h);
  appendAttemptsHeader(&h, false);
  appendTimingHeaders(&h, util::monotonicNs());
  if (!responsePolicies(e.status, &h)) return;  // a policy answered with its own error
  answered_status_ = e.status;
  std::string body = errorBody(e);
  res_.respond(e.status, h, body);
  record_->status = e.status;
  record_->error_code = e.code;
  if (record_->bodies_logged) {
    appendCapped(&record_->response_body, body, spec_.gateway->config().logging.max_body_bytes);
  }
  client_done_ = true;
  maybeDelete();
}

// After the first byte reached the client a failure can no longer change the
// status: the stream ends with an OpenAI-shaped error event instead of being
// silently cut.
void Exchange::streamFailed(const ApiError& e) {
  stopUpstream();
  abandonAttempt();
  upstream_done_ = true;
  if (client_done_) {
    maybeDelete();
    return;
  }
  if (out_ && !out_->empty()) {  // events batched before the failure go first
    res_.write(*out_);
    out_->clear();
  }
  std::string ev = "data: ";
  ev.append(errorBody(e)).append("\n\n");
  record_->error_code = e.code;
  if (record_->bodies_logged) {
    appendCapped(&record_->response_body, ev, spec_.gateway->config().logging.max_body_bytes);
  }
  res_.write(ev);
  res_.end();
  client_done_ = true;
  maybeDelete();
}

void Exchange::clientGone() {
  if (client_done_) return;
  Hold hold(this);
  client_done_ = true;
  record_->error_code = "client_disconnected";
  if (spec_.guards) spec_.guards->cancel();  // no guardrail answer comes back to us
  bool live = attempt_live_ || upstream_ || local_active_;
  stopUpstream();
  if (live && sent_) {
    double ms = static_cast<double>(util::monotonicNs() - attempt_start_ns_) / 1e6;
    failover_.record(spec_.model->id, status_, "client_closed", ms);
  }
  abandonAttempt();
  upstream_done_ = !admitting_;  // a pending reservation answer still comes back to us
  res_.end();  // releases the connection; nothing is written to a closed socket
  maybeDelete();
}

// The status and, for an error answer, its code: an OpenAI-shaped body's
// error.code (else error.type), read only when there is a record to fill.
void Exchange::noteResponse(int status, std::string_view body) {
  record_->status = status;
  if (record_->bodies_logged) {
    appendCapped(&record_->response_body, body, spec_.gateway->config().logging.max_body_bytes);
  }
  if (status < 400) return;
  cJSON* root = cJSON_ParseWithLength(body.data(), body.size());
  const cJSON* err = cJSON_GetObjectItemCaseSensitive(root, "error");
  const cJSON* code = nullptr;
  if (cJSON_IsObject(err)) {
    code = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (!cJSON_IsString(code)) code = cJSON_GetObjectItemCaseSensitive(err, "type");
  }
  record_->error_code = cJSON_IsString(code) ? code->valuestring : "upstream_status";
  cJSON_Delete(root);
}

void Exchange::cancelLocal() {
  local_active_ = false;
  if (vt_->local_cancel) vt_->local_cancel(spec_.model->provider->instance, local_state_);
  local_state_ = nullptr;
}

void Exchange::maybeDelete() {
  if (busy_ == 0 && client_done_ && upstream_done_) delete this;
}

void Exchange::appendIdentityHeaders(http::Response::Headers* h, bool answering) const {
  h->add("x-sluice-request-id", spec_.request_id);
  h->add("x-sluice-resolved-model", spec_.model->id);
  h->add("x-sluice-provider", spec_.model->provider->name);
  limit_headers_.appendTo(h);
  appendRuleHeader(h);
  appendAttemptsHeader(h, answering);
}

// The routing rule first, then the rate-limit, budget and guardrail rules.
void Exchange::appendRuleHeader(http::Response::Headers* h) const {
  const Route* route = failover_.route();
  const std::string& limits = plan_.ruleIds();
  const std::vector<std::string>* guards = spec_.guards ? &spec_.guards->plan().rule_ids : nullptr;
  if (!route && (!guards || guards->empty())) {
    if (!limits.empty()) h->add("x-sluice-applied-rules", limits);  // the common case: no copy
    return;
  }
  std::string ids = route ? route->id() : "";
  if (!limits.empty()) ids.append(ids.empty() ? "" : ",").append(limits);
  for (const auto& id : guards ? *guards : std::vector<std::string>{}) {
    ids.append(ids.empty() ? "" : ",").append(id);
  }
  if (!ids.empty()) h->add("x-sluice-applied-rules", ids);
}

// `answering`: the attempt in flight is answering the client (a stream that
// began) and is not in the history yet.
void Exchange::appendAttemptsHeader(http::Response::Headers* h, bool answering) const {
  const auto& done = failover_.attempts();
  size_t n = done.size() + (answering ? 1 : 0);
  if (n == 0) return;
  bool only_success = n == 1 && (answering || (done[0].error.empty() && done[0].status >= 200 &&
                                               done[0].status < 300));
  if (only_success) {
    h->add("x-sluice-attempts", "1");  // the common case, without formatting
    return;
  }
  h->add("x-sluice-attempts", failover_.header(answering ? 1 : 0));
}

void Exchange::appendTimingHeaders(http::Response::Headers* h, uint64_t now) const {
  std::string t;
  t.reserve(96);
  uint64_t start = req_.start_ns;
  if (spec_.auth_done_ns) appendMs(&t, "auth", spec_.auth_done_ns - start);
  if (guard_in_ns_) appendMs(&t, "guard_in", guard_in_ns_);
  if (spec_.route_done_ns) {
    uint64_t from = guard_done_ns_ ? guard_done_ns_ : spec_.auth_done_ns ? spec_.auth_done_ns : start;
    appendMs(&t, "route", spec_.route_done_ns - from);
  }
  if (head_ns_ && spec_.route_done_ns) appendMs(&t, "upstream", head_ns_ - spec_.route_done_ns);
  if (first_byte_ns_) appendMs(&t, "ttft", first_byte_ns_ - start);
  if (guard_out_ns_) appendMs(&t, "guard_out", guard_out_ns_);
  appendMs(&t, "total", now - start);
  h->add("Server-Timing", std::move(t));
}

}  // namespace sluice::pipeline
