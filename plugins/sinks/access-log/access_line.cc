#include "access_line.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <string_view>

#include "../common/json_text.h"

namespace sluice::access_log {
namespace {

using sink_json::sv;

// "2026-11-23T14:03:07.123Z"
void appendTime(std::string* out, int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  n += snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  out->append(buf, n);
}

const char* levelFor(int status) {
  return status >= 500 ? "error" : status >= 400 ? "warn" : "info";
}

bool needsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

// A logfmt value: bare when it can be, else quoted with \" \\ \n escaped.
void appendLogfmtValue(std::string* out, std::string_view v) {
  if (!needsQuotes(v)) {
    out->append(v);
    return;
  }
  out->push_back('"');
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back('"');
}

}  // namespace

void appendLine(const sluice_record& r, Format format, std::string* out) {
  std::string time;
  appendTime(&time, r.start_ms);
  std::string_view model = r.requested_model.len ? sv(r.requested_model) : sv(r.resolved_model);
  long long taken = r.total_ms >= 0 ? std::llround(r.total_ms) : 0;
  struct Field {
    const char* key;
    std::string_view value;
  };
  std::string status = std::to_string(r.status);
  std::string ms = std::to_string(taken);
  const Field fields[] = {
      {"time", time},           {"level", levelFor(r.status)}, {"ip", sv(r.client_ip)},
      {"tenant", sv(r.team)},   {"user", sv(r.subject)},       {"model", model},
      {"method", sv(r.method)}, {"path", sv(r.path)},          {"status", status},
      {"time_taken", ms},       {"trace_id", sv(r.trace_id)},
  };
  if (format == Format::Logfmt) {
    bool first = true;
    for (const Field& f : fields) {
      if (!first) out->push_back(' ');
      first = false;
      out->append(f.key).push_back('=');
      appendLogfmtValue(out, f.value);
    }
  } else {
    out->push_back('{');
    bool first = true;
    for (const Field& f : fields) {
      if (!first) out->push_back(',');
      first = false;
      out->push_back('"');
      out->append(f.key).append("\":");
      bool number = f.key == std::string_view("status") || f.key == std::string_view("time_taken");
      if (number) {
        out->append(f.value);
      } else {
        sink_json::appendString(out, f.value);
      }
    }
    out->push_back('}');
  }
  out->push_back('\n');
}

}  // namespace sluice::access_log
