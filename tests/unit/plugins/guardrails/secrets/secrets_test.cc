// Guardrail `secrets`: every credential type against positive and negative
// corpora (whole and streamed at every split), block and redact, the entropy
// knobs, config errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sluice/plugin.h"
#include "support/marked_corpus.h"

namespace sluice::testing {
namespace {

const std::vector<std::string> kTypes = {
    "AWS_ACCESS_KEY",    "AWS_SECRET_KEY",     "GITHUB_TOKEN", "GITLAB_TOKEN",
    "SLACK_TOKEN",       "SLACK_WEBHOOK",      "STRIPE_KEY",   "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY", "GOOGLE_API_KEY",     "PRIVATE_KEY",  "JWT",
    "URL_CREDENTIALS",   "HIGH_ENTROPY_STRING"};

const char* kRedact = R"({"action": "redact"})";

std::string corpusDir() {
  return std::string(SLUICE_SOURCE_DIR) + "/tests/unit/plugins/guardrails/secrets/corpus";
}

Canonical identity(const std::string&) {
  return [](const std::string& v) { return v; };
}

TEST(SecretsPlugin, DescriptorAndSchema) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_EQ(d->kind, SLUICE_KIND_GUARDRAIL);
  EXPECT_STREQ(d->name, "secrets");
  std::vector<std::string> keys;
  for (const sluice_config_key* k = d->config; k->name; k++) keys.push_back(k->name);
  EXPECT_EQ(keys, (std::vector<std::string>{"action", "types", "entropy_threshold",
                                            "entropy_min_length"}));
  EXPECT_STREQ(d->config[0].default_json, "\"block\"");
}

TEST(SecretsPlugin, ConfigErrorsNameTheKeyAndItem) {
  EXPECT_EQ(createError(R"({"types": ["JWT", "PASSWORD"]})").substr(0, 60),
            "types[1]: unknown type 'PASSWORD' (known: AWS_ACCESS_KEY, AW");
  EXPECT_EQ(createError(R"({"types": "JWT"})").substr(0, 40),
            "types: expected a list of strings (AWS_A");
  EXPECT_EQ(createError(R"({"types": ["JWT"], "entropy_threshold": 4.5})"), "<created>");
}

TEST(SecretsPlugin, PositiveCorpusRedactsExactlyTheMarkedValuesWholeAndStreamed) {
  expectPositiveCorpus(corpusDir(), kTypes, kRedact, identity);
}

TEST(SecretsPlugin, NegativeCorpusFindsNothingWholeOrStreamed) {
  expectNegativeCorpus(corpusDir(), kTypes, kRedact);
}

TEST(SecretsPlugin, BlocksByDefaultNamingTypesNeverValues) {
  GuardHarness guard;
  std::string key = "AKIAIOSFODNN7EXAMPLE";
  std::string secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
  GuardAnswer a = guard.check("creds: " + key + " " + secret);
  EXPECT_EQ(a.verdict, SLUICE_VERDICT_BLOCK);
  EXPECT_EQ(a.reason, "found 1 AWS_ACCESS_KEY, 1 AWS_SECRET_KEY");
  EXPECT_EQ(a.reason.find(key), std::string::npos);
  EXPECT_EQ(a.findings,
            (std::map<std::string, uint32_t>{{"AWS_ACCESS_KEY", 1}, {"AWS_SECRET_KEY", 1}}));
  EXPECT_EQ(a.actions, (std::vector<std::string>{"block", "block"}));
  EXPECT_EQ(
      guard
          .check(
              "nothing secret here, just prose and a sha 3f786850e387550fdab836ed7e6dc881de23001b")
          .verdict,
      SLUICE_VERDICT_PASS);
}

TEST(SecretsPlugin, AStreamedKeyIsBlockedBeforeAnyOfItIsReleased) {
  GuardHarness guard;
  std::string key = "ghp_" + std::string("Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c");
  std::string text = "here is my token " + key + " thanks";
  for (size_t at = 0; at <= text.size(); at++) {
    StreamOutcome s = guard.streamSplit(text, at);
    EXPECT_TRUE(s.blocked) << "split at " << at;
    EXPECT_EQ(s.released.find("ghp_"), std::string::npos) << "split at " << at;
  }
}

TEST(SecretsPlugin, SameSecretSamePlaceholderWithinARequest) {
  GuardHarness guard(kRedact);
  std::string gh = "ghp_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c";
  EXPECT_EQ(guard.check("use " + gh).content, "use [GITHUB_TOKEN_1]");
  EXPECT_EQ(guard.check("glpat-AbCdEf1234567890XyZw and " + gh, SLUICE_HOOK_LLM_OUTPUT).content,
            "[GITLAB_TOKEN_1] and [GITHUB_TOKEN_1]");
}

TEST(SecretsPlugin, PlaceholdersNeverMatchAgain) {
  GuardHarness guard(kRedact);
  std::string once = guard
                         .check(
                             "postgres://app:Sup3rS3cret@db.example.com/app and "
                             "AKIAIOSFODNN7EXAMPLE")
                         .content;
  EXPECT_EQ(once, "postgres://app:[URL_CREDENTIALS_1]@db.example.com/app and [AWS_ACCESS_KEY_1]");
  EXPECT_EQ(guard.check(once).verdict, SLUICE_VERDICT_PASS);
  EXPECT_EQ(guard.check("[AWS_SECRET_KEY_1] [HIGH_ENTROPY_STRING_22] [PRIVATE_KEY_3]").verdict,
            SLUICE_VERDICT_PASS);
}

TEST(SecretsPlugin, TypesChooseWhatIsLookedFor) {
  GuardHarness guard(R"({"action": "redact", "types": ["JWT"]})");
  std::string jwt =
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV6cXV1enF1dXo";
  EXPECT_EQ(guard.check("AKIAIOSFODNN7EXAMPLE " + jwt).content, "AKIAIOSFODNN7EXAMPLE [JWT_1]");
}

// Words shorter than any key format are passed over at a glance: the shortest of each kind
// is still found, and short words that only start like one are not.
TEST(SecretsPlugin, TheShortestKeysAreFoundAndShorterWordsPassed) {
  GuardHarness guard(kRedact);
  EXPECT_EQ(guard.check("t xapp-123456789A.").content, "t [SLACK_TOKEN_1].");  // 15 bytes
  guard.endRequest();
  EXPECT_EQ(guard.check("awssecret = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").content,
            "awssecret = [AWS_SECRET_KEY_1]");
  guard.endRequest();
  for (const char* text : {"t xapp-12345678A.", "sk-ant-a1 sk-a1b2 eyJhbGciO.eyJ.x"}) {
    EXPECT_EQ(guard.check(text).verdict, SLUICE_VERDICT_PASS) << text;
    guard.endRequest();
  }
  // One letter short of a key name: the value is only a random-looking string.
  EXPECT_EQ(guard.check("awssecre = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").content,
            "awssecre = [HIGH_ENTROPY_STRING_1]");
}

// Words are read four bytes per bounds test, and a word after one space straight after the
// word before it: a key ends the same wherever it falls against those steps, after any
// separator, and at the text's end.
TEST(SecretsPlugin, AKeyEndsTheSameAtEveryOffset) {
  GuardHarness guard(kRedact);
  for (size_t pad = 0; pad < 8; pad++) {
    for (const char* sep : {" ", "  ", "\n", ", "}) {
      for (const char* tail : {"", ".", " ok", " ", "-", "_x"}) {
        std::string lead = "an " + std::string(pad, 'w') + sep;
        std::string text = lead + "AKIAIOSFODNN7EXAMPLE" + tail;
        GuardAnswer a = guard.check(text);
        if (std::string(tail) == "-" || std::string(tail) == "_x") {  // the word runs on
          EXPECT_EQ(a.verdict, SLUICE_VERDICT_PASS) << text;
        } else {
          EXPECT_EQ(a.content, lead + "[AWS_ACCESS_KEY_1]" + tail) << text;
        }
        guard.endRequest();
      }
    }
  }
}

TEST(SecretsPlugin, EntropyKnobs) {
  std::string token = "k8Xq2Lm9Zp3RtY7wBn4Vc6Md1Fg5Hj0K";  // 32 characters
  GuardHarness fine(kRedact);
  EXPECT_EQ(fine.check("x " + token).content, "x [HIGH_ENTROPY_STRING_1]");
  GuardHarness longer(R"({"action": "redact", "entropy_min_length": 40})");
  EXPECT_EQ(longer.check("x " + token).verdict, SLUICE_VERDICT_PASS);
  GuardHarness stricter(R"({"action": "redact", "entropy_threshold": 5.5})");
  EXPECT_EQ(stricter.check("x " + token).verdict, SLUICE_VERDICT_PASS);
}

TEST(SecretsPlugin, HoldBytesCoverUnfinishedSecrets) {
  GuardHarness guard;
  struct Case {
    const char* text;
    size_t hold;
  } cases[] = {
      {"All good.", 6},    // the last word and the space before it: more may be glued on
      {"All good.\n", 1},  // the newline tells the next window its first word starts a line
      {"key sk-ant-api03-Ab", 16},       // a key still growing, and the space before it
      {"-----BEGIN RSA PRIV", 19},       // a private-key header
      {"aws_secret_access_key = ", 24},  // the secret may follow
  };
  for (const Case& c : cases) {
    GuardAnswer a = guard.check(c.text, SLUICE_HOOK_LLM_OUTPUT);
    EXPECT_EQ(a.verdict, SLUICE_VERDICT_PASS) << c.text;
    EXPECT_EQ(a.hold, c.hold) << c.text;
    guard.endRequest();
  }
}

// A whole line of 64 base64 characters is a line of an encoded block, the same token after a
// space is a secret: a stream cut right after the space or the newline must tell them apart.
TEST(SecretsPlugin, AStreamCutBeforeATokenKeepsWhatPrecedesIt) {
  GuardHarness guard(kRedact);
  std::string token = "fyne-----BEGIND6PgjfjZknq0YbbnJlUPkR8D71He7kIlAb0cHiWsoqOoc+n/7N";
  ASSERT_EQ(token.size(), 64u);
  std::string after_space = "the key is " + token + "\nok";
  std::string whole = guard.check(after_space).content;
  guard.endRequest();
  EXPECT_EQ(whole, "the key is [HIGH_ENTROPY_STRING_1]\nok");
  std::string line = "a block:\n" + token + "\nok";
  EXPECT_EQ(guard.check(line).verdict, SLUICE_VERDICT_PASS);
  guard.endRequest();
  for (size_t at = 0; at <= after_space.size(); at++) {
    EXPECT_EQ(guard.streamSplit(after_space, at).released, whole) << "split at " << at;
  }
  for (size_t at = 0; at <= line.size(); at++) {
    EXPECT_EQ(guard.streamSplit(line, at).released, line) << "split at " << at;
  }
}

TEST(SecretsPlugin, AnUnfinishedPrivateKeyHoldsOnlyItsPlaceholder) {
  GuardHarness guard(kRedact);
  GuardAnswer a = guard.check("x\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
                              SLUICE_HOOK_LLM_OUTPUT);
  EXPECT_EQ(a.content, "x\n[PRIVATE_KEY_1]");
  EXPECT_EQ(a.hold, strlen("\n[PRIVATE_KEY_1]"));
}

}  // namespace
}  // namespace sluice::testing
