#include "request_store.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "../common/json_text.h"
#include "record_text.h"

namespace sluice::sqlite_sink {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS requests (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  end_ms INTEGER NOT NULL,
  subject TEXT NOT NULL,
  team TEXT NOT NULL,
  requested_model TEXT NOT NULL,
  resolved_model TEXT NOT NULL,
  provider TEXT NOT NULL,
  status INTEGER NOT NULL,
  error_code TEXT NOT NULL,
  stream INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  cached_tokens INTEGER NOT NULL,
  tokens_estimated INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  total_ms REAL,
  ttft_ms REAL,
  metadata TEXT NOT NULL,
  detail TEXT,
  request_body TEXT,
  response_body TEXT
);
CREATE INDEX IF NOT EXISTS requests_start ON requests(start_ms);
)sql";

// Per commit: the keys (idKey) of the rows first_seq..last_seq, 4 bytes
// each, little-endian.
constexpr const char* kIdsSchema = R"sql(
CREATE TABLE IF NOT EXISTS request_ids (
  last_seq INTEGER PRIMARY KEY,
  first_seq INTEGER NOT NULL,
  keys BLOB NOT NULL
);
)sql";

// OR FAIL: a many-row INSERT that may abort midway keeps a statement
// journal (a temporary file opened, written and unlinked in every
// transaction); one that stops where a row fails needs none. Every NOT NULL
// column is bound to a value, so no row fails its constraints.
constexpr const char* kInsertColumns =
    "INSERT OR FAIL INTO requests (id, start_ms, end_ms, subject, team, requested_model, resolved_model, "
    "provider, status, error_code, stream, prompt_tokens, completion_tokens, cached_tokens, "
    "tokens_estimated, cost_usd, total_ms, ttft_ms, metadata, detail, request_body, "
    "response_body";
constexpr int kColumns = 22;

// INSERT of `rows` rows, row r bound at ?(22r+1) .. ?(22r+22). A file of the
// first layout also has `id_hash` and `record`, both NOT NULL.
std::string insertSql(bool legacy, size_t rows) {
  std::string sql = kInsertColumns;
  sql += legacy ? ", id_hash, record) VALUES " : ") VALUES ";
  int n = 0;
  for (size_t r = 0; r < rows; r++) {
    sql += r ? ",(" : "(";
    for (int c = 0; c < kColumns; c++) {
      if (c) sql += ',';
      sql += '?';
      sql += std::to_string(++n);
    }
    sql += legacy ? ",0,'')" : ")";
  }
  return sql;
}

constexpr size_t kMaxKeysPerRow = 4096;

void bindText(sqlite3_stmt* st, int i, sluice_str s) {
  sqlite3_bind_text(st, i, s.ptr ? s.ptr : "", static_cast<int>(s.len), SQLITE_STATIC);
}

void bindText(sqlite3_stmt* st, int i, const std::string& s) {
  sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}

void bindMs(sqlite3_stmt* st, int i, double ms) {
  if (ms < 0) {
    sqlite3_bind_null(st, i);
  } else {
    sqlite3_bind_double(st, i, ms);
  }
}

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

}  // namespace

uint32_t idKey(std::string_view id) {
  uint32_t h = 2166136261u;  // FNV-1a: stable across builds, unlike std::hash
  for (unsigned char c : id) h = (h ^ c) * 16777619u;
  return h;
}

RequestStore::~RequestStore() {
  if (writer_ && in_tx_) {
    std::string why;
    writeIds(&why);
    sqlite3_exec(writer_, "COMMIT", nullptr, nullptr, nullptr);
  }
  sqlite3_finalize(insert_);
  sqlite3_finalize(insert_group_);
  sqlite3_finalize(insert_ids_);
  sqlite3_finalize(trim_age_);
  sqlite3_finalize(trim_rows_);
  sqlite3_finalize(trim_ids_);
  sqlite3_finalize(begin_);
  sqlite3_finalize(commit_);
  sqlite3_close(writer_);
  sqlite3_close(reader_);
}

bool RequestStore::open(const StoreOptions& options, std::string* why) {
  options_ = options;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(options.path.c_str(), &writer_, flags, nullptr) != SQLITE_OK) {
    *why = errorOf(writer_, "cannot open " + options.path);
    return false;
  }
  sqlite3_busy_timeout(writer_, 2000);
  // An append-only log: large pages and a 16 MB cache mean fewer, larger
  // WAL writes (page_size only takes effect on a new file). The WAL is
  // synced at checkpoints only: a power cut may lose the last commits, never
  // the file.
  if (!exec(writer_,
            "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA cache_size=-16000;",
            why, options.path) ||
      !exec(writer_, kSchema, why, options.path) || !exec(writer_, kIdsSchema, why, options.path) ||
      !migrate(why)) {
    return false;
  }
  if (sqlite3_prepare_v3(writer_, insertSql(legacy_, 1).c_str(), -1, SQLITE_PREPARE_PERSISTENT,
                         &insert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(writer_, insertSql(legacy_, kGroupRows).c_str(), -1,
                         SQLITE_PREPARE_PERSISTENT, &insert_group_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(writer_,
                         "INSERT OR REPLACE INTO request_ids (last_seq, first_seq, keys) "
                         "VALUES (?1, ?2, ?3)",
                         -1, SQLITE_PREPARE_PERSISTENT, &insert_ids_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(writer_, "DELETE FROM requests WHERE start_ms < ?1", -1,
                         SQLITE_PREPARE_PERSISTENT, &trim_age_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(writer_, "DELETE FROM requests WHERE seq <= ?1", -1,
                         SQLITE_PREPARE_PERSISTENT, &trim_rows_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(writer_,
                         "DELETE FROM request_ids WHERE last_seq < "
                         "COALESCE((SELECT MIN(seq) FROM requests), 9223372036854775807)",
                         -1, SQLITE_PREPARE_PERSISTENT, &trim_ids_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(writer_, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &begin_,
                         nullptr) != SQLITE_OK ||
      sqlite3_prepare_v3(writer_, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &commit_, nullptr) !=
          SQLITE_OK) {
    *why = errorOf(writer_, options.path);
    return false;
  }
  if (sqlite3_open_v2(options.path.c_str(), &reader_, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    *why = errorOf(reader_, "cannot open " + options.path + " for reading");
    return false;
  }
  sqlite3_busy_timeout(reader_, 2000);
  return true;
}

// A file of the first layout kept the whole record JSON in every row and
// indexed a hash of the id. Its rows stay as they are (their `record` is
// answered as it is); new rows leave `record` empty and fill `detail`. The
// ids it holds go into request_ids, and its id index is dropped.
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
  legacy_ = columns.count("record") > 0;
  if (columns.count("detail")) return true;

  std::string where = options_.path + ": bringing the request log up to date";
  if (!exec(writer_,
            "BEGIN IMMEDIATE; ALTER TABLE requests ADD COLUMN detail TEXT; "
            "ALTER TABLE requests ADD COLUMN request_body TEXT; "
            "ALTER TABLE requests ADD COLUMN response_body TEXT; "
            "DROP INDEX IF EXISTS requests_id;",
            why, where)) {
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }
  sqlite3_prepare_v2(writer_, "SELECT seq, id FROM requests ORDER BY seq", -1, &st, nullptr);
  sqlite3_prepare_v2(writer_,
                     "INSERT OR REPLACE INTO request_ids (last_seq, first_seq, keys) "
                     "VALUES (?1, ?2, ?3)",
                     -1, &insert_ids_, nullptr);
  in_tx_ = true;
  bool ok = st && insert_ids_;
  while (ok && sqlite3_step(st) == SQLITE_ROW) {
    int64_t seq = sqlite3_column_int64(st, 0);
    const char* id = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    std::string_view v(id ? id : "", static_cast<size_t>(sqlite3_column_bytes(st, 1)));
    ok = noteRow(seq, v, why);
  }
  ok = ok && writeIds(why);
  sqlite3_finalize(st);
  sqlite3_finalize(insert_ids_);
  insert_ids_ = nullptr;
  in_tx_ = false;
  if (!ok || !exec(writer_, "COMMIT", why, where)) {
    if (why->empty()) *why = errorOf(writer_, where);
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    keys_.clear();
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
  keys_.clear();
  return true;
}

// The id keys of this transaction's rows so far, as one request_ids row.
bool RequestStore::writeIds(std::string* why) {
  if (keys_.empty()) return true;
  std::string blob(keys_.size() * 4, '\0');
  for (size_t i = 0; i < keys_.size(); i++) {
    uint32_t k = keys_[i];
    blob[i * 4] = static_cast<char>(k);
    blob[i * 4 + 1] = static_cast<char>(k >> 8);
    blob[i * 4 + 2] = static_cast<char>(k >> 16);
    blob[i * 4 + 3] = static_cast<char>(k >> 24);
  }
  sqlite3_bind_int64(insert_ids_, 1, first_seq_ + static_cast<int64_t>(keys_.size()) - 1);
  sqlite3_bind_int64(insert_ids_, 2, first_seq_);
  sqlite3_bind_blob(insert_ids_, 3, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
  bool ok = runOnce(insert_ids_);
  keys_.clear();
  if (!ok) {
    *why = errorOf(writer_, "request ids");
    return false;
  }
  return true;
}

size_t RequestStore::append(const sluice_record* records, size_t n, std::string* why) {
  if (n == 0 || (!in_tx_ && !begin(why))) return 0;
  size_t written = 0;
  for (size_t at = 0; at < n;) {
    // Whole groups through the many-row statement (one statement's set-up
    // for kGroupRows rows), the rest one by one.
    size_t rows = n - at >= kGroupRows ? kGroupRows : 1;
    if (insertRows(records + at, rows, why)) written += rows;
    at += rows;
  }
  return written;
}

bool RequestStore::insertRows(const sluice_record* records, size_t rows, std::string* why) {
  sqlite3_stmt* st = rows == 1 ? insert_ : insert_group_;
  if (scratch_.size() < rows) scratch_.resize(rows);
  for (size_t i = 0; i < rows; i++) {
    bindRow(st, static_cast<int>(i) * kColumns, records[i], &scratch_[i]);
  }
  if (!runOnce(st)) {
    *why = errorOf(writer_, "insert");
    return false;
  }
  // One statement's rows take consecutive rowids, the last one reported.
  int64_t first = sqlite3_last_insert_rowid(writer_) - static_cast<int64_t>(rows) + 1;
  for (size_t i = 0; i < rows; i++) {
    const sluice_str& id = records[i].id;
    if (!noteRow(first + static_cast<int64_t>(i), std::string_view(id.ptr ? id.ptr : "", id.len),
                 why)) {
      return false;
    }
  }
  return true;
}

void RequestStore::bindRow(sqlite3_stmt* st, int base, const sluice_record& r, RowText* text) {
  text->metadata.clear();
  sink_json::appendMetadataObject(r, &text->metadata);
  text->detail.clear();
  appendDetail(r, &text->detail);
  bool bodies = r.struct_size >= offsetof(sluice_record, response_body) + sizeof(r.response_body) &&
                r.bodies_logged;
  bindText(st, base + 1, r.id);
  sqlite3_bind_int64(st, base + 2, r.start_ms);
  sqlite3_bind_int64(st, base + 3, r.end_ms);
  bindText(st, base + 4, r.subject);
  bindText(st, base + 5, r.team);
  bindText(st, base + 6, r.requested_model);
  bindText(st, base + 7, r.resolved_model);
  bindText(st, base + 8, r.provider);
  sqlite3_bind_int(st, base + 9, r.status);
  bindText(st, base + 10, r.error_code);
  sqlite3_bind_int(st, base + 11, r.stream);
  sqlite3_bind_int64(st, base + 12, r.prompt_tokens);
  sqlite3_bind_int64(st, base + 13, r.completion_tokens);
  sqlite3_bind_int64(st, base + 14, r.cached_tokens);
  sqlite3_bind_int(st, base + 15, r.tokens_estimated);
  sqlite3_bind_double(st, base + 16, r.cost_usd);
  bindMs(st, base + 17, r.total_ms);
  bindMs(st, base + 18, r.ttft_ms);
  bindText(st, base + 19, text->metadata);
  bindText(st, base + 20, text->detail);
  if (bodies) {
    bindText(st, base + 21, r.request_body);
    bindText(st, base + 22, r.response_body);
  } else {
    sqlite3_bind_null(st, base + 21);
    sqlite3_bind_null(st, base + 22);
  }
}

// Adds a written row's id key to this transaction's request_ids row,
// starting a new one where the seqs are not consecutive or the row is full.
bool RequestStore::noteRow(int64_t seq, std::string_view id, std::string* why) {
  if (!keys_.empty() && first_seq_ + static_cast<int64_t>(keys_.size()) != seq &&
      !writeIds(why)) {
    return false;
  }
  if (keys_.empty()) first_seq_ = seq;
  last_seq_ = seq;
  keys_.push_back(idKey(id));
  return keys_.size() < kMaxKeysPerRow || writeIds(why);
}

int64_t rowCapSlack(int64_t max_rows) { return std::min<int64_t>(max_rows / 64, 4096); }

// Age retention: an index seek and a statement, so at most once a minute;
// a row outlives the retention by that minute at most.
bool RequestStore::trimByAge(int64_t now_ms, int* deleted) {
  if (options_.retention_days <= 0 || now_ms < next_age_trim_ms_) return true;
  next_age_trim_ms_ = now_ms + kAgeTrimEveryMs;
  sqlite3_bind_int64(trim_age_, 1, now_ms - options_.retention_days * 86400000LL);
  bool ok = runOnce(trim_age_);
  *deleted += sqlite3_changes(writer_);
  return ok;
}

// The row cap: once it is passed, down to rowCapSlack() rows below it, so
// that the oldest rows go in runs of whole pages every few thousand rows
// rather than a few rows (and the same first pages) at every commit.
bool RequestStore::trimByCount(int* deleted) {
  int64_t last = last_seq_;
  if (options_.max_rows <= 0 || last <= next_row_trim_seq_) return true;
  int64_t slack = rowCapSlack(options_.max_rows);
  next_row_trim_seq_ = last + slack;
  sqlite3_bind_int64(trim_rows_, 1, last - (options_.max_rows - slack));
  bool ok = runOnce(trim_rows_);
  *deleted += sqlite3_changes(writer_);
  return ok;
}

bool RequestStore::commit(int64_t now_ms, std::string* why) {
  if (!in_tx_) return true;
  int deleted = 0;
  bool ok = writeIds(why) && trimByAge(now_ms, &deleted) && trimByCount(&deleted);
  if (ok && deleted > 0) ok = runOnce(trim_ids_);
  if (!ok && why->empty()) *why = errorOf(writer_, "retention");
  in_tx_ = false;
  keys_.clear();
  if (!runOnce(commit_)) {
    *why = errorOf(writer_, "commit");
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }
  return ok;
}

}  // namespace sluice::sqlite_sink
