// The sqlite sink under test through its vtable, like the kernel drives it.
#pragma once

#include <cjson/cJSON.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "support/fake_host.h"
#include "support/sink_records.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {

class SqliteSink : public ::testing::Test {
 protected:
  void SetUp() override {
    vt_ = static_cast<const sluice_sink_vtable*>(sluice_plugin_entry()->vtable);
    char dir[] = "/tmp/sluice-sqlite-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/r.db";
  }
  // Closes the sink and opens it again on the file `name`.
  void reopen(const std::string& name, int max_rows = 1000, int retention_days = 30) {
    if (inst_) vt_->destroy(inst_);
    inst_ = nullptr;
    path_ = dir_ + "/" + name;
    open(max_rows, retention_days);
  }
  void TearDown() override {
    if (inst_) vt_->destroy(inst_);
  }
  void open(int max_rows = 1000, int retention_days = 30) {
    std::string cfg = "{\"path\":\"" + path_ + "\",\"retention_days\":" +
                      std::to_string(retention_days) +
                      ",\"max_rows\":" + std::to_string(max_rows) + "}";
    char err[256] = {0};
    ASSERT_EQ(vt_->create(host_.table(), cfg.c_str(), &inst_, err, sizeof err), SLUICE_OK) << err;
  }
  // Runs query `name` with params; returns (status or plugin error, body).
  std::pair<int, std::string> queryRaw(
      const char* name, const std::vector<std::pair<std::string, std::string>>& params = {}) {
    std::vector<sluice_header> hs;
    for (auto& [k, v] : params) hs.push_back({{k.data(), k.size()}, {v.data(), v.size()}});
    sluice_sink_query q{sizeof q, {name, strlen(name)}, hs.data(), hs.size()};
    std::pair<int, std::string> out;
    int rc = vt_->query(
        inst_, &q,
        [](void* ctx, int status, const char*, const char* body, size_t len) {
          auto* o = static_cast<std::pair<int, std::string>*>(ctx);
          o->first = status;
          o->second.assign(body, len);
        },
        &out);
    if (rc != SLUICE_OK) return {rc, ""};
    return out;
  }
  // Runs query `name` with params; returns (status, parsed body).
  std::pair<int, cJSON*> query(const char* name,
                               std::vector<std::pair<std::string, std::string>> params = {}) {
    auto [status, body] = queryRaw(name, params);
    if (body.empty()) return {status, nullptr};
    cJSON* json = cJSON_Parse(body.c_str());
    parsed_.push_back(json);
    return {status, json};
  }
  ~SqliteSink() override {
    for (cJSON* j : parsed_) cJSON_Delete(j);
  }

  FakeHost host_;
  const sluice_sink_vtable* vt_ = nullptr;
  void* inst_ = nullptr;
  std::string dir_, path_;
  std::vector<cJSON*> parsed_;
};

inline RecordData rec(const std::string& id, int64_t start_ms, const std::string& team,
                      int status) {
  RecordData d;
  d.id = id;
  d.start_ms = start_ms;
  d.end_ms = start_ms + 10;
  d.team = team;
  d.status = status;
  d.json = "{\"id\":\"" + id + "\",\"schema_version\":1}";
  return d;
}

// Records in the file, read beside the sink as another process would (a
// block holds the records of its seq range).
inline int64_t countRows(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0) FROM request_blocks",
                     -1, &st, nullptr);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

// A file as the first layout wrote it (the whole record JSON per row, an
// index of id hashes), with `rows` (INSERT statements) in it.
inline void writeFirstLayout(const std::string& path, const char* rows) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const char* first_layout = R"sql(
    CREATE TABLE requests (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, id_hash INTEGER NOT NULL,
      start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL, subject TEXT NOT NULL,
      team TEXT NOT NULL, requested_model TEXT NOT NULL, resolved_model TEXT NOT NULL,
      provider TEXT NOT NULL, status INTEGER NOT NULL, error_code TEXT NOT NULL,
      stream INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
      cached_tokens INTEGER NOT NULL, tokens_estimated INTEGER NOT NULL, cost_usd REAL NOT NULL,
      total_ms REAL, ttft_ms REAL, metadata TEXT NOT NULL, record TEXT NOT NULL);
    CREATE INDEX requests_start ON requests(start_ms);
    CREATE INDEX requests_id ON requests(id_hash);
  )sql";
  EXPECT_EQ(sqlite3_exec(db, first_layout, nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  EXPECT_EQ(sqlite3_exec(db, rows, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
}

}  // namespace sluice::testing
