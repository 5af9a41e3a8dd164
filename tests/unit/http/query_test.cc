// Query-string decoding for the admin API's parameters.
#include "http/query.h"

#include <gtest/gtest.h>

namespace sluice::http {
namespace {

TEST(Query, DecodesPairsInOrder) {
  QueryParams p = parseQuery("/admin/requests?team=red&metadata.env=prod%20eu&limit=5");
  EXPECT_EQ(p, (QueryParams{{"team", "red"}, {"metadata.env", "prod eu"}, {"limit", "5"}}));
}

TEST(Query, PlusIsASpaceAndBadEscapesStay) {
  EXPECT_EQ(parseQuery("/x?q=a+b&r=%zz&s=100%"),
            (QueryParams{{"q", "a b"}, {"r", "%zz"}, {"s", "100%"}}));
}

TEST(Query, EmptyPartsAndKeysWithoutValues) {
  EXPECT_EQ(parseQuery("/x"), QueryParams{});
  EXPECT_EQ(parseQuery("/x?"), QueryParams{});
  EXPECT_EQ(parseQuery("/x?&a&&b=&#frag"), (QueryParams{{"a", ""}, {"b", ""}}));
}

TEST(Query, PercentDecodeUtf8) { EXPECT_EQ(percentDecode("caf%C3%A9"), "café"); }

}  // namespace
}  // namespace sluice::http
