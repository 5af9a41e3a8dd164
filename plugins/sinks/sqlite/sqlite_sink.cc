// sqlite sink: the embedded request log (one file, WAL), with retention by
// age and by row count; it answers /admin/requests, /admin/requests/{id} and
// /admin/analytics.
#include <cjson/cJSON.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "../common/batch_views.h"
#include "request_store.h"
#include "sluice/plugin.h"
#include "store_query.h"

namespace sluice::sqlite_sink {
namespace {

const sluice_config_key kConfig[] = {
    {"path", SLUICE_CFG_STRING, SLUICE_CFG_REQUIRED, nullptr, 0, 0, nullptr, nullptr,
     "database file (created when missing)"},
    {"retention_days", SLUICE_CFG_INT, 0, "30", 0, 36500, nullptr, nullptr,
     "delete records older than this (checked once a minute, whole blocks: a block goes "
     "when its newest record is this old); 0 keeps them"},
    {"max_rows", SLUICE_CFG_INT, 0, "1000000", 0, 1e12, nullptr, nullptr,
     "keep at most this many records, the newest (trimmed in runs below it); 0 for no cap"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

struct Sink {
  const sluice_host* host = nullptr;
  RequestStore store;
  uint64_t uncommitted = 0;  // rows since the last commit
  std::atomic<uint64_t> dropped{0};
  std::string last_error;  // logged once until it changes
};

void complain(Sink* s, const std::string& why) {
  if (why == s->last_error) return;
  s->last_error = why;
  s->host->log(SLUICE_LOG_ERROR, "sqlite", why.c_str());
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  cJSON* cfg = cJSON_Parse(config_json);
  StoreOptions options;
  const cJSON* path = cJSON_GetObjectItemCaseSensitive(cfg, "path");
  if (cJSON_IsString(path)) options.path = path->valuestring;
  const cJSON* days = cJSON_GetObjectItemCaseSensitive(cfg, "retention_days");
  if (cJSON_IsNumber(days)) options.retention_days = static_cast<int64_t>(days->valuedouble);
  const cJSON* rows = cJSON_GetObjectItemCaseSensitive(cfg, "max_rows");
  if (cJSON_IsNumber(rows)) options.max_rows = static_cast<int64_t>(rows->valuedouble);
  cJSON_Delete(cfg);
  if (options.path.empty()) {
    snprintf(err, err_len, "path must not be empty");
    return SLUICE_ERR_CONFIG;
  }
  // No allocation statistics: they take a global mutex on every SQLite
  // malloc and free. Only takes effect before SQLite's first use in the
  // process (later calls are refused, harmlessly).
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  auto* s = new Sink();
  s->host = host;
  std::string why;
  if (!s->store.open(options, &why)) {
    snprintf(err, err_len, "%s", why.c_str());
    delete s;
    return SLUICE_ERR_CONFIG;
  }
  *instance = s;
  return SLUICE_OK;
}

void destroy(void* instance) { delete static_cast<Sink*>(instance); }

int write(void* instance, const sluice_record_batch* batch) {
  auto* s = static_cast<Sink*>(instance);
  if (!sink_batch::hasViews(batch)) return SLUICE_ERR_UNSUPPORTED;
  std::string why;
  size_t written = s->store.append(batch->views, batch->count, &why);
  s->uncommitted += written;
  if (written < batch->count) {
    s->dropped.fetch_add(batch->count - written, std::memory_order_relaxed);
    complain(s, why);
  }
  return SLUICE_OK;
}

void flush(void* instance) {
  auto* s = static_cast<Sink*>(instance);
  std::string why;
  if (!s->store.commit(static_cast<int64_t>(s->host->now_ms()), &why)) {
    s->dropped.fetch_add(s->uncommitted, std::memory_order_relaxed);
    complain(s, why);
  }
  s->uncommitted = 0;
}

int query(void* instance, const sluice_sink_query* q, sluice_sink_reply reply, void* ctx) {
  auto* s = static_cast<Sink*>(instance);
  QueryAnswer a;
  {
    std::lock_guard<std::mutex> lock(s->store.readerLock());
    if (!answerQuery(s->store.reader(), *q, static_cast<int64_t>(s->host->now_ms()), &a)) {
      return SLUICE_ERR_UNSUPPORTED;
    }
  }
  reply(ctx, a.status, "application/json", a.body.data(), a.body.size());
  return SLUICE_OK;
}

uint64_t dropped(void* instance) {
  return static_cast<Sink*>(instance)->dropped.load(std::memory_order_relaxed);
}

const sluice_sink_vtable kVtable = {
    sizeof(sluice_sink_vtable),
    create,
    destroy,
    write,
    flush,
    nullptr /* attach */,
    nullptr /* event */,
    query,
    dropped,
    SLUICE_SINK_VIEWS_ONLY,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_SINK,
    "sqlite",
    "1.0.0",
    "request log in a SQLite file; serves /admin/requests and /admin/analytics",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::sqlite_sink

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::sqlite_sink::kDescriptor;
}
