// A real redis-server for tests: listens on 127.0.0.1:<free port> with its
// files in a temp dir, and dies with the test process. A test can kill it
// (as a crash would) and start it again on the same port.
#pragma once

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace sluice::testing {

class RedisServer {
 public:
  // With a password the server requires AUTH (and command() sends it).
  explicit RedisServer(std::string password = "") : password_(std::move(password)) {
    // Writing to a connection the server reset must not kill the test.
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/sluice-redis-XXXXXX";
    if (mkdtemp(dir)) dir_ = dir;
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts on a free port the first time, on the same port after stop().
  bool start(std::string* error) {
    if (dir_.empty()) return fail(error, "cannot create a temp dir");
    bool fresh_port = port_ == 0;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (fresh_port) port_ = freePort();
      if (port_ == 0) return fail(error, "no free port");
      if (launch() && waitUntilAnswering()) return true;
      stop();
      if (!fresh_port) break;  // a restart keeps its port; a fresh one may have been taken
    }
    return fail(error, "redis-server did not start; see " + dir_ + "/redis.log");
  }

  // SIGKILL by default: the server vanishes as in a crash.
  void stop(int sig = SIGKILL) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // Runs one command with a blocking client: "(nil)", an integer, a string,
  // "OK"-style status, "ERR ..." errors, arrays joined by ','. "" when unreachable.
  std::string command(const std::vector<std::string>& args, int db = 0) const {
    redisContext* c = connect();
    if (!c) return "";
    std::string out;
    if (db != 0) run(c, {"SELECT", std::to_string(db)});
    out = run(c, args);
    redisFree(c);
    return out;
  }

 private:
  static bool fail(std::string* error, const std::string& why) {
    if (error) *error = why;
    return false;
  }

  static int freePort() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    close(fd);
    return port;
  }

  bool launch() {
    std::vector<std::string> args = {"redis-server"};
    auto option = [&](const char* name, std::string value) {
      args.push_back(name);
      args.push_back(std::move(value));
    };
    option("--port", std::to_string(port_));
    option("--bind", "127.0.0.1");
    option("--dir", dir_);
    option("--logfile", dir_ + "/redis.log");
    option("--save", "");  // nothing on disk
    option("--appendonly", "no");
    option("--daemonize", "no");
    if (!password_.empty()) option("--requirepass", password_);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      execv("/usr/bin/redis-server", argv.data());
      _exit(127);
    }
    pid_ = pid;
    return true;
  }

  bool waitUntilAnswering() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken?
        pid_ = 0;
        return false;
      }
      if (command({"PING"}) == "PONG") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling, with a deadline
    }
    return false;
  }

  redisContext* connect() const {
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (!c || c->err) {
      if (c) redisFree(c);
      return nullptr;
    }
    redisSetTimeout(c, tv);
    if (!password_.empty()) run(c, {"AUTH", password_});
    return c;
  }

  static std::string run(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
    if (!reply) return "";
    std::string out = text(reply);
    freeReplyObject(reply);
    return out;
  }

  static std::string text(const redisReply* r) {
    switch (r->type) {
      case REDIS_REPLY_NIL:
        return "(nil)";
      case REDIS_REPLY_INTEGER:
        return std::to_string(r->integer);
      case REDIS_REPLY_ARRAY: {
        std::string out;
        for (size_t i = 0; i < r->elements; ++i) out += (i ? "," : "") + text(r->element[i]);
        return out;
      }
      default:
        return std::string(r->str, r->len);
    }
  }

  std::string password_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = 0;
};

}  // namespace sluice::testing
