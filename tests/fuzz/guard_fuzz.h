// Shared body of the redacting guardrails' fuzz targets (fuzz_pii, fuzz_secrets).
// Input: byte 0 picks where a stream is cut, the rest is the text. On any bytes:
//   - check() answers PASS or MUTATE with hold_bytes within the text, never FAIL;
//   - the redacted text holds nothing more to redact (placeholders never match,
//     and no part of a value is left behind);
//   - a stream cut anywhere releases exactly the whole text's redaction;
//   - in block mode the reason names types only, never text from the input.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "support/fake_host.h"
#include "support/guard_driver.h"

namespace sluice::testing {

[[noreturn]] inline void fuzzFail(const char* what, std::string_view text) {
  fprintf(stderr, "invariant broken: %s\ninput (%zu bytes): %.*s\n", what, text.size(),
          static_cast<int>(text.size()), text.data());
  abort();
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
  redact.endRequest();
  if (whole.status != SLUICE_OK || whole.verdict == SLUICE_VERDICT_FAIL ||
      whole.verdict == SLUICE_VERDICT_BLOCK) {
    fuzzFail("redact mode answered an error, FAIL or BLOCK", text);
  }
  if (whole.hold > whole.content.size()) fuzzFail("hold_bytes beyond the text", text);

  GuardAnswer again = redact.check(whole.content);
  redact.endRequest();
  if (again.verdict != SLUICE_VERDICT_PASS) fuzzFail("the redacted text still has findings", text);

  size_t cut = data[0] % (text.size() + 1);
  StreamOutcome s = redact.streamSplit(text, cut);
  if (s.failed || s.bad_hold || s.blocked) fuzzFail("stream answered FAIL, BLOCK or a bad hold", text);
  if (s.released != whole.content) fuzzFail("a stream released other text than the whole check", text);

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
