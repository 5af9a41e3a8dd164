// The webhook guardrail's wire contract: the JSON it POSTs and how it reads the
// service's answer into a guardrail result.
#pragma once

#include <string>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::webhook {

// The request body: {"hook", "content", "model", "subject", "metadata", "request_id"}.
std::string requestBody(const sluice_guard_input& in);

// A parsed answer; `result` points into this object.
struct Answer {
  sluice_guard_result result{};
  std::string reason;
  std::string content;
  std::vector<std::string> strings;  // finding types and actions
  std::vector<sluice_finding> findings;
};

// Reads an HTTP answer. Anything but a 2xx with a well-formed body is a FAIL naming what was
// wrong: a transport error, a status, malformed JSON, a missing or unknown verdict.
void readAnswer(const sluice_http_response& res, Answer* out);

}  // namespace sluice::webhook
