// The clickhouse sink: its DDL and rows, and its delivery state machine
// (create the table, insert, on failure buffer and retry) over a recording
// fake host.
#include <cjson/cJSON.h>
#include <gtest/gtest.h>

#include <string>

#include "row_encoder.h"
#include "support/fake_host.h"
#include "support/sink_records.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {
namespace {

const sluice_sink_vtable* table() {
  return static_cast<const sluice_sink_vtable*>(sluice_plugin_entry()->vtable);
}

TEST(RowEncoder, OneJsonEachRowLinePerRecord) {
  RecordData d;
  d.rules = {"per-caller", "team-monthly"};
  d.metadata = {{"env", "prod"}, {"q", "a\"b"}};
  RecordBatchBuilder b;
  b.add(d);
  std::string rows;
  clickhouse_sink::appendRow(b.batch()->views[0], &rows);
  ASSERT_EQ(rows.back(), '\n');
  cJSON* row = cJSON_Parse(rows.c_str());
  ASSERT_NE(row, nullptr) << rows;
  EXPECT_EQ(cJSON_GetObjectItem(row, "start")->valuedouble, 1795000000);
  EXPECT_EQ(cJSON_GetObjectItem(row, "status")->valueint, 200);
  EXPECT_STREQ(cJSON_GetObjectItem(row, "metadata")->valuestring,
               "{\"env\":\"prod\",\"q\":\"a\\\"b\"}");
  EXPECT_EQ(cJSON_GetArraySize(cJSON_GetObjectItem(row, "applied_rules")), 2);
  EXPECT_STREQ(cJSON_GetObjectItem(row, "record")->valuestring, "{\"id\":\"req_1\"}");
  cJSON_Delete(row);
  EXPECT_EQ(clickhouse_sink::createTableSql("db", "t").rfind(
                "CREATE TABLE IF NOT EXISTS db.t (id String, start DateTime,", 0),
            0u);
}

class ClickHouseSink : public ::testing::Test {
 protected:
  void SetUp() override {
    char err[256] = {0};
    ASSERT_EQ(
        table()->create(host_.table(),
                        "{\"url\":\"http://ch:8123\",\"database\":\"logs\",\"table\":\"reqs\","
                        "\"user\":\"u\",\"password\":\"pw\",\"create_table\":true,"
                        "\"max_in_flight\":4,\"timeout_ms\":1000,\"max_buffer_records\":3}",
                        &inst_, err, sizeof err),
        SLUICE_OK)
        << err;
  }
  void TearDown() override { table()->destroy(inst_); }
  void writeRecords(int n) {
    RecordBatchBuilder b;
    for (int i = 0; i < n; i++) b.add(RecordData{});
    ASSERT_EQ(table()->write(inst_, b.batch()), SLUICE_OK);
    table()->flush(inst_);
  }
  FakeHost host_;
  void* inst_ = nullptr;
  sluice_worker* worker_ = reinterpret_cast<sluice_worker*>(0x1);
};

TEST_F(ClickHouseSink, CreatesTheTableThenInserts) {
  table()->attach(inst_, worker_);
  ASSERT_EQ(host_.http_calls.size(), 1u);
  EXPECT_EQ(host_.http_calls[0].url, "http://ch:8123/");
  EXPECT_EQ(host_.http_calls[0].body.rfind("CREATE TABLE IF NOT EXISTS logs.reqs", 0), 0u);
  EXPECT_EQ(host_.http_calls[0].headers[0],
            (std::pair<std::string, std::string>{"X-ClickHouse-User", "u"}));
  EXPECT_EQ(host_.http_calls[0].headers[1],
            (std::pair<std::string, std::string>{"X-ClickHouse-Key", "pw"}));
  writeRecords(2);
  EXPECT_EQ(host_.http_calls.size(), 1u) << "rows wait for the table";
  host_.respond(0, 200, "");
  ASSERT_EQ(host_.http_calls.size(), 2u);
  EXPECT_EQ(host_.http_calls[1].url,
            "http://ch:8123/?query=INSERT%20INTO%20logs.reqs%20FORMAT%20JSONEachRow");
  EXPECT_EQ(std::count(host_.http_calls[1].body.begin(), host_.http_calls[1].body.end(), '\n'), 2);
  host_.respond(1, 200, "");
  EXPECT_EQ(table()->dropped(inst_), 0u);
}

TEST_F(ClickHouseSink, AFailedInsertIsCountedBuffersNewRowsAndRetries) {
  table()->attach(inst_, worker_);
  host_.respond(0, 200, "");
  writeRecords(2);
  ASSERT_EQ(host_.http_calls.size(), 2u);
  host_.respond(1, 0, "");  // connection refused
  EXPECT_EQ(table()->dropped(inst_), 2u);
  writeRecords(5);  // 3 wait (max_buffer_records), 2 dropped
  EXPECT_EQ(table()->dropped(inst_), 4u);
  EXPECT_EQ(host_.http_calls.size(), 2u) << "nothing sent while ClickHouse is away";
  host_.advance(1000);  // the retry asks for the table again
  ASSERT_EQ(host_.http_calls.size(), 3u);
  EXPECT_EQ(host_.http_calls[2].body.rfind("CREATE TABLE", 0), 0u);
  host_.respond(2, 200, "");
  ASSERT_EQ(host_.http_calls.size(), 4u);
  EXPECT_EQ(std::count(host_.http_calls[3].body.begin(), host_.http_calls[3].body.end(), '\n'), 3);
  host_.respond(3, 200, "");
  EXPECT_EQ(table()->dropped(inst_), 4u);
}

TEST(ClickHouseConfig, NamesAreChecked) {
  FakeHost host;
  void* inst = nullptr;
  char err[256] = {0};
  EXPECT_EQ(table()->create(host.table(), "{\"url\":\"http://ch\",\"table\":\"x; DROP\"}", &inst,
                            err, sizeof err),
            SLUICE_ERR_CONFIG);
  EXPECT_STREQ(err, "table 'x; DROP' must be letters, digits and _");
  EXPECT_EQ(table()->create(host.table(), "{\"url\":\"ch:8123\"}", &inst, err, sizeof err),
            SLUICE_ERR_CONFIG);
  EXPECT_STREQ(err, "url must be an http:// or https:// URL");
}

}  // namespace
}  // namespace sluice::testing
