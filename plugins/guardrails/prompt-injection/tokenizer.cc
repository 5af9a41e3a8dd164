#include "tokenizer.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <iterator>

#include "lexicon.h"
#include "text.h"
#include "word_chars.h"

namespace sluice::injection {
namespace {

using namespace chars;  // NOLINT: the tokenizer is made of these

// What a byte is to the tokenizer, one table lookup per byte.
enum ByteClass : uint16_t {
  kBase64Byte = 1,  // + / = _ - (letters and digits are words)
  kEscapeByte = 2,  // \ & %: escapes may spell out text
  kMarkupByte = 4,  // # [ < * = - > | ( may come before a role label on its line
  kSpaceByte = 8,
  kHighByte = 16,  // the first byte of a UTF-8 sequence (or a stray one)
  kAlnumByte = 32,  // an ASCII letter or digit: a word
  kLabelByte = 64,  // , : after a word make a token of it ("System:")
  kMarkerByte = 128,  // < [ may start a chat-template marker
  kGlueByte = 256,  // may continue a word after its ASCII letters: a digit, an apostrophe, any
                    // non-ASCII character (a folded letter, a zero-width one)
  kQuoteByte = 512,  // " ` open or close a quotation
  kNewlineByte = 1024,
  kQuietEndByte = 2048,  // ends a plain word and does nothing else: ' ', '.', ')', ...
};

constexpr std::array<uint16_t, 256> makeByteClasses() {
  std::array<uint16_t, 256> t{};
  for (int c = 0; c < 256; c++) {
    uint16_t k = 0;
    if (c == '+' || c == '/' || c == '=' || c == '_' || c == '-') k |= kBase64Byte;
    if (c == '\\' || c == '&' || c == '%') k |= kEscapeByte;
    if (c == '#' || c == '[' || c == '<' || c == '*' || c == '=' || c == '-' || c == '>' ||
        c == '|' || c == '(') {
      k |= kMarkupByte;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') k |= kSpaceByte;
    if (c >= 0x80) k |= kHighByte;
    if (guardrails::isAlnum(static_cast<unsigned char>(c))) k |= kAlnumByte;
    if (c == ',' || c == ':') k |= kLabelByte;
    if (c == '<' || c == '[') k |= kMarkerByte;
    if (isDigit(static_cast<unsigned char>(c)) || c == '\'' || c >= 0x80) k |= kGlueByte;
    if (c == '"' || c == '`') k |= kQuoteByte;
    if (c == '\n') k |= kNewlineByte;
    const uint16_t busy = kBase64Byte | kEscapeByte | kMarkerByte | kHighByte | kAlnumByte |
                          kLabelByte | kGlueByte | kQuoteByte | kNewlineByte;
    if (!(k & busy)) k |= kQuietEndByte;
    t[c] = k;
  }
  return t;
}
constexpr std::array<uint16_t, 256> kByteClasses = makeByteClasses();

// The flags a token gets from the byte after it: one lookup for a word that ends in ':' or ','.
constexpr std::array<uint16_t, 256> makeAfterFlags() {
  std::array<uint16_t, 256> t{};
  t[':'] = kColonAfter | kPunctAfter;
  t[','] = kPunctAfter;
  return t;
}
constexpr std::array<uint16_t, 256> kAfterFlags = makeAfterFlags();

class Builder {
 public:
  Builder(std::string_view text, Tokens* out) : text_(text), out_(out) {}

  void run() {
    const size_t n = text_.size();
    size_t i = 0;
    while (i < n) {
      size_t at = i;
      unsigned char c = text_[i];
      uint16_t k = kByteClasses[c];
      if (k & kAlnumByte) {  // most bytes: a run of ASCII letters and digits
        i = len_ == 0 ? plainWords(i) : asciiWord(i);
        continue;
      }
      if (c == ' ') {  // the commonest separator: ends a word, and nothing else
        noteEncoding(c, kSpaceByte, at);
        if (len_ > 0) finishWord(at);
        i++;
        if (i < n && text_[i] == ' ') {  // indentation: more spaces only end the hex pairs
          do i++; while (i < n && text_[i] == ' ');
          pairs_ = 0;
        }
        continue;
      }
      noteEncoding(c, k, at);
      if ((k & kMarkerByte) && templateMarker(&i)) {
        finishWord(at);
        continue;
      }
      if (!(k & kHighByte)) {  // other ASCII: a separator, or an apostrophe inside a word
        i++;
        if (c == '\'') {
          apostrophe(at, i);
        } else {
          other(at, static_cast<char>(c), k);
        }
        continue;
      }
      Char ch = readChar(text_, &i);
      switch (ch.kind) {
        case Char::kLetter:
        case Char::kDigit:
          addChar(at, ch.ascii, ch.kind == Char::kDigit, ch.upper);
          break;
        case Char::kApostrophe:
          apostrophe(at, i);
          break;
        case Char::kDrop:
          break;
        case Char::kOther:
          finishWord(at);
          if (ch.open_quote) quoted_ = true;
          if (ch.close_quote) quoted_ = false;
          line_start_ = false;
          break;
      }
    }
    finishWord(n);
    endLine();
    noteEncoding(' ', kSpaceByte, n);
    if (singles_in_a_row_ >= 3) joinSpelledLetters();
  }

 private:
  // Words from text_[i] on, one after another while the next starts right after the byte
  // that ends this one ("the cat sat"). Most are ASCII letters followed by a space or
  // punctuation: such a word is finished here, with what the byte after it does, without a
  // trip round run(). Words not in the lexicon (most) are only counted.
  size_t plainWords(size_t i) {
    const size_t n = text_.size();
    for (;;) {
      size_t j;  // where the letters from i end
      if (run_ == 0) {
        i = simpleWords(i, &j);
        if (!startsWord(i)) return i;
      } else {
        j = guardrails::skipLetters(text_, i);
      }
      if (j == n) return startPlain(i, j);
      const unsigned char c = text_[j];
      const uint16_t k = kByteClasses[c];
      const size_t len = j - i;
      if ((k & (kGlueByte | kMarkerByte)) || len > kMaxWord) {
        return (k & kGlueByte) ? asciiWord(i) : startPlain(i, j);
      }
      plainWordEncoding(len, c, k, j);
      const char* w = text_.data() + i;
      const uint32_t hash = len == 1 ? hashLetters(w, 1) : hashLongerLetters(w, len);
      if (len == 1 || (k & kLabelByte) || mayBeLetters(hash)) {
        keepPlainWord(i, len, hash, c, k);
      } else {
        countQuietWords(1);
      }
      i = afterPlainWord(c, k, j + 1);
      if (startsWord(i)) continue;
      if (i >= n || text_[i] != ' ' || run_ != 0) return i;
      i = spacesAfterPunctuation(i);
      if (!startsWord(i)) return i;
    }
  }

  // Most of a text: words of 1 to 15 ASCII letters, each ended by a byte that only ends it
  // (a space, '.', ')', ...), by ':' or ',', or by the line's end. Those not in the lexicon
  // (most) are counted with the count in a register; the others become tokens as in
  // plainWords(). Starts at a word with no base64 run open; returns where the first other
  // word (or other byte after the spaces and line ends) starts, and where that word's
  // letters end.
  size_t simpleWords(size_t i, size_t* end) {
    const size_t n = text_.size();
    const char* p = text_.data();
    uint32_t count = 0;  // words counted since the last token
    const size_t start = i;  // i moves on only past words
    *end = 0;
    while (i + 16 < n) {  // both loads below and the byte after the word stay inside
      const size_t len = lettersAt(p + i);
      const size_t j = i + len;
      const unsigned char c = p[j];
      const uint16_t k = kByteClasses[c];
      if (len >= kMinEncodedRun || !(k & (kQuietEndByte | kLabelByte | kNewlineByte)) ||
          (len == 2 && (c == ' ' || c == '\n') && hexPairAt(i))) {
        *end = len < 16 ? j : guardrails::skipLetters(text_, j);
        break;
      }
      const uint32_t hash = len == 1 ? hashLetters(p + i, 1) : hashLongerLetters(p + i, len);
      if (len == 1 || (k & kLabelByte) || mayBeLetters(hash)) {
        countQuietWords(count);
        count = 0;
        keepPlainWord(i, len, hash, c, k);
      } else {
        count++;
      }
      i = j + 1;  // at most i + 16 before it: inside
      if (c != '\n' && isAlpha(p[i])) continue;  // most words: the next starts right after
      if (c == '\n') i = j;  // the loop below takes the line's end
      for (; i < n && (p[i] == ' ' || p[i] == '\n'); i++) {
        if (p[i] == '\n') {
          countQuietWords(count);
          count = 0;
          newline();
        }
      }
      if (i >= n || !isAlpha(p[i])) break;
    }
    if (*end == 0) *end = guardrails::skipLetters(text_, i);
    if (i != start) pairs_ = 0;
    countQuietWords(count);
    return i;
  }

  // `count` plain words in a row that are not tokens, as countPlainWord() counts one.
  void countQuietWords(uint32_t count) {
    if (count == 0) return;
    singles_ = 0;
    countWords(count);
  }

  // How many ASCII letters `w` starts with, counting to 16 at most (16 for more); reads 16
  // bytes.
  static size_t lettersAt(const char* w) {
#if defined(SLUICE_SCAN_SSE2)
    // A byte is a letter when, folded to lower case and moved by 0x1F, it is a signed byte
    // below -102 ('a' .. 'z' become -128 .. -103; no other byte does). The constants live in
    // vector registers, which the loop round this leaves free.
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w));
    const __m128i moved = _mm_add_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)), _mm_set1_epi8(0x1F));
    const unsigned letters =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmplt_epi8(moved, _mm_set1_epi8(-102))));
    return static_cast<size_t>(std::countr_zero((letters ^ 0xFFFF) | 0x10000));  // 16: all are
#else
    if constexpr (std::endian::native != std::endian::little) {
      size_t k = 0;
      while (k < 16 && isAlpha(w[k])) k++;
      return k;
    }
    uint64_t v;
    memcpy(&v, w, 8);
    if (const uint64_t others = guardrails::firstNonLetterMark(v)) {
      return static_cast<size_t>(std::countr_zero(others)) / 8;
    }
    memcpy(&v, w + 8, 8);
    const uint64_t others = guardrails::firstNonLetterMark(v);
    return others ? 8 + static_cast<size_t>(std::countr_zero(others)) / 8 : 16;
#endif
  }

  // noteEncoding() of the byte after a plain word of `len` letters: most end a short run.
  void plainWordEncoding(size_t len, unsigned char c, uint16_t k, size_t at) {
    const size_t run = run_ + len;  // letters are base64 too
    // Most words: a short run, not two letters (a hex pair), ended by a plain byte.
    if (!(k & (kBase64Byte | kEscapeByte)) && run < kMinEncodedRun && run != 2) {
      pairs_ = 0;
      run_ = 0;
      return;
    }
    run_ = run;
    if (k & kBase64Byte) {
      run_++;
    } else {
      endRun(c, k, at);
    }
  }

  // A plain word the filter lets through: a token when it is a lexicon word, a single letter
  // or a label; the filter's near misses are only counted.
  [[gnu::always_inline]] void keepPlainWord(size_t i, size_t len, uint32_t hash, unsigned char c,
                                            uint16_t k) {
    uint64_t second = 0;
    const uint64_t classes =
        lookupLetters(text_.data() + i, len, hash, text_.size() - i, &second);
    const char letter = len == 1 ? static_cast<char>(text_[i] | 0x20) : 0;
    if (classes || second || letter || (k & kLabelByte)) {
      begin_ = i;
      addToken(classes, second, i + len, static_cast<char>(c), letter,
               len >= 2 && capitals(text_.data() + i, len));
    } else {
      singles_ = 0;
    }
    countWords();
  }

  // Whether a word of ASCII letters is written in capitals.
  static bool capitals(const char* w, size_t len) {
    size_t k = 0;
    while (k < len && !(w[k] & 0x20)) k++;
    return k == len;
  }

  bool startsWord(size_t i) const {
    return i < text_.size() && (kByteClasses[static_cast<unsigned char>(text_[i])] & kAlnumByte);
  }

  // What run() does with spaces after a word's punctuation (". ", ",\n  "), no run of base64
  // being open: they end the hex pairs, and nothing else.
  size_t spacesAfterPunctuation(size_t i) {
    const size_t n = text_.size();
    pairs_ = 0;
    do i++; while (i < n && text_[i] == ' ');
    return i;
  }

  // What run() does with the byte after the word once the word is finished.
  size_t afterPlainWord(unsigned char c, uint16_t k, size_t next) {
    if (c == ' ') {
      const size_t n = text_.size();
      if (next < n && text_[next] == ' ') {
        do next++; while (next < n && text_[next] == ' ');
        pairs_ = 0;
      }
    } else if (k & kQuoteByte) {
      quoted_ = !quoted_;
    } else if (k & kNewlineByte) {
      newline();
    }
    return next;
  }

  // The word is text_[i, j), ASCII letters only: looked up where it stands when it ends.
  size_t startPlain(size_t i, size_t j) {
    begin_ = i;
    len_ = j - i;
    letters_ = len_;
    plain_ = true;
    run_ += j - i;
    return j;
  }

  // Reads ASCII letters and digits from text_[i] into the word; returns where they end. The
  // hot loop: a copy and one arithmetic test per byte; the rest is worked out per word.
  size_t asciiWord(size_t i) {
    const size_t n = text_.size();
    if (len_ == 0) {  // not a plain word (see plainWords)
      begin_ = i;
      caps_ = true;
      letters_ = 0;
    }
    size_t len = len_;
    size_t digits = 0;
    size_t j = i;
    unsigned char c = text_[j];
    do {
      if (len < sizeof word_) word_[len] = static_cast<char>(c | 0x20);  // digits keep
      len++;
      digits += guardrails::isDigit(c);
      if (++j == n) break;
      c = text_[j];
    } while (guardrails::isAlnum(c));
    for (size_t k = i; k < j && caps_; k++) caps_ = !guardrails::isLower(text_[k]);
    letters_ += (j - i) - digits;
    len_ = len;
    run_ += j - i;  // letters and digits are base64 too
    return j;
  }

  // A letter or digit folded from a non-ASCII character ("é", a Cyrillic "о").
  void addChar(size_t at, char folded, bool digit, bool upper) {
    if (len_ == 0) {
      begin_ = at;
      caps_ = true;
      letters_ = 0;
    }
    if (len_ < sizeof word_) word_[len_] = folded;
    len_++;
    if (!digit) {
      letters_++;
      caps_ = caps_ && upper;
    }
  }

  // An apostrophe inside a word ("don't") belongs to it; elsewhere it may quote.
  void apostrophe(size_t at, size_t next) {
    if (len_ > 0 && next < text_.size() && isAlpha(text_[next])) {
      if (len_ < sizeof word_) word_[len_] = '\'';
      len_++;
      return;
    }
    finishWord(at);
    quote(at, next);
  }

  void other(size_t at, char c, uint16_t k) {
    if (len_ > 0) finishWord(at);
    if (c == '"' || c == '`') quoted_ = !quoted_;
    if (c == '\n') newline();
    if (!(k & (kMarkupByte | kSpaceByte))) line_start_ = false;
  }

  // Tracks base64 runs and hex byte pairs between words (asciiWord counts letters and
  // digits into the run).
  void noteEncoding(unsigned char c, uint16_t k, size_t at) {
    if (k & kBase64Byte) {
      run_++;
      return;
    }
    if (run_ == 0 && !(k & kEscapeByte)) {
      pairs_ = 0;
      return;
    }
    endRun(c, k, at);
  }

  // A byte that is not base64 ends the run (maybe empty) before it: the part of
  // noteEncoding() a word's end needs, the word's letters being a run already.
  void endRun(unsigned char c, uint16_t k, size_t at) {
    if (k & kEscapeByte) out_->escapes = true;
    if (run_ >= kMinEncodedRun && run_ > out_->longest_run) out_->longest_run = run_;
    if (run_ == 2 && (c == ' ' || c == '\n') && hexPairAt(at - 2)) {
      if (++pairs_ > out_->hex_pairs) out_->hex_pairs = pairs_;
    } else {
      pairs_ = 0;
    }
    run_ = 0;
  }

  bool hexPairAt(size_t at) const {
    return guardrails::isHexDigit(text_[at]) && guardrails::isHexDigit(text_[at + 1]);
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
  void quote(size_t at, size_t next) {
    bool before_word = next < text_.size() && isAlpha(text_[next]);
    bool after_word = at > 0 && (isAlpha(text_[at - 1]) || text_[at - 1] == '.' ||
                                 text_[at - 1] == '!' || text_[at - 1] == '?');
    if (!quoted_ && before_word && !after_word) {
      quoted_ = true;
    } else if (quoted_ && after_word && !before_word) {
      quoted_ = false;
    }
  }

  void newline() {
    endLine();
    if (line_start_ && last_line_blank_) quoted_ = false;  // a blank line ends a quotation
    last_line_blank_ = line_start_;
    line_start_ = true;
  }

  // A plain word (ASCII letters only) is looked up where it stands; word_ gets only its first
  // letter (a single-letter word's).
  uint64_t classifyPlainWord(uint64_t* second) {
    const char* w = text_.data() + begin_;
    word_[0] = static_cast<char>(w[0] | 0x20);
    if (len_ > kMaxWord) return 0;
    if (!hashed_) hash_ = hashLetters(w, len_);
    return lookupLetters(w, len_, hash_, text_.size() - begin_, second);
  }

  // Whether a plain word is written in capitals: only asked of words that become tokens.
  void plainWordCaps() {
    plain_ = false;
    const char* w = text_.data() + begin_;
    size_t k = 0;
    while (k < len_ && !guardrails::isLower(w[k])) k++;
    caps_ = k == len_;
  }
  void finishWord(size_t end) {
    if (len_ == 0) return;
    hashed_ = false;
    if (plain_ && countPlainWord(end)) return;
    finishToken(end);
  }

  // Most words are plain, not in the lexicon and followed by neither ':' nor ',': they are
  // only counted, without a lookup.
  bool countPlainWord(size_t end) {
    if (len_ == 1) return false;
    if (len_ <= kMaxWord) {
      hash_ = hashLetters(text_.data() + begin_, len_);
      hashed_ = true;
      if (mayBeLetters(hash_)) return false;
    }
    char after = end < text_.size() ? text_[end] : 0;
    if (after == ':' || after == ',') return false;
    singles_ = 0;
    endWord();
    return true;
  }

  // Out of line, so the count-only path above stays small enough to inline where words end.
  [[gnu::noinline]] void finishToken(size_t end) {
    uint64_t second = 0;
    size_t n = len_ < sizeof word_ ? len_ : sizeof word_;
    bool digits = letters_ < len_;  // a word holds letters, digits and apostrophes
    uint64_t classes = plain_             ? classifyPlainWord(&second)
                       : len_ <= kMaxWord ? classify(word_, n, digits, &second)
                                          : 0;
    char after = end < text_.size() ? text_[end] : 0;
    char letter = len_ == 1 && letters_ == 1 ? word_[0] : 0;
    keepWord(classes, second, end, after, letter);
  }

  // The word ends: a token when the rules may look at it, else only counted.
  [[gnu::always_inline]] void keepWord(uint64_t classes, uint64_t second, size_t end, char after,
                                       char letter) {
    if (classes || second || letter || after == ':' || after == ',') {
      if (plain_) plainWordCaps();
      addToken(classes, second, end, after, letter, caps_ && letters_ >= 2);
    } else {
      singles_ = 0;
    }
    endWord();
  }

  // The word from begin_ to `end` becomes a token (two for a contraction).
  [[gnu::always_inline]] void addToken(uint64_t classes, uint64_t second, size_t end, char after,
                                       char letter, bool caps) {
    uint16_t flags = (line_start_ ? kLineStart : 0) | (quoted_ ? kQuoted : 0) |
                     (caps ? kAllCaps : 0) | kAfterFlags[static_cast<unsigned char>(after)];
    push(classes, static_cast<uint32_t>(end), flags, after, letter);
    if (second) {
      out_->words++;  // "you're": two words
      push(second, static_cast<uint32_t>(end), flags, after, 0);
    }
    singles_ = letter ? singles_ + 1 : 0;
    if (singles_ > singles_in_a_row_) singles_in_a_row_ = singles_;
  }

  // Counted, and the next word starts afresh.
  void endWord() {
    countWords();
    len_ = 0;
    plain_ = false;
  }

  void countWords(uint32_t n = 1) {
    out_->words += n;
    line_start_ = false;
    last_line_blank_ = false;
  }

  void push(uint64_t classes, uint32_t end, uint16_t flags, char after, char letter) {
    classes |= kWord;
    out_->list.push_back(
        {classes, out_->words, static_cast<uint32_t>(begin_), end, 0, flags, after, letter});
    out_->seen |= classes;
  }

  // The line ends: its tokens learn how many words follow them on it.
  void endLine() {
    uint32_t line_end = out_->words;
    for (size_t i = line_tokens_; i < out_->list.size(); i++) {
      Token& t = out_->list[i];
      uint32_t after = line_end - t.ordinal - 1;
      t.words_after = static_cast<uint16_t>(after > 0xFFFF ? 0xFFFF : after);
    }
    line_tokens_ = out_->list.size();
  }

  // "I g n o r e   a l l": three or more single letters one space apart make a word.
  void joinSpelledLetters() {
    std::vector<Token>& list = out_->list;
    size_t kept = 0;
    uint32_t shift = 0;  // letters merged away so far: later words move up
    for (size_t i = 0; i < list.size();) {
      size_t j = i;
      char word[kMaxWord + 1];
      size_t len = 0;
      while (j < list.size() && list[j].letter && len < kMaxWord &&
             (j == i || (list[j].begin == list[j - 1].end + 1 &&
                         list[j].ordinal == list[j - 1].ordinal + 1))) {
        word[len++] = list[j].letter;
        j++;
      }
      Token t = list[i];
      t.ordinal -= shift;
      if (j - i >= 3) {
        t.end = list[j - 1].end;
        t.words_after = list[j - 1].words_after;
        t.letter = 0;
        uint64_t second = 0;
        t.classes = lookupWord(std::string_view(word, len), &second) | kWord;
        out_->seen |= t.classes;
        shift += static_cast<uint32_t>(j - i - 1);
        i = j;
      } else {
        i++;
      }
      list[kept++] = t;
    }
    list.resize(kept);
    out_->words -= shift;
  }

  std::string_view text_;
  Tokens* out_;
  char word_[kMaxWord + 1];
  size_t len_ = 0;
  size_t begin_ = 0;
  bool plain_ = false;  // the word is text_[begin_, begin_ + len_), not yet in word_
  bool hashed_ = false;  // hash_ is the plain word's hashLetters()
  uint32_t hash_ = 0;
  bool caps_ = true;
  size_t letters_ = 0;
  bool quoted_ = false;
  bool line_start_ = true;
  bool last_line_blank_ = false;
  size_t line_tokens_ = 0;    // the first token of the current line
  int singles_ = 0;           // single-letter words in a row so far
  int singles_in_a_row_ = 0;  // ... at most
  size_t run_ = 0;            // base64 characters in a row so far
  int pairs_ = 0;             // hex byte pairs one space apart so far
};

}  // namespace

void tokenize(std::string_view text, Tokens* out) {
  out->clear();
  Builder(text, out).run();
}

}  // namespace sluice::injection
