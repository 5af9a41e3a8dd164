// ${env:NAME} and ${file:PATH} references: where they may appear, how they
// fail, and that what they expand to never reaches an error message.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "manifest/interpolate.h"
#include "stub_schemas.h"
#include "support/temp_dir.h"

namespace sluice::manifest {
namespace {

using testing::errorStrings;
using testing::load;
using testing::ScopedEnv;
using testing::stubSchemas;
using Strings = std::vector<std::string>;

const std::string kHead = "version: 1\n";

std::string provider(const std::string& extra) {
  return kHead + "providers:\n  - name: p\n    type: openai\n    models: [m]\n" + extra;
}

bool anyErrorContains(const LoadResult& r, const std::string& needle) {
  for (const auto& e : r.errors) {
    if (e.str().find(needle) != std::string::npos) return true;
  }
  return false;
}

using sluice::testing::TempDir;

TEST(Interpolator, ExpandsEnvAndKeepsLiteralText) {
  ScopedEnv host("SLUICE_T_HOST", "api.example.com");
  ScopedEnv port("SLUICE_T_PORT", "8443");
  Interpolator in("/");
  std::string out, why;
  bool refs = false;
  ASSERT_TRUE(in.expand("https://${env:SLUICE_T_HOST}:${env:SLUICE_T_PORT}/v1", &out, &refs, &why));
  EXPECT_EQ(out, "https://api.example.com:8443/v1");
  EXPECT_TRUE(refs);
  ASSERT_TRUE(in.expand("plain $ text {}", &out, &refs, &why));
  EXPECT_EQ(out, "plain $ text {}");
  EXPECT_FALSE(refs);
  ASSERT_TRUE(in.expand("cost: $${env:NOT_EXPANDED}", &out, &refs, &why));
  EXPECT_EQ(out, "cost: ${env:NOT_EXPANDED}");
  EXPECT_FALSE(refs);
}

TEST(Interpolator, Failures) {
  ScopedEnv unset("SLUICE_T_MISSING", nullptr);
  Interpolator in("/");
  std::string out, why;
  bool refs = false;
  EXPECT_FALSE(in.expand("${env:SLUICE_T_MISSING}", &out, &refs, &why));
  EXPECT_EQ(why, "environment variable 'SLUICE_T_MISSING' is not set");
  EXPECT_FALSE(in.expand("x ${env:A", &out, &refs, &why));
  EXPECT_EQ(why, "unterminated '${' (expected ${env:NAME} or ${file:PATH})");
  EXPECT_FALSE(in.expand("${vault:a/b}", &out, &refs, &why));
  EXPECT_EQ(why, "unknown reference '${vault:...}' (expected ${env:NAME} or ${file:PATH})");
  EXPECT_FALSE(in.expand("${env:}", &out, &refs, &why));
  EXPECT_EQ(why, "empty variable name in '${env:}'");
  EXPECT_FALSE(in.expand("${file:/nonexistent/sluice/key}", &out, &refs, &why));
  EXPECT_EQ(why, "cannot read file '/nonexistent/sluice/key' (No such file or directory)");
  EXPECT_FALSE(in.expand("${file:/tmp}", &out, &refs, &why));
  EXPECT_EQ(why, "cannot read file '/tmp' (not a regular file)");
}

TEST(Interpolation, AnyScalarInAnySection) {
  ScopedEnv admin("SLUICE_T_ADMIN", "s3cret-admin");
  ScopedEnv listen("SLUICE_T_LISTEN", "127.0.0.1:18080");
  ScopedEnv workers("SLUICE_T_WORKERS", "3");
  ScopedEnv team("SLUICE_T_TEAM", "payments");
  LoadResult r = load(
      provider("server: {listen: [\"${env:SLUICE_T_LISTEN}\"], workers: ${env:SLUICE_T_WORKERS}}\n"
               "admin: {listen: \"127.0.0.1:9090\", token: ${env:SLUICE_T_ADMIN}}\n"
               "default_metadata: {team: \"team-${env:SLUICE_T_TEAM}\"}\n"));
  ASSERT_EQ(errorStrings(r), Strings{});
  EXPECT_EQ(r.config.server.listen[0].port, 18080);
  EXPECT_EQ(r.config.server.workers, 3);
  EXPECT_EQ(r.config.admin.token, "s3cret-admin");
  EXPECT_EQ(r.config.default_metadata.at("team"), "team-payments");
}

TEST(Interpolation, UnquotedInsideFlowCollections) {
  // The manifest documents `auth: {bearer: ${env:KEY}}` without quotes.
  ScopedEnv key("SLUICE_T_KEY", "sk-abc");
  LoadResult r =
      load(kHead +
           "providers:\n"
           "  - {name: p, type: openai, auth: {bearer: ${env:SLUICE_T_KEY}}, models: [m]}\n"
           "default_metadata: {a: ${env:SLUICE_T_KEY}, b: x}\n");
  ASSERT_EQ(errorStrings(r), Strings{});
  EXPECT_EQ(r.config.providers[0].plugin_config_json,
            R"({"auth":{"bearer":"sk-abc"},"base_url":"https://api.openai.com/v1"})");
  EXPECT_EQ(r.config.default_metadata.at("a"), "sk-abc");
  EXPECT_EQ(r.config.default_metadata.at("b"), "x");
}

TEST(Interpolation, MissingVariablesAreErrorsNamingThem) {
  ScopedEnv a("SLUICE_T_A", nullptr);
  ScopedEnv b("SLUICE_T_B", nullptr);
  LoadResult r =
      load(provider("admin: {listen: \"127.0.0.1:9090\", token: ${env:SLUICE_T_A}}\n"
                    "sinks: [{plugin: sqlite, config: {path: \"${env:SLUICE_T_B}/x.db\"}}]\n"));
  EXPECT_EQ(errorStrings(r),
            (Strings{
                "test.yaml:6:42: admin.token: environment variable 'SLUICE_T_A' is not set",
                "test.yaml:7:41: sinks[0].config.path: environment variable 'SLUICE_T_B' is not "
                "set",
            }));
  // Keys whose values are never read are not expanded: nothing to report there.
  EXPECT_EQ(errorStrings(load(provider("bogus: ${env:SLUICE_T_A}\n"))),
            Strings{"test.yaml:6:1: unknown key 'bogus'"});
}

TEST(Interpolation, ExpandedValuesNeverAppearInErrors) {
  ScopedEnv secret("SLUICE_T_SECRET", "hunter2-very-secret");
  LoadResult r = load(
      provider("server: {workers: ${env:SLUICE_T_SECRET}, listen: [\"${env:SLUICE_T_SECRET}\"]}\n"
               "admin: {listen: \"0.0.0.0:1\", token: \"\"}\n"
               "rate_limits: [{id: a, limit_to: 1, unit: \"${env:SLUICE_T_SECRET}\"}]\n"
               "virtual_models: [\"${env:SLUICE_T_SECRET}\", \"${env:SLUICE_T_SECRET}\"]\n"
               "routing: [{id: r, targets: [\"${env:SLUICE_T_SECRET}\"]}]\n"
               "guardrails: [{name: pii, config: {action: \"${env:SLUICE_T_SECRET}\"}}]\n"
               "state: {redis: {url: \"${env:SLUICE_T_SECRET}\"}}\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(anyErrorContains(r, "hunter2")) << ::testing::PrintToString(errorStrings(r));
  EXPECT_EQ(errorStrings(r),
            (Strings{
                "test.yaml:6:19: server.workers: expected auto or an integer, got a string",
                "test.yaml:6:52: server.listen[0]: invalid listen address '${env:SLUICE_T_SECRET}' "
                "(expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080)",
                "test.yaml:7:17: admin.listen: the admin listener must be on a loopback address "
                "when admin.token is not set",
                "test.yaml:8:42: rate_limits[0].unit: unit must be one of requests_per_minute, "
                "requests_per_hour, requests_per_day, tokens_per_minute, tokens_per_hour, "
                "tokens_per_day (got '${env:SLUICE_T_SECRET}')",
                "test.yaml:9:44: virtual_models[1]: duplicate virtual model "
                "'${env:SLUICE_T_SECRET}' (first defined at line 9)",
                "test.yaml:10:29: routing[0].targets[0]: '${env:SLUICE_T_SECRET}' names no "
                "configured provider model",
                "test.yaml:11:43: guardrails[0].config.action: action must be one of redact, "
                "block, audit",
                "test.yaml:12:22: state.redis.url: url must start with redis:// or unix://",
            }));
}

TEST(Interpolation, SecretSchemaValuesAreNotQuoted) {
  // A plain literal in a SECRET key is not echoed either.
  LoadResult r = load(kHead +
                      "providers:\n"
                      "  - {name: p, type: openai, auth: {bearer: [sk-literal]}, models: [m]}\n");
  EXPECT_EQ(errorStrings(r),
            Strings{"test.yaml:3:44: providers[0].auth.bearer: expected a string, got a list"});
}

TEST(Interpolation, ExpandedScalarsAreTypedForPlugins) {
  ScopedEnv latency("SLUICE_T_LATENCY", "250");
  ScopedEnv key("SLUICE_T_NUMERIC_KEY", "12345");
  LoadResult r =
      load(kHead +
           "providers:\n"
           "  - {name: m, type: mock, latency_ms: ${env:SLUICE_T_LATENCY}, models: [x]}\n"
           "  - {name: o, type: openai, auth: {bearer: ${env:SLUICE_T_NUMERIC_KEY}}, "
           "organization: 0123, models: [x]}\n"
           "  - {name: q, type: mock, latency_ms: \"${env:SLUICE_T_LATENCY}\", models: [x]}\n");
  EXPECT_EQ(errorStrings(r), Strings{"test.yaml:5:39: providers[2].latency_ms: expected an "
                                     "integer, got a string"});
  ASSERT_EQ(r.config.providers.size(), 3u);
  EXPECT_EQ(r.config.providers[0].plugin_config_json, R"({"latency_ms":250})");
  EXPECT_EQ(
      r.config.providers[1].plugin_config_json,
      R"({"auth":{"bearer":"12345"},"organization":"0123","base_url":"https://api.openai.com/v1"})");
}

TEST(Interpolation, FilesResolveAgainstTheManifestFolder) {
  TempDir dir;
  dir.write("secrets/openai.key", "sk-from-file\n");
  dir.write("conf/sluice.yaml",
            "version: 1\n"
            "plugins: [{name: g, path: ../plugins/g.so}]\n"
            "server:\n"
            "  tls: {cert: certs/server.pem, key: /etc/abs.key}\n"
            "  upstream: {ca_file: ca.pem}\n"
            "providers:\n"
            "  - name: p\n"
            "    type: openai\n"
            "    auth: {bearer: ${file:../secrets/openai.key}}\n"
            "    organization: \"org-${file:" +
                dir.path() +
                "/secrets/openai.key}\"\n"
                "    models: [m]\n"
                "policies: [{script: policy.lua}]\n");
  LoadResult r = loadFile(dir.path() + "/conf/sluice.yaml", stubSchemas());
  ASSERT_EQ(errorStrings(r), Strings{});
  const Config& c = r.config;
  EXPECT_EQ(c.providers[0].plugin_config_json,
            R"({"auth":{"bearer":"sk-from-file"},"organization":"org-sk-from-file",)"
            R"("base_url":"https://api.openai.com/v1"})");
  EXPECT_EQ(c.plugins[0].path, dir.path() + "/plugins/g.so");
  EXPECT_EQ(c.server.tls->cert, dir.path() + "/conf/certs/server.pem");
  EXPECT_EQ(c.server.tls->key, "/etc/abs.key");
  EXPECT_EQ(c.server.tls->mark.line, 4);
  EXPECT_EQ(c.server.upstream.ca_file, dir.path() + "/conf/ca.pem");
  EXPECT_EQ(c.policies[0].script, dir.path() + "/conf/policy.lua");
  EXPECT_EQ(c.source_file, dir.path() + "/conf/sluice.yaml");
}

TEST(Interpolation, UnreadableFileIsNamed) {
  TempDir dir;
  std::string path = dir.write("m.yaml", provider("admin: {token: \"${file:missing.key}\"}\n"));
  LoadResult r = loadFile(path, stubSchemas());
  EXPECT_EQ(errorStrings(r), Strings{path + ":6:16: admin.token: cannot read file '" + dir.path() +
                                     "/missing.key' (No such file or directory)"});
}

TEST(Interpolation, UnreadableManifest) {
  LoadResult r = loadFile("/nonexistent/sluice.yaml", stubSchemas());
  EXPECT_EQ(
      errorStrings(r),
      Strings{"/nonexistent/sluice.yaml: cannot read the manifest (No such file or directory)"});
}

}  // namespace
}  // namespace sluice::manifest
