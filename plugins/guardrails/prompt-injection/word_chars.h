// The tokenizer's characters: decoding one (UTF-8, look-alike letters, accents), leet
// digits, chat-template markers, and classifying a finished word. Shared by the
// tokenizer and the test's reference tokenizer, which differ only in their byte loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lexicon.h"
#include "text.h"

namespace sluice::injection::chars {

using guardrails::isAlpha;
using guardrails::isDigit;
using guardrails::isUpper;

constexpr size_t kMaxWord = 40;

// Chat-template control tokens that never belong in a user's text.
constexpr std::string_view kTemplateMarkers[] = {
    "<|im_start|>",      "<|im_end|>",    "<|system|>", "<|user|>",
    "<|assistant|>",     "<|endoftext|>", "<|eot_id|>", "<|start_header_id|>",
    "<|end_header_id|>", "[INST]",        "[/INST]",    "<<SYS>>",
    "<</SYS>>",          "</s><s>",
};

// One decoded character: a letter or digit to append (lower case), an apostrophe, a
// character to drop without ending the word, or anything else (a separator).
struct Char {
  enum Kind { kLetter, kDigit, kApostrophe, kDrop, kOther } kind;
  char ascii;        // kLetter/kDigit: the folded character; kOther: the byte for ASCII, else 0
  bool upper;        // kLetter: written in upper case
  bool open_quote;   // “ «
  bool close_quote;  // ” »
};

// Cyrillic and Greek letters that look like Latin ones ("Іgnоre" with Cyrillic І and о).
inline char foldCyrillicGreek(uint32_t cp) {
  struct Fold {
    uint16_t cp;
    char ascii;
  };
  static constexpr Fold kFolds[] = {
      {0x0391, 'a'}, {0x0392, 'b'}, {0x0395, 'e'}, {0x0396, 'z'}, {0x0397, 'h'}, {0x0399, 'i'},
      {0x039A, 'k'}, {0x039C, 'm'}, {0x039D, 'n'}, {0x039F, 'o'}, {0x03A1, 'p'}, {0x03A4, 't'},
      {0x03A5, 'y'}, {0x03A7, 'x'}, {0x03B1, 'a'}, {0x03B5, 'e'}, {0x03B9, 'i'}, {0x03BA, 'k'},
      {0x03BD, 'v'}, {0x03BF, 'o'}, {0x03C1, 'p'}, {0x03C4, 't'}, {0x03C5, 'y'}, {0x03C7, 'x'},
      {0x0405, 's'}, {0x0406, 'i'}, {0x0408, 'j'}, {0x0410, 'a'}, {0x0412, 'b'}, {0x0415, 'e'},
      {0x041A, 'k'}, {0x041C, 'm'}, {0x041D, 'h'}, {0x041E, 'o'}, {0x0420, 'p'}, {0x0421, 'c'},
      {0x0422, 't'}, {0x0425, 'x'}, {0x0430, 'a'}, {0x0435, 'e'}, {0x043E, 'o'}, {0x0440, 'p'},
      {0x0441, 'c'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'}, {0x0456, 'i'}, {0x0458, 'j'},
      {0x0501, 'd'},
  };
  auto it = std::lower_bound(std::begin(kFolds), std::end(kFolds), cp,
                             [](const Fold& f, uint32_t c) { return f.cp < c; });
  return it != std::end(kFolds) && it->cp == cp ? it->ascii : 0;
}

// Latin-1 and Latin Extended-A letters with accents, by their base letter.
inline char foldAccent(uint32_t cp) {
  static constexpr char kLatin1[] =  // U+00C0..U+00FF
      "aaaaaaaceeeeiiiidnooooo\0ouuuuyts"
      "aaaaaaaceeeeiiiidnooooo\0ouuuuyty";
  if (cp >= 0xC0 && cp <= 0xFF) return kLatin1[cp - 0xC0];
  if (cp >= 0x100 && cp <= 0x17F) {
    static constexpr char kExtA[] =  // U+0100..U+017F
        "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiii??jjkkklllllll"
        "lllnnnnnnnnnoooooo??rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
    char a = kExtA[cp - 0x100];
    return a == '?' ? 0 : a;  // ligatures: not folded
  }
  return 0;
}

// Reads the character at text[*i] and advances *i past it.
inline Char readChar(std::string_view text, size_t* i) {
  unsigned char c = text[*i];
  if (c < 0x80) {
    (*i)++;
    if (isAlpha(c)) return {Char::kLetter, static_cast<char>(c | 0x20), isUpper(c), false, false};
    if (isDigit(c)) return {Char::kDigit, static_cast<char>(c), false, false, false};
    if (c == '\'') return {Char::kApostrophe, '\'', false, false, false};
    return {Char::kOther, static_cast<char>(c), false, false, false};
  }
  int len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  if (*i + len > text.size() || len == 1) {
    (*i)++;
    return {Char::kOther, 0, false, false, false};
  }
  uint32_t cp = c & (0xFF >> (len + 1));
  for (int k = 1; k < len; k++) cp = (cp << 6) | (static_cast<unsigned char>(text[*i + k]) & 0x3F);
  *i += len;
  if (cp == 0x200B || cp == 0x200C || cp == 0x200D || cp == 0x2060 || cp == 0xFEFF ||
      cp == 0x00AD) {
    return {Char::kDrop, 0, false, false, false};
  }
  if (cp == 0x2019 || cp == 0x2018 || cp == 0x02BC) {
    return {Char::kApostrophe, '\'', false, false, false};
  }
  if (cp == 0x201C || cp == 0x00AB) return {Char::kOther, 0, false, true, false};
  if (cp == 0x201D || cp == 0x00BB) return {Char::kOther, 0, false, false, true};
  if (cp >= 0xFF01 && cp <= 0xFF5E) {  // full-width ASCII
    char a = static_cast<char>(cp - 0xFEE0);
    if (isAlpha(a)) return {Char::kLetter, static_cast<char>(a | 0x20), isUpper(a), false, false};
    if (isDigit(a)) return {Char::kDigit, a, false, false, false};
    return {Char::kOther, a, false, false, false};
  }
  if (cp >= 0x1D400 && cp <= 0x1D6A3) {  // mathematical bold, italic, script, ... letters
    uint32_t k = (cp - 0x1D400) % 52;
    return {Char::kLetter, static_cast<char>('a' + k % 26), k < 26, false, false};
  }
  if (char a = foldCyrillicGreek(cp)) return {Char::kLetter, a, false, false, false};
  if (char a = foldAccent(cp)) return {Char::kLetter, a, cp < 0xE0, false, false};
  return {Char::kOther, 0, false, false, false};
}

// Digits standing for letters in a word that has letters too: "1gn0r3" -> "ignore".
inline bool unLeet(char* w, size_t n) {
  bool letters = false, digits = false;
  for (size_t i = 0; i < n; i++) {
    letters = letters || isAlpha(w[i]);
    digits = digits || isDigit(w[i]);
  }
  if (!letters || !digits) return false;
  for (size_t i = 0; i < n; i++) {
    switch (w[i]) {
      case '0':
        w[i] = 'o';
        break;
      case '1':
        w[i] = 'i';
        break;
      case '3':
        w[i] = 'e';
        break;
      case '4':
        w[i] = 'a';
        break;
      case '5':
        w[i] = 's';
        break;
      case '7':
        w[i] = 't';
        break;
      default:
        break;
    }
  }
  return true;
}

inline uint64_t classify(char* w, size_t n, bool digits, uint64_t* second) {
  if (n == 0 || n > kMaxWord) {
    *second = 0;
    return 0;
  }
  uint64_t classes = lookupWord(std::string_view(w, n), second);
  if (classes == 0 && *second == 0 && digits && unLeet(w, n)) {
    classes = lookupWord(std::string_view(w, n), second);
  }
  return classes;
}

}  // namespace sluice::injection::chars
