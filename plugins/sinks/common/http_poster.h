// For sinks that deliver over HTTP (otlp, clickhouse, webhook): POSTs made
// through the host's client on the sink thread's loop, at most
// `max_in_flight` at a time. A POST that cannot start, fails or is answered
// with a non-2xx status counts its records as dropped; the log says why once
// per distinct reason, so a dead endpoint does not flood it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <utility>
#include <vector>

#include "sluice/plugin.h"

struct cJSON;

namespace sluice::sink_http {

using Headers = std::vector<std::pair<std::string, std::string>>;

inline bool isHttpUrl(const std::string& url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

class HttpPoster {
 public:
  HttpPoster(const sluice_host* host, std::string plugin)
      : host_(host), plugin_(std::move(plugin)) {}
  ~HttpPoster() { cancelAll(); }
  HttpPoster(const HttpPoster&) = delete;
  HttpPoster& operator=(const HttpPoster&) = delete;

  // Reads the delivery keys the HTTP sinks share — max_in_flight,
  // timeout_ms and the `headers` mapping (into *headers) — from a config
  // block. False, with *why, when they are malformed.
  bool configure(const cJSON* cfg, int64_t default_in_flight, Headers* headers, std::string* why);

  void attach(sluice_worker* worker) { worker_ = worker; }
  bool attached() const { return worker_ != nullptr; }
  void setLimits(uint32_t max_in_flight, uint32_t timeout_ms) {
    max_in_flight_ = max_in_flight;
    timeout_ms_ = timeout_ms;
  }

  // Done: called with the status (0 when the call failed) and the body.
  using Done = std::function<void(int status, const std::string& body)>;
  // Starts a POST (or another method). False when it could not start (not
  // attached, too many in flight): the records are then counted dropped.
  bool post(const std::string& url, const Headers& headers, const std::string& body,
            uint64_t records, Done done = nullptr, const char* method = "POST");

  size_t inFlight() const { return calls_.size(); }
  bool busy() const { return calls_.size() >= max_in_flight_; }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  void addDropped(uint64_t n) { dropped_.fetch_add(n, std::memory_order_relaxed); }
  // Cancels every call in flight (their records count as dropped).
  void cancelAll();
  // Logs `why` unless it is the reason last logged.
  void complain(const std::string& why);

 private:
  struct Call {
    HttpPoster* poster;
    sluice_http_call* handle = nullptr;
    uint64_t records;
    Done done;
    std::list<Call>::iterator self;
  };
  static void onResponse(void* user, const sluice_http_response* res);

  const sluice_host* host_;
  std::string plugin_;
  sluice_worker* worker_ = nullptr;
  uint32_t max_in_flight_ = 4;
  uint32_t timeout_ms_ = 10000;
  std::list<Call> calls_;
  std::atomic<uint64_t> dropped_{0};
  std::string last_complaint_;
};

}  // namespace sluice::sink_http
