// The server over real sockets: the loop runs on the test thread, a blocking
// client runs on another, and the test ends when the client is done.
#include "http/server.h"

#include "support/loopback_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace sluice::http {
namespace {

using sluice::testing::connectLoopback;

void sendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Reads until `done(buffer)` holds, EOF, or the deadline. Returns what came.
std::string readUntil(int fd, const std::function<bool(const std::string&)>& done,
                      int timeout_ms = 5000, bool* eof = nullptr) {
  std::string buf;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done(buf)) {
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) break;
    char tmp[65536];
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      if (eof) *eof = true;
      break;
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
  return buf;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) n++;
  return n;
}

// Runs `client(port)` on a thread against a server with `handler`.
class ServerFixture : public ::testing::Test {
 protected:
  void run(Handler handler, std::function<void(uint16_t)> client) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    server_ = std::make_unique<Server>(&loop, limits_, std::move(handler));
    std::string err;
    ASSERT_EQ(server_->listen("127.0.0.1", 0, &err), 0) << err;
    uint16_t port = server_->boundPort();
    uv_async_t done;
    uv_async_init(&loop, &done, [](uv_async_t* a) {
      auto* self = static_cast<ServerFixture*>(a->data);
      self->server_->drain([] {});
      self->server_->closeAll();
      uv_close(reinterpret_cast<uv_handle_t*>(a), nullptr);
    });
    done.data = this;
    loop_ = &loop;
    std::thread t([&] {
      client(port);
      uv_async_send(&done);
    });
    uv_run(&loop, UV_RUN_DEFAULT);
    t.join();
    server_.reset();
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
  }
  manifest::Limits limits_;
  std::unique_ptr<Server> server_;
  uv_loop_t* loop_ = nullptr;
};

Handler echoPath() {
  return [](Request& req, Response& res) {
    res.respond(200, {{"Content-Type", "text/plain"}}, std::string(req.path()) + ":" + req.body);
  };
}

TEST_F(ServerFixture, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::atomic<int> handled{0};
  run(
      [&](Request& req, Response& res) {
        handled++;
        res.respond(200, {}, std::string(req.path()));
      },
      [](uint16_t port) {
        int fd = connectLoopback(port);
        for (int i = 0; i < 3; i++) {
          sendAll(fd, "GET /r" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
          std::string want = "/r" + std::to_string(i);
          std::string got = readUntil(fd, [&](const std::string& b) { return b.find(want) != std::string::npos; });
          EXPECT_NE(got.find("HTTP/1.1 200 OK\r\n"), std::string::npos);
          EXPECT_NE(got.find("Connection: keep-alive"), std::string::npos);
        }
        close(fd);
      });
  EXPECT_EQ(handled, 3);
  EXPECT_EQ(server_ ? 0u : 0u, 0u);
}

TEST_F(ServerFixture, PipelinedRequestsAreAnsweredInOrder) {
  run(
      [this](Request& req, Response& res) {
        // Answer the first one late, so order must be kept by the server.
        if (req.path() == "/first") {
          auto* timer = new uv_timer_t;
          uv_timer_init(loop_, timer);
          timer->data = &res;
          uv_timer_start(
              timer,
              [](uv_timer_t* t) {
                static_cast<Response*>(t->data)->respond(200, {}, "one");
                uv_close(reinterpret_cast<uv_handle_t*>(t),
                         [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
              },
              50, 0);
          return;
        }
        res.respond(200, {}, "two");
      },
      [](uint16_t port) {
        int fd = connectLoopback(port);
        sendAll(fd, "GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n");
        std::string got = readUntil(fd, [](const std::string& b) { return b.find("two") != std::string::npos; });
        size_t one = got.find("one"), two = got.find("two");
        ASSERT_NE(one, std::string::npos);
        ASSERT_NE(two, std::string::npos);
        EXPECT_LT(one, two);
        close(fd);
      });
}

TEST_F(ServerFixture, BodyTooLargeIs413WithMessage) {
  limits_.max_body_bytes = 10;
  run(echoPath(), [](uint16_t port) {
    int fd = connectLoopback(port);
    sendAll(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890");
    bool eof = false;
    std::string got = readUntil(fd, [](const std::string&) { return false; }, 3000, &eof);
    EXPECT_EQ(got.rfind("HTTP/1.1 413 Payload Too Large\r\n", 0), 0u) << got;
    EXPECT_NE(got.find("request body is larger than server.limits.max_body_bytes (10)"),
              std::string::npos);
    EXPECT_TRUE(eof);
    close(fd);
  });
}

TEST_F(ServerFixture, HeadersTooLargeIs431) {
  limits_.max_header_bytes = 100;
  run(echoPath(), [](uint16_t port) {
    int fd = connectLoopback(port);
    sendAll(fd, "GET /x HTTP/1.1\r\nX-A: " + std::string(200, 'a') + "\r\n\r\n");
    std::string got = readUntil(fd, [](const std::string& b) { return b.find("}}") != std::string::npos; });
    EXPECT_EQ(got.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u) << got;
    EXPECT_NE(got.find("max_header_bytes (100)"), std::string::npos);
    close(fd);
  });
}

TEST_F(ServerFixture, SlowHeadersGet408) {
  limits_.header_timeout_ms = 100;
  run(echoPath(), [](uint16_t port) {
    int fd = connectLoopback(port);
    sendAll(fd, "GET /x HTTP/1.1\r\nHost:");
    bool eof = false;
    std::string got = readUntil(fd, [](const std::string&) { return false; }, 3000, &eof);
    EXPECT_EQ(got.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << got;
    EXPECT_TRUE(eof);
    close(fd);
  });
}

TEST_F(ServerFixture, IdleConnectionIsClosed) {
  limits_.idle_timeout_ms = 100;
  run(echoPath(), [](uint16_t port) {
    int fd = connectLoopback(port);
    bool eof = false;
    std::string got = readUntil(fd, [](const std::string&) { return false; }, 3000, &eof);
    EXPECT_TRUE(eof);
    EXPECT_EQ(got, "");
    close(fd);
  });
}

TEST_F(ServerFixture, ExpectContinueGets100BeforeBody) {
  run(echoPath(), [](uint16_t port) {
    int fd = connectLoopback(port);
    sendAll(fd, "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    std::string got = readUntil(fd, [](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; });
    EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
    sendAll(fd, "abc");
    got = readUntil(fd, [](const std::string& b) { return b.find("/x:abc") != std::string::npos; });
    EXPECT_NE(got.find("200 OK"), std::string::npos);
    close(fd);
  });
}

TEST_F(ServerFixture, StreamsChunkedResponse) {
  run(
      [](Request&, Response& res) {
        res.begin(200, {{"Content-Type", "text/event-stream"}});
        res.write("data: 1\n\n");
        res.write("data: 2\n\n");
        res.end();
      },
      [](uint16_t port) {
        int fd = connectLoopback(port);
        sendAll(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
        std::string got = readUntil(fd, [](const std::string& b) { return b.find("0\r\n\r\n") != std::string::npos; });
        EXPECT_NE(got.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
        EXPECT_NE(got.find("9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"), std::string::npos) << got;
        close(fd);
      });
}

TEST_F(ServerFixture, ClientGoneFiresAbortOnce) {
  std::atomic<int> aborts{0};
  std::atomic<bool> started{false};
  run(
      [&](Request&, Response& res) {
        res.begin(200, {});
        res.write("hello");
        started = true;
        res.onAbort([&res, &aborts] {
          aborts++;
          res.end();  // releases the connection
        });
      },
      [&](uint16_t port) {
        int fd = connectLoopback(port);
        sendAll(fd, "GET /s HTTP/1.1\r\nHost: x\r\n\r\n");
        readUntil(fd, [](const std::string& b) { return b.find("hello") != std::string::npos; });
        close(fd);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (aborts == 0 && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      });
  EXPECT_TRUE(started);
  EXPECT_EQ(aborts, 1);
}

TEST_F(ServerFixture, ConnectionCloseRequestGetsWholeResponseThenEof) {
  std::string big(1 << 20, 'z');
  run([&](Request&, Response& res) { res.respond(200, {}, big); },
      [&](uint16_t port) {
        int fd = connectLoopback(port);
        sendAll(fd, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        bool eof = false;
        std::string got = readUntil(fd, [](const std::string&) { return false; }, 5000, &eof);
        EXPECT_TRUE(eof);
        EXPECT_NE(got.find("Connection: close"), std::string::npos);
        EXPECT_EQ(count(got, "z"), big.size());
        close(fd);
      });
}

}  // namespace
}  // namespace sluice::http
