// The engine behind the redacting guardrails (pii, secrets): runs a Scanner over
// a check's text and answers PASS, BLOCK (naming the types found, never the
// values) or MUTATE with typed placeholders such as "[EMAIL_1]".
//
// Per request it remembers (in the host's request_state):
//   - placeholder numbers: the same value gets the same placeholder in every
//     message, hook and stream window of the request;
//   - held tails: on streams the host holds back the last `hold_bytes` (or
//     more, for another guardrail) of what a check returned and puts them in
//     front of the next window. When a tail contains placeholders, the next
//     check finds it near the start of its text and puts the original bytes
//     back before scanning, so an entity that kept growing ("bob@example.co" +
//     "m") is scanned whole, and numbers first handed out inside the tail are
//     taken back. A stream then redacts exactly as the whole text would,
//     wherever the chunks were cut. A few tails are kept at once, one per
//     choice of a stream with several.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plugin_util.h"
#include "scanner.h"
#include "sluice/plugin.h"

namespace sluice::guardrails {

enum class Action { kRedact, kBlock };

// One check(): fills `result` (memory valid until the request's next call) and returns SLUICE_OK.
int checkWithScanner(const Scanner& scanner, Action action, const sluice_guard_input* in,
                     sluice_guard_result* result);

// request_end(): frees what checkWithScanner kept for the request.
void releaseRequestState(void* request_state);

// A guardrail that is a Scanner and an action: what its create() makes, and the vtable
// functions that serve it.
struct ScannerGuard {
  std::unique_ptr<Scanner> scanner;
  Action action;
};
int scannerGuardCheck(void* instance, const sluice_guard_input* in, sluice_guard_result* result);
void scannerGuardDestroy(void* instance);
void scannerGuardRequestEnd(void* instance, void* request_state);

// The vtable of a ScannerGuard whose create() is `create`.
constexpr sluice_guardrail_vtable scannerGuardVtable(
    decltype(sluice_guardrail_vtable::create) create) {
  return {sizeof(sluice_guardrail_vtable), create, scannerGuardDestroy, scannerGuardCheck, noCancel,
          scannerGuardRequestEnd};
}

// What every ScannerGuard's config holds: `action` (default `fallback`) and the list
// `types_key` choosing among `names`. False with *err naming the key on a bad value.
bool readScannerConfig(const char* config_json, const char* types_key, const char* const* names,
                       size_t count, Action fallback, JsonConfig* cfg, std::vector<bool>* enabled,
                       Action* action, std::string* err);

}  // namespace sluice::guardrails
