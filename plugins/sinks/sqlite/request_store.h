// The request log in one SQLite file (WAL): the sink thread appends records,
// the admin thread reads them through its own read-only connection, so an
// admin query never waits for a write and never blocks the sink thread.
//
// The records go into `request_blocks`, one row per block of up to
// kBlockRecords records with consecutive seqs (record_block.h): the block's
// seq range, the range of its records' start_ms, the 32-bit keys (idKey) of
// their ids in seq order, and the encoded records. A block is written when it
// is full and, part full, at every commit. Readers see the records through
// the virtual table `requests` (request_table.h), registered on the read
// connection; /admin/requests/{id} scans the keys of the blocks newest first.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "record_block.h"
#include "sluice/plugin.h"

namespace sluice::sqlite_sink {

// The key a block keeps for a request id.
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
  // Opens (creating the file and table when missing, and bringing a file
  // an older version wrote up to date). On failure *why says so.
  bool open(const StoreOptions& options, std::string* why);

  // Sink thread: takes the records, returns how many were kept (on a
  // failure *why says why). Records taken between commits form one
  // transaction.
  size_t append(const sluice_record* records, size_t n, std::string* why);
  // Writes the part-full block, applies retention (age, then row count),
  // then commits. The row count stays at most max_rows, and at least
  // rowCapSlack() below it after a trim.
  bool commit(int64_t now_ms, std::string* why);

  // Admin thread: the read connection (with `requests`), under its own lock.
  sqlite3* reader() { return reader_; }
  std::mutex& readerLock() { return reader_mu_; }

 private:
  static constexpr int64_t kAgeTrimEveryMs = 60000;

  // The block being filled.
  struct Block {
    int64_t first_seq = 0;
    size_t count = 0;
    int64_t min_start = 0, max_start = 0;
    std::string keys, data;
  };

  bool begin(std::string* why);
  void add(const BlockRecord& r);
  bool writeBlock(std::string* why);
  bool trimByAge(int64_t now_ms);
  bool trimByCount(std::string* why);
  bool migrate(std::string* why);
  int64_t lastStoredSeq();

  StoreOptions options_;
  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* trim_age_ = nullptr;
  sqlite3_stmt* trim_rows_ = nullptr;
  sqlite3_stmt* edge_ = nullptr;       // the block that holds a seq
  sqlite3_stmt* cut_edge_ = nullptr;   // that block without its older records
  // Prepared once: sqlite3_exec would compile them at every commit.
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  // Retention: the next age trim is due at this time, the next row-count
  // trim once a record's seq passes this one.
  int64_t next_age_trim_ms_ = 0;
  int64_t next_row_trim_seq_ = 0;
  int64_t last_seq_ = 0;  // the newest record taken
  bool in_tx_ = false;
  Block block_;
  // Scratch, reused from record to record.
  std::string metadata_, detail_;
  std::mutex reader_mu_;
};

}  // namespace sluice::sqlite_sink
