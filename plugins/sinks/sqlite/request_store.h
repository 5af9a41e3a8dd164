// The request log in one SQLite file (WAL): the sink thread appends records,
// the admin thread reads them through its own read-only connection, so an
// admin query never waits for a write and never blocks the sink thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "sluice/plugin.h"

namespace sluice::sqlite_sink {

// The indexed stand-in for a request id (ids are looked up by it, then
// compared whole).
int64_t idHash(std::string_view id);

struct StoreOptions {
  std::string path;
  int64_t retention_days = 30;  // 0: keep forever
  int64_t max_rows = 1000000;   // 0: no cap
};

class RequestStore {
 public:
  ~RequestStore();
  // Opens (creating the file and table when missing). On failure *why says so.
  bool open(const StoreOptions& options, std::string* why);

  // Sink thread. Rows written between flushes form one transaction.
  bool append(const sluice_record& r, std::string* why);
  // Commits, then applies retention (age, then row count).
  bool commit(int64_t now_ms, std::string* why);

  // Admin thread: the read connection, under its own lock.
  sqlite3* reader() { return reader_; }
  std::mutex& readerLock() { return reader_mu_; }

 private:
  StoreOptions options_;
  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* trim_age_ = nullptr;
  sqlite3_stmt* trim_rows_ = nullptr;
  bool in_tx_ = false;
  std::mutex reader_mu_;
};

}  // namespace sluice::sqlite_sink
