// Provider `mock`: answers locally, without the network, deterministically.
// It backs the built-in default manifest and the no-network benchmark, so the
// zero-latency path writes the whole answer synchronously in one write().
//
// Error triggers (for tests of retries, fallbacks and error mapping):
//   - upstream model name "error-NNN" with NNN in 400..599 answers status NNN;
//   - request field "mock_status": NNN (integer, 400..599) does the same;
//     any other mock_status value answers 400 naming the field.
// The error body is OpenAI-shaped: {"error":{"message","type","param","code"}}.
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <new>
#include <string>

#include "mock_reply.h"
#include "sluice/plugin.h"

namespace sluice::mock {
namespace {

constexpr const char* kName = "mock";

struct Instance {
  const sluice_host* host;
  Config cfg;
  std::atomic<uint64_t> seq{0};  // ids when the call has no request id
};

// A response being written from timers; owned by the plugin until finish().
struct Pending {
  const sluice_host* host;
  sluice_worker* worker;
  sluice_local_response res;
  Reply reply;
  uint64_t chunk_delay_ms;
  size_t next = 0;  // the next piece (index into reply.cuts)
  bool started = false;
  sluice_timer* timer = nullptr;
  bool in_callback = false;  // inside res.start/res.write
  bool cancelled = false;    // local_cancel arrived during that callback
};

void copyError(const std::string& msg, char* err, size_t err_len) {
  if (!err || err_len == 0) return;
  size_t n = msg.size() < err_len - 1 ? msg.size() : err_len - 1;
  msg.copy(err, n);
  err[n] = '\0';
}

// The response id suffix: the request id (safe characters only), else a counter.
std::string responseId(Instance* inst, sluice_str request_id) {
  std::string id;
  for (size_t i = 0; i < request_id.len && id.size() < 64; i++) {
    char c = request_id.ptr[i];
    bool safe = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                c == '-' || c == '_';
    if (safe) id.push_back(c);
  }
  if (id.empty()) {
    char buf[24];
    snprintf(buf, sizeof(buf), "%016" PRIx64, inst->seq.fetch_add(1) + 1);
    id = buf;
  }
  return id;
}

// Runs one res callback. The kernel may cancel from inside it; then `p` is
// deleted here and false returned.
template <typename Fn>
bool guarded(Pending* p, Fn fn) {
  p->in_callback = true;
  fn();
  p->in_callback = false;
  if (!p->cancelled) return true;
  delete p;
  return false;
}

// Writes what is due now. Returns true when the response is over (finished or
// cancelled) and `p` deleted.
bool step(Pending* p) {
  p->timer = nullptr;
  if (!p->started) {
    p->started = true;
    if (!guarded(p, [p] { p->res.start(p->res.ctx, p->reply.status, p->reply.content_type); })) {
      return true;
    }
  }
  const std::vector<size_t>& cuts = p->reply.cuts;
  size_t from = p->next == 0 ? 0 : cuts[p->next - 1];
  size_t to = p->chunk_delay_ms == 0 ? cuts.back() : cuts[p->next];
  p->next = p->chunk_delay_ms == 0 ? cuts.size() : p->next + 1;
  if (to > from &&
      !guarded(p, [&] { p->res.write(p->res.ctx, p->reply.body.data() + from, to - from); })) {
    return true;
  }
  if (p->next < cuts.size()) {
    p->timer = p->host->timer_start(
        p->worker, p->chunk_delay_ms, [](void* user) { step(static_cast<Pending*>(user)); }, p);
    return false;
  }
  sluice_local_response res = p->res;
  delete p;  // nothing of ours is touched after finish()
  res.finish(res.ctx);
  return true;
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  auto* inst = new (std::nothrow) Instance{host, {}};
  if (!inst) return SLUICE_ERR;
  std::string why;
  if (!parseConfig(config_json, &inst->cfg, &why)) {
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
  if (!supported(call->endpoint)) return SLUICE_ERR_UNSUPPORTED;
  bool get = call->endpoint == SLUICE_EP_MODELS;
  out->method = get ? sluice_str{"GET", 3} : sluice_str{"POST", 4};
  out->url = {"mock://local", 12};
  out->header_count = 0;
  out->body = {nullptr, 0};
  out->local = 1;
  return SLUICE_OK;
}

int localRespond(void* instance, const sluice_provider_call* call, const sluice_local_response* res,
                 void** local_state) {
  auto* inst = static_cast<Instance*>(instance);
  *local_state = nullptr;
  if (!supported(call->endpoint)) return SLUICE_ERR_UNSUPPORTED;
  const sluice_host* host = inst->host;
  uint64_t now_ms = host && host->now_ms ? host->now_ms() : uint64_t(time(nullptr)) * 1000;
  auto* p = new (std::nothrow) Pending{host, call->worker, *res, {}, inst->cfg.chunk_delay_ms};
  if (!p) return SLUICE_ERR;
  p->reply = buildReply(inst->cfg, call, responseId(inst, call->request_id),
                        static_cast<int64_t>(now_ms / 1000));
  *local_state = p;  // set before any callback, so the kernel can cancel from inside one
  if (inst->cfg.latency_ms == 0) {
    if (step(p)) *local_state = nullptr;
  } else {
    p->timer = host->timer_start(
        call->worker, inst->cfg.latency_ms, [](void* user) { step(static_cast<Pending*>(user)); },
        p);
  }
  return SLUICE_OK;
}

void localCancel(void* instance, void* local_state) {
  auto* p = static_cast<Pending*>(local_state);
  if (!p) return;
  if (p->in_callback) {
    p->cancelled = true;  // step() frees it when the callback returns
    return;
  }
  if (p->timer) p->host->timer_cancel(p->timer);
  delete p;
}

const sluice_config_key kConfig[] = {
    {"latency_ms", SLUICE_CFG_INT, 0, "0", 0, 600000, nullptr, nullptr,
     "delay before the first byte"},
    {"chunk_delay_ms", SLUICE_CFG_INT, 0, "0", 0, 60000, nullptr, nullptr,
     "delay between stream events"},
    {"reply", SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr,
     "fixed reply text; default \"Mock reply to: <last user message, first 100 bytes>\""},
    {"chunks", SLUICE_CFG_INT, 0, "0", 0, 10000, nullptr, nullptr,
     "content chunks per stream; 0 = one per word"},
    {"models", SLUICE_CFG_STRING_LIST, 0, "[\"mock-model\"]", 0, 0, nullptr, nullptr,
     "model ids listed by GET /models"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr},
};

const sluice_provider_vtable kVtable = {
    sizeof(sluice_provider_vtable),
    create,
    destroy,
    buildRequest,
    nullptr,  // decode_body: the local body is canonical OpenAI JSON
    nullptr,  // stream_event: the local stream is canonical SSE
    nullptr,  // call_end: no per-call state
    localRespond,
    localCancel,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_PROVIDER,
    kName,
    "1.0.0",
    "Local deterministic answers for chat, completions, embeddings and models, no network. "
    "Usage: prompt tokens = ceil(prompt characters / 4), completion tokens = words of the reply. "
    "Error triggers: upstream model \"error-NNN\" or request field \"mock_status\": NNN "
    "(400..599) answer status NNN with an OpenAI-shaped error body.",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::mock

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::mock::kDescriptor;
}
