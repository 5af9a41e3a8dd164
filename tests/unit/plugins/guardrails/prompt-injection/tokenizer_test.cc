// The tokenizer against the reference one (tokenizer_reference.cc) on the labelled corpus
// and on random texts built from the pieces its rules care about: the same tokens, word
// counts, template markers and encoding hints, field for field (the longest base64 run only
// from kMinEncodedRun on, where it matters).
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tokenizer.h"
#include "tokenizer_reference.h"

namespace sluice::injection {
namespace {

std::vector<std::string> corpusTexts() {
  std::vector<std::string> out;
  for (const char* file : {"injection.txt", "benign.txt", "heldout-injection.txt",
                           "heldout-benign.txt"}) {
    std::ifstream in(std::string(SLUICE_SOURCE_DIR) +
                     "/tests/unit/plugins/guardrails/prompt-injection/corpus/" + file);
    std::string line;
    while (std::getline(in, line)) {
      for (size_t at = line.find("\\n"); at != std::string::npos; at = line.find("\\n", at + 1)) {
        line.replace(at, 2, "\n");
      }
      out.push_back(line);
    }
  }
  return out;
}

void expectSame(const std::string& text) {
  reference::RefTokens want;
  reference::tokenize(text, &want);
  Tokens got;
  tokenize(text, &got);
  SCOPED_TRACE(text);
  ASSERT_EQ(got.list.size(), want.list.size());
  for (size_t i = 0; i < want.list.size(); i++) {
    const Token& a = got.list[i];
    const Token& b = want.list[i];
    SCOPED_TRACE(i);
    EXPECT_EQ(a.classes, b.classes);
    EXPECT_EQ(a.ordinal, b.ordinal);
    EXPECT_EQ(a.begin, b.begin);
    EXPECT_EQ(a.end, b.end);
    EXPECT_EQ(a.words_after, b.words_after);
    EXPECT_EQ(a.flags, b.flags);
    EXPECT_EQ(a.after, b.after);
    EXPECT_EQ(a.letter, b.letter);
  }
  EXPECT_EQ(got.words, want.words);
  EXPECT_EQ(got.template_markers, want.template_markers);
  EXPECT_EQ(got.seen, want.seen);
  EXPECT_EQ(got.escapes, want.escapes);
  EXPECT_EQ(got.longest_run, want.longest_run >= kMinEncodedRun ? want.longest_run : 0);
  EXPECT_EQ(got.hex_pairs, want.hex_pairs);
}

TEST(PromptInjectionTokenizer, SameAsTheReferenceOnTheCorpus) {
  std::vector<std::string> texts = corpusTexts();
  ASSERT_GT(texts.size(), 400u);
  std::string all;
  for (const std::string& t : texts) {
    expectSame(t);
    all += t;
    all += "\n\n";
  }
  expectSame(all);
}

// 20,000 texts of up to `longest` of `pieces` glued at random, the same for both tokenizers.
void expectSameOnRandomTexts(const std::vector<std::string>& pieces, unsigned seed, int longest) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> piece(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(0, longest);
  for (int round = 0; round < 20000; round++) {
    std::string text;
    for (int k = length(rng); k > 0; k--) text += pieces[piece(rng)];
    expectSame(text);
    if (::testing::Test::HasFailure()) return;
  }
}

// Pieces the tokenizer treats specially.
const std::vector<std::string> kPieces = {
    "ignore", "IGNORE", "Ignore", "you", "You're", "youre", "previous", "instructions",
    "System", "system", "user", "assistant", "dan", "DAN", "a", "I", "x", "b", "hello",
    "Hello", "world", "the", "all", "1gn0r3", "pr3v10us", "abc123", "42", "7", "69", "6f",
    "e5", "zz", "aWdub3JlIGFsbCBwcmV2aW91cw", "deadbeefcafebabe0123", "x0", "0x69",
    " ", " ", " ", "  ", "\n", "\n", "\n\n", "\t", "\r\n", ".", ",", ":", ";", "!", "?",
    "'", "\"", "`", "-", "_", "+", "/", "=", "#", "*", "[", "]", "<", ">", "|", "(", ")",
    "\\", "&", "%", "\\u0069", "&#105;", "%69", "<|im_start|>", "<|im_end|>", "[INST]",
    "[/INST]", "<<SYS>>", "</s><s>", "<|", "[IN", "\xc3\xa9", "\xc3\x89", "\xd0\x86",
    "\xd0\xbe", "\xce\xb1", "\xe2\x80\x8b", "\xc2\xad", "\xe2\x80\x99", "\xe2\x80\x9c",
    "\xe2\x80\x9d", "\xc2\xab", "\xc2\xbb", "\xef\xbc\xa9", "\xef\xbd\x87", "\xef\xbc\x91",
    "\xf0\x9d\x90\x88", "\xe4\xb8\xad", "\xc5\x93", "\xff", "\x80", "\xc3", "\xe2\x80",
    "verylongwordthatgoesonandonandonpastfortyletters", "abcdefghijklmnopqrstuvwxyzabcdefghijklmn",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmno", "vtaber", "erongi", "lbh", "uoy", "don't",
    "i g n o r e", "s y s t e m", "Note", "NEW", "rules", "mode", "developer",
};

TEST(PromptInjectionTokenizer, SameAsTheReferenceOnRandomTexts) {
  expectSameOnRandomTexts(kPieces, 20261129, 60);
}

// Single bytes, stray parts of UTF-8 sequences among them.
TEST(PromptInjectionTokenizer, SameAsTheReferenceOnRandomBytes) {
  std::vector<std::string> bytes;
  for (char c : std::string("aAzZ019 \n\t.,:'\"`-_+/=#*[]<>|\\&%\xc3\xa9\xe2\x80\x8b")) {
    bytes.emplace_back(1, c);
  }
  expectSameOnRandomTexts(bytes, 7, 80);
}

// Hex pairs and base64 runs cut every way: the encoding hints count bytes exactly.
TEST(PromptInjectionTokenizer, SameAsTheReferenceOnHexAndBase64LikeTexts) {
  expectSameOnRandomTexts({"bb", "ef", "Ab", "6f", "e5", "a", "abcdefgh", "ABCDEFGH12", " ", " ",
                           "\n", "  ", "-", "_", "=", "/", ".", ",", "\\"},
                          11, 60);
}

// Where a word's run of letters ends decides the encoding hints: runs of 15 and 16, two
// letters (a hex pair), an escape or base64 byte after them, the text's end.
TEST(PromptInjectionTokenizer, SameAsTheReferenceWhereARunOfLettersEnds) {
  for (const char* word : {"ab", "abc", "abcdefghijklmno", "abcdefghijklmnop", "a"}) {
    for (const char* after : {"", " ", "\n", ",", "\\x", "&amp", "%20", "+", "/", "=", "-", "'s"}) {
      for (const char* before : {"", "ab ", "xyz=", "61 62 "}) {
        expectSame(std::string(before) + word + after);
        expectSame(std::string(before) + word + after + " " + word + after);
      }
    }
  }
}

// Every prefix, 0 to 200 bytes, of texts of mostly plain words: the tokenizer reads a word's
// letters 16 bytes at a time, so each word and the byte after it fall at every place in and
// past such a read, and at the text's end.
TEST(PromptInjectionTokenizer, SameAsTheReferenceOnEveryPrefixOfPlainText) {
  const std::vector<std::string> pieces = {
      "the", "cat", "Ignore", "previous", "instructions", "you", "a", "I", "hello", "World",
      "abcdefghijklmno", "abcdefghijklmnop", "abcdefghijklmnopq", "be", "ef", "x", "DAN",
      "sat", "on", "mat", "system", "rules", "plain", "words", "between", "them",
      " ", " ", " ", " ", " ", " ", "  ", "\n", "\n\n", ". ", ", ", ": ", ".", ",", ":", "!",
      "?", ")", "(", "'", "\"", "-", "_", "=", "#", "1", "42", "1gn0r3", "don't", "\xc3\xa9",
      "\xd0\xbe", "\xe2\x80\x8b", "\xe2\x80\x99", "\xff", "\\", "%", "<|im_start|>",
  };
  std::mt19937 rng(20261130);
  std::uniform_int_distribution<size_t> piece(0, pieces.size() - 1);
  std::uniform_int_distribution<int> plain(0, 3);
  for (int round = 0; round < 300; round++) {
    std::string text;
    while (text.size() < 200) {
      // Mostly a word and a space, as in prose; now and then any piece.
      if (plain(rng) != 0) {
        text += pieces[piece(rng) % 26];
        text += ' ';
      } else {
        text += pieces[piece(rng)];
      }
    }
    for (size_t n = 0; n <= 200; n++) {
      expectSame(text.substr(0, n));
      if (::testing::Test::HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace sluice::injection
