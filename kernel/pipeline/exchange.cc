#include "pipeline/exchange.h"

#include <cjson/cJSON.h>

#include <cstring>

#include "governance/key_book.h"
#include "governance/settle.h"
#include "pipeline/json_splice.h"
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

void appendMs(std::string* out, const char* name, uint64_t ns) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%s%s;dur=%.3f", out->empty() ? "" : ", ", name,
                   static_cast<double>(ns) / 1e6);
  out->append(buf, n);
}

}  // namespace

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
    recordRequest(req_, &record_);
    if (spec_.log_bodies) {
      record_.bodies_logged = true;
      appendCapped(&record_.request_body, req_.body, spec_.gateway->config().logging.max_body_bytes);
    }
  } else if (req_.header("traceparent")) {
    recordTrace(req_, &record_);  // honoured and passed on even with no sink to report to
  }
}

Exchange::~Exchange() {
  if (sent_ && vt_->call_end) vt_->call_end(spec_.model->provider->instance, call_state_);
  settle();
  if (spec_.record) submitRecord();
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
  RequestRecord& r = record_;
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
  r.applied_rules.insert(r.applied_rules.end(), plan_.rule_ids.begin(), plan_.rule_ids.end());
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
    r.phases.route =
        elapsedMs(spec_.auth_done_ns ? spec_.auth_done_ns : start_ns_, spec_.route_done_ns);
    if (head_ns_) r.phases.upstream = elapsedMs(spec_.route_done_ns, head_ns_);
  }
  if (first_byte_ns_) {
    r.phases.ttft = elapsedMs(start_ns_, first_byte_ns_);
    if (u.completion > 1 && streaming_) {
      r.phases.tpot = elapsedMs(first_byte_ns_, now) / static_cast<double>(u.completion - 1);
    }
  }
}

void Exchange::submitRecord() {
  if (!worker_->telemetry) return;
  finishRecord();
  worker_->telemetry->submit(std::move(record_));
}

void Exchange::run() {
  Hold hold(this);
  res_.onAbort([this] { clientGone(); });
  res_.onDrain([this] {
    Hold hold(this);
    if (upstream_) upstream_->resume();
  });
  const governance::Policy& policy = spec_.gateway->policy();
  if (!policy.empty() && worker_->counters) {
    plan_ = policy.plan(facts(), waived_);
    if (!plan_.empty()) {
      reserve();
      return;
    }
  }
  send();
}

governance::RequestFacts Exchange::facts() const {
  governance::RequestFacts f;
  f.principal = spec_.principal;
  f.model = spec_.requested_model;
  f.metadata = &spec_.metadata;
  f.prompt_estimate = spec_.prompt_estimate;
  const manifest::ModelConfig* mc = spec_.model->config;
  f.max_output = spec_.max_tokens >= 0 ? spec_.max_tokens : (mc ? mc->max_output_tokens : 4096);
  f.pricing = mc && mc->pricing ? &*mc->pricing : nullptr;
  f.now_ms = static_cast<int64_t>(util::wallMs());
  return f;
}

// Phase 5: every matching rate limit and budget is reserved at once, or none.
void Exchange::reserve() {
  admitting_ = true;
  for (size_t i = 0; i < plan_.info.size(); i++) {
    const governance::CheckInfo& info = plan_.info[i];
    governance::keyBook().note(info.rate ? info.rate->id : info.budget->id, info.dims,
                               plan_.checks[i].key);
  }
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
      limit_headers_ = std::move(d.headers);
      spec_.auth_done_ns = util::monotonicNs();
      send();
      return;
    case governance::Decision::Kind::Downgrade:
      if (spec_.record) record_.events.push_back({d.downgrade->id, "budget", "downgraded"});
      if (downgrade(d.downgrade)) return;
      d.status = 429;
      d.code = "budget_exceeded";
      d.message = "budget '" + d.downgrade->id + "' exceeded and its downgrade_to model '" +
                  d.downgrade->downgrade_to + "' cannot serve this request";
      break;
    case governance::Decision::Kind::Refuse:
      if (spec_.record && r.refused >= 0 && static_cast<size_t>(r.refused) < plan_.info.size()) {
        const governance::CheckInfo& info = plan_.info[r.refused];
        record_.events.push_back(info.rate ? RuleEvent{info.rate->id, "rate_limit", "blocked"}
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
  spec_.model = cheaper;
  vt_ = cheaper->provider->vt;
  plan_ = spec_.gateway->policy().plan(facts(), waived_);
  reserve();
  return true;
}

// The provider's body: the client's bytes with only the model renamed and,
// for streams, usage requested — tools, response_format and unknown fields
// pass through untouched.
void Exchange::prepareBody() {
  std::string upstream_model;
  appendJsonString(&upstream_model, spec_.model->upstream_name);
  std::string body = replaceSpan(req_.body, findTopLevelMember(req_.body, "model"), upstream_model);
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

void Exchange::send() {
  prepareBody();
  spec_.route_done_ns = util::monotonicNs();
  sent_ = true;
  const ProviderInstance* provider = spec_.model->provider;
  call_.struct_size = sizeof call_;
  call_.endpoint = spec_.endpoint;
  call_.model = ss(spec_.model->upstream_name);
  call_.stream = spec_.stream ? 1 : 0;
  call_.body = ss(spec_.body);
  call_.worker = worker_;
  call_.request_id = ss(spec_.request_id);
  ureq_.struct_size = sizeof ureq_;

  int rc = vt_->build_request(provider->instance, &call_, &ureq_, &call_state_);
  if (rc == SLUICE_ERR_UNSUPPORTED) {
    upstream_done_ = true;
    fail(makeError(400, "model '" + spec_.model->id + "' (provider type '" + provider->type +
                            "') does not serve this endpoint",
                   "unsupported_endpoint", "model"));
  } else if (rc != SLUICE_OK) {
    upstream_done_ = true;
    fail(makeError(500, "provider '" + provider->name + "' could not build the upstream request",
                   "provider_error"));
  } else if (ureq_.local) {
    if (!vt_->local_respond) {
      upstream_done_ = true;
      fail(makeError(500, "provider '" + provider->name + "' cannot answer locally",
                     "provider_error"));
    } else {
      local_active_ = true;
      if (vt_->local_respond(provider->instance, &call_, &local_, &local_state_) != SLUICE_OK) {
        local_active_ = false;
        upstream_done_ = true;
        fail(makeError(500, "provider '" + provider->name + "' failed to answer",
                       "provider_error"));
      }
    }
  } else {
    http::ClientRequest cr;
    if (!http::Url::parse(sv(ureq_.url), &cr.url)) {
      upstream_done_ = true;
      fail(makeError(500, "provider '" + provider->name + "' produced an invalid upstream URL",
                     "provider_error"));
    } else {
      cr.method = ureq_.method.len ? std::string(sv(ureq_.method)) : "POST";
      cr.headers.reserve(ureq_.header_count);
      for (size_t i = 0; i < ureq_.header_count && i < 16; i++) {
        cr.headers.emplace_back(sv(ureq_.headers[i].name), sv(ureq_.headers[i].value));
      }
      // The body goes out unchanged unless the provider built its own.
      if (ureq_.body.len) {
        cr.body.assign(sv(ureq_.body));
      } else {
        cr.body = std::move(spec_.body);
        call_.body = ss("");
      }
      if (!record_.trace_id.empty()) {
        cr.headers.emplace_back("traceparent",
                                telemetry::traceparent(record_.trace_id, record_.span_id));
      }
      if (const std::string* fb = req_.header("x-sluice-ttft-timeout-ms")) {
        cr.first_byte_timeout_ms = static_cast<uint32_t>(strtoul(fb->c_str(), nullptr, 10));
      }
      upstream_ = worker_->client->start(std::move(cr), this);
    }
  }
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
  head(status, ct);
}

void Exchange::onBody(const char* data, size_t len) {
  Hold hold(this);
  body(data, len);
}

void Exchange::onEnd() {
  Hold hold(this);
  upstream_ = nullptr;
  upstream_done_ = true;
  end();
}

void Exchange::onError(http::ClientError error, const std::string& detail) {
  Hold hold(this);
  upstream_ = nullptr;
  upstream_done_ = true;
  const std::string& provider = spec_.model->provider->name;
  ApiError e;
  if (http::isTimeout(error)) {
    const char* what = error == http::ClientError::ConnectTimeout     ? "connecting"
                       : error == http::ClientError::FirstByteTimeout ? "waiting for the first byte"
                                                                      : "waiting for the response";
    e = makeError(504, "upstream '" + provider + "' timed out " + what, "upstream_timeout");
  } else {
    std::string why = http::clientErrorName(error);
    if (!detail.empty()) why += " (" + detail + ")";
    e = makeError(502, "upstream '" + provider + "' failed: " + why, "upstream_error");
  }
  if (client_done_) {
    maybeDelete();
  } else if (res_.started()) {
    streamFailed(e);
  } else {
    fail(e);
  }
}

void Exchange::localStart(void* ctx, int status, const char* content_type) {
  auto* ex = static_cast<Exchange*>(ctx);
  Hold hold(ex);
  ex->head(status, content_type ? content_type : "application/json");
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
  ex->upstream_done_ = true;
  ex->end();
}

void Exchange::head(int status, std::string_view content_type) {
  if (client_done_) return;
  status_ = status;
  head_ns_ = util::monotonicNs();
  content_type_.assign(content_type);
  if (spec_.stream && status == 200 && startsWithNoCase(content_type, "text/event-stream")) {
    streaming_ = true;
    http::Response::Headers h;
    h.reserve(16);
    h.emplace_back("Content-Type", "text/event-stream");
    h.emplace_back("Cache-Control", "no-cache");
    appendIdentityHeaders(&h);
    appendTimingHeaders(&h, head_ns_);
    res_.begin(200, h);
    record_.status = 200;
  }
}

void Exchange::body(const char* data, size_t len) {
  if (client_done_) return;
  if (!first_byte_ns_) first_byte_ns_ = util::monotonicNs();
  if (!streaming_) {
    if (buffered_.size() + len > kMaxBufferedResponse) {
      if (upstream_) {
        upstream_->cancel();
        upstream_ = nullptr;
        upstream_done_ = true;
      }
      fail(makeError(502, "upstream '" + spec_.model->provider->name +
                              "' response exceeds the gateway's buffer limit",
                     "upstream_error"));
      return;
    }
    buffered_.append(data, len);
    return;
  }
  std::string out;
  out_ = &out;
  bool ok = sse_.feed(data, len, [this, &out](std::string_view event, std::string_view d) {
    return handleEvent(event, d, &out);
  });
  out_ = nullptr;
  if (record_.bodies_logged) {
    appendCapped(&record_.response_body, out, spec_.gateway->config().logging.max_body_bytes);
  }
  if (!out.empty()) res_.write(out);
  if (client_done_) return;  // the write found the client gone
  if (!ok) {
    if (upstream_) {
      upstream_->cancel();
      upstream_ = nullptr;
      upstream_done_ = true;
    }
    streamFailed(makeError(502, "upstream '" + spec_.model->provider->name +
                                    "' sent a malformed event stream",
                           "upstream_error"));
    return;
  }
  if (upstream_ && res_.congested()) upstream_->pause();
}

bool Exchange::handleEvent(std::string_view event, std::string_view data, std::string* out) {
  if (data == "[DONE]") {
    saw_done_ = true;
    out->append("data: [DONE]\n\n");
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
  out->append("data: ").append(json).append("\n\n");
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
  if (client_done_) {
    maybeDelete();
    return;
  }
  if (streaming_) {
    res_.end();
    client_done_ = true;
    maybeDelete();
    return;
  }
  if (status_ == 0) {
    fail(makeError(502, "upstream '" + spec_.model->provider->name + "' sent no response",
                   "upstream_error"));
    return;
  }
  std::string_view body = buffered_;
  if (vt_->decode_body) {
    int rc = vt_->decode_body(spec_.model->provider->instance, call_state_, status_,
                              buffered_.data(), buffered_.size(), &emitter_);
    if (rc != SLUICE_OK) {
      fail(makeError(502, "upstream '" + spec_.model->provider->name +
                              "' sent a response the provider could not decode",
                     "upstream_error"));
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
  http::Response::Headers h;
  h.reserve(16);
  h.emplace_back("Content-Type", content_type_);
  appendIdentityHeaders(&h);
  appendTimingHeaders(&h, util::monotonicNs());
  res_.respond(status_, h, body);
  if (spec_.record) noteResponse(status_, body);
  client_done_ = true;
  maybeDelete();
}

// ------------------------------------------------------------ client side

void Exchange::fail(const ApiError& e, const governance::HeaderList* extra) {
  if (client_done_) {
    maybeDelete();
    return;
  }
  http::Response::Headers h;
  h.reserve(12);
  h.emplace_back("Content-Type", "application/json");
  h.emplace_back("x-sluice-request-id", spec_.request_id);
  if (extra) h.insert(h.end(), extra->begin(), extra->end());
  appendRuleHeader(&h);
  appendTimingHeaders(&h, util::monotonicNs());
  std::string body = errorBody(e);
  res_.respond(e.status, h, body);
  record_.status = e.status;
  record_.error_code = e.code;
  if (record_.bodies_logged) {
    appendCapped(&record_.response_body, body, spec_.gateway->config().logging.max_body_bytes);
  }
  client_done_ = true;
  if (upstream_) {
    upstream_->cancel();
    upstream_ = nullptr;
  }
  if (local_active_) cancelLocal();
  upstream_done_ = true;
  maybeDelete();
}

// After the first byte reached the client a failure can no longer change the
// status: the stream ends with an OpenAI-shaped error event instead of being
// silently cut.
void Exchange::streamFailed(const ApiError& e) {
  if (client_done_) {
    maybeDelete();
    return;
  }
  std::string ev = "data: ";
  ev.append(errorBody(e)).append("\n\n");
  record_.error_code = e.code;
  if (record_.bodies_logged) {
    appendCapped(&record_.response_body, ev, spec_.gateway->config().logging.max_body_bytes);
  }
  res_.write(ev);
  res_.end();
  client_done_ = true;
  if (local_active_) cancelLocal();
  maybeDelete();
}

void Exchange::clientGone() {
  if (client_done_) return;
  Hold hold(this);
  client_done_ = true;
  record_.error_code = "client_disconnected";
  if (upstream_) {
    upstream_->cancel();
    upstream_ = nullptr;
  }
  if (local_active_) cancelLocal();
  upstream_done_ = !admitting_;  // a pending reservation answer still comes back to us
  res_.end();  // releases the connection; nothing is written to a closed socket
  maybeDelete();
}

// The status and, for an error answer, its code: an OpenAI-shaped body's
// error.code (else error.type), read only when there is a record to fill.
void Exchange::noteResponse(int status, std::string_view body) {
  record_.status = status;
  if (record_.bodies_logged) {
    appendCapped(&record_.response_body, body, spec_.gateway->config().logging.max_body_bytes);
  }
  if (status < 400) return;
  cJSON* root = cJSON_ParseWithLength(body.data(), body.size());
  const cJSON* err = cJSON_GetObjectItemCaseSensitive(root, "error");
  const cJSON* code = nullptr;
  if (cJSON_IsObject(err)) {
    code = cJSON_GetObjectItemCaseSensitive(err, "code");
    if (!cJSON_IsString(code)) code = cJSON_GetObjectItemCaseSensitive(err, "type");
  }
  record_.error_code = cJSON_IsString(code) ? code->valuestring : "upstream_status";
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

void Exchange::appendIdentityHeaders(http::Response::Headers* h) const {
  h->emplace_back("x-sluice-request-id", spec_.request_id);
  h->emplace_back("x-sluice-resolved-model", spec_.model->id);
  h->emplace_back("x-sluice-provider", spec_.model->provider->name);
  h->insert(h->end(), limit_headers_.begin(), limit_headers_.end());
  appendRuleHeader(h);
}

void Exchange::appendRuleHeader(http::Response::Headers* h) const {
  if (plan_.rule_ids.empty()) return;
  std::string ids;
  for (const auto& id : plan_.rule_ids) ids += (ids.empty() ? "" : ",") + id;
  h->emplace_back("x-sluice-applied-rules", std::move(ids));
}

void Exchange::appendTimingHeaders(http::Response::Headers* h, uint64_t now) const {
  std::string t;
  t.reserve(96);
  uint64_t start = req_.start_ns;
  if (spec_.auth_done_ns) appendMs(&t, "auth", spec_.auth_done_ns - start);
  if (spec_.route_done_ns) {
    appendMs(&t, "route", spec_.route_done_ns - (spec_.auth_done_ns ? spec_.auth_done_ns : start));
  }
  if (head_ns_ && spec_.route_done_ns) appendMs(&t, "upstream", head_ns_ - spec_.route_done_ns);
  if (first_byte_ns_) appendMs(&t, "ttft", first_byte_ns_ - start);
  appendMs(&t, "total", now - start);
  h->emplace_back("Server-Timing", std::move(t));
}

}  // namespace sluice::pipeline
