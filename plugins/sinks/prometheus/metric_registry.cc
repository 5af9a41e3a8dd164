#include "metric_registry.h"

#include <charconv>

namespace sluice::prometheus_sink {
namespace {

void appendNumber(std::string* out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void appendSeriesName(std::string* out, const std::string& name, const char* suffix,
                      const std::string& labels, std::string_view extra = {}) {
  out->append(name).append(suffix);
  if (labels.empty() && extra.empty()) return;
  out->push_back('{');
  out->append(labels);
  if (!labels.empty() && !extra.empty()) out->push_back(',');
  out->append(extra);
  out->push_back('}');
}

}  // namespace

void appendLabelValue(std::string* out, std::string_view v) {
  out->push_back('"');
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out->push_back('\\');
      out->push_back(c);
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

int MetricRegistry::declare(std::string name, std::string help, Type type,
                            std::vector<double> buckets) {
  families_.push_back(Family{std::move(name), std::move(help), type, std::move(buckets), {}});
  return static_cast<int>(families_.size() - 1);
}

MetricRegistry::Series* MetricRegistry::series(int family, const std::string& labels) {
  Family& f = families_[family];
  auto it = f.series.find(labels);
  if (it != f.series.end()) return &it->second;
  if (f.series.size() >= max_series_) {
    dropped_series_++;
    return nullptr;
  }
  Series& s = f.series[labels];
  if (f.type == Type::Histogram) s.buckets.assign(f.bounds.size(), 0);
  return &s;
}

void MetricRegistry::add(int family, const std::string& labels, double v) {
  if (Series* s = series(family, labels)) s->value += v;
}

void MetricRegistry::observe(int family, const std::string& labels, double v) {
  if (Series* s = series(family, labels)) observe(family, s, v);
}

void MetricRegistry::observe(int family, Series* s, double v) {
  s->value += v;
  s->count++;
  const std::vector<double>& bounds = families_[family].bounds;
  for (size_t i = 0; i < bounds.size(); i++) {
    if (v <= bounds[i]) {
      s->buckets[i]++;
      break;
    }
  }
}

void MetricRegistry::render(std::string* out) {
  for (const Family& f : families_) {
    out->append("# HELP ").append(f.name).append(" ").append(f.help).append("\n");
    out->append("# TYPE ").append(f.name).append(f.type == Type::Counter ? " counter\n"
                                                                         : " histogram\n");
    for (const auto& [labels, s] : f.series) {
      if (f.type == Type::Counter) {
        appendSeriesName(out, f.name, "", labels);
        out->push_back(' ');
        appendNumber(out, s.value);
        out->push_back('\n');
        continue;
      }
      uint64_t cumulative = 0;
      for (size_t i = 0; i < f.bounds.size(); i++) {
        cumulative += s.buckets[i];
        std::string le = "le=\"";
        appendNumber(&le, f.bounds[i]);
        le.push_back('"');
        appendSeriesName(out, f.name, "_bucket", labels, le);
        out->append(" ").append(std::to_string(cumulative)).append("\n");
      }
      appendSeriesName(out, f.name, "_bucket", labels, "le=\"+Inf\"");
      out->append(" ").append(std::to_string(s.count)).append("\n");
      appendSeriesName(out, f.name, "_sum", labels);
      out->push_back(' ');
      appendNumber(out, s.value);
      out->push_back('\n');
      appendSeriesName(out, f.name, "_count", labels);
      out->append(" ").append(std::to_string(s.count)).append("\n");
    }
  }
}

}  // namespace sluice::prometheus_sink
