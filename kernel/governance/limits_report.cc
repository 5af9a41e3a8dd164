#include "governance/limits_report.h"

#include <cmath>
#include <ctime>
#include <memory>

#include "governance/decision.h"
#include "governance/key_book.h"
#include "pipeline/errors.h"
#include "util/clock.h"

namespace sluice::governance {
namespace {

using pipeline::appendJsonString;

std::string amount(CounterKind kind, int64_t v) {
  return kind == CounterKind::Cost ? jsonNumber(static_cast<double>(v) / kNanoPerUsd) : std::to_string(v);
}

// Which counter keys to read, and where each answer goes in the report.
struct Row {
  bool budget = false;
  size_t rule = 0;
  std::string dims;
  size_t first_value = 0;  // rate: used; budget: held, then spent
};

}  // namespace

void reportLimits(const Policy& policy, const StateStatus& status, CounterStore* store,
                  int64_t now_ms, std::function<void(std::string)> done) {
  const std::string& prefix = policy.keyPrefix();
  std::vector<std::string> keys;
  auto rows = std::make_shared<std::vector<Row>>();
  const auto& rates = policy.rateRules();
  const auto& budgets = policy.budgetRules();
  for (size_t r = 0; r < rates.size(); r++) {
    Period w = windowFor(rates[r]->unit, now_ms);
    for (auto& dims : keyBook().keysOf(rates[r]->id)) {
      rows->push_back({false, r, dims, keys.size()});
      keys.push_back(rateKey(prefix, *rates[r], w.label, dims));
    }
  }
  for (size_t b = 0; b < budgets.size(); b++) {
    Period p = periodFor(budgets[b]->unit, now_ms);
    for (auto& dims : keyBook().keysOf(budgets[b]->id)) {
      rows->push_back({true, b, dims, keys.size()});
      std::string base = budgetKeyBase(prefix, *budgets[b], p.label, dims);
      keys.push_back(base + ":held");
      keys.push_back(base + ":spent");
    }
  }
  auto build = [&policy, status, rows, now_ms, done = std::move(done)](
                   const std::vector<int64_t>& values) {
    bool have = !values.empty();
    auto value = [&](size_t i) { return have && i < values.size() ? values[i] : 0; };
    std::string out = "{\"state\":{\"backend\":";
    appendJsonString(&out, status.backend);
    out += ",\"connected\":";
    out += status.connected && (have || rows->empty()) ? "true" : "false";
    out += ",\"unavailable_total\":" + std::to_string(status.unavailable_total);
    out += ",\"on_unavailable\":";
    appendJsonString(&out, status.on_unavailable);
    out += "},\"rate_limits\":[";
    const auto& rates = policy.rateRules();
    for (size_t r = 0; r < rates.size(); r++) {
      const auto* rule = rates[r];
      Period w = windowFor(rule->unit, now_ms);
      if (r) out += ",";
      out += "{\"id\":";
      appendJsonString(&out, rule->id);
      out += ",\"unit\":\"";
      out += unitName(rule->unit);
      out += "\",\"limit\":" + std::to_string(rule->limit_to);
      out += ",\"window_end\":\"" + util::isoTimeUtc(w.end_ms) + "\",\"counters\":[";
      bool first = true;
      for (const auto& row : *rows) {
        if (row.budget || row.rule != r) continue;
        int64_t used = value(row.first_value);
        out += first ? "" : ",";
        first = false;
        out += "{\"key\":";
        appendJsonString(&out, row.dims);
        out += ",\"used\":" + std::to_string(used);
        out += ",\"remaining\":" + std::to_string(std::max<int64_t>(0, rule->limit_to - used));
        out += ",\"reset\":\"" + formatDuration(w.end_ms - now_ms) + "\"}";
      }
      out += "]}";
    }
    out += "],\"budgets\":[";
    const auto& budgets = policy.budgetRules();
    for (size_t b = 0; b < budgets.size(); b++) {
      const auto* rule = budgets[b];
      CounterKind kind = kindOf(rule->unit);
      Period p = periodFor(rule->unit, now_ms);
      int64_t limit = kind == CounterKind::Cost ? std::llround(rule->limit_to * kNanoPerUsd)
                                                : std::llround(rule->limit_to);
      if (b) out += ",";
      out += "{\"id\":";
      appendJsonString(&out, rule->id);
      out += ",\"unit\":\"";
      out += unitName(rule->unit);
      out += "\",\"limit\":" + amount(kind, limit);
      out += ",\"period_start\":\"" + util::isoTimeUtc(p.start_ms) + "\",\"period_end\":\"" +
             util::isoTimeUtc(p.end_ms) + "\",\"entries\":[";
      bool first = true;
      for (const auto& row : *rows) {
        if (!row.budget || row.rule != b) continue;
        int64_t held = value(row.first_value), spent = value(row.first_value + 1);
        out += first ? "" : ",";
        first = false;
        out += "{\"key\":";
        appendJsonString(&out, row.dims);
        out += ",\"spent\":" + amount(kind, spent);
        out += ",\"reserved\":" + amount(kind, held);
        out += ",\"remaining\":" + amount(kind, std::max<int64_t>(0, limit - spent - held)) + "}";
      }
      out += "]}";
    }
    out += "]}";
    done(std::move(out));
  };
  if (keys.empty() || !store) {
    build({});
    return;
  }
  store->read(std::move(keys), std::move(build));
}

}  // namespace sluice::governance
