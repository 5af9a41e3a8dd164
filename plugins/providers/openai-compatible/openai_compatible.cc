// Provider `openai-compatible`: servers that speak the OpenAI API with their
// own accent (vLLM, TGI, Mistral, Groq, Together, NVIDIA NIM, Ollama, xAI,
// DeepSeek, ...). Requests pass through like `openai`; responses and streams
// go through normalize.h so clients always see canonical OpenAI JSON.
#include <cjson/cJSON.h>

#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "normalize.h"
#include "openai_request.h"
#include "sluice/plugin.h"

namespace sluice::openai_compatible {
namespace {

constexpr const char* kName = "openai-compatible";

struct Instance {
  const sluice_host* host;
  openai::RequestBuilder builder;
};

struct CallState {
  sluice_endpoint endpoint;
  std::string content_type;  // multipart Content-Type the request points into
  StreamNormalizer stream;
};

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using JsonPtr = std::unique_ptr<cJSON, JsonDeleter>;

void copyError(const std::string& msg, char* err, size_t err_len) {
  if (!err || err_len == 0) return;
  size_t n = msg.size() < err_len - 1 ? msg.size() : err_len - 1;
  msg.copy(err, n);
  err[n] = '\0';
}

void emitUsage(const sluice_emitter* emit, const Usage& u) {
  if (u.found && emit->usage) emit->usage(emit->ctx, u.prompt, u.completion, u.cached);
}

// Emits `root` if it changed, else the original bytes (no re-serialisation).
int emitJson(const sluice_emitter* emit, cJSON* root, bool changed, const char* data, size_t len) {
  if (!changed) {
    emit->chunk(emit->ctx, data, len);
    return SLUICE_OK;
  }
  char* text = cJSON_PrintUnformatted(root);
  if (!text) return SLUICE_ERR;
  emit->chunk(emit->ctx, text, strlen(text));
  cJSON_free(text);
  return SLUICE_OK;
}

// Embeddings bodies are large float arrays: rather than parsing them whole,
// parse only the trailing "usage" object.
void embeddingsUsage(const char* body, size_t len, Usage* usage) {
  std::string_view text(body, len);
  size_t at = text.rfind("\"usage\"");
  if (at == std::string_view::npos) return;
  size_t open = text.find('{', at);
  if (open == std::string_view::npos) return;
  const char* end = nullptr;
  JsonPtr u(cJSON_ParseWithLengthOpts(body + open, len - open, &end, 0));
  if (!u) return;
  usage->found = true;
  const cJSON* p = cJSON_GetObjectItemCaseSensitive(u.get(), "prompt_tokens");
  usage->prompt = cJSON_IsNumber(p) ? static_cast<int64_t>(p->valuedouble) : 0;
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  auto* inst = new (std::nothrow) Instance{host, {}};
  if (!inst) return SLUICE_ERR;
  std::string why;
  openai::RequestOptions opts{/*default_base_url=*/nullptr, /*rerank=*/true};
  if (!inst->builder.init(config_json, opts, &why)) {
    copyError(why, err, err_len);
    delete inst;
    return SLUICE_ERR_CONFIG;
  }
  *instance = inst;
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Instance*>(instance); }

int buildRequest(void* instance, const sluice_provider_call* call, sluice_upstream_request* out,
                 void** call_state) {
  const auto* inst = static_cast<const Instance*>(instance);
  auto* state = new (std::nothrow) CallState{call->endpoint, {}, {}};
  if (!state) return SLUICE_ERR;
  int rc = inst->builder.build(call, out, &state->content_type);
  if (rc != SLUICE_OK) {
    delete state;
    return rc;
  }
  *call_state = state;
  return SLUICE_OK;
}

int decodeBody(void* instance, void* call_state, int status, const char* body, size_t len,
               const sluice_emitter* emit) {
  auto* state = static_cast<CallState*>(call_state);
  bool chat = state->endpoint == SLUICE_EP_CHAT || state->endpoint == SLUICE_EP_COMPLETIONS;
  if (status < 200 || status > 299 || !chat) {
    Usage usage;
    if (status >= 200 && status <= 299 && state->endpoint == SLUICE_EP_EMBEDDINGS) {
      embeddingsUsage(body, len, &usage);
    }
    emit->chunk(emit->ctx, body, len);  // errors and other endpoints pass through
    emitUsage(emit, usage);
    return SLUICE_OK;
  }
  JsonPtr root(cJSON_ParseWithLength(body, len));
  if (!root || !cJSON_IsObject(root.get())) return SLUICE_ERR_PROTOCOL;
  Usage usage;
  bool changed = normalizeBody(root.get(), &usage);
  int rc = emitJson(emit, root.get(), changed, body, len);
  emitUsage(emit, usage);
  return rc;
}

int streamEvent(void* instance, void* call_state, sluice_str event, sluice_str data,
                const sluice_emitter* emit) {
  auto* state = static_cast<CallState*>(call_state);
  std::string_view text(data.ptr ? data.ptr : "", data.len);
  size_t first = text.find_first_not_of(" \t\r\n");
  // Keep-alives carry nothing; the kernel ends the client's stream with its own [DONE].
  if (first == std::string_view::npos || text.substr(first) == "[DONE]") return SLUICE_OK;
  JsonPtr root(cJSON_ParseWithLength(data.ptr, data.len));
  if (!root || !cJSON_IsObject(root.get())) return SLUICE_ERR_PROTOCOL;
  if (cJSON_HasObjectItem(root.get(), "error")) return SLUICE_ERR_PROTOCOL;  // mid-stream error
  Usage usage;
  bool changed = state->stream.chunk(root.get(), &usage);
  int rc = emitJson(emit, root.get(), changed, data.ptr, data.len);
  emitUsage(emit, usage);  // after the chunk: this reading is the final one
  return rc;
}

void callEnd(void* instance, void* call_state) { delete static_cast<CallState*>(call_state); }

const sluice_config_key kAuthKeys[] = {
    {"bearer", SLUICE_CFG_STRING, SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr, nullptr,
     "API key sent as Authorization: Bearer <key>; omit for servers without auth"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_config_key kConfig[] = {
    {"base_url", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr,
     "API root, e.g. http://vllm.internal:8000/v1; endpoint paths are appended"},
    {"auth", SLUICE_CFG_OBJECT, 0, nullptr, 0, 0, nullptr, kAuthKeys, "credentials"},
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
    decodeBody,
    streamEvent,
    callEnd,
    nullptr,  // local_respond
    nullptr,  // local_cancel
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_PROVIDER,
    kName,
    "1.0.0",
    "OpenAI-compatible servers (vLLM, TGI, Mistral, Groq, Together, NIM, Ollama, xAI, DeepSeek, "
    "...). Chat and completion responses are normalised: Groq x_groq.usage becomes usage; "
    "Mistral content part arrays become a string (text parts joined, thinking parts go to "
    "reasoning_content); Groq `reasoning` becomes reasoning_content; stream tool_calls get an "
    "index and new calls type \"function\"; missing finish_reason becomes null. Usage counts "
    "reasoning tokens as output when total_tokens says so (xAI). Also serves /rerank.",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::openai_compatible

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::openai_compatible::kDescriptor;
}
