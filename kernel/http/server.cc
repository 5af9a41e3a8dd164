#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "http/request_parser.h"
#include "http/tls.h"
#include "util/clock.h"
#include "util/log.h"

namespace sluice::http {
namespace {

constexpr size_t kReadBufSize = 64 * 1024;
constexpr size_t kWriteHighWater = 256 * 1024;
constexpr size_t kWriteLowWater = 64 * 1024;
// The loop's response buffer keeps its memory up to this size.
constexpr size_t kKeptResponseBytes = 64 * 1024;

}  // namespace

// One client connection. Lives until its socket is closed and no handler
// still holds its in-flight request.
class Connection {
 public:
  explicit Connection(Server* server)
      : server_(server), parser_(server->limits_), response_(this) {}

  uv_tcp_t tcp_;  // first: uv handles point back with handle->data
  uv_timer_t timer_;
  Server* server_;
  RequestParser parser_;
  std::unique_ptr<TlsChannel> tls_;
  std::string client_ip_;

  Response response_;
  std::string pending_;  // bytes read but not yet parsed (pipelining)
  bool busy_ = false;  // a request is with the handler
  bool in_dispatch_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool handles_closed_ = false;
  int open_handles_ = 0;
  bool close_after_response_ = false;
  bool shutting_down_ = false;
  size_t index_ = 0;     // position in server_->connections_
  size_t write_queue_bytes_ = 0;
  bool drain_pending_ = false;
  uint64_t requests_ = 0;

  void start();
  void startReading();
  void stopReading();
  void onData(const char* data, size_t len);
  void processInput();
  void dispatch();
  void responseDone();
  void close();
  void shutdownAndClose();
  void maybeDestroy();
  void armTimer();
  void failRequest(int status, std::string_view message);

  void send(std::string data);
  // Copies only what the socket does not take at once.
  void sendCopy(std::string_view data);
  void sendRaw(std::string data);
  // What the socket takes now, when nothing is queued: bytes written, or -1
  // when the connection failed (and is closing).
  ssize_t writeNow(std::string_view data);
  void queueWrite(std::string data);
  void writeDone(size_t bytes);

  // Reads are parsed before the next one, so one buffer serves the whole loop.
  char* readBuffer() { return server_->read_buf_.get(); }
  // A whole response is built and sent before the next: one buffer per loop.
  std::string& responseBuffer() { return server_->response_buf_; }
  bool serverDraining() const { return server_->draining_; }
  // Part of a request has arrived (the header timeout applies, not idle).
  bool midRequest() const { return !pending_.empty() || parser_.inMessage(); }
};

namespace {

struct WriteReq {
  uv_write_t req;
  std::string data;
  Connection* conn;
};

void onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(handle->data);
  buf->base = conn->readBuffer();
  buf->len = kReadBufSize;
}

void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(stream->data);
  if (nread > 0) {
    if (conn->tls_) {
      // On a fatal TLS error the alert is already queued: flush it, then close.
      if (!conn->tls_->feed(buf->base, static_cast<size_t>(nread))) conn->shutdownAndClose();
    } else {
      conn->onData(buf->base, static_cast<size_t>(nread));
    }
  } else if (nread < 0) {
    conn->close();
  }
}

void onWrite(uv_write_t* req, int status) {
  auto* wr = reinterpret_cast<WriteReq*>(req);
  Connection* conn = wr->conn;
  size_t n = wr->data.size();
  delete wr;
  if (status < 0) {
    conn->close();
    return;
  }
  conn->writeDone(n);
}

void onTimer(uv_timer_t* timer) {
  auto* conn = static_cast<Connection*>(timer->data);
  if (conn->busy_) return;
  if (conn->midRequest()) {
    conn->failRequest(408, "request headers or body not received in time");
  } else {
    conn->close();
  }
}

void onHandleClosed(uv_handle_t* handle) {
  auto* conn = static_cast<Connection*>(handle->data);
  if (--conn->open_handles_ == 0) {
    conn->handles_closed_ = true;
    conn->maybeDestroy();
  }
}

}  // namespace

// ---------------------------------------------------------------- Request

std::string_view Request::path() const {
  std::string_view t(target);
  size_t q = t.find('?');
  return q == std::string_view::npos ? t : t.substr(0, q);
}

const std::string* Request::header(std::string_view lower_name) const {
  for (const auto& h : headers) {
    if (h.first == lower_name) return &h.second;
  }
  return nullptr;
}

// ---------------------------------------------------------------- Response

// Room for a response head: the status line, framing and connection lines,
// and the headers, so appendHead never reallocates.
size_t Response::headBytes(const Headers& headers) { return 160 + headers.text().size(); }

void Response::appendHead(std::string* out, int status, const Headers& headers,
                          const char* framing) {
  char line[64];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reasonPhrase(status));
  out->append(line, n);
  out->append(headers.text());
  out->append(framing);
  bool keep = conn_->parser_.request().keep_alive && !conn_->close_after_response_ &&
              !conn_->serverDraining();
  if (!keep) conn_->close_after_response_ = true;
  out->append(keep ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
}

void Response::respond(int status, const Headers& headers, std::string_view body) {
  if (started_ || finished_) return;
  started_ = finished_ = true;
  if (aborted_) {
    conn_->responseDone();
    return;
  }
  std::string& out = conn_->responseBuffer();
  out.clear();
  out.reserve(headBytes(headers) + body.size());
  char framing[48];
  snprintf(framing, sizeof framing, "Content-Length: %zu\r\n", body.size());
  appendHead(&out, status, headers, framing);
  if (conn_->parser_.request().method != "HEAD") out.append(body);
  conn_->sendCopy(out);
  if (out.capacity() > kKeptResponseBytes) std::string().swap(out);
  conn_->responseDone();
}

void Response::begin(int status, const Headers& headers) {
  if (started_ || finished_) return;
  started_ = true;
  if (aborted_) return;
  std::string out;
  out.reserve(headBytes(headers));
  appendHead(&out, status, headers, "Transfer-Encoding: chunked\r\n");
  conn_->send(std::move(out));
}

void Response::write(std::string_view data) {
  if (!started_ || finished_ || aborted_ || data.empty()) return;
  char size[24];
  int n = snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out;
  out.reserve(n + data.size() + 2);
  out.append(size, n).append(data).append("\r\n");
  conn_->send(std::move(out));
}

void Response::end() {
  if (finished_) return;
  finished_ = true;
  if (!aborted_ && started_) conn_->send("0\r\n\r\n");
  conn_->responseDone();
}

bool Response::congested() const { return conn_->write_queue_bytes_ > kWriteHighWater; }

// ---------------------------------------------------------------- Connection

void Connection::start() {
  uv_timer_init(tcp_.loop, &timer_);
  timer_.data = this;
  open_handles_ = 2;
  uv_tcp_nodelay(&tcp_, 1);
  sockaddr_storage addr;
  int len = sizeof addr;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    char ip[INET6_ADDRSTRLEN] = {0};
    if (addr.ss_family == AF_INET) {
      uv_ip4_name(reinterpret_cast<sockaddr_in*>(&addr), ip, sizeof ip);
    } else if (addr.ss_family == AF_INET6) {
      uv_ip6_name(reinterpret_cast<sockaddr_in6*>(&addr), ip, sizeof ip);
    }
    client_ip_ = ip;
  }
  if (server_->tls_) {
    tls_ = server_->tls_->newServerChannel(
        [this](const char* data, size_t len) { onData(data, len); },
        [this](std::string ciphertext) { sendRaw(std::move(ciphertext)); });
    if (!tls_) {
      close();
      return;
    }
  }
  startReading();
  armTimer();
}

void Connection::startReading() {
  if (reading_ || closing_) return;
  reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), onAlloc, onRead);
}

void Connection::stopReading() {
  if (!reading_) return;
  reading_ = false;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
}

void Connection::armTimer() {
  if (closing_ || shutting_down_) return;
  if (busy_) {
    uv_timer_stop(&timer_);
    return;
  }
  const auto& limits = server_->limits_;
  uint64_t ms = midRequest() ? limits.header_timeout_ms : limits.idle_timeout_ms;
  uv_timer_start(&timer_, onTimer, ms, 0);
}

void Connection::onData(const char* data, size_t len) {
  if (closing_ || shutting_down_) return;
  bool was_idle = !midRequest();
  pending_.append(data, len);
  if (busy_) {
    // A pipelined request waits for the current response; bound what we hold.
    if (pending_.size() > server_->limits_.max_body_bytes + server_->limits_.max_header_bytes) {
      stopReading();
    }
    return;
  }
  if (was_idle) armTimer();
  processInput();
}

void Connection::processInput() {
  while (!busy_ && !closing_ && !shutting_down_ && !pending_.empty()) {
    size_t used = 0;
    RequestParser::Result r = parser_.parse(pending_.data(), pending_.size(), &used);
    pending_.erase(0, used);
    if (r == RequestParser::Result::Error) {
      failRequest(parser_.errorStatus(), parser_.errorMessage());
      return;
    }
    if (parser_.takeExpectContinue()) send("HTTP/1.1 100 Continue\r\n\r\n");
    if (r == RequestParser::Result::NeedMore) return;
    dispatch();
  }
}

void Connection::dispatch() {
  busy_ = true;
  armTimer();
  response_ = Response(this);
  Request& req = parser_.request();
  req.client_ip = client_ip_;
  server_->stats_.requests_total++;
  server_->stats_.requests_in_flight++;
  requests_++;
  in_dispatch_ = true;
  server_->handler_(req, response_);
  in_dispatch_ = false;
}

void Connection::responseDone() {
  if (!busy_) return;
  busy_ = false;
  server_->stats_.requests_in_flight--;
  if (closing_) {
    maybeDestroy();
    return;
  }
  if (close_after_response_) {
    shutdownAndClose();
    return;
  }
  parser_.reset();
  if (!reading_) startReading();
  armTimer();
  // Answer pipelined requests that already arrived, unless we are still
  // inside the handler call (dispatch's caller loops).
  if (!in_dispatch_ && !pending_.empty()) processInput();
}

void Connection::failRequest(int status, std::string_view message) {
  // Answer a request we could not parse, then close: the byte stream cannot
  // be trusted to resynchronise.
  close_after_response_ = true;
  busy_ = true;
  server_->stats_.requests_in_flight++;
  response_ = Response(this);
  std::string body = "{\"error\":{\"message\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') body.push_back('\\');
    if (static_cast<unsigned char>(c) >= 0x20) body.push_back(c);
  }
  body.append("\",\"type\":\"invalid_request_error\",\"code\":null,\"param\":null}}");
  response_.respond(status, {{"Content-Type", "application/json"}}, body);
}

void Connection::send(std::string data) {
  if (closing_) return;
  if (tls_) {
    tls_->write(data.data(), data.size());
  } else {
    sendRaw(std::move(data));
  }
}

void Connection::sendCopy(std::string_view data) {
  if (closing_ || data.empty()) return;
  if (tls_) {
    tls_->write(data.data(), data.size());
    return;
  }
  ssize_t n = writeNow(data);
  if (n < 0 || static_cast<size_t>(n) == data.size()) return;
  queueWrite(std::string(data.substr(static_cast<size_t>(n))));
}

void Connection::sendRaw(std::string data) {
  if (closing_ || data.empty()) return;
  ssize_t n = writeNow(data);
  if (n < 0 || static_cast<size_t>(n) == data.size()) return;
  if (n > 0) data.erase(0, static_cast<size_t>(n));
  queueWrite(std::move(data));
}

ssize_t Connection::writeNow(std::string_view data) {
  if (write_queue_bytes_ != 0) return 0;  // after what is queued
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), static_cast<unsigned>(data.size()));
  int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
  if (n >= 0) return n;
  if (n == UV_EAGAIN || n == UV_ENOSYS) return 0;
  close();
  return -1;
}

void Connection::queueWrite(std::string data) {
  auto* wr = new WriteReq{{}, std::move(data), this};
  write_queue_bytes_ += wr->data.size();
  uv_buf_t buf = uv_buf_init(wr->data.data(), static_cast<unsigned>(wr->data.size()));
  if (uv_write(&wr->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, onWrite) != 0) {
    write_queue_bytes_ -= wr->data.size();
    delete wr;
    close();
  }
}

void Connection::writeDone(size_t bytes) {
  write_queue_bytes_ -= bytes;
  if (write_queue_bytes_ <= kWriteLowWater && response_.on_drain_ && !response_.finished_ &&
      !closing_) {
    auto cb = response_.on_drain_;  // the callback may replace itself
    cb();
  }
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  if (busy_ && !response_.finished_) {
    response_.aborted_ = true;
    if (response_.on_abort_) {
      auto cb = std::move(response_.on_abort_);
      cb();
    }
  }
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), onHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), onHandleClosed);
}

// Closes after the queued writes flush, so a "Connection: close" response is
// delivered whole before the client sees EOF.
void Connection::shutdownAndClose() {
  if (closing_ || shutting_down_) return;
  shutting_down_ = true;
  stopReading();
  uv_timer_stop(&timer_);
  auto* req = new uv_shutdown_t;
  req->data = this;
  int rc = uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp_), [](uv_shutdown_t* r, int) {
    auto* c = static_cast<Connection*>(r->data);
    delete r;
    c->close();
  });
  if (rc != 0) {
    delete req;
    close();
  }
}

void Connection::maybeDestroy() {
  if (!handles_closed_ || busy_) return;
  server_->connectionClosed(this);
  delete this;
}

// ---------------------------------------------------------------- Server

Server::Server(uv_loop_t* loop, const manifest::Limits& limits, Handler handler,
               std::shared_ptr<TlsContext> tls)
    : loop_(loop), limits_(limits), handler_(std::move(handler)), tls_(std::move(tls)),
      read_buf_(new char[kReadBufSize]) {}

Server::~Server() {
  for (uv_tcp_t* l : listeners_) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(l))) {
      uv_close(reinterpret_cast<uv_handle_t*>(l),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    }
  }
}

int Server::listen(const std::string& host, uint16_t port, std::string* error) {
  sockaddr_storage addr{};
  int rc;
  if (host.find(':') != std::string::npos) {
    rc = uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr));
  } else {
    rc = uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr));
  }
  if (rc != 0) {
    *error = "invalid listen address '" + host + "'";
    return rc;
  }
  // libuv 1.44 cannot set SO_REUSEPORT itself: make the socket, then adopt it.
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + strerror(errno);
    return -errno;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  socklen_t alen = addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), alen) != 0) {
    int e = errno;
    ::close(fd);
    *error = "cannot listen on " + host + ":" + std::to_string(port) + ": " + strerror(e);
    return -e;
  }
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(loop_, tcp);
  tcp->data = this;
  uv_tcp_open(tcp, fd);
  rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 1024, onConnection);
  if (rc != 0) {
    *error = "cannot listen on " + host + ":" + std::to_string(port) + ": " + uv_strerror(rc);
    uv_close(reinterpret_cast<uv_handle_t*>(tcp),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return rc;
  }
  if (bound_port_ == 0) {
    sockaddr_storage bound{};
    int blen = sizeof bound;
    uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &blen);
    bound_port_ = ntohs(bound.ss_family == AF_INET6
                            ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  listeners_.push_back(tcp);
  return 0;
}

void Server::onConnection(uv_stream_t* listener, int status) {
  auto* server = static_cast<Server*>(listener->data);
  if (status < 0 || server->draining_) return;
  auto* conn = new Connection(server);
  uv_tcp_init(server->loop_, &conn->tcp_);
  conn->tcp_.data = conn;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&conn->tcp_)) != 0) {
    conn->open_handles_ = 1;
    conn->closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp_), [](uv_handle_t* h) {
      delete static_cast<Connection*>(h->data);
    });
    return;
  }
  conn->index_ = server->connections_.size();
  server->connections_.push_back(conn);
  server->stats_.connections_open++;
  conn->start();
}

void Server::connectionClosed(Connection* conn) {
  size_t i = conn->index_;
  if (i < connections_.size() && connections_[i] == conn) {
    connections_[i] = connections_.back();
    connections_[i]->index_ = i;
    connections_.pop_back();
  }
  stats_.connections_open--;
  maybeDrained();
}

void Server::drain(std::function<void()> done) {
  draining_ = true;
  drained_ = std::move(done);
  for (uv_tcp_t* l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(l),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
  listeners_.clear();
  // Copy: closing may reorder the list.
  std::vector<Connection*> conns = connections_;
  for (Connection* c : conns) {
    if (c->busy_) {
      c->close_after_response_ = true;
    } else {
      c->close();
    }
  }
  maybeDrained();
}

void Server::closeAll() {
  std::vector<Connection*> conns = connections_;
  for (Connection* c : conns) c->close();
}

void Server::maybeDrained() {
  if (draining_ && connections_.empty() && drained_) {
    auto cb = std::move(drained_);
    drained_ = nullptr;
    cb();
  }
}

const char* reasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

}  // namespace sluice::http
