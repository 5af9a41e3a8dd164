// guardrails:, guardrail_rules:, policies: and sinks:.
#include "manifest/sections.h"

namespace sluice::manifest {
namespace {

// The `config` block of a guardrail or sink, checked against the plugin.
std::string pluginConfig(Context& ctx, MapReader& m, sluice_kind kind, const std::string& plugin,
                         const Field& plugin_field, bool plugin_ok) {
  Field config = m.field("config");
  JsonOrigins origins;
  JsonPtr json;
  if (config.given()) {
    if (!config.node.IsMap()) {
      ctx.error(config.mark, config.path, "expected a mapping, got " + describe(config.node));
      return "";
    }
    json = yamlToJson(ctx, config, "", &origins);
  } else {
    json.reset(cJSON_CreateObject());
    origins[""] = JsonOrigin{ctx.mark(config.mark), ctx.mark(config.key_mark), false, false, ""};
  }
  if (!json || !plugin_ok) return printJson(json.get());
  return checkPluginBlock(ctx, kind, plugin, plugin_field, json.get(), origins, config);
}

void readGuardrailList(Context& ctx, MapReader& m, const char* hook, const Catalog& catalog,
                       std::vector<std::string>* out) {
  forEachItem(ctx, m.field(hook), [&](const Field& item, size_t) {
    std::string name;
    if (!readString(ctx, item, &name)) return;
    if (!catalog.guardrails.count(name)) {
      return ctx.error(item.mark, item.path,
                       "unknown guardrail '" + rawText(item.node) + "'" +
                           suggest(name, catalog.visible(catalog.guardrails)));
    }
    out->push_back(name);
  });
}

}  // namespace

void loadGuardrails(Context& ctx, MapReader& root, Config* cfg, Catalog* catalog) {
  std::map<std::string, Mark> names;
  forEachItem(ctx, root.field("guardrails"), [&](const Field& item, size_t) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    GuardrailConfig g;
    g.mark = ctx.mark(item.mark);
    Field name = m.require("name");
    bool ok = name.present && readString(ctx, name, &g.name);
    if (ok && g.name.empty()) {
      ctx.error(name.mark, name.path, "name must not be empty");
      ok = false;
    }
    if (ok) ok = checkUnique(ctx, &names, "guardrail name", g.name, name);
    // The plugin defaults to the guardrail's name: {name: pii} uses plugin pii.
    Field plugin = m.field("plugin");
    bool plugin_ok = plugin.present ? readString(ctx, plugin, &g.plugin) : ok;
    if (!plugin.present) {
      g.plugin = g.name;
      plugin = name;
    }
    m.oneOf<GuardOperation>(
        "operation", {{"validate", GuardOperation::Validate}, {"mutate", GuardOperation::Mutate}},
        &g.operation);
    m.oneOf<GuardMode>("mode",
                       {{"audit", GuardMode::Audit},
                        {"enforce", GuardMode::Enforce},
                        {"strict", GuardMode::Strict}},
                       &g.mode);
    m.integral("priority", &g.priority, -1000000, 1000000);
    m.integral("timeout_ms", &g.timeout_ms, 1, 600000);
    g.plugin_config_json = pluginConfig(ctx, m, SLUICE_KIND_GUARDRAIL, g.plugin, plugin, plugin_ok);
    m.finish();
    if (!ok) return;
    catalog->remember(&catalog->guardrails, g.name, name);
    cfg->guardrails.push_back(std::move(g));
  });
}

void loadGuardrailRules(Context& ctx, MapReader& root, Config* cfg, const Catalog& catalog) {
  forEachItem(ctx, root.field("guardrail_rules"), [&](const Field& item, size_t index) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    GuardrailRule rule;
    rule.mark = ctx.mark(item.mark);
    // Rules are named in x-sluice-applied-rules and request records.
    if (!m.str("id", &rule.id, false) || rule.id.empty()) {
      rule.id = "guardrail_rules[" + std::to_string(index) + "]";
    }
    readWhen(ctx, m.field("when"), catalog, false, &rule.when);
    readGuardrailList(ctx, m, "llm_input", catalog, &rule.llm_input);
    readGuardrailList(ctx, m, "llm_output", catalog, &rule.llm_output);
    readGuardrailList(ctx, m, "mcp_pre_tool", catalog, &rule.mcp_pre_tool);
    readGuardrailList(ctx, m, "mcp_post_tool", catalog, &rule.mcp_post_tool);
    m.finish();
    cfg->guardrail_rules.push_back(std::move(rule));
  });
}

void loadPolicies(Context& ctx, MapReader& root, Config* cfg) {
  forEachItem(ctx, root.field("policies"), [&](const Field& item, size_t) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    PolicyConfig p;
    p.mark = ctx.mark(item.mark);
    bool ok = m.str("script", &p.script, true);
    if (ok) p.script = ctx.resolvePath(p.script);
    forEachItem(ctx, m.field("hooks"), [&](const Field& hook, size_t) {
      std::string h;
      if (readEnum<std::string>(
              ctx, hook, "hook",
              {{"on_request", "on_request"}, {"on_response", "on_response"}, {"on_log", "on_log"}},
              &h)) {
        p.hooks.push_back(h);
      }
    });
    m.integral("instruction_budget", &p.instruction_budget, 1000, 10000000000ULL);
    m.integral("memory_bytes", &p.memory_bytes, 64 * 1024, 1ULL << 32);
    m.finish();
    if (ok) cfg->policies.push_back(std::move(p));
  });
}

void loadSinks(Context& ctx, MapReader& root, Config* cfg) {
  forEachItem(ctx, root.field("sinks"), [&](const Field& item, size_t) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    SinkConfig s;
    s.mark = ctx.mark(item.mark);
    Field plugin = m.require("plugin");
    bool ok = plugin.present && readString(ctx, plugin, &s.plugin);
    s.plugin_config_json = pluginConfig(ctx, m, SLUICE_KIND_SINK, s.plugin, plugin, ok);
    m.finish();
    if (ok) cfg->sinks.push_back(std::move(s));
  });
}

}  // namespace sluice::manifest
