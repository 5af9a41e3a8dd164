// The reference tokenizer for the differential test (tokenizer_test.cc).
#pragma once

#include <string_view>
#include <vector>

#include "tokenizer.h"

namespace sluice::injection::reference {

struct RefTokens {
  std::vector<Token> list;
  uint32_t words = 0;
  int template_markers = 0;
  uint64_t seen = 0;
  size_t longest_run = 0;
  int hex_pairs = 0;
  bool escapes = false;
  void clear() { *this = RefTokens{}; }
};

void tokenize(std::string_view text, RefTokens* out);

}  // namespace sluice::injection::reference
