// access-log sink: one line per request, logfmt (default) or JSON, to stdout
// or a file. Lines of a batch are written together; a file moved away (log
// rotation) is reopened at the next flush.
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "../common/batch_views.h"
#include "access_line.h"
#include "sluice/plugin.h"

namespace sluice::access_log {
namespace {

const char* const kFormats[] = {"logfmt", "json", nullptr};

const sluice_config_key kConfig[] = {
    {"format", SLUICE_CFG_STRING, 0, "\"logfmt\"", 0, 0, kFormats, nullptr,
     "line format: logfmt or json"},
    {"path", SLUICE_CFG_STRING, 0, "\"-\"", 0, 0, nullptr, nullptr,
     "file to append to; - for stdout"},
    {nullptr, SLUICE_CFG_STRING, 0, nullptr, 0, 0, nullptr, nullptr, nullptr}};

struct AccessLog {
  const sluice_host* host = nullptr;
  Format format = Format::Logfmt;
  std::string path;  // empty: stdout
  int fd = -1;
  ino_t inode = 0;
  std::string pending;
  std::atomic<uint64_t> dropped{0};
  bool warned = false;
};

bool openFile(AccessLog* log, std::string* why) {
  int fd = open(log->path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    *why = "cannot open " + log->path + ": " + strerror(errno);
    return false;
  }
  struct stat st {};
  fstat(fd, &st);
  if (log->fd >= 0) close(log->fd);
  log->fd = fd;
  log->inode = st.st_ino;
  return true;
}

// Rotation: the path now names another file (or none): start a new one.
void reopenIfMoved(AccessLog* log) {
  if (log->path.empty()) return;
  struct stat st {};
  if (stat(log->path.c_str(), &st) == 0 && st.st_ino == log->inode) return;
  std::string why;
  if (!openFile(log, &why)) log->host->log(SLUICE_LOG_ERROR, "access-log", why.c_str());
}

int create(const sluice_host* host, const char* config_json, void** instance, char* err,
           size_t err_len) {
  cJSON* cfg = cJSON_Parse(config_json);
  auto* log = new AccessLog();
  log->host = host;
  const cJSON* format = cJSON_GetObjectItemCaseSensitive(cfg, "format");
  if (cJSON_IsString(format) && strcmp(format->valuestring, "json") == 0)
    log->format = Format::Json;
  const cJSON* path = cJSON_GetObjectItemCaseSensitive(cfg, "path");
  if (cJSON_IsString(path) && strcmp(path->valuestring, "-") != 0) log->path = path->valuestring;
  cJSON_Delete(cfg);
  if (log->path.empty()) {
    log->fd = STDOUT_FILENO;
  } else {
    std::string why;
    if (!openFile(log, &why)) {
      snprintf(err, err_len, "%s", why.c_str());
      delete log;
      return SLUICE_ERR_CONFIG;
    }
  }
  *instance = log;
  return SLUICE_OK;
}

void flush(void* instance) {
  auto* log = static_cast<AccessLog*>(instance);
  if (log->pending.empty()) return;
  reopenIfMoved(log);
  const char* p = log->pending.data();
  size_t left = log->pending.size();
  while (left > 0) {
    ssize_t n = ::write(log->fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Count what is lost in whole lines, and say so once.
      uint64_t lines = 0;
      for (size_t i = 0; i < left; i++) lines += p[i] == '\n';
      log->dropped.fetch_add(lines, std::memory_order_relaxed);
      if (!log->warned) {
        std::string why = "write failed: " + std::string(strerror(errno));
        log->host->log(SLUICE_LOG_ERROR, "access-log", why.c_str());
        log->warned = true;
      }
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  log->pending.clear();
}

int write(void* instance, const sluice_record_batch* batch) {
  auto* log = static_cast<AccessLog*>(instance);
  if (!sink_batch::hasViews(batch)) return SLUICE_ERR_UNSUPPORTED;  // a 1.0 host: no field views
  for (size_t i = 0; i < batch->count; i++) appendLine(batch->views[i], log->format, &log->pending);
  if (log->pending.size() > (1u << 20)) flush(log);
  return SLUICE_OK;
}

void destroy(void* instance) {
  auto* log = static_cast<AccessLog*>(instance);
  flush(log);
  if (!log->path.empty() && log->fd >= 0) close(log->fd);
  delete log;
}

uint64_t dropped(void* instance) {
  return static_cast<AccessLog*>(instance)->dropped.load(std::memory_order_relaxed);
}

const sluice_sink_vtable kVtable = {
    sizeof(sluice_sink_vtable),
    create,
    destroy,
    write,
    flush,
    nullptr /* attach */,
    nullptr /* event */,
    nullptr /* query */,
    dropped,
    SLUICE_SINK_VIEWS_ONLY,
};

const sluice_plugin_descriptor kDescriptor = {
    SLUICE_DESCRIPTOR_HEAD,
    SLUICE_KIND_SINK,
    "access-log",
    "1.0.0",
    "one line per request (logfmt or JSON) to stdout or a file",
    kConfig,
    &kVtable,
};

}  // namespace
}  // namespace sluice::access_log

extern "C" SLUICE_EXPORT const sluice_plugin_descriptor* sluice_plugin_entry(void) {
  return &sluice::access_log::kDescriptor;
}
