#include "governance/identity.h"

#include <gtest/gtest.h>

namespace sluice::governance {
namespace {

// The manifest stores the hex SHA-256 of a token; computed here from a
// plain-text token so tests can present the token itself.
std::string hashOf(std::string_view token) { return toHex(sha256(token)); }

std::string repeat(std::string_view unit, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i++) out += unit;
  return out;
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(toHex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(toHex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Hex, RoundTripsAndAcceptsUpperCase) {
  Digest d = sha256("round trip");
  Digest back{};
  ASSERT_TRUE(fromHex(toHex(d), &back));
  EXPECT_EQ(back, d);

  std::string upper = toHex(d);
  for (char& c : upper) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  Digest from_upper{};
  ASSERT_TRUE(fromHex(upper, &from_upper));
  EXPECT_EQ(from_upper, d);
}

TEST(Hex, RefusesWrongLengthAndNonHex) {
  Digest d{};
  std::string good = toHex(sha256("x"));
  EXPECT_FALSE(fromHex("", &d));
  EXPECT_FALSE(fromHex(good.substr(0, 63), &d));
  EXPECT_FALSE(fromHex(good + "0", &d));
  std::string bad = good;
  bad[10] = 'g';
  EXPECT_FALSE(fromHex(bad, &d));
  bad = good;
  bad[63] = ' ';
  EXPECT_FALSE(fromHex(bad, &d));
}

TEST(MatchesPattern, StarPrefixAndExact) {
  EXPECT_TRUE(matchesPattern("*", "anything/at-all"));
  EXPECT_TRUE(matchesPattern("*", ""));
  EXPECT_TRUE(matchesPattern("prod/*", "prod/assistant"));
  EXPECT_TRUE(matchesPattern("prod/*", "prod/"));
  EXPECT_FALSE(matchesPattern("prod/*", "prod"));
  EXPECT_FALSE(matchesPattern("prod/*", "staging/prod/x"));
  EXPECT_TRUE(matchesPattern("openai/gpt-4o", "openai/gpt-4o"));
  EXPECT_FALSE(matchesPattern("openai/gpt-4o", "openai/gpt-4o-mini"));
  EXPECT_FALSE(matchesPattern("openai/gpt-4o-mini", "openai/gpt-4o"));
}

manifest::AuthConfig sampleAuth() {
  manifest::AuthConfig auth;
  auth.teams.push_back({"payments", {"bob@example.com", "Alice@Example.com"}});
  auth.teams.push_back({"search", {"alice@example.com", "carol@example.com"}});

  manifest::User alice;
  alice.email = "alice@example.com";
  alice.token_sha256 = hashOf("tok-alice");
  alice.models = {"*"};
  auth.users.push_back(alice);

  manifest::User carol;
  carol.email = "carol@example.com";
  carol.token_sha256 = hashOf("tok-carol");
  carol.team = "research";  // her own key wins over the team listing her
  carol.models = {"prod/*", "openai/gpt-4o"};
  auth.users.push_back(carol);

  manifest::User dave;
  dave.email = "dave@example.com";
  dave.token_sha256 = hashOf("tok-dave");  // no team, no models
  auth.users.push_back(dave);

  manifest::VirtualAccount checkout;
  checkout.name = "checkout-prod";
  checkout.token_sha256 = hashOf("tok-checkout");
  checkout.team = "payments";
  checkout.models = {"prod/*"};
  checkout.metadata = {{"environment", "production"}};
  auth.virtual_accounts.push_back(checkout);
  return auth;
}

TEST(Directory, FindsUsersAndAccountsByToken) {
  Directory dir(sampleAuth());
  EXPECT_FALSE(dir.open());

  const Principal* alice = dir.find("tok-alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->subject, "user:alice@example.com");
  EXPECT_FALSE(alice->all_models);

  const Principal* checkout = dir.find("tok-checkout");
  ASSERT_NE(checkout, nullptr);
  EXPECT_EQ(checkout->subject, "virtualaccount:checkout-prod");
  EXPECT_EQ(checkout->team, "payments");
  EXPECT_EQ(checkout->metadata.at("environment"), "production");
}

TEST(Directory, UnknownEmptyAndHashedTokensAreNotFound) {
  Directory dir(sampleAuth());
  EXPECT_EQ(dir.find(""), nullptr);
  EXPECT_EQ(dir.find("tok-nobody"), nullptr);
  EXPECT_EQ(dir.find("tok-alice "), nullptr);
  EXPECT_EQ(dir.find("TOK-ALICE"), nullptr);
  // Presenting the stored hash instead of the token must not work.
  EXPECT_EQ(dir.find(hashOf("tok-alice")), nullptr);
}

TEST(Directory, TeamFromFirstTeamListingTheUserCaseInsensitively) {
  Directory dir(sampleAuth());
  // Alice has no team key: "payments" lists her first (as Alice@Example.com).
  EXPECT_EQ(dir.find("tok-alice")->team, "payments");
  // Carol's own team key wins over "search", which lists her.
  EXPECT_EQ(dir.find("tok-carol")->team, "research");
  // Nobody lists Dave.
  EXPECT_EQ(dir.find("tok-dave")->team, "");
}

TEST(Directory, MayUseFollowsModelPatterns) {
  Directory dir(sampleAuth());
  const Principal& alice = *dir.find("tok-alice");
  const Principal& carol = *dir.find("tok-carol");
  const Principal& dave = *dir.find("tok-dave");

  EXPECT_TRUE(dir.mayUse(alice, "openai/gpt-4o"));
  EXPECT_TRUE(dir.mayUse(alice, "prod/anything"));

  EXPECT_TRUE(dir.mayUse(carol, "prod/assistant"));
  EXPECT_TRUE(dir.mayUse(carol, "openai/gpt-4o"));
  EXPECT_FALSE(dir.mayUse(carol, "openai/gpt-4o-mini"));
  EXPECT_FALSE(dir.mayUse(carol, "production/assistant"));

  // No `models`: no model at all.
  EXPECT_FALSE(dir.mayUse(dave, "openai/gpt-4o"));
  EXPECT_FALSE(dir.mayUse(dave, "prod/assistant"));
}

TEST(Directory, EntryWithMalformedHashIsSkipped) {
  manifest::AuthConfig auth;
  manifest::User broken;
  broken.email = "broken@example.com";
  broken.token_sha256 = "not-hex";
  auth.users.push_back(broken);
  Directory dir(auth);
  EXPECT_FALSE(dir.open());
  EXPECT_EQ(dir.find("not-hex"), nullptr);
}

TEST(Directory, NoAuthSectionIsAnOpenGatewayForAnonymous) {
  Directory dir(std::nullopt);
  EXPECT_TRUE(dir.open());
  const Principal& anon = dir.anonymous();
  EXPECT_EQ(anon.subject, "anonymous");
  EXPECT_TRUE(anon.all_models);
  EXPECT_TRUE(dir.mayUse(anon, "openai/gpt-4o"));
  EXPECT_TRUE(dir.mayUse(anon, "any/model"));
  EXPECT_EQ(dir.find("some-token"), nullptr);
}

TEST(Directory, EmptyAuthSectionIsClosed) {
  Directory dir(manifest::AuthConfig{});
  EXPECT_FALSE(dir.open());
  EXPECT_EQ(dir.find("anything"), nullptr);
}

TEST(PresentedToken, BearerSchemeIsCaseInsensitive) {
  std::string upper = "Bearer sk-123";
  std::string lower = "bearer sk-123";
  std::string shout = "BEARER sk-123";
  EXPECT_EQ(presentedToken(&upper, nullptr), "sk-123");
  EXPECT_EQ(presentedToken(&lower, nullptr), "sk-123");
  EXPECT_EQ(presentedToken(&shout, nullptr), "sk-123");
}

TEST(PresentedToken, TrimsSpacesAroundTheToken) {
  std::string spaced = "Bearer   sk-123  ";
  EXPECT_EQ(presentedToken(&spaced, nullptr), "sk-123");
}

TEST(PresentedToken, OtherSchemesAndBareBearerGiveNoToken) {
  std::string basic = "Basic dXNlcjpwYXNz";
  std::string bare = "Bearer";
  std::string bare_space = "Bearer ";
  std::string only_spaces = "Bearer    ";
  std::string no_scheme = "sk-123";
  std::string glued = "Bearersk-123";
  EXPECT_EQ(presentedToken(&basic, nullptr), "");
  EXPECT_EQ(presentedToken(&bare, nullptr), "");
  EXPECT_EQ(presentedToken(&bare_space, nullptr), "");
  EXPECT_EQ(presentedToken(&only_spaces, nullptr), "");
  EXPECT_EQ(presentedToken(&no_scheme, nullptr), "");
  EXPECT_EQ(presentedToken(&glued, nullptr), "");
}

TEST(PresentedToken, ApiKeyHeaderWhenNoAuthorization) {
  std::string key = "sk-ant-456";
  EXPECT_EQ(presentedToken(nullptr, &key), "sk-ant-456");
  EXPECT_EQ(presentedToken(nullptr, nullptr), "");
}

TEST(PresentedToken, AuthorizationBearerWinsOverApiKey) {
  std::string auth = "Bearer from-authorization";
  std::string key = "from-api-key";
  EXPECT_EQ(presentedToken(&auth, &key), "from-authorization");
}

struct MetadataResult {
  bool ok = false;
  Metadata values;
  std::string error;
  std::string bad_key;
};

MetadataResult parse(std::string_view header) {
  MetadataResult r;
  r.ok = parseMetadataHeader(header, &r.values, &r.error, &r.bad_key);
  return r;
}

TEST(MetadataHeader, ParsesStringValuesOverExistingOnes) {
  MetadataResult r;
  r.values["org"] = "internal";
  r.values["team"] = "default";
  r.ok = parseMetadataHeader(R"({"team":"payments","project_id":"p-1"})", &r.values, &r.error,
                             &r.bad_key);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.values.size(), 3u);
  EXPECT_EQ(r.values["org"], "internal");
  EXPECT_EQ(r.values["team"], "payments");
  EXPECT_EQ(r.values["project_id"], "p-1");
}

TEST(MetadataHeader, EmptyObjectIsFine) {
  MetadataResult r = parse("{}");
  EXPECT_TRUE(r.ok);
  EXPECT_TRUE(r.values.empty());
}

TEST(MetadataHeader, RefusesAnythingButAnObject) {
  for (std::string_view header :
       {"[]", R"(["a"])", R"("team")", "42", "null", "", "{", "not json", R"({"a":"b")"}) {
    MetadataResult r = parse(header);
    EXPECT_FALSE(r.ok) << header;
    EXPECT_EQ(r.error, "must be a JSON object of string values") << header;
  }
}

TEST(MetadataHeader, RefusesTextAfterTheObject) {
  // Not a JSON text: the object must be the whole header value.
  for (std::string_view header :
       {R"({"team":"a"} trailing)", R"({"team":"a"}{"team":"b"})", R"({"team":"a"}])"}) {
    MetadataResult r = parse(header);
    EXPECT_FALSE(r.ok) << header;
    EXPECT_EQ(r.error, "must be a JSON object of string values") << header;
  }
}

TEST(MetadataHeader, RefusesNonStringValuesNamingTheKey) {
  for (std::string_view value : {"1", "true", "null", "{}", "[]", "1.5"}) {
    std::string header = std::string(R"({"ok":"x","team":)") + std::string(value) + "}";
    MetadataResult r = parse(header);
    EXPECT_FALSE(r.ok) << header;
    EXPECT_EQ(r.error, "value of 'team' must be a string") << header;
    EXPECT_EQ(r.bad_key, "team") << header;
  }
}

TEST(MetadataHeader, ValueLimitCountsAsciiCharacters) {
  MetadataResult ok = parse(R"({"k":")" + repeat("a", 128) + R"("})");
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.values["k"].size(), 128u);

  MetadataResult too_long = parse(R"({"team":")" + repeat("a", 129) + R"("})");
  EXPECT_FALSE(too_long.ok);
  EXPECT_EQ(too_long.error, "value of 'team' is 129 characters long; at most 128 are allowed");
  EXPECT_EQ(too_long.bad_key, "team");
}

TEST(MetadataHeader, ValueLimitCountsUtf8CharactersNotBytes) {
  // "é" is two bytes, "€" three, "😀" four: 128 of each is 256..512 bytes.
  for (std::string_view ch : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    MetadataResult ok = parse(R"({"k":")" + repeat(ch, 128) + R"("})");
    EXPECT_TRUE(ok.ok) << ok.error;
    EXPECT_EQ(ok.values["k"], repeat(ch, 128));

    MetadataResult too_long = parse(R"({"k":")" + repeat(ch, 129) + R"("})");
    EXPECT_FALSE(too_long.ok);
    EXPECT_EQ(too_long.error, "value of 'k' is 129 characters long; at most 128 are allowed");
  }
}

TEST(MetadataHeader, ValueLimitCannotBeBypassedWithInvalidUtf8) {
  // 300 bytes that are all UTF-8 continuation bytes: not 0 characters, not valid
  // UTF-8 either. Either way the 128-character limit must not let them through.
  std::string header = R"({"k":")" + std::string(300, '\x80') + R"("})";
  MetadataResult r = parse(header);
  EXPECT_FALSE(r.ok) << "accepted a " << r.values["k"].size() << "-byte value";
  EXPECT_EQ(r.bad_key, "k");
}

TEST(MetadataHeader, JsonEscapesCountAsTheCharactersTheyStandFor) {
  // 128 "\u00e9" escapes decode to 128 two-byte characters.
  MetadataResult ok = parse(R"({"k":")" + repeat("\\u00e9", 128) + R"("})");
  ASSERT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.values["k"], repeat("\xC3\xA9", 128));
  MetadataResult too_long = parse(R"({"k":")" + repeat("\\u00e9", 129) + R"("})");
  EXPECT_FALSE(too_long.ok);
}

TEST(MetadataHeader, RefusesEmptyAndOverlongKeys) {
  MetadataResult empty = parse(R"({"":"x"})");
  EXPECT_FALSE(empty.ok);
  EXPECT_EQ(empty.error, "keys must not be empty");
  EXPECT_EQ(empty.bad_key, "");

  MetadataResult key128 = parse(R"({")" + repeat("k", 128) + R"(":"x"})");
  EXPECT_TRUE(key128.ok) << key128.error;

  MetadataResult key129 = parse(R"({")" + repeat("k", 129) + R"(":"x"})");
  EXPECT_FALSE(key129.ok);
  EXPECT_EQ(key129.error, "key '" + repeat("k", 64) + "...' is longer than 128 characters");
}

TEST(MetadataHeader, EmptyStringValueIsAllowed) {
  MetadataResult r = parse(R"({"team":""})");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.values["team"], "");
}

}  // namespace
}  // namespace sluice::governance
