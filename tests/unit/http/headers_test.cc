#include "http/headers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

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

TEST(Headers, NumbersAreWrittenInDecimal) {
  Headers h;
  h.addNumber("x-ratelimit-remaining-tokens", 999999999487);
  h.addNumber("X-Neg", -12);
  h.addNumber("X-Zero", 0);
  h.addNumber("X-Min", INT64_MIN);
  EXPECT_EQ(h.text(),
            "x-ratelimit-remaining-tokens: 999999999487\r\nX-Neg: -12\r\nX-Zero: 0\r\n"
            "X-Min: -9223372036854775808\r\n");
}

TEST(Headers, WrittenValuesGoInPlace) {
  Headers h{{"A", "1"}};
  h.addWritten("x-ratelimit-reset-tokens", 8, [](char* at) {
    memcpy(at, "1m30s", 5);
    return at + 5;
  });
  h.addWritten("X-Empty", 4, [](char* at) { return at; });
  EXPECT_EQ(h.text(), "A: 1\r\nx-ratelimit-reset-tokens: 1m30s\r\nX-Empty: \r\n");
}

TEST(Headers, AWrittenValueLongerThanALineOnTheStackIsWhole) {
  Headers h;
  std::string value(300, 'v');
  h.addWritten("X-Long", value.size(), [&value](char* at) { return std::copy(value.begin(), value.end(), at); });
  EXPECT_EQ(h.text(), "X-Long: " + value + "\r\n");
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
