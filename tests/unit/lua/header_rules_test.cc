// Which headers a policy may set, and how its upstream headers meet the
// provider's.
#include "lua/header_rules.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace sluice::lua {
namespace {

std::string why(HeaderTarget target, std::string_view name, std::string_view value) {
  char buf[200] = {0};
  return headerAllowed(target, name, value, buf, sizeof buf) ? "" : buf;
}

TEST(HeaderRules, OrdinaryHeadersAreAllowedBothWays) {
  EXPECT_EQ(why(HeaderTarget::Upstream, "X-Cost-Center", "CC-1001"), "");
  EXPECT_EQ(why(HeaderTarget::Upstream, "OpenAI-Project", "proj_1"), "");
  EXPECT_EQ(why(HeaderTarget::Response, "x-ticket-id", "CHG 1\twith tab"), "");
}

TEST(HeaderRules, CredentialsAndFramingAreNeverAPolicys) {
  for (const char* name : {"Authorization", "proxy-authorization", "X-Api-Key", "api-key",
                           "x-goog-api-key", "Host", "content-length", "Transfer-Encoding",
                           "connection", "upgrade", "te", "trailer", "expect", "keep-alive"}) {
    for (HeaderTarget t : {HeaderTarget::Upstream, HeaderTarget::Response}) {
      EXPECT_EQ(why(t, name, "x"),
                "'" + std::string(name) + "' is set by the gateway; a policy cannot set it");
    }
  }
}

TEST(HeaderRules, TheGatewaysOwnResponseHeadersAreReserved) {
  for (const char* name :
       {"content-type", "x-sluice-request-id", "X-Sluice-Anything", "x-ratelimit-remaining-tokens",
        "Retry-After", "server-timing", "cache-control"}) {
    EXPECT_NE(why(HeaderTarget::Response, name, "x"), "") << name;
  }
  // Upstream the body's type is the provider's; the gateway's own names mean nothing there.
  EXPECT_EQ(why(HeaderTarget::Upstream, "Content-Type", "text/plain"),
            "'Content-Type' is set by the gateway; a policy cannot set it");
  EXPECT_EQ(why(HeaderTarget::Upstream, "x-sluice-origin", "a"), "");
}

TEST(HeaderRules, MalformedNamesAndValuesAreRefused) {
  EXPECT_EQ(why(HeaderTarget::Upstream, "", "x"), "a header name must be 1 to 128 characters long");
  EXPECT_EQ(why(HeaderTarget::Upstream, std::string(129, 'a'), "x"),
            "a header name must be 1 to 128 characters long");
  EXPECT_EQ(why(HeaderTarget::Upstream, "x:y", "v"), "'x:y' is not a valid header name");
  EXPECT_EQ(why(HeaderTarget::Upstream, "x-a", "one\r\nx-b: two"),
            "the value of 'x-a' holds a control character (CR, LF, NUL, ...)");
  EXPECT_EQ(why(HeaderTarget::Response, "x-a", std::string("a\0b", 3)),
            "the value of 'x-a' holds a control character (CR, LF, NUL, ...)");
  EXPECT_EQ(why(HeaderTarget::Upstream, "x-a", std::string(4097, 'v')),
            "the value of 'x-a' is longer than 4096 bytes");
}

TEST(HeaderRules, PolicyHeadersReplaceTheProvidersOfTheSameName) {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Authorization", "Bearer sk-provider"},
      {"OpenAI-Project", "proj_default"},
      {"Content-Type", "application/json"}};
  applyUpstreamHeaders({{"openai-project", "proj_payments"}, {"x-cost-center", "CC-1"}}, &headers);
  EXPECT_EQ(headers, (std::vector<std::pair<std::string, std::string>>{
                         {"Authorization", "Bearer sk-provider"},
                         {"Content-Type", "application/json"},
                         {"openai-project", "proj_payments"},
                         {"x-cost-center", "CC-1"}}));
}

}  // namespace
}  // namespace sluice::lua
