// Request records for sink plugin tests: owned strings turned into the
// sluice_record views (and the batch) a sink's write() receives.
#pragma once

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::testing {

struct RecordData {
  std::string id = "req_1", method = "POST", path = "/v1/chat/completions", client_ip = "10.0.0.7";
  std::string trace_id = "0af7651916cd43dd8448eb211c80319c", span_id = "b7ad6b7169203331";
  std::string parent_span_id, subject = "user:alice@example.com", team = "payments";
  std::vector<std::pair<std::string, std::string>> metadata = {{"env", "prod"}};
  std::string requested_model = "openai/gpt-4o", resolved_model = "openai/gpt-4o";
  std::string provider = "openai", provider_type = "openai";
  std::vector<std::string> rules;
  int status = 200;
  std::string error_code;
  bool stream = false;
  int64_t start_ms = 1795000000123, end_ms = 1795000000456;
  int64_t prompt = 12, completion = 30, cached = 0;
  double cost = 0.00042;
  double auth = 0.2, route = 0.1, upstream = 120, ttft = 121, tpot = -1, total = 333;
  std::vector<sluice_record_finding> findings;
  std::vector<std::pair<std::string, std::string>> events;  // (rule, kind:action)
  std::string json = "{\"id\":\"req_1\"}";
};

class RecordBatchBuilder {
 public:
  RecordBatchBuilder& add(RecordData d) {
    data_.push_back(std::move(d));
    return *this;
  }

  const sluice_record_batch* batch() {
    views_.clear();
    strs_.clear();
    meta_.clear();
    rules_.clear();
    events_.clear();
    for (const RecordData& d : data_) {
      auto s = [](const std::string& x) { return sluice_str{x.data(), x.size()}; };
      meta_.emplace_back();
      for (const auto& [k, v] : d.metadata) meta_.back().push_back({s(k), s(v)});
      rules_.emplace_back();
      for (const auto& r : d.rules) rules_.back().push_back(s(r));
      events_.emplace_back();
      for (const auto& [rule, kind_action] : d.events) {
        size_t colon = kind_action.find(':');
        kinds_.push_back(kind_action.substr(0, colon));
        actions_.push_back(kind_action.substr(colon + 1));
        events_.back().push_back({s(rule), s(kinds_.back()), s(actions_.back())});
      }
      sluice_record v{};
      v.struct_size = sizeof v;
      v.schema_version = 1;
      v.json = s(d.json);
      v.id = s(d.id);
      v.start_ms = d.start_ms;
      v.end_ms = d.end_ms;
      v.method = s(d.method);
      v.path = s(d.path);
      v.client_ip = s(d.client_ip);
      v.trace_id = s(d.trace_id);
      v.span_id = s(d.span_id);
      v.parent_span_id = s(d.parent_span_id);
      v.subject = s(d.subject);
      v.team = s(d.team);
      v.metadata = meta_.back().data();
      v.metadata_count = meta_.back().size();
      v.requested_model = s(d.requested_model);
      v.resolved_model = s(d.resolved_model);
      v.provider = s(d.provider);
      v.provider_type = s(d.provider_type);
      v.applied_rules = rules_.back().data();
      v.applied_rule_count = rules_.back().size();
      v.status = d.status;
      v.error_code = s(d.error_code);
      v.stream = d.stream;
      v.prompt_tokens = d.prompt;
      v.completion_tokens = d.completion;
      v.cached_tokens = d.cached;
      v.cost_usd = d.cost;
      v.auth_ms = d.auth;
      v.guard_in_ms = -1;
      v.route_ms = d.route;
      v.upstream_ms = d.upstream;
      v.ttft_ms = d.ttft;
      v.tpot_ms = d.tpot;
      v.guard_out_ms = -1;
      v.total_ms = d.total;
      v.findings = d.findings.data();
      v.finding_count = d.findings.size();
      v.events = events_.back().data();
      v.event_count = events_.back().size();
      views_.push_back(v);
      strs_.push_back(v.json);
    }
    batch_ =
        sluice_record_batch{sizeof(sluice_record_batch), strs_.data(), strs_.size(), views_.data()};
    return &batch_;
  }

 private:
  std::deque<RecordData> data_;
  std::vector<sluice_record> views_;
  std::vector<sluice_str> strs_;
  std::deque<std::vector<sluice_header>> meta_;
  std::deque<std::vector<sluice_str>> rules_;
  std::deque<std::vector<sluice_record_event>> events_;
  std::deque<std::string> kinds_, actions_;
  sluice_record_batch batch_{};
};

}  // namespace sluice::testing
