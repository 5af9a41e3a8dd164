#include "answer.h"

#include <cjson/cJSON.h>

#include <memory>

#include "plugin_util.h"

namespace sluice::webhook {
namespace {

constexpr size_t kMaxReason = 512;
constexpr int kMaxFindings = 64;

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDeleter>;

void fail(Answer* out, std::string why) {
  out->reason = std::move(why);
  out->result.verdict = SLUICE_VERDICT_FAIL;
  out->result.reason = guardrails::str(out->reason);
}

// findings: [{"type", "count", "action"}]; count defaults to 1, action to the verdict's.
bool readFindings(const cJSON* list, const char* default_action, Answer* out) {
  if (list == nullptr) return true;
  if (!cJSON_IsArray(list)) {
    fail(out, "webhook answer: \"findings\" must be a list");
    return false;
  }
  int n = cJSON_GetArraySize(list);
  if (n > kMaxFindings) n = kMaxFindings;
  out->strings.reserve(2 * n);  // findings point into these: no reallocation after
  for (int i = 0; i < n; i++) {
    const cJSON* f = cJSON_GetArrayItem(list, i);
    const cJSON* type = cJSON_GetObjectItemCaseSensitive(f, "type");
    const cJSON* count = cJSON_GetObjectItemCaseSensitive(f, "count");
    const cJSON* action = cJSON_GetObjectItemCaseSensitive(f, "action");
    std::string where = "webhook answer: findings[" + std::to_string(i) + "]";
    if (!cJSON_IsObject(f) || !cJSON_IsString(type) || type->valuestring[0] == '\0') {
      fail(out, where + " needs a string \"type\"");
      return false;
    }
    if (count && (!cJSON_IsNumber(count) || count->valuedouble < 0)) {
      fail(out, where + ".count must be a number of 0 or more");
      return false;
    }
    if (action && !cJSON_IsString(action)) {
      fail(out, where + ".action must be a string");
      return false;
    }
    out->strings.emplace_back(type->valuestring);
    out->strings.emplace_back(action ? action->valuestring : default_action);
    const std::string& t = out->strings[out->strings.size() - 2];
    const std::string& a = out->strings.back();
    uint32_t c = count ? static_cast<uint32_t>(count->valuedouble) : 1;
    out->findings.push_back({guardrails::str(t), c, guardrails::str(a)});
  }
  return true;
}

}  // namespace

std::string requestBody(const sluice_guard_input& in) {
  Json body(cJSON_CreateObject());
  auto add = [&](const char* key, sluice_str value) {
    cJSON_AddItemToObject(body.get(), key,
                          cJSON_CreateString(std::string(guardrails::view(value)).c_str()));
  };
  cJSON_AddStringToObject(body.get(), "hook", guardrails::hookName(in.hook));
  add("content", in.content);
  add("model", in.model);
  add("subject", in.subject);
  cJSON* metadata =
      cJSON_ParseWithLength(in.metadata_json.ptr ? in.metadata_json.ptr : "", in.metadata_json.len);
  if (!cJSON_IsObject(metadata)) {
    cJSON_Delete(metadata);
    metadata = cJSON_CreateObject();
  }
  cJSON_AddItemToObject(body.get(), "metadata", metadata);
  add("request_id", in.request_id);
  char* text = cJSON_PrintUnformatted(body.get());
  std::string out = text ? text : "{}";
  cJSON_free(text);
  return out;
}

void readAnswer(const sluice_http_response& res, Answer* out) {
  out->result.struct_size = sizeof(out->result);
  if (res.status == 0) {
    std::string why(guardrails::view(res.error));
    return fail(out, "webhook unreachable: " + (why.empty() ? std::string("no answer") : why));
  }
  if (res.status < 200 || res.status > 299) {
    return fail(out, "webhook answered HTTP " + std::to_string(res.status));
  }
  Json doc(cJSON_ParseWithLength(res.body.ptr ? res.body.ptr : "", res.body.len));
  if (!cJSON_IsObject(doc.get())) return fail(out, "webhook answer is not a JSON object");
  const cJSON* verdict = cJSON_GetObjectItemCaseSensitive(doc.get(), "verdict");
  std::string v = cJSON_IsString(verdict) ? verdict->valuestring : "";
  const char* action = v == "block" ? "block" : v == "mutate" ? "redact" : "audit";
  if (v != "pass" && v != "block" && v != "mutate") {
    return fail(out, "webhook answer: \"verdict\" must be \"pass\", \"block\" or \"mutate\"");
  }
  const cJSON* reason = cJSON_GetObjectItemCaseSensitive(doc.get(), "reason");
  const cJSON* content = cJSON_GetObjectItemCaseSensitive(doc.get(), "content");
  if (reason && !cJSON_IsString(reason))
    return fail(out, "webhook answer: \"reason\" must be a string");
  if (v == "mutate" && !cJSON_IsString(content)) {
    return fail(out, "webhook answer: \"mutate\" needs a string \"content\"");
  }
  if (!readFindings(cJSON_GetObjectItemCaseSensitive(doc.get(), "findings"), action, out)) return;
  out->reason = reason ? std::string(reason->valuestring).substr(0, kMaxReason) : "";
  if (v == "block" && out->reason.empty()) out->reason = "blocked by the webhook";
  if (v == "mutate") out->content = content->valuestring;
  out->result.verdict = v == "block"    ? SLUICE_VERDICT_BLOCK
                        : v == "mutate" ? SLUICE_VERDICT_MUTATE
                                        : SLUICE_VERDICT_PASS;
  out->result.reason = guardrails::str(out->reason);
  out->result.content = guardrails::str(out->content);
  out->result.findings = out->findings.data();
  out->result.finding_count = out->findings.size();
}

}  // namespace sluice::webhook
