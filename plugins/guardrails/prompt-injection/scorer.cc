#include "scorer.h"

#include <algorithm>
#include <bit>
#include <string>
#include <vector>

#include "codec.h"
#include "lexicon.h"
#include "text.h"
#include "tokenizer.h"

namespace sluice::injection {
namespace {

using guardrails::hexValue;
using guardrails::isAlnum;
using guardrails::isAlpha;
using guardrails::isHexDigit;

constexpr double kQuotedDiscussion = 0.3;  // a quoted attack inside a discussion of attacks
constexpr double kRoleTurnWeight = 0.45;
constexpr double kForgedDialogueWeight = 0.6;  // a system turn among other turns
constexpr double kTranscriptWeight = 0.2;      // "User: ... Assistant: ..." alone is common
constexpr double kTemplateMarkerWeight = 0.6;
constexpr double kHiddenInstructionFloor = 0.85;
constexpr double kHiddenInstructionScore = 0.4;  // a decoded text scoring this much is hidden
constexpr int kMinEscapes = 4;

constexpr double kMentionInDiscussion = 0.5;  // "the DAN jailbreak" in a question about it
constexpr uint32_t kNoSpan = UINT32_MAX;

struct Hit {
  Category category;
  double weight;
  uint32_t first;  // token span, for telling one phrase matched twice from two phrases
  uint32_t last;
};

struct Scratch {
  Tokens tokens[2];  // the text, and a decoded variant of it
  std::string variant;
  std::vector<Hit> hits[2];
};
thread_local Scratch t_scratch;

// Matches combine as independent evidence, except that rules of one category matching
// overlapping words count once (the strongest): "ignore all previous instructions" is one
// instruction override however many rules read it.
class Accumulator {
 public:
  explicit Accumulator(std::vector<Hit>* hits) : hits_(hits) { hits_->clear(); }

  void add(Category c, double weight, uint32_t first = kNoSpan, uint32_t last = kNoSpan) {
    hits_->push_back({c, weight, first, last});
  }

  Score finish() {
    std::sort(hits_->begin(), hits_->end(),
              [](const Hit& a, const Hit& b) { return a.weight > b.weight; });
    Score score;
    double keep = 1.0;
    for (size_t i = 0; i < hits_->size(); i++) {
      const Hit& h = (*hits_)[i];
      bool repeat = false;
      for (size_t j = 0; j < i && !repeat; j++) {
        const Hit& k = (*hits_)[j];
        repeat = k.category == h.category && h.first != kNoSpan && k.first != kNoSpan &&
                 h.first <= k.last && k.first <= h.last;
      }
      if (repeat) continue;
      keep *= 1.0 - h.weight;
      score.hits[h.category]++;
    }
    score.value = 1.0 - keep;
    return score;
  }

 private:
  std::vector<Hit>* hits_;
};

bool allQuoted(const Tokens& tokens, size_t first, size_t last) {
  for (size_t i = first; i <= last; i++) {
    if (!(tokens.list[i].flags & kQuoted)) return false;
  }
  return true;
}

// Words about attacks outside quotation marks: the text discusses injection.
bool discussesAttacks(const Tokens& tokens) {
  if (!(tokens.seen & kDiscuss)) return false;
  for (const Token& t : tokens.list) {
    if ((t.classes & kDiscuss) && !(t.flags & kQuoted)) return true;
  }
  return false;
}

void addRuleHits(const Tokens& tokens, Accumulator* acc) {
  bool discussion = discussesAttacks(tokens);
  for (uint64_t possible = possibleRules(tokens.seen); possible; possible &= possible - 1) {
    const Rule& r = kRules[std::countr_zero(possible)];
    size_t first = 0, last = 0;
    if (!findRule(r, tokens, &first, &last)) continue;
    double w = r.weight;
    if (discussion && allQuoted(tokens, first, last)) {
      w *= kQuotedDiscussion;
    } else if (discussion && r.mention) {
      w *= kMentionInDiscussion;
    }
    acc->add(r.category, w, static_cast<uint32_t>(first), static_cast<uint32_t>(last));
  }
}

// "System: ...", "### System:", "[SYSTEM] ...", "<system>...": a turn the user should not
// write; stronger next to other forged turns ("User: ...", "Assistant: ...").
void addFakeTurns(const Tokens& tokens, Accumulator* acc) {
  const std::vector<Token>& list = tokens.list;
  int system_turns = 0, other_turns = 0;
  uint32_t at = kNoSpan;
  for (size_t i = 0; i < list.size(); i++) {
    const Token& t = list[i];
    bool label = (t.flags & kLineStart) && (t.after == ':' || t.after == ']' || t.after == '>');
    if (!label || !(t.classes & (kSystem | kAdmin | kTurn | kAiRef))) continue;
    if (t.words_after < 3) continue;
    if (t.classes & (kSystem | kAdmin)) {
      system_turns++;
      if (at == kNoSpan) at = static_cast<uint32_t>(i);
    } else {
      other_turns++;
    }
  }
  if (system_turns > 0) {
    acc->add(kDelimiterInjection, other_turns > 0 ? kForgedDialogueWeight : kRoleTurnWeight, at,
             at);
  } else if (other_turns > 1) {
    acc->add(kDelimiterInjection, kTranscriptWeight);
  }
}

bool printable(std::string_view s) {
  if (s.size() < 8) return false;
  size_t good = 0, spaces = 0;
  for (unsigned char c : s) {
    good += (c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t';
    spaces += c == ' ';
  }
  return good * 10 >= s.size() * 9 && spaces > 0;
}

bool isBase64Char(unsigned char c) {
  return isAlnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-';
}

Score scoreAt(std::string_view text, int depth, const ScoreOptions& options);

// Scores a decoded form of the text; a hidden instruction adds a strong encoded-payload hit.
bool addIfHidden(std::string_view variant, Accumulator* acc, const ScoreOptions& options) {
  Score sub = scoreAt(variant, 1, options);
  if (sub.value < kHiddenInstructionScore) return false;
  acc->add(kEncodedPayload, std::max(kHiddenInstructionFloor, sub.value));
  return true;
}

// Base64 or hex runs ("aWdub3Jl...", "69676e6f7265...", "0x6967...", "69 67 6e 6f ...").
bool addEncodedRuns(std::string_view text, Accumulator* acc, const ScoreOptions& options) {
  std::string& decoded = t_scratch.variant;
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    if (!isBase64Char(text[i])) {
      i++;
      continue;
    }
    size_t end = i;
    while (end < n && isBase64Char(text[end])) end++;
    std::string_view run = text.substr(i, end - i);
    if (guardrails::startsWith(run, "0x")) run.remove_prefix(2);
    bool hex_pairs = run.size() == 2 && isHexDigit(run[0]) && isHexDigit(run[1]);
    decoded.clear();
    if (hex_pairs) {  // "69 67 6e ...": hex bytes one space apart
      size_t j = i;
      while (j + 1 < n && isHexDigit(text[j]) && isHexDigit(text[j + 1]) &&
             (j + 2 == n || text[j + 2] == ' ' || text[j + 2] == '\n')) {
        decoded.push_back(static_cast<char>(hexValue(text[j]) << 4 | hexValue(text[j + 1])));
        j += 3;
      }
      if (decoded.size() >= 8 && printable(decoded) && addIfHidden(decoded, acc, options)) {
        return true;
      }
      i = std::max(end, std::min(j, n));
      continue;
    }
    if (run.size() >= kMinEncodedRun) {
      bool hex = std::all_of(run.begin(), run.end(), [](char c) { return isHexDigit(c); });
      bool ok =
          hex ? guardrails::decodeHex(run, &decoded) : guardrails::decodeBase64(run, &decoded);
      if (ok && printable(decoded) && addIfHidden(decoded, acc, options)) return true;
    }
    i = end;
  }
  return false;
}

// \u0069, \x69, &#105;, &#x69;, %69: escapes that spell out text.
bool addEscapes(std::string_view text, Accumulator* acc, const ScoreOptions& options) {
  std::string& out = t_scratch.variant;
  out.clear();
  int escapes = 0;
  const size_t n = text.size();
  auto hexAt = [&](size_t at, size_t digits, uint32_t* v) {
    if (at + digits > n) return false;
    *v = 0;
    for (size_t k = 0; k < digits; k++) {
      int h = hexValue(text[at + k]);
      if (h < 0) return false;
      *v = *v << 4 | static_cast<uint32_t>(h);
    }
    return true;
  };
  for (size_t i = 0; i < n;) {
    uint32_t v = 0;
    size_t len = 0;
    if (text[i] == '\\' && i + 1 < n && text[i + 1] == 'u' && hexAt(i + 2, 4, &v)) {
      len = 6;
    } else if (text[i] == '\\' && i + 1 < n && text[i + 1] == 'x' && hexAt(i + 2, 2, &v)) {
      len = 4;
    } else if (text[i] == '%' && hexAt(i + 1, 2, &v)) {
      len = 3;
    } else if (text[i] == '&' && i + 2 < n && text[i + 1] == '#') {
      size_t j = i + 2;
      bool hex = j < n && (text[j] == 'x' || text[j] == 'X');
      j += hex;
      while (j < n && j - i < 10 && (hex ? isHexDigit(text[j]) : guardrails::isDigit(text[j]))) {
        v = v * (hex ? 16 : 10) + static_cast<uint32_t>(hexValue(text[j]));
        j++;
      }
      if (j < n && text[j] == ';' && j > i + 2 + hex) len = j + 1 - i;
    }
    if (len == 0) {
      out.push_back(text[i++]);
      continue;
    }
    out.push_back(v >= 0x20 && v < 0x7f ? static_cast<char>(v) : ' ');
    escapes++;
    i += len;
  }
  return escapes >= kMinEscapes && addIfHidden(out, acc, options);
}

// Text written in rot13 or backwards, recognised by two or more telltale words.
bool addRot13OrReversed(std::string_view text, const Tokens& tokens, Accumulator* acc,
                        const ScoreOptions& options) {
  int rot13 = 0, reversed = 0;
  if (tokens.seen & (kRot13 | kReversed)) {
    for (const Token& t : tokens.list) {
      rot13 += (t.classes & kRot13) != 0;
      reversed += (t.classes & kReversed) != 0;
    }
  }
  if (rot13 < 2 && reversed < 2) return false;  // most texts: no thread-local lookup
  std::string& out = t_scratch.variant;
  if (rot13 >= 2) {
    out.assign(text);
    for (char& c : out) {
      if (isAlpha(c)) {
        char base = (c & 0x20) ? 'a' : 'A';
        c = static_cast<char>(base + (c - base + 13) % 26);
      }
    }
    if (addIfHidden(out, acc, options)) return true;
  }
  if (reversed >= 2) {
    out.assign(text.rbegin(), text.rend());
    return addIfHidden(out, acc, options);
  }
  return false;
}

Score scoreAt(std::string_view text, int depth, const ScoreOptions& options) {
  Scratch& scratch = t_scratch;  // a thread-local's address costs a call in a plugin
  Tokens& tokens = scratch.tokens[depth];
  tokenize(text, &tokens);
  Accumulator acc(&scratch.hits[depth]);
  addRuleHits(tokens, &acc);
  addFakeTurns(tokens, &acc);
  if (tokens.template_markers > 0) acc.add(kDelimiterInjection, kTemplateMarkerWeight);
  if (depth == 0 && options.decode) {
    // One hidden instruction is enough; the variants share one buffer.
    bool runs = tokens.longest_run >= kMinEncodedRun || tokens.hex_pairs >= 8;
    if (!(runs && addEncodedRuns(text, &acc, options)) &&
        !(tokens.escapes && addEscapes(text, &acc, options))) {
      addRot13OrReversed(text, tokens, &acc, options);
    }
  }
  return acc.finish();
}

}  // namespace

Score scoreText(std::string_view text, const ScoreOptions& options) {
  return scoreAt(text, 0, options);
}

}  // namespace sluice::injection
