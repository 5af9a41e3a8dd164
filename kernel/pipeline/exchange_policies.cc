// The exchange's side of Lua policies: on_response before the answer's head
// goes out, on_log once the request is over.
#include "pipeline/exchange.h"
#include "pipeline/record.h"
#include "util/clock.h"

namespace sluice::pipeline {

lua::RequestView Exchange::policyView() {
  lua::RequestView view;
  view.id = spec_.request_id;
  view.model = spec_.requested_model;
  view.subject = spec_.principal->subject;
  view.team = spec_.principal->team;
  view.metadata = &spec_.metadata;
  view.request = client_done_ ? nullptr : &req_;
  return view;
}

// Runs once per request, for whichever answer comes first (the provider's,
// or the gateway's own error). Returns false when a policy replaced the
// answer with its error, which has then been sent.
bool Exchange::responsePolicies(int status, http::Response::Headers* h) {
  if (!spec_.policies || response_policies_ran_) return true;
  response_policies_ran_ = true;
  if (!spec_.policies->runs(lua::Hook::Response)) return true;
  lua::RequestView view = policyView();
  lua::ResponseView res;
  res.status = status;
  res.prompt_tokens = usage_.prompt;
  res.completion_tokens = usage_.completion;
  res.model = spec_.model->id;
  res.provider = spec_.model->provider->name;
  res.stream = streaming_;
  lua::Outcome o = spec_.policies->onResponse(view, res, h);
  if (o.kind == lua::Outcome::Kind::Continue) return true;
  fail(makeError(o.status, std::move(o.message), std::move(o.code)));
  return false;
}

// on_log gets the request record; what it changes of the record's metadata
// (tags, a cost centre) goes to the sinks with it.
void Exchange::logPolicies(RequestRecord* record) {
  lua::RequestView view;
  view.id = record->id;
  view.model = record->requested_model;
  view.subject = record->subject;
  view.team = record->team;
  view.metadata = &record->metadata;
  view.request = nullptr;  // the client's request is gone
  spec_.policies->onLog(view, record);
}

}  // namespace sluice::pipeline
