// Splits text into words for the prompt-injection rules, undoing the usual
// disguises on the way: case, accents, look-alike Cyrillic/Greek/full-width
// letters, zero-width characters, digits for letters ("1gn0r3") and letters
// spelled out one by one ("i g n o r e").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::injection {

enum TokenFlag : uint16_t {
  kLineStart = 1,    // only spaces or markup ('#', '[', '<', '*', '=', '-') before it on its line
  kAllCaps = 2,      // written in capitals ("DAN")
  kQuoted = 4,       // inside quotation marks or backticks
  kColonAfter = 8,   // followed by ':' ("New instructions:")
  kPunctAfter = 16,  // followed by ',' or ':' ("AI assistant, ignore ...")
};

// A word the rules may look at: one in the lexicon, one followed by ':' or ',', or a single
// letter. Other words are only counted (they fill the gaps rules allow between words).
struct Token {
  uint64_t classes;      // lexicon classes, and kWord
  uint32_t ordinal;      // its place among all the words of the text
  uint32_t begin;        // bytes of the source text
  uint32_t end;
  uint16_t words_after;  // words after it on its line
  uint16_t flags;
  char after;   // the byte right after the word (':' for "System:"), or 0
  char letter;  // a single-letter word: its letter, else 0
};

// The shortest run of base64 characters worth decoding.
constexpr size_t kMinEncodedRun = 16;

struct Tokens {
  std::vector<Token> list;
  uint32_t words = 0;        // every word, kept or not
  int template_markers = 0;  // chat-template tokens: <|im_start|>, [INST], <<SYS>>, ...
  uint64_t seen = 0;         // union of every token's classes
  // What encoded text could be in there, so the decoders run only when it may be.
  size_t longest_run = 0;  // the longest run of base64 characters if kMinEncodedRun or more, else 0
  int hex_pairs = 0;       // the most hex byte pairs one space apart ("69 67 6e")
  bool escapes = false;    // a '\\', '&' or '%' occurs
  void clear() {
    list.clear();
    words = 0;
    template_markers = 0;
    seen = 0;
    longest_run = 0;
    hex_pairs = 0;
    escapes = false;
  }
};

void tokenize(std::string_view text, Tokens* out);

}  // namespace sluice::injection
