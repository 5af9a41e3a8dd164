// clickhouse sink: the request log for many replicas. Records are inserted
// in batches over ClickHouse's HTTP interface (JSONEachRow) into a table the
// sink creates. While ClickHouse cannot be reached, rows wait in a bounded
// buffer (past it they are dropped and counted) and the sink retries every
// second; once the table answers again, inserts resume.
#include <cjson/cJSON.h>

#include <cstdio>
#include <string>

#include "../common/batch_views.h"
#include "../common/config_read.h"
#include "../common/http_poster.h"
#include "row_encoder.h"
#include "sluice/plugin.h"

namespace sluice::clickhouse_sink {
namespace {

const sluice_config_key kConfig[] = {
    {"url", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr,
     "ClickHouse HTTP interface, http://host:8123"},
    {"database", SLUICE_CFG_STRING, 0, "\"default\"", 0, 0, nullptr, nullptr, "database"},
    {"table", SLUICE_CFG_STRING, 0, "\"sluice_requests\"", 0, 0, nullptr, nullptr,
     "table (created when missing)"},
    {"user", SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, "ClickHouse user"},
    {"password", SLUICE_CFG_STRING, SLUICE_CFG_SECRET, nullptr, 0, 0, nullptr, nullptr,
     "ClickHouse password"},
    {"create_table", SLUICE_CFG_BOOL, 0, "true", 0, 0, nullptr, nullptr,
     "create the table when it is missing"},
    {"timeout_ms", SLUICE_CFG_INT, 0, "10000", 1, 600000, nullptr, nullptr, "per insert"},
    {"max_in_flight", SLUICE_CFG_INT, 0, "4", 1, 1024, nullptr, nullptr,
     "inserts under way at once"},
    {"max_buffer_records", SLUICE_CFG_INT, 0, "10000", 0, 10000000, nullptr, nullptr,
     "rows kept while ClickHouse is unreachable; more are dropped and counted"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

constexpr uint64_t kRetryMs = 1000;

bool validName(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

std::string urlEncode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

struct Sink {
  explicit Sink(const sluice_host* h) : host(h), poster(h, "clickhouse") {}
  const sluice_host* host;
  sink_http::HttpPoster poster;
  sluice_worker* worker = nullptr;
  std::string base_url, insert_url, create_sql;
  sink_http::Headers headers;
  bool create_table = true;
  bool ready = false;     // the table answers: inserts go out
  bool creating = false;  // a CREATE TABLE is under way
  sluice_timer* retry = nullptr;
  uint64_t max_buffer = 10000;
  std::string rows;  // JSONEachRow lines not sent yet
  uint64_t row_count = 0;
};

void ensureTable(Sink* s);

void scheduleRetry(Sink* s) {
  if (s->retry || !s->worker) return;
  s->retry = s->host->timer_start(
      s->worker, kRetryMs,
      [](void* user) {
        auto* sink = static_cast<Sink*>(user);
        sink->retry = nullptr;
        ensureTable(sink);
      },
      s);
}

void send(Sink* s) {
  if (!s->ready || s->row_count == 0 || s->poster.busy()) return;  // rows wait (bounded)
  std::string body;
  body.swap(s->rows);
  uint64_t n = s->row_count;
  s->row_count = 0;
  s->poster.post(s->insert_url, s->headers, body, n, [s](int status, const std::string&) {
    if (status >= 200 && status < 300) return;
    // ClickHouse went away, or came back without the table: find out again.
    if (s->create_table) s->ready = false;
    scheduleRetry(s);
  });
}

void ensureTable(Sink* s) {
  if (s->ready || s->creating) return;
  if (!s->create_table) {
    s->ready = true;
    send(s);
    return;
  }
  s->creating = true;
  bool started = s->poster.post(s->base_url + "/", s->headers, s->create_sql, 0,
                                [s](int status, const std::string&) {
                                  s->creating = false;
                                  if (status >= 200 && status < 300) {
                                    s->ready = true;
                                    send(s);
                                  } else {
                                    scheduleRetry(s);
                                  }
                                });
  if (!started) {  // every slot busy: try again shortly
    s->creating = false;
    scheduleRetry(s);
  }
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  cJSON* cfg = cJSON_Parse(config_json);
  auto* s = new Sink(host);
  std::string url = sink_config::str(cfg, "url");
  while (!url.empty() && url.back() == '/') url.pop_back();
  std::string database = sink_config::str(cfg, "database", "default");
  std::string table = sink_config::str(cfg, "table", "sluice_requests");
  std::string user = sink_config::str(cfg, "user");
  std::string password = sink_config::str(cfg, "password");
  s->create_table = sink_config::boolean(cfg, "create_table", true);
  s->max_buffer = static_cast<uint64_t>(sink_config::integer(cfg, "max_buffer_records", 10000));
  std::string why;
  s->poster.configure(cfg, 4, &s->headers, &why);  // no `headers` key: cannot fail
  cJSON_Delete(cfg);
  if (!sink_http::isHttpUrl(url)) {
    why = "url must be an http:// or https:// URL";
  } else if (!validName(database)) {
    why = "database '" + database + "' must be letters, digits and _";
  } else if (!validName(table)) {
    why = "table '" + table + "' must be letters, digits and _";
  }
  if (!why.empty()) {
    snprintf(err, err_len, "%s", why.c_str());
    delete s;
    return SLUICE_ERR_CONFIG;
  }
  s->base_url = url;
  s->insert_url =
      url + "/?query=" + urlEncode("INSERT INTO " + database + "." + table + " FORMAT JSONEachRow");
  s->create_sql = createTableSql(database, table);
  if (!user.empty()) s->headers.emplace_back("X-ClickHouse-User", user);
  if (!password.empty()) s->headers.emplace_back("X-ClickHouse-Key", password);
  s->headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  *instance = s;
  return SLUICE_OK;
}

void destroy(void* instance) {
  auto* s = static_cast<Sink*>(instance);
  if (s->retry) s->host->timer_cancel(s->retry);
  s->poster.addDropped(s->row_count);
  delete s;
}

void attach(void* instance, sluice_worker* worker) {
  auto* s = static_cast<Sink*>(instance);
  s->worker = worker;
  s->poster.attach(worker);
  ensureTable(s);
}

int write(void* instance, const sluice_record_batch* batch) {
  auto* s = static_cast<Sink*>(instance);
  if (!sink_batch::hasViews(batch)) return SLUICE_ERR_UNSUPPORTED;
  for (size_t i = 0; i < batch->count; i++) {
    if (s->row_count >= s->max_buffer) {
      s->poster.addDropped(batch->count - i);
      s->poster.complain("max_buffer_records rows wait for ClickHouse: dropping new ones");
      break;
    }
    appendRow(batch->views[i], &s->rows);
    s->row_count++;
  }
  return SLUICE_OK;
}

// One insert per flush (the kernel flushes after each round of batches).
void flush(void* instance) { send(static_cast<Sink*>(instance)); }

uint64_t dropped(void* instance) { return static_cast<Sink*>(instance)->poster.dropped(); }

const sluice_sink_vtable kVtable = {
    sizeof(sluice_sink_vtable),
    create,
    destroy,
    write,
    flush,
    attach,
    nullptr /* event */,
    nullptr /* query */,
    dropped,
    0 /* flags: its rows are the record JSON */,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_SINK,
    "clickhouse",
    "1.0.0",
    "request log in ClickHouse: batched JSONEachRow inserts into a table it creates",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::clickhouse_sink

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::clickhouse_sink::kDescriptor;
}
