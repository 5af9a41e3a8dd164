#include "http/client.h"

#include <llhttp.h>

#include <array>
#include <unordered_map>

#include "http/dns_cache.h"
#include "http/headers.h"
#include "http/tls.h"

namespace sluice::http {

const char* clientErrorName(ClientError e) {
  switch (e) {
    case ClientError::None:
      return "none";
    case ClientError::Dns:
      return "dns";
    case ClientError::Connect:
      return "connect";
    case ClientError::Tls:
      return "tls";
    case ClientError::Reset:
      return "reset";
    case ClientError::Protocol:
      return "protocol";
    case ClientError::ConnectTimeout:
      return "connect_timeout";
    case ClientError::FirstByteTimeout:
      return "first_byte_timeout";
    case ClientError::TotalTimeout:
      return "total_timeout";
  }
  return "unknown";
}

namespace {

constexpr size_t kReadBufSize = 64 * 1024;
constexpr size_t kMaxHeaderBytes = 64 * 1024;

class ClientImpl;
class CallImpl;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Out of line: inlined at both of its calls, it tips GCC into no longer
// inlining start()'s std::to_string calls and method compares, which cost more
// than the call saves.
[[gnu::noinline]] bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!isTokenChar(c)) return false;
  }
  return true;
}

// Every byte but CR, LF and NUL, as a table so that a byte costs one load.
constexpr std::array<bool, 256> kFieldValueBytes = [] {
  std::array<bool, 256> t{};
  t.fill(true);
  t['\r'] = t['\n'] = t['\0'] = false;
  return t;
}();

bool isFieldValue(std::string_view s) {
  for (unsigned char c : s) {
    if (!kFieldValueBytes[c]) return false;
  }
  return true;
}

std::string hostPort(const Url& url) {
  bool v6 = url.host.find(':') != std::string::npos;
  std::string s = v6 ? "[" + url.host + "]" : url.host;
  return s + ":" + std::to_string(url.port);
}

// One upstream socket. Owned by whoever holds it (a call, the idle pool) and,
// once closing, by its own close callbacks: it is deleted when both handles
// have closed, so pointers to it stay valid for the rest of any callback.
class Connection {
 public:
  Connection(ClientImpl* client, std::string origin) : client_(client), origin_(std::move(origin)) {
    tcp_.data = this;
    timer_.data = this;
  }

  uv_tcp_t tcp_;
  uv_timer_t timer_;  // idle expiry while pooled; the resume kick while in use
  uv_connect_t connect_req_;
  uv_write_t write_req_;
  ClientImpl* client_;
  std::string origin_;
  std::unique_ptr<TlsChannel> tls_;
  CallImpl* call_ = nullptr;
  llhttp_t parser_;
  std::string stash_;  // response bytes read but held back while paused
  size_t stash_pos_ = 0;
  std::string wq_active_;  // TLS ciphertext being written
  std::string wq_next_;    // and queued behind it
  int open_handles_ = 0;
  int write_error_ = 0;
  uint32_t responses_ = 0;
  bool closing_ = false;
  bool reading_ = false;
  bool write_pending_ = false;
  bool idle_ = false;
  bool unsolicited_ = false;  // plaintext arrived while idle
};

enum class Phase { Resolving, Connecting, Handshaking, Sending, Waiting, Receiving, Done };

class CallImpl final : public Call, public DnsCache::Waiter {
 public:
  CallImpl(ClientImpl* client, ClientRequest request, ClientHandler* handler)
      : client_(client), req_(std::move(request)), handler_(handler) {
    timer_.data = this;
  }

  void pause() override;
  void resume() override;
  void cancel() override;
  void onResolved(int status, const DnsAddresses& addresses) override;

  void resetResponse() {
    status_ = 0;
    headers_.clear();
    field_.clear();
    value_.clear();
    header_bytes_ = 0;
    parse_error_.clear();
    first_byte_ = false;
    informational_ = false;
    message_done_ = false;
  }

  ClientImpl* client_;
  ClientRequest req_;
  ClientHandler* handler_;
  uv_timer_t timer_;  // deadlines, and deferred errors from start()
  CallImpl* prev_ = nullptr;
  CallImpl* next_ = nullptr;
  std::string origin_;
  std::string head_;
  Connection* conn_ = nullptr;
  DnsAddresses addresses_;
  size_t next_address_ = 0;
  int connect_error_ = 0;
  Phase phase_ = Phase::Resolving;
  uint64_t total_deadline_ = 0;
  uint64_t phase_deadline_ = 0;  // 0: none
  ClientError phase_error_ = ClientError::None;
  uint32_t total_ms_ = 0;
  uint32_t first_byte_ms_ = 0;
  ClientError pending_error_ = ClientError::None;
  std::string pending_detail_;
  bool resolving_ = false;
  bool paused_ = false;
  bool retried_ = false;
  bool head_method_ = false;
  bool close_requested_ = false;
  bool done_ = false;
  // Response state.
  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string field_;
  std::string value_;
  size_t header_bytes_ = 0;
  std::string parse_error_;
  bool first_byte_ = false;
  bool informational_ = false;
  bool message_done_ = false;
};

enum class Parse { Continue, Paused, Stop };

class ClientImpl final : public Client {
 public:
  ClientImpl(uv_loop_t* loop, const ClientOptions& options, std::shared_ptr<TlsContext> tls)
      : loop_(loop),
        options_(options),
        tls_(std::move(tls)),
        dns_(loop, options.dns_ttl_ms),
        read_buf_(new char[kReadBufSize]) {}
  ~ClientImpl() override;

  Call* start(ClientRequest request, ClientHandler* handler) override;
  void closeIdle() override;
  size_t idleConnections() const override { return idle_count_; }

  // Call lifecycle.
  bool buildHead(CallImpl* call, std::string* why);
  void acquire(CallImpl* call, bool allow_pooled);
  void connectNext(CallImpl* call);
  void sendRequest(CallImpl* call);
  void retry(CallImpl* call);
  void finishResponse(Connection* conn, size_t leftover);
  void fail(CallImpl* call, ClientError error, const std::string& detail);
  void failSoon(CallImpl* call, ClientError error, std::string detail);
  void endCall(CallImpl* call);
  void armTimer(CallImpl* call);
  void onDeadline(CallImpl* call);

  // Connections.
  void attach(CallImpl* call, Connection* conn);
  void detach(CallImpl* call, Connection* conn);
  void closeConn(Connection* conn);
  void release(Connection* conn);
  Connection* takeIdle(const std::string& origin);
  void dropIdle(Connection* conn);
  void startReading(Connection* conn);
  void stopReading(Connection* conn);
  void kick(Connection* conn);

  // Bytes in and out.
  void onConnected(Connection* conn, int status);
  void onData(Connection* conn, const char* data, size_t len);
  void onPlaintext(Connection* conn, const char* data, size_t len);
  void afterTls(Connection* conn, CallImpl* call, bool ok);
  void onReadEnd(Connection* conn, int status);
  void onWritten(Connection* conn, int status);
  void onKick(Connection* conn);
  void sendCiphertext(Connection* conn, std::string data);
  void writeQueued(Connection* conn);
  Parse parse(Connection* conn, const char* data, size_t len, size_t* used);
  void hold(Connection* conn, const char* data, size_t len);

  uv_loop_t* loop_;
  ClientOptions options_;
  std::shared_ptr<TlsContext> tls_;
  DnsCache dns_;
  std::unique_ptr<char[]> read_buf_;  // every socket read lands here first
  std::unordered_map<std::string, std::vector<Connection*>> idle_;
  size_t idle_count_ = 0;
  CallImpl* calls_ = nullptr;  // live calls, for the destructor
};

// ---- libuv and llhttp trampolines ----

void onConnClosed(uv_handle_t* handle) {
  auto* conn = static_cast<Connection*>(handle->data);
  if (--conn->open_handles_ == 0) delete conn;
}

void onCallClosed(uv_handle_t* handle) { delete static_cast<CallImpl*>(handle->data); }

void onAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(handle->data);
  buf->base = conn->client_->read_buf_.get();
  buf->len = kReadBufSize;
}

void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* conn = static_cast<Connection*>(stream->data);
  if (conn->closing_ || nread == 0) return;
  if (nread < 0) {
    conn->client_->onReadEnd(conn, static_cast<int>(nread));
  } else {
    conn->client_->onData(conn, buf->base, static_cast<size_t>(nread));
  }
}

void onConnect(uv_connect_t* req, int status) {
  auto* conn = static_cast<Connection*>(req->handle->data);
  if (conn->closing_) return;
  conn->client_->onConnected(conn, status);
}

void onWrite(uv_write_t* req, int status) {
  auto* conn = static_cast<Connection*>(req->handle->data);
  conn->write_pending_ = false;
  if (conn->closing_) return;
  conn->client_->onWritten(conn, status);
}

void onIdleTimeout(uv_timer_t* timer) {
  auto* conn = static_cast<Connection*>(timer->data);
  if (!conn->closing_ && conn->idle_) conn->client_->dropIdle(conn);
}

void onKickTimer(uv_timer_t* timer) {
  auto* conn = static_cast<Connection*>(timer->data);
  if (!conn->closing_) conn->client_->onKick(conn);
}

void onCallTimer(uv_timer_t* timer) {
  auto* call = static_cast<CallImpl*>(timer->data);
  if (!call->done_) call->client_->onDeadline(call);
}

CallImpl* callOf(llhttp_t* p) { return static_cast<Connection*>(p->data)->call_; }

int onMessageBegin(llhttp_t* p) {
  CallImpl* call = callOf(p);
  call->headers_.clear();
  call->field_.clear();
  call->value_.clear();
  call->header_bytes_ = 0;
  return 0;
}

int countHeaderBytes(CallImpl* call, size_t len) {
  call->header_bytes_ += len;
  if (call->header_bytes_ <= kMaxHeaderBytes) return 0;
  call->parse_error_ = "response headers larger than " + std::to_string(kMaxHeaderBytes) + " bytes";
  return -1;
}

int onHeaderField(llhttp_t* p, const char* at, size_t len) {
  CallImpl* call = callOf(p);
  for (size_t i = 0; i < len; ++i) call->field_.push_back(lower(at[i]));
  return countHeaderBytes(call, len);
}

int onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  CallImpl* call = callOf(p);
  call->value_.append(at, len);
  return countHeaderBytes(call, len);
}

int onHeaderValueComplete(llhttp_t* p) {
  CallImpl* call = callOf(p);
  call->headers_.emplace_back(std::move(call->field_), std::move(call->value_));
  call->field_.clear();
  call->value_.clear();
  return 0;
}

int onHeadersComplete(llhttp_t* p) {
  CallImpl* call = callOf(p);
  int status = llhttp_get_status_code(p);
  if (status == 101) {
    call->parse_error_ = "unexpected 101 Switching Protocols";
    return -1;
  }
  if (status >= 100 && status < 200) {  // 103 Early Hints and the like: skip
    call->informational_ = true;
    return 1;
  }
  call->status_ = status;
  call->handler_->onHead(status, call->headers_);
  if (call->done_) return -1;  // cancelled from onHead
  // No body whatever the headers say (llhttp only knows this for EOF framing).
  if (call->head_method_ || status == 204 || status == 304) return 1;
  return call->paused_ ? HPE_PAUSED : 0;  // resumes at the body
}

int onBody(llhttp_t* p, const char* at, size_t len) {
  CallImpl* call = callOf(p);
  call->handler_->onBody(at, len);
  return call->done_ ? -1 : 0;
}

// Chunk boundaries are where a pause inside onBody takes effect: a chunked
// buffer holds several onBody spans, other bodies only one per execute.
int onChunkComplete(llhttp_t* p) { return callOf(p)->paused_ ? HPE_PAUSED : 0; }

int onMessageComplete(llhttp_t* p) {
  CallImpl* call = callOf(p);
  if (call->informational_) {
    call->informational_ = false;
    return 0;
  }
  call->message_done_ = true;
  return HPE_PAUSED;  // stop right after this response
}

const llhttp_settings_t* parserSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = onMessageBegin;
    s.on_header_field = onHeaderField;
    s.on_header_value = onHeaderValue;
    s.on_header_value_complete = onHeaderValueComplete;
    s.on_headers_complete = onHeadersComplete;
    s.on_body = onBody;
    s.on_chunk_complete = onChunkComplete;
    s.on_message_complete = onMessageComplete;
    return s;
  }();
  return &settings;
}

// ---- Call ----

void CallImpl::pause() {
  if (done_ || paused_) return;
  paused_ = true;
  if (conn_ != nullptr && phase_ >= Phase::Sending) {
    client_->stopReading(conn_);
    if (conn_->tls_) conn_->tls_->pause();
  }
}

void CallImpl::resume() {
  if (done_ || !paused_) return;
  paused_ = false;
  // Held bytes are parsed from the loop, not from here: resume() may be
  // called from inside another call's handler.
  if (conn_ != nullptr && phase_ >= Phase::Sending) client_->kick(conn_);
}

void CallImpl::cancel() {
  if (done_) return;
  if (resolving_) {
    client_->dns_.cancel(this);
    resolving_ = false;
  }
  if (Connection* conn = conn_) {
    client_->detach(this, conn);
    client_->closeConn(conn);
  }
  client_->endCall(this);
}

void CallImpl::onResolved(int status, const DnsAddresses& addresses) {
  resolving_ = false;
  if (status < 0) {
    client_->fail(this, ClientError::Dns,
                  "cannot resolve '" + req_.url.host + "': " + uv_strerror(status));
    return;
  }
  addresses_ = addresses;
  next_address_ = 0;
  client_->connectNext(this);
}

// ---- Client ----

ClientImpl::~ClientImpl() {
  while (calls_ != nullptr) calls_->cancel();
  closeIdle();
}

Call* ClientImpl::start(ClientRequest request, ClientHandler* handler) {
  auto* call = new CallImpl(this, std::move(request), handler);
  call->next_ = calls_;
  if (calls_ != nullptr) calls_->prev_ = call;
  calls_ = call;
  uv_timer_init(loop_, &call->timer_);
  uv_update_time(loop_);  // the cached time may be a long callback old
  call->total_ms_ =
      call->req_.total_timeout_ms ? call->req_.total_timeout_ms : options_.total_timeout_ms;
  call->first_byte_ms_ = call->req_.first_byte_timeout_ms ? call->req_.first_byte_timeout_ms
                                                          : options_.first_byte_timeout_ms;
  call->total_deadline_ = uv_now(loop_) + call->total_ms_;
  armTimer(call);
  std::string why;
  if (!buildHead(call, &why)) {
    failSoon(call, ClientError::Protocol, std::move(why));
    return call;
  }
  call->origin_ = call->req_.url.origin();
  acquire(call, true);
  return call;
}

bool ClientImpl::buildHead(CallImpl* call, std::string* why) {
  const ClientRequest& r = call->req_;
  if (r.url.host.empty() || r.url.port == 0) {
    *why = "request URL has no host";
    return false;
  }
  if (!isToken(r.method)) {
    *why = "invalid request method '" + r.method + "'";
    return false;
  }
  if (r.url.path.empty() || r.url.path[0] != '/' || !isFieldValue(r.url.path) ||
      r.url.path.find(' ') != std::string::npos) {
    *why = "invalid request path";
    return false;
  }
  std::string& head = call->head_;
  head.reserve(128 + r.url.path.size() + r.headers.size() * 48);
  head.append(r.method).append(" ").append(r.url.path).append(" HTTP/1.1\r\n");
  bool has_host = false;
  for (const auto& [name, value] : r.headers) {
    if (!isToken(name) || !isFieldValue(value)) {
      *why = "invalid request header '" + name + "'";
      return false;
    }
    // We frame the body ourselves; a caller's framing headers could disagree.
    if (equalsNoCase(name, "content-length") || equalsNoCase(name, "transfer-encoding")) continue;
    if (equalsNoCase(name, "host")) has_host = true;
    if (equalsNoCase(name, "connection") && value.find("close") != std::string::npos) {
      call->close_requested_ = true;
    }
    head.append(name).append(": ").append(value).append("\r\n");
  }
  if (!has_host) {
    bool default_port = r.url.port == (r.url.tls ? 443 : 80);
    bool v6 = r.url.host.find(':') != std::string::npos;
    head.append("Host: ");
    if (v6) head.push_back('[');
    head.append(r.url.host);
    if (v6) head.push_back(']');
    if (!default_port) head.append(":").append(std::to_string(r.url.port));
    head.append("\r\n");
  }
  call->head_method_ = r.method == "HEAD";
  bool bodiless = r.method == "GET" || r.method == "HEAD" || r.method == "DELETE" ||
                  r.method == "OPTIONS" || r.method == "TRACE";
  if (!r.body.empty() || !bodiless) {
    head.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  }
  head.append("\r\n");
  return true;
}

void ClientImpl::acquire(CallImpl* call, bool allow_pooled) {
  if (allow_pooled) {
    if (Connection* conn = takeIdle(call->origin_)) {
      attach(call, conn);
      sendRequest(call);
      return;
    }
  }
  call->phase_ = Phase::Resolving;
  call->phase_deadline_ = uv_now(loop_) + options_.connect_timeout_ms;
  call->phase_error_ = ClientError::ConnectTimeout;
  armTimer(call);
  int rc = dns_.resolve(call->req_.url.host, call, &call->addresses_);
  if (rc == 1) {
    call->next_address_ = 0;
    connectNext(call);
  } else if (rc == 0) {
    call->resolving_ = true;
  } else {
    failSoon(call, ClientError::Dns,
             "cannot resolve '" + call->req_.url.host + "': " + uv_strerror(rc));
  }
}

// Tries the resolved addresses in order until one accepts a connect attempt;
// onConnected() comes back here when an attempt fails.
void ClientImpl::connectNext(CallImpl* call) {
  while (call->next_address_ < call->addresses_.size()) {
    DnsAddress addr = call->addresses_[call->next_address_++];
    uint16_t port = htons(call->req_.url.port);
    if (addr.sa.sa_family == AF_INET) {
      addr.v4.sin_port = port;
    } else {
      addr.v6.sin6_port = port;
    }
    auto* conn = new Connection(this, call->origin_);
    uv_tcp_init(loop_, &conn->tcp_);
    uv_timer_init(loop_, &conn->timer_);
    conn->open_handles_ = 2;
    int rc = uv_tcp_connect(&conn->connect_req_, &conn->tcp_, &addr.sa, onConnect);
    if (rc == 0) {
      call->phase_ = Phase::Connecting;
      attach(call, conn);
      return;
    }
    call->connect_error_ = rc;
    closeConn(conn);
  }
  failSoon(call, ClientError::Connect,
           "cannot connect to " + hostPort(call->req_.url) + ": " +
               uv_strerror(call->connect_error_ ? call->connect_error_ : UV_EADDRNOTAVAIL));
}

void ClientImpl::onConnected(Connection* conn, int status) {
  CallImpl* call = conn->call_;
  if (call == nullptr) {
    closeConn(conn);
    return;
  }
  if (status < 0) {
    call->connect_error_ = status;
    detach(call, conn);
    closeConn(conn);
    connectNext(call);
    return;
  }
  uv_tcp_nodelay(&conn->tcp_, 1);
  uv_tcp_keepalive(&conn->tcp_, 1, 60);  // pooled sockets notice a vanished peer
  startReading(conn);
  if (!call->req_.url.tls) {
    sendRequest(call);
    return;
  }
  call->phase_ = Phase::Handshaking;
  std::string error;
  conn->tls_ = tls_->newClientChannel(
      call->req_.url.host,
      [conn](const char* data, size_t len) { conn->client_->onPlaintext(conn, data, len); },
      [conn](std::string data) { conn->client_->sendCiphertext(conn, std::move(data)); }, &error);
  if (!conn->tls_) {
    fail(call, ClientError::Tls, "TLS setup for " + hostPort(call->req_.url) + " failed: " + error);
  }
}

void ClientImpl::sendRequest(CallImpl* call) {
  Connection* conn = call->conn_;
  call->phase_ = Phase::Sending;
  call->phase_deadline_ = 0;  // the first-byte clock starts once the request is out
  armTimer(call);
  call->resetResponse();
  llhttp_init(&conn->parser_, HTTP_RESPONSE, parserSettings());
  conn->parser_.data = conn;
  conn->stash_.clear();
  conn->stash_pos_ = 0;
  if (call->paused_) {
    stopReading(conn);
    if (conn->tls_) conn->tls_->pause();
  }
  const std::string& body = call->req_.body;
  if (conn->tls_) {
    conn->tls_->write(call->head_.data(), call->head_.size());
    conn->tls_->write(body.data(), body.size());
    return;  // onWritten() sees the queue drain
  }
  // Head and body go out in one write, the body straight from the request.
  uv_buf_t bufs[2] = {
      uv_buf_init(call->head_.data(), static_cast<unsigned>(call->head_.size())),
      uv_buf_init(const_cast<char*>(body.data()), static_cast<unsigned>(body.size()))};
  int rc = uv_write(&conn->write_req_, reinterpret_cast<uv_stream_t*>(&conn->tcp_), bufs,
                    body.empty() ? 1 : 2, onWrite);
  if (rc < 0) {
    // The socket is already unusable. Nothing was sent, so a pooled one is
    // retried like any dead keep-alive connection.
    if (conn->responses_ > 0 && !call->retried_) {
      retry(call);
    } else {
      failSoon(call, ClientError::Reset,
               "cannot write to " + hostPort(call->req_.url) + ": " + uv_strerror(rc));
    }
    return;
  }
  conn->write_pending_ = true;
}

void ClientImpl::sendCiphertext(Connection* conn, std::string data) {
  if (conn->closing_ || conn->write_error_ != 0) return;
  if (conn->write_pending_) {
    conn->wq_next_.append(data);
    return;
  }
  conn->wq_active_ = std::move(data);
  writeQueued(conn);
}

void ClientImpl::writeQueued(Connection* conn) {
  uv_buf_t buf =
      uv_buf_init(conn->wq_active_.data(), static_cast<unsigned>(conn->wq_active_.size()));
  int rc =
      uv_write(&conn->write_req_, reinterpret_cast<uv_stream_t*>(&conn->tcp_), &buf, 1, onWrite);
  if (rc < 0) {
    conn->write_error_ = rc;  // the read side reports the broken connection
    return;
  }
  conn->write_pending_ = true;
}

void ClientImpl::onWritten(Connection* conn, int status) {
  if (status < 0) {
    // A failed write means the peer is gone: the read side sees EOF or a
    // reset next and decides between retry, error, or an early response.
    conn->write_error_ = status;
    conn->wq_next_.clear();
    return;
  }
  if (!conn->wq_next_.empty()) {
    conn->wq_active_.swap(conn->wq_next_);
    conn->wq_next_.clear();
    writeQueued(conn);
    return;
  }
  CallImpl* call = conn->call_;
  if (call != nullptr && call->phase_ == Phase::Sending) {
    call->phase_ = Phase::Waiting;
    call->phase_deadline_ = uv_now(loop_) + call->first_byte_ms_;
    call->phase_error_ = ClientError::FirstByteTimeout;
    armTimer(call);
  }
}

void ClientImpl::onData(Connection* conn, const char* data, size_t len) {
  CallImpl* call = conn->call_;
  if (call == nullptr) {  // idle: the server may only close, or talk TLS housekeeping
    if (conn->tls_ && conn->tls_->feed(data, len) && !conn->unsolicited_ &&
        !conn->tls_->peerClosed()) {
      return;
    }
    dropIdle(conn);
    return;
  }
  if (conn->tls_) {
    bool ok = conn->tls_->feed(data, len);
    afterTls(conn, call, ok);
    return;
  }
  size_t used = 0;
  if (parse(conn, data, len, &used) == Parse::Paused) hold(conn, data + used, len - used);
}

void ClientImpl::onPlaintext(Connection* conn, const char* data, size_t len) {
  if (conn->closing_) {
    conn->tls_->pause();
    return;
  }
  if (conn->call_ == nullptr) {
    conn->unsolicited_ = true;
    conn->tls_->pause();
    return;
  }
  size_t used = 0;
  Parse r = parse(conn, data, len, &used);
  if (r == Parse::Paused) {
    hold(conn, data + used, len - used);
  } else if (r == Parse::Stop && conn->closing_) {
    conn->tls_->pause();
  }
}

// Keeps what the parser did not take while the call is paused. Reading
// stops, so this is at most one read buffer (or one TLS record).
void ClientImpl::hold(Connection* conn, const char* data, size_t len) {
  conn->stash_.assign(data, len);
  conn->stash_pos_ = 0;
  stopReading(conn);
  if (conn->tls_) conn->tls_->pause();
}

void ClientImpl::afterTls(Connection* conn, CallImpl* call, bool ok) {
  if (conn->closing_ || conn->call_ != call) return;  // finished inside feed()
  if (!ok) {
    bool handshake = call->phase_ == Phase::Handshaking;
    fail(call, ClientError::Tls,
         std::string(handshake ? "TLS handshake with " : "TLS error from ") +
             hostPort(call->req_.url) + (handshake ? " failed: " : ": ") + conn->tls_->error());
    return;
  }
  if (call->phase_ == Phase::Handshaking && conn->tls_->handshakeDone()) sendRequest(call);
  if (conn->tls_->peerClosed() && !conn->tls_->paused()) onReadEnd(conn, UV_EOF);
}

// Feeds response bytes to the parser and acts on where it stopped. *used is
// how much it took; Paused means the rest must be held until resume().
Parse ClientImpl::parse(Connection* conn, const char* data, size_t len, size_t* used) {
  CallImpl* call = conn->call_;
  *used = 0;
  if (!call->first_byte_ && len > 0) {
    call->first_byte_ = true;
    call->phase_ = Phase::Receiving;
    call->phase_deadline_ = 0;
    armTimer(call);
  }
  while (*used < len) {
    const char* p = data + *used;
    llhttp_errno_t err = llhttp_execute(&conn->parser_, p, len - *used);
    if (call->done_) return Parse::Stop;  // cancelled from a handler
    if (err == HPE_OK) {
      *used = len;
      break;
    }
    if (err != HPE_PAUSED) {
      std::string detail = call->parse_error_.empty() ? std::string("invalid HTTP response: ") +
                                                            llhttp_get_error_reason(&conn->parser_)
                                                      : call->parse_error_;
      fail(call, ClientError::Protocol, detail);
      return Parse::Stop;
    }
    *used = static_cast<size_t>(llhttp_get_error_pos(&conn->parser_) - data);
    llhttp_resume(&conn->parser_);
    if (call->message_done_) {
      finishResponse(conn, len - *used);
      return Parse::Stop;
    }
    if (call->paused_) return Parse::Paused;
  }
  return Parse::Continue;
}

void ClientImpl::finishResponse(Connection* conn, size_t leftover) {
  CallImpl* call = conn->call_;
  bool tls_clean = !conn->tls_ || (!conn->tls_->hasPendingInput() && !conn->tls_->peerClosed() &&
                                   !conn->tls_->failed());
  // Reuse only a connection whose exchange ended exactly: framing agreed,
  // request fully written, nothing extra received.
  bool reusable = leftover == 0 && tls_clean && conn->write_error_ == 0 && !conn->write_pending_ &&
                  llhttp_should_keep_alive(&conn->parser_) && !call->close_requested_;
  conn->responses_++;
  detach(call, conn);
  if (reusable) {
    release(conn);
  } else {
    closeConn(conn);
  }
  ClientHandler* handler = call->handler_;
  endCall(call);
  handler->onEnd();  // last: it may start calls that take this connection
}

void ClientImpl::onReadEnd(Connection* conn, int status) {
  CallImpl* call = conn->call_;
  if (call == nullptr) {
    dropIdle(conn);
    return;
  }
  std::string where = hostPort(call->req_.url);
  if (call->first_byte_) {
    if (status == UV_EOF) {
      llhttp_finish(&conn->parser_);  // completes a read-until-close body
      if (call->done_) return;
      if (call->message_done_) {
        conn->write_error_ = UV_EOF;  // never pooled
        finishResponse(conn, 0);
        return;
      }
      fail(call, ClientError::Reset, where + " closed the connection before the response ended");
    } else {
      fail(call, ClientError::Reset, "connection to " + where + " failed: " + uv_strerror(status));
    }
    return;
  }
  if (call->phase_ == Phase::Handshaking) {
    fail(call, ClientError::Tls,
         "TLS handshake with " + where + " failed: " +
             (status == UV_EOF ? std::string("connection closed by peer") : uv_strerror(status)));
    return;
  }
  // A keep-alive connection the server closed while idle shows up here: the
  // request met EOF or a reset before any byte of a response. The server
  // cannot have acted on it, so it is sent once more on a fresh connection,
  // POST included (the usual rule of "idempotent only" guards against a
  // request that may have been processed; one with no response byte at all
  // on a reused connection was not).
  if (conn->responses_ > 0 && !call->retried_) {
    retry(call);
    return;
  }
  fail(call, ClientError::Reset,
       status == UV_EOF ? where + " closed the connection without a response"
                        : "connection to " + where + " failed: " + uv_strerror(status));
}

void ClientImpl::retry(CallImpl* call) {
  Connection* conn = call->conn_;
  detach(call, conn);
  closeConn(conn);
  call->retried_ = true;
  call->resetResponse();
  acquire(call, false);
}

void ClientImpl::onKick(Connection* conn) {
  CallImpl* call = conn->call_;
  if (call == nullptr || call->paused_) return;
  while (conn->stash_pos_ < conn->stash_.size()) {
    size_t used = 0;
    Parse r = parse(conn, conn->stash_.data() + conn->stash_pos_,
                    conn->stash_.size() - conn->stash_pos_, &used);
    if (r == Parse::Stop) return;
    conn->stash_pos_ += used;
    if (r == Parse::Paused) return;
  }
  conn->stash_.clear();
  conn->stash_pos_ = 0;
  if (conn->tls_) {
    bool ok = conn->tls_->resume();
    afterTls(conn, call, ok);
    if (conn->closing_ || conn->call_ != call || call->paused_) return;
  }
  startReading(conn);
}

// ---- deadlines and endings ----

void ClientImpl::armTimer(CallImpl* call) {
  if (call->done_ || call->pending_error_ != ClientError::None) return;
  uint64_t next = call->total_deadline_;
  if (call->phase_deadline_ != 0 && call->phase_deadline_ < next) next = call->phase_deadline_;
  uint64_t now = uv_now(loop_);
  uv_timer_start(&call->timer_, onCallTimer, next > now ? next - now : 0, 0);
}

void ClientImpl::onDeadline(CallImpl* call) {
  if (call->pending_error_ != ClientError::None) {
    ClientError e = call->pending_error_;
    call->pending_error_ = ClientError::None;
    fail(call, e, call->pending_detail_);
    return;
  }
  uint64_t now = uv_now(loop_);
  std::string where = hostPort(call->req_.url);
  if (call->phase_deadline_ != 0 && now >= call->phase_deadline_ &&
      call->phase_deadline_ <= call->total_deadline_) {
    if (call->phase_error_ == ClientError::ConnectTimeout) {
      fail(call, ClientError::ConnectTimeout,
           "connecting to " + where + " timed out after " +
               std::to_string(options_.connect_timeout_ms) + " ms");
    } else {
      fail(call, ClientError::FirstByteTimeout,
           "no response from " + where + " within " + std::to_string(call->first_byte_ms_) + " ms");
    }
    return;
  }
  if (now >= call->total_deadline_) {
    fail(call, ClientError::TotalTimeout,
         "exchange with " + where + " not complete within " + std::to_string(call->total_ms_) +
             " ms");
    return;
  }
  armTimer(call);
}

void ClientImpl::fail(CallImpl* call, ClientError error, const std::string& detail) {
  if (call->done_) return;
  if (call->resolving_) {
    dns_.cancel(call);
    call->resolving_ = false;
  }
  if (Connection* conn = call->conn_) {
    detach(call, conn);
    closeConn(conn);
  }
  ClientHandler* handler = call->handler_;
  endCall(call);
  handler->onError(error, detail);
}

void ClientImpl::failSoon(CallImpl* call, ClientError error, std::string detail) {
  if (call->done_) return;
  call->pending_error_ = error;
  call->pending_detail_ = std::move(detail);
  uv_timer_start(&call->timer_, onCallTimer, 0, 0);
}

// No handler call after this; the object is freed once its timer closes, so
// it stays valid until the current callback returns.
void ClientImpl::endCall(CallImpl* call) {
  call->done_ = true;
  call->phase_ = Phase::Done;
  if (call->prev_ != nullptr) call->prev_->next_ = call->next_;
  if (call->next_ != nullptr) call->next_->prev_ = call->prev_;
  if (calls_ == call) calls_ = call->next_;
  call->prev_ = call->next_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&call->timer_), onCallClosed);
}

// ---- connections and the pool ----

void ClientImpl::attach(CallImpl* call, Connection* conn) {
  call->conn_ = conn;
  conn->call_ = call;
}

void ClientImpl::detach(CallImpl* call, Connection* conn) {
  call->conn_ = nullptr;
  conn->call_ = nullptr;
}

void ClientImpl::closeConn(Connection* conn) {
  if (conn->closing_) return;
  conn->closing_ = true;
  if (conn->tls_) conn->tls_->pause();
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp_), onConnClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->timer_), onConnClosed);
}

void ClientImpl::release(Connection* conn) {
  auto& list = idle_[conn->origin_];
  if (list.size() >= options_.max_idle_per_origin) {
    closeConn(conn);
    return;
  }
  list.push_back(conn);
  idle_count_++;
  conn->idle_ = true;
  conn->unsolicited_ = false;
  conn->stash_.clear();
  conn->stash_pos_ = 0;
  uv_timer_start(&conn->timer_, onIdleTimeout, options_.idle_keepalive_ms, 0);
  if (conn->tls_) conn->tls_->resume();  // nothing is pending: checked before release
  startReading(conn);                    // to notice the server closing it
}

// Most recently used first: it is the least likely to have been closed.
Connection* ClientImpl::takeIdle(const std::string& origin) {
  auto it = idle_.find(origin);
  if (it == idle_.end()) return nullptr;
  while (!it->second.empty()) {
    Connection* conn = it->second.back();
    it->second.pop_back();
    idle_count_--;
    conn->idle_ = false;
    // close_notify seen after the last response, socket EOF not yet read.
    if (conn->tls_ && (conn->tls_->peerClosed() || conn->tls_->failed())) {
      closeConn(conn);
      continue;
    }
    uv_timer_stop(&conn->timer_);
    return conn;
  }
  return nullptr;
}

void ClientImpl::dropIdle(Connection* conn) {
  if (conn->idle_) {
    auto& list = idle_[conn->origin_];
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i] == conn) {
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
        idle_count_--;
        break;
      }
    }
    conn->idle_ = false;
  }
  closeConn(conn);
}

void ClientImpl::closeIdle() {
  for (auto& [origin, list] : idle_) {
    for (Connection* conn : list) {
      conn->idle_ = false;
      closeConn(conn);
    }
  }
  idle_.clear();
  idle_count_ = 0;
}

void ClientImpl::startReading(Connection* conn) {
  if (conn->reading_ || conn->closing_) return;
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp_), onAlloc, onRead) == 0) {
    conn->reading_ = true;
  }
}

void ClientImpl::stopReading(Connection* conn) {
  if (!conn->reading_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&conn->tcp_));
  conn->reading_ = false;
}

void ClientImpl::kick(Connection* conn) {
  if (!conn->closing_) uv_timer_start(&conn->timer_, onKickTimer, 0, 0);
}

}  // namespace

std::unique_ptr<Client> Client::create(uv_loop_t* loop, const ClientOptions& options,
                                       std::string* error) {
  std::string ignored;
  TlsClientOptions tls_options;
  tls_options.ca_file = options.ca_file;
  tls_options.verify_peer = options.verify_tls;
  auto tls = TlsContext::createClient(tls_options, error != nullptr ? error : &ignored);
  if (!tls) return nullptr;
  return std::make_unique<ClientImpl>(loop, options, std::move(tls));
}

}  // namespace sluice::http
