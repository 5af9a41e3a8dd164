// Guardrail `regex`: deny and allow lists on RE2, config errors naming the
// pattern and RE2's message, topic filtering, streams.
#include <gtest/gtest.h>

#include <string>

#include "sluice/plugin.h"
#include "support/guard_harness.h"

namespace sluice::testing {
namespace {

const char* kDenyConfig = R"({"deny": [
  {"name": "salaries", "pattern": "\\bsalar(y|ies)\\b"},
  {"name": "project-falcon", "pattern": "(?i)project\\s+falcon"},
  "\\bconfidential\\b"
]})";

TEST(RegexPlugin, DescriptorAndSchema) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_EQ(d->kind, SLUICE_KIND_GUARDRAIL);
  EXPECT_STREQ(d->name, "regex");
  std::vector<std::string> keys;
  for (const sluice_config_key* k = d->config; k->name; k++) keys.push_back(k->name);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"deny", "allow", "case_insensitive", "stream_hold_bytes"}));
}

TEST(RegexPlugin, ConfigErrorsNameThePatternAndSayWhy) {
  EXPECT_EQ(createError(R"({"deny": [{"name": "salaries", "pattern": "(salary"}]})"),
            "deny[0] 'salaries': invalid pattern: missing ): (salary");
  EXPECT_EQ(createError(R"({"deny": ["ok", "a{2,1}"]})"),
            "deny[1]: invalid pattern: invalid repetition size: {2,1}");
  EXPECT_EQ(createError(R"j({"allow": ["(?<name>x)"]})j").substr(0, 28),
            "allow[0]: invalid pattern: i");
  EXPECT_EQ(createError("{}"), "give a deny list, an allow list, or both");
  EXPECT_EQ(createError(R"({"deny": []})"), "deny: the list is empty");
  EXPECT_EQ(createError(R"({"deny": "x"})"),
            "deny: expected a list of patterns (strings or {name, pattern})");
  EXPECT_EQ(createError(R"({"deny": [{"name": "n"}]})"), "deny[0]: missing required key 'pattern'");
  EXPECT_EQ(createError(R"({"deny": [{"name": "n", "pattern": "x", "flags": "i"}]})"),
            "deny[0]: unknown key 'flags' (a pattern has name and pattern)");
  EXPECT_EQ(createError(R"({"deny": [{"name": "n", "pattern": 3}]})"),
            "deny[0] 'n': the pattern must be a non-empty string");
  EXPECT_EQ(createError(R"({"deny": [{"name": "", "pattern": "x"}]})"),
            "deny[0].name: expected a non-empty string");
  EXPECT_EQ(createError("[]"), "config must be a JSON object");
  EXPECT_EQ(createError(kDenyConfig), "<created>");
}

TEST(RegexPlugin, DenyBlocksNamingThePatternNeverTheText) {
  GuardHarness guard(kDenyConfig);
  GuardAnswer a = guard.check("What are the salaries in the Berlin office?");
  EXPECT_EQ(a.verdict, SLUICE_VERDICT_BLOCK);
  EXPECT_EQ(a.reason, "matched deny pattern 'salaries'");
  EXPECT_EQ(a.findings, (std::map<std::string, uint32_t>{{"salaries", 1}}));
  EXPECT_EQ(a.actions, std::vector<std::string>{"block"});

  EXPECT_EQ(guard.check("status of PROJECT   Falcon?").reason,
            "matched deny pattern 'project-falcon'");
  EXPECT_EQ(guard.check("this is confidential").reason, "matched deny pattern 'deny[2]'");
  // Several match: the first in list order is named.
  EXPECT_EQ(guard.check("confidential salary data").reason, "matched deny pattern 'salaries'");
  EXPECT_EQ(guard.check("Salary talk is case-sensitive here").verdict, SLUICE_VERDICT_PASS);
  EXPECT_EQ(guard.check("What is the weather in Berlin?").verdict, SLUICE_VERDICT_PASS);
}

TEST(RegexPlugin, CaseInsensitiveOption) {
  GuardHarness guard(R"({"deny": ["salary"], "case_insensitive": true})");
  EXPECT_EQ(guard.check("SALARY bands").verdict, SLUICE_VERDICT_BLOCK);
}

TEST(RegexPlugin, AllowListFiltersTopicsOnInputNotOnStreamedOutput) {
  GuardHarness guard(R"({"allow": [{"name": "billing", "pattern": "(?i)invoice|refund|payment"},
                                   {"name": "shipping", "pattern": "(?i)deliver|shipping"}]})");
  EXPECT_EQ(guard.check("Where is my refund?").verdict, SLUICE_VERDICT_PASS);
  EXPECT_EQ(guard.check("When will you deliver?").verdict, SLUICE_VERDICT_PASS);
  GuardAnswer off = guard.check("Write me a poem about the sea.");
  EXPECT_EQ(off.verdict, SLUICE_VERDICT_BLOCK);
  EXPECT_EQ(off.reason, "matched no allow pattern");
  EXPECT_EQ(off.findings, (std::map<std::string, uint32_t>{{"OFF_TOPIC", 1}}));
  EXPECT_EQ(guard.check("Write me a poem.", SLUICE_HOOK_MCP_PRE_TOOL).verdict,
            SLUICE_VERDICT_BLOCK);
  EXPECT_EQ(guard.check("Once upon a time", SLUICE_HOOK_LLM_OUTPUT).verdict, SLUICE_VERDICT_PASS);
}

TEST(RegexPlugin, DenyAndAllowTogether) {
  GuardHarness guard(R"({"deny": ["(?i)chargeback fraud"], "allow": ["(?i)refund"]})");
  EXPECT_EQ(guard.check("refund please").verdict, SLUICE_VERDICT_PASS);
  EXPECT_EQ(guard.check("refund via chargeback fraud").reason, "matched deny pattern 'deny[0]'");
  EXPECT_EQ(guard.check("hello").reason, "matched no allow pattern");
}

TEST(RegexPlugin, PatternsThatBacktrackElsewhereRunInLinearTime) {
  // (a+)+$ against "aaaa…b" takes exponential time on a backtracking engine.
  GuardHarness guard(R"({"deny": ["(a+)+$", "(x|x)*y"]})");
  std::string text(20000, 'a');
  text += "b";
  EXPECT_EQ(guard.check(text).verdict, SLUICE_VERDICT_PASS);
  EXPECT_EQ(guard.check(std::string(20000, 'x')).verdict, SLUICE_VERDICT_PASS);
}

TEST(RegexPlugin, ADenyMatchCutByAStreamIsStillSeen) {
  GuardHarness guard(kDenyConfig);
  std::string text = "Tell me everything about Project Falcon and its budget.";
  for (size_t at = 0; at <= text.size(); at++) {
    StreamOutcome s = guard.streamSplit(text, at);
    EXPECT_TRUE(s.blocked) << "split at " << at;
    EXPECT_EQ(s.released.find("Project Falcon"), std::string::npos) << "split at " << at;
  }
  GuardAnswer a = guard.check("no match here", SLUICE_HOOK_LLM_OUTPUT);
  EXPECT_EQ(a.hold, std::string("no match here").size());
  GuardHarness small(R"({"deny": ["x"], "stream_hold_bytes": 4})");
  EXPECT_EQ(small.check("abcdefgh", SLUICE_HOOK_LLM_OUTPUT).hold, 4u);
}

}  // namespace
}  // namespace sluice::testing
