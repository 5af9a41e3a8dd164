// The sqlite sink keeps a record's fields, not its JSON, and writes the JSON
// back for /admin/requests/{id}. What it writes must be byte for byte the
// kernel's record JSON (schema 1), whether or not the batch carried JSON.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "support/fake_host.h"
#include "support/temp_dir.h"
#include "telemetry/record_batch.h"
#include "telemetry/record_json.h"

namespace sluice::telemetry {
namespace {

pipeline::RequestRecord everyField() {
  pipeline::RequestRecord r;
  r.id = "req_full";
  r.start_ms = 1795000000123;
  r.end_ms = 1795000000456;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.client_ip = "10.0.0.7";
  r.trace_id = "0af7651916cd43dd8448eb211c80319c";
  r.span_id = "b7ad6b7169203331";
  r.parent_span_id = "00f067aa0ba902b7";
  r.subject = "user:a\"b\\c@example.com";
  r.team = "payments";
  r.metadata = {{"env", "prod"}, {"note", "line\nbreak \x01 \xc3\xa9"}};
  r.requested_model = "prod/assistant";
  r.resolved_model = "openai/gpt-4o";
  r.provider = "openai-main";
  r.provider_type = "openai";
  r.applied_rules = {"route-1", "per-caller", "spend"};
  r.attempts = {{"azure/gpt-4o", 503, "", 12.5}, {"azure/gpt-4o", 0, "timeout", 3000},
                {"openai/gpt-4o", 200, "", 321.25}};
  r.events = {{"spend", "budget", "downgraded"}};
  r.findings = {{"pii", "llm_input", "EMAIL", 2, "redact"},
                {"secrets", "llm_output", "AWS_ACCESS_KEY", 1, "audit"}};
  r.status = 200;
  r.stream = true;
  r.prompt_tokens = 1234;
  r.completion_tokens = 56;
  r.cached_tokens = 1000;
  r.tokens_estimated = true;
  r.cost_usd = 0.00042;
  r.phases = {0.25, 1.5, 0.125, 120, 121.5, 8.75, 0.5, 333.375};
  r.bodies_logged = true;
  r.request_body = "{\"model\":\"prod/assistant\",\"messages\":[{\"content\":\"\\u00e9\"}]}";
  r.response_body = "data: {\"x\":1}\n\ndata: [DONE]\n\n";
  return r;
}

pipeline::RequestRecord fewFields() {
  pipeline::RequestRecord r;
  r.id = "req_few";
  r.start_ms = 1795000001000;
  r.end_ms = 1795000001001;
  r.method = "GET";
  r.path = "/v1/models";
  r.subject = "anonymous";
  r.status = 401;
  r.error_code = "invalid_api_key";
  r.phases.total = 0.5;
  return r;
}

// Times the kernel writes (whole microseconds, some of them printed in
// exponent form when shortest) and times it does not (a mean per token).
pipeline::RequestRecord oddTimes() {
  pipeline::RequestRecord r = fewFields();
  r.id = "req_times";
  r.attempts = {{"openai/gpt-4o", 200, "", 1000000}, {"openai/gpt-4o", 0, "timeout", 0.001},
                {"openai/gpt-4o", 200, "", 2.0000001}};
  r.phases = {0.001, 12.005, 1234.567, 1e6, 0.1, 3.3333333333333335, 0, 90000000.25};
  return r;
}

class SqliteRecords : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    std::string so = std::string(SLUICE_BINARY_DIR) + "/plugins/sinks/sqlite.so";
    lib_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(lib_, nullptr) << dlerror();
    auto entry = reinterpret_cast<const sluice_plugin_descriptor* (*)()>(
        dlsym(lib_, "sluice_plugin_entry"));
    ASSERT_NE(entry, nullptr);
    vt_ = static_cast<const sluice_sink_vtable*>(entry()->vtable);
    std::string cfg = "{\"path\":\"" + dir_.path() + "/r.db\"}";
    char err[256] = {0};
    ASSERT_EQ(vt_->create(host_.table(), cfg.c_str(), &sink_, err, sizeof err), SLUICE_OK) << err;
  }
  void TearDown() override {
    if (sink_) vt_->destroy(sink_);
    if (lib_) dlclose(lib_);
  }
  // (status, body) of the "request" query for `id`.
  std::pair<int, std::string> request(const std::string& id) {
    std::string name = "id";
    sluice_header param{{name.data(), name.size()}, {id.data(), id.size()}};
    sluice_sink_query q{sizeof q, {"request", 7}, &param, 1};
    std::pair<int, std::string> out;
    int rc = vt_->query(
        sink_, &q,
        [](void* ctx, int status, const char*, const char* body, size_t len) {
          auto* o = static_cast<std::pair<int, std::string>*>(ctx);
          o->first = status;
          o->second.assign(body, len);
        },
        &out);
    EXPECT_EQ(rc, SLUICE_OK);
    return out;
  }

  sluice::testing::TempDir dir_;
  sluice::testing::FakeHost host_;
  void* lib_ = nullptr;
  const sluice_sink_vtable* vt_ = nullptr;
  void* sink_ = nullptr;
};

TEST_P(SqliteRecords, TheAdminReadIsTheKernelsJsonByteForByte) {
  std::vector<std::unique_ptr<pipeline::RequestRecord>> records;
  records.push_back(std::make_unique<pipeline::RequestRecord>(everyField()));
  records.push_back(std::make_unique<pipeline::RequestRecord>(fewFields()));
  records.push_back(std::make_unique<pipeline::RequestRecord>(oddTimes()));
  RecordBatch batch;
  batch.build(records, /*json=*/GetParam());
  ASSERT_EQ(vt_->write(sink_, &batch.batch()), SLUICE_OK);
  vt_->flush(sink_);

  for (const auto& r : records) {
    std::string want;
    appendRecordJson(*r, &want);
    auto [status, body] = request(r->id);
    EXPECT_EQ(status, 200);
    EXPECT_EQ(body, want);
  }
  EXPECT_EQ(request("req_missing").first, 404);
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutJson, SqliteRecords, ::testing::Bool());

}  // namespace
}  // namespace sluice::telemetry
