// Numbers written with separators ("+44 20 7946 0958", "4111-1111-1111-1111",
// "078-05-1120", "192.0.2.1"): one run of digit groups is read once and then
// classified, a prefix of groups at a time, as phone, card, SSN or IPv4.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "scanner.h"

namespace sluice::pii {

// Reads the run of digit groups starting at text[at] (a digit, '+' or '(' at a word start),
// appends what it holds to `out` for the enabled types (bitmask by Type), and lowers *pending
// when the run reaches the end of the text. Returns where scanning goes on (> at).
size_t scanNumberRun(std::string_view text, size_t at, uint32_t enabled,
                     std::vector<guardrails::Match>* out, size_t* pending);

}  // namespace sluice::pii
