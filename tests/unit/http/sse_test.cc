#include "http/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::http {
namespace {

struct Event {
  std::string name, data;
  bool operator==(const Event& o) const { return name == o.name && data == o.data; }
};

std::vector<Event> parseAll(const std::string& in, size_t step) {
  SseParser p;
  std::vector<Event> out;
  for (size_t i = 0; i < in.size(); i += step) {
    p.feed(in.data() + i, std::min(step, in.size() - i), [&](std::string_view n, std::string_view d) {
      out.push_back({std::string(n), std::string(d)});
      return true;
    });
  }
  return out;
}

TEST(SseParser, SplitsEventsAtEverySplitPoint) {
  std::string in =
      "data: {\"a\":1}\n\n: comment\n\nevent: message_start\ndata: {\"b\":2}\n\ndata: line1\ndata: "
      "line2\n\ndata: [DONE]\n\n";
  std::vector<Event> want = {{"", "{\"a\":1}"},
                             {"message_start", "{\"b\":2}"},
                             {"", "line1\nline2"},
                             {"", "[DONE]"}};
  for (size_t step = 1; step <= in.size(); step++) {
    EXPECT_EQ(parseAll(in, step), want) << "step " << step;
  }
}

TEST(SseParser, AcceptsCrLfAndCrLineEnds) {
  std::vector<Event> want = {{"", "x"}, {"", "y"}};
  EXPECT_EQ(parseAll("data: x\r\n\r\ndata: y\r\n\r\n", 1), want);
  EXPECT_EQ(parseAll("data: x\r\rdata: y\r\r", 3), want);
}

TEST(SseParser, KeepsIncompleteEventUntilBlankLine) {
  SseParser p;
  int events = 0;
  auto count = [&](std::string_view, std::string_view) {
    events++;
    return true;
  };
  p.feed("data: partial", 13, count);
  EXPECT_EQ(events, 0);
  EXPECT_GT(p.buffered(), 0u);
  p.feed("\n\n", 2, count);
  EXPECT_EQ(events, 1);
}

TEST(SseParser, StopsWhenCallbackSaysSo) {
  SseParser p;
  int events = 0;
  std::string in = "data: 1\n\ndata: 2\n\n";
  bool go = p.feed(in.data(), in.size(), [&](std::string_view, std::string_view) {
    events++;
    return false;
  });
  EXPECT_FALSE(go);
  EXPECT_EQ(events, 1);
}

}  // namespace
}  // namespace sluice::http
