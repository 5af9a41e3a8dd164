// The `logging` section: defaults, values and errors with file:line:col.
#include <gtest/gtest.h>

#include "stub_schemas.h"

namespace sluice::manifest::testing {
namespace {

const std::string kHead = "version: 1\nproviders: [{name: mock, type: mock, models: [m]}]\n";
using Strings = std::vector<std::string>;

TEST(Logging, DefaultsKeepBodiesOff) {
  LoadResult r = load(kHead);
  ASSERT_TRUE(r.errors.empty());
  EXPECT_FALSE(r.config.logging.log_bodies);
  EXPECT_FALSE(r.config.logging.caller_may_enable_bodies);
  EXPECT_EQ(r.config.logging.max_body_bytes, 65536u);
  EXPECT_EQ(r.config.logging.queue_records, 8192u);
  EXPECT_EQ(r.config.logging.batch_records, 256u);
  EXPECT_EQ(r.config.logging.flush_interval_ms, 200u);
}

TEST(Logging, ReadsEveryKey) {
  LoadResult r = load(kHead +
                      "logging: {log_bodies: true, max_body_bytes: 1024, caller_may_enable_bodies: "
                      "true, queue_records: 100, batch_records: 10, flush_interval_ms: 50}\n");
  ASSERT_TRUE(r.errors.empty()) << errorStrings(r)[0];
  EXPECT_TRUE(r.config.logging.log_bodies);
  EXPECT_TRUE(r.config.logging.caller_may_enable_bodies);
  EXPECT_EQ(r.config.logging.max_body_bytes, 1024u);
  EXPECT_EQ(r.config.logging.queue_records, 100u);
  EXPECT_EQ(r.config.logging.batch_records, 10u);
  EXPECT_EQ(r.config.logging.flush_interval_ms, 50u);
}

TEST(Logging, ErrorsPointAtTheValue) {
  Strings e = errorStrings(load(kHead + "logging:\n"
                                        "  log_bodies: maybe\n"
                                        "  queue_records: 3\n"
                                        "  log_body: true\n"));
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].rfind("test.yaml:4:15: logging.log_bodies: ", 0), 0u) << e[0];
  EXPECT_EQ(e[1].rfind("test.yaml:5:18: logging.queue_records: ", 0), 0u) << e[1];
  EXPECT_EQ(e[2].rfind("test.yaml:6:3: logging: unknown key 'log_body'", 0), 0u) << e[2];
}

}  // namespace
}  // namespace sluice::manifest::testing
