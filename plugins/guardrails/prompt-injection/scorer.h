// Scores a text for prompt injection: rule matches, chat-template markers,
// fake role turns, and instructions hidden in base64, hex, escapes, rot13 or
// reversed text (decoded and scored in turn). Matches combine as independent
// evidence: score = 1 - prod(1 - weight).
#pragma once

#include <array>
#include <string_view>

#include "rules.h"

namespace sluice::injection {

struct Score {
  double value = 0;                             // in [0, 1]
  std::array<uint16_t, kCategoryCount> hits{};  // matches per category
};

struct ScoreOptions {
  bool decode = true;  // look inside encoded text
};

Score scoreText(std::string_view text, const ScoreOptions& options);

}  // namespace sluice::injection
