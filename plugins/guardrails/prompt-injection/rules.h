// The prompt-injection rules: each a short sequence of word classes (with a few
// words allowed in between) and the weight a match adds to the score.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tokenizer.h"

namespace sluice::injection {

enum Category : uint8_t {
  kInstructionOverride,
  kJailbreakRoleplay,
  kPromptExtraction,
  kDelimiterInjection,
  kEncodedPayload,
  kCategoryCount
};

// Finding types, indexed by Category.
extern const char* const kCategoryNames[kCategoryCount];
// Words for reasons ("instruction override"), indexed by Category.
extern const char* const kCategoryWords[kCategoryCount];

struct Step {
  uint64_t classes;  // the token has one of these classes
  uint8_t gap;       // at most this many other tokens before it (after the previous step)
  uint16_t flags;    // and all of these token flags
};

struct Rule {
  Category category;
  float weight;  // in (0, 1]; matches combine as independent evidence
  bool mention;  // names a technique ("DAN", "developer mode") rather than using it
  uint8_t steps;
  Step step[5];
};

extern const Rule kRules[];
extern const size_t kRuleCount;

// Where rule `r` first matches in `tokens`: true with the first and last token index.
bool findRule(const Rule& r, const Tokens& tokens, size_t* first, size_t* last);

// The rules that may match a text whose tokens have the classes `seen`: bit i for kRules[i]
// when each of its steps' classes occurs. Most rules fail this, for a few instructions each.
uint64_t possibleRules(uint64_t seen);

}  // namespace sluice::injection
