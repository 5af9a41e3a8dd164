// libFuzzer target for the prompt-injection guardrail. On any bytes:
//   - the tokenizer agrees with its reference (tests/unit/plugins/guardrails/
//     prompt-injection/tokenizer_reference.cc) token for token and on every count and
//     encoding hint, as the unit tests' differential test checks on chosen texts;
//   - scoring, decoders included, ends with a score in [0, 1].
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "plugins/guardrails/prompt-injection/tokenizer_reference.h"
#include "scorer.h"
#include "tokenizer.h"

namespace {

using namespace sluice::injection;

[[noreturn]] void differ(const char* what, size_t token) {
  fprintf(stderr, "prompt-injection: the tokenizer and its reference differ in %s (token %zu)\n",
          what, token);
  abort();
}

void expectSameTokens(std::string_view text) {
  reference::RefTokens want;
  reference::tokenize(text, &want);
  Tokens got;
  tokenize(text, &got);
  if (got.list.size() != want.list.size()) differ("the number of tokens", 0);
  for (size_t i = 0; i < want.list.size(); i++) {
    const Token& a = got.list[i];
    const Token& b = want.list[i];
    if (a.classes != b.classes) differ("classes", i);
    if (a.ordinal != b.ordinal) differ("ordinal", i);
    if (a.begin != b.begin || a.end != b.end) differ("bounds", i);
    if (a.words_after != b.words_after) differ("words_after", i);
    if (a.flags != b.flags) differ("flags", i);
    if (a.after != b.after) differ("after", i);
    if (a.letter != b.letter) differ("letter", i);
  }
  if (got.words != want.words) differ("words", 0);
  if (got.template_markers != want.template_markers) differ("template_markers", 0);
  if (got.seen != want.seen) differ("seen", 0);
  if (got.escapes != want.escapes) differ("escapes", 0);
  if (got.longest_run != (want.longest_run >= kMinEncodedRun ? want.longest_run : 0)) {
    differ("longest_run", 0);
  }
  if (got.hex_pairs != want.hex_pairs) differ("hex_pairs", 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  expectSameTokens(text);
  Score s = scoreText(text, ScoreOptions{});
  if (!(s.value >= 0 && s.value <= 1)) {
    fprintf(stderr, "prompt-injection: score %f out of [0, 1]\n", s.value);
    abort();
  }
  return 0;
}
