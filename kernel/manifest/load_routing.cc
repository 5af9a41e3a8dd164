// routing: rules, their targets and the strategy plugin's own keys.
#include <cctype>
#include <optional>

#include "manifest/sections.h"

namespace sluice::manifest {
namespace {

constexpr int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;
constexpr size_t kMaxTargetsPerRule = 32;  // the kernel orders targets in fixed-size arrays

// Headers the upstream client writes itself; an override would corrupt framing.
bool reservedHeader(const std::string& name) {
  std::string lower;
  for (char c : name) lower.push_back(static_cast<char>(tolower(static_cast<unsigned char>(c))));
  return lower == "host" || lower == "content-length" || lower == "transfer-encoding" ||
         lower == "connection";
}

// The same pattern rule as callers' `models`: "*", "prefix*", or exact.
bool modelPatternMatches(const std::string& pattern, const std::string& name) {
  if (!pattern.empty() && pattern.back() == '*') {
    return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  return pattern == name;
}

bool validHeaderName(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (c <= ' ' || c >= 127 || c == ':') return false;
  }
  return true;
}

void loadRetry(Context& ctx, const Field& f, RetryConfig* out) {
  MapReader m(ctx, f);
  if (!m.valid()) return;
  m.integral("attempts", &out->attempts, 0, 10);
  m.integral("delay_ms", &out->delay_ms, 0, 60000);
  Field codes = m.field("on_status_codes");
  if (codes.present) readIntList(ctx, codes, 100, 599, &out->on_status_codes);
  m.finish();
}

void loadHeadersOverride(Context& ctx, const Field& f, RouteTarget* out) {
  MapReader m(ctx, f);
  if (!m.valid()) return;
  Field set = m.field("set");
  if (set.present && readStringMap(ctx, set, &out->headers_set) && set.node.IsMap()) {
    for (auto it = set.node.begin(); it != set.node.end(); ++it) {
      std::string name = rawText(it->first);
      if (!validHeaderName(name)) {
        ctx.error(it->first.Mark(), set.path, "invalid header name '" + name + "'");
      } else if (reservedHeader(name)) {
        ctx.error(it->first.Mark(), set.path,
                  "header '" + name + "' is written by the gateway and cannot be overridden");
      }
    }
  }
  forEachItem(ctx, m.field("remove"), [&](const Field& item, size_t) {
    std::string name;
    if (!readString(ctx, item, &name)) return;
    if (!validHeaderName(name)) {
      return ctx.error(item.mark, item.path, "invalid header name '" + rawText(item.node) + "'");
    }
    if (reservedHeader(name)) {
      return ctx.error(item.mark, item.path,
                       "header '" + name + "' is written by the gateway and cannot be removed");
    }
    out->headers_remove.push_back(name);
  });
  m.finish();
}

void loadCircuitBreaker(Context& ctx, const Field& f, CircuitBreakerConfig* out) {
  if (!f.given()) return;
  MapReader m(ctx, f);
  if (!m.valid()) return;
  m.integral("failures", &out->failures, 0, 1000);
  m.integral("window_seconds", &out->window_seconds, 1, 86400);
  m.integral("cooldown_seconds", &out->cooldown_seconds, 1, 86400);
  m.finish();
}

bool loadTarget(Context& ctx, const Field& item, const Catalog& catalog, RouteTarget* out) {
  out->mark = ctx.mark(item.mark);
  JsonPtr raw;  // the whole block, for the routing plugin
  // Where errors about the target name point. Constructed, never assigned:
  // assigning a YAML::Node writes into the manifest's tree.
  std::optional<Field> target_field;
  bool ok = true;
  if (item.node.IsScalar()) {  // shorthand: "- openai-main/gpt-4o"
    ok = readString(ctx, item, &out->target);
    raw.reset(cJSON_CreateObject());
    cJSON_AddStringToObject(raw.get(), "target", out->target.c_str());
  } else {
    MapReader m(ctx, item);
    if (!m.valid()) return false;
    // Quiet: the typed reads below report what is wrong in the block.
    raw = yamlToJson(ctx, item, "", nullptr, /*quiet=*/true);
    target_field.emplace(m.require("target"));
    ok = target_field->present && readString(ctx, *target_field, &out->target);
    m.integer("priority", -1000000, 1000000, &out->priority);
    m.integer("weight", 0, 1000000, &out->weight);
    loadRetry(ctx, m.field("retry_config"), &out->retry);
    Field fallback = m.field("fallback_status_codes");
    if (fallback.present) readIntList(ctx, fallback, 100, 599, &out->fallback_status_codes);
    Field sla = m.field("sla_cutoff");
    if (sla.given()) {
      MapReader s(ctx, sla);
      double tpot = 0;
      if (s.number("time_per_output_token_ms", 0.001, 1e6, &tpot, true)) out->sla_tpot_ms = tpot;
      // Whole 5-second buckets of the stats ring, up to its 20 minutes.
      s.integral("window_seconds", &out->sla_window_seconds, 5, 1200);
      s.finish();
    }
    loadCircuitBreaker(ctx, m.field("circuit_breaker"), &out->circuit_breaker);
    m.integral("timeout_ms", &out->timeout_ms, 1, kMaxTimeoutMs);
    Field params = m.field("override_params");
    if (params.given()) {
      if (!params.node.IsMap()) {
        ctx.error(params.mark, params.path, "expected a mapping, got " + describe(params.node));
      } else if (JsonPtr json = yamlToJson(ctx, params, "", nullptr)) {
        out->override_params_json = printJson(json.get());
        for (auto it = params.node.begin(); it != params.node.end(); ++it) {
          std::string key = rawText(it->first);
          if (key == "model" || key == "stream") {
            ctx.error(it->first.Mark(), params.path,
                      "'" + key + "' cannot be overridden (" +
                          (key == "model" ? "the target names the model" : "the client decides") +
                          ")");
          }
        }
      }
    }
    loadHeadersOverride(ctx, m.field("headers_override"), out);
    m.finish();
  }
  out->raw_json = printJson(raw.get());
  if (!ok) return false;
  const Field& target = target_field ? *target_field : item;
  std::string why = catalog.whyNotModel(out->target, target);
  if (!why.empty()) {
    ctx.error(target.mark, target.path, why);
    return false;
  }
  return true;
}

void loadSticky(Context& ctx, const Field& f, std::optional<StickyRouting>* out) {
  if (!f.given()) return;
  MapReader m(ctx, f);
  if (!m.valid()) return;
  StickyRouting sticky;
  Field ttl = m.require("ttl_seconds");
  int64_t seconds = 0;
  if (ttl.present && readInt(ctx, ttl, 1, 30LL * 24 * 3600, &seconds)) {
    sticky.ttl_seconds = static_cast<uint32_t>(seconds);
  }
  Field ids = m.require("session_identifiers");
  forEachItem(ctx, ids, [&](const Field& item, size_t) {
    MapReader s(ctx, item);
    if (!s.valid()) return;
    SessionIdentifier id;
    Field source = s.require("source");
    bool ok = source.present &&
              readEnum<std::string>(ctx, source, "source",
                                    {{"header", "header"}, {"metadata", "metadata"}}, &id.source);
    ok = s.str("key", &id.key, true) && ok;
    s.finish();
    if (ok) sticky.session_identifiers.push_back(id);
  });
  if (isEmptyList(ids)) ctx.error(ids.mark, ids.path, "must list at least one session identifier");
  m.finish();
  *out = sticky;
}

}  // namespace

void loadRouting(Context& ctx, MapReader& root, Config* cfg, const Catalog& catalog) {
  std::map<std::string, Mark> ids;
  forEachItem(ctx, root.field("routing"), [&](const Field& item, size_t) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    RoutingRule rule;
    rule.mark = ctx.mark(item.mark);
    Field id = m.require("id");
    bool ok = id.present && readString(ctx, id, &rule.id);
    if (ok) ok = checkUnique(ctx, &ids, "routing id", rule.id, id);
    readWhen(ctx, m.field("when"), catalog, true, &rule.when);
    // A rule without a strategy tries its targets in order.
    Field strategy = m.field("strategy");
    rule.strategy = "priority";
    bool strategy_ok = !strategy.present || readString(ctx, strategy, &rule.strategy);
    loadSticky(ctx, m.field("sticky_routing"), &rule.sticky);
    Field targets = m.require("targets");
    std::map<std::string, Mark> seen_targets;
    forEachItem(ctx, targets, [&](const Field& t, size_t i) {
      RouteTarget target;
      if (!loadTarget(ctx, t, catalog, &target)) return;
      if (i >= kMaxTargetsPerRule) {
        return ctx.error(t.mark, t.path,
                         "a rule lists at most " + std::to_string(kMaxTargetsPerRule) + " targets");
      }
      Field name = t;
      if (t.node.IsMap()) {
        name.node.reset(t.node["target"]);  // reset: operator= would write into the tree
        name.mark = name.node.Mark();
        name.path = t.path + ".target";
      }
      if (checkUnique(ctx, &seen_targets, "target", target.target, name)) {
        rule.targets.push_back(std::move(target));
      }
    });
    if (isEmptyList(targets))
      ctx.error(targets.mark, targets.path, "must list at least one target");

    // Every other key belongs to the strategy plugin.
    JsonOrigins origins;
    JsonPtr json = entriesToJson(ctx, item, m.rest(), &origins);
    if (strategy_ok) {
      rule.strategy_config_json =
          checkPluginBlock(ctx, SLUICE_KIND_ROUTING, rule.strategy, strategy, json.get(), origins,
                           item, {"id", "when", "strategy", "sticky_routing", "targets"});
    }
    if (ok) cfg->routing.push_back(std::move(rule));
  });

  // A virtual model only exists through the rules that route it.
  for (const auto& name : cfg->virtual_models) {
    bool routed = false;
    for (const auto& rule : cfg->routing) {
      routed = rule.when.models.empty();
      for (const auto& pattern : rule.when.models) {
        routed = routed || modelPatternMatches(pattern, name);
      }
      if (routed) break;
    }
    auto at = catalog.virtual_model_at.find(name);
    if (!routed && at != catalog.virtual_model_at.end()) {
      ctx.error(at->second.mark, at->second.path,
                "virtual model '" + at->second.raw +
                    "' is not routed: no routing rule's when.models matches it");
    }
  }
}

}  // namespace sluice::manifest
