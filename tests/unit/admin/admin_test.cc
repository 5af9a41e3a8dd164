#include "admin/admin.h"

#include <gtest/gtest.h>

namespace sluice::admin {
namespace {

TEST(Admin, LoopbackAddresses) {
  EXPECT_TRUE(isLoopback("127.0.0.1"));
  EXPECT_TRUE(isLoopback("127.8.9.10"));
  EXPECT_TRUE(isLoopback("::1"));
  EXPECT_TRUE(isLoopback("localhost"));
  EXPECT_FALSE(isLoopback("0.0.0.0"));
  EXPECT_FALSE(isLoopback("10.0.0.1"));
  EXPECT_FALSE(isLoopback("::"));
}

TEST(Admin, RefusesPublicListenerWithoutToken) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  manifest::AdminConfig cfg;
  cfg.listen = manifest::ListenAddr{"0.0.0.0", 0};
  AdminState state;
  AdminServer server(&loop, cfg, &state);
  std::string err;
  EXPECT_FALSE(server.start(&err));
  EXPECT_EQ(err,
            "admin.listen 0.0.0.0:0 is not a loopback address: set admin.token to expose the "
            "admin API");
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(Admin, ListensOnLoopbackWithoutToken) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  manifest::AdminConfig cfg;
  cfg.listen = manifest::ListenAddr{"127.0.0.1", 0};
  AdminState state;
  {
    AdminServer server(&loop, cfg, &state);
    std::string err;
    ASSERT_TRUE(server.start(&err)) << err;
    EXPECT_NE(server.boundPort(), 0);
    bool drained = false;
    server.drain([&] { drained = true; });
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_TRUE(drained);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace sluice::admin
