// checkPluginConfig(): a JSON block against a plugin's sluice_config_key table.
#include <gtest/gtest.h>

#include "stub_schemas.h"

namespace sluice::manifest {
namespace {

using testing::errorStrings;
using testing::load;
using Strings = std::vector<std::string>;

constexpr sluice_config_key kEnd = {nullptr, SLUICE_CFG_STRING, 0,       nullptr, 0,
                                    0,       nullptr,           nullptr, nullptr};
const char* const kModes[] = {"fast", "safe", nullptr};

const sluice_config_key kTls[] = {
    {"verify", SLUICE_CFG_BOOL, 0, "true", 0, 0, nullptr, nullptr, ""},
    {"ca", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr, ""},
    kEnd};

const sluice_config_key kSchema[] = {
    {"url", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr, ""},
    {"token", SLUICE_CFG_STRING, SLUICE_CFG_SECRET, nullptr, 0, 0, kModes, nullptr, ""},
    {"retries", SLUICE_CFG_INT, 0, "3", 0, 10, nullptr, nullptr, ""},
    {"ratio", SLUICE_CFG_NUMBER, 0, "0.5", 0, 1, nullptr, nullptr, ""},
    {"unbounded", SLUICE_CFG_INT, 0, nullptr, 0, 0, nullptr, nullptr, ""},
    {"enabled", SLUICE_CFG_BOOL, 0, "false", 0, 0, nullptr, nullptr, ""},
    {"mode", SLUICE_CFG_STRING, 0, "\"fast\"", 0, 0, kModes, nullptr, ""},
    {"tls", SLUICE_CFG_OBJECT, 0, nullptr, 0, 0, nullptr, kTls, ""},
    {"headers", SLUICE_CFG_OBJECT, 0, nullptr, 0, 0, nullptr, nullptr, "free-form"},
    {"labels", SLUICE_CFG_STRING_LIST, 0, nullptr, 0, 0, nullptr, nullptr, ""},
    {"extra", SLUICE_CFG_ANY, 0, nullptr, 0, 0, nullptr, nullptr, ""},
    kEnd};

const Mark kBase{"m.yaml", 7, 3};

struct Checked {
  std::string json;
  Strings errors;
};

Checked check(const std::string& json, const sluice_config_key* keys = kSchema) {
  std::vector<Error> errors;
  Checked c;
  c.json = checkPluginConfig(json, keys, kBase, "sinks[0].config", &errors);
  c.errors = errorStrings(errors);
  return c;
}

TEST(PluginConfig, FillsDefaults) {
  Checked c = check(R"({"url":"http://x"})");
  EXPECT_EQ(c.errors, Strings{});
  EXPECT_EQ(c.json, R"({"url":"http://x","retries":3,"ratio":0.5,"enabled":false,"mode":"fast"})");
}

TEST(PluginConfig, KeepsGivenValues) {
  Checked c =
      check(R"({"url":"u","retries":0,"mode":"safe","tls":{"ca":"/ca.pem"},"headers":{"x":"y"},)"
            R"("labels":["a","b"],"extra":[1,{"k":null}],"unbounded":-99999})");
  EXPECT_EQ(c.errors, Strings{});
  EXPECT_EQ(c.json,
            R"({"url":"u","retries":0,"mode":"safe","tls":{"ca":"/ca.pem","verify":true},)"
            R"("headers":{"x":"y"},"labels":["a","b"],"extra":[1,{"k":null}],"unbounded":-99999,)"
            R"("ratio":0.5,"enabled":false})");
}

TEST(PluginConfig, RequiredKeys) {
  EXPECT_EQ(check("{}").errors, Strings{"m.yaml:7:3: sinks[0].config: missing required key 'url'"});
  EXPECT_EQ(check(R"({"url":"u","tls":{}})").errors,
            Strings{"m.yaml:7:3: sinks[0].config.tls: missing required key 'ca'"});
}

TEST(PluginConfig, TypesAndBounds) {
  EXPECT_EQ(check(R"({"url":5,"retries":11,"ratio":-0.1,"enabled":"yes","labels":["a",2],)"
                  R"("tls":[],"unbounded":1.5})")
                .errors,
            (Strings{
                "m.yaml:7:3: sinks[0].config.url: expected a string, got a number",
                "m.yaml:7:3: sinks[0].config.retries: must be between 0 and 10 (got 11)",
                "m.yaml:7:3: sinks[0].config.ratio: must be between 0 and 1 (got -0.1)",
                "m.yaml:7:3: sinks[0].config.unbounded: expected an integer, got 1.5",
                "m.yaml:7:3: sinks[0].config.enabled: expected true or false, got a string",
                "m.yaml:7:3: sinks[0].config.tls: expected a mapping, got a list",
                "m.yaml:7:3: sinks[0].config.labels[1]: expected a string, got a number",
            }));
}

TEST(PluginConfig, EnumsAndSecrets) {
  EXPECT_EQ(check(R"({"url":"u","mode":"slow"})").errors,
            Strings{"m.yaml:7:3: sinks[0].config.mode: mode must be one of fast, safe (got "
                    "'slow')"});
  // A SECRET value is never quoted back.
  EXPECT_EQ(check(R"({"url":"u","token":"sk-do-not-print"})").errors,
            Strings{"m.yaml:7:3: sinks[0].config.token: token must be one of fast, safe"});
}

TEST(PluginConfig, UnknownKeysAtEveryLevel) {
  EXPECT_EQ(check(R"({"url":"u","retrys":1,"tls":{"ca":"c","verfy":false}})").errors,
            (Strings{
                "m.yaml:7:3: sinks[0].config: unknown key 'retrys' (did you mean 'retries'?)",
                "m.yaml:7:3: sinks[0].config.tls: unknown key 'verfy' (did you mean 'verify'?)",
            }));
  // A plugin without keys takes none.
  EXPECT_EQ(check(R"({"a":1})", nullptr).errors,
            Strings{"m.yaml:7:3: sinks[0].config: unknown key 'a'"});
  EXPECT_EQ(check("{}", nullptr).json, "{}");
}

TEST(PluginConfig, NotAnObject) {
  EXPECT_EQ(check("[1]").errors,
            Strings{"m.yaml:7:3: sinks[0].config: expected a mapping, got a list"});
  EXPECT_EQ(check("{").errors, Strings{"m.yaml:7:3: sinks[0].config: invalid JSON"});
  // An empty block is an empty object.
  EXPECT_EQ(check("").errors, Strings{"m.yaml:7:3: sinks[0].config: missing required key 'url'"});
}

TEST(PluginConfig, BadDefaultIsReported) {
  const sluice_config_key keys[] = {
      {"x", SLUICE_CFG_INT, 0, "not json", 0, 0, nullptr, nullptr, ""}, kEnd};
  EXPECT_EQ(check("{}", keys).errors,
            Strings{"m.yaml:7:3: sinks[0].config: the plugin declares an invalid default for 'x'"});
}

// Through the manifest, errors point at the offending YAML.
TEST(PluginConfigInManifest, MarksPointAtTheYaml) {
  EXPECT_EQ(errorStrings(load("version: 1\n"
                              "providers:\n"
                              "  - name: b\n"
                              "    type: bedrock\n"
                              "    region: [us-east-1]\n"
                              "    auth:\n"
                              "      aws_access_key_id: AKID\n"
                              "    models: [m]\n"
                              "  - {name: m, type: mock, latency_ms: 60001, models: [x]}\n")),
            (Strings{
                "test.yaml:5:13: providers[0].region: expected a string, got a list",
                "test.yaml:7:7: providers[0].auth: missing required key 'aws_secret_access_key'",
                "test.yaml:9:39: providers[1].latency_ms: must be between 0 and 60000 (got 60001)",
            }));
}

TEST(PluginConfigInManifest, EmptyValuesForSectionsMeanAbsent) {
  LoadResult r = load(
      "version: 1\n"
      "providers:\n"
      "  - {name: p, type: openai, models: [m], auth: }\n"
      "guardrails: [{name: pii, config: {entities: }}]\n");
  ASSERT_EQ(errorStrings(r), Strings{});
  EXPECT_EQ(r.config.providers[0].plugin_config_json,
            R"({"base_url":"https://api.openai.com/v1"})");
  EXPECT_EQ(r.config.guardrails[0].plugin_config_json,
            R"({"action":"redact","entities":["EMAIL","PHONE"]})");
}

TEST(PluginConfigInManifest, PlainScalarsAreTypedByTheYamlCoreSchema) {
  LoadResult r = load(
      "version: 1\n"
      "providers: [{name: p, type: mock, models: [m]}]\n"
      "guardrails:\n"
      "  - {name: a, plugin: prompt-injection, config: {threshold: .5}}\n"
      "  - {name: b, plugin: prompt-injection, config: {threshold: 1e-1}}\n"
      "  - {name: c, plugin: prompt-injection, config: {threshold: '0.5'}}\n"
      "  - {name: d, plugin: pii, config: {entities: [1.5, true, x], action: block}}\n");
  EXPECT_EQ(errorStrings(r), Strings{"test.yaml:6:61: guardrails[2].config.threshold: expected a "
                                     "number, got a string"});
  ASSERT_EQ(r.config.guardrails.size(), 4u);
  EXPECT_EQ(r.config.guardrails[0].plugin_config_json, R"({"threshold":0.5})");
  EXPECT_EQ(r.config.guardrails[1].plugin_config_json, R"({"threshold":0.1})");
  EXPECT_EQ(r.config.guardrails[3].plugin_config_json,
            R"({"entities":["1.5","true","x"],"action":"block"})");
}

TEST(PluginConfigInManifest, NoLookupPassesBlocksThrough) {
  LoadResult r =
      loadString("version: 1\nproviders: [{name: p, type: anything, x: 1, models: [m]}]\n",
                 "t.yaml", SchemaLookup());
  ASSERT_EQ(errorStrings(r), Strings{});
  EXPECT_EQ(r.config.providers[0].plugin_config_json, R"({"x":1})");
}

}  // namespace
}  // namespace sluice::manifest
