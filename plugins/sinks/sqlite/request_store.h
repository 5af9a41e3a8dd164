// The request log in one SQLite file (WAL): the sink thread appends records,
// the admin thread reads them through its own read-only connection, so an
// admin query never waits for a write and never blocks the sink thread.
//
// One row per record in `requests`: the columns the admin queries filter,
// sort and add up, plus `detail` (the rest of the record, see record_text.h)
// and the logged bodies. Request ids are random, and an index of them would
// take a write at a random place in a large B-tree for every record; instead
// each commit adds one row to `request_ids`: the 32-bit hashes of the ids it
// wrote, in seq order, which /admin/requests/{id} scans newest first.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::sqlite_sink {

// The key request_ids holds for a request id.
uint32_t idKey(std::string_view id);

// How far below max_rows a trim goes: the rows that can come in before the
// next trim.
int64_t rowCapSlack(int64_t max_rows);

struct StoreOptions {
  std::string path;
  int64_t retention_days = 30;  // 0: keep forever
  int64_t max_rows = 1000000;   // 0: no cap
};

class RequestStore {
 public:
  ~RequestStore();
  // Opens (creating the file and tables when missing, and bringing a file
  // an older version wrote up to date). On failure *why says so.
  bool open(const StoreOptions& options, std::string* why);

  // Sink thread: writes the records, returns how many were written (on a
  // failure *why says why). Rows written between commits form one
  // transaction.
  size_t append(const sluice_record* records, size_t n, std::string* why);
  // Applies retention (age, then row count), then commits. The row count
  // stays at most max_rows, and at least rowCapSlack() below it after a trim.
  bool commit(int64_t now_ms, std::string* why);

  // Admin thread: the read connection, under its own lock.
  sqlite3* reader() { return reader_; }
  std::mutex& readerLock() { return reader_mu_; }
  // The file holds rows of the first layout: the whole record as JSON in
  // `record` (empty in rows written since).
  bool hasRecordColumn() const { return legacy_; }

 private:
  // A row's metadata and detail text while its statement runs.
  struct RowText {
    std::string metadata;
    std::string detail;
  };
  // Rows per many-row INSERT.
  static constexpr size_t kGroupRows = 32;
  static constexpr int64_t kAgeTrimEveryMs = 60000;

  bool begin(std::string* why);
  bool insertRows(const sluice_record* records, size_t rows, std::string* why);
  void bindRow(sqlite3_stmt* st, int base, const sluice_record& r, RowText* text);
  bool noteRow(int64_t seq, std::string_view id, std::string* why);
  bool writeIds(std::string* why);
  bool trimByAge(int64_t now_ms, int* deleted);
  bool trimByCount(int* deleted);
  bool migrate(std::string* why);

  StoreOptions options_;
  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* insert_group_ = nullptr;
  sqlite3_stmt* insert_ids_ = nullptr;
  sqlite3_stmt* trim_age_ = nullptr;
  sqlite3_stmt* trim_rows_ = nullptr;
  sqlite3_stmt* trim_ids_ = nullptr;
  // Prepared once: sqlite3_exec would compile them at every commit.
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  // Retention: the next age trim is due at this time, the next row-count
  // trim once a row's seq passes this one.
  int64_t next_age_trim_ms_ = 0;
  int64_t next_row_trim_seq_ = 0;
  int64_t last_seq_ = 0;  // the newest row written
  bool in_tx_ = false;
  bool legacy_ = false;
  // This transaction's rows: the seq of the first, and their id keys.
  int64_t first_seq_ = 0;
  std::vector<uint32_t> keys_;
  // Scratch, reused from statement to statement.
  std::vector<RowText> scratch_;
  std::mutex reader_mu_;
};

}  // namespace sluice::sqlite_sink
