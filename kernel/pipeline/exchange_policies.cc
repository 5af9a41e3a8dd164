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

// What the request came to, for on_log; the metadata it leaves behind is the
// request's from then on.
void Exchange::logPolicies() {
  if (!spec_.policies || !spec_.policies->runs(lua::Hook::Log)) return;
  RequestRecord record;
  record.id = spec_.request_id;
  record.status = answered_status_ ? answered_status_ : 499;  // 499: the client left first
  record.requested_model = spec_.requested_model;
  if (sent_) {
    record.resolved_model = spec_.model->id;
    record.provider = spec_.model->provider->name;
  }
  record.stream = spec_.stream;
  record.prompt_tokens = usage_.prompt >= 0 ? usage_.prompt : 0;
  record.completion_tokens = usage_.completion >= 0 ? usage_.completion : 0;
  record.phases.total = static_cast<double>(util::monotonicNs() - start_ns_) / 1e6;
  record.metadata = spec_.metadata;
  lua::RequestView view = policyView();
  view.request = nullptr;  // the client's request is gone
  view.metadata = &record.metadata;
  spec_.policies->onLog(view, &record);
  spec_.metadata = std::move(record.metadata);
}

}  // namespace sluice::pipeline
