#include "request_store.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "../common/json_text.h"
#include "record_text.h"
#include "request_table.h"
#include "wal_vfs.h"

namespace sluice::sqlite_sink {
namespace {

// The columns come before the blobs, so that reading them (to pick blocks)
// does not read the blobs' overflow pages. No index: one on max_start_ms
// would add a page to every commit's WAL writes (about 300 instructions a
// record under callgrind) to spare the age trim, once a minute, a scan of
// the blocks' leaf pages (about 2,600 of 16 KB for a million records).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS request_blocks (
  last_seq INTEGER PRIMARY KEY,
  first_seq INTEGER NOT NULL,
  min_start_ms INTEGER NOT NULL,
  max_start_ms INTEGER NOT NULL,
  keys BLOB NOT NULL,
  data BLOB NOT NULL
);
)sql";

std::string_view sv(sluice_str s) { return std::string_view(s.ptr ? s.ptr : "", s.len); }

std::string errorOf(sqlite3* db, const std::string& what) {
  return what + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
}

// Runs a prepared statement that returns no rows; ready to run again after.
bool runOnce(sqlite3_stmt* st) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  return rc == SQLITE_DONE;
}

bool exec(sqlite3* db, const char* sql, std::string* why, const std::string& what) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK) return true;
  *why = what + ": " + (err ? err : sqlite3_errmsg(db));
  sqlite3_free(err);
  return false;
}

bool prepare(sqlite3* db, const char* sql, sqlite3_stmt** st) {
  return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, nullptr) == SQLITE_OK;
}

std::string_view columnView(sqlite3_stmt* st, int col) {
  const void* p = sqlite3_column_blob(st, col);
  return std::string_view(p ? static_cast<const char*>(p) : "",
                          static_cast<size_t>(sqlite3_column_bytes(st, col)));
}

// A column that may be NULL: *has says whether it holds a value.
std::string_view nullableView(sqlite3_stmt* st, int col, bool* has) {
  *has = sqlite3_column_type(st, col) != SQLITE_NULL;
  return columnView(st, col);
}

}  // namespace

uint32_t idKey(std::string_view id) {
  uint32_t h = 2166136261u;  // FNV-1a: stable across builds, unlike std::hash
  for (unsigned char c : id) h = (h ^ c) * 16777619u;
  return h;
}

RequestStore::~RequestStore() {
  if (writer_ && in_tx_) {
    std::string why;
    writeBlock(&why);
    sqlite3_exec(writer_, "COMMIT", nullptr, nullptr, nullptr);
  }
  for (sqlite3_stmt* st : {insert_, trim_age_, trim_rows_, edge_, cut_edge_, begin_, commit_}) {
    sqlite3_finalize(st);
  }
  sqlite3_close(writer_);
  sqlite3_close(reader_);
}

bool RequestStore::open(const StoreOptions& options, std::string* why) {
  options_ = options;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  // One write per commit to the WAL instead of two per page (wal_vfs.h).
  if (sqlite3_open_v2(options.path.c_str(), &writer_, flags, walGatheringVfs()) != SQLITE_OK) {
    *why = errorOf(writer_, "cannot open " + options.path);
    return false;
  }
  sqlite3_busy_timeout(writer_, 2000);
  // An append-only log of blocks. Every commit writes the table's last leaf
  // page again and the pages its new blocks fill, each a WAL frame with a
  // checksum: 4 KB pages write about half the bytes of 16 KB ones for a
  // commit of 64 records (page_size only takes effect on a new file: one
  // made before keeps its 16 KB pages). The WAL is checkpointed once it
  // passes 16 MB, whatever the page size, and synced at checkpoints only: a
  // power cut may lose the last commits, never the file. The writer only
  // appends, so a small cache serves it: 1 MB of page buffers reused while
  // they are still in the CPU's cache, not 16 MB walked through.
  if (!exec(writer_,
            "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA cache_size=-1024;",
            why, options.path) ||
      !exec(writer_, kSchema, why, options.path)) {
    return false;
  }
  sqlite3_stmt* page = nullptr;
  if (sqlite3_prepare_v2(writer_, "PRAGMA page_size", -1, &page, nullptr) == SQLITE_OK &&
      sqlite3_step(page) == SQLITE_ROW && sqlite3_column_int(page, 0) > 0) {
    sqlite3_wal_autocheckpoint(writer_, (16 << 20) / sqlite3_column_int(page, 0));
  }
  sqlite3_finalize(page);
  if (!prepare(writer_,
               "INSERT INTO request_blocks (last_seq, first_seq, min_start_ms, max_start_ms, "
               "keys, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
               &insert_) ||
      !prepare(writer_, "DELETE FROM request_blocks WHERE max_start_ms < ?1", &trim_age_) ||
      !prepare(writer_, "DELETE FROM request_blocks WHERE last_seq < ?1", &trim_rows_) ||
      !prepare(writer_,
               "SELECT first_seq, keys, data FROM request_blocks WHERE last_seq >= ?1 "
               "ORDER BY last_seq LIMIT 1",
               &edge_) ||
      !prepare(writer_,
               "UPDATE request_blocks SET first_seq = ?2, min_start_ms = ?3, max_start_ms = ?4, "
               "keys = ?5, data = ?6 WHERE last_seq = ?1",
               &cut_edge_) ||
      !prepare(writer_, "BEGIN IMMEDIATE", &begin_) || !prepare(writer_, "COMMIT", &commit_)) {
    *why = errorOf(writer_, options.path);
    return false;
  }
  last_seq_ = lastStoredSeq();
  if (!migrate(why)) return false;
  if (sqlite3_open_v2(options.path.c_str(), &reader_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    *why = errorOf(reader_, "cannot open " + options.path + " for reading");
    return false;
  }
  sqlite3_busy_timeout(reader_, 2000);
  if (registerRequestsTable(reader_) != SQLITE_OK) {
    *why = errorOf(reader_, options.path + ": the requests table");
    return false;
  }
  return true;
}

int64_t RequestStore::lastStoredSeq() {
  sqlite3_stmt* st = nullptr;
  int64_t last = 0;
  if (sqlite3_prepare_v2(writer_, "SELECT MAX(last_seq) FROM request_blocks", -1, &st, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    last = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  return last;
}

// A file an earlier version wrote has a table `requests`, one row per
// record: either the first layout (the whole record JSON in `record`) or
// the next (`detail` and the bodies; a file brought up from the first
// layout has both). Its rows go into blocks in seq order, numbered on from
// the blocks' last seq, and the old tables are dropped, all in one
// transaction. A row of the first layout keeps its record JSON, which
// /admin/requests/{id} answers as it is.
bool RequestStore::migrate(std::string* why) {
  std::set<std::string> columns;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(writer_, "PRAGMA table_info(requests)", -1, &st, nullptr) != SQLITE_OK) {
    *why = errorOf(writer_, options_.path);
    return false;
  }
  while (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* name = sqlite3_column_text(st, 1);
    if (name) columns.insert(reinterpret_cast<const char*>(name));
  }
  sqlite3_finalize(st);
  st = nullptr;
  if (columns.empty()) return true;

  auto either = [&](const char* name) {
    return columns.count(name) ? std::string(name) : std::string("NULL");
  };
  std::string sql =
      "SELECT id, start_ms, end_ms, subject, team, requested_model, resolved_model, provider, "
      "status, error_code, stream, prompt_tokens, completion_tokens, cached_tokens, "
      "tokens_estimated, cost_usd, total_ms, ttft_ms, metadata, " +
      either("detail") + ", " + either("request_body") + ", " + either("response_body") + ", " +
      either("record") + " FROM requests ORDER BY seq";
  std::string where = options_.path + ": bringing the request log up to date";
  if (!begin(why)) return false;
  bool ok = sqlite3_prepare_v2(writer_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK;
  int rc = SQLITE_ROW;
  while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    BlockRecord r;
    r.id = columnView(st, 0);
    r.start_ms = sqlite3_column_int64(st, 1);
    r.end_ms = sqlite3_column_int64(st, 2);
    r.subject = columnView(st, 3);
    r.team = columnView(st, 4);
    r.requested_model = columnView(st, 5);
    r.resolved_model = columnView(st, 6);
    r.provider = columnView(st, 7);
    r.status = sqlite3_column_int64(st, 8);
    r.error_code = columnView(st, 9);
    r.stream = sqlite3_column_int64(st, 10);
    r.prompt_tokens = sqlite3_column_int64(st, 11);
    r.completion_tokens = sqlite3_column_int64(st, 12);
    r.cached_tokens = sqlite3_column_int64(st, 13);
    r.tokens_estimated = sqlite3_column_int64(st, 14);
    r.cost_usd = sqlite3_column_double(st, 15);
    r.has_total = sqlite3_column_type(st, 16) != SQLITE_NULL;
    r.total_ms = sqlite3_column_double(st, 16);
    r.has_ttft = sqlite3_column_type(st, 17) != SQLITE_NULL;
    r.ttft_ms = sqlite3_column_double(st, 17);
    r.metadata = columnView(st, 18);
    r.detail = nullableView(st, 19, &r.has_detail);
    r.request_body = nullableView(st, 20, &r.has_request_body);
    r.response_body = nullableView(st, 21, &r.has_response_body);
    r.record = columnView(st, 22);
    r.has_record = !r.record.empty();  // '' in rows written after the first layout
    add(r);
    if (block_.count == kBlockRecords) ok = writeBlock(why);
  }
  ok = ok && rc == SQLITE_DONE && writeBlock(why);
  sqlite3_finalize(st);
  in_tx_ = false;
  if (!ok ||
      !exec(writer_, "DROP TABLE requests; DROP TABLE IF EXISTS request_ids; COMMIT", why,
            where)) {
    if (why->empty()) *why = errorOf(writer_, where);
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }
  return true;
}

bool RequestStore::begin(std::string* why) {
  if (!runOnce(begin_)) {
    *why = errorOf(writer_, "begin");
    return false;
  }
  in_tx_ = true;
  block_.count = 0;
  block_.keys.clear();
  block_.data.clear();
  return true;
}

void RequestStore::add(const BlockRecord& r) {
  if (block_.count == 0) {
    block_.first_seq = last_seq_ + 1;
    block_.min_start = block_.max_start = r.start_ms;
  }
  block_.min_start = std::min(block_.min_start, r.start_ms);
  block_.max_start = std::max(block_.max_start, r.start_ms);
  last_seq_++;
  block_.count++;
  appendKey(idKey(r.id), &block_.keys);
  encodeRecord(r, &block_.data);
}

// The block so far, as one row.
bool RequestStore::writeBlock(std::string* why) {
  if (block_.count == 0) return true;
  sqlite3_bind_int64(insert_, 1, block_.first_seq + static_cast<int64_t>(block_.count) - 1);
  sqlite3_bind_int64(insert_, 2, block_.first_seq);
  sqlite3_bind_int64(insert_, 3, block_.min_start);
  sqlite3_bind_int64(insert_, 4, block_.max_start);
  sqlite3_bind_blob(insert_, 5, block_.keys.data(), static_cast<int>(block_.keys.size()),
                    SQLITE_STATIC);
  sqlite3_bind_blob(insert_, 6, block_.data.data(), static_cast<int>(block_.data.size()),
                    SQLITE_STATIC);
  bool ok = runOnce(insert_);
  block_.count = 0;
  block_.keys.clear();
  block_.data.clear();
  if (!ok) *why = errorOf(writer_, "insert");
  return ok;
}

size_t RequestStore::append(const sluice_record* records, size_t n, std::string* why) {
  if (n == 0 || (!in_tx_ && !begin(why))) return 0;
  size_t lost = 0;
  for (size_t i = 0; i < n; i++) {
    const sluice_record& r = records[i];
    metadata_.clear();
    sink_json::appendMetadataObject(r, &metadata_);
    detail_.clear();
    encodeFields(r, &detail_);
    const bool bodies = hasBodies(r);
    BlockRecord b;
    b.id = sv(r.id);
    b.start_ms = r.start_ms;
    b.end_ms = r.end_ms;
    b.subject = sv(r.subject);
    b.team = sv(r.team);
    b.requested_model = sv(r.requested_model);
    b.resolved_model = sv(r.resolved_model);
    b.provider = sv(r.provider);
    b.status = r.status;
    b.error_code = sv(r.error_code);
    b.stream = r.stream;
    b.prompt_tokens = r.prompt_tokens;
    b.completion_tokens = r.completion_tokens;
    b.cached_tokens = r.cached_tokens;
    b.tokens_estimated = r.tokens_estimated;
    b.cost_usd = r.cost_usd;
    b.has_total = r.total_ms >= 0;
    b.total_ms = r.total_ms;
    b.has_ttft = r.ttft_ms >= 0;
    b.ttft_ms = r.ttft_ms;
    b.metadata = metadata_;
    b.has_detail = true;
    b.fields_detail = true;
    b.detail = detail_;
    if (bodies) {
      b.has_request_body = b.has_response_body = true;
      b.request_body = sv(r.request_body);
      b.response_body = sv(r.response_body);
    }
    add(b);
    if (block_.count == kBlockRecords) {
      size_t count = block_.count;
      if (!writeBlock(why)) lost += count;
    }
  }
  return n - std::min(lost, n);
}

int64_t rowCapSlack(int64_t max_rows) { return std::min<int64_t>(max_rows / 64, 4096); }

// Age retention: whole blocks, those whose newest record is older than the
// retention, at most once a minute (a scan of the blocks' leaf pages). A
// record outlives the retention by the span of start times in its block
// plus that minute at most.
bool RequestStore::trimByAge(int64_t now_ms) {
  if (options_.retention_days <= 0 || now_ms < next_age_trim_ms_) return true;
  next_age_trim_ms_ = now_ms + kAgeTrimEveryMs;
  sqlite3_bind_int64(trim_age_, 1, now_ms - options_.retention_days * 86400000LL);
  return runOnce(trim_age_);
}

// The row cap: once it is passed, down to rowCapSlack() rows below it, so
// that the oldest records go in runs every few thousand records rather than
// a few at every commit. Records are counted by seq: the newest
// max_rows - slack seqs are kept (fewer records where the age trim took a
// block in between). Blocks older than the first kept seq are deleted; the
// block that holds it is written again without its older records.
bool RequestStore::trimByCount(std::string* why) {
  int64_t last = last_seq_;
  if (options_.max_rows <= 0 || last <= next_row_trim_seq_) return true;
  int64_t slack = rowCapSlack(options_.max_rows);
  next_row_trim_seq_ = last + slack;
  int64_t keep_from = last - (options_.max_rows - slack) + 1;
  sqlite3_bind_int64(edge_, 1, keep_from);
  bool ok = true;
  if (sqlite3_step(edge_) == SQLITE_ROW) {
    int64_t first = sqlite3_column_int64(edge_, 0);
    if (first < keep_from) {
      std::string_view keys = columnView(edge_, 1), data = columnView(edge_, 2);
      std::vector<size_t> offsets;
      size_t drop = static_cast<size_t>(keep_from - first);
      ok = recordOffsets(data, &offsets) && drop < offsets.size() && keys.size() >= drop * 4;
      if (ok) {
        std::string kept_keys(keys.substr(drop * 4)), kept(data.substr(offsets[drop]));
        int64_t lo = 0, hi = 0;
        for (size_t i = drop; ok && i < offsets.size(); i++) {
          int64_t start = 0;
          ok = recordStart(data, offsets[i], &start);
          lo = i == drop ? start : std::min(lo, start);
          hi = i == drop ? start : std::max(hi, start);
        }
        sqlite3_bind_int64(cut_edge_, 1, first + static_cast<int64_t>(offsets.size()) - 1);
        sqlite3_bind_int64(cut_edge_, 2, keep_from);
        sqlite3_bind_int64(cut_edge_, 3, lo);
        sqlite3_bind_int64(cut_edge_, 4, hi);
        sqlite3_bind_blob(cut_edge_, 5, kept_keys.data(), static_cast<int>(kept_keys.size()),
                          SQLITE_STATIC);
        sqlite3_bind_blob(cut_edge_, 6, kept.data(), static_cast<int>(kept.size()),
                          SQLITE_STATIC);
        sqlite3_reset(edge_);
        ok = ok && runOnce(cut_edge_);
      }
    }
  }
  sqlite3_reset(edge_);
  sqlite3_bind_int64(trim_rows_, 1, keep_from);
  ok = ok && runOnce(trim_rows_);
  if (!ok) *why = errorOf(writer_, "retention");
  return ok;
}

bool RequestStore::commit(int64_t now_ms, std::string* why) {
  if (!in_tx_) return true;
  bool ok = writeBlock(why) && trimByAge(now_ms) && trimByCount(why);
  if (!ok && why->empty()) *why = errorOf(writer_, "retention");
  in_tx_ = false;
  if (!runOnce(commit_)) {
    *why = errorOf(writer_, "commit");
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    last_seq_ = lastStoredSeq();
    return false;
  }
  return ok;
}

}  // namespace sluice::sqlite_sink
