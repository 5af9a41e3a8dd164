// A libuv loop for tests: run until a condition holds (bounded by a
// watchdog, never by sleeping), and close with a count of handles someone
// forgot to close.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

namespace sluice::testing {

class UvTestLoop {
 public:
  UvTestLoop() {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &watchdog_);
    uv_prepare_init(&loop_, &check_);
    watchdog_.data = this;
    check_.data = this;
  }
  ~UvTestLoop() {
    if (!closed_) close();
  }
  UvTestLoop(const UvTestLoop&) = delete;
  UvTestLoop& operator=(const UvTestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }

  // Runs the loop until cond() is true; false if timeout_ms passed first.
  // The condition is checked before every poll, so the loop never blocks
  // once it holds (UV_RUN_ONCE would, after timers made it true).
  bool runUntil(const std::function<bool()>& cond, uint64_t timeout_ms = 5000) {
    if (cond()) return true;
    expired_ = false;
    cond_ = &cond;
    uv_update_time(&loop_);
    uv_timer_start(
        &watchdog_,
        [](uv_timer_t* t) {
          auto* self = static_cast<UvTestLoop*>(t->data);
          self->expired_ = true;
          uv_stop(&self->loop_);
        },
        timeout_ms, 0);
    uv_prepare_start(&check_, [](uv_prepare_t* p) {
      auto* self = static_cast<UvTestLoop*>(p->data);
      if ((*self->cond_)()) uv_stop(&self->loop_);
    });
    while (!cond() && !expired_) uv_run(&loop_, UV_RUN_DEFAULT);
    uv_prepare_stop(&check_);
    uv_timer_stop(&watchdog_);
    cond_ = nullptr;
    return cond();
  }

  // Lets pending callbacks run: loops until an iteration finds nothing to do
  // without blocking, at most `iterations` times.
  void settle(int iterations = 50) {
    for (int i = 0; i < iterations; ++i) {
      if (uv_run(&loop_, UV_RUN_NOWAIT) == 0) break;
    }
  }

  // Runs until every handle has closed (closing any left open, which are
  // counted), then closes the loop. Returns the number of leaked handles, or
  // -1 if the loop would not close.
  int close(uint64_t timeout_ms = 5000) {
    closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
    // Requests in flight (getaddrinfo, writes) finish on their own.
    uint64_t deadline = uv_now(&loop_) + timeout_ms;
    while (uv_loop_alive(&loop_) && uv_now(&loop_) < deadline) {
      if (activeHandles() > 0) break;  // something was left open
      uv_run(&loop_, UV_RUN_ONCE);
      uv_update_time(&loop_);
    }
    int leaked = 0;
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void* arg) {
          if (!uv_is_closing(h)) {
            ++*static_cast<int*>(arg);
            uv_close(h, nullptr);
          }
        },
        &leaked);
    uv_run(&loop_, UV_RUN_DEFAULT);
    return uv_loop_close(&loop_) == 0 ? leaked : -1;
  }

 private:
  int activeHandles() {
    int n = 0;
    uv_walk(
        &loop_,
        [](uv_handle_t* h, void* arg) {
          if (!uv_is_closing(h) && uv_is_active(h)) ++*static_cast<int*>(arg);
        },
        &n);
    return n;
  }

  uv_loop_t loop_;
  uv_timer_t watchdog_;
  uv_prepare_t check_;
  const std::function<bool()>* cond_ = nullptr;
  bool expired_ = false;
  bool closed_ = false;
};

}  // namespace sluice::testing
