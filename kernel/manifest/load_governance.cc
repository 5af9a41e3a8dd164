// rate_limits:, budgets: and state:.
#include <cmath>

#include "manifest/sections.h"

namespace sluice::manifest {
namespace {

// subject | team | model | metadata.KEY
void readAppliesPer(Context& ctx, MapReader& m, std::vector<std::string>* out) {
  forEachItem(ctx, m.field("applies_per"), [&](const Field& item, size_t) {
    std::string dim;
    if (!readString(ctx, item, &dim)) return;
    bool ok = dim == "subject" || dim == "team" || dim == "model" ||
              (dim.rfind("metadata.", 0) == 0 && dim.size() > 9);
    if (!ok) {
      return ctx.error(item.mark, item.path,
                       "applies_per must be one of subject, team, model, metadata.KEY (got '" +
                           rawText(item.node) + "')");
    }
    out->push_back(dim);
  });
}

bool readRuleId(Context& ctx, MapReader& m, std::map<std::string, Mark>* seen, const char* what,
                std::string* out) {
  Field id = m.require("id");
  if (!id.present || !readString(ctx, id, out)) return false;
  if (out->empty()) {
    ctx.error(id.mark, id.path, "id must not be empty");
    return false;
  }
  return checkUnique(ctx, seen, what, *out, id);
}

void readOnExceed(Context& ctx, const Field& f, const Catalog& catalog, BudgetRule* rule) {
  if (!f.present) return;
  if (f.node.IsMap()) {
    MapReader m(ctx, f);
    Field to = m.require("downgrade_to");
    std::string model;
    if (to.present && readString(ctx, to, &model)) {
      if (catalog.isModel(model) || catalog.isVirtualModel(model)) {
        rule->on_exceed = BudgetRule::OnExceed::Downgrade;
        rule->downgrade_to = model;
      } else {
        ctx.error(to.mark, to.path, catalog.unknownModel(model, to));
      }
    }
    m.finish();
    return;
  }
  std::string text;
  if (f.node.IsScalar() && ctx.scalarText(f.node, f.mark, f.path, &text)) {
    if (text == "block") {
      rule->on_exceed = BudgetRule::OnExceed::Block;
      return;
    }
    if (text == "audit") {
      rule->on_exceed = BudgetRule::OnExceed::Audit;
      return;
    }
  } else if (f.node.IsScalar()) {
    return;  // the reference error is recorded
  }
  std::string got = f.node.IsScalar() ? rawText(f.node) : describe(f.node);
  if (f.node.IsScalar()) got = "'" + got + "'";
  ctx.error(f.mark, f.path, "on_exceed must be one of block, audit, {downgrade_to: MODEL} (got " + got + ")");
}

void readAlerts(Context& ctx, const Field& f, std::optional<BudgetAlerts>* out) {
  if (!f.given()) return;
  MapReader m(ctx, f);
  if (!m.valid()) return;
  BudgetAlerts alerts;
  forEachItem(ctx, m.field("thresholds"), [&](const Field& item, size_t) {
    double percent = 0;
    if (readNumber(ctx, item, 1, 1000, &percent)) alerts.thresholds.push_back(percent);
  });
  Field webhook = m.field("webhook");
  if (webhook.present && readString(ctx, webhook, &alerts.webhook) &&
      alerts.webhook.rfind("http://", 0) != 0 && alerts.webhook.rfind("https://", 0) != 0) {
    ctx.error(webhook.mark, webhook.path, "webhook must be an http:// or https:// URL");
  }
  m.finish();
  *out = alerts;
}

}  // namespace

void loadRateLimits(Context& ctx, MapReader& root, Config* cfg, const Catalog& catalog) {
  std::map<std::string, Mark> ids;
  forEachItem(ctx, root.field("rate_limits"), [&](const Field& item, size_t) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    RateLimitRule rule;
    rule.mark = ctx.mark(item.mark);
    bool ok = readRuleId(ctx, m, &ids, "rate limit id", &rule.id);
    readWhen(ctx, m.field("when"), catalog, false, &rule.when);
    ok = m.integer("limit_to", 1, INT64_MAX, &rule.limit_to, true) && ok;
    Field unit = m.require("unit");
    ok = unit.present &&
         readEnum<LimitUnit>(ctx, unit, "unit",
                             {{"requests_per_minute", LimitUnit::RequestsPerMinute},
                              {"requests_per_hour", LimitUnit::RequestsPerHour},
                              {"requests_per_day", LimitUnit::RequestsPerDay},
                              {"tokens_per_minute", LimitUnit::TokensPerMinute},
                              {"tokens_per_hour", LimitUnit::TokensPerHour},
                              {"tokens_per_day", LimitUnit::TokensPerDay}},
                             &rule.unit) &&
         ok;
    readAppliesPer(ctx, m, &rule.applies_per);
    m.finish();
    if (ok) cfg->rate_limits.push_back(std::move(rule));
  });
}

void loadBudgets(Context& ctx, MapReader& root, Config* cfg, const Catalog& catalog) {
  std::map<std::string, Mark> ids;
  forEachItem(ctx, root.field("budgets"), [&](const Field& item, size_t) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    BudgetRule rule;
    rule.mark = ctx.mark(item.mark);
    bool ok = readRuleId(ctx, m, &ids, "budget id", &rule.id);
    readWhen(ctx, m.field("when"), catalog, false, &rule.when);
    ok = m.number("limit_to", 0, INFINITY, &rule.limit_to, true) && ok;
    Field unit = m.require("unit");
    ok = unit.present &&
         readEnum<BudgetUnit>(ctx, unit, "unit",
                              {{"cost_per_day", BudgetUnit::CostPerDay},
                               {"cost_per_week", BudgetUnit::CostPerWeek},
                               {"cost_per_month", BudgetUnit::CostPerMonth},
                               {"tokens_per_day", BudgetUnit::TokensPerDay},
                               {"tokens_per_month", BudgetUnit::TokensPerMonth}},
                              &rule.unit) &&
         ok;
    readAppliesPer(ctx, m, &rule.applies_per);
    readAlerts(ctx, m.field("alerts"), &rule.alerts);
    readOnExceed(ctx, m.field("on_exceed"), catalog, &rule);
    m.finish();
    if (ok) cfg->budgets.push_back(std::move(rule));
  });
}

void loadState(Context& ctx, MapReader& root, StateConfig* out) {
  MapReader m(ctx, root.field("state"));
  if (!m.valid()) return;
  m.oneOf<StateConfig::Backend>(
      "backend", {{"memory", StateConfig::Backend::Memory}, {"redis", StateConfig::Backend::Redis}},
      &out->backend);
  Field redis = m.field("redis");
  if (redis.given()) {
    MapReader r(ctx, redis);
    Field url = r.require("url");
    if (url.present && readString(ctx, url, &out->redis_url)) {
      if (out->redis_url.rfind("rediss://", 0) == 0) {
        ctx.error(url.mark, url.path,
                  "rediss:// (TLS) is not supported by this build's hiredis; use redis:// on a "
                  "trusted network or unix://");
      } else if (out->redis_url.rfind("redis://", 0) != 0 &&
                 out->redis_url.rfind("unix://", 0) != 0) {
        ctx.error(url.mark, url.path, "url must start with redis:// or unix://");
      }
    }
    r.integral("timeout_ms", &out->redis_timeout_ms, 1, 60000);
    r.finish();
  }
  m.oneOf<StateConfig::OnUnavailable>("on_unavailable",
                                      {{"fail_open", StateConfig::OnUnavailable::FailOpen},
                                       {"fail_closed", StateConfig::OnUnavailable::FailClosed}},
                                      &out->on_unavailable);
  if (out->backend == StateConfig::Backend::Redis && out->redis_url.empty() && m.valid() &&
      !redis.given()) {
    ctx.error(m.mark(), m.path(), "backend redis needs redis: {url: redis://HOST:PORT}");
  }
  m.finish();
}

}  // namespace sluice::manifest
