#include "access_line.h"

#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>

#include "../common/json_text.h"

namespace sluice::access_log {
namespace {

using sink_json::sv;

// "2026-11-23T14:03:07.123Z". Records of one batch mostly share their second:
// the date and time up to the seconds are formatted once per second (per
// thread: the sink thread, or a test's).
void appendTime(std::string* out, int64_t ms) {
  thread_local int64_t cached_secs = INT64_MIN;
  thread_local char cached[32];
  thread_local size_t cached_len = 0;
  int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  if (secs != cached_secs) {
    time_t t = static_cast<time_t>(secs);
    tm parts{};
    gmtime_r(&t, &parts);
    cached_len = strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &parts);
    cached_secs = secs;
  }
  int milli = static_cast<int>(ms - secs * 1000);
  char frac[6] = {'.', static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                  static_cast<char>('0' + milli % 10), 'Z', 0};
  out->append(cached, cached_len).append(frac, 5);
}

const char* levelFor(int status) {
  return status >= 500 ? "error" : status >= 400 ? "warn" : "info";
}

// Bytes a bare logfmt value cannot hold: controls, space, " = \ and DEL.
struct QuoteTable {
  bool quote[256] = {};
  constexpr QuoteTable() {
    for (int c = 0; c <= ' '; c++) quote[c] = true;
    quote[static_cast<unsigned char>('"')] = true;
    quote[static_cast<unsigned char>('=')] = true;
    quote[static_cast<unsigned char>('\\')] = true;
    quote[0x7f] = true;
  }
};
constexpr QuoteTable kQuote;

// Writes a logfmt value at `p`, bare when it can be, else quoted with \" \\ \n and \xHH
// escaped; returns the end. Room for escapedSize(v) bytes is the caller's.
char* putLogfmtValue(char* p, std::string_view v) {
  // Copied as it is while checking whether it needs quotes: one pass for the usual value.
  bool quote = v.empty();
  for (unsigned char c : v) {
    *p++ = static_cast<char>(c);
    quote |= kQuote.quote[c];
  }
  if (!quote) return p;
  p -= v.size();
  *p++ = '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      *p++ = '\\';
      *p++ = static_cast<char>(c);
    } else if (c == '\n') {
      *p++ = '\\';
      *p++ = 'n';
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      *p++ = '\\';
      *p++ = 'x';
      *p++ = kHex[c >> 4];
      *p++ = kHex[c & 15];
    } else {
      *p++ = static_cast<char>(c);
    }
  }
  *p++ = '"';
  return p;
}

// The most putLogfmtValue() writes for `v`: every byte as \xHH, in quotes.
size_t escapedSize(std::string_view v) { return 4 * v.size() + 2; }

char* put(char* p, std::string_view s) {
  memcpy(p, s.data(), s.size());
  return p + s.size();
}

template <typename T>
std::string_view number(char (&buf)[24], T v) {
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string_view(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace

void appendLine(const sluice_record& r, Format format, std::string* out) {
  std::string_view model = r.requested_model.len ? sv(r.requested_model) : sv(r.resolved_model);
  long long taken = r.total_ms >= 0 ? std::llround(r.total_ms) : 0;
  char status_buf[24], taken_buf[24];
  std::string_view status = number(status_buf, r.status);
  std::string_view ms = number(taken_buf, taken);
  struct Field {
    std::string_view key;  // with the separator before it and the one after
    std::string_view value;
  };
  if (format == Format::Logfmt) {
    const Field fields[] = {
        {" level=", levelFor(r.status)}, {" ip=", sv(r.client_ip)}, {" tenant=", sv(r.team)},
        {" user=", sv(r.subject)},       {" model=", model},        {" method=", sv(r.method)},
        {" path=", sv(r.path)},          {" status=", status},      {" time_taken=", ms},
        {" trace_id=", sv(r.trace_id)},
    };
    out->append("time=");
    appendTime(out, r.start_ms);
    // The rest through a pointer into room for its longest form, then appended: one size
    // check for the line instead of two per field. The room is this thread's, grown (and
    // zero-filled) only when a line needs more than any before it.
    size_t room = 1;
    for (const Field& f : fields) room += f.key.size() + escapedSize(f.value);
    thread_local std::string scratch;
    if (scratch.size() < room) scratch.resize(room);
    char* p = scratch.data();
    for (const Field& f : fields) p = putLogfmtValue(put(p, f.key), f.value);
    *p++ = '\n';
    out->append(scratch.data(), static_cast<size_t>(p - scratch.data()));
    return;
  }
  out->append("{\"time\":\"");
  appendTime(out, r.start_ms);
  out->push_back('"');
  const Field fields[] = {
      {",\"level\":", levelFor(r.status)}, {",\"ip\":", sv(r.client_ip)},
      {",\"tenant\":", sv(r.team)},        {",\"user\":", sv(r.subject)},
      {",\"model\":", model},              {",\"method\":", sv(r.method)},
      {",\"path\":", sv(r.path)},
  };
  for (const Field& f : fields) {
    out->append(f.key);
    sink_json::appendString(out, f.value);
  }
  out->append(",\"status\":").append(status);
  out->append(",\"time_taken\":").append(ms);
  out->append(",\"trace_id\":");
  sink_json::appendString(out, sv(r.trace_id));
  out->push_back('}');
  out->push_back('\n');
}

}  // namespace sluice::access_log
