#include "event_text.h"

#include <cjson/cJSON.h>

#include <ctime>
#include <string_view>

#include "../common/json_text.h"

namespace sluice::webhook_sink {
namespace {

using sink_json::appendString;
using sink_json::sv;

std::string isoTime(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t);
  return buf;
}

Event requestEvent(const sluice_record& r, std::string_view kind, std::string_view action,
                   std::string_view rule) {
  Event e;
  e.type = std::string(kind) + "_" + std::string(action);
  std::string_view model = r.requested_model.len ? sv(r.requested_model) : sv(r.resolved_model);
  std::string& j = e.json;
  j = "{\"type\":";
  appendString(&j, e.type);
  j += ",\"rule\":";
  appendString(&j, rule);
  j += ",\"request_id\":";
  appendString(&j, sv(r.id));
  j += ",\"time\":\"" + isoTime(r.start_ms) + "\",\"subject\":";
  appendString(&j, sv(r.subject));
  j += ",\"team\":";
  appendString(&j, sv(r.team));
  j += ",\"model\":";
  appendString(&j, model);
  j += ",\"status\":" + std::to_string(r.status) + ",\"metadata\":" + sink_json::metadataObject(r) +
       "}";
  std::string what = kind == "rate_limit" ? "rate limit" : std::string(kind);
  e.text = "Sluice: " + what + " '" + std::string(rule) + "' " + std::string(action) +
           " a request from " + std::string(sv(r.subject));
  if (r.team.len) e.text += " (team " + std::string(sv(r.team)) + ")";
  e.text += " for model " + std::string(model) + ", request " + std::string(sv(r.id));
  return e;
}

}  // namespace

std::vector<Event> eventsOf(const sluice_record& r) {
  std::vector<Event> out;
  bool guard_event = false;
  for (size_t i = 0; i < r.event_count; i++) {
    const sluice_record_event& e = r.events[i];
    guard_event = guard_event || sv(e.kind) == "guardrail";
    out.push_back(requestEvent(r, sv(e.kind), sv(e.action), sv(e.rule)));
  }
  if (!guard_event && sv(r.error_code) == "guardrail_blocked") {
    out.push_back(requestEvent(r, "guardrail", "blocked", ""));
  }
  return out;
}

bool kernelEvent(const std::string& json, Event* out) {
  cJSON* root = cJSON_Parse(json.c_str());
  const cJSON* type = cJSON_GetObjectItemCaseSensitive(root, "type");
  if (!cJSON_IsString(type)) {
    cJSON_Delete(root);
    return false;
  }
  out->type = type->valuestring;
  out->json = json;
  out->text = "Sluice: " + out->type;
  if (out->type == "budget_threshold") {
    auto str = [root](const char* k) {
      const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, k);
      return std::string(cJSON_IsString(v) ? v->valuestring : "");
    };
    auto num = [root](const char* k) {
      const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, k);
      char buf[32];
      snprintf(buf, sizeof buf, "%g", cJSON_IsNumber(v) ? v->valuedouble : 0.0);
      return std::string(buf);
    };
    out->text = "Sluice: budget '" + str("budget") + "' reached " + num("threshold_percent") +
                "% for " + (str("key").empty() ? "everyone" : str("key")) + " (" + num("spent") +
                " of " + num("limit") + ", " + str("unit") + ")";
  }
  cJSON_Delete(root);
  return true;
}

std::string slackBody(const std::string& text) {
  std::string out = "{\"text\":";
  appendString(&out, text);
  out.push_back('}');
  return out;
}

}  // namespace sluice::webhook_sink
