// The built-in default: loopback, open, the mock provider.
#include <gtest/gtest.h>

#include "stub_schemas.h"

namespace sluice::manifest {
namespace {

using testing::errorStrings;
using testing::stubSchemas;

TEST(BuiltinDefault, Shape) {
  Config c = builtinDefault();
  EXPECT_EQ(c.source_file, "");
  ASSERT_EQ(c.server.listen.size(), 1u);
  EXPECT_EQ(c.server.listen[0].host, "127.0.0.1");
  EXPECT_EQ(c.server.listen[0].port, 8080);
  EXPECT_EQ(c.server.workers, 1);
  ASSERT_TRUE(c.admin.listen.has_value());
  EXPECT_EQ(c.admin.listen->host, "127.0.0.1");
  EXPECT_EQ(c.admin.listen->port, 9090);
  EXPECT_EQ(c.admin.token, "");
  EXPECT_FALSE(c.auth.has_value());
  ASSERT_EQ(c.providers.size(), 1u);
  EXPECT_EQ(c.providers[0].name, "mock");
  EXPECT_EQ(c.providers[0].type, "mock");
  ASSERT_EQ(c.providers[0].models.size(), 2u);
  EXPECT_EQ(c.providers[0].models[0].name, "gpt-4o-mini");
  EXPECT_EQ(c.providers[0].models[1].name, "text-embedding-3-small");
  EXPECT_EQ(c.providers[0].plugin_config_json, "{}");
}

TEST(BuiltinDefault, YamlLoadsAgainstThePluginSchemas) {
  LoadResult r = loadString(builtinDefaultYaml(), "<built-in>", stubSchemas());
  ASSERT_EQ(errorStrings(r), std::vector<std::string>{});
  // The mock's own defaults are filled once its schema is known.
  EXPECT_EQ(r.config.providers[0].plugin_config_json, R"({"latency_ms":0})");
}

}  // namespace
}  // namespace sluice::manifest
