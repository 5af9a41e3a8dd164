// The upstream client against scripted upstreams on 127.0.0.1, all on the
// test's loop: framing, keep-alive, retry of dead pooled connections,
// errors, timeouts, backpressure and re-entrant handlers.
#include "http/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http/dns_cache.h"
#include "http/headers.h"
#include "support/client_recorder.h"
#include "support/test_upstream.h"
#include "support/uv_test_loop.h"

namespace sluice::http {
namespace {

using testing::ClientRecorder;
using testing::TestUpstream;
using Conn = TestUpstream::Conn;
using Request = TestUpstream::Request;

std::string okResponse(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// A loopback port bound and let go, never listened on: nothing accepts on it.
int refusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

class ClientTest : public ::testing::Test {
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

  TestUpstream& upstream(TestUpstream::Handler handler) {
    upstreams_.push_back(std::make_unique<TestUpstream>(loop_.get(), std::move(handler)));
    EXPECT_TRUE(upstreams_.back()->ok());
    return *upstreams_.back();
  }

  static ClientRequest request(const std::string& url, const std::string& method = "GET") {
    ClientRequest r;
    r.method = method;
    EXPECT_TRUE(Url::parse(url, &r.url)) << url;
    return r;
  }

  bool wait(const ClientRecorder& r, uint64_t ms = 5000) {
    return loop_.runUntil([&] { return r.done(); }, ms);
  }

  testing::UvTestLoop loop_;
  std::unique_ptr<Client> client_;
  std::vector<std::unique_ptr<TestUpstream>> upstreams_;
};

// ---- Url ----

TEST(UrlTest, ParsesHttpAndHttpsWithDefaultPorts) {
  Url u;
  ASSERT_TRUE(Url::parse("http://Example.COM", &u));
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.path, "/");
  EXPECT_EQ(u.origin(), "http://example.com:80");

  ASSERT_TRUE(Url::parse("HTTPS://api.openai.com/v1/chat/completions?x=1&y=%20#frag", &u));
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.host, "api.openai.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.path, "/v1/chat/completions?x=1&y=%20");
  EXPECT_EQ(u.origin(), "https://api.openai.com:443");
}

TEST(UrlTest, ParsesPortsQueriesAndIpv6Literals) {
  Url u;
  ASSERT_TRUE(Url::parse("http://127.0.0.1:8080/a/b", &u));
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.path, "/a/b");

  ASSERT_TRUE(Url::parse("https://[::1]:8443/x", &u));
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(u.origin(), "https://[::1]:8443");

  ASSERT_TRUE(Url::parse("http://[2001:db8::7]?q=1", &u));
  EXPECT_EQ(u.host, "2001:db8::7");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.path, "/?q=1");

  ASSERT_TRUE(Url::parse("http://host:/p", &u));  // empty port: the default
  EXPECT_EQ(u.port, 80);
}

TEST(UrlTest, RejectsWhatIsNotAPlainHttpUrl) {
  Url u;
  u.host = "unchanged";
  for (const char* bad :
       {"", "ftp://x/", "http:/x", "//x/", "x/y", "http://", "http:///path", "http://user@host/",
        "http://user:pw@host/", "http://host:0/", "http://host:65536/", "http://host:8a/",
        "http://[::1/", "http://[::1]x/", "http://[zz]/", "http://ho st/", "http://host/a b",
        "http://host/a\r\nX: y", "http://host:99999999/"}) {
    EXPECT_FALSE(Url::parse(bad, &u)) << bad;
  }
  EXPECT_EQ(u.host, "unchanged");
}

TEST(ClientErrorTest, NamesEveryError) {
  EXPECT_STREQ(clientErrorName(ClientError::None), "none");
  EXPECT_STREQ(clientErrorName(ClientError::Dns), "dns");
  EXPECT_STREQ(clientErrorName(ClientError::Connect), "connect");
  EXPECT_STREQ(clientErrorName(ClientError::Tls), "tls");
  EXPECT_STREQ(clientErrorName(ClientError::Reset), "reset");
  EXPECT_STREQ(clientErrorName(ClientError::Protocol), "protocol");
  EXPECT_STREQ(clientErrorName(ClientError::ConnectTimeout), "connect_timeout");
  EXPECT_STREQ(clientErrorName(ClientError::FirstByteTimeout), "first_byte_timeout");
  EXPECT_STREQ(clientErrorName(ClientError::TotalTimeout), "total_timeout");
  EXPECT_TRUE(isTimeout(ClientError::TotalTimeout));
  EXPECT_FALSE(isTimeout(ClientError::Reset));
}

// ---- DnsCache ----

struct DnsWaiter : DnsCache::Waiter {
  int calls = 0;
  int status = 1;
  DnsAddresses addresses;
  std::function<void()> hook;
  void onResolved(int s, const DnsAddresses& a) override {
    calls++;
    status = s;
    addresses = a;
    if (hook) hook();
  }
};

TEST(DnsCacheTest, IpLiteralsNeedNoLookup) {
  testing::UvTestLoop loop;
  DnsCache dns(loop.get(), 1000);
  DnsWaiter w;
  DnsAddresses out;
  ASSERT_EQ(dns.resolve("127.0.0.1", &w, &out), 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sa.sa_family, AF_INET);
  EXPECT_EQ(out[0].v4.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  ASSERT_EQ(dns.resolve("::1", &w, &out), 1);
  EXPECT_EQ(out[0].sa.sa_family, AF_INET6);
  EXPECT_EQ(dns.cachedHosts(), 0u);
  EXPECT_EQ(w.calls, 0);
  EXPECT_EQ(loop.close(), 0);
}

TEST(DnsCacheTest, ConcurrentLookupsShareOneAndTheResultIsCached) {
  testing::UvTestLoop loop;
  DnsCache dns(loop.get(), 60000);
  DnsWaiter a, b, c;
  DnsAddresses out;
  ASSERT_EQ(dns.resolve("localhost", &a, &out), 0);
  ASSERT_EQ(dns.resolve("localhost", &b, &out), 0);
  ASSERT_EQ(dns.resolve("localhost", &c, &out), 0);
  dns.cancel(&c);
  ASSERT_TRUE(loop.runUntil([&] { return a.calls == 1 && b.calls == 1; }));
  EXPECT_EQ(a.status, 0);
  ASSERT_FALSE(a.addresses.empty());
  EXPECT_EQ(b.addresses.size(), a.addresses.size());
  EXPECT_EQ(c.calls, 0);
  EXPECT_EQ(dns.cachedHosts(), 1u);
  DnsWaiter d;
  EXPECT_EQ(dns.resolve("localhost", &d, &out), 1);  // from the cache, synchronously
  EXPECT_EQ(out.size(), a.addresses.size());
  EXPECT_EQ(d.calls, 0);
  EXPECT_EQ(loop.close(), 0);
}

TEST(DnsCacheTest, WaiterMayCancelAnotherAndFailuresAreNotCached) {
  testing::UvTestLoop loop;
  DnsCache dns(loop.get(), 60000);
  DnsWaiter a, b;
  a.hook = [&] { dns.cancel(&b); };
  DnsAddresses out;
  ASSERT_EQ(dns.resolve("nonexistent.invalid", &a, &out), 0);
  ASSERT_EQ(dns.resolve("nonexistent.invalid", &b, &out), 0);
  ASSERT_TRUE(loop.runUntil([&] { return a.calls == 1; }, 15000));
  EXPECT_LT(a.status, 0);
  loop.settle();
  EXPECT_EQ(b.calls, 0);
  EXPECT_EQ(dns.cachedHosts(), 0u);
  EXPECT_EQ(loop.close(), 0);
}

TEST(DnsCacheTest, ZeroTtlDisablesCachingAndDestroyAbandonsLookups) {
  testing::UvTestLoop loop;
  DnsWaiter a, b;
  {
    DnsCache dns(loop.get(), 0);
    DnsAddresses out;
    ASSERT_EQ(dns.resolve("localhost", &a, &out), 0);
    ASSERT_TRUE(loop.runUntil([&] { return a.calls == 1; }));
    EXPECT_EQ(dns.cachedHosts(), 0u);
    ASSERT_EQ(dns.resolve("localhost", &b, &out), 0);
  }  // destroyed with b's lookup in flight
  EXPECT_EQ(loop.close(), 0);
  EXPECT_EQ(b.calls, 0);
}

// ---- bodies and framing ----

TEST_F(ClientTest, ContentLengthBody) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Trace: abc\r\nX-Empty:\r\n\r\nhello world");
  });
  ClientRecorder r;
  client().start(request(up.url("/v1/models?limit=2")), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_TRUE(r.ended) << r.detail;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
  EXPECT_EQ(r.header("x-trace"), "abc");
  EXPECT_EQ(r.header("content-length"), "11");
  bool has_empty = false;
  for (const auto& [k, v] : r.headers) has_empty = has_empty || (k == "x-empty" && v.empty());
  EXPECT_TRUE(has_empty);
  ASSERT_EQ(up.requests().size(), 1u);
  const Request& seen = up.requests()[0];
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/v1/models?limit=2");
  EXPECT_EQ(seen.header("host"), "127.0.0.1:" + std::to_string(up.port()));
  EXPECT_EQ(seen.header("content-length"), "");  // a bodiless GET has none
  EXPECT_EQ(r.calls_after_done, 0);
}

TEST_F(ClientTest, PostSendsCallerHeadersHostAndOwnContentLength) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("{}")); });
  ClientRequest req = request(up.url("/v1/chat/completions"), "POST");
  req.headers = {{"Authorization", "Bearer sk-test"},
                 {"Content-Type", "application/json"},
                 {"Content-Length", "999"},  // ignored: the client frames the body
                 {"Transfer-Encoding", "chunked"}};
  req.body = R"({"model":"gpt-4o","messages":[]})";
  ClientRecorder r;
  client().start(std::move(req), &r);
  ASSERT_TRUE(wait(r));
  ASSERT_TRUE(r.ended) << r.detail;
  ASSERT_EQ(up.requests().size(), 1u);
  const Request& seen = up.requests()[0];
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.header("authorization"), "Bearer sk-test");
  EXPECT_EQ(seen.header("content-type"), "application/json");
  EXPECT_EQ(seen.header("content-length"), "32");
  EXPECT_EQ(seen.header("transfer-encoding"), "");
  EXPECT_EQ(seen.body, R"({"model":"gpt-4o","messages":[]})");
}

TEST_F(ClientTest, CallerHostHeaderWins) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("")); });
  ClientRequest req = request(up.url());
  req.headers = {{"Host", "bedrock-runtime.us-east-1.amazonaws.com"}};
  ClientRecorder r;
  client().start(std::move(req), &r);
  ASSERT_TRUE(wait(r));
  ASSERT_EQ(up.requests().size(), 1u);
  EXPECT_EQ(up.requests()[0].header("host"), "bedrock-runtime.us-east-1.amazonaws.com");
  int hosts = 0;
  for (const auto& [k, v] : up.requests()[0].headers) hosts += k == "host";
  EXPECT_EQ(hosts, 1);
}

TEST_F(ClientTest, RejectsHeaderInjectionWithoutConnecting) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("")); });
  ClientRequest req = request(up.url());
  req.headers = {{"X-Evil", "a\r\nHost: other"}};
  ClientRecorder r;
  client().start(std::move(req), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::Protocol);
  EXPECT_EQ(r.detail, "invalid request header 'X-Evil'");
  EXPECT_EQ(up.accepts(), 0u);
}

// The client's checks of the method, path and header bytes, for all 256
// byte values, against the sets it has always accepted: RFC 9110 tchar for
// the method and header names; anything but CR, LF and NUL in header values,
// and in the path, which may not hold a space either.
TEST_F(ClientTest, AcceptsExactlyTheTokenAndFieldValueBytes) {
  auto token_char = [](char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
  };
  auto field_byte = [](char c) { return c != '\r' && c != '\n' && c != '\0'; };
  // Requests that pass the checks go to a port nothing accepts on.
  std::string url = "http://127.0.0.1:" + std::to_string(refusedPort()) + "/";
  Client& c = client();
  auto rejected = [&](ClientRequest req) {
    ClientRecorder r;
    c.start(std::move(req), &r);
    EXPECT_TRUE(wait(r));
    return r.error == ClientError::Protocol && r.detail.rfind("invalid request ", 0) == 0;
  };
  for (int i = 0; i < 256; i++) {
    char b = static_cast<char>(i);
    EXPECT_EQ(isTokenChar(static_cast<unsigned char>(b)), token_char(b)) << i;
    ClientRequest method = request(url, std::string("G") + b + "T");
    EXPECT_EQ(rejected(std::move(method)), !token_char(b)) << "method byte " << i;
    ClientRequest path = request(url);
    path.url.path = std::string("/a") + b + "b";
    EXPECT_EQ(rejected(std::move(path)), !field_byte(b) || b == ' ') << "path byte " << i;
    ClientRequest name = request(url);
    name.headers = {{std::string("X-") + b, "v"}};
    EXPECT_EQ(rejected(std::move(name)), !token_char(b)) << "header name byte " << i;
    ClientRequest value = request(url);
    value.headers = {{"X-V", std::string("a") + b + "b"}};
    EXPECT_EQ(rejected(std::move(value)), !field_byte(b)) << "header value byte " << i;
  }
}

TEST_F(ClientTest, ChunkedBodyIsDechunkedAndStreamedAsItArrives) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        "d\r\ndata: first\n\n\r\n");
  });
  ClientRecorder r;
  client().start(request(up.url()), &r);
  // The first event arrives while the stream is still open.
  ASSERT_TRUE(loop_.runUntil([&] { return r.body == "data: first\n\n"; }));
  EXPECT_FALSE(r.done());
  up.conn(0).write("e\r\ndata: second\n\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
  ASSERT_TRUE(wait(r));
  EXPECT_TRUE(r.ended) << r.detail;
  EXPECT_EQ(r.body, "data: first\n\ndata: second\n\nabcdef");
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(client_->idleConnections(), 1u);
}

TEST_F(ClientTest, CloseDelimitedBodyEndsAtEof) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nread until ");
    c.write("the server closes");
    c.end();
  });
  ClientRecorder r;
  client().start(request(up.url()), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_TRUE(r.ended) << r.detail;
  EXPECT_EQ(r.body, "read until the server closes");
  EXPECT_EQ(client_->idleConnections(), 0u);
}

TEST_F(ClientTest, HeadNoContentAndNotModifiedHaveNoBody) {
  auto& up = upstream([](Conn& c, const Request& req) {
    if (req.method == "HEAD") {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    } else if (req.target == "/204") {
      c.write("HTTP/1.1 204 No Content\r\n\r\n");
    } else if (req.target == "/304") {
      c.write("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
    } else {
      c.write(okResponse("after"));
    }
  });
  Client& cl = client();
  const char* paths[] = {"/head", "/204", "/304", "/get"};
  const int statuses[] = {200, 204, 304, 200};
  const char* bodies[] = {"", "", "", "after"};
  for (int i = 0; i < 4; ++i) {
    ClientRecorder r;
    cl.start(request(up.url(paths[i]), i == 0 ? "HEAD" : "GET"), &r);
    ASSERT_TRUE(wait(r)) << paths[i];
    EXPECT_TRUE(r.ended) << paths[i] << ": " << r.detail;
    EXPECT_EQ(r.status, statuses[i]);
    EXPECT_EQ(r.body, bodies[i]);
  }
  EXPECT_EQ(up.accepts(), 1u);  // framing stayed in sync on one connection
}

TEST_F(ClientTest, InformationalResponsesAreSkipped) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write("HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n" + okResponse("ok"));
  });
  ClientRecorder r;
  client().start(request(up.url()), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_TRUE(r.ended) << r.detail;
  EXPECT_EQ(r.head_calls, 1);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("link"), "");
  EXPECT_EQ(r.body, "ok");
}

TEST_F(ClientTest, GarbageResponseIsAProtocolError) {
  auto& up = upstream([](Conn& c, const Request&) { c.write("SSH-2.0-OpenSSH\r\n\r\n"); });
  ClientRecorder r;
  client().start(request(up.url()), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::Protocol);
  EXPECT_EQ(r.detail.rfind("invalid HTTP response: ", 0), 0u) << r.detail;
  EXPECT_EQ(r.head_calls, 0);
}

TEST_F(ClientTest, OversizedResponseHeadIsAProtocolError) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write("HTTP/1.1 200 OK\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n");
  });
  ClientRecorder r;
  client().start(request(up.url()), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::Protocol);
  EXPECT_EQ(r.detail, "response headers larger than 65536 bytes");
}

// ---- keep-alive pool ----

TEST_F(ClientTest, KeepAliveReusesTheConnection) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("pong")); });
  Client& cl = client();
  for (int i = 0; i < 3; ++i) {
    ClientRecorder r;
    cl.start(request(up.url("/ping"), "POST"), &r);
    ASSERT_TRUE(wait(r));
    EXPECT_TRUE(r.ended) << r.detail;
    EXPECT_EQ(r.body, "pong");
    EXPECT_EQ(cl.idleConnections(), 1u);
  }
  EXPECT_EQ(up.accepts(), 1u);
  ASSERT_EQ(up.requests().size(), 3u);
  EXPECT_EQ(up.requests()[2].index_on_conn, 2u);
}

TEST_F(ClientTest, ConnectionCloseResponseIsNotPooled) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
  });
  Client& cl = client();
  for (int i = 0; i < 2; ++i) {
    ClientRecorder r;
    cl.start(request(up.url()), &r);
    ASSERT_TRUE(wait(r));
    EXPECT_TRUE(r.ended) << r.detail;
    EXPECT_EQ(cl.idleConnections(), 0u);
  }
  EXPECT_EQ(up.accepts(), 2u);
}

TEST_F(ClientTest, ConcurrentCallsOpenSeparateConnectionsAndPoolIsCapped) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("x")); });
  ClientOptions options;
  options.max_idle_per_origin = 2;
  Client& cl = client(options);
  ClientRecorder r[3];
  for (auto& rec : r) cl.start(request(up.url()), &rec);
  ASSERT_TRUE(loop_.runUntil([&] { return r[0].done() && r[1].done() && r[2].done(); }));
  for (auto& rec : r) EXPECT_TRUE(rec.ended) << rec.detail;
  EXPECT_EQ(up.accepts(), 3u);
  EXPECT_EQ(cl.idleConnections(), 2u);
  cl.closeIdle();
  EXPECT_EQ(cl.idleConnections(), 0u);
  ASSERT_TRUE(loop_.runUntil([&] {
    int closed = 0;
    for (size_t i = 0; i < up.accepts(); ++i) closed += up.conn(i).peerClosed();
    return closed == 3;
  }));
}

TEST_F(ClientTest, IdleConnectionClosedByServerLeavesThePool) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write(okResponse("bye"));  // keep-alive by the headers, then closed anyway
    c.end();
  });
  Client& cl = client();
  ClientRecorder r;
  cl.start(request(up.url()), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_TRUE(r.ended);
  ASSERT_TRUE(loop_.runUntil([&] { return cl.idleConnections() == 0; }));
}

TEST_F(ClientTest, IdleConnectionExpires) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("x")); });
  ClientOptions options;
  options.idle_keepalive_ms = 30;
  Client& cl = client(options);
  ClientRecorder r;
  cl.start(request(up.url()), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(cl.idleConnections(), 1u);
  ASSERT_TRUE(loop_.runUntil([&] { return up.conn(0).peerClosed(); }));
  EXPECT_EQ(cl.idleConnections(), 0u);
}

// The server closes a kept-alive connection just as the next request
// arrives: the request is sent again on a new connection, POST included.
void deadPooledConnectionIsRetried(TestUpstream& up, Client& cl, testing::UvTestLoop& loop) {
  ClientRecorder first;
  ClientRequest req;
  req.method = "POST";
  ASSERT_TRUE(Url::parse(up.url("/v1/chat/completions"), &req.url));
  req.body = "{\"n\":1}";
  cl.start(req, &first);
  ASSERT_TRUE(loop.runUntil([&] { return first.done(); }));
  ASSERT_TRUE(first.ended) << first.detail;
  ASSERT_EQ(cl.idleConnections(), 1u);

  ClientRecorder second;
  req.body = "{\"n\":2}";
  cl.start(req, &second);
  ASSERT_TRUE(loop.runUntil([&] { return second.done(); }));
  EXPECT_TRUE(second.ended) << second.detail;
  EXPECT_EQ(second.body, "served on connection 1");
  EXPECT_EQ(up.accepts(), 2u);
  ASSERT_EQ(up.requests().size(), 3u);
  EXPECT_EQ(up.requests()[2].body, "{\"n\":2}");
  EXPECT_EQ(second.calls_after_done, 0);
}

TEST_F(ClientTest, PooledConnectionClosedByServerIsRetriedOnce) {
  auto& up = upstream([](Conn& c, const Request& req) {
    if (req.index_on_conn == 1) {
      c.end();  // FIN instead of an answer
      return;
    }
    c.write(okResponse("served on connection " + std::to_string(req.conn_index)));
  });
  deadPooledConnectionIsRetried(up, client(), loop_);
}

TEST_F(ClientTest, PooledConnectionResetByServerIsRetriedOnce) {
  auto& up = upstream([](Conn& c, const Request& req) {
    if (req.index_on_conn == 1) {
      c.reset();  // RST instead of an answer
      return;
    }
    c.write(okResponse("served on connection " + std::to_string(req.conn_index)));
  });
  deadPooledConnectionIsRetried(up, client(), loop_);
}

TEST_F(ClientTest, FreshConnectionClosedWithoutResponseIsNotRetried) {
  auto& up = upstream([](Conn& c, const Request&) { c.end(); });
  ClientRecorder r;
  client().start(request(up.url()), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::Reset);
  EXPECT_EQ(r.detail,
            "127.0.0.1:" + std::to_string(up.port()) + " closed the connection without a response");
  EXPECT_EQ(up.accepts(), 1u);
}

TEST_F(ClientTest, PartialResponseOnPooledConnectionIsNotRetried) {
  auto& up = upstream([](Conn& c, const Request& req) {
    if (req.index_on_conn == 0) {
      c.write(okResponse("first"));
    } else {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
      c.end();
    }
  });
  Client& cl = client();
  ClientRecorder first;
  cl.start(request(up.url()), &first);
  ASSERT_TRUE(wait(first));
  ClientRecorder second;
  cl.start(request(up.url()), &second);
  ASSERT_TRUE(wait(second));
  EXPECT_EQ(second.error, ClientError::Reset);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, "partial");
  EXPECT_EQ(second.detail, "127.0.0.1:" + std::to_string(up.port()) +
                               " closed the connection before the response ended");
  EXPECT_EQ(up.accepts(), 1u);
}

// ---- connection errors and timeouts ----

TEST_F(ClientTest, RefusedConnectionIsAConnectError) {
  int port = refusedPort();
  ClientRecorder r;
  client().start(request("http://127.0.0.1:" + std::to_string(port) + "/"), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::Connect);
  EXPECT_EQ(r.detail,
            "cannot connect to 127.0.0.1:" + std::to_string(port) + ": connection refused");
}

TEST_F(ClientTest, UnresolvableNameIsADnsError) {
  ClientRecorder r;
  client().start(request("http://nonexistent.invalid/v1"), &r);
  ASSERT_TRUE(wait(r, 15000));
  EXPECT_EQ(r.error, ClientError::Dns);
  EXPECT_EQ(r.detail.rfind("cannot resolve 'nonexistent.invalid': ", 0), 0u) << r.detail;
}

TEST_F(ClientTest, NameIsResolvedAndCached) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("named")); });
  ClientOptions options;
  options.max_idle_per_origin = 0;  // every call connects, and so resolves
  Client& cl = client(options);
  for (int i = 0; i < 2; ++i) {
    ClientRecorder r;
    cl.start(request("http://localhost:" + std::to_string(up.port()) + "/"), &r);
    ASSERT_TRUE(wait(r));
    EXPECT_TRUE(r.ended) << r.detail;
    EXPECT_EQ(r.body, "named");
  }
  EXPECT_EQ(up.accepts(), 2u);
  EXPECT_EQ(up.requests()[0].header("host"), "localhost:" + std::to_string(up.port()));
}

TEST_F(ClientTest, FirstByteTimeoutWhenTheServerNeverAnswers) {
  auto& up = upstream([](Conn&, const Request&) {});
  ClientRequest req = request(up.url());
  req.first_byte_timeout_ms = 100;
  ClientRecorder r;
  client().start(std::move(req), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::FirstByteTimeout);
  EXPECT_EQ(r.detail, "no response from 127.0.0.1:" + std::to_string(up.port()) + " within 100 ms");
  EXPECT_EQ(r.head_calls, 0);
  EXPECT_EQ(up.requests().size(), 1u);  // it was sent, just never answered
}

TEST_F(ClientTest, TotalTimeoutMidBody) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
  });
  ClientOptions options;
  options.first_byte_timeout_ms = 300;  // met: the head comes at once
  ClientRequest req = request(up.url());
  req.total_timeout_ms = 600;
  ClientRecorder r;
  client(options).start(std::move(req), &r);
  ASSERT_TRUE(wait(r));
  EXPECT_EQ(r.error, ClientError::TotalTimeout);
  EXPECT_EQ(r.detail,
            "exchange with 127.0.0.1:" + std::to_string(up.port()) + " not complete within 600 ms");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "0123456789");
  ASSERT_TRUE(loop_.runUntil([&] { return up.conn(0).peerClosed(); }));
}

// ---- backpressure ----

TEST_F(ClientTest, PausedCallStopsReadingAndResumes) {
  constexpr size_t kBody = 16 * 1024 * 1024;
  auto& up = upstream([](Conn& c, const Request&) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kBody) + "\r\n\r\n" +
            std::string(kBody, 'x'));
  });
  ClientRecorder r;
  size_t bytes_at_pause = 0;
  int calls_at_pause = 0;
  r.on_body = [&](ClientRecorder& rec) {
    if (rec.body_calls == 1) {
      rec.call->pause();
      bytes_at_pause = rec.body.size();
      calls_at_pause = rec.body_calls;
    }
  };
  r.call = client().start(request(up.url()), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return r.body_calls >= 1; }));
  size_t unsent = testing::stalledWriteQueue(loop_.get(), up.conn(0));
  // Nothing delivered while paused, and the server still holds most of the
  // body: the client is not draining the socket into a buffer of its own.
  EXPECT_EQ(r.body_calls, calls_at_pause);
  EXPECT_EQ(r.body.size(), bytes_at_pause);
  EXPECT_GT(unsent, kBody / 2);
  r.call->resume();
  ASSERT_TRUE(wait(r, 30000));
  EXPECT_TRUE(r.ended) << r.detail;
  EXPECT_EQ(r.body.size(), kBody);
  EXPECT_LE(r.max_chunk, 64u * 1024);
}

TEST_F(ClientTest, PauseInsideOnBodyHoldsTheRestOfTheSameRead) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabc\r\n3\r\ndef\r\n3\r\nghi\r\n0\r\n\r\n");
  });
  ClientRecorder r;
  r.on_body = [](ClientRecorder& rec) { rec.call->pause(); };
  r.call = client().start(request(up.url()), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return r.body_calls == 1; }));
  loop_.settle();
  EXPECT_EQ(r.body, "abc");
  EXPECT_FALSE(r.done());
  r.call->resume();  // pauses again at the next chunk
  ASSERT_TRUE(loop_.runUntil([&] { return r.body_calls == 2; }));
  loop_.settle();
  EXPECT_EQ(r.body, "abcdef");
  r.on_body = nullptr;
  r.call->resume();
  ASSERT_TRUE(wait(r));
  EXPECT_TRUE(r.ended) << r.detail;
  EXPECT_EQ(r.body, "abcdefghi");
  EXPECT_EQ(client_->idleConnections(), 1u);
}

TEST_F(ClientTest, PauseInsideOnHeadDefersTheBody) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("body")); });
  ClientRecorder r;
  r.on_head = [](ClientRecorder& rec) { rec.call->pause(); };
  r.call = client().start(request(up.url()), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return r.head_calls == 1; }));
  loop_.settle();
  EXPECT_EQ(r.body_calls, 0);
  EXPECT_FALSE(r.done());
  r.call->resume();
  ASSERT_TRUE(wait(r));
  EXPECT_TRUE(r.ended);
  EXPECT_EQ(r.body, "body");
}

// ---- cancel and re-entrancy ----

TEST_F(ClientTest, CancelFromOnBodyStopsEverythingAndClosesTheConnection) {
  auto& up = upstream([](Conn& c, const Request&) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n");
  });
  ClientRecorder r;
  r.on_body = [](ClientRecorder& rec) { rec.call->cancel(); };
  r.call = client().start(request(up.url()), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return up.accepts() == 1 && up.conn(0).peerClosed(); }));
  EXPECT_EQ(r.body_calls, 1);  // "def" was in the same read, and never delivered
  EXPECT_EQ(r.body, "abc");
  EXPECT_FALSE(r.done());
  EXPECT_EQ(client_->idleConnections(), 0u);
}

TEST_F(ClientTest, CancelFromOnHead) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("never seen")); });
  ClientRecorder r;
  r.on_head = [](ClientRecorder& rec) { rec.call->cancel(); };
  r.call = client().start(request(up.url()), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return up.accepts() == 1 && up.conn(0).peerClosed(); }));
  EXPECT_EQ(r.head_calls, 1);
  EXPECT_EQ(r.body_calls, 0);
  EXPECT_FALSE(r.done());
  EXPECT_EQ(client_->idleConnections(), 0u);
}

TEST_F(ClientTest, CancelBeforeAnythingHappens) {
  auto& up = upstream([](Conn& c, const Request&) { c.write(okResponse("x")); });
  ClientRecorder r, dns;
  client().start(request(up.url()), &r)->cancel();
  client_->start(request("http://localhost:" + std::to_string(up.port()) + "/"), &dns)->cancel();
  loop_.settle();
  EXPECT_FALSE(r.done());
  EXPECT_FALSE(dns.done());
  EXPECT_EQ(r.head_calls + dns.head_calls, 0);
}

TEST_F(ClientTest, CallStartedFromOnEndReusesTheConnection) {
  auto& up = upstream([](Conn& c, const Request& req) { c.write(okResponse(req.target)); });
  Client& cl = client();
  ClientRecorder first, second;
  first.on_end = [&](ClientRecorder&) { cl.start(request(up.url("/second")), &second); };
  cl.start(request(up.url("/first")), &first);
  ASSERT_TRUE(wait(second));
  EXPECT_EQ(first.body, "/first");
  EXPECT_EQ(second.body, "/second");
  EXPECT_EQ(up.accepts(), 1u);
}

TEST_F(ClientTest, CallStartedFromOnErrorWorks) {
  auto& up = upstream([](Conn& c, const Request& req) {
    if (req.target == "/bad") {
      c.write("nonsense\r\n\r\n");
    } else {
      c.write(okResponse("recovered"));
    }
  });
  Client& cl = client();
  ClientRecorder first, second;
  first.on_error = [&](ClientRecorder&) { cl.start(request(up.url("/good")), &second); };
  cl.start(request(up.url("/bad")), &first);
  ASSERT_TRUE(wait(second));
  EXPECT_EQ(first.error, ClientError::Protocol);
  EXPECT_EQ(second.body, "recovered");
}

TEST_F(ClientTest, DestroyingTheClientCancelsCallsSilently) {
  auto& up = upstream([](Conn&, const Request&) {});
  ClientRecorder r;
  client().start(request(up.url()), &r);
  ASSERT_TRUE(loop_.runUntil([&] { return up.requests().size() == 1; }));
  client_.reset();
  ASSERT_TRUE(loop_.runUntil([&] { return up.conn(0).peerClosed(); }));
  EXPECT_FALSE(r.done());
}

}  // namespace
}  // namespace sluice::http
