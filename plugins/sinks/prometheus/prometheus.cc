// prometheus sink: request metrics for /metrics on the admin listener —
// requests, tokens, cost, latency and TTFT histograms, upstream errors,
// rate-limit, budget and guardrail events — by model, provider and status.
// Metadata keys become labels only when listed in metadata_labels, which
// bounds the series count; max_series caps each family besides.
#include <cjson/cJSON.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../common/batch_views.h"
#include "metric_registry.h"
#include "sluice/plugin.h"

namespace sluice::prometheus_sink {
namespace {

const sluice_config_key kConfig[] = {
    {"metadata_labels", SLUICE_CFG_STRING_LIST, 0, "[]", 0, 0, nullptr, nullptr,
     "metadata keys that become labels of the request, token and cost counters"},
    {"max_series", SLUICE_CFG_INT, 0, "10000", 1, 1e7, nullptr, nullptr,
     "label sets per metric at most; more are dropped and counted"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

const std::vector<double> kSecondsBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                             1,     2.5,  5,     10,   30,  60,   120};

std::string_view sv(sluice_str s) { return std::string_view(s.ptr ? s.ptr : "", s.len); }

using Series = MetricRegistry::Series;

// The series one label set (model, provider, status and the allowlisted
// metadata values) adds to, found once and then reused: a record whose
// labels were seen before costs one hash lookup, no label text.
struct LabelSet {
  enum Slot { kRequests, kInputTokens, kOutputTokens, kCost, kDuration, kTtft, kUpstreamErrors };
  static constexpr int kSlots = 7;
  Series* series[kSlots] = {};
  bool resolved[kSlots] = {};  // series[] is known (nullptr: dropped by max_series)
};

struct Sink {
  std::vector<std::string> metadata_labels;
  MetricRegistry reg;
  int requests, input_tokens, output_tokens, cost, duration, ttft, upstream_errors, rate_events,
      budget_events, guard_verdicts;
  size_t max_series = 10000;
  std::unordered_map<std::string, LabelSet> label_sets;
  std::string key, labels;  // scratch, reused per record
};

bool validLabelName(const std::string& n) {
  if (n.empty() || n.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < n.size(); i++) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void label(std::string* out, const char* name, std::string_view value) {
  if (!out->empty()) out->push_back(',');
  out->append(name).push_back('=');
  appendLabelValue(out, value);
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  static const std::set<std::string> kReserved = {"model", "provider", "status",    "le",
                                                  "rule",  "action",   "guardrail", "hook"};
  cJSON* cfg = cJSON_Parse(config_json);
  auto* s = new Sink();
  const cJSON* list = cJSON_GetObjectItemCaseSensitive(cfg, "metadata_labels");
  const cJSON* item = nullptr;
  cJSON_ArrayForEach(item, list) {
    std::string name = cJSON_IsString(item) ? item->valuestring : "";
    if (!validLabelName(name) || kReserved.count(name)) {
      snprintf(err, err_len,
               "metadata_labels: '%s' cannot be a Prometheus label name (letters, digits and _, "
               "not starting with a digit or __, and not one of model, provider, status, le, "
               "rule, action, guardrail, hook)",
               name.c_str());
      cJSON_Delete(cfg);
      delete s;
      return SLUICE_ERR_CONFIG;
    }
    s->metadata_labels.push_back(name);
  }
  const cJSON* max = cJSON_GetObjectItemCaseSensitive(cfg, "max_series");
  if (cJSON_IsNumber(max)) s->max_series = static_cast<size_t>(max->valuedouble);
  s->reg.setMaxSeries(s->max_series);
  cJSON_Delete(cfg);
  using T = MetricRegistry::Type;
  MetricRegistry& r = s->reg;
  s->requests = r.declare("sluice_requests_total",
                          "Requests answered, by model, provider and status.", T::Counter);
  s->input_tokens =
      r.declare("sluice_input_tokens_total", "Prompt tokens, by model and provider.", T::Counter);
  s->output_tokens = r.declare("sluice_output_tokens_total",
                               "Completion tokens, by model and provider.", T::Counter);
  s->cost =
      r.declare("sluice_cost_usd_total", "Cost in USD from the manifest's pricing.", T::Counter);
  s->duration = r.declare("sluice_request_duration_seconds", "Whole request time.", T::Histogram,
                          kSecondsBuckets);
  s->ttft = r.declare("sluice_ttft_seconds", "Time to the first response byte.", T::Histogram,
                      kSecondsBuckets);
  s->upstream_errors =
      r.declare("sluice_upstream_errors_total",
                "Requests a provider failed (5xx, unreachable, timeout).", T::Counter);
  s->rate_events = r.declare("sluice_rate_limit_events_total",
                             "Requests a rate limit refused, by rule.", T::Counter);
  s->budget_events = r.declare("sluice_budget_events_total",
                               "Requests a budget refused or downgraded, by rule.", T::Counter);
  s->guard_verdicts =
      r.declare("sluice_guardrail_verdicts_total",
                "Guardrail findings and blocks, by guardrail, hook and action.", T::Counter);
  *instance = s;
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Sink*>(instance); }

std::string_view metadataValue(const sluice_record& r, const std::string& key) {
  std::string_view value;
  for (size_t i = 0; i < r.metadata_count; i++) {
    if (sv(r.metadata[i].name) == key) value = sv(r.metadata[i].value);
  }
  return value;
}

void appendKeyPart(std::string* key, std::string_view part) {
  uint32_t n = static_cast<uint32_t>(part.size());
  key->append(reinterpret_cast<const char*>(&n), sizeof n).append(part);
}

// The label text of one slot of `r`'s label set (built only the first time
// the set needs that slot's series).
void slotLabels(Sink* s, const sluice_record& r, int slot, std::string* out) {
  std::string_view model = r.resolved_model.len ? sv(r.resolved_model) : sv(r.requested_model);
  char buf[16];
  auto end = std::to_chars(buf, buf + sizeof buf, r.status).ptr;
  std::string_view status(buf, static_cast<size_t>(end - buf));
  out->clear();
  label(out, "model", model);
  label(out, "provider", sv(r.provider));
  if (slot == LabelSet::kRequests || slot == LabelSet::kUpstreamErrors) {
    label(out, "status", status);
  }
  // Counters carry the allowlisted metadata keys too.
  if (slot == LabelSet::kRequests || slot == LabelSet::kInputTokens ||
      slot == LabelSet::kOutputTokens || slot == LabelSet::kCost) {
    for (const std::string& key : s->metadata_labels) {
      label(out, key.c_str(), metadataValue(r, key));
    }
  }
}

int familyOf(const Sink* s, int slot) {
  switch (slot) {
    case LabelSet::kRequests: return s->requests;
    case LabelSet::kInputTokens: return s->input_tokens;
    case LabelSet::kOutputTokens: return s->output_tokens;
    case LabelSet::kCost: return s->cost;
    case LabelSet::kDuration: return s->duration;
    case LabelSet::kTtft: return s->ttft;
    default: return s->upstream_errors;
  }
}

// The series of `slot` for `r`, or nullptr (counted) when max_series kept it out.
Series* seriesOf(Sink* s, LabelSet* set, const sluice_record& r, int slot) {
  if (!set->resolved[slot]) {
    slotLabels(s, r, slot, &s->labels);
    set->series[slot] = s->reg.series(familyOf(s, slot), s->labels);
    set->resolved[slot] = true;
    return set->series[slot];  // a refusal was counted by series()
  }
  if (!set->series[slot]) s->reg.countDropped();
  return set->series[slot];
}

LabelSet* labelSetOf(Sink* s, const sluice_record& r) {
  std::string& key = s->key;
  key.clear();
  appendKeyPart(&key, r.resolved_model.len ? sv(r.resolved_model) : sv(r.requested_model));
  appendKeyPart(&key, sv(r.provider));
  key.append(reinterpret_cast<const char*>(&r.status), sizeof r.status);
  for (const std::string& name : s->metadata_labels) appendKeyPart(&key, metadataValue(r, name));
  auto it = s->label_sets.find(key);
  if (it != s->label_sets.end()) return &it->second;
  // Label sets past the series cap are never recorded; do not keep
  // remembering new ones either.
  if (s->label_sets.size() > s->max_series + 1024) s->label_sets.clear();
  return &s->label_sets[key];
}

void account(Sink* s, const sluice_record& r) {
  MetricRegistry& reg = s->reg;
  LabelSet* set = labelSetOf(s, r);
  if (Series* x = seriesOf(s, set, r, LabelSet::kRequests)) MetricRegistry::add(x, 1);
  if (r.prompt_tokens > 0) {
    if (Series* x = seriesOf(s, set, r, LabelSet::kInputTokens)) {
      MetricRegistry::add(x, static_cast<double>(r.prompt_tokens));
    }
  }
  if (r.completion_tokens > 0) {
    if (Series* x = seriesOf(s, set, r, LabelSet::kOutputTokens)) {
      MetricRegistry::add(x, static_cast<double>(r.completion_tokens));
    }
  }
  if (r.cost_usd > 0) {
    if (Series* x = seriesOf(s, set, r, LabelSet::kCost)) MetricRegistry::add(x, r.cost_usd);
  }
  if (r.total_ms >= 0) {
    if (Series* x = seriesOf(s, set, r, LabelSet::kDuration)) {
      reg.observe(s->duration, x, r.total_ms / 1000.0);
    }
  }
  if (r.ttft_ms >= 0) {
    if (Series* x = seriesOf(s, set, r, LabelSet::kTtft)) {
      reg.observe(s->ttft, x, r.ttft_ms / 1000.0);
    }
  }
  std::string_view code = sv(r.error_code);
  bool upstream_failed = r.provider.len && (r.status >= 500 || code.rfind("upstream_", 0) == 0);
  if (upstream_failed) {
    if (Series* x = seriesOf(s, set, r, LabelSet::kUpstreamErrors)) MetricRegistry::add(x, 1);
  }
  for (size_t i = 0; i < r.event_count; i++) {
    const sluice_record_event& e = r.events[i];
    std::string& l = s->labels;
    l.clear();
    std::string_view kind = sv(e.kind);
    if (kind == "guardrail") {
      label(&l, "guardrail", sv(e.rule));
      label(&l, "hook", "");
      label(&l, "action", sv(e.action));
      reg.add(s->guard_verdicts, l, 1);
      continue;
    }
    label(&l, "rule", sv(e.rule));
    label(&l, "action", sv(e.action));
    reg.add(kind == "rate_limit" ? s->rate_events : s->budget_events, l, 1);
  }
  for (size_t i = 0; i < r.finding_count; i++) {
    const sluice_record_finding& f = r.findings[i];
    std::string& l = s->labels;
    l.clear();
    label(&l, "guardrail", sv(f.guardrail));
    label(&l, "hook", sv(f.hook));
    label(&l, "action", sv(f.action));
    reg.add(s->guard_verdicts, l, f.count ? f.count : 1);
  }
}

int write(void* instance, const sluice_record_batch* batch) {
  auto* s = static_cast<Sink*>(instance);
  if (!sink_batch::hasViews(batch)) return SLUICE_ERR_UNSUPPORTED;
  std::lock_guard<std::mutex> lock(s->reg.lock());
  for (size_t i = 0; i < batch->count; i++) account(s, batch->views[i]);
  return SLUICE_OK;
}

void flush(void*) {}

int query(void* instance, const sluice_sink_query* q, sluice_sink_reply reply, void* ctx) {
  if (sv(q->name) != "metrics") return SLUICE_ERR_UNSUPPORTED;
  auto* s = static_cast<Sink*>(instance);
  std::string text;
  {
    std::lock_guard<std::mutex> lock(s->reg.lock());
    s->reg.render(&text);
    text.append(
        "# HELP sluice_prometheus_series_dropped_total Label sets not recorded: max_series "
        "reached.\n# TYPE sluice_prometheus_series_dropped_total counter\n"
        "sluice_prometheus_series_dropped_total ");
    text.append(std::to_string(s->reg.droppedSeries())).append("\n");
  }
  reply(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", text.data(), text.size());
  return SLUICE_OK;
}

const sluice_sink_vtable kVtable = {
    sizeof(sluice_sink_vtable),
    create,
    destroy,
    write,
    flush,
    nullptr /* attach */,
    nullptr /* event */,
    query,
    nullptr /* dropped */,
    SLUICE_SINK_VIEWS_ONLY,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_SINK,
    "prometheus",
    "1.0.0",
    "request metrics for /metrics on the admin listener",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::prometheus_sink

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::prometheus_sink::kDescriptor;
}
