#include "pipeline/stream_guard.h"

#include <cstring>

#include "pipeline/errors.h"

namespace sluice::pipeline {
namespace {

cJSON* member(const cJSON* obj, const char* name) {
  return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : nullptr;
}

std::string printed(const cJSON* item) {
  char* p = cJSON_PrintUnformatted(item);
  std::string out = p ? p : "";
  cJSON_free(p);
  return out;
}

}  // namespace

StreamGuard::StreamGuard(RequestGuards* guards, Emit emit, Blocked blocked, Held held)
    : guards_(guards),
      emit_(std::move(emit)),
      blocked_cb_(std::move(blocked)),
      held_(std::move(held)),
      text_guarded_(guards->runs(GuardHook::LlmOutput)),
      tools_guarded_(guards->runs(GuardHook::McpPreTool)) {}

// Takes each choice's text out of the chunk; what is left (a role, tool
// calls, a finish reason, usage) passes on in order, after the text before
// it has been released.
void StreamGuard::chunk(std::string_view json) {
  if (blocked_) return;
  cJSON* root = cJSON_ParseWithLength(json.data(), json.size());
  struct Free {
    cJSON* p;
    ~Free() { cJSON_Delete(p); }
  } free_root{root};
  cJSON* choices = member(root, "choices");
  if (!cJSON_IsArray(choices) || cJSON_GetArraySize(choices) == 0) {
    queue_.push_back({Item::Kind::Raw, 0, std::string(json), nullptr});
    return pump();
  }
  if (envelope_.empty()) rememberEnvelope(root);
  bool rest = member(root, "usage") && !cJSON_IsNull(member(root, "usage"));
  std::vector<int> finished;
  int position = 0;
  for (cJSON* c = choices->child; c; c = c->next, position++) {
    const cJSON* index = member(c, "index");
    int choice = cJSON_IsNumber(index) ? index->valueint : position;
    cJSON* delta = member(c, "delta");
    cJSON* text = delta ? member(delta, "content") : member(c, "text");
    if (!delta && cJSON_IsString(text)) completions_ = true;
    if (text_guarded_ && cJSON_IsString(text) && text->valuestring[0]) {
      size_t n = strlen(text->valuestring);
      queue_.push_back({Item::Kind::Text, choice, std::string(text->valuestring, n), nullptr});
      backlog_ += n;
      cJSON_SetValuestring(text, "");
    }
    if (cJSON* calls = tools_guarded_ ? member(delta, "tool_calls") : nullptr) {
      gatherTools(choice, calls);
      cJSON_DeleteItemFromObjectCaseSensitive(delta, "tool_calls");
    }
    // Token log probabilities spell the text out again: they would pass the
    // guardrails by, so they do not pass at all.
    if (cJSON* logprobs = member(c, "logprobs");
        text_guarded_ && logprobs && !cJSON_IsNull(logprobs)) {
      cJSON_ReplaceItemInObjectCaseSensitive(c, "logprobs", cJSON_CreateNull());
    }
    for (const cJSON* m = delta ? delta->child : nullptr; m; m = m->next) {
      bool taken = text_guarded_ && strcmp(m->string, "content") == 0;
      bool empty = cJSON_IsNull(m) || (cJSON_IsString(m) && !m->valuestring[0]);
      if (!taken && !empty) rest = true;
    }
    if (!text_guarded_ && cJSON_IsString(text) && text->valuestring[0]) rest = true;
    const cJSON* reason = member(c, "finish_reason");
    if (cJSON_IsString(reason)) {
      finished.push_back(choice);
      rest = true;
    }
  }
  for (int choice : finished) queue_.push_back({Item::Kind::Flush, choice, {}, nullptr});
  if (rest) queue_.push_back({Item::Kind::Raw, 0, printed(root), nullptr});
  pump();
}

void StreamGuard::finish(std::function<void()> then) {
  queue_.push_back({Item::Kind::FlushAll, 0, {}, nullptr});
  queue_.push_back({Item::Kind::Then, 0, {}, std::move(then)});
  pump();
}

void StreamGuard::pump() {
  if (pumping_) return;  // an answer that came at once: the loop below goes on
  pumping_ = true;
  while (!running_ && !blocked_ && !queue_.empty()) {
    Item& item = queue_.front();
    switch (item.kind) {
      case Item::Kind::Text: {
        int choice = item.choice;
        std::string& pending = choices_[choice].pending;
        // Text that queued up meanwhile is checked together.
        while (!queue_.empty() && queue_.front().kind == Item::Kind::Text &&
               queue_.front().choice == choice) {
          pending.append(queue_.front().data);
          backlog_ -= queue_.front().data.size();
          queue_.pop_front();
        }
        check(choice, false);
        break;
      }
      case Item::Kind::Flush:
        // Stays in front until the choice needs no more checks.
        if (!flush(item.choice)) queue_.pop_front();
        break;
      case Item::Kind::FlushAll: {
        bool started = false;
        for (auto it = choices_.begin(); it != choices_.end() && !started; ++it) {
          started = flush(it->first);
        }
        if (!started) queue_.pop_front();
        break;
      }
      case Item::Kind::Raw: {
        std::string raw = std::move(item.data);
        queue_.pop_front();
        emit_(raw);
        break;
      }
      case Item::Kind::Then: {
        std::function<void()> then = std::move(item.then);
        queue_.pop_front();
        then();
        break;
      }
    }
  }
  pumping_ = false;
}

bool StreamGuard::flush(int choice) {
  Choice& c = choices_[choice];
  if (!c.pending.empty()) {
    check(choice, true);
    return true;
  }
  if (!c.tools.empty()) {
    checkTools(choice);
    return true;
  }
  return false;
}

void StreamGuard::check(int choice, bool final) {
  segment_.assign(1, choices_[choice].pending);
  running_ = true;
  guards_->run(GuardHook::LlmOutput, &segment_, [this, choice, final](const GuardOutcome& o) {
    held_([this, choice, final, &o] { checked(choice, final, o); });
  });
}

void StreamGuard::checked(int choice, bool final, const GuardOutcome& o) {
  running_ = false;
  if (o.blocked) {
    blocked_ = true;
    queue_.clear();
    blocked_cb_(o);
    return;
  }
  std::string& pending = choices_[choice].pending;
  pending = std::move(segment_[0]);  // as the guardrails left it
  size_t hold = final ? 0 : std::min({o.hold_bytes, kMaxHoldBytes, pending.size()});
  release(choice, pending.size() - hold);
  pump();
}

// A tool call's pieces come as deltas keyed by the call's index: the first
// carries id, type and name, the rest pieces of the arguments.
void StreamGuard::gatherTools(int choice, const cJSON* calls) {
  if (!cJSON_IsArray(calls)) return;
  int position = 0;
  for (const cJSON* call = calls->child; call; call = call->next, position++) {
    const cJSON* index = member(call, "index");
    Tool& t = choices_[choice].tools[cJSON_IsNumber(index) ? index->valueint : position];
    const cJSON* function = member(call, "function");
    auto take = [](const cJSON* v, std::string* into) {
      if (cJSON_IsString(v)) into->append(v->valuestring);
    };
    if (t.id.empty()) take(member(call, "id"), &t.id);
    if (t.type.empty()) take(member(call, "type"), &t.type);
    take(member(function, "name"), &t.name);
    take(member(function, "arguments"), &t.arguments);
  }
}

void StreamGuard::checkTools(int choice) {
  segment_.clear();
  for (const auto& [index, tool] : choices_[choice].tools) segment_.push_back(tool.arguments);
  running_ = true;
  guards_->run(GuardHook::McpPreTool, &segment_, [this, choice](const GuardOutcome& o) {
    held_([this, choice, &o] { toolsChecked(choice, o); });
  });
}

// The checked calls go out whole, one delta, before the choice's finish.
void StreamGuard::toolsChecked(int choice, const GuardOutcome& o) {
  running_ = false;
  if (o.blocked) {
    blocked_ = true;
    queue_.clear();
    blocked_cb_(o);
    return;
  }
  std::map<int, Tool>& tools = choices_[choice].tools;
  std::string out = "{" + envelope_ + (envelope_.empty() ? "" : ",");
  out += "\"choices\":[{\"index\":" + std::to_string(choice) + ",\"delta\":{\"tool_calls\":[";
  size_t i = 0;
  for (const auto& [index, tool] : tools) {
    if (i) out.push_back(',');
    out += "{\"index\":" + std::to_string(index) + ",\"id\":";
    appendJsonString(&out, tool.id);
    out += ",\"type\":";
    appendJsonString(&out, tool.type.empty() ? "function" : tool.type);
    out += ",\"function\":{\"name\":";
    appendJsonString(&out, tool.name);
    out += ",\"arguments\":";
    appendJsonString(&out, i < segment_.size() ? segment_[i] : tool.arguments);
    out += "}}";
    i++;
  }
  out += "]},\"finish_reason\":null}]}";
  tools.clear();
  emit_(out);
  pump();
}

// Emits the first `bytes` of a choice's cleared text as one chunk, cut on a
// UTF-8 character boundary.
void StreamGuard::release(int choice, size_t bytes) {
  std::string& pending = choices_[choice].pending;
  while (bytes > 0 && bytes < pending.size() &&
         (static_cast<unsigned char>(pending[bytes]) & 0xC0) == 0x80) {
    bytes--;
  }
  if (bytes == 0) return;
  std::string out = "{" + envelope_;
  out += envelope_.empty() ? "\"choices\":[{\"index\":" : ",\"choices\":[{\"index\":";
  out += std::to_string(choice);
  out += completions_ ? ",\"text\":" : ",\"delta\":{\"content\":";
  appendJsonString(&out, std::string_view(pending).substr(0, bytes));
  out += completions_ ? ",\"finish_reason\":null}]}" : "},\"finish_reason\":null}]}";
  pending.erase(0, bytes);
  emit_(out);
}

void StreamGuard::rememberEnvelope(const cJSON* root) {
  for (const char* name : {"id", "object", "created", "model", "system_fingerprint"}) {
    const cJSON* v = member(root, name);
    if (!v || cJSON_IsNull(v)) continue;
    if (!envelope_.empty()) envelope_.push_back(',');
    appendJsonString(&envelope_, name);
    envelope_.push_back(':');
    envelope_ += printed(v);
  }
}

}  // namespace sluice::pipeline
