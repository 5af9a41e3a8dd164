#include "http/headers.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

TEST(Headers, FormatsLinesInOrder) {
  Headers h{{"Content-Type", "application/json"}, {"x-sluice-request-id", "req_1"}};
  h.add("Server-Timing", "total;dur=1.250");
  EXPECT_EQ(h.text(),
            "Content-Type: application/json\r\nx-sluice-request-id: req_1\r\n"
            "Server-Timing: total;dur=1.250\r\n");
  EXPECT_EQ(h.count(), 3u);
  EXPECT_FALSE(h.empty());
  EXPECT_TRUE(Headers().empty());
  EXPECT_EQ(Headers().count(), 0u);
}

TEST(Headers, CrAndLfNeverSplitAHeader) {
  Headers h;
  h.add("X-Evil\r\n", "a\r\nSet-Cookie: stolen=1\n");
  EXPECT_EQ(h.text(), "X-Evil: aSet-Cookie: stolen=1\r\n");
  EXPECT_EQ(h.count(), 1u);
}

TEST(Headers, FindIsCaseInsensitiveAndTakesTheFirst) {
  Headers h{{"Retry-After", "3"}, {"retry-after", "9"}, {"Retry", "x"}};
  EXPECT_EQ(h.find("retry-after"), "3");
  EXPECT_EQ(h.find("RETRY"), "x");
  EXPECT_FALSE(h.find("Retry-Aft").has_value());
  EXPECT_FALSE(h.find("x-missing").has_value());
}

TEST(Headers, AppendKeepsBothInOrder) {
  Headers a{{"A", "1"}};
  Headers b{{"B", "2"}, {"C", "3"}};
  a.append(b);
  EXPECT_EQ(a.text(), "A: 1\r\nB: 2\r\nC: 3\r\n");
}

}  // namespace
}  // namespace sluice::http
