// W3C traceparent parsing and id generation; the body-logging rules.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>

#include "telemetry/body_policy.h"
#include "telemetry/trace_context.h"

namespace sluice::telemetry {
namespace {

TEST(Traceparent, AcceptsTheW3cFormat) {
  std::string trace, span;
  ASSERT_TRUE(
      parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &trace, &span));
  EXPECT_EQ(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(span, "00f067aa0ba902b7");
  // A later version may append fields.
  EXPECT_TRUE(parseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra",
                               &trace, &span));
}

TEST(Traceparent, RefusesMalformedValues) {
  std::string trace, span;
  for (const char* bad :
       {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 has no more
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
    EXPECT_FALSE(parseTraceparent(bad, &trace, &span)) << bad;
  }
}

TEST(TraceIds, AreHexOfTheRightLengthAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; i++) {
    std::string t = "a reused string, longer than an id", s;
    newTraceId(&t);
    newSpanId(&s);
    ASSERT_EQ(t.size(), 32u);
    ASSERT_EQ(s.size(), 16u);
    ASSERT_EQ(t.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(traceparent("abc", "def"), "00-abc-def-01");
  EXPECT_EQ(traceparent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(traceparent("", ""), "00---01");
}

TEST(TraceIds, HexDigitsMatchADigitAtATime) {
  auto reference = [](uint64_t v) {
    std::string s(16, '0');
    for (int i = 15; i >= 0; i--, v >>= 4) s[i] = "0123456789abcdef"[v & 0xf];
    return s;
  };
  auto hex = [](uint64_t v) {
    char out[16];
    writeHex(out, v);
    return std::string(out, sizeof out);
  };
  EXPECT_EQ(hex(0), "0000000000000000");
  EXPECT_EQ(hex(~0ull), "ffffffffffffffff");
  EXPECT_EQ(hex(0x0123456789abcdefull), "0123456789abcdef");
  EXPECT_EQ(hex(0xfedcba9876543210ull), "fedcba9876543210");
  for (int shift = 0; shift < 64; shift += 4) {
    for (uint64_t d = 0; d < 16; d++) {
      uint64_t v = d << shift;
      ASSERT_EQ(hex(v), reference(v)) << std::hex << v;
      ASSERT_EQ(hex(~v), reference(~v)) << std::hex << ~v;
    }
  }
  std::mt19937_64 rng(20260101);
  for (int i = 0; i < 100000; i++) {
    uint64_t v = rng();
    ASSERT_EQ(hex(v), reference(v)) << std::hex << v;
  }
}

TEST(BodyPolicy, CallerCanTurnOffAndOnlyTurnOnWhereAllowed) {
  manifest::LoggingConfig off, on, opt_in;
  on.log_bodies = true;
  opt_in.caller_may_enable_bodies = true;
  EXPECT_FALSE(logBodies(off, std::nullopt));
  EXPECT_TRUE(logBodies(on, std::nullopt));
  EXPECT_FALSE(logBodies(on, false));
  EXPECT_FALSE(logBodies(off, true));
  EXPECT_TRUE(logBodies(opt_in, true));
  EXPECT_FALSE(logBodies(opt_in, std::nullopt));
}

TEST(BodyPolicy, HeaderErrorsNameTheProblem) {
  std::optional<bool> v;
  std::string err;
  EXPECT_TRUE(parseLoggingHeader("{\"log_bodies\": false}", &v, &err));
  EXPECT_EQ(v, false);
  EXPECT_TRUE(parseLoggingHeader("{}", &v, &err));
  EXPECT_FALSE(parseLoggingHeader("[1]", &v, &err));
  EXPECT_EQ(err, "must be a JSON object such as {\"log_bodies\": false}");
  EXPECT_FALSE(parseLoggingHeader("{\"log_bodies\": 1}", &v, &err));
  EXPECT_EQ(err, "'log_bodies' must be true or false");
  EXPECT_FALSE(parseLoggingHeader("{\"bodies\": true}", &v, &err));
  EXPECT_EQ(err, "unknown key 'bodies' (known: log_bodies)");
}

}  // namespace
}  // namespace sluice::telemetry
