#include "plugin_util.h"

#include <cstring>

namespace sluice::guardrails {

void copyError(std::string_view msg, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  size_t n = msg.size() < err_len - 1 ? msg.size() : err_len - 1;
  memcpy(err, msg.data(), n);
  err[n] = '\0';
}

void resetResult(sluice_guard_result* result) {
  uint32_t size = result->struct_size;
  if (size < sizeof(*result) && size != 0) {
    memset(static_cast<void*>(result), 0, size);  // an older host's shorter struct
  } else {
    *result = sluice_guard_result{};  // a few fixed-size stores, not a byte-count loop
  }
  result->struct_size = size;
  result->verdict = SLUICE_VERDICT_PASS;
}

void setHoldBytes(sluice_guard_result* result, size_t hold) {
  constexpr size_t kNeeded = offsetof(sluice_guard_result, hold_bytes) + sizeof(size_t);
  if (result->struct_size == 0 || result->struct_size >= kNeeded) result->hold_bytes = hold;
}

void** requestSlot(const sluice_guard_input* in) {
  constexpr size_t kNeeded = offsetof(sluice_guard_input, request_state) + sizeof(void**);
  if (in->struct_size < kNeeded) return nullptr;
  return in->request_state;
}

int failWithoutRequestState(sluice_guard_result* result) {
  static constexpr std::string_view kWhy =
      "the host passed no request_state (this guardrail needs plugin ABI 1.1)";
  result->verdict = SLUICE_VERDICT_FAIL;
  result->reason = str(kWhy);
  return SLUICE_OK;
}

const char* hookName(sluice_hook hook) {
  switch (hook) {
    case SLUICE_HOOK_LLM_INPUT:
      return "llm_input";
    case SLUICE_HOOK_LLM_OUTPUT:
      return "llm_output";
    case SLUICE_HOOK_MCP_PRE_TOOL:
      return "mcp_pre_tool";
    case SLUICE_HOOK_MCP_POST_TOOL:
      return "mcp_post_tool";
  }
  return "unknown";
}

JsonConfig::~JsonConfig() { cJSON_Delete(root_); }

bool JsonConfig::parse(const char* json, std::string* err) {
  cJSON_Delete(root_);
  root_ = cJSON_Parse(json && *json ? json : "{}");
  if (root_ == nullptr || !cJSON_IsObject(root_)) {
    *err = "config must be a JSON object";
    return false;
  }
  return true;
}

const cJSON* JsonConfig::get(const char* key) const {
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(root_, key);
  return cJSON_IsNull(item) ? nullptr : item;
}

std::string JsonConfig::string(const char* key, const char* fallback) const {
  const cJSON* item = get(key);
  return cJSON_IsString(item) ? item->valuestring : fallback;
}

double JsonConfig::number(const char* key, double fallback) const {
  const cJSON* item = get(key);
  return cJSON_IsNumber(item) ? item->valuedouble : fallback;
}

bool JsonConfig::boolean(const char* key, bool fallback) const {
  const cJSON* item = get(key);
  return cJSON_IsBool(item) ? cJSON_IsTrue(item) : fallback;
}

bool JsonConfig::selectNames(const char* key, const char* const* names, size_t count,
                             std::vector<bool>* enabled, std::string* err) const {
  const cJSON* list = get(key);
  enabled->assign(count, list == nullptr);
  if (list == nullptr) return true;
  std::string known;
  for (size_t i = 0; i < count; i++) known += (i ? ", " : "") + std::string(names[i]);
  if (!cJSON_IsArray(list)) {
    *err = std::string(key) + ": expected a list of strings (" + known + ")";
    return false;
  }
  if (cJSON_GetArraySize(list) == 0) {
    *err = std::string(key) + ": the list is empty; name at least one of " + known +
           ", or leave the key out for all";
    return false;
  }
  int index = 0;
  for (const cJSON* item = list->child; item; item = item->next, index++) {
    std::string where = std::string(key) + "[" + std::to_string(index) + "]";
    if (!cJSON_IsString(item)) {
      *err = where + ": expected a string";
      return false;
    }
    size_t i = 0;
    while (i < count && strcmp(names[i], item->valuestring) != 0) i++;
    if (i == count) {
      *err = where + ": unknown type '" + item->valuestring + "' (known: " + known + ")";
      return false;
    }
    if ((*enabled)[i]) {
      *err = where + ": '" + item->valuestring + "' is listed twice";
      return false;
    }
    (*enabled)[i] = true;
  }
  return true;
}

}  // namespace sluice::guardrails
