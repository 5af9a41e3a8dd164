#include "pipeline/guard_run.h"

#include <algorithm>

#include "util/log.h"

namespace sluice::pipeline {
namespace {

constexpr size_t kNoSegment = static_cast<size_t>(-1);

// The joined text of a request done with, kept per worker thread with its buffer for the
// next request's; a long one is not kept.
thread_local std::string t_spare_joined;
constexpr size_t kMaxKeptJoined = 64 * 1024;

sluice_str ss(std::string_view s) { return sluice_str{s.data(), s.size()}; }
std::string_view sv(sluice_str s) { return std::string_view(s.ptr ? s.ptr : "", s.ptr ? s.len : 0); }

}  // namespace

struct RequestGuards::Check {
  RequestGuards* owner = nullptr;
  const Guardrail* g = nullptr;
  size_t segment = kNoSegment;
  sluice_timer* timer = nullptr;
  bool issued = false;
  bool in_check = false;  // inside the plugin's check(): an answer now is handled on return
  bool completed = false;
  // The answer, copied: the plugin's memory is only valid during its call.
  sluice_verdict verdict = SLUICE_VERDICT_PASS;
  std::string reason;
  std::string content;
  struct Finding {
    std::string type;
    uint32_t count;
    std::string action;
  };
  std::vector<Finding> findings;
  size_t hold_bytes = 0;

  void take(const sluice_guard_result& r) {
    verdict = r.verdict;
    reason.assign(sv(r.reason));
    content.assign(sv(r.content));
    findings.clear();
    for (size_t i = 0; i < r.finding_count && r.findings; i++) {
      findings.push_back({std::string(sv(r.findings[i].type)), r.findings[i].count,
                          std::string(sv(r.findings[i].action))});
    }
    // A plugin built for ABI 1.0 never writes hold_bytes: the host zeroed it.
    hold_bytes = r.hold_bytes;
    completed = true;
  }
  void fail(std::string why) {
    verdict = SLUICE_VERDICT_FAIL;
    reason = std::move(why);
    completed = true;
  }
  // As new, keeping the strings' buffers; a mutated text's only while small (it may be
  // megabytes).
  void reset(size_t max_kept_content) {
    owner = nullptr;
    g = nullptr;
    segment = kNoSegment;
    timer = nullptr;
    issued = in_check = completed = false;
    verdict = SLUICE_VERDICT_PASS;
    reason.clear();
    if (content.capacity() > max_kept_content) {
      std::string().swap(content);
    } else {
      content.clear();
    }
    findings.clear();
    hold_bytes = 0;
  }
};

// Checks done with, kept per thread for the next ones: a request issues several (one per
// mutate guardrail and text, one per validation), and their strings keep their buffers.
class RequestGuards::Spares {
 public:
  ~Spares() {
    for (Check* c : spares_) delete c;
  }
  Check* take() {
    if (spares_.empty()) return new Check;
    Check* c = spares_.back();
    spares_.pop_back();
    return c;
  }
  void give(Check* c) {
    if (spares_.size() >= kMaxSpares) {
      delete c;
      return;
    }
    c->reset(kMaxKeptContent);
    spares_.push_back(c);
  }
  // A request's lists of plugin states and checks in flight, with the buffers of the last
  // request's.
  void takeLists(std::vector<void*>* states, std::vector<Check*>* checks) {
    states->swap(states_);
    checks->swap(checks_);
  }
  void giveLists(std::vector<void*>* states, std::vector<Check*>* checks) {
    if (states->capacity() > states_.capacity()) states->swap(states_);
    if (checks->capacity() > checks_.capacity()) checks->swap(checks_);
  }
  // A request's plan and context likewise, member by member: std::swap moves each whole
  // struct three times.
  void swapParts(GuardPlan* plan, GuardContext* context) {
    for (size_t h = 0; h < kGuardHookCount; h++) plan->hooks[h].swap(plan_.hooks[h]);
    plan->rule_ids.swap(plan_.rule_ids);
    context->request_id.swap(context_.request_id);
    context->model.swap(context_.model);
    context->subject.swap(context_.subject);
    context->metadata_json.swap(context_.metadata_json);
  }

 private:
  static constexpr size_t kMaxSpares = 64;
  static constexpr size_t kMaxKeptContent = 64 * 1024;
  std::vector<Check*> spares_;
  std::vector<void*> states_;
  std::vector<Check*> checks_;
  GuardPlan plan_;
  GuardContext context_;
};

thread_local RequestGuards::Spares RequestGuards::spares_;

RequestGuards::Check* RequestGuards::newCheck(const Guardrail* g, size_t segment) {
  Check* c = spares_.take();
  c->owner = this;
  c->g = g;
  c->segment = segment;
  checks_.push_back(c);
  return c;
}

RequestGuards::RequestGuards(sluice_worker* worker, GuardPlan plan, GuardContext context,
                             size_t slots)
    : worker_(worker), plan_(std::move(plan)), context_(std::move(context)) {
  spares_.takeLists(&states_, &checks_);
  states_.assign(slots, nullptr);
  checks_.clear();
  checks_.reserve(slots);  // at most one check per guardrail is in flight
}

RequestGuards::~RequestGuards() {
  cancel();
  if (run_.joined.capacity() <= kMaxKeptJoined &&
      run_.joined.capacity() > t_spare_joined.capacity()) {
    run_.joined.swap(t_spare_joined);
  }
  // Every plugin that kept state for this request gets it back once.
  for (const auto& list : plan_.hooks) {
    for (const Guardrail* g : list) {
      void*& state = states_[g->index];
      if (state && g->hasRequestEnd()) g->vt->request_end(g->instance, state);
      state = nullptr;
    }
  }
  spares_.giveLists(&states_, &checks_);
  spares_.swapParts(&plan_, &context_);
}

void RequestGuards::swapSpares(GuardPlan* plan, GuardContext* context) {
  spares_.swapParts(plan, context);
}

void RequestGuards::run(GuardHook hook, std::vector<std::string>* segments, Done done) {
  Run& r = run_;
  r.hook = hook;
  r.segments = segments;
  r.done = std::move(done);
  r.guards = &plan_.of(hook);
  r.next_guard = 0;
  r.next_segment = 0;
  r.validating = false;
  if (r.joined.capacity() < t_spare_joined.capacity()) r.joined.swap(t_spare_joined);
  r.joined.clear();
  r.outstanding = 0;
  r.outcome = GuardOutcome{};
  running_ = true;
  step();
}

void RequestGuards::cancel() {
  abandonChecks();
  running_ = false;
  run_.done = nullptr;
}

// Checks still out are cancelled (the plugin calls nothing after that), and
// checks not started yet are dropped.
void RequestGuards::abandonChecks() {
  for (Check* c : checks_) {
    if (c->timer) plugins::hostServices()->timer_cancel(c->timer);
    c->timer = nullptr;
    if (c->issued && !c->completed && c->g->vt->cancel) c->g->vt->cancel(c->g->instance, c);
    spares_.give(c);
  }
  checks_.clear();
}

// Mutations go one guardrail and one segment at a time; when they are done,
// every validation starts at once on the (mutated) text.
void RequestGuards::step() {
  Run& r = run_;
  const auto& guards = *r.guards;
  while (!r.validating) {
    if (r.next_guard >= guards.size() || guards[r.next_guard]->validate()) {
      r.validating = true;
      break;
    }
    const Guardrail* g = guards[r.next_guard];
    if (r.next_segment >= r.segments->size()) {
      r.next_guard++;
      r.next_segment = 0;
      continue;
    }
    Check* c = newCheck(g, r.next_segment++);
    if (!issue(c)) return;  // its answer comes later, through answered()
    apply(c);
    release(c);
    if (r.outcome.blocked) return finish();
  }

  size_t joined_size = 0;
  for (const auto& s : *r.segments) joined_size += s.size() + 2;
  r.joined.reserve(joined_size);  // one allocation for the whole text
  for (const auto& s : *r.segments) {
    if (!r.joined.empty()) r.joined.append("\n\n");
    r.joined.append(s);
  }
  // Validations are issued one after another; a block among them ends the run before the
  // rest are made.
  const size_t first = r.next_guard;
  r.next_guard = guards.size();
  r.outstanding = guards.size() - first;
  for (size_t i = first; i < guards.size(); i++) {
    Check* c = newCheck(guards[i], kNoSegment);
    if (!issue(c)) continue;
    r.outstanding--;
    apply(c);
    release(c);
    if (r.outcome.blocked) {
      abandonChecks();  // the first block wins: the rest are not needed
      return finish();
    }
  }
  if (r.outstanding == 0) finish();
}

bool RequestGuards::issue(Check* c) {
  const Run& r = run_;
  std::string_view text = c->segment == kNoSegment ? std::string_view(r.joined)
                                                   : std::string_view((*r.segments)[c->segment]);
  sluice_guard_input in{};
  in.struct_size = sizeof in;
  in.hook = hookAbi(r.hook);
  in.content = ss(text);
  in.model = ss(context_.model);
  in.subject = ss(context_.subject);
  in.metadata_json = ss(context_.metadata_json);
  in.worker = worker_;
  in.done = &RequestGuards::onDone;
  in.token = c;
  in.request_id = ss(context_.request_id);
  in.request_state = &states_[c->g->index];
  sluice_guard_result res{};
  res.struct_size = sizeof res;
  c->issued = true;
  c->in_check = true;
  int rc = c->g->vt->check(c->g->instance, &in, &res);
  c->in_check = false;
  if (rc == SLUICE_OK) {
    c->take(res);
  } else if (rc != SLUICE_PENDING) {
    c->fail("the plugin returned error " + std::to_string(rc));
  }
  if (c->completed) return true;
  c->timer = plugins::hostServices()->timer_start(worker_, c->g->config->timeout_ms,
                                                  &RequestGuards::onTimeout, c);
  return false;
}

void RequestGuards::onDone(void* token, const sluice_guard_result* result) {
  auto* c = static_cast<Check*>(token);
  if (c->completed) return;  // a second answer, or one after the timeout: ignored
  if (result) {
    c->take(*result);
  } else {
    c->fail("the plugin answered without a result");
  }
  if (c->in_check) return;  // check() has not returned yet: issue() picks it up
  c->owner->answered(c);
}

void RequestGuards::onTimeout(void* user) {
  auto* c = static_cast<Check*>(user);
  c->timer = nullptr;  // the host frees a timer once it fired
  if (c->g->vt->cancel) c->g->vt->cancel(c->g->instance, c);
  c->fail("no answer within " + std::to_string(c->g->config->timeout_ms) + " ms");
  c->owner->answered(c);
}

// A late answer. Whatever happens next, nothing here touches `this` after
// step() or finish(): the request may be over when they return.
void RequestGuards::answered(Check* c) {
  Run& r = run_;
  apply(c);
  release(c);
  if (!r.validating) {
    if (r.outcome.blocked) return finish();
    return step();
  }
  r.outstanding--;
  if (r.outcome.blocked) {
    abandonChecks();  // the first block wins: the rest are not needed
    return finish();
  }
  if (r.outstanding == 0) finish();
}

void RequestGuards::finish() {
  running_ = false;
  Done done = std::move(run_.done);
  run_.done = nullptr;
  GuardOutcome outcome = std::move(run_.outcome);
  done(outcome);
}

void RequestGuards::release(Check* c) {
  if (c->timer) plugins::hostServices()->timer_cancel(c->timer);
  c->timer = nullptr;
  auto it = std::find(checks_.begin(), checks_.end(), c);
  if (it != checks_.end()) checks_.erase(it);
  spares_.give(c);
}

// One guardrail's answer under its mode: audit only records; enforce blocks
// on a finding and lets a failed guardrail through; strict blocks on both.
void RequestGuards::apply(Check* c) {
  Run& r = run_;
  const Guardrail& g = *c->g;
  manifest::GuardMode mode = g.config->mode;
  bool audit = mode == manifest::GuardMode::Audit;
  const std::string& name = g.config->name;
  switch (c->verdict) {
    case SLUICE_VERDICT_PASS:
      break;
    case SLUICE_VERDICT_MUTATE:
      if (!audit && c->segment != kNoSegment) {
        (*r.segments)[c->segment] = std::move(c->content);
        r.outcome.changed = true;
      }
      break;
    case SLUICE_VERDICT_BLOCK:
      if (!audit && !r.outcome.blocked) {
        r.outcome.blocked = true;
        r.outcome.guardrail = name;
        r.outcome.reason = c->reason.empty() ? "blocked" : c->reason;
      }
      break;
    case SLUICE_VERDICT_FAIL:
    default:
      failures_++;
      if (mode == manifest::GuardMode::Strict) {
        util::logWarn("guardrail", "'" + name + "' failed (" + c->reason + "): strict mode blocks");
        if (!r.outcome.blocked) {
          r.outcome.blocked = true;
          r.outcome.guardrail = name;
          r.outcome.reason = "the guardrail failed: " + c->reason;
        }
      } else {
        util::logWarn("guardrail", "'" + name + "' failed (" + c->reason + "): " +
                                       (audit ? "audit" : "enforce") + " mode lets it through");
      }
      break;
  }
  if (c->verdict == SLUICE_VERDICT_PASS || c->verdict == SLUICE_VERDICT_MUTATE) {
    r.outcome.hold_bytes = std::max(r.outcome.hold_bytes, c->hold_bytes);
  }
  for (const auto& f : c->findings) {
    std::string action = audit ? "audit" : f.action;
    auto same = [&](const FindingRecord& x) {
      return x.guardrail == name && x.hook == hookName(r.hook) && x.type == f.type &&
             x.action == action;
    };
    auto it = std::find_if(findings_.begin(), findings_.end(), same);
    if (it != findings_.end()) {
      it->count += f.count;
    } else {
      findings_.push_back({name, hookName(r.hook), f.type, f.count, action});
    }
  }
}

}  // namespace sluice::pipeline
