// Lua policies (kernel/lua): loading and checking scripts, the req/res/record
// API, rejections, failures and what each hook may change.
#include "lua/policies.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/headers.h"
#include "http/server.h"
#include "lua/worker_policies.h"
#include "pipeline/record.h"
#include "support/temp_dir.h"

namespace sluice::lua {
namespace {

using sluice::testing::TempDir;
using ::testing::internal::CaptureStderr;
using ::testing::internal::GetCapturedStderr;

size_t countLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) n++;
  return n;
}

class PoliciesTest : public ::testing::Test {
 protected:
  // A policies entry for a script written into the temp dir.
  manifest::PolicyConfig policy(const std::string& name, const std::string& source,
                                std::vector<std::string> hooks = {}) {
    manifest::PolicyConfig pc;
    pc.script = dir_.write(name, source);
    pc.hooks = std::move(hooks);
    pc.mark = {"sluice.yaml", 12, 5};
    pc.instruction_budget = 100000;
    pc.memory_bytes = 2 * 1024 * 1024;
    return pc;
  }

  std::shared_ptr<const Policies> load(std::vector<manifest::PolicyConfig> configs) {
    errors_.clear();
    return Policies::load(configs, &errors_);
  }

  // Loads and expects success; the worker states are ready for requests.
  void use(std::vector<manifest::PolicyConfig> configs) {
    auto p = load(std::move(configs));
    ASSERT_NE(p, nullptr) << (errors_.empty() ? "" : errors_[0]);
    worker_ = std::make_unique<WorkerPolicies>(p);
  }
  void use(const std::string& source) { use({policy("p.lua", source)}); }

  // on_request, with what it logged in *log.
  Outcome requestLogged(RequestView& v, std::string* log) {
    CaptureStderr();
    Outcome o = worker_->onRequest(v);
    *log = GetCapturedStderr();
    return o;
  }

  // A request view over this fixture's request, metadata and model.
  RequestView view(const std::string& model = "up/gpt-4o") {
    RequestView v;
    v.id = "req_1";
    v.model = model;
    v.subject = "user:alice@example.com";
    v.team = "payments";
    v.metadata = &metadata_;
    v.request = &request_;
    return v;
  }

  TempDir dir_;
  std::vector<std::string> errors_;
  std::unique_ptr<WorkerPolicies> worker_;
  governance::Metadata metadata_;
  http::Request request_;
};

// ---------------------------------------------------------------- loading

TEST_F(PoliciesTest, SyntaxErrorNamesManifestEntryScriptAndLine) {
  EXPECT_EQ(load({policy("bad.lua", "function on_request(req)\n  if then\nend\n")}), nullptr);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0].rfind("sluice.yaml:12:5: policies[0].script: ", 0), 0u) << errors_[0];
  EXPECT_NE(errors_[0].find("bad.lua:2: unexpected symbol near 'then'"), std::string::npos)
      << errors_[0];
}

TEST_F(PoliciesTest, MissingScriptIsNamed) {
  manifest::PolicyConfig pc = policy("p.lua", "");
  pc.script = dir_.path() + "/nope.lua";
  EXPECT_EQ(load({pc}), nullptr);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0], "sluice.yaml:12:5: policies[0].script: cannot read " + dir_.path() +
                            "/nope.lua: No such file or directory");
}

TEST_F(PoliciesTest, ListedHookMustBeDefined) {
  EXPECT_EQ(load({policy("p.lua", "function on_request(req) end", {"on_request", "on_log"})}),
            nullptr);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0],
            "sluice.yaml:12:5: policies[0].hooks: on_log is listed but the script "
            "defines no function on_log");
}

TEST_F(PoliciesTest, ScriptWithoutHooksIsRefused) {
  EXPECT_EQ(load({policy("p.lua", "local x = 1")}), nullptr);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("the script defines none of on_request, on_response, on_log"),
            std::string::npos);
}

TEST_F(PoliciesTest, HookThatIsNotAFunctionIsRefused) {
  EXPECT_EQ(load({policy("p.lua", "on_request = 42")}), nullptr);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("on_request is a number; a hook must be a function"), std::string::npos)
      << errors_[0];
}

TEST_F(PoliciesTest, TopLevelErrorsAreReportedWithTheirLine) {
  EXPECT_EQ(load({policy("p.lua", "local t = nil\nlocal y = t.x\n")}), nullptr);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("p.lua:2: attempt to index a nil value (local 't') (while "
                            "running the script's top level)"),
            std::string::npos)
      << errors_[0];
  EXPECT_EQ(load({policy("q.lua", "while true do end\nfunction on_request() end")}), nullptr);
  EXPECT_NE(errors_[0].find("instruction budget of 100000 exceeded"), std::string::npos)
      << errors_[0];
}

TEST_F(PoliciesTest, TooSmallMemoryCapIsReported) {
  manifest::PolicyConfig pc = policy("p.lua", "function on_request() end");
  pc.memory_bytes = 8 * 1024;
  EXPECT_EQ(load({pc}), nullptr);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("memory cap of 8192 bytes is too small"), std::string::npos)
      << errors_[0];
}

TEST_F(PoliciesTest, EveryBrokenScriptIsReported) {
  EXPECT_EQ(load({policy("a.lua", "x ="), policy("b.lua", "function on_log() end"),
                  policy("c.lua", "y =")}),
            nullptr);
  ASSERT_EQ(errors_.size(), 2u);
  EXPECT_NE(errors_[0].find("policies[0].script"), std::string::npos);
  EXPECT_NE(errors_[1].find("policies[2].script"), std::string::npos);
}

TEST_F(PoliciesTest, HooksDefaultToWhatTheScriptDefines) {
  auto p =
      load({policy("p.lua", "function on_request() end function on_log() end"),
            policy("q.lua", "function on_response() end function on_log() end", {"on_response"})});
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->scripts()[0].runs(Hook::Request));
  EXPECT_FALSE(p->scripts()[0].runs(Hook::Response));
  EXPECT_TRUE(p->scripts()[0].runs(Hook::Log));
  EXPECT_FALSE(p->scripts()[1].runs(Hook::Log));  // defined but not listed
  EXPECT_TRUE(p->runs(Hook::Response));
  EXPECT_EQ(p->scripts()[1].name, "q.lua");
}

TEST_F(PoliciesTest, EmptyListLoadsAsEmpty) {
  auto p = load({});
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->empty());
  EXPECT_FALSE(p->runs(Hook::Request));
}

// ---------------------------------------------------------------- on_request

TEST_F(PoliciesTest, RejectAnswersWithStatusMessageAndCode) {
  use("function on_request(req)\n"
      "  if req.metadata.environment == 'production' and not req.metadata.ticket_id then\n"
      "    return sluice.reject(400, 'ticket_id is required in production')\n"
      "  end\n"
      "end");
  metadata_["environment"] = "production";
  RequestView v = view();
  Outcome o = worker_->onRequest(v);
  EXPECT_EQ(o.kind, Outcome::Kind::Reject);
  EXPECT_EQ(o.status, 400);
  EXPECT_EQ(o.message, "ticket_id is required in production");
  EXPECT_EQ(o.code, "policy_rejected");
  metadata_["ticket_id"] = "T-1";
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
}

TEST_F(PoliciesTest, RejectWithoutReturnStillRejects) {
  use("function on_request(req) sluice.reject(403, 'no', 'forbidden_here') end");
  RequestView v = view();
  Outcome o = worker_->onRequest(v);
  EXPECT_EQ(o.kind, Outcome::Kind::Reject);
  EXPECT_EQ(o.status, 403);
  EXPECT_EQ(o.code, "forbidden_here");
}

TEST_F(PoliciesTest, PoliciesRunInOrderAndTheFirstRejectWins) {
  use({policy("a.lua", "function on_request(req) req.metadata.seen = 'a' end"),
       policy("b.lua",
              "function on_request(req) return sluice.reject(429, 'b says ' .. "
              "req.metadata.seen) end"),
       policy("c.lua", "function on_request(req) return sluice.reject(418, 'c') end")});
  RequestView v = view();
  Outcome o = worker_->onRequest(v);
  EXPECT_EQ(o.status, 429);
  EXPECT_EQ(o.message, "b says a");
}

TEST_F(PoliciesTest, BadRejectArgumentsFailThePolicy) {
  struct Case {
    const char* call;
    const char* error;
  } cases[] = {
      {"sluice.reject(200, 'ok')", "sluice.reject: status must be from 400 to 599, not 200"},
      {"sluice.reject(400, '')", "sluice.reject: the message must be 1 to 1024 bytes long"},
      {"sluice.reject(400, 'x', 'Bad Code')", "the code must be 1 to 64 characters"},
      {"sluice.reject(400, '\\xff')", "the message must be valid UTF-8"},
      {"sluice.reject('x', 'y')", "bad argument #1 to 'reject' (number expected, got string)"},
  };
  for (const Case& c : cases) {
    use(std::string("function on_request(req)\n  ") + c.call + "\nend");
    RequestView v = view();
    std::string log;
    Outcome o = requestLogged(v, &log);
    EXPECT_EQ(o.kind, Outcome::Kind::Error) << c.call;
    EXPECT_NE(log.find(c.error), std::string::npos) << c.call << "\n" << log;
    EXPECT_NE(log.find("p.lua:2:"), std::string::npos) << "the script line: " << log;
  }
}

TEST_F(PoliciesTest, ReturningSomethingElseIsAnError) {
  use("function on_request(req) return true end");
  RequestView v = view();
  std::string log;
  Outcome o = requestLogged(v, &log);
  EXPECT_EQ(o.kind, Outcome::Kind::Error);
  EXPECT_NE(log.find("on_request returned a boolean value; return nothing to go on, or "
                     "sluice.reject(status, message)"),
            std::string::npos)
      << log;
}

TEST_F(PoliciesTest, RequestFieldsAreThere) {
  use("function on_request(req)\n"
      "  return sluice.reject(400, table.concat({req.id, req.model, req.subject, req.team,\n"
      "    req.metadata.project or '-'}, ' '))\n"
      "end");
  metadata_["project"] = "p1";
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).message, "req_1 up/gpt-4o user:alice@example.com payments p1");
}

TEST_F(PoliciesTest, TeamIsNilWithoutOne) {
  use("function on_request(req) return sluice.reject(400, tostring(req.team)) end");
  RequestView v = view();
  v.team = "";
  EXPECT_EQ(worker_->onRequest(v).message, "nil");
}

TEST_F(PoliciesTest, ModelCanBeRewritten) {
  use("function on_request(req)\n"
      "  if req.metadata.workflow == 'triage' then req.model = 'up/gpt-4o-mini' end\n"
      "end");
  metadata_["workflow"] = "triage";
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
  EXPECT_EQ(v.model, "up/gpt-4o-mini");
}

TEST_F(PoliciesTest, MetadataChangesAreReadBackAndChecked) {
  use("function on_request(req)\n"
      "  req.metadata.cost_center = 'cc-' .. req.team\n"
      "  req.metadata.drop_me = nil\n"
      "end");
  metadata_["drop_me"] = "x";
  metadata_["keep"] = "y";
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
  EXPECT_EQ(metadata_, (governance::Metadata{{"cost_center", "cc-payments"}, {"keep", "y"}}));
}

TEST_F(PoliciesTest, MetadataCanBeReplacedWholesale) {
  use("function on_request(req) req.metadata = {only = 'this'} end");
  metadata_["old"] = "x";
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
  EXPECT_EQ(metadata_, (governance::Metadata{{"only", "this"}}));
}

TEST_F(PoliciesTest, InvalidChangesFailWithAClearMessage) {
  struct Case {
    const char* body;
    const char* error;
  } cases[] = {
      {"req.metadata.n = 5", "req.metadata.n must be a string, not number"},
      {"req.metadata[1] = 'x'", "req.metadata keys must be strings, not number"},
      {"req.metadata.long = string.rep('x', 129)",
       "req.metadata: value of 'long' is 129 characters long; at most 128 are allowed"},
      {"req.model = 42", "req.model must be a string, not number"},
      {"req.model = ''", "req.model must be 1 to 256 bytes long"},
      {"req.subject = 'user:mallory'", "req.subject cannot be changed"},
      {"req.metadata = 'x'", "req.metadata must be a table, not string"},
      {"req.headers['x-a'] = '1'", "req.headers.x-a cannot be changed"},
  };
  for (const Case& c : cases) {
    use(std::string("function on_request(req) ") + c.body + " end");
    metadata_ = {{"before", "1"}};
    RequestView v = view();
    std::string log;
    Outcome o = requestLogged(v, &log);
    EXPECT_EQ(o.kind, Outcome::Kind::Error) << c.body;
    EXPECT_NE(log.find(c.error), std::string::npos) << c.body << "\n" << log;
    EXPECT_EQ(metadata_, (governance::Metadata{{"before", "1"}})) << "unchanged after " << c.body;
    EXPECT_EQ(v.model, "up/gpt-4o");
  }
}

TEST_F(PoliciesTest, HeadersAreReadOnlyLowerCaseAndWithoutCredentials) {
  use("function on_request(req)\n"
      "  local names = {}\n"
      "  for k, v in pairs(req.headers) do names[#names + 1] = k end\n"
      "  table.sort(names)\n"
      "  return sluice.reject(400, table.concat(names, ',') .. ' ' .. req.headers['x-team'] ..\n"
      "    ' ' .. tostring(req.headers.authorization))\n"
      "end");
  request_.headers = {{"authorization", "Bearer sk-secret"},
                      {"x-team", "a"},
                      {"x-api-key", "sk-other"},
                      {"x-team", "b"},
                      {"user-agent", "curl"}};
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).message, "user-agent,x-team a, b nil");
}

TEST_F(PoliciesTest, UpstreamHeadersAreCollectedAndChecked) {
  use("function on_request(req)\n"
      "  req.set_upstream_header('X-Cost-Center', 'cc-1')\n"
      "  req:set_upstream_header('x-cost-center', 'cc-2')\n"
      "  req.set_upstream_header('OpenAI-Project', 'proj_9')\n"
      "end");
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
  EXPECT_EQ(v.upstream_headers,
            (HeaderList{{"X-Cost-Center", "cc-2"}, {"OpenAI-Project", "proj_9"}}));
}

TEST_F(PoliciesTest, ReservedOrMalformedUpstreamHeadersAreRefused) {
  struct Case {
    const char* call;
    const char* error;
  } cases[] = {
      {"'Authorization', 'Bearer x'", "'Authorization' is set by the gateway"},
      {"'host', 'evil.example.com'", "'host' is set by the gateway"},
      {"'x-api-key', 'k'", "'x-api-key' is set by the gateway"},
      {"'content-length', '1'", "'content-length' is set by the gateway"},
      {"'x-a', 'one\\r\\nx-injected: 1'", "the value of 'x-a' holds a control character"},
      {"'bad name', 'v'", "'bad name' is not a valid header name"},
  };
  for (const Case& c : cases) {
    use(std::string("function on_request(req) req.set_upstream_header(") + c.call + ") end");
    RequestView v = view();
    std::string log;
    Outcome o = requestLogged(v, &log);
    EXPECT_EQ(o.kind, Outcome::Kind::Error) << c.call;
    EXPECT_NE(log.find(c.error), std::string::npos) << c.call << "\n" << log;
  }
}

// ---------------------------------------------------------------- failures

TEST_F(PoliciesTest, RunawayScriptFailsItsRequestWithOneLogLine) {
  use("function on_request(req)\n"
      "  if req.metadata.loop then while true do end end\n"
      "end");
  metadata_["loop"] = "1";
  RequestView v = view();
  std::string log;
  Outcome o = requestLogged(v, &log);
  EXPECT_EQ(o.kind, Outcome::Kind::Error);
  EXPECT_EQ(o.status, 500);
  EXPECT_EQ(o.code, "policy_error");
  EXPECT_EQ(o.message, "policy 'p.lua' failed; the gateway log has the details (request req_1)");
  EXPECT_EQ(countLines(log, "\n"), 1u) << log;
  EXPECT_NE(log.find("error policy: p.lua on_request failed for request req_1: "),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("p.lua:2: instruction budget of 100000 exceeded"), std::string::npos) << log;
  // The same state serves the next request.
  metadata_.erase("loop");
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
}

TEST_F(PoliciesTest, MemoryBombFailsItsRequestOnly) {
  use("function on_request(req)\n"
      "  if req.metadata.bomb then local s = string.rep('x', 1e9) end\n"
      "end");
  metadata_["bomb"] = "1";
  RequestView v = view();
  CaptureStderr();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Error);
  std::string log = GetCapturedStderr();
  EXPECT_NE(log.find("memory cap of 2097152 bytes exceeded"), std::string::npos) << log;
  EXPECT_EQ(log.find("started afresh"), std::string::npos) << "nothing was hoarded: " << log;
  metadata_.erase("bomb");
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
}

TEST_F(PoliciesTest, StateHoardingMemoryIsStartedAfresh) {
  manifest::PolicyConfig pc =
      policy("p.lua",
             "calls = 0\n"
             "hoard = {}\n"
             "function on_request(req)\n"
             "  calls = calls + 1\n"
             "  if req.metadata.hoard then\n"
             "    for i = 1, 1e9 do hoard[i] = string.rep('x', 64) .. i end\n"
             "  end\n"
             "  return sluice.reject(400, 'call ' .. calls)\n"
             "end");
  pc.instruction_budget = 100000000;  // the memory cap is what stops it
  use({pc});
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).message, "call 1");
  metadata_["hoard"] = "1";
  CaptureStderr();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Error);
  std::string log = GetCapturedStderr();
  EXPECT_NE(log.find("(its Lua state is started afresh)"), std::string::npos) << log;
  metadata_.erase("hoard");
  EXPECT_EQ(worker_->onRequest(v).message, "call 1") << "a fresh state ran the top level again";
}

TEST_F(PoliciesTest, LogLinesFromScriptsAreOneLineEach) {
  use("function on_request(req) sluice.log('warn', 'two\\nlines') end");
  RequestView v = view();
  CaptureStderr();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
  std::string log = GetCapturedStderr();
  EXPECT_NE(log.find("warn policy: p.lua [req_1]: two\\nlines\n"), std::string::npos) << log;
  EXPECT_EQ(countLines(log, "\n"), 1u);
  use("function on_request(req) sluice.log('loud', 'x') end");
  CaptureStderr();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Error);
  log = GetCapturedStderr();
  EXPECT_NE(log.find("sluice.log: the level must be debug, info, warn or error, not 'loud'"),
            std::string::npos)
      << log;
}

TEST_F(PoliciesTest, RejectOutsideAHookFailsTheLoad) {
  EXPECT_EQ(load({policy("p.lua", "sluice.reject(400, 'x')\nfunction on_request() end")}), nullptr);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_NE(errors_[0].find("p.lua:1: sluice.reject can only be used inside a hook"),
            std::string::npos)
      << errors_[0];
}

// ---------------------------------------------------------------- on_response

TEST_F(PoliciesTest, ResponseSeesStatusUsageAndAddsHeaders) {
  use("function on_response(req, res)\n"
      "  res.set_header('x-usage', res.status .. ' ' .. res.model .. ' ' .. res.provider .. ' ' "
      "..\n"
      "    res.usage.prompt_tokens .. '+' .. res.usage.completion_tokens .. ' ' .. "
      "tostring(res.stream))\n"
      "  res:set_header('x-team', req.team)\n"
      "end");
  RequestView v = view();
  ResponseView res;
  res.status = 200;
  res.prompt_tokens = 12;
  res.completion_tokens = 34;
  res.model = "up/gpt-4o";
  res.provider = "up";
  http::Headers h;
  EXPECT_EQ(worker_->onResponse(v, res, &h).kind, Outcome::Kind::Continue);
  EXPECT_EQ(h.find("x-usage"), "200 up/gpt-4o up 12+34 false");
  EXPECT_EQ(h.find("x-team"), "payments");
}

TEST_F(PoliciesTest, ResponseUsageIsNilUntilKnown) {
  use("function on_response(req, res) res.set_header('x-u', tostring(res.usage)) end");
  RequestView v = view();
  ResponseView res;
  res.status = 200;
  res.stream = true;
  http::Headers h;
  EXPECT_EQ(worker_->onResponse(v, res, &h).kind, Outcome::Kind::Continue);
  EXPECT_EQ(h.find("x-u"), "nil");
}

TEST_F(PoliciesTest, ResponseHeadersOfTheGatewayAreRefused) {
  for (const char* name : {"x-sluice-resolved-model", "Content-Type", "content-length",
                           "x-ratelimit-remaining-requests", "server-timing"}) {
    use(std::string("function on_response(req, res) res.set_header('") + name + "', 'x') end");
    RequestView v = view();
    ResponseView res;
    http::Headers h;
    CaptureStderr();
    EXPECT_EQ(worker_->onResponse(v, res, &h).kind, Outcome::Kind::Error) << name;
    std::string log = GetCapturedStderr();
    EXPECT_NE(log.find("is set by the gateway; a policy cannot set it"), std::string::npos) << log;
    EXPECT_TRUE(h.empty());
  }
}

TEST_F(PoliciesTest, ResponseMayReject) {
  use("function on_response(req, res)\n"
      "  if res.status >= 500 then return sluice.reject(503, 'try later') end\n"
      "end");
  RequestView v = view();
  ResponseView res;
  res.status = 502;
  http::Headers h;
  Outcome o = worker_->onResponse(v, res, &h);
  EXPECT_EQ(o.kind, Outcome::Kind::Reject);
  EXPECT_EQ(o.status, 503);
}

TEST_F(PoliciesTest, OnlyOnRequestMayChangeModelOrUpstreamHeaders) {
  use("function on_response(req, res) req.model = 'x/y' end");
  RequestView v = view();
  ResponseView res;
  http::Headers h;
  CaptureStderr();
  EXPECT_EQ(worker_->onResponse(v, res, &h).kind, Outcome::Kind::Error);
  EXPECT_NE(GetCapturedStderr().find("req.model can only be changed in on_request"),
            std::string::npos);
  use("function on_response(req, res) req.set_upstream_header('x-a', 'b') end");
  CaptureStderr();
  EXPECT_EQ(worker_->onResponse(v, res, &h).kind, Outcome::Kind::Error);
  EXPECT_NE(GetCapturedStderr().find("req.set_upstream_header can only be used in on_request"),
            std::string::npos);
}

// ---------------------------------------------------------------- on_log

TEST_F(PoliciesTest, LogSeesTheRecordAndEnrichesItsMetadata) {
  use({policy("a.lua",
              "function on_log(req, record)\n"
              "  record.metadata.outcome = record.status .. ' ' .. record.model .. ' ' ..\n"
              "    record.resolved_model .. ' ' .. record.usage.prompt_tokens .. ' ' ..\n"
              "    tostring(record.stream) .. ' ' .. tostring(record.duration_ms > 0)\n"
              "  error('a fails after its change')\n"
              "end"),
       policy("b.lua", "function on_log(req, record) req.metadata.b = 'ran' end")});
  pipeline::RequestRecord record;
  record.id = "req_1";
  record.status = 200;
  record.requested_model = "prod/assistant";
  record.resolved_model = "up/gpt-4o";
  record.prompt_tokens = 7;
  record.phases.total = 12.5;
  record.metadata = {{"team_tag", "x"}};
  RequestView v = view();
  v.request = nullptr;
  v.metadata = &record.metadata;
  CaptureStderr();
  worker_->onLog(v, &record);
  std::string log = GetCapturedStderr();
  // a.lua failed (after its change: a failed hook changes nothing); b.lua still ran.
  EXPECT_NE(log.find("a.lua on_log failed for request req_1"), std::string::npos) << log;
  EXPECT_EQ(record.metadata, (governance::Metadata{{"b", "ran"}, {"team_tag", "x"}}));
}

TEST_F(PoliciesTest, LogHookSeesTheRecordFields) {
  use("function on_log(req, record)\n"
      "  record.metadata.outcome = record.status .. ' ' .. record.model .. ' ' ..\n"
      "    record.resolved_model .. ' ' .. record.usage.prompt_tokens .. ' ' ..\n"
      "    tostring(record.stream) .. ' ' .. record.duration_ms .. ' ' .. #req.headers\n"
      "end");
  pipeline::RequestRecord record;
  record.status = 429;
  record.requested_model = "prod/assistant";
  record.resolved_model = "up/gpt-4o";
  record.prompt_tokens = 7;
  record.phases.total = 12.5;
  RequestView v = view();
  v.request = nullptr;
  v.metadata = &record.metadata;
  worker_->onLog(v, &record);
  EXPECT_EQ(record.metadata["outcome"], "429 prod/assistant up/gpt-4o 7 false 12.5 0");
}

TEST_F(PoliciesTest, RejectInOnLogIsAnError) {
  use("function on_log(req, record) return sluice.reject(400, 'too late') end");
  pipeline::RequestRecord record;
  RequestView v = view();
  v.metadata = &record.metadata;
  CaptureStderr();
  worker_->onLog(v, &record);
  EXPECT_NE(GetCapturedStderr().find("sluice.reject cannot be used in on_log"), std::string::npos);
}

TEST_F(PoliciesTest, RecordIsReadOnly) {
  use("function on_log(req, record) record.status = 200 end");
  pipeline::RequestRecord record;
  RequestView v = view();
  v.metadata = &record.metadata;
  CaptureStderr();
  worker_->onLog(v, &record);
  EXPECT_NE(GetCapturedStderr().find("record.status cannot be changed"), std::string::npos);
}

// ---------------------------------------------------------------- states

TEST_F(PoliciesTest, StatesAreKeptPerPoliciesSet) {
  auto first = load({policy("p.lua", "function on_request() end")});
  auto second = load({policy("p.lua", "function on_request() end")});
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  PolicyStates states;
  std::shared_ptr<WorkerPolicies> a = states.get(first);
  EXPECT_EQ(states.get(first), a) << "reused for the same set";
  std::shared_ptr<WorkerPolicies> b = states.get(second);
  EXPECT_NE(b, a) << "a reload brings new states";
  EXPECT_EQ(&a->policies(), first.get()) << "requests holding the old ones keep them";
}

// A state reuses its req/res/record views: nothing of one call may show in
// the next.
TEST_F(PoliciesTest, ViewsAreRefilledForEveryCall) {
  use("function on_request(req)\n"
      "  local keys = {}\n"
      "  for k in pairs(req.metadata) do keys[#keys + 1] = k end\n"
      "  table.sort(keys)\n"
      "  return sluice.reject(400, table.concat({tostring(req.team), "
      "tostring(req.headers['x-a']),\n"
      "    table.concat(keys, '+')}, ' '))\n"
      "end\n"
      "function on_response(req, res)\n"
      "  res.set_header('x-u', tostring(res.usage and res.usage.prompt_tokens))\n"
      "end");
  request_.headers = {{"x-a", "1"}};
  metadata_ = {{"a", "1"}, {"b", "2"}};
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).message, "payments 1 a+b");
  request_.headers.clear();
  metadata_ = {{"c", "3"}};
  v.team = "";
  EXPECT_EQ(worker_->onRequest(v).message, "nil nil c");

  ResponseView res;
  res.prompt_tokens = 5;
  res.completion_tokens = 6;
  http::Headers first, second;
  EXPECT_EQ(worker_->onResponse(v, res, &first).kind, Outcome::Kind::Continue);
  res.prompt_tokens = res.completion_tokens = -1;
  EXPECT_EQ(worker_->onResponse(v, res, &second).kind, Outcome::Kind::Continue);
  EXPECT_EQ(first.find("x-u"), "5");
  EXPECT_EQ(second.find("x-u"), "nil");
}

TEST_F(PoliciesTest, ReplacedMetadataDoesNotCarryOver) {
  use("function on_request(req)\n"
      "  if req.metadata.replace then req.metadata = {replaced = 'yes'} return end\n"
      "  return sluice.reject(400, tostring(req.metadata.replaced) .. ' ' .. req.metadata.k)\n"
      "end");
  metadata_ = {{"replace", "1"}};
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).kind, Outcome::Kind::Continue);
  EXPECT_EQ(metadata_, (governance::Metadata{{"replaced", "yes"}}));
  metadata_ = {{"k", "v"}};
  EXPECT_EQ(worker_->onRequest(v).message, "nil v");
}

TEST_F(PoliciesTest, GlobalsPersistAcrossRequestsOfOneWorker) {
  use("n = 0\nfunction on_request(req) n = n + 1 return sluice.reject(400, tostring(n)) end");
  RequestView v = view();
  EXPECT_EQ(worker_->onRequest(v).message, "1");
  EXPECT_EQ(worker_->onRequest(v).message, "2");
}

}  // namespace
}  // namespace sluice::lua
