// Output guardrails on a stream (phase 9 for SSE). Each choice's text is
// taken out of the chunks as it arrives and released to the client only
// after the llm_output guardrails have seen it; what they report as possibly
// incomplete (hold_bytes: an e-mail address without its domain yet, a key
// still growing) stays back until more text arrives, so nothing they would
// redact ever reaches the client in pieces. With mcp_pre_tool guardrails,
// tool calls are gathered whole and checked before any of them goes out, as
// one delta per call, ahead of the choice's finish reason. Everything else in
// the stream (roles, finish reasons, usage) keeps its place in the order.
//
// One guardrail run at a time per stream; text that arrives meanwhile waits
// and is checked together. Every call into a StreamGuard happens inside its
// owner's keep-alive (see Held), so the owner never goes away mid-call. The hold-back adds at most the held bytes to the
// time to first token, and never more than kMaxHoldBytes.
#pragma once

#include <cjson/cJSON.h>

#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "pipeline/guard_run.h"

namespace sluice::pipeline {

class StreamGuard {
 public:
  static constexpr size_t kMaxHoldBytes = 16 * 1024;

  // `emit` gets canonical chunk JSON (no SSE framing) in order; `blocked`
  // runs once when a guardrail blocks (the stream must end there). A
  // guardrail's late answer comes from the loop: `held` runs that work
  // inside the owner's keep-alive, since what it emits may end the owner.
  using Emit = std::function<void(std::string_view chunk)>;
  using Blocked = std::function<void(const GuardOutcome&)>;
  using Held = std::function<void(const std::function<void()>&)>;
  StreamGuard(RequestGuards* guards, Emit emit, Blocked blocked, Held held);

  // A canonical chunk from upstream.
  void chunk(std::string_view json);
  // The stream is over: what is held is checked and released, then `then`
  // runs (after everything queued before it).
  void finish(std::function<void()> then);

  // Bytes waiting for the guardrails: the caller pauses its upstream when
  // this grows.
  size_t backlog() const { return backlog_; }
  bool blocked() const { return blocked_; }

 private:
  struct Item {
    enum class Kind { Text, Flush, FlushAll, Raw, Then } kind;
    int choice = 0;
    std::string data;  // Text: the text; Raw: a chunk to pass on
    std::function<void()> then;
  };
  struct Tool {
    std::string id, type, name, arguments;
  };
  struct Choice {
    std::string pending;          // text the guardrails have not cleared yet
    std::map<int, Tool> tools;    // tool calls being gathered, by their index
  };

  void pump();
  // Starts the next check a finishing choice needs; false when it needs none.
  bool flush(int choice);
  void check(int choice, bool final);
  void checked(int choice, bool final, const GuardOutcome& outcome);
  void checkTools(int choice);
  void toolsChecked(int choice, const GuardOutcome& outcome);
  void release(int choice, size_t bytes);
  void gatherTools(int choice, const cJSON* calls);
  void rememberEnvelope(const cJSON* root);

  RequestGuards* guards_;
  Emit emit_;
  Blocked blocked_cb_;
  Held held_;
  std::deque<Item> queue_;
  std::map<int, Choice> choices_;
  std::vector<std::string> segment_;  // the one text a run looks at
  size_t backlog_ = 0;
  bool running_ = false;
  bool pumping_ = false;
  bool blocked_ = false;
  bool completions_ = false;  // text_completion chunks: choices[].text, not delta.content
  bool text_guarded_;         // llm_output runs
  bool tools_guarded_;        // mcp_pre_tool runs
  std::string envelope_;      // "id":...,"object":...,"created":...,"model":... of the stream
};

}  // namespace sluice::pipeline
