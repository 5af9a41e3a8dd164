// TLS: the channel over memory BIOs on its own, context errors, and the
// upstream client against a local TLS upstream with self-signed certificates.
#include "http/tls.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "http/client.h"
#include "support/client_recorder.h"
#include "support/self_signed_cert.h"
#include "support/test_upstream.h"
#include "support/uv_test_loop.h"

namespace sluice::http {
namespace {

using testing::ClientRecorder;
using testing::SelfSignedCert;
using testing::TestUpstream;
using Conn = TestUpstream::Conn;
using Request = TestUpstream::Request;

std::string okResponse(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::shared_ptr<TlsContext> serverContext(const SelfSignedCert& cert) {
  std::string error;
  auto ctx = TlsContext::createServer(cert.certFile(), cert.keyFile(), &error);
  EXPECT_TRUE(ctx) << error;
  return ctx;
}

// ---- TlsChannel without sockets ----

// Two channels wired back to back; ciphertext is carried by pump().
struct ChannelPair {
  std::string to_server, to_client, server_got, client_got;
  std::unique_ptr<TlsChannel> client, server;
  bool ok = true;

  ChannelPair(const TlsContext& client_ctx, const TlsContext& server_ctx, const std::string& host) {
    server =
        server_ctx.newServerChannel([this](const char* d, size_t n) { server_got.append(d, n); },
                                    [this](std::string c) { to_client += c; });
    std::string error;
    client = client_ctx.newClientChannel(
        host, [this](const char* d, size_t n) { client_got.append(d, n); },
        [this](std::string c) { to_server += c; }, &error);
    EXPECT_TRUE(client) << error;
    EXPECT_TRUE(server);
  }

  // Carries bytes both ways until neither side has anything to say.
  void pump() {
    for (int i = 0; i < 20 && (!to_server.empty() || !to_client.empty()); ++i) {
      std::string s = std::move(to_server), c = std::move(to_client);
      to_server.clear();
      to_client.clear();
      if (!s.empty()) ok = server->feed(s.data(), s.size()) && ok;
      if (!c.empty()) ok = client->feed(c.data(), c.size()) && ok;
    }
  }
};

TEST(TlsChannelTest, HandshakeDataBackpressureAndShutdownInMemory) {
  SelfSignedCert cert("localhost", {"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(cert.ok());
  auto server_ctx = serverContext(cert);
  std::string error;
  auto client_ctx = TlsContext::createClient({cert.certFile(), true}, &error);
  ASSERT_TRUE(client_ctx) << error;
  EXPECT_FALSE(client_ctx->isServer());
  EXPECT_TRUE(client_ctx->verifiesPeer());
  EXPECT_TRUE(server_ctx->isServer());

  ChannelPair p(*client_ctx, *server_ctx, "localhost");
  ASSERT_TRUE(p.client && p.server);
  EXPECT_FALSE(p.to_server.empty());  // the ClientHello, emitted at creation
  EXPECT_FALSE(p.client->handshakeDone());
  ASSERT_TRUE(p.client->write("early", 5));  // held until the handshake is done
  p.pump();
  ASSERT_TRUE(p.ok) << p.client->error() << p.server->error();
  EXPECT_TRUE(p.client->handshakeDone());
  EXPECT_TRUE(p.server->handshakeDone());
  EXPECT_EQ(p.client->alpn(), "http/1.1");
  EXPECT_EQ(p.server->alpn(), "http/1.1");
  EXPECT_EQ(p.server_got, "early");

  ASSERT_TRUE(p.server->write("response", 8));
  p.pump();
  EXPECT_EQ(p.client_got, "response");

  // Paused: ciphertext is stored, nothing is delivered until resume().
  p.server->pause();
  ASSERT_TRUE(p.client->write("held", 4));
  p.pump();
  EXPECT_EQ(p.server_got, "early");
  EXPECT_TRUE(p.server->hasPendingInput());
  ASSERT_TRUE(p.server->resume());
  EXPECT_EQ(p.server_got, "earlyheld");
  EXPECT_FALSE(p.server->hasPendingInput());

  p.client->shutdown();
  EXPECT_FALSE(p.client->write("late", 4));
  p.pump();
  EXPECT_TRUE(p.server->peerClosed());
}

TEST(TlsChannelTest, VerificationFailureNamesTheReasonAndAlertsThePeer) {
  SelfSignedCert cert("localhost", {"localhost"}, {});
  ASSERT_TRUE(cert.ok());
  auto server_ctx = serverContext(cert);
  std::string error;
  SelfSignedCert other("other", {"other.example"}, {});
  auto client_ctx = TlsContext::createClient({other.certFile(), true}, &error);
  ASSERT_TRUE(client_ctx) << error;
  ChannelPair p(*client_ctx, *server_ctx, "localhost");
  p.pump();
  EXPECT_FALSE(p.ok);
  EXPECT_TRUE(p.client->failed());
  EXPECT_EQ(p.client->error(), "certificate verify failed: self-signed certificate");
  EXPECT_TRUE(p.server->failed());  // got the alert
  EXPECT_EQ(p.server->error(), "tlsv1 alert unknown ca");
  EXPECT_FALSE(p.client->write("x", 1));
}

TEST(TlsContextTest, ServerContextErrorsNameTheFile) {
  SelfSignedCert a("a", {"a.example"}, {});
  SelfSignedCert b("b", {"b.example"}, {});
  ASSERT_TRUE(a.ok() && b.ok());
  std::string error;
  EXPECT_FALSE(TlsContext::createServer("/nonexistent/cert.pem", a.keyFile(), &error));
  EXPECT_EQ(error, "cannot load certificate '/nonexistent/cert.pem': No such file or directory");
  EXPECT_FALSE(TlsContext::createServer(a.certFile(), "/nonexistent/key.pem", &error));
  EXPECT_EQ(error, "cannot load private key '/nonexistent/key.pem': No such file or directory");
  EXPECT_FALSE(TlsContext::createServer(a.certFile(), b.keyFile(), &error));
  EXPECT_EQ(error,
            "private key '" + b.keyFile() + "' does not match certificate '" + a.certFile() + "'");
  EXPECT_FALSE(TlsContext::createServer(a.keyFile(), a.keyFile(), &error));  // not a certificate
  EXPECT_EQ(error, "cannot load certificate '" + a.keyFile() + "': no start line");
  EXPECT_TRUE(TlsContext::createServer(a.certFile(), a.keyFile(), &error)) << error;
}

TEST(TlsContextTest, ClientRejectsAnUnreadableCaFile) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  ClientOptions options;
  options.ca_file = "/nonexistent/ca.pem";
  std::string error;
  EXPECT_EQ(Client::create(&loop, options, &error), nullptr);
  EXPECT_EQ(error, "cannot load CA file '/nonexistent/ca.pem': No such file or directory");
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

// ---- the client over TLS ----

class TlsClientTest : public ::testing::Test {
 protected:
  void TearDown() override {
    client_.reset();
    for (auto& u : upstreams_) u->close();
    EXPECT_EQ(loop_.close(), 0) << "handles left open";
  }

  Client& client(const ClientOptions& options = {}) {
    std::string error;
    client_ = Client::create(loop_.get(), options, &error);
    EXPECT_TRUE(client_) << error;
    return *client_;
  }

  TestUpstream& upstream(TestUpstream::Handler handler, std::shared_ptr<TlsContext> tls) {
    upstreams_.push_back(
        std::make_unique<TestUpstream>(loop_.get(), std::move(handler), std::move(tls)));
    EXPECT_TRUE(upstreams_.back()->ok());
    return *upstreams_.back();
  }

  static ClientRequest request(const std::string& url) {
    ClientRequest r;
    r.method = "GET";
    EXPECT_TRUE(Url::parse(url, &r.url)) << url;
    return r;
  }

  bool wait(const ClientRecorder& r, uint64_t ms = 5000) {
    return loop_.runUntil([&] { return r.done(); }, ms);
  }

  std::string localhostUrl(const TestUpstream& up, const std::string& path = "/") {
    return "https://localhost:" + std::to_string(up.port()) + path;
  }

  testing::UvTestLoop loop_;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<TestUpstream>> upstreams_;
};

TEST_F(TlsClientTest, SelfSignedCertificateFailsVerificationByDefault) {
  SelfSignedCert cert("localhost", {"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(cert.ok());
  auto& up =
      upstream([](Conn& c, const Request&) { c.write(okResponse("secret")); }, serverContext(cert));
  ClientRecorder r;
  client().start(request(up.url()), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::Tls);
  EXPECT_EQ(r.detail, "TLS handshake with 127.0.0.1:" + std::to_string(up.port()) +
                          " failed: certificate verify failed: self-signed certificate");
  EXPECT_EQ(r.head_calls, 0);
  EXPECT_TRUE(up.requests().empty());
}

TEST_F(TlsClientTest, CaFileTrustsTheCertificateByNameAndByIp) {
  SelfSignedCert cert("localhost", {"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(cert.ok());
  auto& up = upstream([](Conn& c, const Request& req) { c.write(okResponse("tls " + req.target)); },
                      serverContext(cert));
  ClientOptions options;
  options.ca_file = cert.certFile();
  Client& cl = client(options);
  for (const std::string& url : {up.url("/by-ip"), localhostUrl(up, "/by-name"), up.url("/again"),
                                 localhostUrl(up, "/again")}) {
    ClientRecorder r;
    cl.start(request(url), &r);
    ASSERT_TRUE(wait(r)) << url;
    EXPECT_TRUE(r.ended) << url << ": " << r.detail;
    EXPECT_EQ(r.body, "tls " + url.substr(url.rfind('/')));
  }
  // One connection per origin (127.0.0.1 and localhost), each reused once.
  EXPECT_EQ(up.accepts(), 2u);
  EXPECT_EQ(cl.idleConnections(), 2u);
  ASSERT_EQ(up.requests().size(), 4u);
  EXPECT_EQ(up.requests()[1].header("host"), "localhost:" + std::to_string(up.port()));
}

TEST_F(TlsClientTest, HostNameOrIpMismatchFails) {
  SelfSignedCert cert("other.example", {"other.example"}, {"10.9.9.9"});
  ASSERT_TRUE(cert.ok());
  auto& up =
      upstream([](Conn& c, const Request&) { c.write(okResponse("x")); }, serverContext(cert));
  ClientOptions options;
  options.ca_file = cert.certFile();
  Client& cl = client(options);
  ClientRecorder by_name, by_ip;
  cl.start(request(localhostUrl(up)), &by_name);
  cl.start(request(up.url()), &by_ip);
  ASSERT_TRUE(loop_.runUntil([&] { return by_name.done() && by_ip.done(); }));
  EXPECT_EQ(by_name.error, ClientError::Tls);
  EXPECT_EQ(by_name.detail, "TLS handshake with localhost:" + std::to_string(up.port()) +
                                " failed: certificate verify failed: hostname mismatch");
  EXPECT_EQ(by_ip.error, ClientError::Tls);
  EXPECT_EQ(by_ip.detail, "TLS handshake with 127.0.0.1:" + std::to_string(up.port()) +
                              " failed: certificate verify failed: IP address mismatch");
}

TEST_F(TlsClientTest, VerificationCanBeTurnedOff) {
  SelfSignedCert cert("other.example", {"other.example"}, {});
  ASSERT_TRUE(cert.ok());
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("unverified")); },
                      serverContext(cert));
  ClientOptions options;
  options.verify_tls = false;
  ClientRecorder r;
  client(options).start(request(localhostUrl(up)), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_TRUE(r.ended) << r.detail;
  EXPECT_EQ(r.body, "unverified");
}

TEST_F(TlsClientTest, HandshakeThatNeverCompletesIsAConnectTimeout) {
  auto& up = upstream([](Conn&, const Request&) {}, nullptr);
  up.silent = true;  // accepts TCP, never answers the ClientHello
  ClientOptions options;
  options.connect_timeout_ms = 100;
  ClientRecorder r;
  client(options).start(request("https://127.0.0.1:" + std::to_string(up.port()) + "/"), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::ConnectTimeout);
  EXPECT_EQ(r.detail,
            "connecting to 127.0.0.1:" + std::to_string(up.port()) + " timed out after 100 ms");
}

TEST_F(TlsClientTest, PlainServerOnTlsPortIsATlsError) {
  auto& up = upstream([](Conn&, const Request&) {}, nullptr);
  up.silent = true;
  ClientRecorder r;
  client().start(request("https://127.0.0.1:" + std::to_string(up.port()) + "/"), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return up.accepts() == 1; }));
  up.conn(0).write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::Tls);
  EXPECT_EQ(r.detail, "TLS handshake with 127.0.0.1:" + std::to_string(up.port()) +
                          " failed: wrong version number");
}

TEST_F(TlsClientTest, PausedStreamIsNotBufferedAndResumes) {
  SelfSignedCert cert("localhost", {"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(cert.ok());
  constexpr size_t kChunk = 1000;
  constexpr int kChunks = 12000;  // ~12 MB of SSE-sized chunks
  auto& up = upstream(
      [](Conn& c, const Request&) {
        std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        std::string chunk = "3e8\r\n" + std::string(kChunk, 'e') + "\r\n";
        for (int i = 0; i < kChunks; ++i) out += chunk;
        out += "0\r\n\r\n";
        c.write(out);
      },
      serverContext(cert));
  ClientOptions options;
  options.ca_file = cert.certFile();
  ClientRecorder r;
  int calls_at_pause = 0;
  r.on_body = [&](ClientRecorder& rec) {
    if (rec.body_calls == 3) {
      rec.call->pause();
      calls_at_pause = rec.body_calls;
    }
  };
  r.call = client(options).start(request(up.url()), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return r.body_calls >= 3; }));
  size_t unsent = testing::stalledWriteQueue(loop_.get(), up.conn(0));
  EXPECT_EQ(r.body_calls, calls_at_pause);
  EXPECT_EQ(r.body.size(), 3 * kChunk);
  EXPECT_GT(unsent, kChunk * kChunks / 2);
  r.call->resume();
  ASSERT_TRUE(wait(r, 30000));
  EXPECT_TRUE(r.ended) << r.detail;
  EXPECT_EQ(r.body.size(), kChunk * kChunks);
  EXPECT_EQ(r.calls_after_done, 0);
}

TEST_F(TlsClientTest, CancelFromOnBodyOverTls) {
  SelfSignedCert cert("localhost", {"localhost"}, {"127.0.0.1"});
  ASSERT_TRUE(cert.ok());
  auto& up = upstream(
      [](Conn& c, const Request&) {
        c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n");
      },
      serverContext(cert));
  ClientOptions options;
  options.ca_file = cert.certFile();
  ClientRecorder r;
  r.on_body = [](ClientRecorder& rec) { rec.call->cancel(); };
  r.call = client(options).start(request(up.url()), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return up.accepts() == 1 && up.conn(0).peerClosed(); }));
  EXPECT_EQ(r.body, "abc");
  EXPECT_FALSE(r.done());
  EXPECT_EQ(client_->idleConnections(), 0u);
}

}  // namespace
}  // namespace sluice::http
