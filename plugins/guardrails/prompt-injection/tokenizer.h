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

struct Token {
  uint64_t classes;  // lexicon classes, 0 for unknown words
  uint32_t begin;    // bytes of the source text
  uint32_t end;
  uint32_t line;
  uint16_t flags;
  char after;  // the byte right after the word (':' for "System:"), or 0
};

struct Tokens {
  std::vector<Token> list;
  int template_markers = 0;          // chat-template tokens: <|im_start|>, [INST], <<SYS>>, ...
  uint64_t seen = 0;                 // union of every token's classes
  std::vector<char> single_letters;  // per token while tokenizing: its letter if it is one
  void clear() {
    list.clear();
    single_letters.clear();
    template_markers = 0;
    seen = 0;
  }
};

void tokenize(std::string_view text, Tokens* out);

}  // namespace sluice::injection
