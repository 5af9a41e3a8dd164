#include "record_block.h"

#include <cstddef>
#include <cstring>

namespace sluice::sqlite_sink {
namespace {

enum : uint8_t { kHasTotal = 1, kHasTtft = 2, kFieldsDetail = 4 };

std::string_view sv(sluice_str s) { return std::string_view(s.ptr ? s.ptr : "", s.len); }

// Room a string takes at most: its bytes and a varint length.
constexpr size_t kLengthRoom = 10;

// Writes into room made beforehand (a record's room is counted before it is
// written, and the string grown once): std::string appends, one per field,
// cost more than the bytes they copy.
struct Writer {
  char* p;

  void varint(uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
  }
  void sgned(int64_t v) {
    varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void bytes(std::string_view s) {
    if (!s.empty()) memcpy(p, s.data(), s.size());
    p += s.size();
  }
  void string(std::string_view s) {
    varint(s.size());
    bytes(s);
  }
  void nullable(bool present, std::string_view s) {
    if (!present) {
      *p++ = 0;
      return;
    }
    varint(s.size() + 1);
    bytes(s);
  }
  void dbl(double d) {
    memcpy(p, &d, 8);
    p += 8;
  }
};

// Grows `out` by `room` and returns a writer at its old end; finish() cuts
// it back to what was written.
Writer grow(std::string* out, size_t room) {
  size_t at = out->size();
  out->resize(at + room);
  return Writer{out->data() + at};
}

void finish(std::string* out, const Writer& w) { out->resize(static_cast<size_t>(w.p - out->data())); }

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
  const std::string_view strings[] = {r.id,       r.subject,         r.team,
                                      r.requested_model, r.resolved_model, r.provider,
                                      r.error_code,      r.metadata};
  const std::string_view nullables[] = {r.detail, r.request_body, r.response_body, r.record};
  size_t room = 4 + 1 + 2 * 10 + 6 * 10 + 3 * 8;
  for (std::string_view s : strings) room += kLengthRoom + s.size();
  for (std::string_view s : nullables) room += kLengthRoom + s.size();
  size_t at = out->size();
  Writer w = grow(out, room);
  w.p += 4;  // the length, below
  *w.p++ = static_cast<char>((r.has_total ? kHasTotal : 0) | (r.has_ttft ? kHasTtft : 0) |
                             (r.fields_detail ? kFieldsDetail : 0));
  w.sgned(r.start_ms);
  w.sgned(r.end_ms - r.start_ms);
  for (std::string_view s : strings) w.string(s);
  for (int64_t v : {r.status, r.stream, r.prompt_tokens, r.completion_tokens, r.cached_tokens,
                    r.tokens_estimated}) {
    w.sgned(v);
  }
  w.dbl(r.cost_usd);
  if (r.has_total) w.dbl(r.total_ms);
  if (r.has_ttft) w.dbl(r.ttft_ms);
  w.nullable(r.has_detail, r.detail);
  w.nullable(r.has_request_body, r.request_body);
  w.nullable(r.has_response_body, r.response_body);
  w.nullable(r.has_record, r.record);
  finish(out, w);
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
  r->fields_detail = flags & kFieldsDetail;
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

void encodeFields(const sluice_record& r, std::string* out) {
  const sluice_str strings[] = {r.method,  r.path,           r.client_ip,    r.trace_id,
                                r.span_id, r.parent_span_id, r.provider_type};
  uint32_t attempts = hasAttempts(r) ? r.attempt_count : 0;
  size_t room = 4 * 10 + 1 + 6 * 8;
  for (sluice_str s : strings) room += kLengthRoom + s.len;
  for (size_t i = 0; i < r.applied_rule_count; i++) room += kLengthRoom + r.applied_rules[i].len;
  for (uint32_t i = 0; i < attempts; i++) {
    room += 3 * kLengthRoom + 8 + r.attempts[i].target.len + r.attempts[i].error.len;
  }
  for (size_t i = 0; i < r.event_count; i++) {
    const sluice_record_event& e = r.events[i];
    room += 3 * kLengthRoom + e.rule.len + e.kind.len + e.action.len;
  }
  for (size_t i = 0; i < r.finding_count; i++) {
    const sluice_record_finding& f = r.findings[i];
    room += 5 * kLengthRoom + f.guardrail.len + f.hook.len + f.type.len + f.action.len;
  }
  Writer w = grow(out, room);
  for (sluice_str s : strings) w.string(sv(s));
  w.varint(r.applied_rule_count);
  for (size_t i = 0; i < r.applied_rule_count; i++) w.string(sv(r.applied_rules[i]));
  w.varint(attempts);
  for (uint32_t i = 0; i < attempts; i++) {
    const sluice_record_attempt& a = r.attempts[i];
    w.string(sv(a.target));
    w.sgned(a.status);
    w.string(sv(a.error));
    w.dbl(a.duration_ms);
  }
  w.varint(r.event_count);
  for (size_t i = 0; i < r.event_count; i++) {
    const sluice_record_event& e = r.events[i];
    w.string(sv(e.rule));
    w.string(sv(e.kind));
    w.string(sv(e.action));
  }
  const double phases[] = {r.auth_ms,     r.guard_in_ms, r.route_ms,
                           r.upstream_ms, r.tpot_ms,     r.guard_out_ms};
  char* ran = w.p++;
  *ran = 0;
  for (int i = 0; i < 6; i++) {
    if (phases[i] < 0) continue;
    *ran = static_cast<char>(*ran | 1 << i);
    w.dbl(phases[i]);
  }
  w.varint(r.finding_count);
  for (size_t i = 0; i < r.finding_count; i++) {
    const sluice_record_finding& f = r.findings[i];
    w.string(sv(f.guardrail));
    w.string(sv(f.hook));
    w.string(sv(f.type));
    w.varint(f.count);
    w.string(sv(f.action));
  }
  finish(out, w);
}

namespace {
sluice_str strOf(std::string_view s) { return sluice_str{s.data() ? s.data() : "", s.size()}; }
}  // namespace

void RecordLists::clear() {
  rules.clear();
  attempts.clear();
  events.clear();
  findings.clear();
}

void RecordLists::setIn(sluice_record* r) const {
  r->applied_rules = rules.data();
  r->applied_rule_count = rules.size();
  r->attempts = attempts.data();
  r->attempt_count = static_cast<uint32_t>(attempts.size());
  r->events = events.data();
  r->event_count = events.size();
  r->findings = findings.data();
  r->finding_count = findings.size();
}

bool FieldsReader::read(std::string_view fields, sluice_record* r) {
  const auto* p = reinterpret_cast<const unsigned char*>(fields.data());
  Reader in{p, p + fields.size()};
  for (sluice_str* s : {&r->method, &r->path, &r->client_ip, &r->trace_id, &r->span_id,
                        &r->parent_span_id, &r->provider_type}) {
    *s = strOf(in.string());
  }
  lists_.clear();
  for (uint64_t n = in.varint(); in.ok && n > 0; n--) lists_.rules.push_back(strOf(in.string()));
  for (uint64_t n = in.varint(); in.ok && n > 0; n--) {
    sluice_record_attempt a{};
    a.target = strOf(in.string());
    a.status = static_cast<int>(in.sgned());
    a.error = strOf(in.string());
    a.duration_ms = in.dbl();
    lists_.attempts.push_back(a);
  }
  for (uint64_t n = in.varint(); in.ok && n > 0; n--) {
    sluice_record_event e{};
    e.rule = strOf(in.string());
    e.kind = strOf(in.string());
    e.action = strOf(in.string());
    lists_.events.push_back(e);
  }
  uint8_t ran = in.byte();
  double* phases[] = {&r->auth_ms,     &r->guard_in_ms, &r->route_ms,
                      &r->upstream_ms, &r->tpot_ms,     &r->guard_out_ms};
  for (int i = 0; i < 6; i++) *phases[i] = ran & (1 << i) ? in.dbl() : -1;
  for (uint64_t n = in.varint(); in.ok && n > 0; n--) {
    sluice_record_finding f{};
    f.guardrail = strOf(in.string());
    f.hook = strOf(in.string());
    f.type = strOf(in.string());
    f.count = static_cast<uint32_t>(in.varint());
    f.action = strOf(in.string());
    lists_.findings.push_back(f);
  }
  lists_.setIn(r);
  return in.ok;
}

}  // namespace sluice::sqlite_sink
