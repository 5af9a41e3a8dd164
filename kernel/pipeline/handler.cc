#include "pipeline/handler.h"

#include <cjson/cJSON.h>

#include <cstring>
#include <random>
#include <utility>

#include "pipeline/errors.h"
#include "pipeline/exchange.h"
#include "pipeline/json_splice.h"
#include "pipeline/record_fill.h"
#include "telemetry/body_policy.h"
#include "telemetry/hub.h"
#include "util/clock.h"

namespace sluice::pipeline {
namespace {

// The JSON endpoints served under every base path, and the field each one
// cannot do without.
// What the required field may hold.
enum class Shape { Array, StringOrArray, String };

struct EndpointSpec {
  std::string_view path;
  sluice_endpoint endpoint;
  const char* required;
  Shape shape;
  bool streamable;
};

constexpr EndpointSpec kEndpoints[] = {
    {"/chat/completions", SLUICE_EP_CHAT, "messages", Shape::Array, true},
    {"/completions", SLUICE_EP_COMPLETIONS, "prompt", Shape::StringOrArray, true},
    {"/embeddings", SLUICE_EP_EMBEDDINGS, "input", Shape::StringOrArray, false},
    {"/moderations", SLUICE_EP_MODERATIONS, "input", Shape::StringOrArray, false},
    {"/images/generations", SLUICE_EP_IMAGES_GENERATIONS, "prompt", Shape::String, false},
    {"/audio/speech", SLUICE_EP_AUDIO_SPEECH, "input", Shape::String, false},
    {"/rerank", SLUICE_EP_RERANK, "query", Shape::String, false},
};

// Empty when `v` fits `shape`, else the complaint.
std::string shapeError(const cJSON* v, Shape shape, const char* name) {
  bool is_array = cJSON_IsArray(v), is_string = cJSON_IsString(v);
  switch (shape) {
    case Shape::Array:
      if (!is_array) return std::string("'") + name + "' must be an array";
      if (cJSON_GetArraySize(v) == 0) return std::string("'") + name + "' must not be empty";
      return "";
    case Shape::StringOrArray:
      return is_array || is_string ? "" : std::string("'") + name + "' must be a string or an array";
    case Shape::String:
      return is_string ? "" : std::string("'") + name + "' must be a string";
  }
  return "";
}

bool validRequestId(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// "at line L column C" for a cJSON parse error position.
std::string jsonErrorWhere(const std::string& body, const char* err) {
  if (!err || err < body.data() || err > body.data() + body.size()) return "";
  size_t off = static_cast<size_t>(err - body.data());
  int line = 1, col = 1;
  for (size_t i = 0; i < off; i++) {
    if (body[i] == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  return " (at line " + std::to_string(line) + " column " + std::to_string(col) + ")";
}

// The body's top-level members the handler reads, found in one walk over
// the object: cJSON's lookup walks it again for every name. As that lookup
// does, the first of duplicated names wins.
struct TopMembers {
  const cJSON* model = nullptr;
  const cJSON* required = nullptr;  // the endpoint's required member (e.g. messages)
  const cJSON* stream = nullptr;
  const cJSON* stream_options = nullptr;
  const cJSON* max_completion_tokens = nullptr;
  const cJSON* max_tokens = nullptr;
};

TopMembers topMembers(const cJSON* root, const char* required) {
  TopMembers m;
  for (const cJSON* c = root->child; c; c = c->next) {
    const char* name = c->string;
    if (!name) continue;
    auto take = [c, name](const cJSON** slot, const char* wanted) {
      if (*slot || strcmp(name, wanted) != 0) return false;
      *slot = c;
      return true;
    };
    if (take(&m.required, required)) continue;
    switch (name[0]) {
      case 'm':
        take(&m.model, "model") || take(&m.max_tokens, "max_tokens") ||
            take(&m.max_completion_tokens, "max_completion_tokens");
        break;
      case 's':
        take(&m.stream, "stream") || take(&m.stream_options, "stream_options");
        break;
      default:
        break;
    }
  }
  return m;
}

}  // namespace

void RequestHandler::respondError(http::Response& res, const ApiError& e,
                                  const std::string& request_id) {
  http::Response::Headers h;
  h.add("Content-Type", "application/json");
  if (!request_id.empty()) h.add("x-sluice-request-id", request_id);
  if (e.status == 405) h.add("Allow", e.param.empty() ? "POST" : "GET");
  std::string body = errorBody(e);
  recordEarly(e.status, e.code, request_id, body);  // first: answering may recycle the request
  res.respond(e.status, h, body);
}

void RequestHandler::recordEarly(int status, const std::string& error_code,
                                 const std::string& request_id, std::string_view response_body) {
  if (!worker_->telemetry || !worker_->telemetry->active() || !early_.req) return;
  const http::Request& req = *early_.req;
  RequestRecord record;
  RequestRecord* r = &record;
  recordRequest(req, r);
  recordTimes(req.start_ns, util::monotonicNs(), r);
  r->id = request_id;
  if (early_.caller) recordCaller(*early_.caller, r);
  if (early_.metadata) r->metadata = *early_.metadata;
  r->requested_model.assign(early_.model);
  r->status = status;
  r->error_code = error_code;
  // Bodies: the caller's choice counts when it parses (a malformed header is
  // what this answer may be about).
  std::optional<bool> caller;
  const std::string* h = req.header("x-sluice-logging-config");
  if (!h) h = req.header("x-tfy-logging-config");
  std::string ignored;
  if (h && !telemetry::parseLoggingHeader(*h, &caller, &ignored)) caller = false;
  const manifest::LoggingConfig& logging = early_.gw->config().logging;
  if (telemetry::logBodies(logging, caller)) {
    r->bodies_logged = true;
    appendCapped(&r->request_body, req.body, logging.max_body_bytes);
    appendCapped(&r->response_body, response_body, logging.max_body_bytes);
  }
  worker_->telemetry->submit(std::move(record));
}

RequestHandler::RequestHandler(sluice_worker* worker, GatewayHolder* holder)
    : worker_(worker), holder_(holder) {
  std::random_device rd;
  rng_ = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ util::monotonicNs();
  if (rng_ == 0) rng_ = 0x9e3779b97f4a7c15ull;
}

const std::shared_ptr<Gateway>& RequestHandler::current() {
  uint64_t gen = holder_->generation();
  if (gen != generation_ || !gateway_) {
    gateway_ = holder_->get();
    generation_ = gen;
  }
  return gateway_;
}

std::string RequestHandler::newRequestId(const http::Request& req) {
  const std::string* given = req.header("x-sluice-request-id");
  if (!given) given = req.header("x-tfy-request-id");
  if (given && validRequestId(*given)) return *given;
  // xorshift64*: unique enough per worker, and no syscall per request.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  uint64_t a = rng_ * 0x2545F4914F6CDD1Dull;
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  uint64_t b = rng_ * 0x2545F4914F6CDD1Dull;
  char buf[40];
  snprintf(buf, sizeof buf, "req_%016llx%08llx", static_cast<unsigned long long>(a),
           static_cast<unsigned long long>(b >> 32));
  return buf;
}

void RequestHandler::handle(http::Request& req, http::Response& res) {
  std::shared_ptr<Gateway> gw = current();
  std::string request_id = newRequestId(req);
  early_ = EarlyFacts();
  early_.req = &req;
  early_.gw = gw.get();
  std::string_view rest;
  if (!gw->stripBasePath(req.path(), &rest)) {
    respondError(res, makeError(404, "no route for " + std::string(req.path()), "unknown_url"),
                 request_id);
    return;
  }

  if (rest == "/models") {
    if (req.method != "GET") {
      respondError(res, makeError(405, "use GET for /models", "method_not_allowed", "GET"),
                   request_id);
      return;
    }
    const governance::Principal* caller = authenticate(*gw, req, res, request_id);
    if (!caller) return;
    early_.caller = caller;
    recordEarly(200, "", request_id, "");
    res.respond(200,
                {{"Content-Type", "application/json"}, {"x-sluice-request-id", request_id}},
                caller->all_models ? gw->modelsJson() : gw->modelsJsonFor(*caller));
    return;
  }

  const EndpointSpec* ep = nullptr;
  for (const auto& e : kEndpoints) {
    if (rest == e.path) {
      ep = &e;
      break;
    }
  }
  if (!ep) {
    respondError(res, makeError(404, "no route for " + std::string(req.path()), "unknown_url"),
                 request_id);
    return;
  }
  if (req.method != "POST") {
    respondError(res,
                 makeError(405, "use POST for " + std::string(ep->path), "method_not_allowed"),
                 request_id);
    return;
  }
  const governance::Principal* caller = authenticate(*gw, req, res, request_id);
  if (!caller) return;
  early_.caller = caller;

  cJSON* root = cJSON_ParseWithLength(req.body.data(), req.body.size());
  if (!root) {
    std::string where = jsonErrorWhere(req.body, cJSON_GetErrorPtr());
    respondError(res,
                 makeError(400, req.body.empty() ? "request body is empty; expected a JSON object"
                                                 : "request body is not valid JSON" + where,
                           "invalid_json"),
                 request_id);
    return;
  }
  // Everything below reads `root`; it is freed on every path out.
  struct Free {
    cJSON* p;
    ~Free() { cJSON_Delete(p); }
  } free_root{root};

  if (!cJSON_IsObject(root)) {
    respondError(res, makeError(400, "request body must be a JSON object", "invalid_json"),
                 request_id);
    return;
  }
  const TopMembers top = topMembers(root, ep->required);
  const cJSON* model = top.model;
  if (!model) {
    respondError(res,
                 makeError(400, "you must provide a model parameter", "missing_required_parameter",
                           "model"),
                 request_id);
    return;
  }
  if (!cJSON_IsString(model) || !model->valuestring[0]) {
    respondError(res,
                 makeError(400, "'model' must be a non-empty string", "invalid_type", "model"),
                 request_id);
    return;
  }
  const cJSON* required = top.required;
  if (!required) {
    respondError(res,
                 makeError(400, std::string("'") + ep->required + "' is a required property",
                           "missing_required_parameter", ep->required),
                 request_id);
    return;
  }
  std::string bad_shape = shapeError(required, ep->shape, ep->required);
  if (!bad_shape.empty()) {
    respondError(res, makeError(400, bad_shape, "invalid_type", ep->required), request_id);
    return;
  }
  const cJSON* stream_flag = top.stream;
  if (stream_flag && !cJSON_IsBool(stream_flag) && !cJSON_IsNull(stream_flag)) {
    respondError(res, makeError(400, "'stream' must be a boolean", "invalid_type", "stream"),
                 request_id);
    return;
  }
  uint32_t ttft_timeout_ms = 0;
  if (!ttftTimeout(req, res, request_id, &ttft_timeout_ms)) return;
  early_.model = model->valuestring;
  governance::Metadata metadata;
  if (!identify(*gw, *caller, req, res, request_id, &metadata)) return;
  early_.metadata = &metadata;
  bool log_bodies = false;
  if (!loggingChoice(*gw, req, res, request_id, &log_bodies)) return;
  std::string_view requested = model->valuestring;
  // Phase 4: Lua on_request may change the metadata and the model (which
  // then passes the access check like any other), or reject.
  std::shared_ptr<lua::WorkerPolicies> policies;
  lua::RequestView policy_view;
  if (!gw->policies()->empty()) policies = policy_states_.get(gw->policies());
  if (policies && policies->runs(lua::Hook::Request)) {
    policy_view = {request_id, std::string(requested), caller->subject, caller->team, &metadata,
                   &req, {}};
    lua::Outcome o = policies->onRequest(policy_view);
    if (o.kind != lua::Outcome::Kind::Continue) {
      respondError(res, makeError(o.status, std::move(o.message), std::move(o.code)), request_id);
      return;
    }
    requested = policy_view.model;
  }
  if (!gw->directory().mayUse(*caller, requested)) {
    respondError(res,
                 makeError(403,
                           caller->subject + " may not use model '" + std::string(requested) + "'",
                           "model_not_allowed", "model"),
                 request_id);
    return;
  }
  // Phase 7 starts here: the first routing rule that holds decides the
  // targets (virtual models exist only through rules; a rule may also
  // reroute a direct name); the exchange orders them once admitted.
  const Route* route = gw->router().match(requested, *caller, metadata);
  const ModelEntry* entry = route ? route->targets().front().model : gw->findModel(requested);
  if (!entry) {
    if (gw->router().isVirtual(requested)) {
      respondError(res,
                   makeError(400,
                             "no routing rule for virtual model '" + std::string(requested) +
                                 "' matches this request (check its X-Sluice-Metadata)",
                             "no_matching_route", "model"),
                   request_id);
      return;
    }
    respondError(res,
                 makeError(404,
                           "The model '" + std::string(requested) +
                               "' does not exist or you do not have access to it.",
                           "model_not_found", "model"),
                 request_id);
    return;
  }
  ExchangeSpec spec;
  spec.gateway = gw;
  spec.model = entry;
  spec.route = route;
  spec.ttft_timeout_ms = ttft_timeout_ms;
  if (route) spec.sticky_key = route->stickyKey(req, metadata);
  spec.endpoint = ep->endpoint;
  spec.request_id = std::move(request_id);
  spec.stream = ep->streamable && cJSON_IsTrue(stream_flag);
  const cJSON* opts = top.stream_options;
  const cJSON* include = cJSON_IsObject(opts)
                             ? cJSON_GetObjectItemCaseSensitive(opts, "include_usage")
                             : nullptr;
  spec.client_wants_usage = cJSON_IsTrue(include);
  spec.has_stream_options = opts != nullptr;
  spec.principal = caller;
  spec.requested_model.assign(requested);
  spec.metadata = std::move(metadata);
  spec.policies = std::move(policies);
  spec.policy_headers = std::move(policy_view.upstream_headers);
  spec.record = worker_->telemetry && worker_->telemetry->active();
  spec.log_bodies = log_bodies;
  if (!gw->policy().empty() || spec.record) {
    // Worst case for the reservation: ~4 bytes of request per prompt token
    // (JSON overhead makes it an over-estimate) plus what the answer may use.
    spec.prompt_estimate = static_cast<int64_t>((req.body.size() + 3) / 4);
    for (const cJSON* v : {top.max_completion_tokens, top.max_tokens}) {
      if (cJSON_IsNumber(v) && v->valuedouble >= 0) {
        spec.max_tokens = static_cast<int64_t>(v->valuedouble);
        break;
      }
    }
  }
  if (!planGuards(*gw, req, res, &spec)) return;
  // Input guardrails read the body as JSON: they take this parse rather
  // than make their own.
  if (spec.guards && (spec.guards->runs(GuardHook::LlmInput) ||
                      spec.guards->runs(GuardHook::McpPostTool))) {
    spec.parsed_body.reset(std::exchange(free_root.p, nullptr));
  }
  spec.auth_done_ns = util::monotonicNs();
  Exchange::start(worker_, req, res, std::move(spec));
}

// The guardrails this request runs: those the manifest's rules pick, plus
// those the caller adds by name in X-Sluice-Guardrails (400 for a name the
// manifest does not configure).
bool RequestHandler::planGuards(const Gateway& gw, const http::Request& req, http::Response& res,
                                ExchangeSpec* spec) {
  const GuardrailSet& set = gw.guardrails();
  const std::string* header = req.header("x-sluice-guardrails");
  if (!header) header = req.header("x-tfy-guardrails");
  GuardNames extra;
  if (header) {
    std::string error;
    if (!set.parseHeader(*header, &extra, &error)) {
      respondError(res,
                   makeError(400, "X-Sluice-Guardrails: " + error, "invalid_guardrails",
                             "X-Sluice-Guardrails"),
                   spec->request_id);
      return false;
    }
  }
  if (set.empty()) return true;
  governance::RequestFacts facts;
  facts.principal = spec->principal;
  facts.model = spec->requested_model;
  facts.metadata = &spec->metadata;
  GuardPlan plan;
  GuardContext context;
  RequestGuards::swapSpares(&plan, &context);
  set.plan(facts, header ? &extra : nullptr, &plan);
  if (plan.empty()) {
    RequestGuards::swapSpares(&plan, &context);  // unused: the buffers go back
    return true;
  }
  context.request_id = spec->request_id;
  context.model = spec->requested_model;
  context.subject = spec->principal->subject;
  context.metadata_json.assign(1, '{');
  for (const auto& [k, v] : spec->metadata) {
    if (context.metadata_json.size() > 1) context.metadata_json.push_back(',');
    appendJsonString(&context.metadata_json, k);
    context.metadata_json.push_back(':');
    appendJsonString(&context.metadata_json, v);
  }
  context.metadata_json.push_back('}');
  spec->guards =
      std::make_unique<RequestGuards>(worker_, std::move(plan), std::move(context), set.size());
  return true;
}

// X-Sluice-TTFT-Timeout-Ms: how long each attempt may wait for its first
// token. Writes the 400 and returns false when the value is not a number of
// milliseconds.
bool RequestHandler::ttftTimeout(const http::Request& req, http::Response& res,
                                 const std::string& request_id, uint32_t* out) {
  const std::string* value = req.header("x-sluice-ttft-timeout-ms");
  if (!value) value = req.header("x-tfy-ttft-timeout-ms");
  if (!value) return true;
  constexpr uint64_t kMax = 3600000;
  uint64_t ms = 0;
  bool ok = !value->empty() && value->size() <= 7;
  for (char c : *value) {
    ok = ok && c >= '0' && c <= '9';
    ms = ms * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok || ms == 0 || ms > kMax) {
    respondError(res,
                 makeError(400,
                           "X-Sluice-TTFT-Timeout-Ms must be a whole number of milliseconds from 1 "
                           "to " + std::to_string(kMax),
                           "invalid_header", "X-Sluice-TTFT-Timeout-Ms"),
                 request_id);
    return false;
  }
  *out = static_cast<uint32_t>(ms);
  return true;
}

// The caller's X-Sluice-Logging-Config (alias X-TFY-LOGGING-CONFIG) against
// the manifest's logging settings; a malformed header answers 400.
bool RequestHandler::loggingChoice(const Gateway& gw, const http::Request& req,
                                   http::Response& res, const std::string& request_id,
                                   bool* log_bodies) {
  std::optional<bool> caller;
  const std::string* h = req.header("x-sluice-logging-config");
  if (!h) h = req.header("x-tfy-logging-config");
  std::string error;
  if (h && !telemetry::parseLoggingHeader(*h, &caller, &error)) {
    respondError(res,
                 makeError(400, "X-Sluice-Logging-Config: " + error, "invalid_logging_config",
                           "X-Sluice-Logging-Config"),
                 request_id);
    return false;
  }
  *log_bodies = telemetry::logBodies(gw.config().logging, caller);
  return true;
}

// Phase 2: who asks. Writes the 401 and returns nullptr on a missing or
// unknown token; the token itself never appears in an answer or a log.
const governance::Principal* RequestHandler::authenticate(const Gateway& gw,
                                                          const http::Request& req,
                                                          http::Response& res,
                                                          const std::string& request_id) {
  const governance::Directory& dir = gw.directory();
  if (dir.open()) return &dir.anonymous();
  std::string_view token =
      governance::presentedToken(req.header("authorization"), req.header("x-api-key"));
  if (token.empty()) {
    respondError(res,
                 makeError(401, "no API key: send Authorization: Bearer <token>",
                           "missing_api_key"),
                 request_id);
    return nullptr;
  }
  const governance::Principal* p = dir.find(token);
  if (!p) respondError(res, makeError(401, "the API key is not valid", "invalid_api_key"), request_id);
  return p;
}

// Phase 3: the request's metadata — the manifest's defaults, the caller's
// header over them, the account's own over both — and the required keys.
bool RequestHandler::identify(const Gateway& gw, const governance::Principal& caller,
                              const http::Request& req, http::Response& res,
                              const std::string& request_id, governance::Metadata* out) {
  const manifest::Config& cfg = gw.config();
  for (const auto& [k, v] : cfg.default_metadata) (*out)[k] = v;
  const std::string* header = req.header("x-sluice-metadata");
  if (!header) header = req.header("x-tfy-metadata");
  if (header) {
    std::string error, bad_key;
    if (!governance::parseMetadataHeader(*header, out, &error, &bad_key)) {
      respondError(res,
                   makeError(400, "X-Sluice-Metadata: " + error, "invalid_metadata",
                             "X-Sluice-Metadata"),
                   request_id);
      return false;
    }
  }
  for (const auto& [k, v] : caller.metadata) (*out)[k] = v;
  std::string missing;
  for (const auto& key : cfg.required_metadata) {
    if (out->find(key) == out->end()) missing += (missing.empty() ? "" : ", ") + key;
  }
  if (!missing.empty()) {
    respondError(res,
                 makeError(400,
                           "required metadata missing: " + missing +
                               " (send them in X-Sluice-Metadata)",
                           "missing_metadata", "X-Sluice-Metadata"),
                 request_id);
    return false;
  }
  return true;
}

}  // namespace sluice::pipeline
