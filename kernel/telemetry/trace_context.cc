#include "telemetry/trace_context.h"

#include <cstdint>
#include <random>

#include "util/clock.h"

namespace sluice::telemetry {
namespace {

bool isLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool allZeros(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// xorshift64*: ids need to be unique, not unpredictable, and must cost no
// syscall per request.
uint64_t nextRandom() {
  thread_local uint64_t state = [] {
    std::random_device rd;
    uint64_t s = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ util::monotonicNs();
    return s ? s : 0x9e3779b97f4a7c15ull;
  }();
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

// Sixteen lower-case hex digits of v at out[0..16), a byte at a time.
void writeHex(char* out, uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int i = 7; i >= 0; i--, v >>= 8) {
    out[2 * i] = kDigits[(v >> 4) & 0xf];
    out[2 * i + 1] = kDigits[v & 0xf];
  }
}

}  // namespace

bool parseTraceparent(std::string_view h, std::string* trace_id, std::string* parent_span_id) {
  // Version 00 is exactly 55 characters; later versions may append fields.
  if (h.size() < 55 || h[2] != '-' || h[35] != '-' || h[52] != '-') return false;
  if (h.size() > 55 && h[55] != '-') return false;
  std::string_view version = h.substr(0, 2), trace = h.substr(3, 32), span = h.substr(36, 16),
                   flags = h.substr(53, 2);
  if (!isLowerHex(version) || version == "ff" || !isLowerHex(trace) || !isLowerHex(span) ||
      !isLowerHex(flags)) {
    return false;
  }
  if (version == "00" && h.size() != 55) return false;
  if (allZeros(trace) || allZeros(span)) return false;
  trace_id->assign(trace);
  parent_span_id->assign(span);
  return true;
}

void newTraceId(std::string* out) {
  char id[32];
  writeHex(id, nextRandom());
  writeHex(id + 16, nextRandom());
  out->assign(id, sizeof id);
}

void newSpanId(std::string* out) {
  char id[16];
  uint64_t v = nextRandom();
  writeHex(id, v ? v : 1);
  out->assign(id, sizeof id);
}

std::string traceparent(std::string_view trace_id, std::string_view span_id) {
  std::string h;
  h.reserve(trace_id.size() + span_id.size() + 7);
  h.append("00-").append(trace_id).append("-").append(span_id).append("-01");
  return h;
}

}  // namespace sluice::telemetry
