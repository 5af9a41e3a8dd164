// Guardrail `webhook`: the request it sends (through the fake host's recorded
// HTTP calls), every answer the service may give (pass, block, mutate,
// findings, non-2xx, malformed JSON, a transport error), done() exactly once,
// completion before check() returns, cancel, and config errors.
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "sluice/plugin.h"
#include "support/guard_harness.h"

namespace sluice::testing {
namespace {

// What the host's done() callback saw.
struct Completion {
  int calls = 0;
  sluice_verdict verdict = SLUICE_VERDICT_PASS;
  std::string reason;
  std::string content;
  std::vector<std::string> findings;  // "TYPE x COUNT (action)"

  static void done(void* token, const sluice_guard_result* r) {
    auto* c = static_cast<Completion*>(token);
    c->calls++;
    c->verdict = r->verdict;
    c->reason = toString(r->reason);
    c->content = toString(r->content);
    for (size_t i = 0; i < r->finding_count; i++) {
      c->findings.push_back(toString(r->findings[i].type) + " x" +
                            std::to_string(r->findings[i].count) + " (" +
                            toString(r->findings[i].action) + ")");
    }
  }
};

class Webhook : public ::testing::Test {
 protected:
  void create(const std::string& config) {
    char err[512] = "";
    ASSERT_EQ(guardVtable()->create(host_.table(), config.c_str(), &instance_, err, sizeof err),
              SLUICE_OK)
        << err;
  }
  void TearDown() override {
    if (instance_) guardVtable()->destroy(instance_);
  }

  // Starts a check of `text`; returns check()'s status.
  int start(const std::string& text, Completion* completion, sluice_guard_result* res) {
    text_ = text;
    sluice_guard_input in{};
    in.struct_size = sizeof(in);
    in.hook = SLUICE_HOOK_LLM_INPUT;
    in.content = {text_.data(), text_.size()};
    in.model = {"openai/gpt-4o-mini", 18};
    in.subject = {"user:alice@example.com", 22};
    in.metadata_json = {R"({"team":"payments"})", 19};
    in.worker = reinterpret_cast<sluice_worker*>(0x1);
    in.done = &Completion::done;
    in.token = completion;
    in.request_id = {"req-42", 6};
    in.request_state = &state_;
    res->struct_size = sizeof(*res);
    return guardVtable()->check(instance_, &in, res);
  }

  // A check answered by the service with `status` and `body`.
  Completion answered(int status, const std::string& body) {
    Completion c;
    sluice_guard_result res{};
    EXPECT_EQ(start("hello", &c, &res), SLUICE_PENDING);
    EXPECT_EQ(c.calls, 0);
    host_.respond(host_.http_calls.size() - 1, status, body);
    EXPECT_EQ(c.calls, 1);
    return c;
  }

  FakeHost host_;
  void* instance_ = nullptr;
  void* state_ = nullptr;
  std::string text_;
};

const char* kConfig = R"({"url": "https://guard.example.com/v1/check", "bearer": "s3cret-token",
                          "headers": {"X-Team": "payments"}})";

TEST_F(Webhook, PostsTheDocumentedRequest) {
  create(kConfig);
  Completion c;
  sluice_guard_result res{};
  ASSERT_EQ(start("Is \"this\" ok?\n", &c, &res), SLUICE_PENDING);
  ASSERT_EQ(host_.http_calls.size(), 1u);
  const FakeHost::HttpCall& call = host_.http_calls[0];
  EXPECT_EQ(call.method, "POST");
  EXPECT_EQ(call.url, "https://guard.example.com/v1/check");
  EXPECT_EQ(call.headers, (std::vector<std::pair<std::string, std::string>>{
                              {"Content-Type", "application/json"},
                              {"Authorization", "Bearer s3cret-token"},
                              {"X-Team", "payments"}}));
  std::unique_ptr<cJSON, void (*)(cJSON*)> body(cJSON_Parse(call.body.c_str()), cJSON_Delete);
  ASSERT_TRUE(body);
  auto field = [&](const char* k) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(body.get(), k);
    return cJSON_IsString(v) ? std::string(v->valuestring) : "<missing>";
  };
  EXPECT_EQ(field("hook"), "llm_input");
  EXPECT_EQ(field("content"), "Is \"this\" ok?\n");
  EXPECT_EQ(field("model"), "openai/gpt-4o-mini");
  EXPECT_EQ(field("subject"), "user:alice@example.com");
  EXPECT_EQ(field("request_id"), "req-42");
  const cJSON* metadata = cJSON_GetObjectItemCaseSensitive(body.get(), "metadata");
  ASSERT_TRUE(cJSON_IsObject(metadata));
  EXPECT_STREQ(cJSON_GetObjectItemCaseSensitive(metadata, "team")->valuestring, "payments");
  host_.respond(0, 200, R"({"verdict": "pass"})");
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(c.verdict, SLUICE_VERDICT_PASS);
}

TEST_F(Webhook, PassBlockAndMutateWithFindings) {
  create(kConfig);
  Completion pass = answered(200, R"({"verdict": "pass"})");
  EXPECT_EQ(pass.verdict, SLUICE_VERDICT_PASS);
  EXPECT_TRUE(pass.findings.empty());

  Completion block = answered(200, R"({"verdict": "block", "reason": "toxic language",
      "findings": [{"type": "TOXICITY", "count": 2}]})");
  EXPECT_EQ(block.verdict, SLUICE_VERDICT_BLOCK);
  EXPECT_EQ(block.reason, "toxic language");
  EXPECT_EQ(block.findings, std::vector<std::string>{"TOXICITY x2 (block)"});

  Completion bare = answered(200, R"({"verdict": "block"})");
  EXPECT_EQ(bare.reason, "blocked by the webhook");

  Completion mutate = answered(201, R"({"verdict": "mutate", "content": "hello [NAME]",
      "findings": [{"type": "PERSON", "action": "redact"}, {"type": "LOCATION", "count": 0}]})");
  EXPECT_EQ(mutate.verdict, SLUICE_VERDICT_MUTATE);
  EXPECT_EQ(mutate.content, "hello [NAME]");
  EXPECT_EQ(mutate.findings,
            (std::vector<std::string>{"PERSON x1 (redact)", "LOCATION x0 (redact)"}));

  Completion audit = answered(200, R"({"verdict": "pass", "findings": [{"type": "SPAM"}]})");
  EXPECT_EQ(audit.findings, std::vector<std::string>{"SPAM x1 (audit)"});
}

TEST_F(Webhook, BadAnswersFailNamingWhatWasWrong) {
  create(kConfig);
  struct Case {
    int status;
    const char* body;
    const char* reason;
  } cases[] = {
      {503, "upstream busy", "webhook answered HTTP 503"},
      {404, R"({"verdict": "pass"})", "webhook answered HTTP 404"},
      {302, "", "webhook answered HTTP 302"},
      {200, "not json", "webhook answer is not a JSON object"},
      {200, R"(["pass"])", "webhook answer is not a JSON object"},
      {200, "{}", R"(webhook answer: "verdict" must be "pass", "block" or "mutate")"},
      {200, R"({"verdict": "allow"})",
       R"(webhook answer: "verdict" must be "pass", "block" or "mutate")"},
      {200, R"({"verdict": "mutate"})", R"(webhook answer: "mutate" needs a string "content")"},
      {200, R"({"verdict": "block", "reason": 3})", R"(webhook answer: "reason" must be a string)"},
      {200, R"({"verdict": "block", "findings": {}})",
       R"(webhook answer: "findings" must be a list)"},
      {200, R"({"verdict": "block", "findings": [{"count": 1}]})",
       R"(webhook answer: findings[0] needs a string "type")"},
      {200, R"({"verdict": "block", "findings": [{"type": "X", "count": -1}]})",
       "webhook answer: findings[0].count must be a number of 0 or more"},
  };
  for (const Case& k : cases) {
    Completion c = answered(k.status, k.body);
    EXPECT_EQ(c.verdict, SLUICE_VERDICT_FAIL) << k.body;
    EXPECT_EQ(c.reason, k.reason) << k.body;
  }
}

TEST_F(Webhook, TransportErrorFails) {
  create(kConfig);
  Completion c;
  sluice_guard_result res{};
  ASSERT_EQ(start("hello", &c, &res), SLUICE_PENDING);
  host_.fail(0, "connect: connection refused");
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(c.verdict, SLUICE_VERDICT_FAIL);
  EXPECT_EQ(c.reason, "webhook unreachable: connect: connection refused");
}

TEST_F(Webhook, CancelStopsEverything) {
  create(kConfig);
  Completion c;
  sluice_guard_result res{};
  ASSERT_EQ(start("hello", &c, &res), SLUICE_PENDING);
  guardVtable()->cancel(instance_, &c);
  EXPECT_TRUE(host_.http_calls[0].cancelled);
  host_.respond(0, 200, R"({"verdict": "block"})");  // the host calls nothing after a cancel
  EXPECT_EQ(c.calls, 0);
  guardVtable()->cancel(instance_, &c);  // a second cancel, or one for an unknown token: nothing
  EXPECT_EQ(c.calls, 0);
}

TEST_F(Webhook, ConcurrentChecksCompleteIndependently) {
  create(kConfig);
  Completion a, b;
  sluice_guard_result ra{}, rb{};
  ASSERT_EQ(start("one", &a, &ra), SLUICE_PENDING);
  ASSERT_EQ(start("two", &b, &rb), SLUICE_PENDING);
  host_.respond(1, 200, R"({"verdict": "block", "reason": "second"})");
  guardVtable()->cancel(instance_, &a);
  EXPECT_EQ(a.calls, 0);
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(b.reason, "second");
}

// A host whose HTTP client answers before http_request() returns.
const sluice_http_response* g_instant_answer = nullptr;
sluice_http_call* instantHttp(sluice_worker*, const sluice_http_request*, sluice_http_cb cb,
                              void* user) {
  cb(user, g_instant_answer);
  return reinterpret_cast<sluice_http_call*>(0x1);
}
sluice_http_call* refusingHttp(sluice_worker*, const sluice_http_request*, sluice_http_cb, void*) {
  return nullptr;
}

TEST_F(Webhook, ACompletionBeforeCheckReturnsIsDeliveredOnce) {
  sluice_host instant = *host_.table();
  instant.http_request = instantHttp;
  std::string body = R"({"verdict": "block", "reason": "instant"})";
  sluice_http_response res{sizeof(res), 200, {}, nullptr, 0, {body.data(), body.size()}};
  g_instant_answer = &res;
  char err[256];
  ASSERT_EQ(guardVtable()->create(&instant, kConfig, &instance_, err, sizeof err), SLUICE_OK);
  Completion c;
  sluice_guard_result r{};
  EXPECT_EQ(start("hello", &c, &r), SLUICE_PENDING);
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(c.reason, "instant");
  guardVtable()->cancel(instance_, &c);  // too late: nothing left to cancel
  EXPECT_EQ(c.calls, 1);
}

TEST_F(Webhook, ACallTheHostCannotStartFailsAtOnce) {
  sluice_host refusing = *host_.table();
  refusing.http_request = refusingHttp;
  char err[256];
  ASSERT_EQ(guardVtable()->create(&refusing, kConfig, &instance_, err, sizeof err), SLUICE_OK);
  Completion c;
  sluice_guard_result r{};
  EXPECT_EQ(start("hello", &c, &r), SLUICE_OK);
  EXPECT_EQ(r.verdict, SLUICE_VERDICT_FAIL);
  EXPECT_EQ(toString(r.reason), "webhook call could not be started");
  EXPECT_EQ(c.calls, 0);
}

TEST(WebhookConfig, ErrorsNameTheKeyNeverASecretValue) {
  EXPECT_EQ(createError("{}"), "url: required (the guardrail service's http:// or https:// URL)");
  EXPECT_EQ(createError(R"({"url": "ftp://guard.example.com"})"),
            "url: must be an absolute http:// or https:// URL with a host");
  EXPECT_EQ(createError(R"({"url": "https:///path"})"),
            "url: must be an absolute http:// or https:// URL with a host");
  EXPECT_EQ(createError(R"({"url": "http://g", "headers": {"X-Key": 5}})"),
            "headers.X-Key: expected a string");
  EXPECT_EQ(createError(R"({"url": "http://g", "headers": {"X-Key": "top\r\nsecret"}})"),
            "headers.X-Key: the value must not contain line breaks");
  EXPECT_EQ(createError(R"({"url": "http://g", "headers": {"Bad Name": "v"}})"),
            "headers: 'Bad Name' is not a valid header name");
  EXPECT_EQ(createError(R"({"url": "http://g", "headers": []})"),
            "headers: expected a mapping of header names to values");
  EXPECT_EQ(createError(R"({"url": "http://127.0.0.1:9999/check"})"), "<created>");
}

TEST(WebhookConfig, DescriptorMarksSecretsAndRequiresUrl) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_STREQ(d->name, "webhook");
  EXPECT_EQ(d->kind, SLUICE_KIND_GUARDRAIL);
  const sluice_config_key* url = &d->config[0];
  const sluice_config_key* bearer = &d->config[1];
  const sluice_config_key* headers = &d->config[2];
  EXPECT_STREQ(url->name, "url");
  EXPECT_TRUE(url->flags & SLUICE_CFG_REQUIRED);
  EXPECT_STREQ(bearer->name, "bearer");
  EXPECT_TRUE(bearer->flags & SLUICE_CFG_SECRET);
  EXPECT_STREQ(headers->name, "headers");
  EXPECT_TRUE(headers->flags & SLUICE_CFG_SECRET);
}

}  // namespace
}  // namespace sluice::testing
