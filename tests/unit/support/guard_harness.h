// GoogleTest side of guard_driver.h: a driver whose answers are checked, and
// the every-split stream check.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/plugin.h"
#include "support/fake_host.h"
#include "support/guard_driver.h"

namespace sluice::testing {

// A GuardDriver whose create() must succeed and whose answers must be well formed.
class GuardHarness {
 public:
  explicit GuardHarness(const std::string& config_json = "{}") {
    std::string err;
    EXPECT_EQ(driver_.create(host_.table(), config_json, &err), SLUICE_OK) << err;
  }

  FakeHost& host() { return host_; }
  void* instance() const { return driver_.instance(); }

  GuardAnswer check(std::string_view text, sluice_hook hook = SLUICE_HOOK_LLM_INPUT) {
    GuardAnswer a = driver_.check(text, hook);
    EXPECT_EQ(a.status, SLUICE_OK);
    EXPECT_LE(a.hold, a.content.size()) << "hold_bytes beyond the checked text";
    return a;
  }
  void endRequest() { driver_.endRequest(); }

  StreamOutcome stream(const std::vector<std::string>& chunks, size_t extra_hold = 0) {
    return expectWellFormed(driver_.stream(chunks, extra_hold));
  }
  StreamOutcome streamSplit(std::string_view text, size_t at, size_t extra_hold = 0) {
    return expectWellFormed(driver_.streamSplit(text, at, extra_hold));
  }
  std::pair<StreamOutcome, StreamOutcome> streamTwo(const std::vector<std::string>& a,
                                                    const std::vector<std::string>& b) {
    auto both = driver_.streamTwo(a, b);
    expectWellFormed(both.first);
    expectWellFormed(both.second);
    return both;
  }
  StreamOutcome streamBytes(std::string_view text) {
    return expectWellFormed(driver_.streamBytes(text));
  }

 private:
  static StreamOutcome expectWellFormed(StreamOutcome s) {
    EXPECT_FALSE(s.failed) << s.reason;
    EXPECT_FALSE(s.bad_hold) << "hold_bytes beyond the checked text";
    return s;
  }

  FakeHost host_;  // outlives the driver: destroy() may still use the host
  GuardDriver driver_;
};

// create()'s error message for `config`, or "<created>" when create() succeeds.
inline std::string createError(const std::string& config) {
  FakeHost host;
  GuardDriver driver;
  std::string err;
  int rc = driver.create(host.table(), config, &err);
  if (rc == SLUICE_OK) return "<created>";
  EXPECT_EQ(rc, SLUICE_ERR_CONFIG) << err;
  return err;
}

// Every way of cutting `text` in two (with the host holding back what the guardrail asks, and
// again with 7 bytes more, as when another guardrail asks for more), and one byte at a time,
// must release exactly `expected`, and never a byte that is not the next byte of `expected` (so
// no part of a value redacted in `expected` ever reaches the client).
inline void expectStreamsRelease(GuardHarness& guard, std::string_view text,
                                 std::string_view expected) {
  auto verify = [&](const StreamOutcome& s, const std::string& how) {
    ASSERT_FALSE(s.blocked) << how << ": " << s.reason;
    std::string so_far;
    for (const std::string& r : s.releases) {
      so_far += r;
      ASSERT_EQ(std::string_view(so_far), expected.substr(0, so_far.size()))
          << how << ": released a byte out of turn";
    }
    ASSERT_EQ(s.released, expected) << how;
  };
  for (size_t at = 0; at <= text.size(); at++) {
    for (size_t extra : {0, 7}) {
      verify(guard.streamSplit(text, at, extra), "split at " + std::to_string(at) + " (+" +
                                                     std::to_string(extra) + " held) of \"" +
                                                     std::string(text) + "\"");
    }
  }
  verify(guard.streamBytes(text), "one byte per chunk of \"" + std::string(text) + "\"");
}

}  // namespace sluice::testing
