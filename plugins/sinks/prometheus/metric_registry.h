// Counters and histograms keyed by label set, rendered in the Prometheus
// text format. The sink thread adds under the lock once per batch; the admin
// thread renders under it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::prometheus_sink {

// Appends `v` as a label value: \ " and newline escaped.
void appendLabelValue(std::string* out, std::string_view v);

class MetricRegistry {
 public:
  enum class Type { Counter, Histogram };
  struct Series;
  // Families render in the order they are declared. `max_series` caps the
  // label sets per family; past it new series are counted as dropped.
  int declare(std::string name, std::string help, Type type, std::vector<double> buckets = {});
  void setMaxSeries(size_t n) { max_series_ = n; }

  // `labels` is the rendered label list without braces: model="x",status="200".
  void add(int family, const std::string& labels, double v);
  void observe(int family, const std::string& labels, double v);

  // The series of `family` with `labels`, created when new; nullptr (and
  // counted dropped) when the family is at max_series. A series lives as
  // long as the registry, so callers may keep the pointer and skip the
  // lookup next time: add() and observe() on it, countDropped() for nullptr.
  Series* series(int family, const std::string& labels);
  static void add(Series* s, double v) { s->value += v; }
  void observe(int family, Series* s, double v);
  void countDropped() { dropped_series_++; }

  void render(std::string* out);
  std::mutex& lock() { return mu_; }
  uint64_t droppedSeries() const { return dropped_series_; }

  struct Series {
    double value = 0;               // counter value, or the histogram's sum
    uint64_t count = 0;             // histogram observations
    std::vector<uint64_t> buckets;  // histogram: per upper bound, not cumulative
  };

 private:
  struct Family {
    std::string name, help;
    Type type;
    std::vector<double> bounds;
    std::map<std::string, Series> series;
  };

  std::mutex mu_;
  std::vector<Family> families_;
  size_t max_series_ = 10000;
  uint64_t dropped_series_ = 0;
};

}  // namespace sluice::prometheus_sink
