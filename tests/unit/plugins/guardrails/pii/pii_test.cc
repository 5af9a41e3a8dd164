// Guardrail `pii`: every entity type against positive and negative corpora,
// placeholder numbering across calls, block mode, config errors, and streams
// cut at every point.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "sluice/plugin.h"
#include "support/marked_corpus.h"

namespace sluice::testing {
namespace {

const std::vector<std::string> kTypes = {"EMAIL",  "PHONE", "CREDIT_CARD",
                                         "US_SSN", "IBAN",  "IP_ADDRESS"};

std::string corpusDir() {
  return std::string(SLUICE_SOURCE_DIR) + "/tests/unit/plugins/guardrails/pii/corpus";
}

// The form under which the plugin treats two values as one (mirrors its documentation).
Canonical canonicalFor(const std::string& type) {
  return [type](const std::string& v) {
    std::string out;
    for (char c : v) {
      if (type == "EMAIL" || type == "IP_ADDRESS") {
        out += static_cast<char>(tolower(static_cast<unsigned char>(c)));
      } else if (type == "IBAN") {
        if (isalnum(static_cast<unsigned char>(c))) out += static_cast<char>(toupper(c));
      } else if (isdigit(static_cast<unsigned char>(c)) || c == '+') {
        out += c;
      }
    }
    return out;
  };
}

TEST(PiiPlugin, DescriptorAndSchema) {
  const sluice_plugin_descriptor* d = sluice_plugin_entry();
  EXPECT_EQ(d->magic, SLUICE_PLUGIN_MAGIC);
  EXPECT_EQ(d->kind, SLUICE_KIND_GUARDRAIL);
  EXPECT_STREQ(d->name, "pii");
  EXPECT_EQ(d->abi_minor, SLUICE_ABI_MINOR);
  std::vector<std::string> keys;
  for (const sluice_config_key* k = d->config; k->name; k++) keys.push_back(k->name);
  EXPECT_EQ(keys, (std::vector<std::string>{"action", "entities"}));
  EXPECT_STREQ(d->config[0].default_json, "\"redact\"");
  EXPECT_NE(guardVtable()->request_end, nullptr);
}

TEST(PiiPlugin, ConfigErrorsNameTheKeyAndItem) {
  EXPECT_EQ(createError(R"({"entities": ["EMAIL", "PASSPORT"]})"),
            "entities[1]: unknown type 'PASSPORT' (known: EMAIL, PHONE, CREDIT_CARD, US_SSN, "
            "IBAN, IP_ADDRESS)");
  EXPECT_EQ(createError(R"({"entities": ["EMAIL", "EMAIL"]})"),
            "entities[1]: 'EMAIL' is listed twice");
  EXPECT_EQ(createError(R"({"entities": []})"),
            "entities: the list is empty; name at least one of EMAIL, PHONE, CREDIT_CARD, "
            "US_SSN, IBAN, IP_ADDRESS, or leave the key out for all");
  EXPECT_EQ(createError(R"({"entities": [3]})"), "entities[0]: expected a string");
  EXPECT_EQ(createError("[1]"), "config must be a JSON object");
  EXPECT_EQ(createError(R"({"entities": ["IBAN"], "action": "block"})"), "<created>");
}

TEST(PiiPlugin, PositiveCorpusRedactsExactlyTheMarkedValuesWholeAndStreamed) {
  expectPositiveCorpus(corpusDir(), kTypes, "{}", canonicalFor);
}

TEST(PiiPlugin, NegativeCorpusFindsNothingWholeOrStreamed) {
  expectNegativeCorpus(corpusDir(), kTypes, "{}");
}

TEST(PiiPlugin, StreamFindingsCountEachValueOnce) {
  GuardHarness guard;
  std::string text = "mail bob@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111";
  for (size_t at = 0; at <= text.size(); at++) {
    StreamOutcome s = guard.streamSplit(text, at);
    EXPECT_EQ(s.findings,
              (std::map<std::string, uint32_t>{{"EMAIL", 1}, {"PHONE", 1}, {"CREDIT_CARD", 1}}))
        << "split at " << at;
  }
}

TEST(PiiPlugin, SameValueSamePlaceholderAcrossMessagesAndHooks) {
  GuardHarness guard;
  GuardAnswer first = guard.check("I am bob@example.com, phone 415-555-0100.");
  EXPECT_EQ(first.content, "I am [EMAIL_1], phone [PHONE_1].");
  GuardAnswer second = guard.check("Also alice@example.org and BOB@example.com, (415) 555-0100");
  EXPECT_EQ(second.content, "Also [EMAIL_2] and [EMAIL_1], [PHONE_1]");
  GuardAnswer output =
      guard.check("Noted: alice@example.org. Call 415 555 0199?", SLUICE_HOOK_LLM_OUTPUT);
  EXPECT_EQ(output.content, "Noted: [EMAIL_2]. Call [PHONE_2]?");
  EXPECT_EQ(output.findings, (std::map<std::string, uint32_t>{{"EMAIL", 1}, {"PHONE", 1}}));

  guard.endRequest();  // a new request numbers from 1 again
  EXPECT_EQ(guard.check("alice@example.org").content, "[EMAIL_1]");
}

// The scan looks for what may start an entity eight bytes at a time, past punctuation in the
// same byte range as digits and '@' and past non-ASCII bytes whose low bits are in it: an
// entity is found wherever it falls against those steps.
TEST(PiiPlugin, EntitiesAreFoundAtEveryOffset) {
  GuardHarness guard;
  for (size_t pad = 0; pad < 16; pad++) {
    for (const char* lead : {" ", ", ./-=?; ", " \xc2\xb0 \xc2\xba ", "\n*) "}) {
      std::string before = std::string(pad, 'x') + lead;
      EXPECT_EQ(guard.check(before + "bob@example.com").content, before + "[EMAIL_1]") << pad;
      EXPECT_EQ(guard.check(before + "415-555-0100.").content, before + "[PHONE_1].") << pad;
      guard.endRequest();
    }
  }
}

TEST(PiiPlugin, PlaceholdersNeverMatchAgain) {
  GuardHarness guard;
  GuardAnswer a = guard.check(
      "[EMAIL_1] [PHONE_12] [CREDIT_CARD_3] [US_SSN_1] [IBAN_2] "
      "[IP_ADDRESS_7]");
  EXPECT_EQ(a.verdict, SLUICE_VERDICT_PASS);
  std::string once = guard.check("bob@example.com 10.0.0.1 078-05-1120").content;
  EXPECT_EQ(once, "[EMAIL_1] [IP_ADDRESS_1] [US_SSN_1]");
  EXPECT_EQ(guard.check(once).verdict, SLUICE_VERDICT_PASS);
}

TEST(PiiPlugin, BlockNamesTypesAndCountsNeverValues) {
  GuardHarness guard(R"({"action": "block"})");
  GuardAnswer a = guard.check("bob@example.com, alice@example.org, 4111 1111 1111 1111");
  EXPECT_EQ(a.verdict, SLUICE_VERDICT_BLOCK);
  EXPECT_EQ(a.reason, "found 2 EMAIL, 1 CREDIT_CARD");
  EXPECT_EQ(a.findings, (std::map<std::string, uint32_t>{{"EMAIL", 2}, {"CREDIT_CARD", 1}}));
  EXPECT_EQ(a.actions, (std::vector<std::string>{"block", "block"}));
  EXPECT_EQ(guard.check("nothing personal here").verdict, SLUICE_VERDICT_PASS);

  // On a stream the block comes once the value is whole, before any of it is released.
  std::string text = "write to bob@example.com now";
  for (size_t at = 0; at <= text.size(); at++) {
    StreamOutcome s = guard.streamSplit(text, at);
    EXPECT_TRUE(s.blocked) << "split at " << at;
    EXPECT_EQ(s.released.find("bob@"), std::string::npos) << "split at " << at;
  }
}

TEST(PiiPlugin, EntitiesChooseWhatIsLookedFor) {
  GuardHarness guard(R"({"entities": ["EMAIL", "IBAN"]})");
  GuardAnswer a = guard.check("bob@example.com 415-555-0100 DE89 3704 0044 0532 0130 00 10.0.0.1");
  EXPECT_EQ(a.content, "[EMAIL_1] 415-555-0100 [IBAN_1] 10.0.0.1");
  GuardHarness ips(R"({"entities": ["IP_ADDRESS"]})");
  EXPECT_EQ(ips.check("bob@example.com 10.0.0.1 ::1").content,
            "bob@example.com [IP_ADDRESS_1] "
            "[IP_ADDRESS_2]");
}

TEST(PiiPlugin, HoldBytesCoverWhatMayStillGrow) {
  GuardHarness guard;
  struct Case {
    const char* text;
    size_t hold;
  } cases[] = {
      {"Hello there.\n", 1},  // the newline tells the next window a line starts
      {"Hello there", 6},       // "there" may start an address; the space says where it starts
      {"write to bob@exa", 8},  // an address without its domain yet
      {"call +44 20 79", 10},   // digits that may become a phone number
      {"card 4111 1111 ", 11},  // ... or a card, after a separator
      {"call (", 2},            // an opening parenthesis of a phone number
      {"on 10.0.", 6},
      {"caf\xC3\xA9 bob", 4},  // never half a UTF-8 character
      {"\xC3\xA9"
       "bob",
       5},
  };
  for (const Case& c : cases) {
    GuardAnswer a = guard.check(c.text, SLUICE_HOOK_LLM_OUTPUT);
    EXPECT_EQ(a.verdict, SLUICE_VERDICT_PASS) << c.text;
    EXPECT_EQ(a.hold, c.hold) << c.text;
    guard.endRequest();
  }
  // A whole value at the end is redacted now and held, placeholder and all.
  GuardAnswer a = guard.check("mail bob@example.com", SLUICE_HOOK_LLM_OUTPUT);
  EXPECT_EQ(a.content, "mail [EMAIL_1]");
  EXPECT_EQ(a.hold, strlen(" [EMAIL_1]"));
}

TEST(PiiPlugin, AValueThatKeepsGrowingGetsOnePlaceholder) {
  GuardHarness guard;
  StreamOutcome s = guard.stream({"mail bob@example.co", "m.au today and bob@example.com.au"});
  EXPECT_EQ(s.released, "mail [EMAIL_1] today and [EMAIL_1]");
  StreamOutcome digits = guard.stream({"pay 4111 1111 1111 1111", "1 1111 or 4111 1111 1111 1111"});
  EXPECT_EQ(digits.released, "pay 4111 1111 1111 11111 1111 or [CREDIT_CARD_1]");
}

TEST(PiiPlugin, TwoChoicesStreamedTogetherKeepTheirOwnHeldTails) {
  GuardHarness guard;
  std::string a = "write to bob@example.com.au today";
  std::string b = "or call +44 20 7946 0958 now";
  for (size_t cut_a = 1; cut_a < a.size(); cut_a++) {
    size_t cut_b = cut_a % b.size();
    auto [sa, sb] = guard.streamTwo({a.substr(0, cut_a), a.substr(cut_a)},
                                    {b.substr(0, cut_b), b.substr(cut_b)});
    EXPECT_EQ(sa.released, "write to [EMAIL_1] today") << "cut " << cut_a;
    EXPECT_EQ(sb.released, "or call [PHONE_1] now") << "cut " << cut_b;
  }
}

TEST(PiiPlugin, NoRequestStateFailsClearly) {
  GuardHarness guard;
  std::string text = "bob@example.com";
  sluice_guard_input in{};
  in.struct_size = offsetof(sluice_guard_input, request_id);  // an ABI 1.0 input
  in.hook = SLUICE_HOOK_LLM_INPUT;
  in.content = {text.data(), text.size()};
  sluice_guard_result res{};
  res.struct_size = sizeof(res);
  EXPECT_EQ(guardVtable()->check(guard.instance(), &in, &res), SLUICE_OK);
  EXPECT_EQ(res.verdict, SLUICE_VERDICT_FAIL);
  EXPECT_EQ(toString(res.reason),
            "the host passed no request_state (this guardrail needs plugin ABI 1.1)");
}

TEST(PiiPlugin, Checksums) {
  // Exposed through the corpus too; these pin the boundaries.
  GuardHarness guard;
  EXPECT_EQ(guard.check("4111111111111111").verdict, SLUICE_VERDICT_MUTATE);
  EXPECT_EQ(guard.check("4111111111111121").verdict, SLUICE_VERDICT_PASS);  // Luhn fails
  EXPECT_EQ(guard.check("NO93 8601 1117 947").verdict, SLUICE_VERDICT_MUTATE);
  EXPECT_EQ(guard.check("NO93 8601 1117 948").verdict, SLUICE_VERDICT_PASS);   // mod 97 fails
  EXPECT_EQ(guard.check("NO93 8601 1117 9470").verdict, SLUICE_VERDICT_PASS);  // too long
}

}  // namespace
}  // namespace sluice::testing
