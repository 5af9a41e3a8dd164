// Incremental Server-Sent Events parser (WHATWG event-stream framing): LF,
// CRLF or CR line ends, multi-line data joined with "\n", comments ignored.
// Bytes may arrive split anywhere; each complete event is reported once.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sluice::http {

class SseParser {
 public:
  // Called for each event with its name (empty when none) and data.
  // Returning false stops feed() early.
  template <typename F>
  bool feed(const char* data, size_t len, F&& on_event) {
    for (size_t i = 0; i < len; i++) {
      char c = data[i];
      if (skip_lf_) {
        skip_lf_ = false;
        if (c == '\n') continue;
      }
      if (c == '\r' || c == '\n') {
        skip_lf_ = (c == '\r');
        if (line_.empty()) {
          if (has_data_) {
            bool go = on_event(std::string_view(event_), std::string_view(data_));
            resetEvent();
            if (!go) return false;
          } else {
            resetEvent();
          }
        } else {
          takeLine();
        }
        line_.clear();
        continue;
      }
      line_.push_back(c);
      if (line_.size() > kMaxLine) return false;  // hostile upstream: refuse to grow forever
    }
    return true;
  }

  // Bytes of an incomplete event still held.
  size_t buffered() const { return line_.size() + data_.size(); }
  static constexpr size_t kMaxLine = 16 * 1024 * 1024;

 private:
  void takeLine() {
    std::string_view l(line_);
    if (l[0] == ':') return;  // comment
    size_t colon = l.find(':');
    std::string_view field = l.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (has_data_) data_.push_back('\n');
      data_.append(value);
      has_data_ = true;
    } else if (field == "event") {
      event_.assign(value);
    }
  }
  void resetEvent() {
    event_.clear();
    data_.clear();
    has_data_ = false;
  }

  std::string line_;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  bool skip_lf_ = false;
};

}  // namespace sluice::http
