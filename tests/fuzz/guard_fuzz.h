// Shared body of the redacting guardrails' fuzz targets (fuzz_pii, fuzz_secrets).
// Input: byte 0 picks where a stream is cut, the rest is the text. On any bytes:
//   - check() answers PASS or MUTATE with hold_bytes within the text, never FAIL;
//   - placeholders are never found again: scanning the redacted text (in the same
//     request, so new findings get new numbers) keeps every placeholder intact;
//   - a stream cut anywhere releases exactly the whole text's redaction;
//   - in block mode the reason names types only, never text from the input.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "support/fake_host.h"
#include "support/guard_driver.h"
#include "text.h"

namespace sluice::testing {

[[noreturn]] inline void fuzzFail(const char* what, std::string_view text) {
  fprintf(stderr, "invariant broken: %s\ninput (%zu bytes): %.*s\n", what, text.size(),
          static_cast<int>(text.size()), text.data());
  abort();
}

// The placeholders in `s`, in order.
inline std::vector<std::string_view> placeholders(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size(); i++) {
    if (size_t n = guardrails::placeholderAt(s, i)) {
      out.push_back(s.substr(i, n));
      i += n - 1;
    }
  }
  return out;
}

inline bool isSubsequence(const std::vector<std::string_view>& a,
                          const std::vector<std::string_view>& b) {
  size_t j = 0;
  for (std::string_view x : b) {
    if (j < a.size() && x == a[j]) j++;
  }
  return j == a.size();
}

inline void fuzzRedactingGuard(const uint8_t* data, size_t size, const char* redact_config,
                               const char* block_config) {
  if (size == 0) return;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  static FakeHost host;
  static GuardDriver redact, block;
  if (redact.instance() == nullptr) {
    std::string err;
    if (redact.create(host.table(), redact_config, &err) != SLUICE_OK) fuzzFail(err.c_str(), "");
    if (block.create(host.table(), block_config, &err) != SLUICE_OK) fuzzFail(err.c_str(), "");
  }

  GuardAnswer whole = redact.check(text);
  if (whole.status != SLUICE_OK || whole.verdict == SLUICE_VERDICT_FAIL ||
      whole.verdict == SLUICE_VERDICT_BLOCK) {
    fuzzFail("redact mode answered an error, FAIL or BLOCK", text);
  }
  if (whole.hold > whole.content.size()) fuzzFail("hold_bytes beyond the text", text);
  // Another hook, so the held tail of the first check is not put back.
  GuardAnswer again = redact.check(whole.content, SLUICE_HOOK_MCP_POST_TOOL);
  redact.endRequest();
  if (!isSubsequence(placeholders(whole.content), placeholders(again.content))) {
    fuzzFail("a placeholder was matched again", text);
  }

  size_t cut = data[0] % (text.size() + 1);
  StreamOutcome s = redact.streamSplit(text, cut);
  if (s.failed || s.bad_hold || s.blocked)
    fuzzFail("stream answered FAIL, BLOCK or a bad hold", text);
  if (s.released != whole.content)
    fuzzFail("a stream released other text than the whole check", text);

  GuardAnswer blocked = block.check(text);
  block.endRequest();
  bool found = !whole.findings.empty();
  if (found != (blocked.verdict == SLUICE_VERDICT_BLOCK)) {
    fuzzFail("block mode and redact mode disagree", text);
  }
  for (char c : blocked.reason) {
    bool allowed = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ' ' ||
                   c == ',' || (c >= 'a' && c <= 'z');
    if (!allowed) fuzzFail("a block reason with bytes that are not type names", text);
  }
}

}  // namespace sluice::testing
