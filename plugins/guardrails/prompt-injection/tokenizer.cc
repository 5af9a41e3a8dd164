#include "tokenizer.h"

#include <algorithm>
#include <iterator>

#include "lexicon.h"
#include "text.h"

namespace sluice::injection {
namespace {

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
char foldCyrillicGreek(uint32_t cp) {
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
char foldAccent(uint32_t cp) {
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
Char readChar(std::string_view text, size_t* i) {
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
bool unLeet(char* w, size_t n) {
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

uint64_t classify(char* w, size_t n, uint64_t* second) {
  if (n == 0 || n > kMaxWord) {
    *second = 0;
    return 0;
  }
  uint64_t classes = lookupWord(std::string_view(w, n), second);
  if (classes == 0 && *second == 0 && unLeet(w, n)) {
    classes = lookupWord(std::string_view(w, n), second);
  }
  return classes;
}

class Builder {
 public:
  Builder(std::string_view text, Tokens* out) : text_(text), out_(out) {}

  void run() {
    size_t i = 0;
    while (i < text_.size()) {
      size_t at = i;
      unsigned char c = text_[i];
      if ((c == '<' || c == '[') && templateMarker(&i)) {
        finishWord(at);
        continue;
      }
      Char ch = readChar(text_, &i);
      switch (ch.kind) {
        case Char::kLetter:
        case Char::kDigit:
          if (len_ == 0) {
            begin_ = at;
            caps_ = true;
            letters_ = 0;
          }
          if (len_ < sizeof word_) word_[len_] = ch.ascii;
          len_++;
          if (ch.kind == Char::kLetter) {
            letters_++;
            caps_ = caps_ && ch.upper;
          }
          break;
        case Char::kApostrophe:
          if (len_ > 0 && i < text_.size() && isAlpha(text_[i])) {
            if (len_ < sizeof word_) word_[len_] = '\'';
            len_++;
          } else {
            finishWord(at);
            quote(at, i, '\'');
          }
          break;
        case Char::kDrop:
          break;
        case Char::kOther:
          finishWord(at);
          if (ch.open_quote) quoted_ = true;
          if (ch.close_quote) quoted_ = false;
          if (ch.ascii == '"' || ch.ascii == '`') quoted_ = !quoted_;
          if (ch.ascii == '\'') quote(at, i, '\'');
          if (ch.ascii == '\n') newline();
          if (ch.ascii != 0 && !isMarkup(ch.ascii) && ch.ascii != ' ' && ch.ascii != '\t' &&
              ch.ascii != '\r' && ch.ascii != '\n') {
            line_start_ = false;
          }
          break;
      }
    }
    finishWord(text_.size());
    joinSpelledLetters();
  }

 private:
  static bool isMarkup(char c) {
    return c == '#' || c == '[' || c == '<' || c == '*' || c == '=' || c == '-' || c == '>' ||
           c == '|' || c == '(';
  }

  bool templateMarker(size_t* i) {
    std::string_view rest = text_.substr(*i);
    for (std::string_view m : kTemplateMarkers) {
      if (guardrails::startsWith(rest, m)) {
        out_->template_markers++;
        *i += m.size();
        return true;
      }
    }
    return false;
  }

  // A single quote opens a quotation before a word and closes one after a word.
  void quote(size_t at, size_t next, char) {
    bool before_word = next < text_.size() && isAlpha(text_[next]);
    bool after_word = at > 0 && (isAlpha(text_[at - 1]) || text_[at - 1] == '.' ||
                                 text_[at - 1] == '!' || text_[at - 1] == '?');
    if (!quoted_ && before_word && !after_word)
      quoted_ = true;
    else if (quoted_ && after_word && !before_word)
      quoted_ = false;
  }

  void newline() {
    line_++;
    if (line_start_ && last_line_blank_) quoted_ = false;  // a blank line ends a quotation
    last_line_blank_ = line_start_;
    line_start_ = true;
  }

  void finishWord(size_t end) {
    if (len_ == 0) return;
    uint64_t second = 0;
    size_t n = len_ < sizeof word_ ? len_ : sizeof word_;
    uint64_t classes = len_ <= kMaxWord ? classify(word_, n, &second) : 0;
    uint16_t flags = (line_start_ ? kLineStart : 0) | (quoted_ ? kQuoted : 0) |
                     (caps_ && letters_ >= 2 ? kAllCaps : 0);
    char after = end < text_.size() ? text_[end] : 0;
    if (after == ':') flags |= kColonAfter;
    if (after == ':' || after == ',') flags |= kPunctAfter;
    push(classes, static_cast<uint32_t>(begin_), static_cast<uint32_t>(end), flags, after);
    if (second)
      push(second, static_cast<uint32_t>(begin_), static_cast<uint32_t>(end), flags, after);
    out_->single_letters.push_back(len_ == 1 && letters_ == 1 ? word_[0] : 0);
    if (second) out_->single_letters.push_back(0);
    line_start_ = false;
    last_line_blank_ = false;
    len_ = 0;
  }

  void push(uint64_t classes, uint32_t begin, uint32_t end, uint16_t flags, char after) {
    classes |= kWord;
    out_->list.push_back({classes, begin, end, line_, flags, after});
    out_->seen |= classes;
  }

  // "I g n o r e   a l l": three or more single letters one space apart make a word.
  void joinSpelledLetters() {
    std::vector<Token>& list = out_->list;
    size_t kept = 0;
    for (size_t i = 0; i < list.size();) {
      size_t j = i;
      std::string word;
      while (j < list.size() && out_->single_letters[j] &&
             (j == i || list[j].begin == list[j - 1].end + 1)) {
        word.push_back(out_->single_letters[j]);
        j++;
      }
      if (j - i >= 3 && word.size() <= kMaxWord) {
        Token t = list[i];
        t.end = list[j - 1].end;
        uint64_t second = 0;
        t.classes = lookupWord(word, &second) | kWord;
        out_->seen |= t.classes;
        list[kept++] = t;
        i = j;
        continue;
      }
      list[kept++] = list[i++];
    }
    list.resize(kept);
  }

  std::string_view text_;
  Tokens* out_;
  char word_[kMaxWord + 1];
  size_t len_ = 0;
  size_t begin_ = 0;
  bool caps_ = true;
  size_t letters_ = 0;
  bool quoted_ = false;
  bool line_start_ = true;
  bool last_line_blank_ = false;
  uint32_t line_ = 0;
};

}  // namespace

void tokenize(std::string_view text, Tokens* out) {
  out->clear();
  Builder(text, out).run();
}

}  // namespace sluice::injection
