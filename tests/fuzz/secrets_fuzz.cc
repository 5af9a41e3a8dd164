// libFuzzer target for the secrets guardrail's scanner and redaction (see guard_fuzz.h).
#include "guard_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sluice::testing::fuzzRedactingGuard(data, size, R"({"action": "redact"})",
                                      R"({"action": "block"})");
  return 0;
}
