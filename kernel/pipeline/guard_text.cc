#include "pipeline/guard_text.h"

#include <cstring>

namespace sluice::pipeline {
namespace {

// cJSON_GetObjectItemCaseSensitive, with the first byte compared before the rest: most keys
// differ there, and each strcmp is a call.
cJSON* member(const cJSON* obj, const char* name) {
  if (!cJSON_IsObject(obj)) return nullptr;
  for (cJSON* item = obj->child; item && item->string; item = item->next) {
    if (item->string[0] == name[0] && strcmp(item->string, name) == 0) return item;
  }
  return nullptr;  // as cJSON, stopping at a member without a key
}

bool isRole(const cJSON* message, const char* role) {
  const cJSON* r = member(message, "role");
  return cJSON_IsString(r) && strcmp(r->valuestring, role) == 0;
}

// A message's text: a string content, or the text of each {"type":"text"} part.
void addContent(cJSON* content, std::vector<cJSON*>* out) {
  if (cJSON_IsString(content)) {
    out->push_back(content);
    return;
  }
  if (!cJSON_IsArray(content)) return;
  for (cJSON* part = content->child; part; part = part->next) {
    const cJSON* type = member(part, "type");
    cJSON* text = member(part, "text");
    if (cJSON_IsString(type) && strcmp(type->valuestring, "text") == 0 && cJSON_IsString(text)) {
      out->push_back(text);
    }
  }
}

// A string, or each string of an array (prompt, input).
void addStrings(cJSON* v, std::vector<cJSON*>* out) {
  if (cJSON_IsString(v)) {
    out->push_back(v);
  } else if (cJSON_IsArray(v)) {
    for (cJSON* s = v->child; s; s = s->next) {
      if (cJSON_IsString(s)) out->push_back(s);
    }
  }
}

}  // namespace

bool GuardedJson::adopt(cJSON* root) {
  root_.reset(root);
  return cJSON_IsObject(root_.get());
}

bool GuardedJson::parse(std::string_view json) {
  root_.reset(cJSON_ParseWithLength(json.data(), json.size()));
  return cJSON_IsObject(root_.get());
}

void GuardedJson::requestItems(GuardHook hook, std::vector<cJSON*>* out) const {
  out->clear();
  cJSON* messages = member(root_.get(), "messages");
  if (cJSON_IsArray(messages)) {
    for (cJSON* m = messages->child; m; m = m->next) {
      if (hook == GuardHook::LlmInput || (hook == GuardHook::McpPostTool && isRole(m, "tool"))) {
        addContent(member(m, "content"), out);
      }
    }
  }
  if (hook == GuardHook::LlmInput) {
    addStrings(member(root_.get(), "prompt"), out);
    addStrings(member(root_.get(), "input"), out);
  }
}

void GuardedJson::responseItems(GuardHook hook, std::vector<cJSON*>* out) const {
  out->clear();
  cJSON* choices = member(root_.get(), "choices");
  if (!cJSON_IsArray(choices)) return;
  for (cJSON* c = choices->child; c; c = c->next) {
    cJSON* message = member(c, "message");
    if (hook == GuardHook::LlmOutput) {
      addContent(member(message, "content"), out);
      cJSON* text = member(c, "text");  // completions
      if (cJSON_IsString(text)) out->push_back(text);
    } else if (hook == GuardHook::McpPreTool) {
      cJSON* calls = member(message, "tool_calls");
      if (!cJSON_IsArray(calls)) continue;
      for (cJSON* call = calls->child; call; call = call->next) {
        cJSON* args = member(member(call, "function"), "arguments");
        if (cJSON_IsString(args)) out->push_back(args);
      }
    }
  }
}

std::string GuardedJson::print() const {
  char* printed = cJSON_PrintUnformatted(root_.get());
  std::string out = printed ? printed : "";
  cJSON_free(printed);
  return out;
}

void GuardedJson::texts(const std::vector<cJSON*>& items, std::vector<std::string>* out) {
  out->resize(items.size());
  for (size_t i = 0; i < items.size(); i++) (*out)[i].assign(items[i]->valuestring);
}

bool GuardedJson::write(const std::vector<cJSON*>& items, const std::vector<std::string>& texts) {
  bool changed = false;
  for (size_t i = 0; i < items.size() && i < texts.size(); i++) {
    if (texts[i] == items[i]->valuestring) continue;
    cJSON_SetValuestring(items[i], texts[i].c_str());
    changed = true;
  }
  return changed;
}

}  // namespace sluice::pipeline
