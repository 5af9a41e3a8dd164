// Every class of manifest error, with the exact "file:line:col: path: message"
// an operator sees.
#include <gtest/gtest.h>

#include "stub_schemas.h"

namespace sluice::manifest {
namespace {

using testing::errorStrings;
using testing::load;
using Strings = std::vector<std::string>;

// Two lines; anything appended starts on line 4 (after "version: 1").
const std::string kHead =
    "version: 1\n"
    "providers:\n"
    "  - {name: p, type: openai, models: [m1, m2]}\n";

TEST(ErrorStr, Formats) {
  EXPECT_EQ((Error{{"a.yaml", 3, 5}, "server.listen", "bad"}).str(),
            "a.yaml:3:5: server.listen: bad");
  EXPECT_EQ((Error{{"a.yaml", 1, 1}, "", "the manifest is empty"}).str(),
            "a.yaml:1:1: the manifest is empty");
  EXPECT_EQ((Error{{"<built-in>", 0, 0}, "x", "y"}).str(), "<built-in>: x: y");
}

TEST(Errors, ValidBaseHasNone) { EXPECT_EQ(errorStrings(load(kHead)), Strings{}); }

TEST(Errors, UnknownKeySuggestsTheClosest) {
  EXPECT_EQ(errorStrings(load(kHead + "server:\n  lisen: [\"127.0.0.1:8080\"]\n")),
            Strings{"test.yaml:5:3: server: unknown key 'lisen' (did you mean 'listen'?)"});
  EXPECT_EQ(errorStrings(load(kHead + "routng: []\n")),
            Strings{"test.yaml:4:1: unknown key 'routng' (did you mean 'routing'?)"});
  EXPECT_EQ(errorStrings(load(kHead + "server: {colour: blue}\n")),
            Strings{"test.yaml:4:10: server: unknown key 'colour'"});
}

TEST(Errors, UnknownKeyInsideListItems) {
  EXPECT_EQ(
      errorStrings(load(
          kHead + "rate_limits:\n"
                  "  - {id: a, limit_to: 5, unit: requests_per_minute, aplies_per: [team]}\n")),
      Strings{"test.yaml:5:53: rate_limits[0]: unknown key 'aplies_per' (did you mean "
              "'applies_per'?)"});
}

TEST(Errors, DuplicateKey) {
  EXPECT_EQ(errorStrings(load(kHead + "server:\n  workers: 2\n  workers: 3\n")),
            Strings{"test.yaml:6:3: server: duplicate key 'workers'"});
}

TEST(Errors, MissingRequiredKeys) {
  EXPECT_EQ(errorStrings(load("version: 1\n")),
            Strings{"test.yaml:1:1: missing required key 'providers'"});
  EXPECT_EQ(errorStrings(load("providers:\n  - {name: p, type: openai, models: [m]}\n")),
            Strings{"test.yaml:1:1: missing required key 'version'"});
  EXPECT_EQ(errorStrings(load("version: 1\nproviders:\n  - {name: p, models: [m]}\n")),
            Strings{"test.yaml:3:5: providers[0]: missing required key 'type'"});
}

TEST(Errors, EmptyRequiredLists) {
  EXPECT_EQ(errorStrings(load("version: 1\nproviders: []\n")),
            Strings{"test.yaml:2:12: providers: must list at least one provider"});
  EXPECT_EQ(errorStrings(load("version: 1\nproviders:\n  - {name: p, type: openai, models: []}\n")),
            Strings{"test.yaml:3:37: providers[0].models: must list at least one model"});
}

TEST(Errors, UnsupportedVersion) {
  EXPECT_EQ(errorStrings(load("version: 2\nanything: goes\n")),
            Strings{"test.yaml:1:10: version: unsupported version 2 (this build reads version 1)"});
  EXPECT_EQ(errorStrings(load("version: one\n" + kHead.substr(11))),
            Strings{"test.yaml:1:10: version: expected an integer, got 'one'"});
}

TEST(Errors, NotAManifest) {
  EXPECT_EQ(errorStrings(load("")), Strings{"test.yaml:1:1: the manifest is empty"});
  EXPECT_EQ(errorStrings(load("- a\n- b\n")),
            Strings{"test.yaml:1:1: expected a mapping at the top level, got a list"});
  EXPECT_EQ(errorStrings(load(kHead + "---\nversion: 1\n")),
            Strings{"test.yaml:4:1: a manifest holds one YAML document"});
  // yaml-cpp 0.7 would loop forever on these.
  EXPECT_EQ(errorStrings(load(",")), Strings{"test.yaml:1:1: unexpected ','"});
  EXPECT_EQ(errorStrings(load("version: 1\n---\n,\n")),
            Strings{"test.yaml:2:1: a manifest holds one YAML document"});
  EXPECT_EQ(errorStrings(load("version: 1\nproviders: [\n")),
            Strings{"test.yaml:3:1: end of sequence flow not found"});
  EXPECT_EQ(errorStrings(load("version: 1\x01\n")),
            Strings{"test.yaml:1:11: control characters are not allowed in a manifest"});
}

TEST(Errors, WrongTypes) {
  EXPECT_EQ(errorStrings(load(kHead + "server:\n"
                                      "  listen: {a: b}\n"
                                      "  workers: [2]\n"
                                      "  base_paths: /v1\n"
                                      "  upstream: {verify_tls: yes}\n"
                                      "  limits: {max_body_bytes: 1.5}\n"
                                      "default_metadata: [a]\n"
                                      "required_metadata: {a: b}\n")),
            (Strings{
                "test.yaml:5:11: server.listen: expected a list, got a mapping",
                "test.yaml:6:12: server.workers: expected auto or an integer, got a list",
                "test.yaml:7:15: server.base_paths: expected a list, got a string",
                "test.yaml:8:26: server.upstream.verify_tls: expected true or false, got 'yes'",
                "test.yaml:9:28: server.limits.max_body_bytes: expected an integer, got '1.5'",
                "test.yaml:10:19: default_metadata: expected a mapping, got a list",
                "test.yaml:11:20: required_metadata: expected a list, got a mapping",
            }));
  EXPECT_EQ(errorStrings(load(kHead + "server: {workers: many}\n")),
            Strings{"test.yaml:4:19: server.workers: expected auto or an integer, got 'many'"});
  EXPECT_EQ(
      errorStrings(load("version: 1\nproviders:\n  - {name: [p], type: openai, models: [m]}\n")),
      Strings{"test.yaml:3:12: providers[0].name: expected a string, got a list"});
  EXPECT_EQ(
      errorStrings(load("version: 1\nproviders:\n  - name:\n    type: openai\n    models: [m]\n")),
      Strings{"test.yaml:3:5: providers[0].name: expected a string, got null"});
}

TEST(Errors, OutOfRange) {
  EXPECT_EQ(errorStrings(load(kHead + "server:\n"
                                      "  workers: 0\n"
                                      "  limits: {max_header_bytes: 10, drain_timeout_ms: -1}\n")),
            (Strings{
                "test.yaml:5:12: server.workers: must be between 1 and 1024 (got 0)",
                "test.yaml:6:30: server.limits.max_header_bytes: must be between 1024 and 1048576 "
                "(got 10)",
                "test.yaml:6:52: server.limits.drain_timeout_ms: must be between 0 and 86400000 "
                "(got -1)",
            }));
  EXPECT_EQ(errorStrings(load("version: 1\nproviders:\n"
                              "  - name: p\n    type: openai\n"
                              "    models: [{name: m, pricing: {input_per_mtok: -1}}]\n")),
            Strings{"test.yaml:5:50: providers[0].models[0].pricing.input_per_mtok: must be "
                    "between 0 and 1000000 (got -1)"});
  EXPECT_EQ(
      errorStrings(load(kHead + "rate_limits: [{id: a, limit_to: 0, unit: requests_per_day}]\n")),
      Strings{"test.yaml:4:33: rate_limits[0].limit_to: must be at least 1 (got 0)"});
}

TEST(Errors, BadEnumValues) {
  EXPECT_EQ(
      errorStrings(load(kHead + "rate_limits:\n  - {id: a, limit_to: 5, unit: tokens_per_week}\n")),
      Strings{"test.yaml:5:32: rate_limits[0].unit: unit must be one of requests_per_minute, "
              "requests_per_hour, requests_per_day, tokens_per_minute, tokens_per_hour, "
              "tokens_per_day (got 'tokens_per_week')"});
  EXPECT_EQ(errorStrings(load(
                kHead + "guardrails: [{name: pii, mode: loud}]\n"
                        "state: {backend: etcd}\n"
                        "budgets: [{id: b, limit_to: 1, unit: cost_per_month, on_exceed: stop}]\n"
                        "rate_limits: [{id: r, limit_to: 1, unit: requests_per_day, "
                        "applies_per: [org]}]\n")),
            (Strings{
                "test.yaml:4:32: guardrails[0].mode: mode must be one of audit, enforce, strict "
                "(got 'loud')",
                "test.yaml:5:18: state.backend: backend must be one of memory, redis (got 'etcd')",
                "test.yaml:6:65: budgets[0].on_exceed: on_exceed must be one of block, audit, "
                "{downgrade_to: MODEL} (got 'stop')",
                "test.yaml:7:74: rate_limits[0].applies_per[0]: applies_per must be one of "
                "subject, team, model, metadata.KEY (got 'org')",
            }));
}

TEST(Errors, ListenAddresses) {
  LoadResult ok = load(kHead + "server: {listen: [\"[::1]:8080\", \"0.0.0.0:0\"]}\n");
  ASSERT_EQ(errorStrings(ok), Strings{});
  EXPECT_EQ(ok.config.server.listen[0].host, "::1");
  EXPECT_EQ(ok.config.server.listen[0].port, 8080);
  EXPECT_EQ(ok.config.server.listen[1].port, 0);
  EXPECT_EQ(errorStrings(load(kHead + "server:\n  listen: [\"localhost:80\", \"1.2.3.4:99999\", "
                                      "\"::1:80\", \"1.2.3.4:80\", \"1.2.3.4:80\"]\n")),
            (Strings{
                "test.yaml:5:12: server.listen[0]: invalid listen address 'localhost:80' "
                "(expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080)",
                "test.yaml:5:28: server.listen[1]: invalid listen address '1.2.3.4:99999' "
                "(expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080)",
                "test.yaml:5:45: server.listen[2]: invalid listen address '::1:80' "
                "(expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080)",
                "test.yaml:5:69: server.listen[4]: duplicate listen address '1.2.3.4:80' "
                "(first defined at line 5)",
            }));
  // A single string is one address.
  EXPECT_EQ(load(kHead + "server: {listen: \"10.0.0.1:81\"}\n").config.server.listen[0].host,
            "10.0.0.1");
}

TEST(Errors, AdminWithoutTokenMustBeLoopback) {
  EXPECT_EQ(errorStrings(load(kHead + "admin: {listen: \"0.0.0.0:9090\"}\n")),
            Strings{"test.yaml:4:17: admin.listen: the admin listener must be on a loopback "
                    "address when admin.token is not set"});
  EXPECT_EQ(errorStrings(load(kHead + "admin: {listen: \"0.0.0.0:9090\", token: t0ken}\n")),
            Strings{});
  EXPECT_EQ(errorStrings(load(kHead + "admin: {listen: \"[::1]:9090\"}\n")), Strings{});
}

TEST(Errors, BasePaths) {
  EXPECT_EQ(errorStrings(load(kHead + "server: {base_paths: [v1, /v2/, /v3, /v3]}\n")),
            (Strings{
                "test.yaml:4:23: server.base_paths[0]: a base path must start with '/' and not "
                "end with '/'",
                "test.yaml:4:27: server.base_paths[1]: a base path must start with '/' and not "
                "end with '/'",
                "test.yaml:4:38: server.base_paths[3]: duplicate base path '/v3' (first defined "
                "at line 4)",
            }));
}

TEST(Errors, DuplicateNames) {
  EXPECT_EQ(errorStrings(load("version: 1\n"
                              "providers:\n"
                              "  - {name: p, type: openai, models: [m1, m1]}\n"
                              "  - {name: p, type: openai, models: [m1]}\n"
                              "routing:\n"
                              "  - {id: r, targets: [p/m1]}\n"
                              "  - {id: r, targets: [p/m1]}\n"
                              "guardrails: [{name: pii}, {name: pii}]\n"
                              "rate_limits:\n"
                              "  - {id: x, limit_to: 1, unit: requests_per_day}\n"
                              "  - {id: x, limit_to: 1, unit: requests_per_day}\n"
                              "budgets:\n"
                              "  - {id: y, limit_to: 1, unit: cost_per_day}\n"
                              "  - {id: y, limit_to: 1, unit: cost_per_day}\n"
                              "virtual_models: [v, v]\n")),
            (Strings{
                "test.yaml:3:42: providers[0].models[1]: duplicate model 'm1' (first defined at "
                "line 3)",
                "test.yaml:4:12: providers[1].name: duplicate provider name 'p' (first defined "
                "at line 3)",
                "test.yaml:7:10: routing[1].id: duplicate routing id 'r' (first defined at line "
                "6)",
                "test.yaml:8:34: guardrails[1].name: duplicate guardrail name 'pii' (first "
                "defined at line 8)",
                "test.yaml:11:10: rate_limits[1].id: duplicate rate limit id 'x' (first defined "
                "at line 10)",
                "test.yaml:14:10: budgets[1].id: duplicate budget id 'y' (first defined at line "
                "13)",
                "test.yaml:15:21: virtual_models[1]: duplicate virtual model 'v' (first defined "
                "at line 15)",
            }));
}

TEST(Errors, RoutingTargetsMustNameProviderModels) {
  EXPECT_EQ(errorStrings(load(kHead + "routing:\n"
                                      "  - id: r\n"
                                      "    targets:\n"
                                      "      - p/m3\n"
                                      "      - {target: q/m1}\n"
                                      "      - {target: m1}\n")),
            (Strings{
                "test.yaml:7:9: routing[0].targets[0]: provider 'p' has no model 'm3' (did you "
                "mean 'm1'?)",
                "test.yaml:8:18: routing[0].targets[1].target: unknown provider 'q' in 'q/m1'",
                "test.yaml:9:18: routing[0].targets[2].target: 'm1' is not of the form "
                "<provider>/<model>",
            }));
}

TEST(Errors, RoutingWhenModelsMustResolve) {
  EXPECT_EQ(errorStrings(load(kHead + "virtual_models: [prod/assistant]\n"
                                      "routing:\n"
                                      "  - id: r\n"
                                      "    when: {models: [prod/asistant, p/m1, \"prod/*\"]}\n"
                                      "    targets: [p/m1]\n")),
            Strings{"test.yaml:7:21: routing[0].when.models[0]: unknown model 'prod/asistant' "
                    "(not a virtual model or a provider model) (did you mean 'prod/assistant'?)"});
}

TEST(Errors, VirtualModelMustNotShadowAProviderModel) {
  EXPECT_EQ(errorStrings(load(kHead + "virtual_models: [p/m2]\n")),
            Strings{"test.yaml:4:18: virtual_models[0]: virtual model 'p/m2' has the name of a "
                    "provider model"});
}

TEST(Errors, GuardrailRulesNameConfiguredGuardrails) {
  EXPECT_EQ(errorStrings(load(kHead + "guardrails: [{name: pii}, {name: secrets}]\n"
                                      "guardrail_rules:\n"
                                      "  - {llm_input: [pii, piii], mcp_post_tool: [nope]}\n")),
            (Strings{
                "test.yaml:6:23: guardrail_rules[0].llm_input[1]: unknown guardrail 'piii' (did "
                "you mean 'pii'?)",
                "test.yaml:6:46: guardrail_rules[0].mcp_post_tool[0]: unknown guardrail 'nope'",
            }));
}

TEST(Errors, DowngradeMustNameAModel) {
  LoadResult r =
      load(kHead +
           "budgets:\n"
           "  - {id: b, limit_to: 1, unit: cost_per_day, on_exceed: {downgrade_to: p/m9}}\n"
           "  - {id: c, limit_to: 1, unit: cost_per_day, on_exceed: {downgrade_to: p/m2}}\n");
  EXPECT_EQ(errorStrings(r),
            Strings{"test.yaml:5:72: budgets[0].on_exceed.downgrade_to: unknown model 'p/m9' (not "
                    "a virtual model or a provider model) (did you mean 'p/m1'?)"});
  ASSERT_EQ(r.config.budgets.size(), 2u);
  EXPECT_EQ(r.config.budgets[1].on_exceed, BudgetRule::OnExceed::Downgrade);
  EXPECT_EQ(r.config.budgets[1].downgrade_to, "p/m2");
}

TEST(Errors, AuthReferencesAndTokens) {
  const std::string hash(64, 'a');
  EXPECT_EQ(errorStrings(load(
                kHead +
                "auth:\n"
                "  teams: [{name: payments}]\n"
                "  users:\n"
                "    - {email: alice, token_sha256: abc}\n"
                "    - {email: bob@x, token_sha256: " +
                hash +
                ", team: payment}\n"
                "  virtual_accounts:\n"
                "    - {name: app, token_sha256: " +
                std::string(64, 'A') +
                "}\n"
                "budgets: [{id: b, when: {teams: [paymnts]}, limit_to: 1, unit: cost_per_day}]\n")),
            (Strings{
                "test.yaml:7:15: auth.users[0].email: expected an e-mail address",
                "test.yaml:7:36: auth.users[0].token_sha256: token_sha256 must be 64 hexadecimal "
                "characters (the SHA-256 of the token; `sluice token create` prints it)",
                "test.yaml:8:108: auth.users[1].team: unknown team 'payment' (did you mean "
                "'payments'?)",
                "test.yaml:10:33: auth.virtual_accounts[0].token_sha256: the same token_sha256 is "
                "already used at line 8",
                "test.yaml:11:34: budgets[0].when.teams[0]: unknown team 'paymnts' (did you mean "
                "'payments'?)",
            }));
}

TEST(Errors, WhenSubjects) {
  EXPECT_EQ(errorStrings(load(kHead + "rate_limits: [{id: a, limit_to: 1, unit: requests_per_day, "
                                      "when: {subjects: [alice]}}]\n")),
            Strings{"test.yaml:4:78: rate_limits[0].when.subjects[0]: subject must be "
                    "user:EMAIL, virtualaccount:NAME or anonymous (got 'alice')"});
}

TEST(Errors, ProviderBlockIsCheckedAgainstThePluginSchema) {
  EXPECT_EQ(errorStrings(load("version: 1\n"
                              "providers:\n"
                              "  - name: a\n"
                              "    type: openai\n"
                              "    base_ur: https://example.com\n"
                              "    models: [m]\n"
                              "  - name: b\n"
                              "    type: openai-compatible\n"
                              "    auth: {bearer: 42, token: x}\n"
                              "    modles: [m]\n"
                              "  - {name: c, type: anthropc, models: [m]}\n")),
            (Strings{
                "test.yaml:5:5: providers[0]: unknown key 'base_ur' (did you mean 'base_url'?)",
                "test.yaml:7:5: providers[1]: missing required key 'models'",
                "test.yaml:7:5: providers[1]: missing required key 'base_url'",
                "test.yaml:9:24: providers[1].auth: unknown key 'token'",
                "test.yaml:10:5: providers[1]: unknown key 'modles' (did you mean 'models'?)",
                "test.yaml:11:21: providers[2].type: no provider plugin named 'anthropc'",
            }));
}

TEST(Errors, StrategyKeysAreCheckedAgainstTheRoutingPlugin) {
  EXPECT_EQ(errorStrings(
                load(kHead + "routing:\n"
                             "  - {id: a, strategy: latency, min_samples: 0, targets: [p/m1]}\n"
                             "  - {id: b, strategy: weighted, min_samples: 5, targets: [p/m1]}\n"
                             "  - {id: c, strategy: fastest, targets: [p/m1]}\n")),
            (Strings{
                "test.yaml:5:45: routing[0].min_samples: must be between 1 and 1000 (got 0)",
                "test.yaml:6:33: routing[1]: unknown key 'min_samples'",
                "test.yaml:7:23: routing[2].strategy: no routing plugin named 'fastest'",
            }));
  LoadResult r = load(kHead + "routing: [{id: a, strategy: latency, targets: [p/m1]}]\n");
  ASSERT_EQ(errorStrings(r), Strings{});
  EXPECT_EQ(r.config.routing[0].strategy_config_json, R"({"equal_within":1.2,"min_samples":3})");
}

TEST(Errors, GuardrailAndSinkConfigsAreChecked) {
  EXPECT_EQ(
      errorStrings(load(kHead + "guardrails:\n"
                                "  - {name: pii, config: {action: redcat}}\n"
                                "  - {name: g, plugin: nothing}\n"
                                "sinks:\n"
                                "  - {plugin: sqlite}\n"
                                "  - {plugin: access-log, config: {format: xml, colour: red}}\n")),
      (Strings{
          "test.yaml:5:34: guardrails[0].config.action: action must be one of redact, "
          "block, audit (got 'redcat')",
          "test.yaml:6:23: guardrails[1].plugin: no guardrail plugin named 'nothing'",
          "test.yaml:8:5: sinks[0].config: missing required key 'path'",
          "test.yaml:9:43: sinks[1].config.format: format must be one of json, logfmt (got "
          "'xml')",
          "test.yaml:9:48: sinks[1].config: unknown key 'colour'",
      }));
}

TEST(Errors, RoutingTargetFields) {
  EXPECT_EQ(
      errorStrings(load(
          kHead +
          "routing:\n"
          "  - id: r\n"
          "    sticky_routing: {ttl_seconds: 60, session_identifiers: [{source: cookie, key: s}]}\n"
          "    targets:\n"
          "      - target: p/m1\n"
          "        retry_config: {attempts: 11, on_status_codes: [600]}\n"
          "        override_params: [1]\n"
          "        headers_override: {set: {\"bad header\": x}, remove: [\"a:b\"]}\n"
          "        sla_cutoff: {time_per_output_token_ms: 0}\n")),
      (Strings{
          "test.yaml:6:70: routing[0].sticky_routing.session_identifiers[0].source: source "
          "must be one of header, metadata (got 'cookie')",
          "test.yaml:9:34: routing[0].targets[0].retry_config.attempts: must be between 0 "
          "and 10 (got 11)",
          "test.yaml:9:56: routing[0].targets[0].retry_config.on_status_codes[0]: must be "
          "between 100 and 599 (got 600)",
          "test.yaml:10:26: routing[0].targets[0].override_params: expected a mapping, got "
          "a list",
          "test.yaml:11:34: routing[0].targets[0].headers_override.set: invalid header name "
          "'bad header'",
          "test.yaml:11:61: routing[0].targets[0].headers_override.remove[0]: invalid "
          "header name 'a:b'",
          "test.yaml:12:48: routing[0].targets[0].sla_cutoff.time_per_output_token_ms: must "
          "be between 0.001 and 1000000 (got 0)",
      }));
}

TEST(Errors, RoutingBreakerSlaAndOverrideLimits) {
  EXPECT_EQ(
      errorStrings(load(
          kHead +
          "routing:\n"
          "  - id: r\n"
          "    targets:\n"
          "      - target: p/m1\n"
          "        circuit_breaker: {failures: -1, window_seconds: 0, cooldown: 5}\n"
          "        sla_cutoff: {time_per_output_token_ms: 50, window_seconds: 2}\n"
          "        override_params: {model: x, stream: true, top_p: 0.5}\n"
          "        headers_override: {set: {Host: evil.example}, remove: [Content-Length]}\n"
          "      - p/m2\n"
          "      - {target: p/m1}\n")),
      (Strings{
          "test.yaml:8:37: routing[0].targets[0].circuit_breaker.failures: must be between 0 "
          "and 1000 (got -1)",
          "test.yaml:8:57: routing[0].targets[0].circuit_breaker.window_seconds: must be "
          "between 1 and 86400 (got 0)",
          "test.yaml:8:60: routing[0].targets[0].circuit_breaker: unknown key 'cooldown'",
          "test.yaml:9:68: routing[0].targets[0].sla_cutoff.window_seconds: must be between 5 "
          "and 1200 (got 2)",
          "test.yaml:10:27: routing[0].targets[0].override_params: 'model' cannot be "
          "overridden (the target names the model)",
          "test.yaml:10:37: routing[0].targets[0].override_params: 'stream' cannot be "
          "overridden (the client decides)",
          "test.yaml:11:34: routing[0].targets[0].headers_override.set: header 'Host' is "
          "written by the gateway and cannot be overridden",
          "test.yaml:11:64: routing[0].targets[0].headers_override.remove[0]: header "
          "'Content-Length' is written by the gateway and cannot be removed",
          "test.yaml:13:18: routing[0].targets[2].target: duplicate target 'p/m1' (first "
          "defined at line 7)",
      }));
}

TEST(Errors, RoutingBreakerAndSlaDefaults) {
  LoadResult r = load(kHead +
                      "routing:\n"
                      "  - id: r\n"
                      "    targets:\n"
                      "      - target: p/m1\n"
                      "        circuit_breaker: {failures: 5}\n"
                      "        sla_cutoff: {time_per_output_token_ms: 50}\n"
                      "      - target: p/m2\n"
                      "        circuit_breaker: {failures: 0, window_seconds: 30, cooldown_seconds: 9}\n"
                      "        sla_cutoff: {time_per_output_token_ms: 50, window_seconds: 60}\n");
  ASSERT_EQ(errorStrings(r), Strings{});
  const RouteTarget& a = r.config.routing[0].targets[0];
  EXPECT_EQ(a.circuit_breaker.failures, 5u);
  EXPECT_EQ(a.circuit_breaker.window_seconds, 120u);
  EXPECT_EQ(a.circuit_breaker.cooldown_seconds, 30u);
  EXPECT_EQ(a.sla_window_seconds, 180u);
  const RouteTarget& b = r.config.routing[0].targets[1];
  EXPECT_EQ(b.circuit_breaker.failures, 0u);
  EXPECT_EQ(b.circuit_breaker.window_seconds, 30u);
  EXPECT_EQ(b.circuit_breaker.cooldown_seconds, 9u);
  EXPECT_EQ(b.sla_window_seconds, 60u);
}

TEST(Errors, RoutingTargetsPerRuleAreBounded) {
  std::string targets;
  for (int i = 0; i < 33; i++) targets += "      - {target: p/m1, priority: " + std::to_string(i) + "}\n";
  Strings errors = errorStrings(load(kHead + "routing:\n  - id: r\n    targets:\n" + targets));
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors.back(),
            "test.yaml:39:9: routing[0].targets[32]: a rule lists at most 32 targets");
}

TEST(Errors, VirtualModelsMustBeRouted) {
  EXPECT_EQ(errorStrings(load(kHead + "virtual_models: [prod/a, prod/b, dev/c]\n"
                                      "routing:\n"
                                      "  - {id: r, when: {models: [\"prod/*\"]}, targets: [p/m1]}\n")),
            Strings{"test.yaml:4:34: virtual_models[2]: virtual model 'dev/c' is not routed: no "
                    "routing rule's when.models matches it"});
  // A rule without when.models routes every model.
  EXPECT_EQ(errorStrings(load(kHead + "virtual_models: [dev/c]\n"
                                      "routing: [{id: r, targets: [p/m1]}]\n")),
            Strings{});
}

TEST(Errors, StateRedisNeedsAUrl) {
  EXPECT_EQ(errorStrings(load(kHead + "state: {backend: redis}\n")),
            Strings{"test.yaml:4:8: state: backend redis needs redis: {url: redis://HOST:PORT}"});
  EXPECT_EQ(errorStrings(load(kHead + "state: {backend: redis, redis: {url: \"http://x\"}}\n")),
            Strings{"test.yaml:4:38: state.redis.url: url must start with redis:// or unix://"});
  EXPECT_EQ(errorStrings(load(kHead + "state: {backend: redis, redis: {url: \"rediss://x\"}}\n")),
            Strings{"test.yaml:4:38: state.redis.url: rediss:// (TLS) is not supported by this "
                    "build's hiredis; use redis:// on a trusted network or unix://"});
  LoadResult r = load(kHead +
                      "state: {backend: redis, redis: {url: \"redis://r:6379\"}, "
                      "on_unavailable: fail_closed}\n");
  ASSERT_EQ(errorStrings(r), Strings{});
  EXPECT_EQ(r.config.state.backend, StateConfig::Backend::Redis);
  EXPECT_EQ(r.config.state.on_unavailable, StateConfig::OnUnavailable::FailClosed);
  EXPECT_EQ(r.config.state.redis_timeout_ms, 250u);
}

TEST(Errors, StateRedisTimeoutIsBounded) {
  LoadResult r = load(kHead + "state: {backend: redis, redis: {url: \"redis://r\", timeout_ms: 2000}}\n");
  ASSERT_EQ(errorStrings(r), Strings{});
  EXPECT_EQ(r.config.state.redis_timeout_ms, 2000u);
  EXPECT_EQ(errorStrings(load(kHead + "state: {backend: redis, redis: {url: \"redis://r\", timeout_ms: 0}}\n")),
            Strings{"test.yaml:4:63: state.redis.timeout_ms: must be between 1 and 60000 (got 0)"});
  EXPECT_EQ(errorStrings(load(kHead + "state: {backend: redis, redis: {url: \"redis://r\", timeout: 5}}\n")),
            Strings{"test.yaml:4:51: state.redis: unknown key 'timeout'"});
}

TEST(Errors, AllErrorsAreReportedInFileOrder) {
  LoadResult r = load(
      "version: 1\n"
      "server: {workers: 0}\n"
      "providers:\n"
      "  - {name: p, type: openai, models: [m]}\n"
      "routing: [{id: r, targets: [p/x]}]\n"
      "colour: blue\n");
  EXPECT_EQ(errorStrings(r),
            (Strings{
                "test.yaml:2:19: server.workers: must be between 1 and 1024 (got 0)",
                "test.yaml:5:29: routing[0].targets[0]: provider 'p' has no model 'x'",
                "test.yaml:6:1: unknown key 'colour'",
            }));
}

TEST(Errors, AliasBombsAndCyclesAreRefused) {
  std::string bomb = kHead + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 8; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev + ", " + prev +
            ", " + prev + ", " + prev + ", " + prev + ", " + prev + ", " + prev + ", " + prev +
            ", " + prev + ", " + prev + "]\n";
  }
  // The aliases are only expanded where JSON is built: in a plugin block.
  LoadResult r = load(bomb.substr(0, bomb.find("a0:")) + bomb.substr(bomb.find("a0:")) +
                      "sinks: [{plugin: prometheus, config: {metadata_labels: *a7}}]\n");
  ASSERT_FALSE(r.ok());
  bool saw_limit = false;
  for (const auto& e : r.errors) saw_limit |= e.message == "too large once aliases are expanded";
  EXPECT_TRUE(saw_limit) << ::testing::PrintToString(errorStrings(r));

  LoadResult cycle = load(kHead + "sinks: [{plugin: prometheus, config: &c {x: *c}}]\n");
  ASSERT_FALSE(cycle.ok());
  bool saw_depth = false;
  for (const auto& e : cycle.errors)
    saw_depth |= e.message == "nested too deeply (more than 64 levels)";
  EXPECT_TRUE(saw_depth) << ::testing::PrintToString(errorStrings(cycle));
}

}  // namespace
}  // namespace sluice::manifest
