#include <gtest/gtest.h>

#include "cli/commands.h"

namespace sluice::cli {
namespace {

TEST(Cli, Sha256HexMatchesKnownVector) {
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Cli, TokenCreateNeedsExactlyOneSubject) {
  EXPECT_EQ(cmdToken({}), 2);
  EXPECT_EQ(cmdToken({"create"}), 2);
  EXPECT_EQ(cmdToken({"create", "--account", "a", "--user", "b@x"}), 2);
  EXPECT_EQ(cmdToken({"delete", "--account", "a"}), 2);
}

TEST(Cli, TokenCreatePrintsTokenAndItsHash) {
  testing::internal::CaptureStdout();
  ASSERT_EQ(cmdToken({"create", "--account", "checkout-prod"}), 0);
  std::string out = testing::internal::GetCapturedStdout();
  size_t at = out.find("sk-sluice-");
  ASSERT_NE(at, std::string::npos) << out;
  std::string token = out.substr(at, out.find('\n', at) - at);
  EXPECT_EQ(token.size(), std::string("sk-sluice-").size() + 32);
  EXPECT_NE(out.find("auth.virtual_accounts checkout-prod"), std::string::npos);
  EXPECT_NE(out.find("token_sha256: " + sha256Hex(token)), std::string::npos) << out;
}

TEST(Cli, ValidateWithoutFileIsUsageError) { EXPECT_EQ(cmdValidate({}), 2); }

}  // namespace
}  // namespace sluice::cli
