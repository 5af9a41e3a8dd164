// The exchange's guardrail phases: input guardrails on the client's body
// before anything is sent (phase 6), output guardrails on a whole answer
// before it is returned (phase 9). Streams go through StreamGuard.
#include "pipeline/exchange.h"
#include "pipeline/record_fill.h"
#include "util/clock.h"

namespace sluice::pipeline {
namespace {

// The hooks of each side, in the order they run.
constexpr GuardHook kRequestHooks[] = {GuardHook::LlmInput, GuardHook::McpPostTool};
constexpr GuardHook kResponseHooks[] = {GuardHook::LlmOutput, GuardHook::McpPreTool};

// Text a stream's guardrails hold or wait on beyond this pauses the upstream.
constexpr size_t kMaxGuardBacklog = 1 << 20;

// The texts of a request done with, kept per worker thread: the next request's texts reuse
// their buffers instead of allocating. A long text's buffer is not kept.
thread_local std::vector<std::string> t_spare_texts;
constexpr size_t kMaxKeptText = 64 * 1024;
// The string items' list likewise; a long one is not kept.
thread_local std::vector<cJSON*> t_spare_items;
constexpr size_t kMaxKeptItems = 1024;

// A list without a buffer takes the spare one.
template <typename T>
void takeSpare(std::vector<T>* list, std::vector<T>* spare) {
  if (list->capacity() == 0) list->swap(*spare);
}

void giveSpareTexts(std::vector<std::string>* texts) {
  for (std::string& s : *texts) {
    if (s.capacity() > kMaxKeptText) std::string().swap(s);
  }
  if (texts->size() > t_spare_texts.size()) texts->swap(t_spare_texts);
  *texts = {};
}

void giveSpareItems(std::vector<cJSON*>* items) {
  if (items->capacity() <= kMaxKeptItems && items->capacity() > t_spare_items.capacity()) {
    items->swap(t_spare_items);
  }
  *items = {};
}

}  // namespace

void Exchange::guardInput() {
  RequestGuards* guards = spec_.guards.get();
  cJSON* parsed = spec_.parsed_body.release();
  bool have = parsed && guard_json_.adopt(parsed);
  if (!guards || !(guards->runs(GuardHook::LlmInput) || guards->runs(GuardHook::McpPostTool)) ||
      !(have || guard_json_.parse(clientBody()))) {
    send();
    return;
  }
  guardRequestHook(0, util::monotonicNs());
}

// Runs the request hooks from `next` on; the body is printed again only
// when a guardrail changed a text.
void Exchange::guardRequestHook(size_t next, uint64_t start_ns) {
  for (; next < std::size(kRequestHooks); next++) {
    GuardHook hook = kRequestHooks[next];
    if (!spec_.guards->runs(hook)) continue;
    takeSpare(&guard_items_, &t_spare_items);
    guard_json_.requestItems(hook, &guard_items_);
    if (guard_items_.empty()) continue;
    takeSpare(&guard_texts_, &t_spare_texts);
    GuardedJson::texts(guard_items_, &guard_texts_);
    // The answer's callback captures `this` alone: std::function keeps it without allocating.
    guard_hook_ = next;
    guard_start_ns_ = start_ns;
    spec_.guards->run(hook, &guard_texts_, [this](const GuardOutcome& o) {
      Hold hold(this);
      guard_in_ns_ = util::monotonicNs() - guard_start_ns_;
      if (o.blocked) {
        guardBlocked(o);
        return;
      }
      if (o.changed) guard_changed_ |= GuardedJson::write(guard_items_, guard_texts_);
      guardRequestHook(guard_hook_ + 1, guard_start_ns_);
    });
    return;
  }
  if (guard_changed_) {
    guarded_body_ = guard_json_.print();
    if (record_->bodies_logged) {  // the record keeps what was sent, not what was redacted
      record_->request_body.clear();
      appendCapped(&record_->request_body, guarded_body_,
                   spec_.gateway->config().logging.max_body_bytes);
    }
  }
  // The request's tree is done with: freed once the upstream call is under way, as an
  // unguarded request's parse is (its many small blocks, freed before, make that call's
  // allocations slow), and not kept with the exchange, so the answer reuses that memory.
  GuardedJson request_tree = std::move(guard_json_);
  giveSpareItems(&guard_items_);
  giveSpareTexts(&guard_texts_);
  guard_done_ns_ = util::monotonicNs();
  guard_in_ns_ = guard_done_ns_ - start_ns;
  send();
}

void Exchange::respondWhole(std::string_view body) {
  RequestGuards* guards = spec_.guards.get();
  if (!guards || status_ >= 300 ||
      !(guards->runs(GuardHook::LlmOutput) || guards->runs(GuardHook::McpPreTool)) ||
      !guard_json_.parse(body)) {
    respondNow(body);
    return;
  }
  guard_changed_ = false;
  guardResponseHook(0, util::monotonicNs(), body);
}

// `body` stays valid across the guardrails' answers: it points into the
// exchange's own buffers, which nothing changes meanwhile.
void Exchange::guardResponseHook(size_t next, uint64_t start_ns, std::string_view body) {
  for (; next < std::size(kResponseHooks); next++) {
    GuardHook hook = kResponseHooks[next];
    if (!spec_.guards->runs(hook)) continue;
    takeSpare(&guard_items_, &t_spare_items);
    guard_json_.responseItems(hook, &guard_items_);
    if (guard_items_.empty()) continue;
    takeSpare(&guard_texts_, &t_spare_texts);
    GuardedJson::texts(guard_items_, &guard_texts_);
    spec_.guards->run(hook, &guard_texts_, [this, next, start_ns, body](const GuardOutcome& o) {
      Hold hold(this);
      guard_out_ns_ = util::monotonicNs() - start_ns;
      if (o.blocked) {
        guardBlocked(o);
        return;
      }
      if (o.changed) guard_changed_ |= GuardedJson::write(guard_items_, guard_texts_);
      guardResponseHook(next + 1, start_ns, body);
    });
    return;
  }
  guard_out_ns_ = util::monotonicNs() - start_ns;
  giveSpareItems(&guard_items_);
  giveSpareTexts(&guard_texts_);
  if (!guard_changed_) {
    respondNow(body);
    return;
  }
  std::string edited = guard_json_.print();
  respondNow(edited);
}

void Exchange::guardStream() {
  stream_guard_ = std::make_unique<StreamGuard>(
      spec_.guards.get(), [this](std::string_view chunk) { sendEvent(chunk); },
      [this](const GuardOutcome& o) {
        if (upstream_) {
          upstream_->cancel();
          upstream_ = nullptr;
          upstream_done_ = true;
        }
        guardBlocked(o);
      },
      [this](const std::function<void()>& work) {
        Hold hold(this);
        work();
        if (upstream_ && !client_done_ && !res_.congested() && !guardBacklogged()) {
          upstream_->resume();
        }
      });
}

bool Exchange::guardBacklogged() const {
  return stream_guard_ && stream_guard_->backlog() > kMaxGuardBacklog;
}

void Exchange::sendEvent(std::string_view data) {
  std::string event;
  event.reserve(data.size() + 8);
  event.append("data: ").append(data).append("\n\n");
  if (out_) {
    out_->append(event);  // body() logs the batch
  } else {
    if (record_->bodies_logged) {
      appendCapped(&record_->response_body, event, spec_.gateway->config().logging.max_body_bytes);
    }
    res_.write(event);
  }
}

// A block answers 400 guardrail_blocked naming the guardrail and its reason
// (the plugin's words: never the matched value). Before the first byte, that
// is the answer; afterwards the stream ends with the same error as an event.
void Exchange::guardBlocked(const GuardOutcome& o) {
  ApiError e = makeError(400, "guardrail '" + o.guardrail + "' blocked this request: " + o.reason,
                         "guardrail_blocked");
  if (res_.started()) {
    streamFailed(e);
  } else {
    fail(e);
  }
}

}  // namespace sluice::pipeline
