// The request record: one per request, filled in by every phase as it runs
// and handed to the sinks (phase 12) once the request is over. It holds what
// happened — never a token, a provider key or a matched secret; bodies only
// where the manifest's logging settings or the caller's logging config allow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "governance/identity.h"

namespace sluice::pipeline {

// One try of one routing target.
struct AttemptRecord {
  std::string target;  // "<provider>/<model>"
  int status = 0;      // HTTP status, 0 when no answer came (connection error, timeout)
  std::string error;   // why it failed: "connect_error", "timeout", "ttft_timeout", ...
  double duration_ms = 0;
  bool operator==(const AttemptRecord&) const = default;
};

// What a guardrail found (types and counts, never the values).
struct FindingRecord {
  std::string guardrail;  // the guardrail's name in the manifest
  std::string hook;       // llm_input | llm_output | mcp_pre_tool | mcp_post_tool
  std::string type;       // "EMAIL", "AWS_ACCESS_KEY", ...
  uint32_t count = 0;
  std::string action;     // "redact", "block", "audit"
  bool operator==(const FindingRecord&) const = default;
};

// A rule that changed the request's fate: refused it or sent it elsewhere.
struct RuleEvent {
  std::string rule;    // the rule's id (a guardrail's name)
  std::string kind;    // rate_limit | budget | guardrail
  std::string action;  // blocked | downgraded
  bool operator==(const RuleEvent&) const = default;
};

// Phase durations in milliseconds; a negative value: the phase did not run.
struct PhaseTimes {
  double auth = -1;
  double guard_in = -1;
  double route = -1;
  double upstream = -1;  // request sent -> response head
  double ttft = -1;      // request start -> first response byte
  double tpot = -1;      // mean time per output token after the first
  double guard_out = -1;
  double total = -1;
  bool operator==(const PhaseTimes&) const = default;
};

struct RequestRecord {
  std::string id;
  int64_t start_ms = 0;  // wall clock, Unix epoch ms
  int64_t end_ms = 0;
  std::string method;
  std::string path;
  std::string client_ip;
  std::string trace_id;  // W3C trace id (32 hex), when tracing is on or the client sent one
  std::string span_id;         // the gateway's span (16 hex), parent of the upstream call
  std::string parent_span_id;  // the client's span, from its traceparent

  // Identity envelope.
  std::string subject;  // "user:alice@example.com", "virtualaccount:checkout", "anonymous"
  std::string team;
  governance::Metadata metadata;

  // Models and routing.
  std::string requested_model;
  std::string resolved_model;  // the target that answered
  std::string provider;        // its provider account
  std::string provider_type;   // the account's provider plugin: "openai", "bedrock", ...
  std::vector<std::string> applied_rules;  // routing, rate-limit, budget and guardrail rule ids
  std::vector<AttemptRecord> attempts;     // in order; the last one answered (or failed last)
  std::vector<RuleEvent> events;

  // Outcome.
  int status = 0;
  std::string error_code;  // the OpenAI-shaped error's code, empty on success
  bool stream = false;

  // Usage and cost.
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
  bool tokens_estimated = false;  // no usage from the provider: counted from the text
  double cost_usd = 0;

  PhaseTimes phases;
  std::vector<FindingRecord> findings;

  // Only when logging allows bodies (cut to logging.max_body_bytes).
  bool bodies_logged = false;
  std::string request_body;
  std::string response_body;

  // Back to a fresh record, keeping the strings' and lists' memory: a
  // delivered record carries the next request's with no allocation. A field
  // added above is cleared there too (record_test compares with a new one).
  void clear();
  bool operator==(const RequestRecord&) const = default;
};

}  // namespace sluice::pipeline
