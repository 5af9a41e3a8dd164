// HTTP/1.1 server on llhttp: keep-alive, pipelined requests answered in order,
// Content-Length and chunked request bodies, limits (413, 431, header and idle
// timeouts), optional TLS termination, and streamed responses with backpressure.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/headers.h"
#include "manifest/config.h"

namespace sluice::http {

class TlsContext;
class Connection;

struct Request {
  std::string method;
  std::string target;  // path and query as sent
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string client_ip;
  bool keep_alive = true;
  uint64_t start_ns = 0;  // monotonic time the request's first byte arrived

  std::string_view path() const;  // target without the query
  // First header with this lower-case name, or nullptr.
  const std::string* header(std::string_view lower_name) const;
};

// How a handler answers one request. Exactly one response per request:
// either respond() once, or begin() + write()* + end(). All calls on the
// worker's loop. After the client goes away, writes are dropped silently and
// the close callback fires.
class Response {
 public:
  using Headers = http::Headers;

  // A whole response with Content-Length.
  void respond(int status, const Headers& headers, std::string_view body);
  // A streamed response (chunked transfer-encoding).
  void begin(int status, const Headers& headers);
  void write(std::string_view data);
  void end();

  // Backpressure: true while more than the high-water mark of bytes wait in
  // the socket's write queue. When it drops below the low-water mark the
  // drain callback fires.
  bool congested() const;
  void onDrain(std::function<void()> cb) { on_drain_ = std::move(cb); }
  // The client disconnected (or the server is closing the connection)
  // before the response ended.
  void onAbort(std::function<void()> cb) { on_abort_ = std::move(cb); }

  bool started() const { return started_; }
  bool finished() const { return finished_; }
  bool aborted() const { return aborted_; }

 private:
  friend class Connection;
  explicit Response(Connection* conn) : conn_(conn) {}
  static size_t headBytes(const Headers& headers);
  void appendHead(std::string* out, int status, const Headers& headers, const char* framing);
  Connection* conn_;
  bool started_ = false;
  bool finished_ = false;
  bool aborted_ = false;
  std::function<void()> on_drain_;
  std::function<void()> on_abort_;
};

// Called once per complete request; the handler owns nothing of the
// connection and answers through `res`, now or later.
using Handler = std::function<void(Request& req, Response& res)>;

struct ServerStats {
  uint64_t connections_open = 0;
  uint64_t requests_total = 0;
  uint64_t requests_in_flight = 0;
};

class Server {
 public:
  Server(uv_loop_t* loop, const manifest::Limits& limits, Handler handler,
         std::shared_ptr<TlsContext> tls = nullptr);
  ~Server();

  // Binds host:port with SO_REUSEPORT (every worker binds its own socket)
  // and starts accepting. Returns 0 or a negative libuv error code.
  int listen(const std::string& host, uint16_t port, std::string* error);
  // Port actually bound by the first listener (for port 0 in tests).
  uint16_t boundPort() const { return bound_port_; }

  // Drain: stop accepting, close idle connections, close others after their
  // current response. `done` fires when no connection is left.
  void drain(std::function<void()> done);
  // Close everything now (the drain deadline passed).
  void closeAll();

  const ServerStats& stats() const { return stats_; }
  bool draining() const { return draining_; }

 private:
  friend class Connection;
  static void onConnection(uv_stream_t* listener, int status);
  void connectionClosed(Connection* conn);
  void maybeDrained();

  uv_loop_t* loop_;
  manifest::Limits limits_;
  Handler handler_;
  std::shared_ptr<TlsContext> tls_;
  std::vector<uv_tcp_t*> listeners_;
  std::vector<Connection*> connections_;
  uint16_t bound_port_ = 0;
  bool draining_ = false;
  std::function<void()> drained_;
  ServerStats stats_;
  std::unique_ptr<char[]> read_buf_;  // one per loop: reads are parsed before the next one
  std::string response_buf_;          // one per loop: respond() sends before it returns
};

// Standard reason phrase for a status code.
const char* reasonPhrase(int status);

}  // namespace sluice::http
