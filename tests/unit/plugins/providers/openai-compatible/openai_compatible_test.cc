// Provider `openai-compatible`: descriptor, config, requests, and the
// normalisation of recorded vendor streams and bodies (fixtures/).
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "sluice/plugin.h"
#include "support/fake_host.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using Json = std::unique_ptr<cJSON, JsonDeleter>;

const sluice_provider_vtable* vtable() {
  return static_cast<const sluice_provider_vtable*>(sluice_plugin_entry()->vtable);
}

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(SLUICE_SOURCE_DIR) +
                   "/tests/unit/plugins/providers/openai-compatible/fixtures/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// SSE data payloads: a *.chunks.txt file holds one per line; a *.sse file
// holds raw "data: ..." events.
std::vector<std::string> events(const std::string& name) {
  std::vector<std::string> out;
  std::stringstream ss(fixture(name));
  std::string line;
  bool sse = name.size() > 4 && name.compare(name.size() - 4, 4, ".sse") == 0;
  while (std::getline(ss, line)) {
    if (sse) {
      if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
    } else if (!line.empty()) {
      out.push_back(line);
    }
  }
  return out;
}

const cJSON* get(const cJSON* obj, const char* key) {
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}

std::string str(const cJSON* obj, const char* key) {
  const cJSON* v = get(obj, key);
  return cJSON_IsString(v) ? v->valuestring : "";
}

// What a client assembles from canonical chunks, checking each one.
struct Assembled {
  std::string content;
  std::string reasoning;
  struct Call {
    std::string id, type, name, arguments;
  };
  std::map<int, Call> calls;
  std::string finish_reason;
  int usage_chunks = 0;
};

Assembled assemble(const std::vector<std::string>& chunks) {
  Assembled a;
  for (const std::string& text : chunks) {
    Json chunk(cJSON_Parse(text.c_str()));
    EXPECT_TRUE(chunk) << text;
    if (!chunk) continue;
    EXPECT_EQ(str(chunk.get(), "object"), "chat.completion.chunk");
    if (cJSON_IsObject(get(chunk.get(), "usage"))) a.usage_chunks++;
    const cJSON* choice = nullptr;
    cJSON_ArrayForEach(choice, get(chunk.get(), "choices")) {
      const cJSON* finish = get(choice, "finish_reason");
      EXPECT_TRUE(cJSON_IsNull(finish) || cJSON_IsString(finish)) << text;
      if (cJSON_IsString(finish)) a.finish_reason = finish->valuestring;
      const cJSON* delta = get(choice, "delta");
      const cJSON* content = get(delta, "content");
      EXPECT_TRUE(!content || cJSON_IsNull(content) || cJSON_IsString(content)) << text;
      a.content += str(delta, "content");
      a.reasoning += str(delta, "reasoning_content");
      EXPECT_FALSE(cJSON_HasObjectItem(delta, "reasoning")) << text;
      const cJSON* call = nullptr;
      cJSON_ArrayForEach(call, get(delta, "tool_calls")) {
        const cJSON* index = get(call, "index");
        EXPECT_TRUE(cJSON_IsNumber(index)) << text;
        if (!cJSON_IsNumber(index)) continue;
        Assembled::Call& c = a.calls[index->valueint];
        if (cJSON_HasObjectItem(call, "id")) {
          c.id = str(call, "id");
          EXPECT_EQ(str(call, "type"), "function") << text;
        }
        if (cJSON_HasObjectItem(call, "type")) c.type = str(call, "type");
        const cJSON* fn = get(call, "function");
        c.name += str(fn, "name");
        c.arguments += str(fn, "arguments");
      }
    }
  }
  return a;
}

class OpenAiCompatibleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char err[256] = "";
    ASSERT_EQ(vtable()->create(host_.table(), "{\"base_url\":\"http://vllm.internal:8000/v1\"}",
                               &instance_, err, sizeof(err)),
              SLUICE_OK)
        << err;
  }
  void TearDown() override {
    endCall();
    vtable()->destroy(instance_);
  }

  void startCall(sluice_endpoint ep, bool stream) {
    endCall();
    call_ = makeCall(ep, body_, model_, stream);
    out_ = emptyUpstream();
    ASSERT_EQ(vtable()->build_request(instance_, &call_, &out_, &state_), SLUICE_OK);
    ASSERT_NE(state_, nullptr);
  }
  void endCall() {
    if (state_) vtable()->call_end(instance_, state_);
    state_ = nullptr;
  }

  // Streams every event through stream_event; every call must succeed.
  void stream(const std::vector<std::string>& data) {
    startCall(SLUICE_EP_CHAT, true);
    for (const std::string& d : data) {
      ASSERT_EQ(event(d), SLUICE_OK) << d;
    }
  }
  int event(const std::string& data) {
    return vtable()->stream_event(instance_, state_, {"", 0}, {data.data(), data.size()},
                                  emitter_.table());
  }
  int decode(int status, const std::string& body, sluice_endpoint ep = SLUICE_EP_CHAT) {
    startCall(ep, false);
    return vtable()->decode_body(instance_, state_, status, body.data(), body.size(),
                                 emitter_.table());
  }

  FakeHost host_;
  RecordingEmitter emitter_;
  void* instance_ = nullptr;
  std::string body_ = "{\"model\":\"m\",\"messages\":[]}";
  std::string model_ = "m";
  sluice_provider_call call_{};
  sluice_upstream_request out_{};
  void* state_ = nullptr;
};

// ---- descriptor, config, requests ------------------------------------------

TEST(OpenAiCompatibleDescriptor, Fields) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_EQ(d->magic, SLUICE_PLUGIN_MAGIC);
  EXPECT_EQ(d->abi_major, SLUICE_ABI_MAJOR);
  EXPECT_EQ(d->abi_minor, SLUICE_ABI_MINOR);
  EXPECT_EQ(d->struct_size, sizeof(sluice_plugin_descriptor));
  EXPECT_EQ(d->kind, SLUICE_KIND_PROVIDER);
  EXPECT_STREQ(d->name, "openai-compatible");
  EXPECT_STREQ(d->version, "1.0.0");
  ASSERT_NE(d->config, nullptr);
  EXPECT_STREQ(d->config[0].name, "base_url");
  EXPECT_EQ(d->config[0].flags & SLUICE_CFG_REQUIRED, SLUICE_CFG_REQUIRED);
  EXPECT_EQ(d->config[0].default_json, nullptr);
  EXPECT_STREQ(d->config[1].name, "auth");
  EXPECT_STREQ(d->config[1].children[0].name, "bearer");
  EXPECT_EQ(d->config[1].children[0].flags & SLUICE_CFG_SECRET, SLUICE_CFG_SECRET);
  EXPECT_STREQ(d->config[2].name, "headers");
  EXPECT_EQ(d->config[3].name, nullptr);
  const sluice_provider_vtable* vt = vtable();
  EXPECT_EQ(vt->struct_size, sizeof(sluice_provider_vtable));
  EXPECT_NE(vt->decode_body, nullptr);
  EXPECT_NE(vt->stream_event, nullptr);
  EXPECT_NE(vt->call_end, nullptr);
  EXPECT_EQ(vt->local_respond, nullptr);
}

TEST(OpenAiCompatibleConfig, BaseUrlIsRequired) {
  FakeHost host;
  void* inst = nullptr;
  char err[128];
  EXPECT_EQ(
      vtable()->create(host.table(), "{\"auth\":{\"bearer\":\"k\"}}", &inst, err, sizeof(err)),
      SLUICE_ERR_CONFIG);
  EXPECT_STREQ(err, "base_url is required");
  EXPECT_EQ(
      vtable()->create(host.table(), "{\"base_url\":\"localhost:8000\"}", &inst, err, sizeof(err)),
      SLUICE_ERR_CONFIG);
  EXPECT_STREQ(err, "base_url must be an http:// or https:// URL");
  EXPECT_EQ(inst, nullptr);
}

TEST_F(OpenAiCompatibleTest, RequestWithoutAuth) {
  startCall(SLUICE_EP_CHAT, true);
  EXPECT_EQ(toString(out_.method), "POST");
  EXPECT_EQ(toString(out_.url), "http://vllm.internal:8000/v1/chat/completions");
  EXPECT_EQ(headersOf(out_),
            (Headers{{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}}));
  EXPECT_EQ(out_.body.len, 0u);
  EXPECT_TRUE(host_.logs.empty());
}

TEST_F(OpenAiCompatibleTest, RerankAndModels) {
  startCall(SLUICE_EP_RERANK, false);
  EXPECT_EQ(toString(out_.url), "http://vllm.internal:8000/v1/rerank");
  startCall(SLUICE_EP_MODELS, false);
  EXPECT_EQ(toString(out_.method), "GET");
  EXPECT_EQ(toString(out_.url), "http://vllm.internal:8000/v1/models");
  EXPECT_TRUE(headersOf(out_).empty());
}

TEST(OpenAiCompatibleConfig, AuthAndHeaders) {
  FakeHost host;
  void* inst = nullptr;
  char err[128];
  const char* key = "gsk_secret_value_42";
  std::string config = std::string("{\"base_url\":\"https://api.groq.com/openai/v1\",") +
                       "\"auth\":{\"bearer\":\"" + key + "\"},\"headers\":{\"X-Tenant\":\"a\"}}";
  ASSERT_EQ(vtable()->create(host.table(), config.c_str(), &inst, err, sizeof(err)), SLUICE_OK);
  std::string body = "{}", model = "llama";
  sluice_provider_call call = makeCall(SLUICE_EP_EMBEDDINGS, body, model);
  sluice_upstream_request out = emptyUpstream();
  void* state = nullptr;
  ASSERT_EQ(vtable()->build_request(inst, &call, &out, &state), SLUICE_OK);
  EXPECT_EQ(toString(out.url), "https://api.groq.com/openai/v1/embeddings");
  EXPECT_EQ(headersOf(out), (Headers{{"Authorization", std::string("Bearer ") + key},
                                     {"Content-Type", "application/json"},
                                     {"X-Tenant", "a"}}));
  vtable()->call_end(inst, state);
  vtable()->destroy(inst);
  for (const auto& l : host.logs) EXPECT_EQ(l.message.find(key), std::string::npos);
}

// ---- streams ----------------------------------------------------------------

TEST_F(OpenAiCompatibleTest, MistralThinkingPartsBecomeReasoningContent) {
  stream(events("mistral/mistral-reasoning.chunks.txt"));
  ASSERT_EQ(emitter_.chunks.size(), 4u);
  Assembled a = assemble(emitter_.chunks);
  EXPECT_EQ(a.content, "2 + 2 = 4");
  EXPECT_EQ(a.reasoning, "The user is asking for 2+2. This is basic arithmetic. 2+2=4.");
  EXPECT_EQ(a.finish_reason, "stop");
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 10);
  EXPECT_EQ(emitter_.usages[0].completion, 46);
  EXPECT_EQ(emitter_.usages[0].cached, 0);
  // The first chunk keeps its role and now carries a plain string content.
  Json first(cJSON_Parse(emitter_.chunks[0].c_str()));
  const cJSON* delta = get(cJSON_GetArrayItem(get(first.get(), "choices"), 0), "delta");
  EXPECT_EQ(str(delta, "role"), "assistant");
  EXPECT_TRUE(cJSON_IsString(get(delta, "content")));
  EXPECT_EQ(str(delta, "content"), "");
}

TEST_F(OpenAiCompatibleTest, MistralToolCallGetsIndexAndType) {
  stream(events("mistral/mistral-tool-call.chunks.txt"));
  Assembled a = assemble(emitter_.chunks);
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].id, "gSIMJiOkT");
  EXPECT_EQ(a.calls[0].type, "function");
  EXPECT_EQ(a.calls[0].name, "weather");
  EXPECT_EQ(a.calls[0].arguments, "{\"location\": \"San Francisco\"}");
  EXPECT_EQ(a.finish_reason, "tool_calls");
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 124);
  EXPECT_EQ(emitter_.usages[0].completion, 22);
}

TEST_F(OpenAiCompatibleTest, CanonicalChunksPassThroughByteForByte) {
  std::vector<std::string> data = events("mistral/mistral-text.chunks.txt");
  stream(data);
  ASSERT_EQ(emitter_.chunks, data);  // nothing to fix: no re-serialisation
  EXPECT_EQ(assemble(emitter_.chunks).content, "Hello, world! This is a test response.");
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 13);
  EXPECT_EQ(emitter_.usages[0].completion, 8);
}

TEST_F(OpenAiCompatibleTest, GroqUsageOnTheFinishChunk) {
  stream(events("groq/groq-tool-call.chunks.txt"));
  Assembled a = assemble(emitter_.chunks);
  EXPECT_EQ(a.usage_chunks, 1);
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].name, "weather");
  EXPECT_EQ(a.calls[0].arguments, "{}");
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 210);
  EXPECT_EQ(emitter_.usages[0].completion, 15);
}

TEST_F(OpenAiCompatibleTest, GroqUsageOnlyInXGroqMovesToTopLevel) {
  // Older Groq streams: the usage-bearing chunk has x_groq.usage and no usage.
  stream(
      {"{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
       "\"model\":\"llama\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
       "\"x_groq\":{\"id\":\"req_1\",\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,"
       "\"total_tokens\":10}}}"});
  ASSERT_EQ(emitter_.chunks.size(), 1u);
  Json chunk(cJSON_Parse(emitter_.chunks[0].c_str()));
  EXPECT_EQ(get(get(chunk.get(), "usage"), "prompt_tokens")->valueint, 7);
  EXPECT_EQ(str(get(chunk.get(), "x_groq"), "id"), "req_1");
  EXPECT_FALSE(cJSON_HasObjectItem(get(chunk.get(), "x_groq"), "usage"));
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 7);
  EXPECT_EQ(emitter_.usages[0].completion, 3);
}

TEST_F(OpenAiCompatibleTest, GroqReasoningBecomesReasoningContent) {
  // One delta as Groq streams it (see groq-reasoning.json for the body form).
  stream(
      {"{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"qwen\","
       "\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"Okay\"},\"logprobs\":null,"
       "\"finish_reason\":null}]}"});
  EXPECT_EQ(assemble(emitter_.chunks).reasoning, "Okay");
}

TEST_F(OpenAiCompatibleTest, XaiMissingFinishReasonBecomesNull) {
  std::vector<std::string> data = events("xai/xai-text.chunks.txt");
  stream(data);
  ASSERT_EQ(emitter_.chunks.size(), data.size());
  for (size_t i = 0; i + 1 < emitter_.chunks.size(); i++) {
    Json chunk(cJSON_Parse(emitter_.chunks[i].c_str()));
    const cJSON* choice = cJSON_GetArrayItem(get(chunk.get(), "choices"), 0);
    ASSERT_TRUE(cJSON_HasObjectItem(choice, "finish_reason")) << emitter_.chunks[i];
  }
  Assembled a = assemble(emitter_.chunks);
  EXPECT_EQ(a.content, "Hello");
  EXPECT_EQ(a.reasoning, "First, the user said");
  EXPECT_EQ(a.finish_reason, "stop");
  // xAI's completion_tokens (1) leaves out the reasoning its total counts.
  // Usage follows its chunk, so a kernel that also reads the chunk keeps ours.
  EXPECT_EQ(emitter_.order, "ccccccccu");
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 12);
  EXPECT_EQ(emitter_.usages[0].completion, 291);
  EXPECT_EQ(emitter_.usages[0].cached, 11);
}

TEST_F(OpenAiCompatibleTest, XaiWholeToolCallInOneDelta) {
  stream(events("xai/xai-tool-call.chunks.txt"));
  Assembled a = assemble(emitter_.chunks);
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].id, "call_55117580");
  EXPECT_EQ(a.calls[0].arguments, "{\"location\":\"San Francisco\"}");
  EXPECT_EQ(a.finish_reason, "tool_calls");
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].cached, 290);
}

TEST_F(OpenAiCompatibleTest, DeepSeekStreamedArguments) {
  stream(events("deepseek/deepseek-tool-call.chunks.txt"));
  Assembled a = assemble(emitter_.chunks);
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls[0].name, "weather");
  EXPECT_EQ(a.calls[0].arguments, "{\"location\": \"San Francisco\"}");
  EXPECT_EQ(a.reasoning.substr(0, 20), "The user is asking f");
  ASSERT_EQ(emitter_.usages.size(), 1u);  // "usage": null chunks report nothing
  EXPECT_EQ(emitter_.usages[0].prompt, 339);
  EXPECT_EQ(emitter_.usages[0].completion, 83);
  EXPECT_EQ(emitter_.usages[0].cached, 320);
}

TEST_F(OpenAiCompatibleTest, AnthropicViaCompatibleEndpointKeepsItsIndex) {
  std::vector<std::string> data = events("openai-compatible/anthropic-fallback-tool-call.sse");
  ASSERT_EQ(data.back(), "[DONE]");
  stream(data);
  EXPECT_EQ(emitter_.chunks.size(), data.size() - 1);  // [DONE] is the kernel's to write
  Assembled a = assemble(emitter_.chunks);
  EXPECT_EQ(a.content, "Reading it.");
  ASSERT_EQ(a.calls.size(), 1u);
  EXPECT_EQ(a.calls.begin()->first, 1);
  EXPECT_EQ(a.calls[1].arguments, "{\"path\": \"a.txt\"}");
  EXPECT_TRUE(emitter_.usages.empty());
}

TEST_F(OpenAiCompatibleTest, ToolCallsWithoutIndexAreNumberedInOrder) {
  auto chunk = [](const std::string& calls) {
    return "{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
           "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":" +
           calls + "},\"finish_reason\":null}]}";
  };
  stream({chunk("[{\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\"}}]"),
          chunk("[{\"function\":{\"arguments\":\"}\"}}]"),
          chunk("[{\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}},"
                "{\"id\":\"c\",\"function\":{\"name\":\"h\",\"arguments\":\"[]\"}}]")});
  Assembled a = assemble(emitter_.chunks);
  ASSERT_EQ(a.calls.size(), 3u);
  EXPECT_EQ(a.calls[0].id, "a");
  EXPECT_EQ(a.calls[0].arguments, "{}");
  EXPECT_EQ(a.calls[1].id, "b");
  EXPECT_EQ(a.calls[2].id, "c");
  EXPECT_EQ(a.calls[2].arguments, "[]");
}

TEST_F(OpenAiCompatibleTest, DoneAndKeepAlivesEmitNothing) {
  startCall(SLUICE_EP_CHAT, true);
  EXPECT_EQ(event("[DONE]"), SLUICE_OK);
  EXPECT_EQ(event(""), SLUICE_OK);
  EXPECT_EQ(event("  \n"), SLUICE_OK);
  EXPECT_TRUE(emitter_.chunks.empty());
  EXPECT_TRUE(emitter_.usages.empty());
}

TEST_F(OpenAiCompatibleTest, BrokenOrErrorEventsEndTheStream) {
  startCall(SLUICE_EP_CHAT, true);
  EXPECT_EQ(event("{\"id\":"), SLUICE_ERR_PROTOCOL);
  EXPECT_EQ(event("[1,2]"), SLUICE_ERR_PROTOCOL);
  EXPECT_EQ(event("{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}"),
            SLUICE_ERR_PROTOCOL);
  EXPECT_TRUE(emitter_.chunks.empty());
}

// ---- bodies -----------------------------------------------------------------

TEST_F(OpenAiCompatibleTest, MistralBodyContentArrayBecomesString) {
  ASSERT_EQ(decode(200, fixture("mistral/mistral-reasoning.json")), SLUICE_OK);
  ASSERT_EQ(emitter_.chunks.size(), 1u);
  Json body(cJSON_Parse(emitter_.chunks[0].c_str()));
  const cJSON* message = get(cJSON_GetArrayItem(get(body.get(), "choices"), 0), "message");
  EXPECT_EQ(str(message, "content"), "2 + 2 = 4");
  EXPECT_EQ(str(message, "reasoning_content"),
            "The user is asking for 2+2. This is basic arithmetic. 2+2=4.");
  EXPECT_EQ(str(body.get(), "object"), "chat.completion");
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 10);
  EXPECT_EQ(emitter_.usages[0].completion, 46);
}

TEST_F(OpenAiCompatibleTest, MistralBodyToolCallGetsType) {
  ASSERT_EQ(decode(200, fixture("mistral/mistral-tool-call.json")), SLUICE_OK);
  Json body(cJSON_Parse(emitter_.chunks.at(0).c_str()));
  const cJSON* message = get(cJSON_GetArrayItem(get(body.get(), "choices"), 0), "message");
  const cJSON* call = cJSON_GetArrayItem(get(message, "tool_calls"), 0);
  EXPECT_EQ(str(call, "type"), "function");
  EXPECT_EQ(str(call, "id"), "gSIMJiOkT");
  EXPECT_FALSE(cJSON_HasObjectItem(call, "index"));  // bodies carry no index
}

TEST_F(OpenAiCompatibleTest, GroqBodyReasoningBecomesReasoningContent) {
  ASSERT_EQ(decode(200, fixture("groq/groq-reasoning.json")), SLUICE_OK);
  Json body(cJSON_Parse(emitter_.chunks.at(0).c_str()));
  const cJSON* message = get(cJSON_GetArrayItem(get(body.get(), "choices"), 0), "message");
  EXPECT_EQ(str(message, "reasoning_content").substr(0, 33), "Okay, so the user is asking how m");
  EXPECT_FALSE(cJSON_HasObjectItem(message, "reasoning"));
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 17);
  EXPECT_EQ(emitter_.usages[0].completion, 649);
}

TEST_F(OpenAiCompatibleTest, CanonicalBodiesPassThroughByteForByte) {
  for (const char* name : {"deepseek/deepseek-tool-call.json", "groq/groq-tool-call.json"}) {
    emitter_ = RecordingEmitter();
    std::string body = fixture(name);
    ASSERT_EQ(decode(200, body), SLUICE_OK) << name;
    ASSERT_EQ(emitter_.chunks.size(), 1u);
    EXPECT_EQ(emitter_.chunks[0], body) << name;
    EXPECT_EQ(emitter_.usages.size(), 1u);
  }
  EXPECT_EQ(emitter_.usages[0].prompt, 218);
  EXPECT_EQ(emitter_.usages[0].completion, 15);
}

TEST_F(OpenAiCompatibleTest, XaiBodyUsageCountsReasoning) {
  std::string body = fixture("xai/xai-tool-call.json");
  ASSERT_EQ(decode(200, body), SLUICE_OK);
  EXPECT_EQ(emitter_.chunks.at(0), body);
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 291);
  EXPECT_EQ(emitter_.usages[0].completion, 215);  // total 506 - prompt 291
  EXPECT_EQ(emitter_.usages[0].cached, 244);
}

TEST_F(OpenAiCompatibleTest, ErrorBodiesPassThrough) {
  std::string body = "{\"error\":{\"message\":\"Rate limit\",\"type\":\"rate_limit\"}}";
  ASSERT_EQ(decode(429, body), SLUICE_OK);
  ASSERT_EQ(emitter_.chunks.size(), 1u);
  EXPECT_EQ(emitter_.chunks[0], body);
  EXPECT_TRUE(emitter_.usages.empty());
  emitter_ = RecordingEmitter();
  ASSERT_EQ(decode(502, "<html>bad gateway</html>"), SLUICE_OK);
  EXPECT_EQ(emitter_.chunks.at(0), "<html>bad gateway</html>");
}

TEST_F(OpenAiCompatibleTest, BrokenSuccessBodyIsAProtocolError) {
  EXPECT_EQ(decode(200, "{\"id\":\"x\",\"choices\":["), SLUICE_ERR_PROTOCOL);
  EXPECT_TRUE(emitter_.chunks.empty());
}

TEST_F(OpenAiCompatibleTest, EmbeddingsPassThroughWithUsage) {
  std::string body =
      "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":"
      "[0.1,-0.2]}],\"model\":\"bge\",\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}";
  ASSERT_EQ(decode(200, body, SLUICE_EP_EMBEDDINGS), SLUICE_OK);
  EXPECT_EQ(emitter_.chunks.at(0), body);
  ASSERT_EQ(emitter_.usages.size(), 1u);
  EXPECT_EQ(emitter_.usages[0].prompt, 5);
  EXPECT_EQ(emitter_.usages[0].completion, 0);
}

TEST_F(OpenAiCompatibleTest, OtherEndpointsPassThrough) {
  std::string audio("ID3\x00\x01binary", 11);
  ASSERT_EQ(decode(200, audio, SLUICE_EP_AUDIO_SPEECH), SLUICE_OK);
  EXPECT_EQ(emitter_.chunks.at(0), audio);
  EXPECT_TRUE(emitter_.usages.empty());
}

}  // namespace
}  // namespace sluice::testing
