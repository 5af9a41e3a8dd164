// The words the prompt-injection rules are written in: each known word (lower
// case, accents and look-alike letters folded) carries a set of word classes.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sluice::injection {

// Word classes, one bit each. A word may have several ("above" is kPrior and kBefore).
enum WordClass : uint64_t {
  kOverride = 1ull << 0,    // ignore, disregard, forget, bypass, ignoriere, ...
  kPrior = 1ull << 1,       // previous, prior, earlier, original, initial, ...
  kInstr = 1ull << 2,       // instructions, rules, guidelines, directives, ...
  kEverything = 1ull << 3,  // everything, anything, all, every, any
  kTold = 1ull << 4,        // told, given, instructed, programmed
  kYou = 1ull << 5,
  kYour = 1ull << 6,
  kNot = 1ull << 7,          // not, never, stop
  kFollow = 1ull << 8,       // follow, obey, comply, adhere
  kReveal = 1ull << 9,       // reveal, show, print, repeat, output, dump, ...
  kSecretAdj = 1ull << 10,   // hidden, secret, initial, original, system, full, ...
  kPromptNoun = 1ull << 11,  // prompt, message, instructions, configuration, ...
  kSystem = 1ull << 12,
  kMode = 1ull << 13,
  kModeAdj = 1ull << 14,   // developer, god, sudo, jailbreak, unrestricted, ...
  kRoleVerb = 1ull << 15,  // act, pretend, roleplay, simulate, imagine, become
  kNow = 1ull << 16,
  kThe = 1ull << 17,
  kTurn = 1ull << 18,          // user, human: other turns of a conversation
  kAre = 1ull << 19,           // are, is, were, was, am, be, has, have
  kFreeOf = 1ull << 20,        // no, without, free, freed, beyond, unbound
  kLimit = 1ull << 21,         // restrictions, limits, filters, censorship, ethics, ...
  kUnrestricted = 1ull << 22,  // unrestricted, unfiltered, uncensored, amoral, ...
  kJailbreak = 1ull << 23,
  kPersona = 1ull << 24,  // DAN, STAN, DUDE (only when written in capitals)
  kLonger = 1ull << 25,   // longer, anymore
  kBound = 1ull << 26,    // bound, restricted, limited, obligated
  kNew = 1ull << 27,      // new, updated, real, actual, changed
  kDiscuss = 1ull << 28,  // attack, injection, detect, classifier, mean, risk, ...
  kDecode = 1ull << 29,   // decode, decrypt, deobfuscate, unescape
  kExecute = 1ull << 30,  // follow, execute, obey, act, perform, do
  kWhat = 1ull << 31,
  kBefore = 1ull << 32,     // above, before, earlier, preceding
  kWords = 1ull << 33,      // words, text, everything, lines, content
  kVoid = 1ull << 34,       // void, cancelled, outdated, suspended, a mistake, ...
  kSupersede = 1ull << 35,  // supersedes, overrides, replaces
  kAllowed = 1ull << 36,    // allowed, permitted, authorized, can, able
  kApply = 1ull << 37,      // apply, applies, count, matter
  kFreed = 1ull << 38,      // freed, liberated, escaped, unchained
  kBroken = 1ull << 39,     // broken, broke, break
  kDo = 1ull << 40,
  kTask = 1ull << 41,  // task, goal, role, mission, objective
  kEnd = 1ull << 42,   // end, ends
  kOf = 1ull << 43,
  kInputNoun = 1ull << 44,  // input, document, prompt, message, conversation, context
  kBegin = 1ull << 45,      // begin, start, beginning, top, first
  kAdmin = 1ull << 46,      // admin, administrator, developer, operator, root, priority
  kAiRef = 1ull << 47,      // ai, assistant, llm, model, agent, chatbot, bot, gpt, ...
  kNote = 1ull << 48,       // note, attention, important
  kIf = 1ull << 49,
  kEncoded = 1ull << 50,  // encoded, base64, hex, rot13, obfuscated, cipher
  kAbove = 1ull << 51,    // above, foregoing: "ignore the above"
  kStay = 1ull << 52,     // stay, remain, break, character: "stay in character"
  kIn = 1ull << 53,
  kEvil = 1ull << 54,  // evil, machiavellian, malicious, unethical
  kHere = 1ull << 55,
  kBy = 1ull << 56,
  kRot13 = 1ull << 57,      // rot13 forms of telltale words ("vtaber" = ignore)
  kReversed = 1ull << 58,   // reversed telltale words ("erongi" = ignore)
  kHiddenAdj = 1ull << 59,  // hidden, secret, confidential, internal
  kWord = 1ull << 60,       // every word, known or not
  kTo = 1ull << 61,
};

namespace lexicon_detail {

inline uint32_t mix(uint32_t h) { return (h * 2654435761u) >> 16; }

// Mixes the length, the last letter and the first two (`pair`: first | second << 8, as they
// stand in memory): enough to spread the lexicon, and cheap to take from a word still in the
// text (folding as it goes). 16 bits.
inline uint32_t hashWord(size_t size, unsigned char last, uint32_t pair) {
  return mix(static_cast<uint32_t>(size) << 24 | static_cast<uint32_t>(last) << 16 | pair);
}

// Bit h is set when some lexicon word hashes to h.
extern uint64_t word_hashes[1024];

// The lexicon's words of up to 8 bytes, open-addressed by hash: each its bytes as a
// little-endian number, zero-padded (0: an empty slot, ending a probe), and its classes.
struct ShortWord {
  uint64_t word;
  uint64_t classes;
  uint64_t second;
};
constexpr uint32_t kShortMask = 2047;
extern ShortWord short_words[kShortMask + 1];

// The low `size` bytes (1..8) of a little-endian number.
inline uint64_t lowBytes(size_t size) {
  static constexpr uint64_t kLow[9] = {
      0, 0xff, 0xffff, 0xffffff, 0xffffffff, 0xffffffffff, 0xffffffffffff, 0xffffffffffffff, ~0ull,
  };
  return kLow[size];  // one load, where a shift by 64 - 8 * size takes four instructions
}

}  // namespace lexicon_detail

// The hash of a word of ASCII letters in any case, for mayBeLetters() and lookupLetters().
inline uint32_t hashLetters(const char* word, size_t size) {
  uint32_t pair = static_cast<unsigned char>(word[0]) | 0x20;
  if (size > 1) {  // the two letters in one load, folded together
    uint16_t two;
    memcpy(&two, word, 2);
    pair = std::endian::native == std::endian::little
               ? two | 0x2020u
               : pair | (static_cast<unsigned char>(word[1]) | 0x20u) << 8;
  }
  return lexicon_detail::hashWord(size, static_cast<unsigned char>(word[size - 1]) | 0x20, pair);
}

// hashLetters() of a word of two letters or more: its three letters folded with one OR.
inline uint32_t hashLongerLetters(const char* word, size_t size) {
  if constexpr (std::endian::native != std::endian::little) return hashLetters(word, size);
  uint16_t two;
  memcpy(&two, word, 2);
  const uint32_t last = static_cast<unsigned char>(word[size - 1]);
  return lexicon_detail::mix((static_cast<uint32_t>(size) << 24 | last << 16 | two) | 0x202020u);
}

// Whether a word of ASCII letters with this hash may be in the lexicon: false for most words,
// for the price of one bit test; lookupLetters() settles the rest.
inline bool mayBeLetters(uint32_t hash) {
  return lexicon_detail::word_hashes[hash >> 6] >> (hash & 63) & 1;
}

// lookupLetters() of a word too long or too near the text's end for its 8-byte fast path.
uint64_t lookupLongLetters(const char* word, size_t size, uint32_t hash, uint64_t* second);

// lookupWord() of a word of ASCII letters in any case (`hash` from hashLetters()), read where
// it stands (no folded copy); `readable` bytes from `word` on may be read (at least `size`).
// Inline: most tokens are short words, folded and compared as one 8-byte number.
inline uint64_t lookupLetters(const char* word, size_t size, uint32_t hash, size_t readable,
                              uint64_t* second) {
  if (std::endian::native != std::endian::little || size > 8 || readable < 8) {
    return lookupLongLetters(word, size, hash, second);
  }
  uint64_t v;
  memcpy(&v, word, 8);
  v = (v | 0x2020202020202020ull) & lexicon_detail::lowBytes(size);
  for (uint32_t s = hash & lexicon_detail::kShortMask;; s = (s + 1) & lexicon_detail::kShortMask) {
    const lexicon_detail::ShortWord& w = lexicon_detail::short_words[s];
    if (w.word == v) {
      *second = w.second;
      return w.classes;
    }
    if (w.word == 0) {
      *second = 0;
      return 0;
    }
  }
}

// The classes of `word` (lower-case ASCII), 0 when it is not in the lexicon. `second` gets
// the classes of the second word of a contraction ("you're" = you + are), else 0.
uint64_t lookupWord(std::string_view word, uint64_t* second);

}  // namespace sluice::injection
