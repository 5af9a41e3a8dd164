// Provider `mock`: deterministic local answers, pacing through host timers,
// cancellation, and error triggers.
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sluice/plugin.h"
#include "support/fake_host.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {
namespace {

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDeleter>;

const sluice_provider_vtable* vtable() {
  return static_cast<const sluice_provider_vtable*>(sluice_plugin_entry()->vtable);
}

const cJSON* get(const cJSON* obj, const char* key) {
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}
std::string str(const cJSON* obj, const char* key) {
  const cJSON* v = get(obj, key);
  return cJSON_IsString(v) ? v->valuestring : "<not a string>";
}
int64_t num(const cJSON* obj, const char* key) {
  const cJSON* v = get(obj, key);
  return cJSON_IsNumber(v) ? static_cast<int64_t>(v->valuedouble) : -999;
}

// The data payloads of an SSE body, checking the framing of each event.
std::vector<std::string> sseData(const std::string& body) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < body.size()) {
    size_t end = body.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << "unterminated event";
    if (end == std::string::npos) break;
    std::string event = body.substr(at, end - at);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    out.push_back(event.substr(6));
    at = end + 2;
  }
  return out;
}

const char* kChat =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
    "{\"role\":\"user\",\"content\":\"Hello there\"}]}";

class MockTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (instance_) vtable()->destroy(instance_);
    EXPECT_EQ(host_.late_timer_cancels, 0);
  }

  void create(const std::string& config = "{}") {
    char err[256] = "";
    ASSERT_EQ(vtable()->create(host_.table(), config.c_str(), &instance_, err, sizeof(err)),
              SLUICE_OK)
        << err;
  }

  // Runs build_request + local_respond; returns local_respond's status.
  int respond(sluice_endpoint ep, const std::string& body, bool stream = false,
              const std::string& model = "mock-model", const std::string& request_id = "req-1") {
    body_ = body;
    model_ = model;
    request_id_ = request_id;
    call_ = makeCall(ep, body_, model_, stream, request_id_);
    sluice_upstream_request out = emptyUpstream();
    void* call_state = nullptr;
    int rc = vtable()->build_request(instance_, &call_, &out, &call_state);
    if (rc != SLUICE_OK) return rc;
    EXPECT_EQ(out.local, 1);
    EXPECT_EQ(call_state, nullptr);
    res_ = RecordingLocalResponse();
    local_state_ = reinterpret_cast<void*>(0xdead);
    return vtable()->local_respond(instance_, &call_, res_.table(), &local_state_);
  }

  Json bodyJson() {
    Json j(cJSON_Parse(res_.body().c_str()));
    EXPECT_TRUE(j) << res_.body();
    return j;
  }

  void expectFinishedOnce() {
    EXPECT_EQ(res_.starts, 1);
    EXPECT_EQ(res_.finishes, 1);
    EXPECT_FALSE(res_.wrote_after_finish);
  }

  FakeHost host_;
  void* instance_ = nullptr;
  std::string body_, model_, request_id_;
  sluice_provider_call call_{};
  RecordingLocalResponse res_;
  void* local_state_ = nullptr;
};

// ---- descriptor and config -----------------------------------------------

TEST(MockDescriptor, Fields) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_EQ(d->magic, SLUICE_PLUGIN_MAGIC);
  EXPECT_EQ(d->abi_major, SLUICE_ABI_MAJOR);
  EXPECT_EQ(d->abi_minor, SLUICE_ABI_MINOR);
  EXPECT_EQ(d->struct_size, sizeof(sluice_plugin_descriptor));
  EXPECT_EQ(d->kind, SLUICE_KIND_PROVIDER);
  EXPECT_STREQ(d->name, "mock");
  EXPECT_STREQ(d->version, "1.0.0");
  EXPECT_NE(strstr(d->description, "\"error-NNN\""), nullptr);
  EXPECT_NE(strstr(d->description, "\"mock_status\""), nullptr);
  const char* names[] = {"latency_ms", "chunk_delay_ms", "reply", "chunks", "models"};
  const sluice_config_type types[] = {SLUICE_CFG_INT, SLUICE_CFG_INT, SLUICE_CFG_STRING,
                                      SLUICE_CFG_INT, SLUICE_CFG_STRING_LIST};
  for (int i = 0; i < 5; i++) {
    EXPECT_STREQ(d->config[i].name, names[i]);
    EXPECT_EQ(d->config[i].type, types[i]);
  }
  EXPECT_STREQ(d->config[0].default_json, "0");
  EXPECT_EQ(d->config[5].name, nullptr);
  const sluice_provider_vtable* vt = vtable();
  EXPECT_EQ(vt->struct_size, sizeof(sluice_provider_vtable));
  EXPECT_NE(vt->local_respond, nullptr);
  EXPECT_NE(vt->local_cancel, nullptr);
  EXPECT_EQ(vt->decode_body, nullptr);
  EXPECT_EQ(vt->stream_event, nullptr);
}

TEST(MockConfig, RejectsBadValues) {
  FakeHost host;
  struct Case {
    const char* json;
    const char* error;
  } cases[] = {
      {"nope", "config must be a JSON object"},
      {"{\"latency_ms\":-1}", "latency_ms must be an integer from 0 to 600000"},
      {"{\"latency_ms\":1.5}", "latency_ms must be an integer from 0 to 600000"},
      {"{\"chunk_delay_ms\":\"5\"}", "chunk_delay_ms must be an integer from 0 to 60000"},
      {"{\"chunks\":10001}", "chunks must be an integer from 0 to 10000"},
      {"{\"reply\":5}", "reply must be a string"},
      {"{\"models\":\"m\"}", "models must be a list of strings"},
      {"{\"models\":[\"a\",1]}", "models must be a list of strings"},
  };
  for (const Case& c : cases) {
    void* inst = nullptr;
    char err[128] = "";
    EXPECT_EQ(vtable()->create(host.table(), c.json, &inst, err, sizeof(err)), SLUICE_ERR_CONFIG)
        << c.json;
    EXPECT_STREQ(err, c.error);
    EXPECT_EQ(inst, nullptr);
  }
}

TEST_F(MockTest, BuildRequestIsLocalAndLimitedToItsEndpoints) {
  create();
  std::string body = "{}", model = "m";
  sluice_provider_call call = makeCall(SLUICE_EP_CHAT, body, model);
  sluice_upstream_request out = emptyUpstream();
  void* state = nullptr;
  ASSERT_EQ(vtable()->build_request(instance_, &call, &out, &state), SLUICE_OK);
  EXPECT_EQ(out.local, 1);
  EXPECT_EQ(out.header_count, 0u);
  EXPECT_EQ(state, nullptr);
  for (sluice_endpoint ep : {SLUICE_EP_IMAGES_GENERATIONS, SLUICE_EP_AUDIO_SPEECH, SLUICE_EP_RERANK,
                             SLUICE_EP_MODERATIONS}) {
    call = makeCall(ep, body, model);
    EXPECT_EQ(vtable()->build_request(instance_, &call, &out, &state), SLUICE_ERR_UNSUPPORTED);
  }
}

// ---- chat -------------------------------------------------------------------

TEST_F(MockTest, ChatBodyIsOpenAiShaped) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat), SLUICE_OK);
  expectFinishedOnce();
  EXPECT_EQ(local_state_, nullptr);  // finished before returning
  EXPECT_EQ(res_.status, 200);
  EXPECT_EQ(res_.content_type, "application/json");
  EXPECT_EQ(res_.writes.size(), 1u);  // one write on the fast path
  Json j = bodyJson();
  EXPECT_EQ(str(j.get(), "id"), "chatcmpl-mock-req-1");
  EXPECT_EQ(str(j.get(), "object"), "chat.completion");
  EXPECT_EQ(num(j.get(), "created"), static_cast<int64_t>(host_.now() / 1000));
  EXPECT_EQ(str(j.get(), "model"), "mock-model");
  const cJSON* choices = get(j.get(), "choices");
  ASSERT_EQ(cJSON_GetArraySize(choices), 1);
  const cJSON* choice = cJSON_GetArrayItem(choices, 0);
  EXPECT_EQ(num(choice, "index"), 0);
  EXPECT_EQ(str(get(choice, "message"), "role"), "assistant");
  EXPECT_EQ(str(get(choice, "message"), "content"), "Mock reply to: Hello there");
  EXPECT_EQ(str(choice, "finish_reason"), "stop");
  // "Be brief." + "Hello there" = 20 characters -> 5 tokens; the reply has 5 words.
  const cJSON* usage = get(j.get(), "usage");
  EXPECT_EQ(num(usage, "prompt_tokens"), 5);
  EXPECT_EQ(num(usage, "completion_tokens"), 5);
  EXPECT_EQ(num(usage, "total_tokens"), 10);
}

TEST_F(MockTest, ChatIsDeterministic) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat), SLUICE_OK);
  std::string first = res_.body();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat), SLUICE_OK);
  EXPECT_EQ(res_.body(), first);
}

TEST_F(MockTest, IdsWithoutRequestIdAreCounted) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, false, "m", ""), SLUICE_OK);
  EXPECT_EQ(str(bodyJson().get(), "id"), "chatcmpl-mock-0000000000000001");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, false, "m", "a\"b/c"), SLUICE_OK);
  EXPECT_EQ(str(bodyJson().get(), "id"), "chatcmpl-mock-abc");
}

TEST_F(MockTest, EchoUsesTheLastUserMessageAndContentParts) {
  create();
  const char* body =
      "{\"messages\":[{\"role\":\"user\",\"content\":\"first\"},"
      "{\"role\":\"assistant\",\"content\":\"ok\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"sec\"},"
      "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"text\",\"text\":\"ond\"}]"
      "}]}";
  ASSERT_EQ(respond(SLUICE_EP_CHAT, body), SLUICE_OK);
  Json j = bodyJson();
  const cJSON* message = get(cJSON_GetArrayItem(get(j.get(), "choices"), 0), "message");
  EXPECT_EQ(str(message, "content"), "Mock reply to: second");
  EXPECT_EQ(num(get(j.get(), "usage"), "prompt_tokens"), 4);  // 5 + 2 + 6 = 13 chars
}

TEST_F(MockTest, EchoIsCutAtACharacterBoundary) {
  create();
  // 99 ASCII bytes then a 2-byte character straddling the 100-byte cut.
  std::string text(99, 'a');
  text += "\xc3\xa9tail";
  ASSERT_EQ(
      respond(SLUICE_EP_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"" + text + "\"}]}"),
      SLUICE_OK);
  Json j = bodyJson();
  const cJSON* message = get(cJSON_GetArrayItem(get(j.get(), "choices"), 0), "message");
  EXPECT_EQ(str(message, "content"), "Mock reply to: " + std::string(99, 'a'));
  // 99 + 1 + 4 = 104 characters -> 26 tokens.
  EXPECT_EQ(num(get(j.get(), "usage"), "prompt_tokens"), 26);
}

TEST_F(MockTest, ConfiguredReplyWithQuotingAndMaxTokens) {
  create("{\"reply\":\"Say \\\"hi\\\"\\n to\\tall of you\"}");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat), SLUICE_OK);
  Json j = bodyJson();
  const cJSON* choice = cJSON_GetArrayItem(get(j.get(), "choices"), 0);
  EXPECT_EQ(str(get(choice, "message"), "content"), "Say \"hi\"\n to\tall of you");
  EXPECT_EQ(num(get(j.get(), "usage"), "completion_tokens"), 6);

  std::string limited = std::string(kChat);
  limited.insert(limited.size() - 1, ",\"max_tokens\":2");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, limited), SLUICE_OK);
  j = bodyJson();
  choice = cJSON_GetArrayItem(get(j.get(), "choices"), 0);
  EXPECT_EQ(str(get(choice, "message"), "content"), "Say \"hi\"\n ");
  EXPECT_EQ(str(choice, "finish_reason"), "length");
  EXPECT_EQ(num(get(j.get(), "usage"), "completion_tokens"), 2);
}

// ---- chat streams -----------------------------------------------------------

struct StreamParts {
  std::vector<std::string> contents;  // content deltas after the role chunk
  std::string role;
  std::string finish;
  int usage_chunks = 0;
  Json usage;
  bool done_last = false;
};

StreamParts parseStream(const std::string& body) {
  StreamParts p;
  std::vector<std::string> data = sseData(body);
  EXPECT_GE(data.size(), 3u);
  if (data.empty()) return p;
  p.done_last = data.back() == "[DONE]";
  for (size_t i = 0; i + 1 < data.size(); i++) {
    Json chunk(cJSON_Parse(data[i].c_str()));
    EXPECT_TRUE(chunk) << data[i];
    if (!chunk) continue;
    EXPECT_EQ(str(chunk.get(), "object"), "chat.completion.chunk");
    EXPECT_EQ(str(chunk.get(), "id"), "chatcmpl-mock-req-1");
    const cJSON* choices = get(chunk.get(), "choices");
    if (cJSON_GetArraySize(choices) == 0) {
      p.usage_chunks++;
      p.usage.reset(cJSON_Duplicate(get(chunk.get(), "usage"), 1));
      continue;
    }
    const cJSON* choice = cJSON_GetArrayItem(choices, 0);
    const cJSON* delta = get(choice, "delta");
    if (i == 0) {
      p.role = str(delta, "role");
    } else if (cJSON_HasObjectItem(delta, "content")) {
      p.contents.push_back(str(delta, "content"));
    }
    const cJSON* finish = get(choice, "finish_reason");
    if (cJSON_IsString(finish)) p.finish = finish->valuestring;
  }
  return p;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string s;
  for (const std::string& p : parts) s += p;
  return s;
}

TEST_F(MockTest, ChatStreamWithoutUsage) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, /*stream=*/true), SLUICE_OK);
  expectFinishedOnce();
  EXPECT_EQ(res_.content_type, "text/event-stream");
  EXPECT_EQ(res_.writes.size(), 1u);
  StreamParts p = parseStream(res_.body());
  EXPECT_EQ(p.role, "assistant");
  EXPECT_EQ(p.contents, (std::vector<std::string>{"Mock", " reply", " to:", " Hello", " there"}));
  EXPECT_EQ(p.finish, "stop");
  EXPECT_EQ(p.usage_chunks, 0);
  EXPECT_TRUE(p.done_last);
}

TEST_F(MockTest, ChatStreamWithUsage) {
  create();
  std::string body = std::string(kChat);
  body.insert(body.size() - 1, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, body, true), SLUICE_OK);
  StreamParts p = parseStream(res_.body());
  EXPECT_EQ(joined(p.contents), "Mock reply to: Hello there");
  ASSERT_EQ(p.usage_chunks, 1);
  EXPECT_EQ(num(p.usage.get(), "prompt_tokens"), 5);
  EXPECT_EQ(num(p.usage.get(), "completion_tokens"), 5);
  EXPECT_EQ(num(p.usage.get(), "total_tokens"), 10);
  std::vector<std::string> data = sseData(res_.body());
  ASSERT_GE(data.size(), 2u);
  EXPECT_NE(data[data.size() - 2].find("\"choices\":[],\"usage\""), std::string::npos);
  EXPECT_TRUE(p.done_last);
}

TEST_F(MockTest, ChatStreamWithConfiguredChunkCount) {
  create("{\"chunks\":3,\"reply\":\"abcdefgh\\u00e9\"}");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, true), SLUICE_OK);
  StreamParts p = parseStream(res_.body());
  ASSERT_EQ(p.contents.size(), 3u);
  EXPECT_EQ(joined(p.contents), "abcdefgh\xc3\xa9");
  for (const std::string& c : p.contents) EXPECT_FALSE(c.empty());
}

// ---- timing through host timers ----------------------------------------------

TEST_F(MockTest, LatencyDelaysTheFirstByte) {
  create("{\"latency_ms\":50}");
  uint64_t t0 = host_.now();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat), SLUICE_OK);
  EXPECT_NE(local_state_, nullptr);
  EXPECT_EQ(res_.starts, 0);
  ASSERT_EQ(host_.pendingTimers(), 1u);
  EXPECT_EQ(host_.timers().back()->delay_ms, 50u);
  EXPECT_EQ(host_.timers().back()->worker, call_.worker);
  host_.advance(49);
  EXPECT_EQ(res_.starts, 0);
  host_.advance(1);
  expectFinishedOnce();
  EXPECT_EQ(res_.start_ms, t0 + 50);
  EXPECT_EQ(str(bodyJson().get(), "object"), "chat.completion");
  EXPECT_EQ(host_.pendingTimers(), 0u);
}

TEST_F(MockTest, ChunkDelayPacesStreamEvents) {
  create("{\"latency_ms\":20,\"chunk_delay_ms\":10,\"reply\":\"one two three\"}");
  uint64_t t0 = host_.now();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, true), SLUICE_OK);
  host_.advance(20);
  ASSERT_EQ(res_.starts, 1);
  ASSERT_EQ(res_.writes.size(), 1u);  // the role chunk
  host_.advance(10);
  ASSERT_EQ(res_.writes.size(), 2u);
  EXPECT_NE(res_.writes[1].find("\"content\":\"one\""), std::string::npos);
  host_.runAllTimers();
  expectFinishedOnce();
  // role, 3 words, finish, [DONE]: 6 events, 10 ms apart after the first.
  ASSERT_EQ(res_.writes.size(), 6u);
  for (size_t i = 0; i < res_.writes.size(); i++) {
    EXPECT_EQ(res_.write_ms[i], t0 + 20 + 10 * i) << i;
  }
  EXPECT_EQ(res_.writes.back(), "data: [DONE]\n\n");
  EXPECT_EQ(joined(parseStream(res_.body()).contents), "one two three");
}

TEST_F(MockTest, ChunkDelayDoesNotSplitBodies) {
  create("{\"chunk_delay_ms\":10}");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat), SLUICE_OK);
  expectFinishedOnce();
  EXPECT_EQ(res_.writes.size(), 1u);
  EXPECT_EQ(local_state_, nullptr);
  EXPECT_EQ(host_.pendingTimers(), 0u);
}

TEST_F(MockTest, CancelDuringLatency) {
  create("{\"latency_ms\":50}");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat), SLUICE_OK);
  ASSERT_NE(local_state_, nullptr);
  vtable()->local_cancel(instance_, local_state_);
  EXPECT_EQ(host_.pendingTimers(), 0u);
  host_.runAllTimers();
  EXPECT_EQ(res_.starts, 0);
  EXPECT_EQ(res_.finishes, 0);
}

TEST_F(MockTest, CancelMidStream) {
  create("{\"chunk_delay_ms\":10}");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, true), SLUICE_OK);
  ASSERT_NE(local_state_, nullptr);
  EXPECT_EQ(res_.starts, 1);
  host_.advance(10);
  size_t writes = res_.writes.size();
  EXPECT_EQ(writes, 2u);
  vtable()->local_cancel(instance_, local_state_);
  host_.runAllTimers();
  EXPECT_EQ(res_.writes.size(), writes);
  EXPECT_EQ(res_.finishes, 0);
}

TEST_F(MockTest, CancelFromInsideAWrite) {
  // The kernel may learn that the client is gone while handling a write.
  create("{\"chunk_delay_ms\":10}");
  bool cancelled = false;
  RecordingLocalResponse* res = &res_;
  body_ = kChat;
  model_ = "m";
  call_ = makeCall(SLUICE_EP_CHAT, body_, model_, true);
  res_ = RecordingLocalResponse();
  res_.on_write = [&] {
    if (res->writes.size() == 2 && !cancelled) {
      cancelled = true;
      vtable()->local_cancel(instance_, local_state_);
    }
  };
  ASSERT_EQ(vtable()->local_respond(instance_, &call_, res_.table(), &local_state_), SLUICE_OK);
  host_.advance(10);
  ASSERT_TRUE(cancelled);
  EXPECT_EQ(host_.pendingTimers(), 0u);
  host_.runAllTimers();
  EXPECT_EQ(res_.writes.size(), 2u);
  EXPECT_EQ(res_.finishes, 0);
}

TEST_F(MockTest, CancelFromInsideASynchronousWrite) {
  create();
  body_ = kChat;
  model_ = "m";
  call_ = makeCall(SLUICE_EP_CHAT, body_, model_);
  res_ = RecordingLocalResponse();
  // local_state is set before the first callback, so the kernel can cancel
  // even while local_respond is still running.
  void* state = nullptr;
  res_.on_write = [&] {
    ASSERT_NE(state, nullptr);
    vtable()->local_cancel(instance_, state);
  };
  ASSERT_EQ(vtable()->local_respond(instance_, &call_, res_.table(), &state), SLUICE_OK);
  EXPECT_EQ(state, nullptr);
  EXPECT_EQ(res_.starts, 1);
  EXPECT_EQ(res_.writes.size(), 1u);
  EXPECT_EQ(res_.finishes, 0);
}

// ---- errors -------------------------------------------------------------------

TEST_F(MockTest, ModelNameTriggersAnError) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, true, "error-429"), SLUICE_OK);
  expectFinishedOnce();
  EXPECT_EQ(res_.status, 429);
  EXPECT_EQ(res_.content_type, "application/json");  // even for a stream request
  EXPECT_EQ(res_.body(),
            "{\"error\":{\"message\":\"mock error: status 429 requested\","
            "\"type\":\"rate_limit_error\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}");
}

TEST_F(MockTest, MockStatusFieldTriggersAnError) {
  create();
  std::string body = std::string(kChat);
  body.insert(body.size() - 1, ",\"mock_status\":503");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, body), SLUICE_OK);
  EXPECT_EQ(res_.status, 503);
  EXPECT_EQ(res_.body(),
            "{\"error\":{\"message\":\"mock error: status 503 requested\","
            "\"type\":\"server_error\",\"param\":null,\"code\":null}}");
  ASSERT_EQ(respond(SLUICE_EP_EMBEDDINGS, "{\"input\":\"x\",\"mock_status\":401}"), SLUICE_OK);
  EXPECT_EQ(res_.status, 401);
  EXPECT_EQ(str(get(bodyJson().get(), "error"), "code"), "invalid_api_key");
}

TEST_F(MockTest, MalformedMockStatusIsABadRequest) {
  create();
  for (const char* value : {"\"500\"", "200", "600", "429.5"}) {
    ASSERT_EQ(
        respond(SLUICE_EP_CHAT, std::string("{\"messages\":[],\"mock_status\":") + value + "}"),
        SLUICE_OK);
    EXPECT_EQ(res_.status, 400) << value;
    EXPECT_EQ(res_.body(),
              "{\"error\":{\"message\":\"mock_status must be an integer from 400 to 599\","
              "\"type\":\"invalid_request_error\",\"param\":\"mock_status\",\"code\":null}}");
  }
}

TEST_F(MockTest, OtherModelNamesAreNotTriggers) {
  create();
  for (const char* model : {"error-abc", "error-200", "error-4290", "my-error-500"}) {
    ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, false, model), SLUICE_OK);
    EXPECT_EQ(res_.status, 200) << model;
  }
}

TEST_F(MockTest, LatencyAppliesToErrors) {
  create("{\"latency_ms\":30}");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, kChat, false, "error-500"), SLUICE_OK);
  EXPECT_EQ(res_.starts, 0);
  host_.advance(30);
  expectFinishedOnce();
  EXPECT_EQ(res_.status, 500);
}

TEST_F(MockTest, BadRequests) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_CHAT, "{not json"), SLUICE_OK);
  EXPECT_EQ(res_.status, 400);
  EXPECT_EQ(res_.body(),
            "{\"error\":{\"message\":\"request body must be a JSON object\","
            "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}");
  ASSERT_EQ(respond(SLUICE_EP_CHAT, "{\"messages\":[]}"), SLUICE_OK);
  EXPECT_EQ(res_.status, 400);
  EXPECT_EQ(str(get(bodyJson().get(), "error"), "param"), "messages");
}

// ---- completions, embeddings, models -------------------------------------------

TEST_F(MockTest, Completions) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_COMPLETIONS, "{\"prompt\":\"Say this\"}"), SLUICE_OK);
  Json j = bodyJson();
  EXPECT_EQ(str(j.get(), "id"), "cmpl-mock-req-1");
  EXPECT_EQ(str(j.get(), "object"), "text_completion");
  const cJSON* choice = cJSON_GetArrayItem(get(j.get(), "choices"), 0);
  EXPECT_EQ(str(choice, "text"), "Mock reply to: Say this");
  EXPECT_EQ(str(choice, "finish_reason"), "stop");
  EXPECT_EQ(num(get(j.get(), "usage"), "prompt_tokens"), 2);

  ASSERT_EQ(respond(SLUICE_EP_COMPLETIONS,
                    "{\"prompt\":\"Say this\",\"stream_options\":{\"include_usage\":true}}", true),
            SLUICE_OK);
  std::vector<std::string> data = sseData(res_.body());
  ASSERT_EQ(data.size(), 8u);  // 5 words, finish, usage, [DONE]
  std::string text;
  for (size_t i = 0; i < 5; i++) {
    Json chunk(cJSON_Parse(data[i].c_str()));
    EXPECT_EQ(str(chunk.get(), "object"), "text_completion");
    text += str(cJSON_GetArrayItem(get(chunk.get(), "choices"), 0), "text");
  }
  EXPECT_EQ(text, "Mock reply to: Say this");
  EXPECT_EQ(data[7], "[DONE]");
}

std::vector<double> vectorOf(const cJSON* item) {
  std::vector<double> v;
  const cJSON* n = nullptr;
  cJSON_ArrayForEach(n, get(item, "embedding")) v.push_back(n->valuedouble);
  return v;
}

TEST_F(MockTest, EmbeddingsAreDeterministicUnitVectors) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_EMBEDDINGS, "{\"model\":\"e\",\"input\":[\"cat\",\"dog\"]}"),
            SLUICE_OK);
  Json j = bodyJson();
  EXPECT_EQ(str(j.get(), "object"), "list");
  const cJSON* data = get(j.get(), "data");
  ASSERT_EQ(cJSON_GetArraySize(data), 2);
  std::vector<double> cat = vectorOf(cJSON_GetArrayItem(data, 0));
  std::vector<double> dog = vectorOf(cJSON_GetArrayItem(data, 1));
  ASSERT_EQ(cat.size(), 8u);
  ASSERT_EQ(dog.size(), 8u);
  EXPECT_EQ(num(cJSON_GetArrayItem(data, 1), "index"), 1);
  EXPECT_EQ(str(cJSON_GetArrayItem(data, 0), "object"), "embedding");
  double norm = 0;
  for (double x : cat) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-6);
  EXPECT_NE(cat, dog);
  EXPECT_EQ(num(get(j.get(), "usage"), "prompt_tokens"), 2);
  EXPECT_EQ(num(get(j.get(), "usage"), "total_tokens"), 2);

  ASSERT_EQ(respond(SLUICE_EP_EMBEDDINGS, "{\"input\":\"cat\"}"), SLUICE_OK);
  Json again = bodyJson();
  EXPECT_EQ(vectorOf(cJSON_GetArrayItem(get(again.get(), "data"), 0)), cat);
}

TEST_F(MockTest, EmbeddingsDimensionsTokensAndBase64) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_EMBEDDINGS, "{\"input\":[1,2,3],\"dimensions\":16}"), SLUICE_OK);
  Json j = bodyJson();
  EXPECT_EQ(vectorOf(cJSON_GetArrayItem(get(j.get(), "data"), 0)).size(), 16u);
  EXPECT_EQ(num(get(j.get(), "usage"), "prompt_tokens"), 3);

  ASSERT_EQ(respond(SLUICE_EP_EMBEDDINGS, "{\"input\":\"cat\"}"), SLUICE_OK);
  std::vector<double> floats = vectorOf(cJSON_GetArrayItem(get(bodyJson().get(), "data"), 0));
  ASSERT_EQ(respond(SLUICE_EP_EMBEDDINGS, "{\"input\":\"cat\",\"encoding_format\":\"base64\"}"),
            SLUICE_OK);
  std::string b64 = str(cJSON_GetArrayItem(get(bodyJson().get(), "data"), 0), "embedding");
  ASSERT_EQ(b64.size(), 44u);  // 32 bytes
  auto value = [](char c) -> uint32_t {
    return static_cast<uint32_t>(
        strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", c) -
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
  };
  std::string bytes;
  for (size_t i = 0; i < b64.size(); i += 4) {
    uint32_t n = value(b64[i]) << 18 | value(b64[i + 1]) << 12;
    bytes.push_back(static_cast<char>(n >> 16));
    if (b64[i + 2] == '=') break;
    n |= value(b64[i + 2]) << 6;
    bytes.push_back(static_cast<char>((n >> 8) & 0xff));
    if (b64[i + 3] == '=') break;
    n |= value(b64[i + 3]);
    bytes.push_back(static_cast<char>(n & 0xff));
  }
  ASSERT_EQ(bytes.size(), 32u);
  for (size_t k = 0; k < 8; k++) {
    uint32_t u = 0;
    for (int b = 3; b >= 0; b--) u = u << 8 | static_cast<unsigned char>(bytes[4 * k + b]);
    float f;
    memcpy(&f, &u, 4);
    EXPECT_NEAR(f, floats[k], 1e-7) << k;
  }
}

TEST_F(MockTest, EmbeddingsRejectBadInput) {
  create();
  for (const char* body : {"{}", "{\"input\":[{\"a\":1}]}", "{\"input\":5}"}) {
    ASSERT_EQ(respond(SLUICE_EP_EMBEDDINGS, body), SLUICE_OK);
    EXPECT_EQ(res_.status, 400) << body;
    EXPECT_EQ(str(get(bodyJson().get(), "error"), "param"), "input");
  }
  ASSERT_EQ(respond(SLUICE_EP_EMBEDDINGS, "{\"input\":\"x\",\"dimensions\":0}"), SLUICE_OK);
  EXPECT_EQ(res_.status, 400);
  EXPECT_EQ(str(get(bodyJson().get(), "error"), "param"), "dimensions");
}

TEST_F(MockTest, ModelsListing) {
  create("{\"models\":[\"alpha\",\"beta\"]}");
  ASSERT_EQ(respond(SLUICE_EP_MODELS, ""), SLUICE_OK);
  EXPECT_EQ(res_.status, 200);
  EXPECT_EQ(
      res_.body(),
      "{\"object\":\"list\",\"data\":["
      "{\"id\":\"alpha\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"sluice-mock\"},"
      "{\"id\":\"beta\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"sluice-mock\"}]"
      "}");
}

TEST_F(MockTest, DefaultModelsListing) {
  create();
  ASSERT_EQ(respond(SLUICE_EP_MODELS, ""), SLUICE_OK);
  Json j = bodyJson();
  ASSERT_EQ(cJSON_GetArraySize(get(j.get(), "data")), 1);
  EXPECT_EQ(str(cJSON_GetArrayItem(get(j.get(), "data"), 0), "id"), "mock-model");
}

}  // namespace
}  // namespace sluice::testing
