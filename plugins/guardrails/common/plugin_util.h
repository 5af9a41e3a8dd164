// Small helpers every built-in guardrail needs: result and error plumbing, the
// per-request state slot and reading the plugin's config block.
#pragma once

#include <cjson/cJSON.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::guardrails {

inline std::string_view view(sluice_str s) { return s.ptr ? std::string_view(s.ptr, s.len) : ""; }
inline sluice_str str(std::string_view s) { return {s.data(), s.size()}; }

// Copies `msg` into the host's error buffer, truncated and NUL-terminated.
void copyError(std::string_view msg, char* err, size_t err_len);

// A PASS result with nothing set, keeping the host's struct_size.
void resetResult(sluice_guard_result* result);

// Sets result->hold_bytes when the host's result struct has the field (ABI 1.1).
void setHoldBytes(sluice_guard_result* result, size_t hold);

// The host's per-request slot (ABI 1.1), or nullptr when the input has none.
void** requestSlot(const sluice_guard_input* in);

// Fails the check because the host gave no request state to keep results in.
int failWithoutRequestState(sluice_guard_result* result);

// cancel() of a guardrail that never answers PENDING.
inline void noCancel(void*, void*) {}

// "llm_input", "llm_output", "mcp_pre_tool", "mcp_post_tool".
const char* hookName(sluice_hook hook);

// The plugin's config block (already checked against its schema by the host, defaults filled).
class JsonConfig {
 public:
  JsonConfig() = default;
  ~JsonConfig();
  JsonConfig(const JsonConfig&) = delete;
  JsonConfig& operator=(const JsonConfig&) = delete;

  bool parse(const char* json, std::string* err);
  const cJSON* get(const char* key) const;
  std::string string(const char* key, const char* fallback) const;
  double number(const char* key, double fallback) const;
  bool boolean(const char* key, bool fallback) const;

  // Which of `names` (count of them) the string list `key` selects, into `enabled`; every
  // name when the key is absent. An unknown or repeated name, or an empty list, is an error
  // naming the item: "entities[2]: unknown type 'PASSPORT' (known: EMAIL, PHONE, ...)".
  bool selectNames(const char* key, const char* const* names, size_t count,
                   std::vector<bool>* enabled, std::string* err) const;

 private:
  cJSON* root_ = nullptr;
};

}  // namespace sluice::guardrails
