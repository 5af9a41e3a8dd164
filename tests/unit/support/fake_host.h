// A recording fake of the host-services table (sluice_host) for plugin unit
// tests: log lines, metrics, counters and HTTP calls are recorded; the clock
// is manual and timers fire only when a test advances it, so tests never sleep.
//
// The table holds plain C function pointers with no user context, so one
// FakeHost is "current" at a time (the most recently constructed one).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::testing {

inline std::string toString(sluice_str s) { return s.ptr ? std::string(s.ptr, s.len) : ""; }

class FakeHost {
 public:
  struct LogLine {
    sluice_log_level level;
    std::string plugin;
    std::string message;
  };
  struct Timer {
    sluice_worker* worker;
    uint64_t delay_ms;
    uint64_t due_ms;
    uint64_t seq;  // start order, breaks ties between equal deadlines
    sluice_timer_cb cb;
    void* user;
    bool cancelled = false;
    bool fired = false;
    bool pending() const { return !cancelled && !fired; }
  };
  struct HttpCall {
    sluice_worker* worker;
    std::string method;
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    uint32_t timeout_ms;
    sluice_http_cb cb;
    void* user;
    bool cancelled = false;
    bool answered = false;
  };

  FakeHost() : previous_(current()) {
    current() = this;
    table_.struct_size = sizeof(sluice_host);
    table_.abi_minor = SLUICE_ABI_MINOR;
    table_.log = &FakeHost::log;
    table_.now_ms = &FakeHost::nowMs;
    table_.monotonic_ns = &FakeHost::monotonicNs;
    table_.metric_add = &FakeHost::metricAdd;
    table_.metric_observe = &FakeHost::metricObserve;
    table_.secret = &FakeHost::secret;
    table_.counter_add = &FakeHost::counterAdd;
    table_.timer_start = &FakeHost::timerStart;
    table_.timer_cancel = &FakeHost::timerCancel;
    table_.http_request = &FakeHost::httpRequest;
    table_.http_cancel = &FakeHost::httpCancel;
  }
  ~FakeHost() { current() = previous_; }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  const sluice_host* table() const { return &table_; }

  // -- clock and timers ----------------------------------------------------
  uint64_t now() const { return now_ms_; }
  // Moves the clock forward, firing every timer that falls due (including
  // timers started by callbacks, if they fall due within the step) in order.
  void advance(uint64_t ms) {
    uint64_t target = now_ms_ + ms;
    while (Timer* t = nextDue(target)) {
      now_ms_ = std::max(now_ms_, t->due_ms);
      t->fired = true;
      t->cb(t->user);
    }
    now_ms_ = target;
  }
  // Fires every pending timer, however far away, until none is left.
  void runAllTimers() {
    while (Timer* t = nextDue(UINT64_MAX)) {
      now_ms_ = std::max(now_ms_, t->due_ms);
      t->fired = true;
      t->cb(t->user);
    }
  }
  size_t pendingTimers() const {
    return std::count_if(timers_.begin(), timers_.end(),
                         [](const std::unique_ptr<Timer>& t) { return t->pending(); });
  }
  const std::deque<std::unique_ptr<Timer>>& timers() const { return timers_; }

  // -- recordings ----------------------------------------------------------
  std::vector<LogLine> logs;
  std::map<std::string, double> counters;  // metric_add sums
  std::vector<std::pair<std::string, double>> observations;
  std::map<std::string, std::string> secrets;  // ref -> value for host->secret
  std::map<std::string, int64_t> shared_counters;
  std::deque<HttpCall> http_calls;
  int late_timer_cancels = 0;  // timer_cancel on a timer that already fired

  bool logged(const std::string& needle) const {
    for (const LogLine& l : logs) {
      if (l.message.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  // Answers recorded HTTP call `i` (calls its callback once).
  void respond(size_t i, int status, const std::string& body,
               const std::vector<sluice_header>& headers = {}) {
    HttpCall& c = http_calls.at(i);
    if (c.cancelled || c.answered) return;
    c.answered = true;
    sluice_http_response res{};
    res.struct_size = sizeof(res);
    res.status = status;
    res.headers = headers.data();
    res.header_count = headers.size();
    res.body = {body.data(), body.size()};
    c.cb(c.user, &res);
  }

  // Fails recorded HTTP call `i` the way the host reports a transport error (status 0).
  void fail(size_t i, const std::string& error) {
    HttpCall& c = http_calls.at(i);
    if (c.cancelled || c.answered) return;
    c.answered = true;
    sluice_http_response res{};
    res.struct_size = sizeof(res);
    res.error = {error.data(), error.size()};
    c.cb(c.user, &res);
  }

  static FakeHost*& current() {
    static FakeHost* host = nullptr;
    return host;
  }

 private:
  Timer* nextDue(uint64_t limit) {
    Timer* best = nullptr;
    for (auto& t : timers_) {
      if (!t->pending() || t->due_ms > limit) continue;
      if (!best || t->due_ms < best->due_ms || (t->due_ms == best->due_ms && t->seq < best->seq)) {
        best = t.get();
      }
    }
    return best;
  }

  static void log(sluice_log_level level, const char* plugin, const char* message) {
    current()->logs.push_back({level, plugin ? plugin : "", message ? message : ""});
  }
  static uint64_t nowMs() { return current()->now_ms_; }
  static uint64_t monotonicNs() { return current()->now_ms_ * 1000000ull; }
  static void metricAdd(const char* name, double value) { current()->counters[name] += value; }
  static void metricObserve(const char* name, double value) {
    current()->observations.emplace_back(name, value);
  }
  static const char* secret(const char* ref) {
    auto& m = current()->secrets;
    auto it = m.find(ref);
    return it == m.end() ? nullptr : it->second.c_str();
  }
  static int64_t counterAdd(const char* key, int64_t delta, uint32_t ttl_seconds) {
    return current()->shared_counters[key] += delta;
  }
  static sluice_timer* timerStart(sluice_worker* worker, uint64_t delay_ms, sluice_timer_cb cb,
                                  void* user) {
    FakeHost* h = current();
    auto t = std::make_unique<Timer>(
        Timer{worker, delay_ms, h->now_ms_ + delay_ms, h->timer_seq_++, cb, user});
    Timer* raw = t.get();
    h->timers_.push_back(std::move(t));
    return reinterpret_cast<sluice_timer*>(raw);
  }
  // The real host releases a timer once it fired; cancelling it then is a
  // use after free, counted here so tests can assert there was none.
  static void timerCancel(sluice_timer* timer) {
    if (!timer) return;
    auto* t = reinterpret_cast<Timer*>(timer);
    if (t->fired) current()->late_timer_cancels++;
    t->cancelled = true;
  }
  static sluice_http_call* httpRequest(sluice_worker* worker, const sluice_http_request* req,
                                       sluice_http_cb cb, void* user) {
    FakeHost* h = current();
    HttpCall c{worker,
               toString(req->method),
               toString(req->url),
               {},
               toString(req->body),
               req->timeout_ms,
               cb,
               user};
    for (size_t i = 0; i < req->header_count; i++) {
      c.headers.emplace_back(toString(req->headers[i].name), toString(req->headers[i].value));
    }
    h->http_calls.push_back(std::move(c));
    return reinterpret_cast<sluice_http_call*>(&h->http_calls.back());
  }
  static void httpCancel(sluice_http_call* call) {
    if (call) reinterpret_cast<HttpCall*>(call)->cancelled = true;
  }

  FakeHost* previous_;
  sluice_host table_{};
  uint64_t now_ms_ = 1700000000000ull;
  uint64_t timer_seq_ = 0;
  std::deque<std::unique_ptr<Timer>> timers_;
};

// Records what a provider's decoders emit.
class RecordingEmitter {
 public:
  struct Usage {
    int64_t prompt, completion, cached;
  };
  std::vector<std::string> chunks;
  std::vector<Usage> usages;
  std::string order;  // 'c' per chunk, 'u' per usage, in call order

  const sluice_emitter* table() {
    table_ = {this, &RecordingEmitter::chunk, &RecordingEmitter::usage};
    return &table_;
  }

 private:
  static void chunk(void* ctx, const char* json, size_t len) {
    auto* e = static_cast<RecordingEmitter*>(ctx);
    e->chunks.emplace_back(json, len);
    e->order += 'c';
  }
  static void usage(void* ctx, int64_t prompt, int64_t completion, int64_t cached) {
    auto* e = static_cast<RecordingEmitter*>(ctx);
    e->usages.push_back({prompt, completion, cached});
    e->order += 'u';
  }
  sluice_emitter table_{};
};

// Records a local (mock) response: the kernel's side of local_respond. Each
// event is stamped with the current FakeHost clock.
class RecordingLocalResponse {
 public:
  int starts = 0;
  int finishes = 0;
  int status = 0;
  std::string content_type;
  uint64_t start_ms = 0;
  uint64_t finish_ms = 0;
  std::vector<std::string> writes;
  std::vector<uint64_t> write_ms;
  bool wrote_after_finish = false;
  // Runs after each recorded write (e.g. to cancel from inside it).
  std::function<void()> on_write;

  std::string body() const {
    std::string all;
    for (const std::string& w : writes) all += w;
    return all;
  }

  const sluice_local_response* table() {
    table_ = {this, &RecordingLocalResponse::start, &RecordingLocalResponse::write,
              &RecordingLocalResponse::finish};
    return &table_;
  }

 private:
  static uint64_t now() { return FakeHost::current() ? FakeHost::current()->now() : 0; }
  static void start(void* ctx, int status, const char* content_type) {
    auto* r = static_cast<RecordingLocalResponse*>(ctx);
    r->starts++;
    r->status = status;
    r->content_type = content_type ? content_type : "";
    r->start_ms = now();
  }
  static void write(void* ctx, const char* data, size_t len) {
    auto* r = static_cast<RecordingLocalResponse*>(ctx);
    if (r->finishes) r->wrote_after_finish = true;
    r->writes.emplace_back(data, len);
    r->write_ms.push_back(now());
    if (r->on_write) r->on_write();
  }
  static void finish(void* ctx) {
    auto* r = static_cast<RecordingLocalResponse*>(ctx);
    r->finishes++;
    r->finish_ms = now();
  }
  sluice_local_response table_{};
};

// A provider call for `endpoint` with `body`; the strings must outlive it.
inline sluice_provider_call makeCall(sluice_endpoint endpoint, const std::string& body,
                                     const std::string& model, bool stream = false,
                                     const std::string& request_id = "") {
  sluice_provider_call call{};
  call.struct_size = sizeof(call);
  call.endpoint = endpoint;
  call.model = {model.data(), model.size()};
  call.stream = stream ? 1 : 0;
  call.body = {body.data(), body.size()};
  call.worker = reinterpret_cast<sluice_worker*>(0x1);  // opaque to plugins
  call.request_id = {request_id.data(), request_id.size()};
  return call;
}

inline sluice_upstream_request emptyUpstream() {
  sluice_upstream_request out{};
  out.struct_size = sizeof(out);
  return out;
}

// The headers of an upstream request as (name, value) pairs, in order.
inline std::vector<std::pair<std::string, std::string>> headersOf(
    const sluice_upstream_request& out) {
  std::vector<std::pair<std::string, std::string>> h;
  for (size_t i = 0; i < out.header_count; i++) {
    h.emplace_back(toString(out.headers[i].name), toString(out.headers[i].value));
  }
  return h;
}

}  // namespace sluice::testing
