// otlp sink: request records as OpenTelemetry traces over OTLP/HTTP with the
// JSON encoding, POSTed to <endpoint>/v1/traces from the sink thread.
#include <cjson/cJSON.h>

#include <cstdio>
#include <string>

#include "../common/batch_views.h"
#include "../common/config_read.h"
#include "../common/http_poster.h"
#include "sluice/plugin.h"
#include "span_encoder.h"

namespace sluice::otlp_sink {
namespace {

const sluice_config_key kConfig[] = {
    {"endpoint", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr,
     "OTLP/HTTP base URL (http://collector:4318); traces go to <endpoint>/v1/traces"},
    {"headers", SLUICE_CFG_ANY, SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr, nullptr,
     "extra request headers (e.g. an API key), a mapping of strings"},
    {"service_name", SLUICE_CFG_STRING, 0, "\"sluice\"", 0, 0, nullptr, nullptr,
     "the service.name resource attribute"},
    {"timeout_ms", SLUICE_CFG_INT, 0, "10000", 1, 600000, nullptr, nullptr, "per export"},
    {"max_in_flight", SLUICE_CFG_INT, 0, "4", 1, 1024, nullptr, nullptr,
     "exports under way at once; more batches are dropped and counted"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

struct Sink {
  Sink(const sluice_host* host) : poster(host, "otlp") {}
  std::string url;
  std::string service_name;
  sink_http::Headers headers;
  sink_http::HttpPoster poster;
  std::string body;
};

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  cJSON* cfg = cJSON_Parse(config_json);
  auto* s = new Sink(host);
  std::string endpoint = sink_config::str(cfg, "endpoint");
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  s->url = endpoint + "/v1/traces";
  s->service_name = sink_config::str(cfg, "service_name", "sluice");
  std::string why;
  bool ok = s->poster.configure(cfg, 4, &s->headers, &why);
  cJSON_Delete(cfg);
  if (ok && !sink_http::isHttpUrl(endpoint)) {
    why = "endpoint must be an http:// or https:// URL";
    ok = false;
  }
  if (!ok) {
    snprintf(err, err_len, "%s", why.c_str());
    delete s;
    return SLUICE_ERR_CONFIG;
  }
  s->headers.emplace_back("Content-Type", "application/json");
  *instance = s;
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Sink*>(instance); }

void attach(void* instance, sluice_worker* worker) {
  static_cast<Sink*>(instance)->poster.attach(worker);
}

int write(void* instance, const sluice_record_batch* batch) {
  auto* s = static_cast<Sink*>(instance);
  if (!sink_batch::hasViews(batch)) return SLUICE_ERR_UNSUPPORTED;
  s->body.clear();
  encodeTraces(*batch, s->service_name, &s->body);
  s->poster.post(s->url, s->headers, s->body, batch->count);
  return SLUICE_OK;
}

void flush(void*) {}

uint64_t dropped(void* instance) { return static_cast<Sink*>(instance)->poster.dropped(); }

const sluice_sink_vtable kVtable = {
    sizeof(sluice_sink_vtable),
    create,
    destroy,
    write,
    flush,
    attach,
    nullptr /* event */,
    nullptr /* query */,
    dropped,
    SLUICE_SINK_VIEWS_ONLY,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_SINK,
    "otlp",
    "1.0.0",
    "OpenTelemetry traces over OTLP/HTTP (JSON), GenAI semantic conventions",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::otlp_sink

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::otlp_sink::kDescriptor;
}
