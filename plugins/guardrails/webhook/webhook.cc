// Guardrail `webhook`: asks an outside HTTP service. check() POSTs the content
// as JSON through the host's asynchronous client and answers PENDING; the HTTP
// callback reads the service's verdict and calls done() exactly once. The host
// owns the deadline: after cancel() nothing is called. See answer.h for the
// contract.
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "answer.h"
#include "plugin_util.h"
#include "sluice/plugin.h"
#include "text.h"

namespace sluice::webhook {
namespace {

constexpr const char* kName = "webhook";

struct Call;

struct Instance {
  const sluice_host* host = nullptr;
  std::string url;
  std::vector<std::pair<std::string, std::string>> header_text;
  std::vector<sluice_header> headers;  // point into header_text
  // Calls in flight by the host's token, so cancel() can find them. Every worker shares the
  // instance; the lock is held only to add or remove an entry.
  std::mutex mutex;
  std::unordered_map<void*, Call*> pending;
};

struct Call {
  Instance* inst;
  sluice_guard_done done;
  void* token;
  std::string body;
  sluice_http_call* http = nullptr;
  bool starting = true;   // check() has not returned yet
  bool answered = false;  // the callback ran during check()
};

bool validHeaderName(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  }
  return true;
}

bool readConfig(const char* config_json, Instance* inst, std::string* err) {
  guardrails::JsonConfig cfg;
  if (!cfg.parse(config_json, err)) return false;
  inst->url = cfg.string("url", "");
  if (inst->url.empty()) {
    *err = "url: required (the guardrail service's http:// or https:// URL)";
    return false;
  }
  std::string_view url = inst->url;
  size_t scheme = guardrails::startsWith(url, "http://")    ? 7
                  : guardrails::startsWith(url, "https://") ? 8
                                                            : 0;
  if (scheme == 0 || url.size() == scheme || url[scheme] == '/') {
    *err = "url: must be an absolute http:// or https:// URL with a host";
    return false;
  }
  inst->header_text.emplace_back("Content-Type", "application/json");
  std::string bearer = cfg.string("bearer", "");
  if (!bearer.empty()) inst->header_text.emplace_back("Authorization", "Bearer " + bearer);
  if (const cJSON* headers = cfg.get("headers")) {
    if (!cJSON_IsObject(headers)) {
      *err = "headers: expected a mapping of header names to values";
      return false;
    }
    for (const cJSON* h = headers->child; h; h = h->next) {
      std::string name = h->string ? h->string : "";
      if (!validHeaderName(name)) {
        *err = "headers: '" + name + "' is not a valid header name";
        return false;
      }
      // Values may hold secrets (${env:...}): errors name the header, never the value.
      if (!cJSON_IsString(h)) {
        *err = "headers." + name + ": expected a string";
        return false;
      }
      std::string value = h->valuestring;
      if (value.find_first_of("\r\n") != std::string::npos) {
        *err = "headers." + name + ": the value must not contain line breaks";
        return false;
      }
      inst->header_text.emplace_back(name, value);
    }
  }
  for (const auto& [name, value] : inst->header_text) {
    inst->headers.push_back({guardrails::str(name), guardrails::str(value)});
  }
  return true;
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  auto inst = std::make_unique<Instance>();
  inst->host = host;
  std::string why;
  if (!readConfig(config_json, inst.get(), &why)) {
    guardrails::copyError(why, err, err_len);
    return SLUICE_ERR_CONFIG;
  }
  *instance = inst.release();
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

void onResponse(void* user, const sluice_http_response* res) {
  auto* call = static_cast<Call*>(user);
  {
    std::lock_guard<std::mutex> lock(call->inst->mutex);
    call->inst->pending.erase(call->token);
  }
  Answer answer;
  readAnswer(*res, &answer);
  call->done(call->token, &answer.result);
  if (call->starting) {
    call->answered = true;  // check() frees it
  } else {
    delete call;
  }
}

void failNow(const char* why, sluice_guard_result* result) {
  result->verdict = SLUICE_VERDICT_FAIL;
  result->reason = guardrails::str(why);
}

int check(void* instance, const sluice_guard_input* in, sluice_guard_result* result) {
  auto* inst = static_cast<Instance*>(instance);
  guardrails::resetResult(result);
  if (in->done == nullptr) {
    failNow("the host gave no completion callback for an asynchronous guardrail", result);
    return SLUICE_OK;
  }
  auto* call = new (std::nothrow) Call{inst, in->done, in->token, requestBody(*in)};
  if (call == nullptr) {
    failNow("out of memory", result);
    return SLUICE_OK;
  }
  {
    std::lock_guard<std::mutex> lock(inst->mutex);
    inst->pending[in->token] = call;
  }
  sluice_http_request req{};
  req.struct_size = sizeof(req);
  req.method = guardrails::str("POST");
  req.url = guardrails::str(inst->url);
  req.headers = inst->headers.data();
  req.header_count = inst->headers.size();
  req.body = guardrails::str(call->body);
  call->http = inst->host->http_request(in->worker, &req, onResponse, call);
  call->starting = false;
  if (call->answered) {  // the host answered (and we called done) before returning
    delete call;
    return SLUICE_PENDING;
  }
  if (call->http == nullptr) {  // not started, and no callback will come
    {
      std::lock_guard<std::mutex> lock(inst->mutex);
      inst->pending.erase(in->token);
    }
    delete call;
    failNow("webhook call could not be started", result);
    return SLUICE_OK;
  }
  return SLUICE_PENDING;
}

void cancel(void* instance, void* token) {
  auto* inst = static_cast<Instance*>(instance);
  Call* call = nullptr;
  {
    std::lock_guard<std::mutex> lock(inst->mutex);
    auto it = inst->pending.find(token);
    if (it == inst->pending.end()) return;
    call = it->second;
    inst->pending.erase(it);
  }
  if (call->http) inst->host->http_cancel(call->http);  // its callback will not run
  delete call;
}

const sluice_config_key kConfig[] = {
    {"url", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr,
     "the guardrail service: an absolute http:// or https:// URL, called with POST"},
    {"bearer", SLUICE_CFG_STRING, SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr, nullptr,
     "sent as Authorization: Bearer <bearer>; use ${env:NAME} or ${file:/path}"},
    {"headers", SLUICE_CFG_OBJECT, SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr, nullptr,
     "extra request headers, name: value (values may be ${env:...} secrets)"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_guardrail_vtable kVtable = {
    sizeof(sluice_guardrail_vtable), create, destroy, check, cancel, nullptr,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_GUARDRAIL,
    kName,
    "1.0.0",
    "Asks an outside guardrail service: POSTs {hook, content, model, subject, metadata, "
    "request_id} as JSON and expects {verdict: pass|block|mutate, reason, content, findings}. "
    "Asynchronous; the host enforces timeout_ms. A non-2xx answer, malformed JSON or a "
    "transport error is a guardrail failure.",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::webhook

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::webhook::kDescriptor;
}
