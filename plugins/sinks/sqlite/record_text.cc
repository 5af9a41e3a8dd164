#include "record_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace sluice::sqlite_sink {
namespace {

std::string_view sv(sluice_str s) { return std::string_view(s.ptr ? s.ptr : "", s.len); }

// Bytes a JSON string literal cannot hold as they are.
constexpr std::array<bool, 256> kEscaped = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; c++) t[c] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

// The first byte of s from `at` on that needs escaping, or s.size(); eight
// bytes per test, as most strings (ids, names, paths) have none.
size_t nextEscaped(std::string_view s, size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (at + 8 <= s.size()) {
    unsigned hit = 0;
    for (size_t k = 0; k < 8; k++) hit |= static_cast<unsigned>(kEscaped[p[at + k]]);
    if (hit) break;
    at += 8;
  }
  while (at < s.size() && !kEscaped[p[at]]) at++;
  return at;
}

// A JSON string literal, escaped as the kernel's record JSON escapes it.
void appendString(std::string* out, std::string_view s) {
  out->push_back('"');
  size_t run = 0;
  for (size_t i = nextEscaped(s, 0); i < s.size(); i = nextEscaped(s, i + 1)) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        char buf[8];
        snprintf(buf, sizeof buf, "\\u%04x", c);
        out->append(buf);
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

// The kernel's times are whole microseconds in milliseconds ("12.5", "0.031"):
// written from integers, far cheaper than a shortest-double search, and read
// back as the same double. Null for any other value.
char* writeMicros(char* out, double ms) {
  if (!(ms >= 0 && ms < 1e12)) return nullptr;
  auto us = static_cast<uint64_t>(ms * 1000.0 + 0.5);
  if (static_cast<double>(us) / 1000.0 != ms) return nullptr;
  out = std::to_chars(out, out + 20, us / 1000).ptr;
  if (uint64_t frac = us % 1000) {
    *out++ = '.';
    *out++ = static_cast<char>('0' + frac / 100);
    if (frac % 100) *out++ = static_cast<char>('0' + frac / 10 % 10);
    if (frac % 10) *out++ = static_cast<char>('0' + frac % 10);
  }
  return out;
}

// Keys and values with commas where they belong.
class Writer {
 public:
  enum Text { kRecordJson, kDetail };
  Writer(std::string* out, Text text) : out_(out), detail_(text == kDetail) {}

  void key(std::string_view k) {  // ,"k": in one append
    char buf[48];
    size_t n = 0;
    if (need_comma_) buf[n++] = ',';
    buf[n++] = '"';
    size_t len = std::min(k.size(), sizeof buf - 4);  // keys are short literals
    memcpy(buf + n, k.data(), len);
    n += len;
    buf[n++] = '"';
    buf[n++] = ':';
    out_->append(buf, n);
    need_comma_ = true;
  }
  void open(char c) {
    out_->push_back(c);
    need_comma_ = false;
  }
  void close(char c) {
    out_->push_back(c);
    need_comma_ = true;
  }
  void item() {
    if (need_comma_) out_->push_back(',');
    need_comma_ = true;
  }
  // Empty strings are null: "not known" rather than "known to be empty".
  void str(std::string_view k, sluice_str v) {
    key(k);
    if (v.len == 0) {
      out_->append("null");
    } else {
      appendString(out_, sv(v));
    }
  }
  // Only when known: what `detail` leaves out reads back as empty.
  void strIfSet(std::string_view k, sluice_str v) {
    if (v.len == 0) return;
    key(k);
    appendString(out_, sv(v));
  }
  void integer(std::string_view k, int64_t v) {
    key(k);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_->append(buf, r.ptr);
  }
  // Text that reads back as the same double: in `detail`, times as written by
  // writeMicros; in record JSON, the shortest, as the kernel writes it.
  void real(std::string_view k, double v) {
    key(k);
    char buf[32];
    char* end = detail_ ? writeMicros(buf, v) : nullptr;
    if (!end) end = std::to_chars(buf, buf + sizeof buf, v).ptr;
    out_->append(buf, end);
  }
  void ms(std::string_view k, double v) {  // phase times to the microsecond
    if (v < 0) return;
    key(k);
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
    out_->append(buf, r.ptr);
  }
  void realIfRan(std::string_view k, double v) {
    if (v >= 0) real(k, v);
  }
  void boolean(std::string_view k, bool v) {
    key(k);
    out_->append(v ? "true" : "false");
  }
  std::string* out() { return out_; }

 private:
  std::string* out_;
  bool detail_;
  bool need_comma_ = false;
};

void appendAttempts(Writer& w, const sluice_record& r) {
  if (!hasAttempts(r)) return;
  for (uint32_t i = 0; i < r.attempt_count; i++) {
    const sluice_record_attempt& a = r.attempts[i];
    w.item();
    w.open('{');
    w.str("target", a.target);
    w.integer("status", a.status);
    w.str("error", a.error);
    w.real("duration_ms", a.duration_ms);
    w.close('}');
  }
}

void appendEvents(Writer& w, const sluice_record& r) {
  for (size_t i = 0; i < r.event_count; i++) {
    const sluice_record_event& e = r.events[i];
    w.item();
    w.open('{');
    w.str("rule", e.rule);
    w.str("kind", e.kind);
    w.str("action", e.action);
    w.close('}');
  }
}

void appendFindings(Writer& w, const sluice_record& r) {
  for (size_t i = 0; i < r.finding_count; i++) {
    const sluice_record_finding& f = r.findings[i];
    w.item();
    w.open('{');
    w.str("guardrail", f.guardrail);
    w.str("hook", f.hook);
    w.str("type", f.type);
    w.integer("count", f.count);
    w.str("action", f.action);
    w.close('}');
  }
}

void appendRules(Writer& w, const sluice_record& r) {
  for (size_t i = 0; i < r.applied_rule_count; i++) {
    w.item();
    appendString(w.out(), sv(r.applied_rules[i]));
  }
}

// Reading `detail` back.
sluice_str strOf(const cJSON* item) {
  if (!cJSON_IsString(item)) return sluice_str{"", 0};
  return sluice_str{item->valuestring, strlen(item->valuestring)};
}

sluice_str member(const cJSON* o, const char* key) {
  return strOf(cJSON_GetObjectItemCaseSensitive(o, key));
}

double number(const cJSON* o, const char* key, double otherwise) {
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(item) ? item->valuedouble : otherwise;
}

}  // namespace

void appendDetail(const sluice_record& r, std::string* out) {
  Writer w(out, Writer::kDetail);
  w.open('{');
  w.strIfSet("method", r.method);
  w.strIfSet("path", r.path);
  w.strIfSet("client_ip", r.client_ip);
  w.strIfSet("trace_id", r.trace_id);
  w.strIfSet("span_id", r.span_id);
  w.strIfSet("parent_span_id", r.parent_span_id);
  w.strIfSet("provider_type", r.provider_type);
  if (r.applied_rule_count) {
    w.key("applied_rules");
    w.open('[');
    appendRules(w, r);
    w.close(']');
  }
  if (hasAttempts(r) && r.attempt_count) {
    w.key("attempts");
    w.open('[');
    appendAttempts(w, r);
    w.close(']');
  }
  if (r.event_count) {
    w.key("events");
    w.open('[');
    appendEvents(w, r);
    w.close(']');
  }
  // total_ms and ttft_ms have columns of their own.
  w.realIfRan("auth_ms", r.auth_ms);
  w.realIfRan("guard_in_ms", r.guard_in_ms);
  w.realIfRan("route_ms", r.route_ms);
  w.realIfRan("upstream_ms", r.upstream_ms);
  w.realIfRan("tpot_ms", r.tpot_ms);
  w.realIfRan("guard_out_ms", r.guard_out_ms);
  if (r.finding_count) {
    w.key("findings");
    w.open('[');
    appendFindings(w, r);
    w.close(']');
  }
  w.close('}');
}

void appendRecordJson(const sluice_record& r, std::string* out) {
  Writer w(out, Writer::kRecordJson);
  w.open('{');
  w.integer("schema_version", 1);
  w.str("id", r.id);
  w.integer("start_ms", r.start_ms);
  w.integer("end_ms", r.end_ms);
  w.str("method", r.method);
  w.str("path", r.path);
  w.str("client_ip", r.client_ip);
  w.str("trace_id", r.trace_id);
  w.str("span_id", r.span_id);
  w.str("parent_span_id", r.parent_span_id);
  w.str("subject", r.subject);
  w.str("team", r.team);
  w.key("metadata");
  w.open('{');
  for (size_t i = 0; i < r.metadata_count; i++) {
    w.item();
    appendString(out, sv(r.metadata[i].name));
    out->push_back(':');
    appendString(out, sv(r.metadata[i].value));
  }
  w.close('}');
  w.str("requested_model", r.requested_model);
  w.str("resolved_model", r.resolved_model);
  w.str("provider", r.provider);
  w.str("provider_type", r.provider_type);
  w.key("applied_rules");
  w.open('[');
  appendRules(w, r);
  w.close(']');
  w.key("attempts");
  w.open('[');
  appendAttempts(w, r);
  w.close(']');
  w.key("events");
  w.open('[');
  appendEvents(w, r);
  w.close(']');
  w.integer("status", r.status);
  w.str("error_code", r.error_code);
  w.boolean("stream", r.stream != 0);
  w.key("usage");
  w.open('{');
  w.integer("prompt_tokens", r.prompt_tokens);
  w.integer("completion_tokens", r.completion_tokens);
  w.integer("cached_tokens", r.cached_tokens);
  w.boolean("estimated", r.tokens_estimated != 0);
  w.close('}');
  w.real("cost_usd", r.cost_usd);
  w.key("phases");
  w.open('{');
  w.ms("auth_ms", r.auth_ms);
  w.ms("guard_in_ms", r.guard_in_ms);
  w.ms("route_ms", r.route_ms);
  w.ms("upstream_ms", r.upstream_ms);
  w.ms("ttft_ms", r.ttft_ms);
  w.ms("tpot_ms", r.tpot_ms);
  w.ms("guard_out_ms", r.guard_out_ms);
  w.ms("total_ms", r.total_ms);
  w.close('}');
  w.key("findings");
  w.open('[');
  appendFindings(w, r);
  w.close(']');
  if (hasBodies(r)) {
    w.key("request_body");
    appendString(out, sv(r.request_body));
    w.key("response_body");
    appendString(out, sv(r.response_body));
  }
  w.close('}');
}

bool DetailReader::read(const char* detail, size_t len, sluice_record* r) {
  cJSON_Delete(root_);
  root_ = cJSON_ParseWithLength(detail, len);
  if (!cJSON_IsObject(root_)) return false;
  r->method = member(root_, "method");
  r->path = member(root_, "path");
  r->client_ip = member(root_, "client_ip");
  r->trace_id = member(root_, "trace_id");
  r->span_id = member(root_, "span_id");
  r->parent_span_id = member(root_, "parent_span_id");
  r->provider_type = member(root_, "provider_type");
  r->auth_ms = number(root_, "auth_ms", -1);
  r->guard_in_ms = number(root_, "guard_in_ms", -1);
  r->route_ms = number(root_, "route_ms", -1);
  r->upstream_ms = number(root_, "upstream_ms", -1);
  r->tpot_ms = number(root_, "tpot_ms", -1);
  r->guard_out_ms = number(root_, "guard_out_ms", -1);

  const cJSON* item = nullptr;
  lists_.clear();
  cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root_, "applied_rules")) {
    lists_.rules.push_back(strOf(item));
  }
  cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root_, "attempts")) {
    lists_.attempts.push_back({member(item, "target"),
                               static_cast<int>(number(item, "status", 0)), member(item, "error"),
                               number(item, "duration_ms", 0)});
  }
  cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root_, "events")) {
    lists_.events.push_back({member(item, "rule"), member(item, "kind"), member(item, "action")});
  }
  cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(root_, "findings")) {
    lists_.findings.push_back({member(item, "guardrail"), member(item, "hook"),
                               member(item, "type"),
                               static_cast<uint32_t>(number(item, "count", 0)),
                               member(item, "action")});
  }
  lists_.setIn(r);
  return true;
}

}  // namespace sluice::sqlite_sink
