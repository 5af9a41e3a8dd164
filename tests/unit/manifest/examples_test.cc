// The shipped example manifests load cleanly and mean what they say.
#include <gtest/gtest.h>

#include "stub_schemas.h"

namespace sluice::manifest {
namespace {

using testing::errorStrings;
using testing::ScopedEnv;
using testing::stubSchemas;

const std::string kExamples = std::string(SLUICE_SOURCE_DIR) + "/examples/";

class FullExample : public ::testing::Test {
 protected:
  ScopedEnv admin_{"SLUICE_ADMIN_TOKEN", "admin-token-value"};
  ScopedEnv openai_{"OPENAI_API_KEY", "sk-test-openai"};
  ScopedEnv aws_id_{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"};
  ScopedEnv aws_secret_{"AWS_SECRET_ACCESS_KEY", "aws-secret-value"};
  ScopedEnv webhook_{"ALERT_WEBHOOK_URL", "https://hooks.example.com/budget"};
};

TEST_F(FullExample, LoadsWithoutErrors) {
  LoadResult r = loadFile(kExamples + "full.yaml", stubSchemas());
  EXPECT_EQ(errorStrings(r), std::vector<std::string>{});
  EXPECT_EQ(r.config.source_file, kExamples + "full.yaml");
}

TEST_F(FullExample, ServerAdminAndMetadata) {
  Config c = loadFile(kExamples + "full.yaml", stubSchemas()).config;
  EXPECT_EQ(c.version, 1);
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].host, "0.0.0.0");
  EXPECT_EQ(c.server.listen[0].port, 8080);
  EXPECT_EQ(c.server.workers, 0);  // auto
  EXPECT_EQ(c.server.base_paths, (std::vector<std::string>{"/v1", "/api/llm/v1"}));
  EXPECT_FALSE(c.server.tls.has_value());
  EXPECT_EQ(c.server.limits.max_body_bytes, 10485760u);
  EXPECT_EQ(c.server.limits.header_timeout_ms, 10000u);
  EXPECT_EQ(c.server.limits.idle_timeout_ms, 60000u);
  EXPECT_EQ(c.server.limits.drain_timeout_ms, 30000u);  // default kept
  EXPECT_EQ(c.server.upstream.first_byte_timeout_ms, 60000u);
  EXPECT_TRUE(c.server.upstream.verify_tls);

  ASSERT_TRUE(c.admin.listen.has_value());
  EXPECT_EQ(c.admin.listen->host, "127.0.0.1");
  EXPECT_EQ(c.admin.listen->port, 9090);
  EXPECT_EQ(c.admin.token, "admin-token-value");

  ASSERT_EQ(c.plugins.size(), 1u);
  EXPECT_EQ(c.plugins[0].name, "my-guard");
  EXPECT_EQ(c.plugins[0].path, kExamples + "build/libmy_guard.so");
  EXPECT_EQ(c.plugins[0].version, "^1");
  EXPECT_EQ(c.plugins[0].mark.line, 19);

  EXPECT_EQ(c.default_metadata, (std::map<std::string, std::string>{{"org", "internal"}}));
  EXPECT_EQ(c.required_metadata, (std::vector<std::string>{"team", "project_id"}));
}

TEST_F(FullExample, Providers) {
  Config c = loadFile(kExamples + "full.yaml", stubSchemas()).config;
  ASSERT_EQ(c.providers.size(), 3u);
  const ProviderConfig& openai = c.providers[0];
  EXPECT_EQ(openai.name, "openai-main");
  EXPECT_EQ(openai.type, "openai");
  EXPECT_EQ(openai.plugin_config_json,
            R"({"base_url":"https://api.openai.com/v1","auth":{"bearer":"sk-test-openai"}})");
  ASSERT_EQ(openai.models.size(), 2u);
  EXPECT_EQ(openai.models[0].name, "gpt-4o-mini");
  EXPECT_EQ(openai.models[0].upstream_name, "gpt-4o-mini");
  ASSERT_TRUE(openai.models[0].pricing.has_value());
  EXPECT_DOUBLE_EQ(openai.models[0].pricing->input_per_mtok, 0.15);
  EXPECT_DOUBLE_EQ(openai.models[0].pricing->output_per_mtok, 0.60);
  EXPECT_DOUBLE_EQ(openai.models[0].pricing->cached_input_per_mtok, 0.15);
  EXPECT_DOUBLE_EQ(openai.models[1].pricing->cached_input_per_mtok, 1.25);

  const ProviderConfig& onprem = c.providers[1];
  EXPECT_EQ(onprem.type, "openai-compatible");
  EXPECT_EQ(onprem.plugin_config_json, R"({"base_url":"http://vllm.internal:8000/v1"})");
  ASSERT_EQ(onprem.models.size(), 1u);
  EXPECT_EQ(onprem.models[0].name, "llama-3.1-70b");
  EXPECT_EQ(onprem.models[0].upstream_name, "meta-llama/Llama-3.1-70B-Instruct");
  EXPECT_FALSE(onprem.models[0].pricing.has_value());

  const ProviderConfig& bedrock = c.providers[2];
  EXPECT_EQ(bedrock.plugin_config_json,
            R"({"region":"us-east-1","auth":{"aws_access_key_id":"AKIDEXAMPLE",)"
            R"("aws_secret_access_key":"aws-secret-value"}})");
  EXPECT_EQ(bedrock.models[0].upstream_name, "anthropic.claude-3-5-sonnet-20241022-v2:0");

  EXPECT_EQ(c.virtual_models,
            (std::vector<std::string>{"prod/engineering-assistant", "prod/frontier-reasoning"}));
}

TEST_F(FullExample, Routing) {
  Config c = loadFile(kExamples + "full.yaml", stubSchemas()).config;
  ASSERT_EQ(c.routing.size(), 2u);
  const RoutingRule& simple = c.routing[0];
  EXPECT_EQ(simple.id, "simple-repo-questions");
  EXPECT_EQ(simple.strategy, "priority");
  EXPECT_EQ(simple.when.models, std::vector<std::string>{"prod/engineering-assistant"});
  EXPECT_EQ(simple.when.metadata,
            (std::map<std::string, std::string>{{"workflow", "repo-understanding"}}));
  EXPECT_FALSE(simple.sticky.has_value());
  EXPECT_EQ(simple.strategy_config_json, "{}");
  ASSERT_EQ(simple.targets.size(), 2u);
  const RouteTarget& first = simple.targets[0];
  EXPECT_EQ(first.target, "openai-main/gpt-4o-mini");
  EXPECT_EQ(first.priority, 0);
  EXPECT_EQ(first.retry.attempts, 2);
  EXPECT_EQ(first.retry.delay_ms, 100u);
  EXPECT_EQ(first.retry.on_status_codes, (std::vector<int>{429, 500}));
  EXPECT_EQ(first.fallback_status_codes, (std::vector<int>{429, 500, 502, 503}));
  ASSERT_TRUE(first.sla_tpot_ms.has_value());
  EXPECT_DOUBLE_EQ(*first.sla_tpot_ms, 80);
  EXPECT_EQ(first.timeout_ms, 30000u);
  EXPECT_EQ(first.override_params_json, R"({"temperature":0.2})");
  EXPECT_EQ(first.headers_set, (std::map<std::string, std::string>{{"x-team", "platform"}}));
  EXPECT_EQ(first.headers_remove, std::vector<std::string>{"x-debug"});
  EXPECT_NE(first.raw_json.find(R"("target":"openai-main/gpt-4o-mini")"), std::string::npos);
  const RouteTarget& second = simple.targets[1];
  EXPECT_EQ(second.target, "bedrock-main/claude-sonnet");
  EXPECT_EQ(second.priority, 1);
  EXPECT_EQ(second.retry.on_status_codes, (std::vector<int>{429, 500, 502, 503}));  // default
  EXPECT_EQ(second.fallback_status_codes,
            (std::vector<int>{401, 403, 404, 429, 500, 502, 503}));  // default
  EXPECT_EQ(second.raw_json, R"({"target":"bedrock-main/claude-sonnet","priority":1})");

  const RoutingRule& canary = c.routing[1];
  EXPECT_EQ(canary.strategy, "weighted");
  ASSERT_TRUE(canary.sticky.has_value());
  EXPECT_EQ(canary.sticky->ttl_seconds, 1800u);
  ASSERT_EQ(canary.sticky->session_identifiers.size(), 1u);
  EXPECT_EQ(canary.sticky->session_identifiers[0].source, "metadata");
  EXPECT_EQ(canary.sticky->session_identifiers[0].key, "session_id");
  EXPECT_EQ(canary.targets[0].weight, 90);
  EXPECT_EQ(canary.targets[1].target, "on-prem/llama-3.1-70b");
  EXPECT_EQ(canary.targets[1].weight, 10);
}

TEST_F(FullExample, AuthLimitsBudgets) {
  Config c = loadFile(kExamples + "full.yaml", stubSchemas()).config;
  ASSERT_TRUE(c.auth.has_value());
  ASSERT_EQ(c.auth->teams.size(), 1u);
  EXPECT_EQ(c.auth->teams[0].name, "payments-platform");
  EXPECT_EQ(c.auth->teams[0].members, std::vector<std::string>{"alice@example.com"});
  ASSERT_EQ(c.auth->users.size(), 1u);
  EXPECT_EQ(c.auth->users[0].email, "alice@example.com");
  EXPECT_EQ(c.auth->users[0].token_sha256,
            "9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc");
  EXPECT_EQ(c.auth->users[0].models, std::vector<std::string>{"*"});
  ASSERT_EQ(c.auth->virtual_accounts.size(), 1u);
  const VirtualAccount& va = c.auth->virtual_accounts[0];
  EXPECT_EQ(va.name, "checkout-prod");
  EXPECT_EQ(va.team, "payments-platform");
  EXPECT_EQ(va.models, (std::vector<std::string>{"prod/*", "openai-main/*"}));
  EXPECT_EQ(va.metadata, (std::map<std::string, std::string>{{"environment", "production"}}));

  ASSERT_EQ(c.rate_limits.size(), 1u);
  EXPECT_EQ(c.rate_limits[0].id, "agent-loops");
  EXPECT_EQ(c.rate_limits[0].limit_to, 200000);
  EXPECT_EQ(c.rate_limits[0].unit, LimitUnit::TokensPerHour);
  EXPECT_EQ(c.rate_limits[0].applies_per, std::vector<std::string>{"metadata.project_id"});

  ASSERT_EQ(c.budgets.size(), 2u);
  const BudgetRule& monthly = c.budgets[0];
  EXPECT_EQ(monthly.id, "team-monthly");
  EXPECT_EQ(monthly.when.teams, std::vector<std::string>{"payments-platform"});
  EXPECT_DOUBLE_EQ(monthly.limit_to, 500);
  EXPECT_EQ(monthly.unit, BudgetUnit::CostPerMonth);
  EXPECT_EQ(monthly.applies_per, std::vector<std::string>{"team"});
  ASSERT_TRUE(monthly.alerts.has_value());
  EXPECT_EQ(monthly.alerts->thresholds, (std::vector<double>{50, 80, 100}));
  EXPECT_EQ(monthly.alerts->webhook, "https://hooks.example.com/budget");
  EXPECT_EQ(monthly.on_exceed, BudgetRule::OnExceed::Block);
  const BudgetRule& daily = c.budgets[1];
  EXPECT_EQ(daily.when.subjects, std::vector<std::string>{"virtualaccount:checkout-prod"});
  EXPECT_EQ(daily.on_exceed, BudgetRule::OnExceed::Downgrade);
  EXPECT_EQ(daily.downgrade_to, "openai-main/gpt-4o-mini");
}

TEST_F(FullExample, GuardrailsPoliciesSinksState) {
  Config c = loadFile(kExamples + "full.yaml", stubSchemas()).config;
  ASSERT_EQ(c.guardrails.size(), 3u);
  EXPECT_EQ(c.guardrails[0].name, "pii");
  EXPECT_EQ(c.guardrails[0].plugin, "pii");
  EXPECT_EQ(c.guardrails[0].operation, GuardOperation::Mutate);
  EXPECT_EQ(c.guardrails[0].mode, GuardMode::Enforce);
  EXPECT_EQ(c.guardrails[0].plugin_config_json,
            R"({"action":"redact","entities":["EMAIL","PHONE"]})");
  EXPECT_EQ(c.guardrails[1].plugin, "prompt-injection");
  EXPECT_EQ(c.guardrails[1].mode, GuardMode::Audit);
  EXPECT_EQ(c.guardrails[1].plugin_config_json, R"({"threshold":0.5})");
  EXPECT_EQ(c.guardrails[2].mode, GuardMode::Strict);
  EXPECT_EQ(c.guardrails[2].timeout_ms, 5000u);

  ASSERT_EQ(c.guardrail_rules.size(), 1u);
  const GuardrailRule& rule = c.guardrail_rules[0];
  EXPECT_EQ(rule.when.metadata,
            (std::map<std::string, std::string>{{"environment", "production"}}));
  EXPECT_EQ(rule.llm_input, (std::vector<std::string>{"pii", "injection"}));
  EXPECT_EQ(rule.llm_output, std::vector<std::string>{"secrets"});
  EXPECT_TRUE(rule.mcp_pre_tool.empty());
  EXPECT_EQ(rule.mcp_post_tool, std::vector<std::string>{"pii"});

  ASSERT_EQ(c.policies.size(), 1u);
  EXPECT_EQ(c.policies[0].script,
            std::string(SLUICE_SOURCE_DIR) + "/scripts/lua/require_ticket.lua");
  EXPECT_EQ(c.policies[0].hooks, (std::vector<std::string>{"on_request", "on_response"}));

  ASSERT_EQ(c.sinks.size(), 3u);
  EXPECT_EQ(c.sinks[0].plugin, "access-log");
  EXPECT_EQ(c.sinks[0].plugin_config_json, R"({"format":"logfmt","path":"-"})");
  EXPECT_EQ(c.sinks[1].plugin_config_json, R"({"path":"./sluice-data/requests.db"})");
  EXPECT_EQ(c.sinks[2].plugin_config_json, R"({"metadata_labels":["environment","request_type"]})");

  EXPECT_EQ(c.state.backend, StateConfig::Backend::Memory);
  EXPECT_EQ(c.state.redis_url, "redis://127.0.0.1:6379");
}

TEST_F(FullExample, MissingSecretIsReportedByName) {
  ScopedEnv unset("OPENAI_API_KEY", nullptr);
  LoadResult r = loadFile(kExamples + "full.yaml", stubSchemas());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].path, "providers[0].auth.bearer");
  EXPECT_EQ(r.errors[0].message, "environment variable 'OPENAI_API_KEY' is not set");
}

TEST(RoutingExample, VirtualModelsWithFallbackAndACanary) {
  LoadResult r = loadFile(kExamples + "routing.yaml", stubSchemas());
  ASSERT_EQ(errorStrings(r), std::vector<std::string>{});
  const Config& c = r.config;
  EXPECT_EQ(c.virtual_models, (std::vector<std::string>{"prod/assistant", "prod/canary"}));
  ASSERT_EQ(c.routing.size(), 2u);
  const RoutingRule& assistant = c.routing[0];
  EXPECT_EQ(assistant.id, "assistant");
  EXPECT_EQ(assistant.strategy, "priority");
  ASSERT_EQ(assistant.targets.size(), 2u);
  const RouteTarget& primary = assistant.targets[0];
  EXPECT_EQ(primary.target, "primary/gpt-4o");
  EXPECT_EQ(primary.retry.attempts, 1);
  EXPECT_EQ(primary.retry.delay_ms, 200u);
  EXPECT_EQ(primary.retry.on_status_codes, (std::vector<int>{429, 500, 502, 503}));
  EXPECT_EQ(primary.fallback_status_codes, (std::vector<int>{401, 403, 404, 429, 500, 502, 503}));
  EXPECT_EQ(primary.timeout_ms, 30000u);
  EXPECT_DOUBLE_EQ(*primary.sla_tpot_ms, 80);
  EXPECT_EQ(primary.sla_window_seconds, 180u);
  EXPECT_EQ(primary.circuit_breaker.failures, 2u);
  EXPECT_EQ(primary.circuit_breaker.cooldown_seconds, 30u);
  const RouteTarget& backup = assistant.targets[1];
  EXPECT_EQ(backup.priority, 1);
  EXPECT_EQ(backup.override_params_json, R"({"temperature":0.2})");
  EXPECT_EQ(backup.headers_set, (std::map<std::string, std::string>{{"x-routed-by", "sluice"}}));
  const RoutingRule& canary = c.routing[1];
  EXPECT_EQ(canary.strategy, "weighted");
  ASSERT_TRUE(canary.sticky.has_value());
  EXPECT_EQ(canary.sticky->ttl_seconds, 600u);
  EXPECT_EQ(canary.sticky->session_identifiers[0].source, "header");
  EXPECT_EQ(canary.targets[0].weight, 90);
  EXPECT_EQ(canary.targets[1].weight, 10);
  // The primary account's only model answers 503: the mock's error trigger.
  EXPECT_EQ(c.providers[0].models[0].upstream_name, "error-503");
}

TEST(MinimalExample, LoadsWithTheKeyFromTheEnvironment) {
  ScopedEnv key("OPENAI_API_KEY", "sk-minimal");
  LoadResult r = loadFile(kExamples + "minimal.yaml", stubSchemas());
  ASSERT_EQ(errorStrings(r), std::vector<std::string>{});
  ASSERT_EQ(r.config.providers.size(), 1u);
  const ProviderConfig& p = r.config.providers[0];
  EXPECT_EQ(p.name, "openai");
  EXPECT_EQ(p.type, "openai");
  EXPECT_EQ(p.plugin_config_json,
            R"({"auth":{"bearer":"sk-minimal"},"base_url":"https://api.openai.com/v1"})");
  ASSERT_EQ(p.models.size(), 3u);
  EXPECT_EQ(p.models[0].name, "gpt-4o-mini");
  EXPECT_FALSE(r.config.auth.has_value());
  // Defaults: loopback, auto workers, both base paths.
  EXPECT_EQ(r.config.server.listen[0].host, "127.0.0.1");
  EXPECT_EQ(r.config.server.listen[0].port, 8080);
  EXPECT_FALSE(r.config.admin.listen.has_value());
}

TEST(MinimalExample, WithoutTheKeyNamesTheVariable) {
  ScopedEnv key("OPENAI_API_KEY", nullptr);
  LoadResult r = loadFile(kExamples + "minimal.yaml", stubSchemas());
  EXPECT_EQ(errorStrings(r),
            std::vector<std::string>{kExamples +
                                     "minimal.yaml:8:20: providers[0].auth.bearer: environment "
                                     "variable 'OPENAI_API_KEY' is not set"});
}

}  // namespace
}  // namespace sluice::manifest
