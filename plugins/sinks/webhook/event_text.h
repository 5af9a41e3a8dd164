// The events the webhook sink sends: rate-limit, budget and guardrail rules
// that refused (or downgraded) a request, from its record, and kernel events
// (budget thresholds). Each is one JSON object, or a Slack-compatible
// {"text": ...} message.
#pragma once

#include <string>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::webhook_sink {

struct Event {
  std::string type;  // rate_limit_blocked, budget_blocked, budget_downgraded, guardrail_blocked
  std::string json;  // the event as JSON
  std::string text;  // one line for humans (Slack)
};

// The events one request record holds (usually none).
std::vector<Event> eventsOf(const sluice_record& r);
// A kernel event's JSON (its "type" is read from it); false when unreadable.
bool kernelEvent(const std::string& json, Event* out);
// {"text": "..."}
std::string slackBody(const std::string& text);

}  // namespace sluice::webhook_sink
