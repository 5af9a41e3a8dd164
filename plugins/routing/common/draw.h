// What the routing strategies share: random draws that are safe to take from
// every worker thread at once (order() runs on all of them), and that a
// sticky session key makes repeatable, so one session always draws the same
// numbers (on every replica too).
#pragma once

#include <cstdint>
#include <cstring>

#include "sluice/plugin.h"

namespace sluice::routing {

// splitmix64: a well-mixed 64-bit step.
inline uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t fnv1a(sluice_str s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < s.len; i++) {
    h ^= static_cast<unsigned char>(s.ptr[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

// The numbers of one order() call.
class Draw {
 public:
  Draw(const sluice_host* host, sluice_str sticky_key) {
    if (sticky_key.len) {
      state_ = fnv1a(sticky_key);
      return;
    }
    // One generator per thread, seeded once from the clock and its address.
    thread_local uint64_t thread_state = 0;
    if (thread_state == 0) {
      uint64_t now = host && host->monotonic_ns ? host->monotonic_ns() : 0;
      thread_state = mix(now ^ reinterpret_cast<uintptr_t>(&thread_state)) | 1;
    }
    thread_state = mix(thread_state);
    state_ = thread_state;
  }
  uint64_t next() { return state_ = mix(state_); }
  // Uniform in [0, n): the modulo bias is below 2^-40 for the n routing uses.
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }

 private:
  uint64_t state_;
};

inline void setError(char* err, size_t err_len, const char* message) {
  if (!err || err_len == 0) return;
  size_t n = strlen(message);
  if (n >= err_len) n = err_len - 1;
  memcpy(err, message, n);
  err[n] = '\0';
}

// Whether the host's stats carry the 1.1 fields (sla_tpot_ms, tpot_samples_3m).
inline bool hasSlaFields(const sluice_target_stats& t) {
  return t.struct_size >= offsetof(sluice_target_stats, tpot_samples_3m) + sizeof(uint32_t);
}

}  // namespace sluice::routing
