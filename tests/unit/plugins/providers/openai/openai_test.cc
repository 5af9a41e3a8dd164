// Provider `openai`: descriptor, config validation and request building.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "sluice/plugin.h"
#include "support/fake_host.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

const char* kKey = "sk-test-5f1c0ffee";

const sluice_provider_vtable* vtable() {
  return static_cast<const sluice_provider_vtable*>(sluice_plugin_entry()->vtable);
}

const sluice_config_key* findKey(const sluice_config_key* keys, const char* name) {
  for (; keys && keys->name; keys++) {
    if (strcmp(keys->name, name) == 0) return keys;
  }
  return nullptr;
}

class OpenAiTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (instance_) vtable()->destroy(instance_);
    for (const auto& line : host_.logs) {
      EXPECT_EQ(line.message.find(kKey), std::string::npos) << "key logged: " << line.message;
    }
  }

  int create(const std::string& config) {
    err_[0] = '\0';
    return vtable()->create(host_.table(), config.c_str(), &instance_, err_, sizeof(err_));
  }

  void createOk(const std::string& config) {
    ASSERT_EQ(create(config), SLUICE_OK) << err_;
    ASSERT_NE(instance_, nullptr);
  }

  // Builds a request and keeps its state; returns the status.
  int build(sluice_endpoint ep, const std::string& body, bool stream = false) {
    body_ = body;
    call_ = makeCall(ep, body_, model_, stream);
    out_ = emptyUpstream();
    state_ = nullptr;
    return vtable()->build_request(instance_, &call_, &out_, &state_);
  }

  void endCall() {
    if (vtable()->call_end) vtable()->call_end(instance_, state_);
    state_ = nullptr;
  }

  FakeHost host_;
  void* instance_ = nullptr;
  char err_[256];
  std::string model_ = "gpt-4o-mini";
  std::string body_;
  sluice_provider_call call_{};
  sluice_upstream_request out_{};
  void* state_ = nullptr;
};

TEST_F(OpenAiTest, Descriptor) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->magic, SLUICE_PLUGIN_MAGIC);
  EXPECT_EQ(d->abi_major, SLUICE_ABI_MAJOR);
  EXPECT_EQ(d->abi_minor, SLUICE_ABI_MINOR);
  EXPECT_EQ(d->struct_size, sizeof(sluice_plugin_descriptor));
  EXPECT_EQ(d->kind, SLUICE_KIND_PROVIDER);
  EXPECT_STREQ(d->name, "openai");
  EXPECT_STREQ(d->version, "1.0.0");
  ASSERT_NE(d->description, nullptr);

  const sluice_config_key* base = findKey(d->config, "base_url");
  ASSERT_NE(base, nullptr);
  EXPECT_EQ(base->type, SLUICE_CFG_STRING);
  EXPECT_EQ(base->flags & SLUICE_CFG_REQUIRED, 0u);
  EXPECT_STREQ(base->default_json, "\"https://api.openai.com/v1\"");
  const sluice_config_key* auth = findKey(d->config, "auth");
  ASSERT_NE(auth, nullptr);
  EXPECT_EQ(auth->type, SLUICE_CFG_OBJECT);
  const sluice_config_key* bearer = findKey(auth->children, "bearer");
  ASSERT_NE(bearer, nullptr);
  EXPECT_EQ(bearer->type, SLUICE_CFG_STRING);
  EXPECT_NE(bearer->flags & SLUICE_CFG_SECRET, 0u);
  EXPECT_EQ(findKey(d->config, "organization")->type, SLUICE_CFG_STRING);
  EXPECT_EQ(findKey(d->config, "project")->type, SLUICE_CFG_STRING);
  EXPECT_EQ(findKey(d->config, "headers")->type, SLUICE_CFG_ANY);

  const sluice_provider_vtable* vt = vtable();
  EXPECT_EQ(vt->struct_size, sizeof(sluice_provider_vtable));
  EXPECT_NE(vt->create, nullptr);
  EXPECT_NE(vt->destroy, nullptr);
  EXPECT_NE(vt->build_request, nullptr);
  EXPECT_EQ(vt->decode_body, nullptr);   // bodies pass through; the kernel reads usage
  EXPECT_EQ(vt->stream_event, nullptr);  // SSE passes through
  EXPECT_EQ(vt->local_respond, nullptr);
  EXPECT_EQ(vt->local_cancel, nullptr);
}

TEST_F(OpenAiTest, CreateWithDefaults) {
  createOk("{}");
  ASSERT_EQ(build(SLUICE_EP_CHAT, "{}"), SLUICE_OK);
  EXPECT_EQ(toString(out_.url), "https://api.openai.com/v1/chat/completions");
  EXPECT_EQ(headersOf(out_), (Headers{{"Content-Type", "application/json"}}));
  // No key is worth a warning: OpenAI refuses every such request.
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.logs[0].level, SLUICE_LOG_WARN);
  EXPECT_EQ(host_.logs[0].message, "no auth.bearer configured: requests carry no API key");
}

TEST_F(OpenAiTest, CreateWithKeyLogsNothing) {
  createOk(std::string("{\"auth\":{\"bearer\":\"") + kKey + "\"}}");
  EXPECT_TRUE(host_.logs.empty());
}

struct BadConfig {
  const char* json;
  const char* error;
};

TEST_F(OpenAiTest, CreateRejectsBadConfigs) {
  const BadConfig cases[] = {
      {"not json", "config must be a JSON object"},
      {"[1]", "config must be a JSON object"},
      {"{\"base_url\":5}", "base_url must be a string"},
      {"{\"base_url\":\"ftp://example.com\"}", "base_url must be an http:// or https:// URL"},
      {"{\"base_url\":\"https://\"}", "base_url must be an http:// or https:// URL"},
      {"{\"base_url\":\"https://a b\"}", "base_url must be an http:// or https:// URL"},
      {"{\"auth\":\"key\"}", "auth must be an object"},
      {"{\"auth\":{\"bearer\":7}}", "auth.bearer must be a string"},
      {"{\"auth\":{\"bearer\":\"sk-1\\r\\nX-Evil: 1\"}}", "auth.bearer contains a line break"},
      {"{\"organization\":1}", "organization must be a string"},
      {"{\"project\":\"p\\n\"}", "project contains a line break"},
      {"{\"headers\":[\"a\"]}", "headers must be an object of strings"},
      {"{\"headers\":{\"X-A\":1}}", "headers.X-A must be a string"},
      {"{\"headers\":{\"X A\":\"1\"}}", "headers: invalid header name \"X A\""},
      {"{\"headers\":{\"X-A\":\"1\\r\\nX-B: 2\"}}", "headers.X-A contains a line break"},
  };
  for (const BadConfig& c : cases) {
    instance_ = nullptr;
    EXPECT_EQ(create(c.json), SLUICE_ERR_CONFIG) << c.json;
    EXPECT_STREQ(err_, c.error) << c.json;
    EXPECT_EQ(instance_, nullptr);
  }
}

TEST_F(OpenAiTest, CreateRejectsTooManyHeaders) {
  std::string headers;
  for (int i = 0; i < 12; i++) {
    headers += (i ? ",\"X-H" : "\"X-H") + std::to_string(i) + "\":\"v\"";
  }
  EXPECT_EQ(create("{\"headers\":{" + headers + "}}"), SLUICE_ERR_CONFIG);
  EXPECT_STREQ(err_, "headers: at most 11 extra headers");
}

TEST_F(OpenAiTest, ErrorTextIsTruncatedToTheBuffer) {
  char small[8];
  void* inst = nullptr;
  EXPECT_EQ(vtable()->create(host_.table(), "{\"base_url\":5}", &inst, small, sizeof(small)),
            SLUICE_ERR_CONFIG);
  EXPECT_STREQ(small, "base_ur");
}

TEST_F(OpenAiTest, SecretNeverInErrorText) {
  std::string config = std::string("{\"auth\":{\"bearer\":\"") + kKey + "\\n\"}}";
  EXPECT_EQ(create(config), SLUICE_ERR_CONFIG);
  EXPECT_EQ(std::string(err_).find(kKey), std::string::npos);
}

TEST_F(OpenAiTest, BuildsEveryEndpoint) {
  createOk(std::string("{\"base_url\":\"https://gw.example.com/v1/\",\"auth\":{\"bearer\":\"") +
           kKey + "\"},\"organization\":\"org-1\",\"project\":\"proj_2\"}");
  struct Case {
    sluice_endpoint ep;
    const char* method;
    const char* path;
  };
  const Case cases[] = {
      {SLUICE_EP_CHAT, "POST", "/chat/completions"},
      {SLUICE_EP_COMPLETIONS, "POST", "/completions"},
      {SLUICE_EP_EMBEDDINGS, "POST", "/embeddings"},
      {SLUICE_EP_MODELS, "GET", "/models"},
      {SLUICE_EP_IMAGES_GENERATIONS, "POST", "/images/generations"},
      {SLUICE_EP_AUDIO_SPEECH, "POST", "/audio/speech"},
      {SLUICE_EP_MODERATIONS, "POST", "/moderations"},
  };
  const std::string auth = std::string("Bearer ") + kKey;
  for (const Case& c : cases) {
    ASSERT_EQ(build(c.ep, c.ep == SLUICE_EP_MODELS ? "" : "{\"model\":\"m\"}"), SLUICE_OK);
    EXPECT_EQ(toString(out_.method), c.method);
    EXPECT_EQ(toString(out_.url), std::string("https://gw.example.com/v1") + c.path);
    Headers want{
        {"Authorization", auth}, {"OpenAI-Organization", "org-1"}, {"OpenAI-Project", "proj_2"}};
    if (c.ep != SLUICE_EP_MODELS) want.emplace_back("Content-Type", "application/json");
    EXPECT_EQ(headersOf(out_), want) << c.path;
    EXPECT_EQ(out_.body.len, 0u);  // the canonical body goes unchanged
    EXPECT_EQ(out_.local, 0);
    EXPECT_EQ(state_, nullptr);
    endCall();
  }
}

TEST_F(OpenAiTest, RerankIsUnsupported) {
  createOk("{\"auth\":{\"bearer\":\"k\"}}");
  EXPECT_EQ(build(SLUICE_EP_RERANK, "{}"), SLUICE_ERR_UNSUPPORTED);
  // An endpoint from a newer ABI minor (still within the enum's value range).
  EXPECT_EQ(build(static_cast<sluice_endpoint>(15), "{}"), SLUICE_ERR_UNSUPPORTED);
}

TEST_F(OpenAiTest, StreamsAskForEventStream) {
  createOk("{\"auth\":{\"bearer\":\"k\"}}");
  ASSERT_EQ(build(SLUICE_EP_CHAT, "{\"stream\":true}", /*stream=*/true), SLUICE_OK);
  EXPECT_EQ(headersOf(out_), (Headers{{"Authorization", "Bearer k"},
                                      {"Content-Type", "application/json"},
                                      {"Accept", "text/event-stream"}}));
}

TEST_F(OpenAiTest, ExtraHeadersAppendOrReplace) {
  createOk(
      "{\"auth\":{\"bearer\":\"k\"},\"headers\":{\"X-Team\":\"blue\","
      "\"content-type\":\"application/json; charset=utf-8\"}}");
  ASSERT_EQ(build(SLUICE_EP_CHAT, "{}"), SLUICE_OK);
  EXPECT_EQ(headersOf(out_), (Headers{{"Authorization", "Bearer k"},
                                      {"Content-Type", "application/json; charset=utf-8"},
                                      {"X-Team", "blue"}}));
}

TEST_F(OpenAiTest, MultipartTakesTheBoundaryFromTheBody) {
  createOk("{\"auth\":{\"bearer\":\"k\"}}");
  const sluice_endpoint eps[] = {SLUICE_EP_IMAGES_EDITS, SLUICE_EP_AUDIO_TRANSCRIPTIONS,
                                 SLUICE_EP_AUDIO_TRANSLATIONS};
  const char* paths[] = {"/images/edits", "/audio/transcriptions", "/audio/translations"};
  for (int i = 0; i < 3; i++) {
    std::string body =
        "--form-abc123\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
        "--form-abc123--\r\n";
    ASSERT_EQ(build(eps[i], body), SLUICE_OK);
    EXPECT_EQ(toString(out_.url), std::string("https://api.openai.com/v1") + paths[i]);
    EXPECT_EQ(headersOf(out_),
              (Headers{{"Authorization", "Bearer k"},
                       {"Content-Type", "multipart/form-data; boundary=form-abc123"}}));
    EXPECT_NE(state_, nullptr);  // the Content-Type lives in the call state
    endCall();
  }
}

TEST_F(OpenAiTest, MultipartWithoutBoundaryLeavesContentTypeToTheKernel) {
  createOk("{\"auth\":{\"bearer\":\"k\"}}");
  ASSERT_EQ(build(SLUICE_EP_AUDIO_TRANSCRIPTIONS, "{\"model\":\"whisper-1\"}"), SLUICE_OK);
  EXPECT_EQ(headersOf(out_), (Headers{{"Authorization", "Bearer k"}}));
  endCall();
}

}  // namespace
}  // namespace sluice::testing
