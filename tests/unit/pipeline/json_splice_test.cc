#include "pipeline/json_splice.h"

#include <gtest/gtest.h>

namespace sluice::pipeline {
namespace {

TEST(JsonSplice, FindsTopLevelMemberOnly) {
  std::string j = R"({"messages":[{"model":"inner"}],"model" : "up/gpt-4o","n":1})";
  Span s = findTopLevelMember(j, "model");
  ASSERT_TRUE(s.found);
  EXPECT_EQ(j.substr(s.begin, s.end - s.begin), "\"up/gpt-4o\"");
  Span n = findTopLevelMember(j, "n");
  ASSERT_TRUE(n.found);
  EXPECT_EQ(j.substr(n.begin, n.end - n.begin), "1");
  EXPECT_FALSE(findTopLevelMember(j, "stream").found);
}

TEST(JsonSplice, SkipsStringsWithEscapesAndBraces) {
  std::string j = R"({"a":"x\"}{,\\","b":{"c":[1,{"d":"}"}]},"model":"m"})";
  Span s = findTopLevelMember(j, "model");
  ASSERT_TRUE(s.found);
  EXPECT_EQ(j.substr(s.begin, s.end - s.begin), "\"m\"");
}

TEST(JsonSplice, ReplacesKeepingEveryOtherByte) {
  std::string j = "{ \"model\": \"up/gpt-4o\", \"tools\": [ {\"x\": 1.50} ], \"zz\": null }";
  std::string out = replaceSpan(j, findTopLevelMember(j, "model"), "\"gpt-4o\"");
  EXPECT_EQ(out, "{ \"model\": \"gpt-4o\", \"tools\": [ {\"x\": 1.50} ], \"zz\": null }");
}

TEST(JsonSplice, InsertsFirstMember) {
  EXPECT_EQ(insertMember(R"({"a":1})", "s", "{\"x\":true}"), R"({"s":{"x":true},"a":1})");
  EXPECT_EQ(insertMember("{ }", "s", "1"), "{\"s\":1 }");
}

}  // namespace
}  // namespace sluice::pipeline
