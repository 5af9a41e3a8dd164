// Guardrail `lua`: the check function's contract (pass, block, mutate,
// findings), failures as SLUICE_VERDICT_FAIL, scripts checked at create, and
// one Lua state per thread.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/fake_host.h"
#include "support/temp_dir.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::lua_guard {
namespace {

using sluice::testing::FakeHost;
using sluice::testing::TempDir;
using sluice::testing::toString;

const sluice_guardrail_vtable* vt() {
  return static_cast<const sluice_guardrail_vtable*>(sluice_plugin_entry()->vtable);
}

struct Verdict {
  sluice_verdict verdict;
  std::string reason;
  std::string content;
  std::vector<std::string> findings;  // "TYPE x COUNT (action)"
};

class LuaGuardTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (instance_) vt()->destroy(instance_);
  }

  // Creates the guardrail for `source`; false (and error_) when refused.
  bool make(const std::string& source, const std::string& extra_config = "") {
    std::string path = dir_.write("guard.lua", source);
    std::string config = "{\"script\": \"" + path + "\", \"function\": \"check\", " +
                         "\"instruction_budget\": 200000, \"memory_bytes\": 4194304" +
                         extra_config + "}";
    char err[512] = {0};
    if (instance_) vt()->destroy(instance_);
    instance_ = nullptr;
    int rc = vt()->create(host_.table(), config.c_str(), &instance_, err, sizeof err);
    error_ = err;
    return rc == SLUICE_OK;
  }

  Verdict check(const std::string& content, sluice_hook hook = SLUICE_HOOK_LLM_INPUT,
                const std::string& metadata = "{\"team\":\"payments\"}") {
    sluice_guard_input in{};
    in.struct_size = sizeof in;
    in.hook = hook;
    in.content = {content.data(), content.size()};
    in.model = {"up/gpt-4o", 9};
    in.subject = {"user:alice", 10};
    in.metadata_json = {metadata.data(), metadata.size()};
    in.request_id = {"req_7", 5};
    sluice_guard_result out{};
    out.struct_size = sizeof out;
    out.hold_bytes = 99;
    EXPECT_EQ(vt()->check(instance_, &in, &out), SLUICE_OK);
    EXPECT_EQ(out.hold_bytes, 0u);
    Verdict v{out.verdict, toString(out.reason), toString(out.content), {}};
    for (size_t i = 0; i < out.finding_count; i++) {
      v.findings.push_back(toString(out.findings[i].type) + " x" +
                           std::to_string(out.findings[i].count) + " (" +
                           toString(out.findings[i].action) + ")");
    }
    return v;
  }

  FakeHost host_;
  TempDir dir_;
  void* instance_ = nullptr;
  std::string error_;
};

TEST_F(LuaGuardTest, DescriptorDeclaresTheConfig) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_EQ(d->kind, SLUICE_KIND_GUARDRAIL);
  EXPECT_STREQ(d->name, "lua");
  std::vector<std::string> keys;
  for (const sluice_config_key* k = d->config; k->name; k++) keys.push_back(k->name);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"script", "function", "instruction_budget", "memory_bytes"}));
  EXPECT_EQ(d->config[0].flags & SLUICE_CFG_REQUIRED, SLUICE_CFG_REQUIRED);
}

TEST_F(LuaGuardTest, PassBlockAndMutate) {
  ASSERT_TRUE(
      make("function check(content, ctx)\n"
           "  if content:find('forbidden') then return 'block', 'off-topic request' end\n"
           "  local out, n = content:gsub('%d%d%d%-%d%d%d%d', '[PHONE]')\n"
           "  if n > 0 then return 'mutate', out, {{type = 'PHONE', count = n}} end\n"
           "  if content == 'explicit' then return 'pass' end\n"
           "end"))
      << error_;
  Verdict v = check("hello");
  EXPECT_EQ(v.verdict, SLUICE_VERDICT_PASS);
  EXPECT_EQ(check("explicit").verdict, SLUICE_VERDICT_PASS);
  v = check("a forbidden topic");
  EXPECT_EQ(v.verdict, SLUICE_VERDICT_BLOCK);
  EXPECT_EQ(v.reason, "off-topic request");
  v = check("call 555-1234 or 555-9876");
  EXPECT_EQ(v.verdict, SLUICE_VERDICT_MUTATE);
  EXPECT_EQ(v.content, "call [PHONE] or [PHONE]");
  EXPECT_EQ(v.findings, (std::vector<std::string>{"PHONE x2 (redact)"}));
}

TEST_F(LuaGuardTest, FindingsDefaultsAndExplicitActions) {
  ASSERT_TRUE(
      make("function check(content, ctx)\n"
           "  return 'pass', nil, {{type = 'PROFANITY'}, {type = 'URL', count = 3, "
           "action = 'audit'}}\n"
           "end"))
      << error_;
  EXPECT_EQ(check("x").findings,
            (std::vector<std::string>{"PROFANITY x1 (audit)", "URL x3 (audit)"}));
  ASSERT_TRUE(make("function check() return 'block', nil, {{type = 'T'}} end")) << error_;
  Verdict v = check("x");
  EXPECT_EQ(v.verdict, SLUICE_VERDICT_BLOCK);
  EXPECT_EQ(v.reason.rfind("blocked by ", 0), 0u) << v.reason;
  EXPECT_EQ(v.findings, (std::vector<std::string>{"T x1 (block)"}));
}

TEST_F(LuaGuardTest, ContextCarriesHookModelSubjectAndMetadata) {
  ASSERT_TRUE(
      make("function check(content, ctx)\n"
           "  return 'block', table.concat({ctx.hook, ctx.model, ctx.subject,\n"
           "    ctx.request_id, ctx.metadata.team}, ' ')\n"
           "end"))
      << error_;
  EXPECT_EQ(check("x", SLUICE_HOOK_LLM_OUTPUT).reason,
            "llm_output up/gpt-4o user:alice req_7 payments");
  EXPECT_EQ(check("x", SLUICE_HOOK_MCP_PRE_TOOL, "").reason.rfind("mcp_pre_tool", 0), 0u);
}

TEST_F(LuaGuardTest, CustomFunctionName) {
  std::string path = dir_.write("screen.lua", "function screen(c) return 'block', 'screened' end");
  std::string config = "{\"script\": \"" + path + "\", \"function\": \"screen\"}";
  char err[256] = {0};
  ASSERT_EQ(vt()->create(host_.table(), config.c_str(), &instance_, err, sizeof err), SLUICE_OK)
      << err;
  EXPECT_EQ(check("x").reason, "screened");
}

TEST_F(LuaGuardTest, BrokenScriptsAreRefusedAtCreate) {
  EXPECT_FALSE(make("function check(content)\n  return 'pass' +\nend\n"));
  EXPECT_NE(error_.find("guard.lua:3: unexpected symbol near 'end'"), std::string::npos) << error_;
  EXPECT_FALSE(make("local x = 1"));
  EXPECT_NE(error_.find("the script defines no function 'check'"), std::string::npos) << error_;
  EXPECT_FALSE(make("check = 'not a function'"));
  EXPECT_NE(error_.find("'check' is a string, not a function"), std::string::npos) << error_;
  EXPECT_FALSE(make("os.exit(1)"));
  EXPECT_NE(error_.find("attempt to index a nil value (global 'os')"), std::string::npos) << error_;
  std::string config = "{\"script\": \"" + dir_.path() + "/missing.lua\"}";
  char err[256] = {0};
  EXPECT_EQ(vt()->create(host_.table(), config.c_str(), &instance_, err, sizeof err),
            SLUICE_ERR_CONFIG);
  EXPECT_NE(std::string(err).find("cannot read " + dir_.path() +
                                  "/missing.lua: No such file or directory"),
            std::string::npos)
      << err;
}

TEST_F(LuaGuardTest, FailuresAreGuardrailFailures) {
  ASSERT_TRUE(
      make("function check(content)\n"
           "  if content == 'loop' then while true do end end\n"
           "  if content == 'bomb' then return 'mutate', string.rep(content, 1e8) end\n"
           "  if content == 'error' then error('no good') end\n"
           "  if content == 'pattern' then return string.rep('a', 1e5):find('%w+@') end\n"
           "  if content == 'weird' then return 42 end\n"
           "  if content == 'unknown' then return 'allow' end\n"
           "  if content == 'nocontent' then return 'mutate' end\n"
           "  if content == 'badfinding' then return 'pass', nil, {{count = 1}} end\n"
           "end"))
      << error_;
  struct Case {
    const char* content;
    const char* reason;
  } cases[] = {
      {"loop", "guard.lua:2: instruction budget of 200000 exceeded"},
      {"bomb", "memory cap of 4194304 bytes exceeded"},
      {"error", "guard.lua:4: no good"},
      {"pattern", "guard.lua:5: instruction budget of 200000 exceeded"},
      {"weird", "check returned a number; expected nil, 'pass', 'block' or 'mutate'"},
      {"unknown", "check returned 'allow'; expected nil, 'pass', 'block' or 'mutate'"},
      {"nocontent", "check: 'mutate' needs the new content (a string) as its second value"},
      {"badfinding", "findings[1].type must be a string of 1 to 64 bytes"},
  };
  for (const Case& c : cases) {
    host_.logs.clear();
    Verdict v = check(c.content);
    EXPECT_EQ(v.verdict, SLUICE_VERDICT_FAIL) << c.content;
    EXPECT_NE(v.reason.find(c.reason), std::string::npos) << c.content << ": " << v.reason;
    EXPECT_TRUE(v.findings.empty());
    ASSERT_EQ(host_.logs.size(), 1u) << c.content;
    EXPECT_EQ(host_.logs[0].level, SLUICE_LOG_WARN);
    EXPECT_NE(host_.logs[0].message.find("check failed: "), std::string::npos);
    // The same state serves the next check.
    EXPECT_EQ(check("fine").verdict, SLUICE_VERDICT_PASS) << "after " << c.content;
  }
}

TEST_F(LuaGuardTest, ScriptsCanLogThroughTheHost) {
  ASSERT_TRUE(make("function check(content) sluice.log('info', 'saw\\n' .. #content) end"))
      << error_;
  check("abcd");
  ASSERT_EQ(host_.logs.size(), 1u);
  EXPECT_EQ(host_.logs[0].level, SLUICE_LOG_INFO);
  EXPECT_EQ(host_.logs[0].plugin, "lua");
  EXPECT_NE(host_.logs[0].message.find("guard.lua: saw 4"), std::string::npos)
      << host_.logs[0].message;
}

TEST_F(LuaGuardTest, EachThreadHasItsOwnState) {
  ASSERT_TRUE(
      make("calls = 0\nfunction check() calls = calls + 1 return 'block', tostring(calls) end"))
      << error_;
  EXPECT_EQ(check("x").reason, "1");
  EXPECT_EQ(check("x").reason, "2");
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&] {
      // A thread's first check runs in a fresh state; its own count goes on.
      bool fine = check("x").reason == "1" && check("x").reason == "2";
      if (fine) ok++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(check("x").reason, "3");
}

}  // namespace
}  // namespace sluice::lua_guard
