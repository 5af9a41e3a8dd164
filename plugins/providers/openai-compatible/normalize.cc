#include "normalize.h"

#include <string>

namespace sluice::openai_compatible {
namespace {

int64_t intField(const cJSON* obj, const char* key) {
  const cJSON* v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(v) ? static_cast<int64_t>(v->valuedouble) : 0;
}

// Appends the text of a Mistral thinking part, whose `thinking` is either a
// string or an array of {"type":"text","text":...} parts.
void appendThinking(const cJSON* part, std::string* out) {
  const cJSON* thinking = cJSON_GetObjectItemCaseSensitive(part, "thinking");
  if (cJSON_IsString(thinking)) {
    out->append(thinking->valuestring);
    return;
  }
  const cJSON* inner = nullptr;
  cJSON_ArrayForEach(inner, thinking) {
    const cJSON* text = cJSON_GetObjectItemCaseSensitive(inner, "text");
    if (cJSON_IsString(text)) out->append(text->valuestring);
  }
}

void setString(cJSON* obj, const char* key, const std::string& value) {
  cJSON* item = cJSON_CreateString(value.c_str());
  if (cJSON_HasObjectItem(obj, key)) {
    cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
  } else {
    cJSON_AddItemToObject(obj, key, item);
  }
}

bool ensureFinishReason(cJSON* choice) {
  if (cJSON_HasObjectItem(choice, "finish_reason")) return false;
  cJSON_AddNullToObject(choice, "finish_reason");
  return true;
}

bool ensureToolType(cJSON* call) {
  if (cJSON_HasObjectItem(call, "type") || !cJSON_HasObjectItem(call, "id")) return false;
  cJSON_AddStringToObject(call, "type", "function");
  return true;
}

}  // namespace

bool takeUsage(cJSON* root, Usage* usage) {
  bool changed = false;
  cJSON* u = cJSON_GetObjectItemCaseSensitive(root, "usage");
  if (!cJSON_IsObject(u)) {
    cJSON* groq = cJSON_GetObjectItemCaseSensitive(root, "x_groq");
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(groq, "usage"))) return false;
    u = cJSON_DetachItemFromObjectCaseSensitive(groq, "usage");
    if (cJSON_HasObjectItem(root, "usage")) {
      cJSON_ReplaceItemInObjectCaseSensitive(root, "usage", u);
    } else {
      cJSON_AddItemToObject(root, "usage", u);
    }
    changed = true;
  }
  usage->found = true;
  usage->prompt = intField(u, "prompt_tokens");
  usage->completion = intField(u, "completion_tokens");
  // xAI leaves reasoning tokens out of completion_tokens but counts them in
  // total_tokens; they are billed as output, so output is total - prompt.
  int64_t total = intField(u, "total_tokens");
  if (total > usage->prompt + usage->completion) usage->completion = total - usage->prompt;
  const cJSON* details = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens_details");
  usage->cached = intField(details, "cached_tokens");
  if (usage->cached == 0) usage->cached = intField(u, "prompt_cache_hit_tokens");  // DeepSeek
  return changed;
}

bool normalizeContent(cJSON* holder) {
  bool changed = false;
  cJSON* reasoning = cJSON_GetObjectItemCaseSensitive(holder, "reasoning");
  if (cJSON_IsString(reasoning) && !cJSON_HasObjectItem(holder, "reasoning_content")) {
    cJSON_AddItemToObject(holder, "reasoning_content",
                          cJSON_DetachItemFromObjectCaseSensitive(holder, "reasoning"));
    changed = true;
  }
  const cJSON* content = cJSON_GetObjectItemCaseSensitive(holder, "content");
  if (!cJSON_IsArray(content)) return changed;

  std::string text, thinking;
  const cJSON* part = nullptr;
  cJSON_ArrayForEach(part, content) {
    const cJSON* type = cJSON_GetObjectItemCaseSensitive(part, "type");
    const char* t = cJSON_IsString(type) ? type->valuestring : "";
    if (std::string(t) == "text") {
      const cJSON* s = cJSON_GetObjectItemCaseSensitive(part, "text");
      if (cJSON_IsString(s)) text.append(s->valuestring);
    } else if (std::string(t) == "thinking") {
      appendThinking(part, &thinking);
    }
  }
  setString(holder, "content", text);
  if (!thinking.empty()) {
    const cJSON* have = cJSON_GetObjectItemCaseSensitive(holder, "reasoning_content");
    if (cJSON_IsString(have)) thinking.insert(0, have->valuestring);
    setString(holder, "reasoning_content", thinking);
  }
  return true;
}

bool StreamNormalizer::toolCalls(cJSON* delta, int choice) {
  cJSON* calls = cJSON_GetObjectItemCaseSensitive(delta, "tool_calls");
  if (!cJSON_IsArray(calls)) return false;
  if (choice < 0 || choice > 127) choice = 0;
  if (next_tool_index_.size() <= static_cast<size_t>(choice)) next_tool_index_.resize(choice + 1);
  int& next = next_tool_index_[choice];
  bool changed = false;
  cJSON* call = nullptr;
  cJSON_ArrayForEach(call, calls) {
    const cJSON* index = cJSON_GetObjectItemCaseSensitive(call, "index");
    if (cJSON_IsNumber(index)) {
      if (index->valueint >= next) next = index->valueint + 1;
    } else {
      // A call with an id starts a new tool call; one without continues the
      // last one (Mistral sends neither index nor, usually, partial calls).
      bool starts = cJSON_HasObjectItem(call, "id") || next == 0;
      cJSON_AddNumberToObject(call, "index", starts ? next++ : next - 1);
      changed = true;
    }
    changed |= ensureToolType(call);
  }
  return changed;
}

bool StreamNormalizer::chunk(cJSON* root, Usage* usage) {
  bool changed = takeUsage(root, usage);
  cJSON* choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
  cJSON* choice = nullptr;
  int position = 0;
  cJSON_ArrayForEach(choice, choices) {
    const cJSON* index = cJSON_GetObjectItemCaseSensitive(choice, "index");
    int n = cJSON_IsNumber(index) ? index->valueint : position;
    position++;
    changed |= ensureFinishReason(choice);
    cJSON* delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
    if (!cJSON_IsObject(delta)) continue;
    changed |= normalizeContent(delta);
    changed |= toolCalls(delta, n);
  }
  return changed;
}

bool normalizeBody(cJSON* root, Usage* usage) {
  bool changed = takeUsage(root, usage);
  cJSON* choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
  cJSON* choice = nullptr;
  cJSON_ArrayForEach(choice, choices) {
    changed |= ensureFinishReason(choice);
    cJSON* message = cJSON_GetObjectItemCaseSensitive(choice, "message");
    if (!cJSON_IsObject(message)) continue;
    changed |= normalizeContent(message);
    cJSON* call = nullptr;
    cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(message, "tool_calls")) {
      changed |= ensureToolType(call);
    }
  }
  return changed;
}

}  // namespace sluice::openai_compatible
