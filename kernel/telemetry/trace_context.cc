#include "telemetry/trace_context.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
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

// Spreads the eight nibbles of x into the eight bytes of the result, most
// significant nibble in the byte memcpy writes first.
uint64_t nibbleBytes(uint32_t x) {
  uint64_t v = x;
  v = (v | (v << 16)) & 0x0000ffff0000ffffull;
  v = (v | (v << 8)) & 0x00ff00ff00ff00ffull;
  v = (v | (v << 4)) & 0x0f0f0f0f0f0f0f0full;
  // The least significant nibble is now in the lowest byte.
  return std::endian::native == std::endian::little ? __builtin_bswap64(v) : v;
}

// Each byte 0..15 becomes its lower-case hex digit: '0' + d, plus
// 'a' - '0' - 10 where d + 6 carries into bit 4 (d >= 10). No byte carries
// into the next.
uint64_t hexDigits(uint64_t nibbles) {
  uint64_t letters = ((nibbles + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
  return nibbles + 0x3030303030303030ull + letters * ('a' - '0' - 10);
}

}  // namespace

// Whole words rather than a table lookup per digit: ids are made on every
// request.
void writeHex(char* out, uint64_t v) {
  uint64_t hi = hexDigits(nibbleBytes(static_cast<uint32_t>(v >> 32)));
  uint64_t lo = hexDigits(nibbleBytes(static_cast<uint32_t>(v)));
  std::memcpy(out, &hi, 8);
  std::memcpy(out + 8, &lo, 8);
}

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
  // Sized once and filled in place: appending piece by piece checks the
  // capacity and rewrites the terminator five times.
  std::string h(trace_id.size() + span_id.size() + 7, '\0');
  char* p = h.data();
  p = std::copy(trace_id.begin(), trace_id.end(), std::copy_n("00-", 3, p));
  *p++ = '-';
  p = std::copy(span_id.begin(), span_id.end(), p);
  std::copy_n("-01", 3, p);
  return h;
}

}  // namespace sluice::telemetry
