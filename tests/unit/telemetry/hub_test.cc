// The sink thread: records from worker queues reach the sinks (the real
// access-log and sqlite plugins from the build tree), full queues drop and
// count, reloads keep unchanged sinks, and shutdown delivers what is queued.
#include "telemetry/hub.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace sluice::telemetry {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t lineCount(const std::string& path) {
  std::string t = readFile(path);
  return static_cast<size_t>(std::count(t.begin(), t.end(), '\n'));
}

// Polls `cond` for up to five seconds.
template <typename F>
bool eventually(F cond) {
  for (int i = 0; i < 500; i++) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/sluice-hub-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  manifest::Config config(const std::vector<std::pair<std::string, std::string>>& sinks) {
    manifest::Config c;
    c.logging.flush_interval_ms = 10;
    for (const auto& [plugin, json] : sinks) c.sinks.push_back({plugin, json, {}});
    return c;
  }
  std::string accessLog(const std::string& name) {
    return "{\"format\":\"logfmt\",\"path\":\"" + dir_ + "/" + name + "\"}";
  }
  pipeline::RequestRecord record(int i) {
    pipeline::RequestRecord r;
    r.id = "req_" + std::to_string(i);
    r.status = 200;
    r.start_ms = 1795000000000 + i;
    r.trace_id = "t" + std::to_string(i);
    return r;
  }
  std::string metrics(Hub* hub) {
    std::string m;
    hub->appendMetrics(&m);
    return m;
  }

  plugins::Registry registry_{{SLUICE_BINARY_DIR "/plugins"}};
  std::string dir_;
};

TEST_F(HubTest, RecordsFromEveryWorkerReachTheSink) {
  manifest::LoggingConfig logging;
  Hub hub(2, logging);
  std::vector<std::string> errors;
  ASSERT_TRUE(hub.configure(config({{"access-log", accessLog("a.log")}}), &registry_, &errors));
  std::string err;
  ASSERT_TRUE(hub.start({}, &err)) << err;
  EXPECT_TRUE(hub.outbox(0)->active());
  std::thread other([&] {
    for (int i = 0; i < 100; i++) hub.outbox(1)->submit(record(1000 + i));
  });
  for (int i = 0; i < 100; i++) hub.outbox(0)->submit(record(i));
  other.join();
  EXPECT_TRUE(eventually([&] { return lineCount(dir_ + "/a.log") == 200; }));
  std::string m = metrics(&hub);
  EXPECT_NE(m.find("sluice_telemetry_records_total 200\n"), std::string::npos) << m;
  EXPECT_NE(m.find("sluice_sink_records_total{sink=\"access-log\"} 200\n"), std::string::npos) << m;
  EXPECT_NE(m.find("sluice_telemetry_queue_dropped_total 0\n"), std::string::npos) << m;
  hub.stop();
}

TEST_F(HubTest, AFullQueueDropsAndCountsAndStopDeliversTheRest) {
  manifest::LoggingConfig logging;
  logging.queue_records = 16;
  Hub hub(1, logging);
  std::vector<std::string> errors;
  manifest::Config c = config({{"access-log", accessLog("q.log")}});
  c.logging.flush_interval_ms = 60000;  // the thread only drains at stop
  c.logging.batch_records = 65536;
  ASSERT_TRUE(hub.configure(c, &registry_, &errors));
  std::string err;
  ASSERT_TRUE(hub.start({}, &err));
  for (int i = 0; i < 40; i++) hub.outbox(0)->submit(record(i));
  std::string m = metrics(&hub);
  EXPECT_NE(m.find("sluice_telemetry_queue_dropped_total 24\n"), std::string::npos) << m;
  EXPECT_NE(m.find("sluice_telemetry_queue_depth 16\n"), std::string::npos) << m;
  hub.stop();
  EXPECT_EQ(lineCount(dir_ + "/q.log"), 16u);
}

TEST_F(HubTest, ReconfigureKeepsUnchangedSinksAndRefusesBadOnes) {
  manifest::LoggingConfig logging;
  Hub hub(1, logging);
  std::vector<std::string> errors;
  ASSERT_TRUE(hub.configure(config({{"access-log", accessLog("a.log")}}), &registry_, &errors));
  std::string err;
  ASSERT_TRUE(hub.start({}, &err));
  hub.outbox(0)->submit(record(1));
  ASSERT_TRUE(eventually([&] { return lineCount(dir_ + "/a.log") == 1; }));

  // The same access log and a new one: the first keeps its counter.
  ASSERT_TRUE(hub.configure(
      config({{"access-log", accessLog("a.log")}, {"access-log", accessLog("b.log")}}), &registry_,
      &errors));
  ASSERT_TRUE(eventually([&] { return hub.sinkLabels().size() == 2; }));
  hub.outbox(0)->submit(record(2));
  ASSERT_TRUE(eventually(
      [&] { return lineCount(dir_ + "/b.log") == 1 && lineCount(dir_ + "/a.log") == 2; }));
  EXPECT_NE(metrics(&hub).find("sluice_sink_records_total{sink=\"access-log\"} 2\n"),
            std::string::npos);

  EXPECT_FALSE(
      hub.configure(config({{"sqlite", "{\"path\":\"/proc/none/x.db\"}"}, {"no-such-sink", "{}"}}),
                    &registry_, &errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].rfind("sinks[0] (sqlite): cannot open /proc/none/x.db", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind("sinks[1] (no-such-sink): ", 0), 0u) << errors[1];
  EXPECT_EQ(hub.sinkLabels(), (std::vector<std::string>{"access-log", "access-log#2"}));
  hub.stop();
}

TEST_F(HubTest, QueriesGoToTheSinkThatServesThem) {
  manifest::LoggingConfig logging;
  Hub hub(1, logging);
  std::vector<std::string> errors;
  ASSERT_TRUE(hub.configure(
      config({{"access-log", accessLog("a.log")},
              {"sqlite", "{\"path\":\"" + dir_ + "/r.db\",\"retention_days\":0,\"max_rows\":0}"}}),
      &registry_, &errors))
      << errors[0];
  std::string err;
  ASSERT_TRUE(hub.start({}, &err));
  EXPECT_FALSE(hub.query("metrics", {}, [](int, std::string_view, std::string_view) {}));
  hub.outbox(0)->submit(record(7));
  std::string body;
  ASSERT_TRUE(eventually([&] {
    bool answered = hub.query("request", {{"id", "req_7"}},
                              [&](int status, std::string_view, std::string_view b) {
                                body = status == 200 ? std::string(b) : "";
                              });
    return answered && !body.empty();
  }));
  EXPECT_NE(body.find("\"id\":\"req_7\""), std::string::npos) << body;
  hub.stop();
}

TEST_F(HubTest, DeliveredRecordsComeBackToTheirWorkerForReuse) {
  manifest::LoggingConfig logging;
  Hub hub(1, logging);
  std::vector<std::string> errors;
  ASSERT_TRUE(hub.configure(config({{"access-log", accessLog("a.log")}}), &registry_, &errors));
  std::string err;
  ASSERT_TRUE(hub.start({}, &err));
  EXPECT_EQ(hub.outbox(0)->reuse(), nullptr) << "nothing delivered yet";
  pipeline::RequestRecord first = record(1);
  first.path = "/v1/chat/completions?a-path-longer-than-a-short-string";
  hub.outbox(0)->submit(std::move(first));
  EXPECT_TRUE(first.id.empty()) << "nothing to reuse yet: the caller keeps an empty shell";
  ASSERT_TRUE(eventually([&] { return lineCount(dir_ + "/a.log") == 1; }));
  // The delivered record comes back cleared, with its memory.
  std::unique_ptr<pipeline::RequestRecord> shell;
  ASSERT_TRUE(eventually([&] { return (shell = hub.outbox(0)->reuse()) != nullptr; }));
  EXPECT_EQ(*shell, pipeline::RequestRecord());
  EXPECT_GE(shell->path.capacity(), 54u);  // the path above
  *shell = record(2);
  hub.outbox(0)->submit(std::move(shell));
  ASSERT_TRUE(eventually([&] { return lineCount(dir_ + "/a.log") == 2; }));
  EXPECT_NE(readFile(dir_ + "/a.log").find("trace_id=t2"), std::string::npos);
  // A submission by value swaps with a returned shell when there is one.
  pipeline::RequestRecord third = record(3);
  hub.outbox(0)->submit(std::move(third));
  ASSERT_TRUE(eventually([&] { return lineCount(dir_ + "/a.log") == 3; }));
  hub.stop();
}

TEST_F(HubTest, NoSinksMeansNoRecordsWorthBuilding) {
  manifest::LoggingConfig logging;
  Hub hub(1, logging);
  std::vector<std::string> errors;
  ASSERT_TRUE(hub.configure(config({}), &registry_, &errors));
  EXPECT_FALSE(hub.outbox(0)->active());
}

}  // namespace
}  // namespace sluice::telemetry

namespace sluice::telemetry {
namespace {

// Each tap sink logs one line per record: the length of the JSON it got.
std::vector<size_t> jsonLengths(const std::string& path) {
  std::vector<size_t> out;
  std::ifstream in(path);
  for (size_t n; in >> n;) out.push_back(n);
  return out;
}

// The kernel builds the record JSON only while a running sink reads it.
TEST_F(HubTest, RecordJsonIsBuiltOnlyWhenASinkReadsIt) {
  plugins::Registry registry({SLUICE_BINARY_DIR "/plugins", SLUICE_BINARY_DIR "/fixtures/taps"});
  std::string views = dir_ + "/views.txt", json = dir_ + "/json.txt";
  auto tap = [](const std::string& path) { return "{\"path\":\"" + path + "\"}"; };
  manifest::LoggingConfig logging;
  Hub hub(1, logging);
  std::vector<std::string> errors;
  ASSERT_TRUE(hub.configure(config({{"views-tap", tap(views)}}), &registry, &errors));
  std::string err;
  ASSERT_TRUE(hub.start({}, &err)) << err;
  for (int i = 0; i < 3; i++) hub.outbox(0)->submit(record(i));
  EXPECT_TRUE(eventually([&] { return jsonLengths(views).size() == 3; }));
  EXPECT_EQ(jsonLengths(views), (std::vector<size_t>{0, 0, 0})) << "views only: no JSON";

  ASSERT_TRUE(hub.configure(config({{"views-tap", tap(views)}, {"json-tap", tap(json)}}), &registry,
                            &errors));
  EXPECT_TRUE(eventually([&] {
    hub.outbox(0)->submit(record(9));
    return !jsonLengths(json).empty();
  }));
  hub.stop();
  for (size_t n : jsonLengths(json)) EXPECT_GT(n, 0u) << "a sink that reads JSON gets it";
  std::vector<size_t> seen = jsonLengths(views);
  ASSERT_GT(seen.size(), 3u);
  EXPECT_GT(seen.back(), 0u) << "built once per batch, every sink sees it";
}

}  // namespace
}  // namespace sluice::telemetry
