// A worker end to end on its own thread: it listens on an ephemeral port,
// serves the built-in default's mock provider, and drains on request.
#include "governance/stores.h"
#include "loop/worker.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/config_load.h"
#include "support/loopback_client.h"

namespace sluice::loop {
namespace {

TEST(Worker, AutoMeansOnePerCore) {
  EXPECT_EQ(resolveWorkerCount(3), 3);
  EXPECT_GE(resolveWorkerCount(0), 1);
}

std::string exchange(uint16_t port, const std::string& request) {
  int fd = testing::connectLoopback(port);
  if (fd < 0) return "";
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

TEST(Worker, ServesAndDrains) {
  plugins::Registry registry({std::string(SLUICE_BINARY_DIR) + "/plugins"});
  std::vector<std::string> errors;
  auto cfg = cli::loadConfig("", &registry, &errors);
  ASSERT_TRUE(cfg) << (errors.empty() ? "" : errors[0]);
  auto gw = pipeline::Gateway::build(cfg, &registry, &errors);
  ASSERT_TRUE(gw) << (errors.empty() ? "" : errors[0]);
  pipeline::GatewayHolder holder;
  holder.set(gw);
  manifest::ServerConfig server = cfg->server;
  server.listen = {{"127.0.0.1", 0}};
  Worker worker(0, server, &holder, nullptr, governance::counterStoreFactory(cfg->state));
  std::string err;
  ASSERT_TRUE(worker.start(&err)) << err;
  ASSERT_NE(worker.boundPort(), 0);
  std::string body = R"({"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  std::string out = exchange(worker.boundPort(),
                             "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Mock reply to: hi"), std::string::npos);
  EXPECT_NE(out.find("x-sluice-resolved-model: mock/gpt-4o-mini"), std::string::npos);
  worker.drain(1000);
  worker.join();
  EXPECT_TRUE(worker.finished());
  EXPECT_EQ(exchange(worker.boundPort(), "GET / HTTP/1.1\r\n\r\n"), "");  // no longer listening
}

}  // namespace
}  // namespace sluice::loop
