// Provider `openai`: the OpenAI API itself. The canonical format is OpenAI's,
// so requests and responses pass through unchanged: build_request only sets
// the URL and headers, and decode_body / stream_event are NULL, which lets
// the kernel relay bodies and SSE as they come and read usage itself.
#include <new>
#include <string>

#include "openai_request.h"
#include "sluice/plugin.h"

namespace sluice::openai {
namespace {

constexpr const char* kName = "openai";

struct Instance {
  const sluice_host* host;
  RequestBuilder builder;
};

void copyError(const std::string& msg, char* err, size_t err_len) {
  if (!err || err_len == 0) return;
  size_t n = msg.size() < err_len - 1 ? msg.size() : err_len - 1;
  msg.copy(err, n);
  err[n] = '\0';
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  auto* inst = new (std::nothrow) Instance{host, {}};
  if (!inst) return SLUICE_ERR;
  std::string why;
  RequestOptions opts{"https://api.openai.com/v1", /*rerank=*/false};
  if (!inst->builder.init(config_json, opts, &why)) {
    copyError(why, err, err_len);
    delete inst;
    return SLUICE_ERR_CONFIG;
  }
  if (!inst->builder.hasAuth() && host && host->log) {
    host->log(SLUICE_LOG_WARN, kName, "no auth.bearer configured: requests carry no API key");
  }
  *instance = inst;
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

int buildRequest(void* instance, const sluice_provider_call* call, sluice_upstream_request* out,
                 void** call_state) {
  const auto* inst = static_cast<const Instance*>(instance);
  std::string* scratch = nullptr;
  if (isMultipart(call->endpoint)) {
    scratch = new (std::nothrow) std::string();
    if (!scratch) return SLUICE_ERR;
    *call_state = scratch;
  }
  return inst->builder.build(call, out, scratch);
}

void callEnd(void* instance, void* call_state) { delete static_cast<std::string*>(call_state); }

const sluice_config_key kAuthKeys[] = {
    {"bearer", SLUICE_CFG_STRING, SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr, nullptr,
     "API key sent as Authorization: Bearer <key>; use ${env:OPENAI_API_KEY}"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_config_key kConfig[] = {
    {"base_url", SLUICE_CFG_STRING, 0, "\"https://api.openai.com/v1\"", 0, 0, nullptr, nullptr,
     "API root; endpoint paths such as /chat/completions are appended"},
    {"auth", SLUICE_CFG_OBJECT, 0, nullptr, 0, 0, nullptr, kAuthKeys, "credentials"},
    {"organization", SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr,
     "sent as OpenAI-Organization"},
    {"project", SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, "sent as OpenAI-Project"},
    {"headers", SLUICE_CFG_ANY, 0, nullptr, 0, 0, nullptr, nullptr,
     "extra static request headers: an object of name -> string value (at most 11); a name "
     "already set by the plugin replaces its value"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_provider_vtable kVtable = {
    sizeof(sluice_provider_vtable),
    create,
    destroy,
    buildRequest,
    nullptr,  // decode_body: bodies are already canonical; the kernel reads usage
    nullptr,  // stream_event: SSE is already canonical
    callEnd,
    nullptr,  // local_respond
    nullptr,  // local_cancel
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_PROVIDER,
    kName,
    "1.0.0",
    "OpenAI API (chat, completions, embeddings, models, images, audio, moderations); "
    "requests and responses pass through unchanged",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::openai

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::openai::kDescriptor;
}
