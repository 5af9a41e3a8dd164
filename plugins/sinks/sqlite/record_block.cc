#include "record_block.h"

#include <cstring>

namespace sluice::sqlite_sink {
namespace {

enum : uint8_t { kHasTotal = 1, kHasTtft = 2 };

void putVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void putSigned(int64_t v, std::string* out) {
  putVarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63), out);
}

void putString(std::string_view s, std::string* out) {
  putVarint(s.size(), out);
  out->append(s.data(), s.size());
}

void putNullable(bool present, std::string_view s, std::string* out) {
  if (!present) {
    out->push_back(0);
    return;
  }
  putVarint(s.size() + 1, out);
  out->append(s.data(), s.size());
}

void putDouble(double d, std::string* out) {
  char b[8];
  memcpy(b, &d, 8);
  out->append(b, 8);
}

// Reads from [p, end); every read fails once the data runs out.
struct Reader {
  const unsigned char* p;
  const unsigned char* end;
  bool ok = true;

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) break;
      unsigned char c = *p++;
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  int64_t sgned() {
    uint64_t v = varint();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  std::string_view bytes(uint64_t n) {
    if (!ok || n > static_cast<uint64_t>(end - p)) {
      ok = false;
      return {};
    }
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  std::string_view string() { return bytes(varint()); }
  bool nullable(std::string_view* s) {
    uint64_t n = varint();
    if (n == 0) {
      *s = {};
      return false;
    }
    *s = bytes(n - 1);
    return true;
  }
  double dbl() {
    std::string_view b = bytes(8);
    double d = 0;
    if (ok) memcpy(&d, b.data(), 8);
    return d;
  }
  uint8_t byte() {
    std::string_view b = bytes(1);
    return ok ? static_cast<uint8_t>(b[0]) : 0;
  }
};

uint32_t loadLength(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) | static_cast<uint32_t>(u[1]) << 8 |
         static_cast<uint32_t>(u[2]) << 16 | static_cast<uint32_t>(u[3]) << 24;
}

// The body of the record at `offset`, or false.
bool body(std::string_view data, size_t offset, Reader* r) {
  if (offset + 4 > data.size()) return false;
  uint32_t n = loadLength(data.data() + offset);
  if (n > data.size() - offset - 4) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data()) + offset + 4;
  r->p = p;
  r->end = p + n;
  return true;
}

}  // namespace

void appendKey(uint32_t key, std::string* keys) {
  char b[4] = {static_cast<char>(key), static_cast<char>(key >> 8), static_cast<char>(key >> 16),
               static_cast<char>(key >> 24)};
  keys->append(b, 4);
}

uint32_t blockKey(const unsigned char* keys, size_t i) {
  return loadLength(reinterpret_cast<const char*>(keys) + i * 4);
}

void encodeRecord(const BlockRecord& r, std::string* out) {
  size_t at = out->size();
  out->append(4, '\0');
  out->push_back(static_cast<char>((r.has_total ? kHasTotal : 0) | (r.has_ttft ? kHasTtft : 0)));
  putSigned(r.start_ms, out);
  putSigned(r.end_ms - r.start_ms, out);
  for (std::string_view s : {r.id, r.subject, r.team, r.requested_model, r.resolved_model,
                             r.provider, r.error_code, r.metadata}) {
    putString(s, out);
  }
  for (int64_t v : {r.status, r.stream, r.prompt_tokens, r.completion_tokens, r.cached_tokens,
                    r.tokens_estimated}) {
    putSigned(v, out);
  }
  putDouble(r.cost_usd, out);
  if (r.has_total) putDouble(r.total_ms, out);
  if (r.has_ttft) putDouble(r.ttft_ms, out);
  putNullable(r.has_detail, r.detail, out);
  putNullable(r.has_request_body, r.request_body, out);
  putNullable(r.has_response_body, r.response_body, out);
  putNullable(r.has_record, r.record, out);
  uint32_t n = static_cast<uint32_t>(out->size() - at - 4);
  char* p = out->data() + at;
  p[0] = static_cast<char>(n);
  p[1] = static_cast<char>(n >> 8);
  p[2] = static_cast<char>(n >> 16);
  p[3] = static_cast<char>(n >> 24);
}

bool recordOffsets(std::string_view data, std::vector<size_t>* offsets) {
  offsets->clear();
  size_t at = 0;
  while (at < data.size()) {
    if (data.size() - at < 4) return false;
    uint32_t n = loadLength(data.data() + at);
    if (n > data.size() - at - 4) return false;
    offsets->push_back(at);
    at += 4 + static_cast<size_t>(n);
  }
  return true;
}

bool recordStart(std::string_view data, size_t offset, int64_t* start_ms) {
  Reader in{nullptr, nullptr};
  if (!body(data, offset, &in)) return false;
  in.byte();
  *start_ms = in.sgned();
  return in.ok;
}

bool decodeRecord(std::string_view data, size_t offset, BlockRecord* r) {
  Reader in{nullptr, nullptr};
  if (!body(data, offset, &in)) return false;
  uint8_t flags = in.byte();
  r->has_total = flags & kHasTotal;
  r->has_ttft = flags & kHasTtft;
  r->start_ms = in.sgned();
  r->end_ms = r->start_ms + in.sgned();
  for (std::string_view* s : {&r->id, &r->subject, &r->team, &r->requested_model,
                              &r->resolved_model, &r->provider, &r->error_code, &r->metadata}) {
    *s = in.string();
  }
  for (int64_t* v : {&r->status, &r->stream, &r->prompt_tokens, &r->completion_tokens,
                     &r->cached_tokens, &r->tokens_estimated}) {
    *v = in.sgned();
  }
  r->cost_usd = in.dbl();
  r->total_ms = r->has_total ? in.dbl() : 0;
  r->ttft_ms = r->has_ttft ? in.dbl() : 0;
  r->has_detail = in.nullable(&r->detail);
  r->has_request_body = in.nullable(&r->request_body);
  r->has_response_body = in.nullable(&r->response_body);
  r->has_record = in.nullable(&r->record);
  return in.ok;
}

}  // namespace sluice::sqlite_sink
