#include "plugins/semver.h"

#include <gtest/gtest.h>

#include <string>

#include "plugins/registry.h"

namespace sluice::plugins {
namespace {

struct Case {
  const char* version;
  const char* constraint;
  bool satisfied;
};

class SatisfiesTest : public testing::TestWithParam<Case> {};

TEST_P(SatisfiesTest, Matches) {
  const Case& c = GetParam();
  std::string why = "untouched";
  EXPECT_EQ(versionSatisfies(c.version, c.constraint, &why), c.satisfied)
      << c.version << " against '" << c.constraint << "': " << why;
  if (c.satisfied) {
    EXPECT_EQ(why, "untouched");
  } else {
    EXPECT_EQ(why, std::string("version ") + c.version + " does not satisfy " + c.constraint);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, SatisfiesTest,
    testing::Values(
        // Any.
        Case{"1.2.3", "", true}, Case{"0.0.0", "*", true}, Case{"9.9.9", "x", true},
        // Exact, and "1.2" as a version meaning 1.2.0.
        Case{"1.2.3", "1.2.3", true}, Case{"1.2.4", "1.2.3", false}, Case{"1.2", "1.2.0", true},
        Case{"1.2.3", "=1.2.3", true},
        // Partial versions name a range.
        Case{"1.2.9", "1.2", true}, Case{"1.3.0", "1.2", false}, Case{"1.9.0", "1", true},
        Case{"2.0.0", "1", false}, Case{"1.2.5", "1.2.x", true}, Case{"1.5.0", "1.*", true},
        // Caret.
        Case{"1.2.0", "^1.2", true}, Case{"1.9.9", "^1.2", true}, Case{"2.0.0", "^1.2", false},
        Case{"1.1.9", "^1.2", false}, Case{"1.4.0", "^2", false}, Case{"1.2.3", "^1.2.3", true},
        Case{"1.2.2", "^1.2.3", false}, Case{"0.3.0", "^0.3", true}, Case{"0.3.7", "^0.3", true},
        Case{"0.4.0", "^0.3", false}, Case{"0.2.9", "^0.3", false}, Case{"0.0.3", "^0.0.3", true},
        Case{"0.0.4", "^0.0.3", false}, Case{"0.0.9", "^0.0", true}, Case{"0.1.0", "^0.0", false},
        Case{"0.9.0", "^0", true}, Case{"1.0.0", "^0", false},
        // Tilde.
        Case{"1.2.0", "~1.2", true}, Case{"1.2.9", "~1.2", true}, Case{"1.3.0", "~1.2", false},
        Case{"1.2.4", "~1.2.3", true}, Case{"1.2.2", "~1.2.3", false},
        Case{"1.3.0", "~1.2.3", false}, Case{"1.9.0", "~1", true}, Case{"2.0.0", "~1", false},
        // Comparisons, partial ones included.
        Case{"1.0.0", ">=1.0", true}, Case{"0.9.9", ">=1.0", false}, Case{"1.9.9", "<2", true},
        Case{"2.0.0", "<2", false}, Case{"1.2.9", "<=1.2", true}, Case{"1.3.0", "<=1.2", false},
        Case{"1.2.3", "<=1.2.3", true}, Case{"1.2.4", "<=1.2.3", false},
        Case{"1.2.4", ">1.2.3", true}, Case{"1.2.3", ">1.2.3", false}, Case{"1.3.0", ">1.2", true},
        Case{"1.2.9", ">1.2", false},
        // Combinations: commas, spaces, operators standing apart, alternatives.
        Case{"1.5.0", ">=1.0, <2", true}, Case{"2.0.0", ">=1.0, <2", false},
        Case{"1.5.0", ">=1.0 <2", true}, Case{"0.5.0", ">= 1.0 , < 2", false},
        Case{"1.5.0", ">= 1.0 , < 2", true}, Case{"1.2.0", "  ^1.2  ", true},
        Case{"3.1.0", "^1.2 || ^3", true}, Case{"2.1.0", "^1.2 || ^3", false},
        Case{"2.1.0", "^1 || *", true}));

TEST(VersionSatisfies, BadVersion) {
  std::string why;
  EXPECT_FALSE(versionSatisfies("1.x", "", &why));
  EXPECT_EQ(why, "bad version '1.x' (expected MAJOR.MINOR.PATCH)");
  for (const char* bad : {"", "1", "1.2.3.4", "v1.2.3", "1..2", "1.2.", "1.2.3-rc1", " 1.2.3",
                          "1234567890.0.0", "a.b.c"}) {
    why.clear();
    EXPECT_FALSE(versionSatisfies(bad, "*", &why)) << bad;
    EXPECT_EQ(why, std::string("bad version '") + bad + "' (expected MAJOR.MINOR.PATCH)");
  }
}

TEST(VersionSatisfies, MalformedConstraint) {
  struct Bad {
    const char* constraint;
    const char* why;
  };
  const Bad cases[] = {
      {"^one",
       "bad version constraint '^one': '^one' is not a version range (try 1.2.3, ^1.2, ~1.2, "
       ">=1.0, <2 or *)"},
      {">=", "bad version constraint '>=': '>=' needs a version after it"},
      {"1.0 ||", "bad version constraint '1.0 ||': empty alternative around '||'"},
      {"<*", "bad version constraint '<*': '<*' can never match"},
      {"1.x.3",
       "bad version constraint '1.x.3': '1.x.3' is not a version range (try 1.2.3, "
       "^1.2, ~1.2, >=1.0, <2 or *)"},
      {"~>1.2",
       "bad version constraint '~>1.2': '~>1.2' is not a version range (try 1.2.3, "
       "^1.2, ~1.2, >=1.0, <2 or *)"},
      {">=1.0 | <2",
       "bad version constraint '>=1.0 | <2': '|' is not a version range (try "
       "1.2.3, ^1.2, ~1.2, >=1.0, <2 or *)"},
  };
  for (const Bad& b : cases) {
    std::string why;
    EXPECT_FALSE(versionSatisfies("1.0.0", b.constraint, &why)) << b.constraint;
    EXPECT_EQ(why, b.why);
    why.clear();
    EXPECT_FALSE(checkConstraint(b.constraint, &why));
    EXPECT_EQ(why, b.why);
  }
}

TEST(VersionSatisfies, ConstraintControlCharactersStayOnOneLine) {
  std::string why;
  EXPECT_FALSE(versionSatisfies("1.0.0", "^1\n2", &why));
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
}

TEST(VersionSatisfies, NullWhyIsAllowed) {
  EXPECT_TRUE(versionSatisfies("1.2.3", "^1", nullptr));
  EXPECT_FALSE(versionSatisfies("1.2.3", "^2", nullptr));
  EXPECT_FALSE(versionSatisfies("1.2.3", "^one", nullptr));
}

TEST(CheckConstraint, AcceptsGoodSyntax) {
  for (const char* good :
       {"", "*", "1.2.3", "^1.2", "~1.2", ">=1.0", "<2", ">=1.0, <2", "^1 || ^2", "1.x"}) {
    std::string why;
    EXPECT_TRUE(checkConstraint(good, &why)) << good << ": " << why;
  }
}

TEST(ParseVersion, Components) {
  Version v;
  ASSERT_TRUE(parseVersion("10.20.30", &v, nullptr));
  EXPECT_EQ(v, (Version{10, 20, 30}));
  EXPECT_EQ(v.str(), "10.20.30");
  ASSERT_TRUE(parseVersion("1.2", &v, nullptr));
  EXPECT_EQ(v, (Version{1, 2, 0}));
  EXPECT_LT((Version{1, 9, 9}), (Version{1, 10, 0}));
}

TEST(Printable, ReplacesControlBytesAndCuts) {
  EXPECT_EQ(printable("a\nb\x7f"
                      "c"),
            "a?b?c");
  EXPECT_EQ(printable("abcdef", 3), "abc...");
  EXPECT_EQ(printable("abc", 3), "abc");
}

}  // namespace
}  // namespace sluice::plugins
