// Drives a guardrail plugin the way the kernel does, without a test framework
// (the unit tests wrap it with assertions, the fuzz targets with aborts): one
// request at a time with its request_state, freed through request_end, and a
// simulated stream. On a stream the window of text not yet released to the
// client is checked each time a chunk arrives, the guardrail's MUTATE content
// replaces it, everything but the last hold_bytes is released, and what is
// held at the end of the stream is released as it is (the strictest thing a
// host may do).
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/plugin.h"
#include "support/fake_host.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {

inline const sluice_guardrail_vtable* guardVtable() {
  return static_cast<const sluice_guardrail_vtable*>(sluice_plugin_entry()->vtable);
}

// What one check() answered, copied out of the plugin's memory.
struct GuardAnswer {
  int status = SLUICE_ERR;
  sluice_verdict verdict = SLUICE_VERDICT_FAIL;
  std::string content;  // MUTATE content, else the checked text
  std::string reason;
  std::map<std::string, uint32_t> findings;  // type -> count
  std::vector<std::string> actions;          // one per finding, in order
  size_t hold = 0;                           // as answered (may exceed content if broken)
};

// What a simulated stream released.
struct StreamOutcome {
  std::string released;               // every byte the client got
  std::vector<std::string> releases;  // per chunk, then the final flush
  bool blocked = false;
  bool failed = false;    // a check answered FAIL or an error status
  bool bad_hold = false;  // hold_bytes beyond the checked text
  std::string reason;
  std::map<std::string, uint32_t> findings;  // summed over the checks
  size_t max_hold = 0;
};

class GuardDriver {
 public:
  GuardDriver() = default;
  ~GuardDriver() {
    endRequest();
    if (instance_) guardVtable()->destroy(instance_);
  }
  GuardDriver(const GuardDriver&) = delete;
  GuardDriver& operator=(const GuardDriver&) = delete;

  // create() with `config_json`; SLUICE_OK or the plugin's error, message in *err.
  int create(const sluice_host* host, const std::string& config_json, std::string* err) {
    char buf[512] = "";
    int rc = guardVtable()->create(host, config_json.c_str(), &instance_, buf, sizeof buf);
    *err = buf;
    if (rc != SLUICE_OK) instance_ = nullptr;
    return rc;
  }

  void* instance() const { return instance_; }

  // One check in the current request.
  GuardAnswer check(std::string_view text, sluice_hook hook = SLUICE_HOOK_LLM_INPUT) {
    std::string copy(text);  // the plugin may not keep pointers into the host's buffer
    sluice_guard_input in = input(copy, hook);
    sluice_guard_result res{};
    res.struct_size = sizeof(res);
    GuardAnswer a;
    a.status = guardVtable()->check(instance_, &in, &res);
    a.verdict = res.verdict;
    a.content = res.verdict == SLUICE_VERDICT_MUTATE ? toString(res.content) : copy;
    a.reason = toString(res.reason);
    for (size_t i = 0; i < res.finding_count; i++) {
      a.findings[toString(res.findings[i].type)] += res.findings[i].count;
      a.actions.push_back(toString(res.findings[i].action));
    }
    a.hold = res.hold_bytes;
    return a;
  }

  // Ends the current request (request_end when the plugin kept state).
  void endRequest() {
    if (state_ && guardVtable()->request_end) guardVtable()->request_end(instance_, state_);
    state_ = nullptr;
    request_++;
  }

  // A new request streaming `chunks` through llm_output. `extra_hold` bytes are held beyond
  // what the guardrail asks, as when another guardrail on the stream asks for more.
  StreamOutcome stream(const std::vector<std::string>& chunks, size_t extra_hold = 0) {
    endRequest();
    StreamOutcome out;
    streamInto(chunks, extra_hold, &out);
    endRequest();
    return out;
  }

  // Two choices of one answer streamed in the same request, their chunks interleaved.
  std::pair<StreamOutcome, StreamOutcome> streamTwo(const std::vector<std::string>& a,
                                                    const std::vector<std::string>& b) {
    endRequest();
    StreamOutcome oa, ob;
    std::string wa, wb;
    for (size_t i = 0; i < std::max(a.size(), b.size()); i++) {
      if (i < a.size()) step(a[i], 0, &wa, &oa);
      if (i < b.size()) step(b[i], 0, &wb, &ob);
    }
    flush(&wa, &oa);
    flush(&wb, &ob);
    endRequest();
    return {oa, ob};
  }

  // The two-piece stream of `text` cut at `at`.
  StreamOutcome streamSplit(std::string_view text, size_t at, size_t extra_hold = 0) {
    return stream({std::string(text.substr(0, at)), std::string(text.substr(at))}, extra_hold);
  }

  // A stream of one byte per chunk.
  StreamOutcome streamBytes(std::string_view text) {
    std::vector<std::string> chunks;
    for (char c : text) chunks.emplace_back(1, c);
    return stream(chunks);
  }

 private:
  void streamInto(const std::vector<std::string>& chunks, size_t extra_hold, StreamOutcome* out) {
    std::string window;
    for (const std::string& chunk : chunks) step(chunk, extra_hold, &window, out);
    flush(&window, out);
  }

  // One chunk arrives on a choice whose unreleased text is *window.
  void step(const std::string& chunk, size_t extra_hold, std::string* window, StreamOutcome* out) {
    if (out->blocked || out->failed || out->bad_hold) return;
    *window += chunk;
    GuardAnswer a = check(*window, SLUICE_HOOK_LLM_OUTPUT);
    for (const auto& [type, count] : a.findings) out->findings[type] += count;
    if (a.verdict == SLUICE_VERDICT_BLOCK) {
      out->blocked = true;
      out->reason = a.reason;
      return;
    }
    if (a.status != SLUICE_OK || a.verdict == SLUICE_VERDICT_FAIL) {
      out->failed = true;
      out->reason = a.reason;
      return;
    }
    if (a.hold > a.content.size()) {
      out->bad_hold = true;
      return;
    }
    out->max_hold = std::max(out->max_hold, a.hold);
    size_t hold = std::min(a.content.size(), a.hold + extra_hold);
    size_t cut = a.content.size() - hold;
    out->releases.push_back(a.content.substr(0, cut));
    out->released += out->releases.back();
    *window = a.content.substr(cut);
  }

  // The stream ended: what is held is released as it is.
  static void flush(std::string* window, StreamOutcome* out) {
    if (out->blocked || out->failed || out->bad_hold) return;
    out->releases.push_back(*window);
    out->released += *window;
    window->clear();
  }

  sluice_guard_input input(const std::string& text, sluice_hook hook) {
    request_id_ = "req-" + std::to_string(request_);
    sluice_guard_input in{};
    in.struct_size = sizeof(in);
    in.hook = hook;
    in.content = {text.data(), text.size()};
    in.model = {"mock/gpt-4o-mini", 16};
    in.subject = {"user:alice@example.com", 22};
    in.metadata_json = {"{\"team\":\"payments\"}", 19};
    in.worker = reinterpret_cast<sluice_worker*>(0x1);
    in.request_id = {request_id_.data(), request_id_.size()};
    in.request_state = &state_;
    return in;
  }

  void* instance_ = nullptr;
  void* state_ = nullptr;
  uint64_t request_ = 1;
  std::string request_id_;
};

}  // namespace sluice::testing
