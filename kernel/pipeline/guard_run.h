// One request's guardrails at work (phases 6 and 9): runs a hook's
// guardrails over text segments — mutations in sequence, then validations in
// parallel, first block wins — with the manifest's modes, each guardrail's
// timeout, answers that come later (or before check() returns), and the
// per-request state a plugin keeps across hooks, messages and stream windows.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/guardrails.h"
#include "pipeline/record.h"
#include "plugins/host.h"

namespace sluice::pipeline {

struct GuardOutcome {
  bool blocked = false;
  std::string guardrail;  // the blocking guardrail's name
  std::string reason;     // its reason (never the matched value)
  bool changed = false;   // a mutation replaced a text (maybe by the same text)
  // Streams: trailing bytes of the (mutated) text that may still become
  // something a guardrail acts on; the caller holds them back.
  size_t hold_bytes = 0;
};

// What the guardrails see of the request besides the text.
struct GuardContext {
  std::string request_id;
  std::string model;
  std::string subject;
  std::string metadata_json;
};

class RequestGuards {
 public:
  using Done = std::function<void(const GuardOutcome&)>;

  RequestGuards(sluice_worker* worker, GuardPlan plan, GuardContext context, size_t slots);
  // Trades `plan` and `context` for the worker's spares: called on empty ones, they come back
  // with the buffers of a request the worker is done with; called again, they go back.
  static void swapSpares(GuardPlan* plan, GuardContext* context);
  // Cancels a check still pending and releases every plugin's request state.
  ~RequestGuards();
  RequestGuards(const RequestGuards&) = delete;
  RequestGuards& operator=(const RequestGuards&) = delete;

  const GuardPlan& plan() const { return plan_; }
  bool runs(GuardHook hook) const { return plan_.runs(hook); }
  bool busy() const { return running_; }

  // Runs `hook` over `segments`, which mutate guardrails rewrite in place.
  // `done` runs exactly once — possibly before run() returns — unless
  // cancel() comes first. One run at a time.
  void run(GuardHook hook, std::vector<std::string>* segments, Done done);
  // The client is gone: pending checks are cancelled, `done` never runs.
  void cancel();

  // Findings so far (types and counts per guardrail, hook and action).
  const std::vector<FindingRecord>& findings() const { return findings_; }
  // Guardrails that failed (timeout, error) and were let through.
  uint32_t failures() const { return failures_; }

 private:
  struct Check;
  // The run in progress. Kept for the request's next run, with its buffers.
  struct Run {
    GuardHook hook = GuardHook::LlmInput;
    std::vector<std::string>* segments = nullptr;
    Done done;
    const std::vector<const Guardrail*>* guards = nullptr;
    size_t next_guard = 0;    // mutations: the guardrail in turn...
    size_t next_segment = 0;  // ...and the segment it looks at next
    bool validating = false;
    std::string joined;  // what the validations look at
    size_t outstanding = 0;
    GuardOutcome outcome;
  };

  void step();                 // issues the next checks of the current run
  bool issue(Check* check);    // true when it answered at once
  void answered(Check* check);  // a check's result is in: apply it, go on
  void finish();
  void apply(Check* check);
  void abandonChecks();
  static void onDone(void* token, const sluice_guard_result* result);
  static void onTimeout(void* user);
  void release(Check* check);  // stops its timer, forgets it
  Check* newCheck(const Guardrail* g, size_t segment);

  class Spares;
  static thread_local Spares spares_;  // checks done with, for the worker's next ones

  sluice_worker* worker_;
  GuardPlan plan_;
  GuardContext context_;
  std::vector<void*> states_;  // request_state per guardrail slot
  Run run_;
  bool running_ = false;
  std::vector<Check*> checks_;  // in flight; each goes back to the worker's spares when done
  std::vector<FindingRecord> findings_;
  uint32_t failures_ = 0;
};

}  // namespace sluice::pipeline
