#include "lexicon.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace sluice::injection {

uint64_t lexicon_detail::word_hashes[1024];  // filled with the table below
lexicon_detail::ShortWord lexicon_detail::short_words[lexicon_detail::kShortMask + 1];

namespace {

struct Entry {
  std::string_view word;
  uint64_t classes;
  uint64_t second;  // contractions: the classes of the second word
};

// Each word once; its classes OR-ed. Other languages' override vocabulary is folded into
// the same classes, so "ignoriere alle vorherigen Anweisungen" reads like the English.
constexpr Entry kLexicon[] = {
    // overrides
    {"ignore", kOverride, 0},
    {"ignores", kOverride, 0},
    {"ignored", kOverride, 0},
    {"ignoring", kOverride, 0},
    {"disregard", kOverride, 0},
    {"disregards", kOverride, 0},
    {"disregarding", kOverride, 0},
    {"forget", kOverride, 0},
    {"forgets", kOverride, 0},
    {"forgetting", kOverride, 0},
    {"override", kOverride | kSupersede, 0},
    {"overrides", kOverride | kSupersede, 0},
    {"bypass", kOverride, 0},
    {"circumvent", kOverride, 0},
    {"neglect", kOverride, 0},
    {"discard", kOverride, 0},
    {"abandon", kOverride, 0},
    {"erase", kOverride, 0},
    {"overlook", kOverride, 0},
    {"skip", kOverride, 0},
    {"nevermind", kOverride, 0},
    {"scratch", kOverride, 0},
    {"cancel", kOverride, 0},
    {"aside", kOverride, 0},
    {"disable", kOverride, 0},
    {"disabling", kOverride, 0},
    {"deactivate", kOverride, 0},
    {"ignorez", kOverride, 0},
    {"ignorer", kOverride, 0},
    {"oubliez", kOverride, 0},
    {"oublie", kOverride, 0},
    {"ignora", kOverride, 0},
    {"ignoriere", kOverride, 0},
    {"ignorieren", kOverride, 0},
    {"vergiss", kOverride, 0},
    {"vergessen", kOverride, 0},
    {"olvida", kOverride, 0},
    {"dimentica", kOverride, 0},
    {"ignorare", kOverride, 0},
    // what came before
    {"previous", kPrior, 0},
    {"previously", kPrior | kBefore, 0},
    {"prior", kPrior | kBefore, 0},
    {"earlier", kPrior | kBefore, 0},
    {"preceding", kPrior | kBefore, 0},
    {"foregoing", kPrior | kAbove, 0},
    {"former", kPrior, 0},
    {"original", kPrior | kSecretAdj, 0},
    {"initial", kPrior | kSecretAdj, 0},
    {"existing", kPrior, 0},
    {"old", kPrior, 0},
    {"above", kPrior | kBefore | kAbove, 0},
    {"before", kBefore, 0},
    {"precedentes", kPrior, 0},
    {"precedents", kPrior, 0},
    {"anteriores", kPrior, 0},
    {"previas", kPrior, 0},
    {"vorherigen", kPrior, 0},
    {"bisherigen", kPrior, 0},
    {"precedenti", kPrior, 0},
    {"current", kPrior, 0},
    // instructions
    {"instructions", kInstr | kPromptNoun, 0},
    {"instruction", kInstr | kNote, 0},
    {"directions", kInstr, 0},
    {"directives", kInstr, 0},
    {"directive", kInstr, 0},
    {"rules", kInstr | kLimit, 0},
    {"rule", kInstr, 0},
    {"guidelines", kInstr | kLimit, 0},
    {"guideline", kInstr | kLimit, 0},
    {"guidance", kInstr, 0},
    {"prompt", kInstr | kPromptNoun | kInputNoun, 0},
    {"prompts", kInstr | kPromptNoun, 0},
    {"programming", kInstr, 0},
    {"training", kInstr, 0},
    {"constraints", kInstr | kLimit, 0},
    {"restrictions", kInstr | kLimit, 0},
    {"restriction", kLimit, 0},
    {"limitations", kInstr | kLimit, 0},
    {"policies", kInstr | kLimit, 0},
    {"policy", kInstr | kLimit, 0},
    {"guardrails", kInstr | kLimit, 0},
    {"safeguards", kInstr | kLimit, 0},
    {"commands", kInstr, 0},
    {"orders", kInstr, 0},
    {"anweisungen", kInstr, 0},
    {"instrucciones", kInstr, 0},
    {"istruzioni", kInstr, 0},
    {"consignes", kInstr, 0},
    {"regeln", kInstr, 0},
    {"reglas", kInstr, 0},
    {"regles", kInstr, 0},
    {"indicaciones", kInstr, 0},
    {"persona", kInstr, 0},
    // limits
    {"limits", kLimit, 0},
    {"filters", kLimit, 0},
    {"filter", kLimit, 0},
    {"censorship", kLimit, 0},
    {"boundaries", kLimit, 0},
    {"ethics", kLimit, 0},
    {"ethical", kLimit, 0},
    {"morals", kLimit, 0},
    {"moral", kLimit, 0},
    {"safety", kLimit, 0},
    {"einschrankungen", kLimit, 0},
    {"restriccion", kLimit, 0},
    {"restrictions", kLimit, 0},
    {"warnings", kLimit, 0},
    {"disclaimers", kLimit, 0},
    {"compass", kLimit, 0},
    {"no", kFreeOf, 0},
    {"without", kFreeOf, 0},
    {"free", kFreeOf | kAllowed, 0},
    {"beyond", kFreeOf, 0},
    {"unbound", kFreeOf, 0},
    {"ohne", kFreeOf, 0},
    {"sans", kFreeOf, 0},
    {"sin", kFreeOf, 0},
    {"unrestricted", kUnrestricted | kModeAdj, 0},
    {"unfiltered", kUnrestricted | kModeAdj, 0},
    {"uncensored", kUnrestricted | kModeAdj, 0},
    {"amoral", kUnrestricted, 0},
    {"limitless", kUnrestricted, 0},
    {"unlimited", kUnrestricted, 0},
    {"unrestrained", kUnrestricted, 0},
    {"unredacted", kUnrestricted, 0},
    {"jailbreak", kJailbreak | kModeAdj, 0},
    {"jailbroken", kJailbreak | kUnrestricted, 0},
    {"jailbreaking", kJailbreak, 0},
    {"jailbreaks", kJailbreak | kDiscuss, 0},
    {"dan", kPersona, 0},
    {"stan", kPersona, 0},
    {"dude", kPersona, 0},
    {"nraf", kPersona, 0},
    {"omega", kPersona, 0},
    {"evil", kEvil | kModeAdj, 0},
    {"machiavellian", kEvil, 0},
    {"unethical", kEvil, 0},
    {"evilbot", kEvil, 0},
    // modes
    {"mode", kMode, 0},
    {"developer", kModeAdj | kAdmin | kSecretAdj, 0},
    {"dev", kModeAdj, 0},
    {"god", kModeAdj, 0},
    {"sudo", kModeAdj, 0},
    {"maintenance", kModeAdj, 0},
    {"debug", kModeAdj, 0},
    {"opposite", kModeAdj, 0},
    {"admin", kModeAdj | kAdmin, 0},
    // role-play
    {"act", kRoleVerb | kExecute, 0},
    {"acting", kRoleVerb, 0},
    {"pretend", kRoleVerb, 0},
    {"roleplay", kRoleVerb, 0},
    {"simulate", kRoleVerb, 0},
    {"imagine", kRoleVerb, 0},
    {"become", kRoleVerb, 0},
    {"behave", kRoleVerb, 0},
    {"play", kRoleVerb, 0},
    {"respond", kRoleVerb, 0},
    {"answer", kRoleVerb, 0},
    {"character", kStay, 0},
    {"stay", kStay, 0},
    {"remain", kStay, 0},
    {"freed", kFreed | kFreeOf, 0},
    {"liberated", kFreed | kFreeOf, 0},
    {"unchained", kFreed, 0},
    {"escaped", kFreed, 0},
    {"unshackled", kFreed, 0},
    {"broken", kBroken, 0},
    {"broke", kBroken, 0},
    {"break", kBroken | kStay, 0},
    // people and pronouns
    {"you", kYou, 0},
    {"your", kYour, 0},
    {"yourself", kYou, 0},
    {"u", kYou, 0},
    {"vous", kYou, 0},
    {"votre", kYour, 0},
    {"du", kYou, 0},
    {"you're", kYou, kAre},
    {"youre", kYou, kAre},
    {"you've", kYou, 0},
    {"you'll", kYou, 0},
    {"you'd", kYou, 0},
    {"are", kAre, 0},
    {"is", kAre, 0},
    {"were", kAre, 0},
    {"was", kAre, 0},
    {"am", kAre, 0},
    {"be", kAre, 0},
    {"been", kAre, 0},
    {"has", kAre, 0},
    {"have", kAre, 0},
    {"etes", kAre, 0},
    {"bist", kAre, 0},
    {"now", kNow, 0},
    {"maintenant", kNow, 0},
    {"jetzt", kNow, 0},
    {"ahora", kNow, 0},
    {"the", kThe, 0},
    {"in", kIn, 0},
    {"of", kOf, 0},
    {"by", kBy, 0},
    {"to", kTo, 0},
    {"if", kIf, 0},
    {"here", kHere, 0},
    {"not", kNot, 0},
    {"never", kNot, 0},
    {"stop", kNot, 0},
    {"don't", kDo, kNot},
    {"dont", kDo | kNot, 0},
    {"do", kDo | kExecute, 0},
    {"doesn't", kDo, kNot},
    {"won't", 0, kNot},
    {"can't", 0, kNot},
    {"longer", kLonger, 0},
    {"anymore", kLonger, 0},
    {"bound", kBound, 0},
    {"restricted", kBound, 0},
    {"limited", kBound, 0},
    {"obligated", kBound, 0},
    {"required", kBound, 0},
    {"constrained", kBound, 0},
    // told / given
    {"told", kTold, 0},
    {"given", kTold, 0},
    {"instructed", kTold, 0},
    {"programmed", kTold, 0},
    {"received", kTold, 0},
    {"got", kTold, 0},
    // everything
    {"everything", kEverything | kWords, 0},
    {"anything", kEverything, 0},
    {"all", kEverything, 0},
    {"every", kEverything, 0},
    {"any", kEverything, 0},
    {"words", kWords, 0},
    {"text", kWords, 0},
    {"lines", kWords, 0},
    {"content", kWords, 0},
    // obey
    {"follow", kFollow | kExecute, 0},
    {"follows", kFollow, 0},
    {"following", kFollow, 0},
    {"followed", kFollow, 0},
    {"obeys", kFollow, 0},
    {"obey", kFollow | kExecute, 0},
    {"comply", kFollow | kExecute, 0},
    {"adhere", kFollow, 0},
    {"execute", kExecute, 0},
    {"perform", kExecute, 0},
    {"run", kExecute, 0},
    {"apply", kApply, 0},
    {"applies", kApply, 0},
    {"count", kApply, 0},
    // revealing
    {"reveal", kReveal, 0},
    {"show", kReveal, 0},
    {"print", kReveal, 0},
    {"output", kReveal, 0},
    {"display", kReveal, 0},
    {"repeat", kReveal, 0},
    {"printing", kReveal, 0},
    {"showing", kReveal, 0},
    {"revealing", kReveal, 0},
    {"repeating", kReveal, 0},
    {"outputting", kReveal, 0},
    {"displaying", kReveal, 0},
    {"telling", kReveal, 0},
    {"recite", kReveal, 0},
    {"tell", kReveal, 0},
    {"give", kReveal, 0},
    {"share", kReveal, 0},
    {"leak", kReveal, 0},
    {"dump", kReveal, 0},
    {"disclose", kReveal, 0},
    {"expose", kReveal, 0},
    {"list", kReveal, 0},
    {"echo", kReveal, 0},
    {"spell", kReveal, 0},
    {"copy", kReveal, 0},
    {"translate", kReveal, 0},
    {"summarize", kReveal, 0},
    {"quote", kReveal, 0},
    {"return", kReveal, 0},
    {"provide", kReveal, 0},
    {"paste", kReveal, 0},
    {"revelez", kReveal, 0},
    {"affichez", kReveal, 0},
    {"mostrami", kReveal, 0},
    {"zeig", kReveal, 0},
    {"hidden", kSecretAdj | kHiddenAdj, 0},
    {"secret", kSecretAdj | kHiddenAdj, 0},
    {"confidential", kSecretAdj | kHiddenAdj, 0},
    {"internal", kSecretAdj | kHiddenAdj, 0},
    {"underlying", kSecretAdj, 0},
    {"full", kSecretAdj, 0},
    {"exact", kSecretAdj, 0},
    {"entire", kSecretAdj, 0},
    {"complete", kSecretAdj, 0},
    {"system", kSystem | kSecretAdj, 0},
    {"systeme", kSystem | kSecretAdj, 0},
    {"sistema", kSystem | kSecretAdj, 0},
    {"meta", kSecretAdj, 0},
    {"pre", kSecretAdj, 0},
    {"preprompt", kPromptNoun, 0},
    {"message", kPromptNoun | kInputNoun | kNote, 0},
    {"configuration", kPromptNoun, 0},
    {"config", kPromptNoun, 0},
    {"initialization", kPromptNoun, 0},
    {"what", kWhat, 0},
    {"what's", kWhat, kAre},
    {"whats", kWhat | kAre, 0},
    // fresh instructions
    {"new", kNew, 0},
    {"updated", kNew, 0},
    {"changed", kNew, 0},
    {"real", kNew, 0},
    {"actual", kNew, 0},
    {"void", kVoid, 0},
    {"cancelled", kVoid, 0},
    {"canceled", kVoid, 0},
    {"outdated", kVoid, 0},
    {"deprecated", kVoid, 0},
    {"null", kVoid, 0},
    {"suspended", kVoid, 0},
    {"invalid", kVoid, 0},
    {"revoked", kVoid, 0},
    {"obsolete", kVoid, 0},
    {"lifted", kVoid, 0},
    {"disabled", kVoid, 0},
    {"mistake", kVoid, 0},
    {"fake", kVoid, 0},
    {"supersedes", kSupersede, 0},
    {"replaces", kSupersede, 0},
    {"overrule", kSupersede, 0},
    {"allowed", kAllowed, 0},
    {"can", kAllowed, 0},
    {"able", kAllowed, 0},
    {"permitted", kAllowed, 0},
    {"authorized", kAllowed, 0},
    // framing
    {"end", kEnd, 0},
    {"ends", kEnd, 0},
    {"input", kInputNoun, 0},
    {"document", kInputNoun, 0},
    {"conversation", kInputNoun, 0},
    {"context", kInputNoun, 0},
    {"begin", kBegin, 0},
    {"beginning", kBegin, 0},
    {"start", kBegin, 0},
    {"top", kBegin, 0},
    {"administrator", kAdmin, 0},
    {"operator", kAdmin, 0},
    {"root", kAdmin, 0},
    {"priority", kAdmin, 0},
    {"developers", kAdmin, 0},
    {"creators", kAdmin, 0},
    {"ai", kAiRef, 0},
    {"assistant", kAiRef, 0},
    {"llm", kAiRef, 0},
    {"model", kAiRef, 0},
    {"agent", kAiRef, 0},
    {"chatbot", kAiRef, 0},
    {"bot", kAiRef, 0},
    {"gpt", kAiRef, 0},
    {"chatgpt", kAiRef, 0},
    {"claude", kAiRef, 0},
    {"reviewer", kAiRef, 0},
    {"user", kTurn, 0},
    {"human", kTurn, 0},
    {"task", kTask, 0},
    {"goal", kTask, 0},
    {"role", kTask, 0},
    {"mission", kTask, 0},
    {"objective", kTask, 0},
    {"note", kNote, 0},
    {"attention", kNote, 0},
    {"important", kNote, 0},
    // encodings
    {"decode", kDecode, 0},
    {"decrypt", kDecode, 0},
    {"deobfuscate", kDecode, 0},
    {"unescape", kDecode, 0},
    {"backwards", kDecode, 0},
    {"reverse", kDecode, 0},
    {"encoded", kEncoded, 0},
    {"base64", kEncoded, 0},
    {"hex", kEncoded, 0},
    {"rot13", kEncoded, 0},
    {"obfuscated", kEncoded, 0},
    {"cipher", kEncoded, 0},
    // talking about attacks
    {"attack", kDiscuss, 0},
    {"attacks", kDiscuss, 0},
    {"attacker", kDiscuss, 0},
    {"attackers", kDiscuss, 0},
    {"injection", kDiscuss, 0},
    {"injections", kDiscuss, 0},
    {"phrase", kDiscuss, 0},
    {"detect", kDiscuss, 0},
    {"detector", kDiscuss, 0},
    {"detection", kDiscuss, 0},
    {"classifier", kDiscuss, 0},
    {"regex", kDiscuss, 0},
    {"mitigations", kDiscuss, 0},
    {"mitigate", kDiscuss, 0},
    {"defend", kDiscuss, 0},
    {"defenses", kDiscuss, 0},
    {"security", kDiscuss, 0},
    {"flags", kDiscuss, 0},
    {"triggers", kDiscuss, 0},
    {"moderation", kDiscuss, 0},
    {"paper", kDiscuss, 0},
    {"posted", kDiscuss, 0},
    {"suite", kDiscuss, 0},
    {"mean", kDiscuss, 0},
    {"means", kDiscuss, 0},
    {"meaning", kDiscuss, 0},
    {"against", kDiscuss, 0},
    {"protect", kDiscuss, 0},
    {"prevent", kDiscuss, 0},
    {"risk", kDiscuss, 0},
    {"risks", kDiscuss, 0},
    {"threat", kDiscuss, 0},
    {"defense", kDiscuss, 0},
    // rot13 and reversed forms of telltale words (encoded instructions)
    {"vtaber", kRot13, 0},
    {"qvfertneq", kRot13, 0},
    {"sbetrg", kRot13, 0},
    {"cerivbhf", kRot13, 0},
    {"vafgehpgvbaf", kRot13, 0},
    {"flfgrz", kRot13, 0},
    {"cebzcg", kRot13, 0},
    {"ehyrf", kRot13, 0},
    {"erirny", kRot13, 0},
    {"cnffjbeq", kRot13, 0},
    {"erfgevpgvbaf", kRot13, 0},
    {"lbh", kRot13, 0},
    {"lbhe", kRot13, 0},
    {"erongi", kReversed, 0},
    {"drageresid", kReversed, 0},
    {"tegrof", kReversed, 0},
    {"suoiverp", kReversed, 0},
    {"snoitcurtsni", kReversed, 0},
    {"metsys", kReversed, 0},
    {"tpmorp", kReversed, 0},
    {"selur", kReversed, 0},
    {"laever", kReversed, 0},
    {"drowssap", kReversed, 0},
    {"snoitcirtser", kReversed, 0},
    {"uoy", kReversed, 0},
    {"ruoy", kReversed, 0},
};

using lexicon_detail::hashWord;

uint32_t hashWord(std::string_view w) {
  const uint32_t second = w.size() > 1 ? static_cast<unsigned char>(w[1]) : 0;
  return hashWord(w.size(), w.back(), static_cast<unsigned char>(w[0]) | second << 8);
}

// Open addressing over the table above, built once; most words miss after one probe.
class Table {
 public:
  Table() {
    slots_.fill(-1);
    for (int i = 0; i < static_cast<int>(std::size(kLexicon)); i++) {
      uint32_t s = hashWord(kLexicon[i].word) & kMask;
      while (slots_[s] >= 0 && kLexicon[slots_[s]].word != kLexicon[i].word) s = (s + 1) & kMask;
      if (slots_[s] >= 0) {  // listed twice: merge
        merged_[slots_[s]] |= kLexicon[i].classes;
        continue;
      }
      slots_[s] = static_cast<int16_t>(i);
      uint32_t h = hashWord(kLexicon[i].word);
      lexicon_detail::word_hashes[h >> 6] |= 1ull << (h & 63);
      merged_[i] = kLexicon[i].classes;
      const std::string_view w = kLexicon[i].word;
      memcpy(&prefix_[i], w.data(), std::min<size_t>(w.size(), 8));
      lengths_[bucket(kLexicon[i].word)] |= 1u << kLexicon[i].word.size();
    }
    fillShortWords();
  }
  uint64_t find(std::string_view w, uint64_t* second) const {
    if (!mayHold(w[0], w.size() > 1 ? w[1] : 0, w.size())) {
      *second = 0;
      return 0;
    }
    return probe(w, hashWord(w), second);
  }

  // find() of a word of ASCII letters in any case, folding as it compares.
  uint64_t findLetters(const char* word, size_t size, uint32_t h, uint64_t* second) const {
    for (uint32_t s = h & kMask; slots_[s] >= 0; s = (s + 1) & kMask) {
      const Entry& e = kLexicon[slots_[s]];
      if (e.word.size() != size) continue;
      size_t k = 0;
      while (k < size && e.word[k] == (word[k] | 0x20)) k++;
      if (k == size) {
        *second = e.second;
        return merged_[slots_[s]];
      }
    }
    *second = 0;
    return 0;
  }

 private:
  uint64_t probe(std::string_view w, uint32_t hash, uint64_t* second) const {
    for (uint32_t s = hash & kMask; slots_[s] >= 0; s = (s + 1) & kMask) {
      const Entry& e = kLexicon[slots_[s]];
      if (e.word.size() == w.size() && memcmp(e.word.data(), w.data(), w.size()) == 0) {
        *second = e.second;
        return merged_[slots_[s]];
      }
    }
    *second = 0;
    return 0;
  }

  // The words of up to 8 bytes, with their merged classes, for lookupLetters().
  void fillShortWords() const {
    for (int16_t i : slots_) {
      if (i < 0 || kLexicon[i].word.size() > 8) continue;
      uint32_t s = hashWord(kLexicon[i].word) & lexicon_detail::kShortMask;
      while (lexicon_detail::short_words[s].word != 0) s = (s + 1) & lexicon_detail::kShortMask;
      lexicon_detail::short_words[s] = {prefix_[i], merged_[i], kLexicon[i].second};
    }
  }

  // Most words fail this first: no lexicon word starts with their two letters at their length.
  bool mayHold(char a, char b, size_t size) const {
    return size <= 31 && (lengths_[bucket(a, b, size)] & (1u << size));
  }

  // The first two letters ('a'..'z', anything else as one more) pick a bucket of lengths.
  static size_t bucket(char a, char b, size_t size) {
    auto letter = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<size_t>(c - 'a') : 26; };
    return letter(a) * 27 + (size > 1 ? letter(b) : 26);
  }
  static size_t bucket(std::string_view w) {
    return bucket(w[0], w.size() > 1 ? w[1] : 0, w.size());
  }

  static constexpr uint32_t kMask = 2047;
  std::array<uint32_t, 27 * 27> lengths_{};  // bit n: a lexicon word of length n in the bucket
  std::array<int16_t, kMask + 1> slots_;
  std::array<uint64_t, std::size(kLexicon)> merged_{};
  std::array<uint64_t, std::size(kLexicon)> prefix_{};  // the first 8 bytes, zero-padded
};

const Table kTable;  // built when the plugin loads

}  // namespace

uint64_t lookupLongLetters(const char* word, size_t size, uint32_t hash, uint64_t* second) {
  return kTable.findLetters(word, size, hash, second);
}

uint64_t lookupWord(std::string_view word, uint64_t* second) {
  return kTable.find(word, second);
}

}  // namespace sluice::injection
