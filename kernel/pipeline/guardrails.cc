#include "pipeline/guardrails.h"

#include <cjson/cJSON.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "plugins/host.h"

namespace sluice::pipeline {
namespace {

// The header's keys, in GuardHook order.
constexpr const char* kHeaderKeys[kGuardHookCount] = {
    "llm_input_guardrails", "llm_output_guardrails", "mcp_tool_pre_invoke_guardrails",
    "mcp_tool_post_invoke_guardrails"};

const std::vector<std::string>& ruleList(const manifest::GuardrailRule& rule, GuardHook hook) {
  switch (hook) {
    case GuardHook::LlmInput: return rule.llm_input;
    case GuardHook::LlmOutput: return rule.llm_output;
    case GuardHook::McpPreTool: return rule.mcp_pre_tool;
    case GuardHook::McpPostTool: return rule.mcp_post_tool;
  }
  return rule.llm_input;
}

// `most`: how many guardrails there are, so the list is allocated once.
void addOnce(std::vector<const Guardrail*>* list, const Guardrail* g, size_t most) {
  if (!g || std::find(list->begin(), list->end(), g) != list->end()) return;
  if (list->capacity() == 0) list->reserve(most);
  list->push_back(g);
}

// Mutations in priority order (then manifest order), validations after them.
bool runsBefore(const Guardrail* a, const Guardrail* b) {
  if (a->validate() != b->validate()) return !a->validate();
  if (!a->validate() && a->config->priority != b->config->priority) {
    return a->config->priority < b->config->priority;
  }
  return a->index < b->index;
}

// A stable insertion sort: a hook runs a few guardrails, and std::stable_sort allocates a
// buffer on every request.
void sortForRun(std::vector<const Guardrail*>* list) {
  std::vector<const Guardrail*>& l = *list;
  for (size_t i = 1; i < l.size(); i++) {
    const Guardrail* g = l[i];
    size_t j = i;
    for (; j > 0 && runsBefore(g, l[j - 1]); j--) l[j] = l[j - 1];
    l[j] = g;
  }
}

}  // namespace

const char* hookName(GuardHook hook) {
  switch (hook) {
    case GuardHook::LlmInput: return "llm_input";
    case GuardHook::LlmOutput: return "llm_output";
    case GuardHook::McpPreTool: return "mcp_pre_tool";
    case GuardHook::McpPostTool: return "mcp_post_tool";
  }
  return "";
}

sluice_hook hookAbi(GuardHook hook) {
  switch (hook) {
    case GuardHook::LlmInput: return SLUICE_HOOK_LLM_INPUT;
    case GuardHook::LlmOutput: return SLUICE_HOOK_LLM_OUTPUT;
    case GuardHook::McpPreTool: return SLUICE_HOOK_MCP_PRE_TOOL;
    case GuardHook::McpPostTool: return SLUICE_HOOK_MCP_POST_TOOL;
  }
  return SLUICE_HOOK_LLM_INPUT;
}

bool Guardrail::hasRequestEnd() const {
  return vt->struct_size >= offsetof(sluice_guardrail_vtable, request_end) + sizeof vt->request_end &&
         vt->request_end != nullptr;
}

bool GuardPlan::empty() const {
  for (const auto& h : hooks) {
    if (!h.empty()) return false;
  }
  return true;
}

void GuardPlan::clear() {
  for (auto& h : hooks) h.clear();
  rule_ids.clear();
}

std::unique_ptr<GuardrailSet> GuardrailSet::build(const manifest::Config& config,
                                                  plugins::Registry* registry,
                                                  std::vector<std::string>* errors) {
  std::unique_ptr<GuardrailSet> set(new GuardrailSet());
  set->config_ = &config;
  size_t before = errors->size();
  for (const auto& gc : config.guardrails) {
    std::string why;
    const plugins::Plugin* plugin = registry->find(SLUICE_KIND_GUARDRAIL, gc.plugin, &why);
    if (!plugin) {
      errors->push_back("guardrail '" + gc.name + "': " + why);
      continue;
    }
    auto g = std::make_unique<Guardrail>();
    g->config = &gc;
    g->vt = static_cast<const sluice_guardrail_vtable*>(plugin->vtable());
    if (!g->vt || g->vt->struct_size < offsetof(sluice_guardrail_vtable, request_end) ||
        !g->vt->create || !g->vt->check) {
      errors->push_back("guardrail '" + gc.name + "': plugin '" + gc.plugin +
                        "' has an incomplete guardrail table");
      continue;
    }
    char err[512] = {0};
    std::string cfg = gc.plugin_config_json.empty() ? "{}" : gc.plugin_config_json;
    if (g->vt->create(plugins::hostServices(), cfg.c_str(), &g->instance, err, sizeof err) !=
        SLUICE_OK) {
      errors->push_back("guardrail '" + gc.name + "' (" + gc.plugin + "): " +
                        (err[0] ? err : "create failed"));
      continue;
    }
    g->index = set->guards_.size();
    set->guards_.push_back(std::move(g));
  }
  if (errors->size() != before) return nullptr;
  return set;
}

GuardrailSet::~GuardrailSet() {
  for (auto& g : guards_) {
    if (g->vt->destroy && g->instance) g->vt->destroy(g->instance);
  }
}

const Guardrail* GuardrailSet::find(std::string_view name) const {
  for (const auto& g : guards_) {
    if (g->config->name == name) return g.get();
  }
  return nullptr;
}

bool GuardrailSet::parseHeader(std::string_view header, GuardNames* out,
                               std::string* error) const {
  cJSON* root = cJSON_ParseWithLength(header.data(), header.size());
  struct Free {
    cJSON* p;
    ~Free() { cJSON_Delete(p); }
  } free_root{root};
  if (!cJSON_IsObject(root)) {
    *error = "must be a JSON object";
    return false;
  }
  for (const cJSON* item = root->child; item; item = item->next) {
    size_t hook = kGuardHookCount;
    for (size_t h = 0; h < kGuardHookCount; h++) {
      if (strcmp(item->string, kHeaderKeys[h]) == 0) hook = h;
    }
    if (hook == kGuardHookCount) {
      *error = std::string("unknown key '") + item->string +
               "' (expected llm_input_guardrails, llm_output_guardrails, "
               "mcp_tool_pre_invoke_guardrails or mcp_tool_post_invoke_guardrails)";
      return false;
    }
    if (!cJSON_IsArray(item)) {
      *error = std::string("'") + item->string + "' must be an array of guardrail names";
      return false;
    }
    for (const cJSON* name = item->child; name; name = name->next) {
      if (!cJSON_IsString(name)) {
        *error = std::string("'") + item->string + "' must be an array of guardrail names";
        return false;
      }
      if (!find(name->valuestring)) {
        *error = std::string("'") + item->string + "' names '" + name->valuestring +
                 "', which is not a configured guardrail";
        return false;
      }
      (*out)[hook].push_back(name->valuestring);
    }
  }
  return true;
}

void GuardrailSet::plan(const governance::RequestFacts& facts, const GuardNames* extra,
                        GuardPlan* out) const {
  GuardPlan& plan = *out;
  plan.clear();
  if (guards_.empty()) return;
  for (const auto& rule : config_->guardrail_rules) {
    if (!governance::matches(rule.when, facts)) continue;
    plan.rule_ids.push_back(rule.id);
    for (size_t h = 0; h < kGuardHookCount; h++) {
      for (const auto& name : ruleList(rule, static_cast<GuardHook>(h))) {
        addOnce(&plan.hooks[h], find(name), guards_.size());
      }
    }
  }
  if (extra) {
    for (size_t h = 0; h < kGuardHookCount; h++) {
      for (const auto& name : (*extra)[h]) addOnce(&plan.hooks[h], find(name), guards_.size());
    }
  }
  for (auto& list : plan.hooks) sortForRun(&list);
}

}  // namespace sluice::pipeline
