// webhook sink: events — budget thresholds, rate-limit and budget blocks,
// budget downgrades, guardrail blocks — POSTed one by one as JSON, or as
// Slack-compatible {"text": ...} messages.
#include <cjson/cJSON.h>

#include <cstdio>
#include <set>
#include <string>

#include "../common/batch_views.h"
#include "../common/config_read.h"
#include "../common/http_poster.h"
#include "event_text.h"
#include "sluice/plugin.h"

namespace sluice::webhook_sink {
namespace {

const char* const kFormats[] = {"json", "slack", nullptr};
const char* const kEventTypes[] = {"budget_threshold",  "rate_limit_blocked", "budget_blocked",
                                   "budget_downgraded", "guardrail_blocked",  nullptr};

const sluice_config_key kConfig[] = {
    {"url", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED | SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr,
     nullptr, "where events are POSTed (a Slack incoming-webhook URL is a secret)"},
    {"format", SLUICE_CFG_STRING, 0, "\"json\"", 0, 0, kFormats, nullptr,
     "json: the event object; slack: {\"text\": ...}"},
    {"events", SLUICE_CFG_STRING_LIST, 0,
     "[\"budget_threshold\",\"rate_limit_blocked\",\"budget_blocked\",\"budget_downgraded\","
     "\"guardrail_blocked\"]",
     0, 0, nullptr, nullptr, "which event types to send"},
    {"headers", SLUICE_CFG_ANY, SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr, nullptr,
     "extra request headers, a mapping of strings"},
    {"timeout_ms", SLUICE_CFG_INT, 0, "10000", 1, 600000, nullptr, nullptr, "per POST"},
    {"max_in_flight", SLUICE_CFG_INT, 0, "8", 1, 1024, nullptr, nullptr,
     "POSTs under way at once; more events are dropped and counted"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

struct Sink {
  explicit Sink(const sluice_host* h) : poster(h, "webhook") {}
  sink_http::HttpPoster poster;
  std::string url;
  bool slack = false;
  std::set<std::string> wanted;
  sink_http::Headers headers;
};

void deliver(Sink* s, const Event& e) {
  if (!s->wanted.count(e.type)) return;
  s->poster.post(s->url, s->headers, s->slack ? slackBody(e.text) : e.json, 1);
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  cJSON* cfg = cJSON_Parse(config_json);
  auto* s = new Sink(host);
  s->url = sink_config::str(cfg, "url");
  s->slack = sink_config::str(cfg, "format") == "slack";
  std::string why;
  bool ok = s->poster.configure(cfg, 8, &s->headers, &why);
  for (const std::string& type : sink_config::strList(cfg, "events")) {
    bool known = false;
    for (const char* const* t = kEventTypes; *t; t++) known = known || type == *t;
    if (!known && ok) {
      why = "events: unknown event type '" + type +
            "' (known: budget_threshold, rate_limit_blocked, budget_blocked, budget_downgraded, "
            "guardrail_blocked)";
      ok = false;
    }
    s->wanted.insert(type);
  }
  cJSON_Delete(cfg);
  if (ok && !sink_http::isHttpUrl(s->url)) {
    why = "url must be an http:// or https:// URL";
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
  for (size_t i = 0; i < batch->count; i++) {
    const sluice_record& r = batch->views[i];
    if (r.event_count == 0 && r.error_code.len == 0) continue;  // the common case: nothing to say
    for (const Event& e : eventsOf(r)) deliver(s, e);
  }
  return SLUICE_OK;
}

void event(void* instance, sluice_str json) {
  Event e;
  if (kernelEvent(std::string(json.ptr, json.len), &e)) deliver(static_cast<Sink*>(instance), e);
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
    event,
    nullptr /* query */,
    dropped,
    SLUICE_SINK_VIEWS_ONLY,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_SINK,
    "webhook",
    "1.0.0",
    "events (budget thresholds, rate-limit, budget and guardrail blocks) POSTed as JSON or Slack",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::webhook_sink

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::webhook_sink::kDescriptor;
}
