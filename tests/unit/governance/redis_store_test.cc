// The Redis store beyond the shared contract: URLs, exactness across
// connections, and every way Redis can be unavailable, against a real
// redis-server (and a listener that never answers).
#include "governance/redis_store.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <latch>
#include <optional>
#include <thread>
#include <vector>

#include "support/redis_server.h"
#include "support/uv_test_loop.h"

namespace sluice::governance {
namespace {

using Status = ReserveResult::Status;
using testing::RedisServer;
using testing::UvTestLoop;

CounterCheck check(std::string_view key, int64_t limit, int64_t amount, uint32_t ttl_s = 0) {
  CounterCheck c;
  c.key = key;  // a view: the caller keeps the key alive
  c.limit = limit;
  c.amount = amount;
  c.ttl_s = ttl_s;
  return c;
}

// A loopback TCP listener. The kernel completes connections into its backlog,
// but nothing ever reads or answers: a Redis that hangs.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 64);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A loopback port nobody listens on.
std::string closedPortUrl() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return "redis://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

// Records every answer a store gives, to check each call is answered once.
struct Answers {
  std::vector<int> calls;
  std::vector<Status> status;

  CounterStore::ReserveDone slot(size_t i) {
    if (calls.size() <= i) {
      calls.resize(i + 1, 0);
      status.resize(i + 1, Status::Admitted);
    }
    return [this, i](const ReserveResult& r) {
      ++calls[i];
      status[i] = r.status;
    };
  }
  size_t answered() const {
    size_t n = 0;
    for (int c : calls) n += c > 0;
    return n;
  }
  size_t count(Status s, size_t from, size_t to) const {
    size_t n = 0;
    for (size_t i = from; i < to; ++i) n += calls[i] > 0 && status[i] == s;
    return n;
  }
  bool eachOnce() const {
    for (int c : calls) {
      if (c != 1) return false;
    }
    return true;
  }
};

class RedisStoreTest : public ::testing::Test {
 protected:
  void startServer(RedisServer& server) {
    std::string error;
    ASSERT_TRUE(server.start(&error)) << error;
  }

  std::unique_ptr<RedisStore> makeStore(const std::string& url, uint32_t timeout_ms = 5000) {
    RedisOptions options;
    options.url = url;
    options.timeout_ms = timeout_ms;
    return std::make_unique<RedisStore>(loop_.get(), options);
  }

  ReserveResult reserve(RedisStore& store, std::vector<CounterCheck> checks) {
    std::optional<ReserveResult> result;
    store.reserve(std::move(checks), [&](const ReserveResult& r) { result = r; });
    EXPECT_TRUE(loop_.runUntil([&] { return result.has_value(); }, 10000));
    return result.value_or(ReserveResult{});
  }

  std::vector<int64_t> adjust(RedisStore& store, std::vector<CounterDelta> deltas) {
    std::optional<std::vector<int64_t>> values;
    store.adjust(std::move(deltas), [&](const std::vector<int64_t>& v) { values = v; });
    EXPECT_TRUE(loop_.runUntil([&] { return values.has_value(); }, 10000));
    return values.value_or(std::vector<int64_t>{-1});
  }

  void wait(uint64_t ms) {
    loop_.runUntil([] { return false; }, ms);
  }

  void closeAll(RedisStore& store) {
    store.close();
    EXPECT_EQ(loop_.close(), 0) << "handles left open";
  }

  UvTestLoop loop_;
};

TEST(Resp, ArgumentsAreBulkStringsAndComeBackAsViews) {
  RespArgs args;
  args.add("SET").add("k\r\ney").add(int64_t{-42}).add("");
  EXPECT_EQ(args.count, 4u);
  EXPECT_EQ(args.text, "$3\r\nSET\r\n$5\r\nk\r\ney\r\n$3\r\n-42\r\n$0\r\n\r\n");
  std::vector<std::string_view> back = args.views();
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back[0], "SET");
  EXPECT_EQ(back[1], "k\r\ney");  // binary-safe: lengths, not delimiters
  EXPECT_EQ(back[2], "-42");
  EXPECT_EQ(back[3], "");
}

TEST(Resp, CommandCountsHeadAndTail) {
  RespArgs tail;
  tail.add(int64_t{1}).add("key");
  EXPECT_EQ(respCommand({"EVALSHA", "abc"}, tail),
            "*4\r\n$7\r\nEVALSHA\r\n$3\r\nabc\r\n$1\r\n1\r\n$3\r\nkey\r\n");
  EXPECT_EQ(respCommand({}, RespArgs().add("PING")), "*1\r\n$4\r\nPING\r\n");
}

TEST(RedisUrl, ParsesEveryPart) {
  RedisEndpoint ep;
  std::string error;
  ASSERT_TRUE(parseRedisUrl("redis://app:p%40ss:w@cache.internal:6380/3", &ep, &error)) << error;
  EXPECT_EQ(ep.host, "cache.internal");
  EXPECT_EQ(ep.port, 6380);
  EXPECT_EQ(ep.username, "app");
  EXPECT_EQ(ep.password, "p@ss:w");
  EXPECT_EQ(ep.db, 3);

  ASSERT_TRUE(parseRedisUrl("redis://:secret@10.0.0.5", &ep, &error)) << error;
  EXPECT_EQ(ep.host, "10.0.0.5");
  EXPECT_EQ(ep.port, 6379);
  EXPECT_EQ(ep.username, "");
  EXPECT_EQ(ep.password, "secret");
  EXPECT_EQ(ep.db, 0);

  ASSERT_TRUE(parseRedisUrl("redis://[::1]:7000/", &ep, &error)) << error;
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, 7000);

  ASSERT_TRUE(parseRedisUrl("unix:///run/redis/redis.sock", &ep, &error)) << error;
  EXPECT_EQ(ep.unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(ep.host, "");
}

TEST(RedisUrl, RefusesWhatItCannotServe) {
  struct Case {
    const char* url;
    const char* error;
  };
  for (const Case& c : {
           Case{"rediss://cache:6380",
                "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS; use redis:// "
                "(through a TLS tunnel if needed)"},
           Case{"http://cache", "redis url must start with redis:// or unix://"},
           Case{"redis://:6379", "redis url has no host"},
           Case{"redis://cache:0", "redis url has an invalid port '0'"},
           Case{"redis://cache:65536", "redis url has an invalid port '65536'"},
           Case{"redis://cache:port", "redis url has an invalid port 'port'"},
           Case{"redis://cache/db1", "redis url has an invalid database number 'db1'"},
           Case{"redis://[::1:6379", "redis url has an unclosed [ in its host"},
           Case{"redis://:bad%zz@cache", "redis url has a malformed %-escape in its credentials"},
           Case{"unix://relative.sock",
                "unix:// needs an absolute socket path (unix:///path/to/redis.sock)"},
       }) {
    RedisEndpoint ep;
    std::string error;
    EXPECT_FALSE(parseRedisUrl(c.url, &ep, &error)) << c.url;
    EXPECT_EQ(error, c.error) << c.url;
  }
}

TEST_F(RedisStoreTest, BadUrlAnswersUnavailableAtOnce) {
  ::testing::internal::CaptureStderr();
  auto store = makeStore("rediss://cache:6380");
  EXPECT_NE(::testing::internal::GetCapturedStderr().find(
                "error state: invalid redis url: rediss:// (TLS) is not supported"),
            std::string::npos);
  uint64_t before = stateUnavailableTotal();
  std::optional<ReserveResult> reserved;
  std::optional<std::vector<int64_t>> adjusted;
  std::optional<bool> claimed;
  store->reserve({check("k", 1, 1)}, [&](const ReserveResult& r) { reserved = r; });
  store->adjust({{"k", 1, 0}}, [&](const std::vector<int64_t>& v) { adjusted = v; });
  store->claimOnce("k", 1, [&](bool first) { claimed = first; });
  ASSERT_TRUE(reserved && adjusted && claimed) << "answered before the calls returned";
  EXPECT_EQ(reserved->status, Status::Unavailable);
  EXPECT_TRUE(reserved->before.empty());
  EXPECT_TRUE(adjusted->empty());
  EXPECT_FALSE(*claimed);
  EXPECT_EQ(stateUnavailableTotal() - before, 3u);
  EXPECT_FALSE(store->connected());
  closeAll(*store);
}

// Three connections (three threads, three loops) race 300 reservations at a
// limit of 100, as three replicas sharing one Redis would.
TEST_F(RedisStoreTest, ThreeStoresAdmitExactlyTheLimit) {
  RedisServer server;
  startServer(server);
  std::latch ready(3);
  std::atomic<int> admitted{0}, refused{0}, unavailable{0}, connected{0}, leaked{0};
  auto replica = [&] {
    UvTestLoop loop;
    RedisOptions options;
    options.url = server.url();
    options.timeout_ms = 5000;
    RedisStore store(loop.get(), options);
    if (loop.runUntil([&] { return store.connected(); })) ++connected;
    ready.arrive_and_wait();
    int answered = 0;
    for (int i = 0; i < 100; ++i) {
      store.reserve({check("rpm:shared", 100, 1, 60)}, [&](const ReserveResult& r) {
        ++answered;
        if (r.status == Status::Admitted) ++admitted;
        if (r.status == Status::Refused) ++refused;
        if (r.status == Status::Unavailable) ++unavailable;
      });
    }
    loop.runUntil([&] { return answered == 100; }, 20000);
    store.close();
    leaked += loop.close();
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(replica);
  for (auto& t : threads) t.join();
  EXPECT_EQ(connected.load(), 3);
  EXPECT_EQ(admitted.load(), 100);
  EXPECT_EQ(refused.load(), 200);
  EXPECT_EQ(unavailable.load(), 0);
  EXPECT_EQ(leaked.load(), 0);
  EXPECT_EQ(server.command({"GET", "rpm:shared"}), "100");
  int ttl = std::stoi(server.command({"TTL", "rpm:shared"}));
  EXPECT_GT(ttl, 0);
  EXPECT_LE(ttl, 60);
}

TEST_F(RedisStoreTest, RunsTheScriptAgainAfterTheServerForgetsIt) {
  RedisServer server;
  startServer(server);
  auto store = makeStore(server.url());
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));
  EXPECT_EQ(reserve(*store, {check("k", 10, 1)}).status, Status::Admitted);
  EXPECT_EQ(server.command({"SCRIPT", "FLUSH"}), "OK");
  ReserveResult r = reserve(*store, {check("k", 10, 1)});
  EXPECT_EQ(r.status, Status::Admitted);
  EXPECT_EQ(r.before, std::vector<int64_t>{1});
  EXPECT_EQ(server.command({"SCRIPT", "FLUSH"}), "OK");
  EXPECT_EQ(adjust(*store, {{"k", 5, 0}}), std::vector<int64_t>{7});
  closeAll(*store);
}

TEST_F(RedisStoreTest, ReservationsOfOneLoopTurnGoTogetherAndAreDecidedInOrder) {
  RedisServer server;
  startServer(server);
  auto store = makeStore(server.url());
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));
  EXPECT_EQ(server.command({"CONFIG", "RESETSTAT"}), "OK");
  std::vector<std::optional<ReserveResult>> got(5);
  for (size_t i = 0; i < got.size(); i++) {
    // Each reservation takes a shared key and one of its own.
    std::vector<CounterCheck> checks{check("batch:shared", 3, 1), check(i % 2 ? "batch:odd" : "batch:even", 100, 10)};
    store->reserve(checks, [&got, i](const ReserveResult& r) { got[i] = r; });
  }
  ASSERT_TRUE(loop_.runUntil([&] { return got.back().has_value(); }));
  for (size_t i = 0; i < got.size(); i++) {
    ASSERT_TRUE(got[i]) << i;
    EXPECT_EQ(got[i]->status, i < 3 ? Status::Admitted : Status::Refused) << i;
  }
  EXPECT_EQ(got[2]->before, (std::vector<int64_t>{2, 10}));
  EXPECT_EQ(got[3]->refused, 0);
  EXPECT_EQ(server.command({"MGET", "batch:shared", "batch:even", "batch:odd"}), "3,20,10");
  std::string stats = server.command({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_evalsha:calls=1,"), std::string::npos) << stats;
  closeAll(*store);
}

TEST_F(RedisStoreTest, SettlementsNobodyWaitsOnAreSentTogether) {
  RedisServer server;
  startServer(server);
  auto store = makeStore(server.url());
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));
  EXPECT_EQ(server.command({"CONFIG", "RESETSTAT"}), "OK");
  // Fifty settlements within one turn of the loop, over two keys, one of
  // which adds up to nothing.
  for (int i = 0; i < 50; i++) {
    std::string_view a = "settle:a", b = "settle:b";
    store->adjust({{a, 2, 60}, {b, i % 2 ? 1 : -1, 60}}, nullptr);
  }
  EXPECT_EQ(server.command({"GET", "settle:a"}), "(nil)") << "nothing is sent before the loop turns";
  ASSERT_TRUE(loop_.runUntil([&] { return server.command({"GET", "settle:a"}) == "100"; }, 2000));
  EXPECT_EQ(server.command({"EXISTS", "settle:b"}), "0");
  std::string stats = server.command({"INFO", "commandstats"});
  // One command for the fifty (an EVAL after it when the script was not loaded yet).
  EXPECT_NE(stats.find("cmdstat_evalsha:calls=1,"), std::string::npos) << stats;
  closeAll(*store);
}

TEST_F(RedisStoreTest, SettlementsAndReservationsOfOneTurnShareOneRun) {
  RedisServer server;
  startServer(server);
  auto store = makeStore(server.url());
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));
  // A budget: `held` counts reservations, `spent` what settled, both toward the limit.
  EXPECT_EQ(reserve(*store, {check("turn:held", 100, 60, 60)}).status, Status::Admitted);
  EXPECT_EQ(server.command({"CONFIG", "RESETSTAT"}), "OK");
  // Within one turn: the 60 settles as 30 spent, then three reservations of
  // 30 against held + spent (60 left): two fit, the third does not.
  std::string_view held = "turn:held", spent = "turn:spent";
  store->adjust({{held, -60, 60}, {spent, 30, 60}}, nullptr);
  std::vector<std::optional<ReserveResult>> got(3);
  for (size_t i = 0; i < got.size(); i++) {
    CounterCheck c = check(held, 100, 30, 60);
    c.other_key = spent;
    c.other_weight_ppm = 1000000;
    store->reserve({c, check("turn:requests", 10, 1, 60)},
                   [&got, i](const ReserveResult& r) { got[i] = r; });
  }
  ASSERT_TRUE(loop_.runUntil([&] { return got.back().has_value(); }));
  EXPECT_EQ(got[0]->status, Status::Admitted);
  EXPECT_EQ(got[0]->before, (std::vector<int64_t>{30, 0}));
  EXPECT_EQ(got[1]->status, Status::Admitted);
  EXPECT_EQ(got[1]->before, (std::vector<int64_t>{60, 1}));
  EXPECT_EQ(got[2]->status, Status::Refused);
  EXPECT_EQ(got[2]->refused, 0);
  EXPECT_EQ(server.command({"MGET", "turn:held", "turn:spent", "turn:requests"}), "60,30,2");
  EXPECT_NE(server.command({"TTL", "turn:spent"}), "-1") << "a key the run made expires";
  EXPECT_NE(server.command({"TTL", "turn:requests"}), "-1");
  std::string stats = server.command({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_evalsha:calls=1,"), std::string::npos) << stats;
  // Each key is written at most twice in the run (its first use, then what
  // the later ones add up to): held, requests twice, spent once.
  EXPECT_NE(stats.find("cmdstat_incrby:calls=5,"), std::string::npos) << stats;
  closeAll(*store);
}

TEST_F(RedisStoreTest, WhileABatchIsOutLaterTurnsWaitAndGoTogether) {
  RedisServer server;
  startServer(server);
  auto store = makeStore(server.url());
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));
  EXPECT_EQ(server.command({"CONFIG", "RESETSTAT"}), "OK");
  EXPECT_EQ(server.command({"CLIENT", "PAUSE", "300", "ALL"}), "OK");
  // The first turn's batch goes out and waits on the paused server; three
  // later turns' reservations wait for its answer, then go in one run.
  std::vector<std::optional<ReserveResult>> got(4);
  for (size_t i = 0; i < got.size(); i++) {
    store->reserve({check("flight", 3, 1, 60)}, [&got, i](const ReserveResult& r) { got[i] = r; });
    wait(20);
  }
  ASSERT_TRUE(loop_.runUntil([&] { return got.back().has_value(); }, 5000));
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i]->status, i < 3 ? Status::Admitted : Status::Refused) << i;
  }
  EXPECT_EQ(got[2]->before, std::vector<int64_t>{2});
  EXPECT_EQ(server.command({"GET", "flight"}), "3");
  std::string stats = server.command({"INFO", "commandstats"});
  EXPECT_NE(stats.find("cmdstat_evalsha:calls=2,"), std::string::npos) << stats;
  closeAll(*store);
}

TEST_F(RedisStoreTest, AuthenticatesAndSelectsTheDatabase) {
  RedisServer server("s3cret");
  startServer(server);
  std::string base = "127.0.0.1:" + std::to_string(server.port());
  auto store = makeStore("redis://:s3cret@" + base + "/2");
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));
  EXPECT_EQ(adjust(*store, {{"k", 5, 0}}), std::vector<int64_t>{5});
  EXPECT_EQ(server.command({"GET", "k"}, 2), "5");
  EXPECT_EQ(server.command({"GET", "k"}, 0), "(nil)");

  auto named = makeStore("redis://default:s3cret@" + base);
  ASSERT_TRUE(loop_.runUntil([&] { return named->connected(); }));
  EXPECT_EQ(adjust(*named, {{"k", 1, 0}}), std::vector<int64_t>{1});
  named->close();

  auto wrong = makeStore("redis://:wrong@" + base);
  EXPECT_EQ(reserve(*wrong, {check("k", 10, 1)}).status, Status::Unavailable);
  EXPECT_FALSE(wrong->connected());
  wrong->close();
  closeAll(*store);
}

TEST_F(RedisStoreTest, ResolvesHostNamesOffTheLoop) {
  RedisServer server;
  startServer(server);
  auto store = makeStore("redis://localhost:" + std::to_string(server.port()));
  EXPECT_FALSE(store->connected()) << "a name cannot be connected before it resolves";
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }, 5000));
  EXPECT_EQ(reserve(*store, {check("k", 10, 1)}).status, Status::Admitted);
  closeAll(*store);
}

TEST_F(RedisStoreTest, ClosedPortAnswersPromptlyAndTheLoopKeepsTurning) {
  auto store = makeStore(closedPortUrl(), /*timeout_ms=*/5000);
  uint64_t before = stateUnavailableTotal();
  // A timer ticks every 10 ms and issues a reservation on each tick; every
  // answer must come long before the 5 s timeout.
  struct Probe {
    RedisStore* store;
    int ticks = 0;
    int answers = 0;
    int unavailable = 0;
    uint64_t slowest_ms = 0;
    uv_loop_t* loop;
  } probe{store.get(), 0, 0, 0, 0, loop_.get()};
  uv_timer_t ticker;
  uv_timer_init(loop_.get(), &ticker);
  ticker.data = &probe;
  uv_timer_start(
      &ticker,
      [](uv_timer_t* t) {
        auto* p = static_cast<Probe*>(t->data);
        ++p->ticks;
        uint64_t sent = uv_now(p->loop);
        p->store->reserve({check("k", 10, 1)}, [p, sent](const ReserveResult& r) {
          ++p->answers;
          p->unavailable += r.status == Status::Unavailable;
          uv_update_time(p->loop);
          p->slowest_ms = std::max(p->slowest_ms, uv_now(p->loop) - sent);
        });
      },
      10, 10);
  wait(500);
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);
  EXPECT_TRUE(loop_.runUntil([&] { return probe.answers == probe.ticks; }, 1000));
  EXPECT_GE(probe.ticks, 20) << "the loop stalled";
  EXPECT_EQ(probe.unavailable, probe.ticks);
  EXPECT_LT(probe.slowest_ms, 200u);
  EXPECT_EQ(stateUnavailableTotal() - before, static_cast<uint64_t>(probe.ticks));
  EXPECT_FALSE(store->connected());
  closeAll(*store);
}

TEST_F(RedisStoreTest, SilentServerTimesOut) {
  SilentListener silent;
  auto store = makeStore(silent.url(), /*timeout_ms=*/200);
  uv_update_time(loop_.get());
  uint64_t start = uv_now(loop_.get());
  std::optional<ReserveResult> result;
  std::optional<std::vector<int64_t>> values;
  store->reserve({check("k", 10, 1)}, [&](const ReserveResult& r) { result = r; });
  store->read({"k"}, [&](const std::vector<int64_t>& v) { values = v; });
  ASSERT_TRUE(loop_.runUntil([&] { return result && values; }, 3000));
  uint64_t elapsed = uv_now(loop_.get()) - start;
  EXPECT_EQ(result->status, Status::Unavailable);
  EXPECT_TRUE(values->empty());
  EXPECT_GE(elapsed, 200u);
  EXPECT_LT(elapsed, 700u);
  EXPECT_FALSE(store->connected());

  // The stalled connection is dropped and retried; calls keep being answered.
  wait(1500);
  EXPECT_EQ(reserve(*store, {check("k", 10, 1)}).status, Status::Unavailable);
  closeAll(*store);
}

TEST_F(RedisStoreTest, KilledServerAnswersEachCallOnceAndIsReconnected) {
  RedisServer server;
  startServer(server);
  auto store = makeStore(server.url(), /*timeout_ms=*/5000);
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));

  Answers answers;
  for (size_t i = 0; i < 100; ++i) store->reserve({check("k", 1000, 1)}, answers.slot(i));
  ASSERT_TRUE(loop_.runUntil([&] { return answers.answered() == 100; }));
  // Freeze the server so the next calls are sent but never executed, then kill it.
  EXPECT_EQ(server.command({"CLIENT", "PAUSE", "10000", "ALL"}), "OK");
  for (size_t i = 100; i < 300; ++i) store->reserve({check("k", 1000, 1)}, answers.slot(i));
  wait(50);
  EXPECT_EQ(answers.answered(), 100u) << "the paused server answered";
  server.stop();
  ASSERT_TRUE(loop_.runUntil([&] { return answers.answered() == 300; }, 3000));
  wait(200);  // nothing answers twice
  EXPECT_TRUE(answers.eachOnce());
  EXPECT_EQ(answers.count(Status::Admitted, 0, 100), 100u);
  EXPECT_EQ(answers.count(Status::Unavailable, 100, 300), 200u);
  EXPECT_FALSE(store->connected());

  startServer(server);  // same port, empty data
  bool admitted = false;
  for (int i = 0; i < 100 && !admitted; ++i) {  // every 100 ms, for at most 10 s
    admitted = reserve(*store, {check("k", 1000, 1)}).status == Status::Admitted;
    if (!admitted) wait(100);
  }
  ASSERT_TRUE(admitted) << "did not reconnect";
  EXPECT_TRUE(store->connected());
  EXPECT_TRUE(answers.eachOnce());
  closeAll(*store);
}

TEST_F(RedisStoreTest, ReservationAdmittedAfterItsTimeoutIsUndone) {
  RedisServer server;
  startServer(server);
  auto store = makeStore(server.url(), /*timeout_ms=*/150);
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));
  EXPECT_EQ(server.command({"CLIENT", "PAUSE", "600", "ALL"}), "OK");
  // A settlement in the same run stands: it was owed whatever the answer.
  std::string_view settled = "late:settled";
  store->adjust({{settled, 4, 60}}, nullptr);
  ReserveResult r = reserve(*store, {check("late", 10, 3, 60), check("late2", 10, 2, 60)});
  EXPECT_EQ(r.status, Status::Unavailable);
  // Once the pause ends the script runs and admits; the store gives it back.
  wait(700);
  bool undone = false;
  for (int i = 0; i < 60 && !undone; ++i) {
    undone = server.command({"MGET", "late", "late2", "late:settled"}) == "0,0,4";
    if (!undone) wait(50);
  }
  EXPECT_TRUE(undone) << server.command({"MGET", "late", "late2", "late:settled"})
                      << " (nil: the script never ran; 3,2: it leaked)";
  closeAll(*store);
}

TEST_F(RedisStoreTest, AReplyWaitingWhenTheLoopWasHeldUpIsNotLate) {
  RedisServer server;
  startServer(server);
  auto store = makeStore(server.url(), /*timeout_ms=*/150);
  ASSERT_TRUE(loop_.runUntil([&] { return store->connected(); }));
  ASSERT_EQ(reserve(*store, {check("warm", 10, 1, 60)}).status, Status::Admitted);  // script loaded
  // The reply comes 100 ms after the call, within its 150 ms, but the loop
  // only turns again after 400 ms, when the call's timer is due.
  EXPECT_EQ(server.command({"CLIENT", "PAUSE", "100", "ALL"}), "OK");
  std::optional<ReserveResult> got;
  store->reserve({check("held-up", 10, 1, 60)}, [&](const ReserveResult& r) { got = r; });
  uv_run(loop_.get(), UV_RUN_NOWAIT);  // sends it
  ASSERT_FALSE(got.has_value());
  usleep(400 * 1000);
  ASSERT_TRUE(loop_.runUntil([&] { return got.has_value(); }));
  EXPECT_EQ(got->status, Status::Admitted);
  EXPECT_EQ(server.command({"GET", "held-up"}), "1");
  closeAll(*store);
}

TEST_F(RedisStoreTest, CloseAnswersPendingCallsAndLeavesNoHandles) {
  SilentListener silent;
  auto store = makeStore(silent.url(), /*timeout_ms=*/5000);
  Answers answers;
  for (size_t i = 0; i < 5; ++i) store->reserve({check("k", 10, 1)}, answers.slot(i));
  std::optional<bool> claimed;
  store->claimOnce("c", 10, [&](bool first) { claimed = first; });
  wait(50);
  EXPECT_EQ(answers.answered(), 0u);
  store->close();
  EXPECT_EQ(answers.answered(), 5u);
  EXPECT_TRUE(answers.eachOnce());
  EXPECT_EQ(answers.count(Status::Unavailable, 0, 5), 5u);
  ASSERT_TRUE(claimed.has_value());
  EXPECT_FALSE(*claimed);
  std::optional<ReserveResult> after;
  store->reserve({check("k", 10, 1)}, [&](const ReserveResult& r) { after = r; });
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->status, Status::Unavailable);
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(RedisStoreTest, ClosingWhileResolvingIsSafe) {
  auto store = makeStore("redis://localhost:1");
  store->close();
  store.reset();
  EXPECT_EQ(loop_.close(), 0);
}

TEST_F(RedisStoreTest, FactoryGivesEachLoopItsOwnConnection) {
  RedisServer server;
  startServer(server);
  RedisOptions options;
  options.url = server.url();
  CounterStoreFactory factory = redisStoreFactory(options);
  std::unique_ptr<CounterStore> a = factory(loop_.get());
  std::unique_ptr<CounterStore> b = factory(loop_.get());
  auto* ra = dynamic_cast<RedisStore*>(a.get());
  auto* rb = dynamic_cast<RedisStore*>(b.get());
  ASSERT_TRUE(ra && rb && ra != rb);
  ASSERT_TRUE(loop_.runUntil([&] { return ra->connected() && rb->connected(); }));
  int clients = 0;
  std::string list = server.command({"CLIENT", "LIST"});
  for (size_t p = list.find("cmd="); p != std::string::npos; p = list.find("cmd=", p + 1))
    ++clients;
  EXPECT_EQ(clients, 3) << "two stores and this query";
  ra->close();
  closeAll(*rb);
}

}  // namespace
}  // namespace sluice::governance
