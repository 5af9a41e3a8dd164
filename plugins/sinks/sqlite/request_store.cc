#include "request_store.h"

#include <string_view>

#include "../common/json_text.h"

namespace sluice::sqlite_sink {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS requests (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  id_hash INTEGER NOT NULL,
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
  record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_start ON requests(start_ms);
-- Request ids are random: an index of their 63-bit hash stays small.
CREATE INDEX IF NOT EXISTS requests_id ON requests(id_hash);
)sql";

constexpr const char* kInsert =
    "INSERT INTO requests (id, start_ms, end_ms, subject, team, requested_model, resolved_model, "
    "provider, status, error_code, stream, prompt_tokens, completion_tokens, cached_tokens, "
    "tokens_estimated, cost_usd, total_ms, ttft_ms, metadata, record, id_hash) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
    "?20, ?21)";

void bindText(sqlite3_stmt* st, int i, sluice_str s) {
  sqlite3_bind_text(st, i, s.ptr ? s.ptr : "", static_cast<int>(s.len), SQLITE_STATIC);
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

}  // namespace

int64_t idHash(std::string_view id) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a: stable across builds, unlike std::hash
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  return static_cast<int64_t>(h >> 1);
}

RequestStore::~RequestStore() {
  if (writer_ && in_tx_) sqlite3_exec(writer_, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_finalize(insert_);
  sqlite3_finalize(trim_age_);
  sqlite3_finalize(trim_rows_);
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
  char* err = nullptr;
  // An append-mostly log: large pages and a 16 MB cache mean fewer, larger
  // WAL writes (page_size only takes effect on a new file).
  if (sqlite3_exec(writer_,
                   "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                   "PRAGMA cache_size=-16000;",
                   nullptr, nullptr, &err) != SQLITE_OK ||
      sqlite3_exec(writer_, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    *why = options.path + ": " + (err ? err : "schema setup failed");
    sqlite3_free(err);
    return false;
  }
  if (sqlite3_prepare_v2(writer_, kInsert, -1, &insert_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(writer_, "DELETE FROM requests WHERE start_ms < ?1", -1, &trim_age_,
                         nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(writer_,
                         "DELETE FROM requests WHERE seq <= (SELECT MAX(seq) FROM requests) - ?1",
                         -1, &trim_rows_, nullptr) != SQLITE_OK) {
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

bool RequestStore::append(const sluice_record& r, std::string* why) {
  if (!in_tx_) {
    if (sqlite3_exec(writer_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
      *why = errorOf(writer_, "begin");
      return false;
    }
    in_tx_ = true;
  }
  std::string metadata = sink_json::metadataObject(r);
  sqlite3_stmt* st = insert_;
  bindText(st, 1, r.id);
  sqlite3_bind_int64(st, 2, r.start_ms);
  sqlite3_bind_int64(st, 3, r.end_ms);
  bindText(st, 4, r.subject);
  bindText(st, 5, r.team);
  bindText(st, 6, r.requested_model);
  bindText(st, 7, r.resolved_model);
  bindText(st, 8, r.provider);
  sqlite3_bind_int(st, 9, r.status);
  bindText(st, 10, r.error_code);
  sqlite3_bind_int(st, 11, r.stream);
  sqlite3_bind_int64(st, 12, r.prompt_tokens);
  sqlite3_bind_int64(st, 13, r.completion_tokens);
  sqlite3_bind_int64(st, 14, r.cached_tokens);
  sqlite3_bind_int(st, 15, r.tokens_estimated);
  sqlite3_bind_double(st, 16, r.cost_usd);
  bindMs(st, 17, r.total_ms);
  bindMs(st, 18, r.ttft_ms);
  sqlite3_bind_text(st, 19, metadata.data(), static_cast<int>(metadata.size()), SQLITE_STATIC);
  bindText(st, 20, r.json);
  sqlite3_bind_int64(st, 21, idHash(sink_json::sv(r.id)));
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE) {
    *why = errorOf(writer_, "insert");
    return false;
  }
  return true;
}

bool RequestStore::commit(int64_t now_ms, std::string* why) {
  if (!in_tx_) return true;
  bool ok = true;
  if (options_.retention_days > 0) {
    sqlite3_bind_int64(trim_age_, 1, now_ms - options_.retention_days * 86400000LL);
    ok = sqlite3_step(trim_age_) == SQLITE_DONE;
    sqlite3_reset(trim_age_);
  }
  if (ok && options_.max_rows > 0) {
    sqlite3_bind_int64(trim_rows_, 1, options_.max_rows);
    ok = sqlite3_step(trim_rows_) == SQLITE_DONE;
    sqlite3_reset(trim_rows_);
  }
  if (!ok) *why = errorOf(writer_, "retention");
  in_tx_ = false;
  if (sqlite3_exec(writer_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    *why = errorOf(writer_, "commit");
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }
  return ok;
}

}  // namespace sluice::sqlite_sink
