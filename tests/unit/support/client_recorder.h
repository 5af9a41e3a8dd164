// Records what an upstream HTTP client call delivers, with optional hooks a
// test uses to pause, cancel or start calls from inside a callback.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "http/client.h"

namespace sluice::testing {

struct ClientRecorder : http::ClientHandler {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int head_calls = 0;
  int body_calls = 0;
  size_t max_chunk = 0;
  bool ended = false;
  bool errored = false;
  int calls_after_done = 0;  // must stay 0: nothing after onEnd/onError
  http::ClientError error = http::ClientError::None;
  std::string detail;
  http::Call* call = nullptr;  // set by the test when it wants hooks to use it
  std::function<void(ClientRecorder&)> on_head;
  std::function<void(ClientRecorder&)> on_body;
  std::function<void(ClientRecorder&)> on_end;
  std::function<void(ClientRecorder&)> on_error;

  bool done() const { return ended || errored; }
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }

  void onHead(int s, const std::vector<std::pair<std::string, std::string>>& h) override {
    if (done()) calls_after_done++;
    head_calls++;
    status = s;
    headers = h;
    if (on_head) on_head(*this);
  }
  void onBody(const char* data, size_t len) override {
    if (done()) calls_after_done++;
    body_calls++;
    body.append(data, len);
    if (len > max_chunk) max_chunk = len;
    if (on_body) on_body(*this);
  }
  void onEnd() override {
    if (done()) calls_after_done++;
    ended = true;
    if (on_end) on_end(*this);
  }
  void onError(http::ClientError e, const std::string& d) override {
    if (done()) calls_after_done++;
    errored = true;
    error = e;
    detail = d;
    if (on_error) on_error(*this);
  }
};

}  // namespace sluice::testing
