// The sqlite sink: records into the file, retention, and the admin queries
// it answers (through the plugin's vtable, like the kernel).
#include <cjson/cJSON.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <string>

#include "request_store.h"
#include "sink_fixture.h"

namespace sluice::testing {
namespace {

TEST_F(SqliteSink, WrittenRecordsAreQueryableAfterFlush) {
  open();
  int64_t now = static_cast<int64_t>(host_.now());
  RecordBatchBuilder b;
  b.add(rec("a", now - 3000, "red", 200))
      .add(rec("b", now - 2000, "blue", 429))
      .add(rec("c", now - 1000, "red", 200));
  ASSERT_EQ(vt_->write(inst_, b.batch()), SLUICE_OK);
  auto [st0, none] = query("requests");
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(none, "requests")), 0) << "not committed yet";
  vt_->flush(inst_);

  auto [st, page] = query("requests", {{"team", "red"}});
  ASSERT_EQ(st, 200);
  cJSON* rows = cJSON_GetObjectItem(page, "requests");
  ASSERT_EQ(cJSON_GetArraySize(rows), 2);
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "id")->valuestring, "c");
  EXPECT_TRUE(cJSON_IsNull(cJSON_GetObjectItem(page, "next_cursor")));
  EXPECT_STREQ(
      cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "metadata"), "env")
          ->valuestring,
      "prod");

  auto [st2, one] = query("request", {{"id", "b"}});
  EXPECT_EQ(st2, 200);
  EXPECT_STREQ(cJSON_GetObjectItem(one, "id")->valuestring, "b");
  auto [st3, missing] = query("request", {{"id", "zzz"}});
  EXPECT_EQ(st3, 404);
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(missing, "error"), "code")->valuestring,
               "request_not_found");

  auto [st4, errors] = query("requests", {{"status", "error"}});
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(errors, "requests")), 1);
  auto [st5, bad] = query("requests", {{"limit", "5000"}});
  EXPECT_EQ(st5, 400);
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetObjectItem(bad, "error"), "param")->valuestring,
               "limit");
  EXPECT_EQ(query("metrics").first, SLUICE_ERR_UNSUPPORTED);
}

TEST_F(SqliteSink, AnalyticsGroupsAndComputesPercentiles) {
  open();
  int64_t now = static_cast<int64_t>(host_.now());
  RecordBatchBuilder b;
  for (int i = 1; i <= 10; i++) {
    RecordData d =
        rec("r" + std::to_string(i), now - 1000, i <= 7 ? "red" : "blue", i == 10 ? 500 : 200);
    d.total = i * 10.0;
    b.add(d);
  }
  vt_->write(inst_, b.batch());
  vt_->flush(inst_);
  auto [st, a] = query("analytics", {{"group_by", "team"}, {"bucket", "minute"}});
  ASSERT_EQ(st, 200);
  cJSON* groups = cJSON_GetObjectItem(a, "groups");
  ASSERT_EQ(cJSON_GetArraySize(groups), 2);
  cJSON* blue = cJSON_GetArrayItem(groups, 0);  // keys sort: blue, red
  EXPECT_STREQ(cJSON_GetObjectItem(blue, "key")->valuestring, "blue");
  EXPECT_EQ(cJSON_GetObjectItem(blue, "requests")->valueint, 3);
  EXPECT_EQ(cJSON_GetObjectItem(blue, "failures")->valueint, 1);
  cJSON* red = cJSON_GetArrayItem(groups, 1);
  cJSON* lat = cJSON_GetObjectItem(red, "latency_ms");
  // Nearest rank over 10..70: p50 = 40, p95 = p99 = 70.
  EXPECT_EQ(cJSON_GetObjectItem(lat, "p50")->valuedouble, 40);
  EXPECT_EQ(cJSON_GetObjectItem(lat, "p95")->valuedouble, 70);
  EXPECT_EQ(cJSON_GetObjectItem(lat, "p99")->valuedouble, 70);
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(a, "series")), 2);
}

// A full batch goes in through many-row statements and the rest one row at
// a time; every row must land with its own fields and be found by its id.
TEST_F(SqliteSink, EveryRowOfALargeBatchIsFoundByItsId) {
  open();
  int64_t now = static_cast<int64_t>(host_.now());
  const int n = 70;  // two groups of 32, then six rows one by one
  RecordBatchBuilder b;
  for (int i = 0; i < n; i++) {
    b.add(rec("r" + std::to_string(i), now - 1000 + i, "team" + std::to_string(i), 200 + i));
  }
  ASSERT_EQ(vt_->write(inst_, b.batch()), SLUICE_OK);
  vt_->flush(inst_);
  EXPECT_EQ(vt_->dropped(inst_), 0u);

  auto [st, page] = query("requests", {{"limit", "100"}});
  ASSERT_EQ(st, 200);
  cJSON* rows = cJSON_GetObjectItem(page, "requests");
  ASSERT_EQ(cJSON_GetArraySize(rows), n);
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "id")->valuestring, "r69");
  for (int i = 0; i < n; i++) {
    std::string id = "r" + std::to_string(i);
    auto [code, row] = query("request", {{"id", id}});
    ASSERT_EQ(code, 200) << id;
    EXPECT_STREQ(cJSON_GetObjectItem(row, "team")->valuestring, ("team" + std::to_string(i)).c_str());
    EXPECT_EQ(cJSON_GetObjectItem(row, "status")->valueint, 200 + i) << id;
  }
}

TEST_F(SqliteSink, RetentionKeepsTheNewestRowsAndDropsOldOnes) {
  open(2);
  int64_t now = static_cast<int64_t>(host_.now());
  RecordBatchBuilder b;
  b.add(rec("old", now - 40LL * 86400000, "red", 200))
      .add(rec("x", now - 3, "red", 200))
      .add(rec("y", now - 2, "red", 200))
      .add(rec("z", now - 1, "red", 200));
  vt_->write(inst_, b.batch());
  vt_->flush(inst_);
  auto [st, page] = query("requests");
  cJSON* rows = cJSON_GetObjectItem(page, "requests");
  ASSERT_EQ(cJSON_GetArraySize(rows), 2);
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "id")->valuestring, "z");
  EXPECT_STREQ(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 1), "id")->valuestring, "y");
  EXPECT_EQ(query("request", {{"id", "z"}}).first, 200);
  EXPECT_EQ(query("request", {{"id", "x"}}).first, 404) << "trimmed rows are gone by id too";
  EXPECT_EQ(query("request", {{"id", "old"}}).first, 404);
}

TEST_F(SqliteSink, TheRowCapIsNeverPassedAndTrimsInRuns) {
  const int cap = 640;  // rowCapSlack: 10
  ASSERT_EQ(sluice::sqlite_sink::rowCapSlack(cap), 10);
  open(cap);
  int64_t now = static_cast<int64_t>(host_.now());
  int64_t trims = 0, last = 0;
  for (int commit = 0; commit < 100; commit++) {
    RecordBatchBuilder b;
    for (int i = 0; i < 7; i++) b.add(rec("c" + std::to_string(commit * 7 + i), now, "red", 200));
    vt_->write(inst_, b.batch());
    vt_->flush(inst_);
    int64_t rows = countRows(path_);
    ASSERT_LE(rows, cap) << "commit " << commit;
    if (rows < last + 7) {
      trims++;
      EXPECT_GE(rows, cap - 10 - 7) << "a trim leaves the newest cap - slack rows at least";
    }
    last = rows;
  }
  // 700 rows through a cap of 640: 60 rows over it, taken 10 at a time
  // when the cap is passed, not 7 at every commit.
  EXPECT_GE(trims, 4);
  EXPECT_LE(trims, 9);
  EXPECT_EQ(query("request", {{"id", "c699"}}).first, 200);
  EXPECT_EQ(query("request", {{"id", "c0"}}).first, 404);
}

TEST_F(SqliteSink, AgeRetentionRunsAtMostOnceAMinute) {
  open();
  int64_t old = static_cast<int64_t>(host_.now()) - 40LL * 86400000;
  RecordBatchBuilder first;
  first.add(rec("old1", old, "red", 200));
  vt_->write(inst_, first.batch());
  vt_->flush(inst_);
  EXPECT_EQ(countRows(path_), 0) << "the first commit trims";

  RecordBatchBuilder second;
  second.add(rec("old2", old, "red", 200));
  vt_->write(inst_, second.batch());
  vt_->flush(inst_);
  EXPECT_EQ(countRows(path_), 1) << "not again within the minute";

  host_.advance(60000);
  RecordBatchBuilder third;
  third.add(rec("new", static_cast<int64_t>(host_.now()), "red", 200));
  vt_->write(inst_, third.batch());
  vt_->flush(inst_);
  EXPECT_EQ(countRows(path_), 1);
  EXPECT_EQ(query("request", {{"id", "old2"}}).first, 404);
  EXPECT_EQ(query("request", {{"id", "new"}}).first, 200);
}

// A file of the first layout (the whole record JSON per row, an index of id
// hashes) is brought up to date on open: its rows answer as they were and new
// rows go in beside them.
TEST_F(SqliteSink, AFileOfTheFirstLayoutKeepsItsRowsAndTakesNewOnes) {
  ASSERT_NO_FATAL_FAILURE(writeFirstLayout(path_, R"sql(
    INSERT INTO requests VALUES (1, 'before', 42, 1795000000000, 1795000000010, 'user:a', 'red',
      'm', 'm', 'p', 200, '', 0, 1, 2, 0, 0, 0.5, 10, NULL, '{"env":"prod"}',
      '{"id":"before","schema_version":1,"kept":"as written"}');
  )sql"));

  open();
  int64_t now = static_cast<int64_t>(host_.now());
  RecordBatchBuilder b;
  b.add(rec("after", now - 1000, "blue", 200));
  for (int i = 0; i < 32; i++) b.add(rec("group" + std::to_string(i), now - 900, "green", 200));
  ASSERT_EQ(vt_->write(inst_, b.batch()), SLUICE_OK);
  vt_->flush(inst_);

  auto [st, old_row] = query("request", {{"id", "before"}});
  ASSERT_EQ(st, 200);
  EXPECT_STREQ(cJSON_GetObjectItem(old_row, "kept")->valuestring, "as written");
  auto [st2, new_row] = query("request", {{"id", "after"}});
  ASSERT_EQ(st2, 200);
  EXPECT_STREQ(cJSON_GetObjectItem(new_row, "team")->valuestring, "blue");
  auto [st3, page] = query("requests", {{"from", "0"}});
  ASSERT_EQ(st3, 200);
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(page, "requests")), 34);
  EXPECT_EQ(query("request", {{"id", "group31"}}).first, 200);
}

TEST_F(SqliteSink, AnUnopenableFileIsACreateError) {
  char err[256] = {0};
  void* inst = nullptr;
  EXPECT_EQ(vt_->create(host_.table(), "{\"path\":\"/proc/none/r.db\"}", &inst, err, sizeof err),
            SLUICE_ERR_CONFIG);
  EXPECT_NE(std::string(err).find("cannot open /proc/none/r.db"), std::string::npos) << err;
}

}  // namespace
}  // namespace sluice::testing
