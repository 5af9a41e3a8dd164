// The sqlite sink's records in blocks: blocks filled across writes and cut at
// commits, the admin queries across blocks, retention by whole blocks (and
// the cut of the block at the row cap), files of earlier layouts, and the
// `requests` virtual table against a plain evaluation of the same queries.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../common/json_text.h"
#include "record_text.h"
#include "request_table.h"
#include "sink_fixture.h"

namespace sluice::testing {
namespace {

// (first_seq, last_seq) of every block, oldest first.
std::vector<std::pair<int64_t, int64_t>> blocks(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT first_seq, last_seq FROM request_blocks ORDER BY last_seq", -1,
                     &st, nullptr);
  std::vector<std::pair<int64_t, int64_t>> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.emplace_back(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::vector<std::string> tables(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1,
                     &st, nullptr);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

class Blocks : public SqliteSink {
 protected:
  // Every id /admin/requests lists for `params`, newest first, read in pages
  // of `limit` through next_cursor.
  std::vector<std::string> listAll(std::vector<std::pair<std::string, std::string>> params,
                                   int limit) {
    std::vector<std::string> ids;
    std::string cursor;
    for (int page = 0; page < 1000; page++) {
      auto p = params;
      p.emplace_back("limit", std::to_string(limit));
      if (!cursor.empty()) p.emplace_back("cursor", cursor);
      auto [st, body] = query("requests", p);
      EXPECT_EQ(st, 200);
      if (st != 200) break;
      cJSON* rows = cJSON_GetObjectItem(body, "requests");
      cJSON* row = nullptr;
      cJSON_ArrayForEach(row, rows) {
        ids.emplace_back(cJSON_GetObjectItem(row, "id")->valuestring);
      }
      cJSON* next = cJSON_GetObjectItem(body, "next_cursor");
      if (!cJSON_IsString(next)) break;
      EXPECT_EQ(cJSON_GetArraySize(rows), limit) << "a page before the last is full";
      cursor = next->valuestring;
    }
    return ids;
  }
  void write(RecordBatchBuilder& b) { ASSERT_EQ(vt_->write(inst_, b.batch()), SLUICE_OK); }
};

std::string rid(int i) { return "r" + std::to_string(i); }

std::vector<std::pair<int64_t, int64_t>> runs(std::vector<int64_t> sizes) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t seq = 1;
  for (int64_t n : sizes) {
    out.emplace_back(seq, seq + n - 1);
    seq += n;
  }
  return out;
}

TEST_F(Blocks, RecordsFillBlocksOfSixtyFourAndEveryOneIsFound) {
  int64_t now = static_cast<int64_t>(host_.now());
  for (int n : {63, 64, 65, 130}) {
    SCOPED_TRACE(n);
    reopen("n" + std::to_string(n) + ".db");
    RecordBatchBuilder b;
    for (int i = 0; i < n; i++) b.add(rec(rid(i), now - 1000 + i, "t" + std::to_string(i), 200 + i));
    write(b);
    vt_->flush(inst_);
    std::vector<int64_t> sizes;
    for (int left = n; left > 0; left -= 64) sizes.push_back(std::min(left, 64));
    EXPECT_EQ(blocks(path_), runs(sizes));
    std::vector<std::string> want;
    for (int i = n - 1; i >= 0; i--) want.push_back(rid(i));
    EXPECT_EQ(listAll({}, 7), want);
    EXPECT_EQ(listAll({}, 1000), want);
    for (int i = 0; i < n; i++) {
      auto [st, row] = query("request", {{"id", rid(i)}});
      ASSERT_EQ(st, 200) << rid(i);
      EXPECT_STREQ(cJSON_GetObjectItem(row, "team")->valuestring, ("t" + std::to_string(i)).c_str());
      EXPECT_EQ(cJSON_GetObjectItem(row, "status")->valueint, 200 + i);
    }
  }
}

TEST_F(Blocks, ABlockSpansWritesAndEndsAtACommit) {
  open();
  int64_t now = static_cast<int64_t>(host_.now());
  int next = 0;
  auto batch = [&](int n) {
    RecordBatchBuilder b;
    for (int i = 0; i < n; i++, next++) b.add(rec(rid(next), now - 5000 + next, "red", 200));
    write(b);
  };
  batch(40);
  batch(40);  // fills the first block at 64, 16 go on
  EXPECT_EQ(query("request", {{"id", rid(0)}}).first, 404) << "not seen before the commit";
  vt_->flush(inst_);
  EXPECT_EQ(blocks(path_), runs({64, 16}));
  for (int c = 0; c < 3; c++) {
    batch(10);
    vt_->flush(inst_);
  }
  batch(70);
  vt_->flush(inst_);
  EXPECT_EQ(blocks(path_), runs({64, 16, 10, 10, 10, 64, 6}));
  vt_->flush(inst_);  // nothing taken: no empty block
  EXPECT_EQ(blocks(path_).size(), 7u);
  std::vector<std::string> want;
  for (int i = next - 1; i >= 0; i--) want.push_back(rid(i));
  EXPECT_EQ(listAll({}, 9), want);
  for (int i : {0, 63, 64, 79, 80, 109, 110, 173, 174, 179}) {
    EXPECT_EQ(query("request", {{"id", rid(i)}}).first, 200) << rid(i);
  }
}

// The record a closed sink had not committed is written when it closes.
TEST_F(Blocks, ClosingWritesThePartBlock) {
  open();
  RecordBatchBuilder b;
  b.add(rec("last", static_cast<int64_t>(host_.now()), "red", 200));
  write(b);
  reopen("r.db");
  EXPECT_EQ(blocks(path_), runs({1}));
  EXPECT_EQ(query("request", {{"id", "last"}}).first, 200);
}

// A new file gets 4 KB pages: a commit writes the last leaf page again and
// the pages its blocks fill, fewer bytes with small pages.
TEST_F(Blocks, ANewFileHasSmallPages) {
  open();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 4096);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(Blocks, EveryFilterAndPagingAcrossBlocks) {
  open(0, 0);
  int64_t base = 1795000000000;
  struct Row {
    std::string id, subject, team, requested, resolved, provider, env, error_code;
    int status;
    int64_t start;
  };
  std::vector<Row> rows;
  std::mt19937 rng(7);
  const char* teams[] = {"red", "blue", "green"};
  const char* subjects[] = {"user:a", "user:b"};
  const char* models[] = {"m1", "m2", "m3"};
  const char* providers[] = {"p1", "p2"};
  const int statuses[] = {200, 200, 201, 429, 500, 404};
  for (int i = 0; i < 200; i++) {
    Row r;
    r.id = rid(i);
    r.subject = subjects[rng() % 2];
    r.team = teams[rng() % 3];
    r.requested = models[rng() % 3];
    r.resolved = models[rng() % 3];
    r.provider = providers[rng() % 2];
    r.env = rng() % 2 ? "prod" : "dev";
    r.status = statuses[rng() % 6];
    r.error_code = r.status == 200 && rng() % 5 == 0 ? "upstream_timeout" : "";
    r.start = base + static_cast<int64_t>(rng() % 100000);  // not in seq order
    rows.push_back(r);
  }
  for (size_t at = 0; at < rows.size();) {
    size_t n = std::min<size_t>(rows.size() - at, 1 + rng() % 90);
    RecordBatchBuilder b;
    for (size_t i = at; i < at + n; i++) {
      const Row& r = rows[i];
      RecordData d = rec(r.id, r.start, r.team, r.status);
      d.subject = r.subject;
      d.requested_model = r.requested;
      d.resolved_model = r.resolved;
      d.provider = r.provider;
      d.metadata = {{"env", r.env}};
      d.error_code = r.error_code;
      b.add(d);
    }
    write(b);
    vt_->flush(inst_);
    at += n;
  }
  ASSERT_GT(blocks(path_).size(), 4u);
  using Params = std::vector<std::pair<std::string, std::string>>;
  auto expect = [&](const Params& params, auto keep) {
    std::vector<std::string> want;
    for (int i = static_cast<int>(rows.size()) - 1; i >= 0; i--) {
      if (keep(rows[i])) want.push_back(rows[i].id);
    }
    ASSERT_FALSE(want.empty());
    for (int limit : {5, 64, 1000}) {
      EXPECT_EQ(listAll(params, limit), want) << params[0].first << "=" << params[0].second;
    }
  };
  std::string from = std::to_string(base + 30000), to = std::to_string(base + 70000);
  expect({{"team", "red"}}, [](const Row& r) { return r.team == "red"; });
  expect({{"subject", "user:b"}}, [](const Row& r) { return r.subject == "user:b"; });
  expect({{"provider", "p2"}}, [](const Row& r) { return r.provider == "p2"; });
  expect({{"model", "m1"}}, [](const Row& r) { return r.requested == "m1" || r.resolved == "m1"; });
  expect({{"status", "429"}}, [](const Row& r) { return r.status == 429; });
  expect({{"status", "4xx"}}, [](const Row& r) { return r.status >= 400 && r.status < 500; });
  expect({{"status", "2xx"}}, [](const Row& r) { return r.status >= 200 && r.status < 300; });
  expect({{"status", "error"}},
         [](const Row& r) { return r.status >= 400 || !r.error_code.empty(); });
  expect({{"metadata.env", "dev"}}, [](const Row& r) { return r.env == "dev"; });
  expect({{"from", from}}, [&](const Row& r) { return r.start >= base + 30000; });
  expect({{"to", to}}, [&](const Row& r) { return r.start < base + 70000; });
  expect({{"from", from}, {"to", to}, {"team", "blue"}}, [&](const Row& r) {
    return r.start >= base + 30000 && r.start < base + 70000 && r.team == "blue";
  });
  expect({{"from", "2026-11-18T11:06:40Z"}},  // base + 0 s
         [&](const Row&) { return true; });
}

TEST_F(Blocks, AnIdFoundInAnOldBlockAndTheNewestCopyWins) {
  open();
  int64_t now = static_cast<int64_t>(host_.now());
  RecordBatchBuilder b;
  b.add(rec("dup", now - 100, "first", 200));
  for (int i = 0; i < 200; i++) b.add(rec(rid(i), now - 99 + i, "red", 200));
  write(b);
  vt_->flush(inst_);
  auto [st, old_one] = query("request", {{"id", "dup"}});
  ASSERT_EQ(st, 200);
  EXPECT_STREQ(cJSON_GetObjectItem(old_one, "team")->valuestring, "first");
  RecordBatchBuilder again;
  again.add(rec("dup", now, "second", 201));
  write(again);
  vt_->flush(inst_);
  auto [st2, newest] = query("request", {{"id", "dup"}});
  ASSERT_EQ(st2, 200);
  EXPECT_STREQ(cJSON_GetObjectItem(newest, "team")->valuestring, "second");
  EXPECT_EQ(query("request", {{"id", "r0"}}).first, 200);
  EXPECT_EQ(query("request", {{"id", "r199"}}).first, 200);
  EXPECT_EQ(query("request", {{"id", "r200"}}).first, 404);
}

// Age retention takes whole blocks: a block goes once its newest record is
// past the retention, and an old record in a block with newer ones stays.
TEST_F(Blocks, AgeRetentionDeletesWholeBlocks) {
  open(0, 30);
  int64_t now = static_cast<int64_t>(host_.now());
  int64_t old = now - 40LL * 86400000;
  RecordBatchBuilder b;
  for (int i = 0; i < 64; i++) b.add(rec("o" + std::to_string(i), old + i, "red", 200));
  b.add(rec("old_beside_new", old, "red", 200)).add(rec("new", now - 5, "red", 200));
  write(b);
  vt_->flush(inst_);
  EXPECT_EQ(blocks(path_), (std::vector<std::pair<int64_t, int64_t>>{{65, 66}}));
  EXPECT_EQ(query("request", {{"id", "o0"}}).first, 404);
  EXPECT_EQ(query("request", {{"id", "o63"}}).first, 404);
  EXPECT_EQ(query("request", {{"id", "old_beside_new"}}).first, 200);
  EXPECT_EQ(query("request", {{"id", "new"}}).first, 200);
}

// The row cap deletes the older blocks and writes the block that holds the
// first kept seq again without its older records.
TEST_F(Blocks, TheRowCapCutsTheEdgeBlock) {
  open(100, 0);  // rowCapSlack: 1, so a trim keeps 99
  int64_t now = static_cast<int64_t>(host_.now());
  RecordBatchBuilder b;
  for (int i = 0; i < 130; i++) b.add(rec(rid(i), now - 1000 + (i % 64 == 40 ? 500 : i), "red", 200));
  write(b);
  vt_->flush(inst_);
  EXPECT_EQ(blocks(path_), (std::vector<std::pair<int64_t, int64_t>>{{32, 64}, {65, 128}, {129, 130}}));
  EXPECT_EQ(countRows(path_), 99);
  std::vector<std::string> want;
  for (int i = 129; i >= 31; i--) want.push_back(rid(i));
  EXPECT_EQ(listAll({}, 10), want);
  EXPECT_EQ(query("request", {{"id", rid(30)}}).first, 404);
  for (int i : {31, 40, 63}) EXPECT_EQ(query("request", {{"id", rid(i)}}).first, 200) << rid(i);
  // The cut block's time range is its own records': r40 starts last.
  sqlite3* db = nullptr;
  sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT min_start_ms, max_start_ms FROM request_blocks WHERE last_seq = 64",
                     -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(st, 0), now - 1000 + 31);
  EXPECT_EQ(sqlite3_column_int64(st, 1), now - 500);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// A file of the layout before blocks (one row per record, `detail`, the
// bodies, request_ids) is moved into blocks on open: every record answers
// byte for byte as a record written now does, seqs renumbered in order.
TEST_F(Blocks, AFileOfTheRowLayoutMovesIntoBlocks) {
  std::vector<RecordData> data;
  int64_t now = static_cast<int64_t>(host_.now());
  for (int i = 0; i < 70; i++) {
    RecordData d = rec(rid(i), now - 1000 + i, "team" + std::to_string(i % 3), i % 7 ? 200 : 503);
    d.rules = {"route-1"};
    d.events = {{"spend", "budget:downgraded"}};
    if (i % 5 == 0) d.ttft = -1;
    data.push_back(d);
  }
  RecordBatchBuilder all;
  for (const auto& d : data) all.add(d);
  const sluice_record_batch* batch = all.batch();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const char* row_layout = R"sql(
    CREATE TABLE requests (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, start_ms INTEGER NOT NULL,
      end_ms INTEGER NOT NULL, subject TEXT NOT NULL, team TEXT NOT NULL,
      requested_model TEXT NOT NULL, resolved_model TEXT NOT NULL, provider TEXT NOT NULL,
      status INTEGER NOT NULL, error_code TEXT NOT NULL, stream INTEGER NOT NULL,
      prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
      cached_tokens INTEGER NOT NULL, tokens_estimated INTEGER NOT NULL, cost_usd REAL NOT NULL,
      total_ms REAL, ttft_ms REAL, metadata TEXT NOT NULL, detail TEXT, request_body TEXT,
      response_body TEXT);
    CREATE INDEX requests_start ON requests(start_ms);
    CREATE TABLE request_ids (last_seq INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL,
      keys BLOB NOT NULL);
  )sql";
  ASSERT_EQ(sqlite3_exec(db, row_layout, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_stmt* ins = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "INSERT INTO requests VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                               "?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
                               "?23)",
                               -1, &ins, nullptr),
            SQLITE_OK);
  auto text = [&](int i, sluice_str s) {
    sqlite3_bind_text(ins, i, s.ptr, static_cast<int>(s.len), SQLITE_TRANSIENT);
  };
  for (size_t k = 0; k < batch->count; k++) {
    const sluice_record& r = batch->views[k];
    std::string metadata, detail;
    sink_json::appendMetadataObject(r, &metadata);
    sqlite_sink::appendDetail(r, &detail);
    sqlite3_bind_int64(ins, 1, 10 + static_cast<int64_t>(k) * 3);  // seqs with gaps
    text(2, r.id);
    sqlite3_bind_int64(ins, 3, r.start_ms);
    sqlite3_bind_int64(ins, 4, r.end_ms);
    text(5, r.subject);
    text(6, r.team);
    text(7, r.requested_model);
    text(8, r.resolved_model);
    text(9, r.provider);
    sqlite3_bind_int(ins, 10, r.status);
    text(11, r.error_code);
    sqlite3_bind_int(ins, 12, r.stream);
    sqlite3_bind_int64(ins, 13, r.prompt_tokens);
    sqlite3_bind_int64(ins, 14, r.completion_tokens);
    sqlite3_bind_int64(ins, 15, r.cached_tokens);
    sqlite3_bind_int(ins, 16, r.tokens_estimated);
    sqlite3_bind_double(ins, 17, r.cost_usd);
    if (r.total_ms >= 0) sqlite3_bind_double(ins, 18, r.total_ms); else sqlite3_bind_null(ins, 18);
    if (r.ttft_ms >= 0) sqlite3_bind_double(ins, 19, r.ttft_ms); else sqlite3_bind_null(ins, 19);
    sqlite3_bind_text(ins, 20, metadata.data(), static_cast<int>(metadata.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 21, detail.data(), static_cast<int>(detail.size()), SQLITE_TRANSIENT);
    if (k % 2) {
      sqlite3_bind_text(ins, 22, "{\"q\":1}", -1, SQLITE_STATIC);
      sqlite3_bind_text(ins, 23, "{\"a\":2}", -1, SQLITE_STATIC);
    } else {
      sqlite3_bind_null(ins, 22);
      sqlite3_bind_null(ins, 23);
    }
    ASSERT_EQ(sqlite3_step(ins), SQLITE_DONE) << sqlite3_errmsg(db);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);
  sqlite3_close(db);

  open(1000, 0);
  EXPECT_EQ(tables(path_), std::vector<std::string>{"request_blocks"});
  EXPECT_EQ(blocks(path_), runs({64, 6}));
  // The same records written now, in a second file: the answers match.
  std::vector<std::string> migrated;
  for (const auto& d : data) migrated.push_back(queryRaw("request", {{"id", d.id}}).second);
  std::vector<std::string> want_ids;
  for (int i = 69; i >= 0; i--) want_ids.push_back(rid(i));
  EXPECT_EQ(listAll({}, 30), want_ids);
  RecordBatchBuilder again;
  for (const auto& d : data) again.add(d);
  reopen("fresh.db", 1000, 0);
  write(again);
  vt_->flush(inst_);
  for (size_t k = 0; k < data.size(); k++) {
    auto [st, body] = queryRaw("request", {{"id", data[k].id}});
    ASSERT_EQ(st, 200);
    if (k % 2 == 0) {
      EXPECT_EQ(migrated[k], body) << data[k].id;
    } else {  // the row logged bodies
      EXPECT_NE(migrated[k].find("\"request_body\":\"{\\\"q\\\":1}\""), std::string::npos) << migrated[k];
    }
  }
  // New records number on after the moved ones.
  reopen("r.db", 1000, 0);
  RecordBatchBuilder more;
  more.add(rec("after", now, "red", 200));
  write(more);
  vt_->flush(inst_);
  EXPECT_EQ(blocks(path_), runs({64, 6, 1}));
  EXPECT_EQ(listAll({}, 100).front(), "after");
}

// The first layout's rows keep their record JSON as written, in the block.
TEST_F(Blocks, AFileOfTheFirstLayoutMovesIntoBlocks) {
  ASSERT_NO_FATAL_FAILURE(writeFirstLayout(path_, R"sql(
    INSERT INTO requests VALUES (7, 'one', 42, 1795000000000, 1795000000010, 'user:a', 'red',
      'm', 'm', 'p', 200, '', 0, 1, 2, 0, 0, 0.5, 10, NULL, '{"env":"prod"}',
      '{"id":"one","schema_version":1,"kept":"as written"}');
    INSERT INTO requests VALUES (9, 'two', 43, 1795000000100, 1795000000110, 'user:b', 'blue',
      'm', 'm', 'p', 429, 'rate_limited', 0, 1, 2, 0, 0, 0.25, NULL, NULL, '{}',
      '{"id":"two","byte":"for byte"}');
  )sql"));
  open(1000, 0);
  EXPECT_EQ(tables(path_), std::vector<std::string>{"request_blocks"});
  EXPECT_EQ(blocks(path_), runs({2}));
  EXPECT_EQ(queryRaw("request", {{"id", "two"}}).second, "{\"id\":\"two\",\"byte\":\"for byte\"}");
  EXPECT_EQ(queryRaw("request", {{"id", "one"}}).second,
            "{\"id\":\"one\",\"schema_version\":1,\"kept\":\"as written\"}");
  auto [st, page] = query("requests", {{"status", "error"}});
  ASSERT_EQ(st, 200);
  cJSON* rows = cJSON_GetObjectItem(page, "requests");
  ASSERT_EQ(cJSON_GetArraySize(rows), 1);
  cJSON* two = cJSON_GetArrayItem(rows, 0);
  EXPECT_STREQ(cJSON_GetObjectItem(two, "team")->valuestring, "blue");
  EXPECT_EQ(cJSON_GetObjectItem(two, "cost_usd")->valuedouble, 0.25);
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(two, "total_ms")));
}

// The virtual table's constraints on seq and start_ms pick blocks; what it
// returns must be what a plain table of the same records returns.
TEST_F(Blocks, TheVirtualTableAnswersAsAPlainTable) {
  open(0, 0);
  std::mt19937 rng(11);
  int64_t base = 1795000000000;
  std::vector<int64_t> starts;
  int next = 0;
  for (int c = 0; c < 12; c++) {
    RecordBatchBuilder b;
    int n = 1 + static_cast<int>(rng() % 90);
    for (int i = 0; i < n; i++, next++) {
      // Mostly rising with the seq, some far out of order.
      int64_t start = base + next * 10 + (rng() % 8 == 0 ? static_cast<int64_t>(rng() % 4000) - 2000 : 0);
      starts.push_back(start);
      b.add(rec(rid(next), start, "red", 200));
    }
    write(b);
    vt_->flush(inst_);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  ASSERT_EQ(sluice::sqlite_sink::registerRequestsTable(db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "ATTACH ':memory:' AS m; CREATE TABLE m.plain (seq INTEGER PRIMARY KEY, "
                         "id TEXT, start_ms INTEGER)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  for (size_t i = 0; i < starts.size(); i++) {
    std::string sql = "INSERT INTO m.plain VALUES (" + std::to_string(i + 1) + ", '" +
                      rid(static_cast<int>(i)) + "', " + std::to_string(starts[i]) + ")";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  }
  auto rows = [&](const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    while (sqlite3_step(st) == SQLITE_ROW) {
      out.push_back(std::to_string(sqlite3_column_int64(st, 0)) + "/" +
                    reinterpret_cast<const char*>(sqlite3_column_text(st, 1)) + "/" +
                    std::to_string(sqlite3_column_int64(st, 2)));
    }
    sqlite3_finalize(st);
    return out;
  };
  int64_t n = static_cast<int64_t>(starts.size());
  const char* ops[] = {"=", "<", "<=", ">", ">="};
  auto value = [&](bool seq) {
    std::string v;
    if (seq) {
      v = std::to_string(static_cast<int64_t>(rng() % (n + 20)) - 10);
    } else {
      v = std::to_string(base + static_cast<int64_t>(rng() % (n * 10 + 4000)) - 2000);
    }
    if (rng() % 6 == 0) v += ".5";
    return v;
  };
  int nonempty = 0;
  for (int q = 0; q < 400; q++) {
    std::string where;
    int terms = 1 + static_cast<int>(rng() % 3);
    for (int t = 0; t < terms; t++) {
      bool seq = rng() % 2;
      where += where.empty() ? " WHERE " : " AND ";
      where += std::string(seq ? (rng() % 4 ? "seq" : "rowid") : "start_ms") + " " + ops[rng() % 5] +
               " " + value(seq);
    }
    const char* orders[] = {" ORDER BY seq DESC", " ORDER BY seq", " ORDER BY start_ms, seq"};
    std::string order = orders[rng() % 3];
    std::string cols = "SELECT seq, id, start_ms FROM ";
    auto want = rows(cols + "m.plain" + where + order);
    auto got = rows(cols + "requests" + where + order);
    EXPECT_EQ(got, want) << where << order;
    if (!want.empty()) nonempty++;
  }
  EXPECT_GT(nonempty, 150);
  EXPECT_EQ(rows("SELECT seq, id, start_ms FROM requests WHERE seq = 'x'"), std::vector<std::string>{});
  EXPECT_EQ(rows("SELECT seq, id, start_ms FROM requests WHERE seq = NULL"), std::vector<std::string>{});
  EXPECT_EQ(rows("SELECT count(*), 'n', 0 FROM requests"),
            std::vector<std::string>{std::to_string(n) + "/n/0"});
  sqlite3_close(db);
}

}  // namespace
}  // namespace sluice::testing
