// A scriptable HTTP/1.1 upstream on 127.0.0.1:<ephemeral> for client tests,
// running on the test's own libuv loop (optionally behind TLS through
// http/tls.h). Each complete request goes to the test's handler, which
// answers with raw bytes, closes, resets, or stays silent.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cctype>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/tls.h"

namespace sluice::testing {

class TestUpstream {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
    std::string body;
    size_t conn_index = 0;     // which accepted connection (0-based)
    size_t index_on_conn = 0;  // 0 for the first request on that connection

    std::string header(const std::string& name) const {
      for (const auto& [k, v] : headers) {
        if (k == name) return v;
      }
      return "";
    }
  };

  class Conn {
   public:
    // Raw response bytes (encrypted first when the upstream is TLS).
    void write(const std::string& data) {
      if (closing_) return;
      if (tls_) {
        tls_->write(data.data(), data.size());
      } else {
        writeRaw(data);
      }
    }
    // Closes after queued bytes are sent (FIN).
    void end() {
      if (closing_ || ending_) return;
      ending_ = true;
      if (tls_) tls_->shutdown();
      auto* req = new uv_shutdown_t;
      req->data = this;
      if (uv_shutdown(req, stream(), [](uv_shutdown_t* r, int) {
            auto* c = static_cast<Conn*>(r->data);
            delete r;
            c->close();
          }) != 0) {
        delete req;
        close();
      }
    }
    // Closes with a TCP reset.
    void reset() {
      if (closing_) return;
      closing_ = true;
      uv_tcp_close_reset(&tcp_, nullptr);
    }
    void close() {
      if (closing_) return;
      closing_ = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
    }
    size_t writeQueueSize() const { return uv_stream_get_write_queue_size(cstream()); }
    bool closed() const { return closing_; }
    bool peerClosed() const { return peer_closed_; }
    size_t index() const { return index_; }
    size_t requests() const { return requests_; }
    const std::string& tlsError() const { return tls_error_; }

   private:
    friend class TestUpstream;
    struct WriteReq {
      uv_write_t req;
      std::string data;
    };

    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
    const uv_stream_t* cstream() const { return reinterpret_cast<const uv_stream_t*>(&tcp_); }

    void writeRaw(std::string data) {
      if (closing_ || data.empty()) return;
      auto* w = new WriteReq{{}, std::move(data)};
      uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
      if (uv_write(&w->req, stream(), &buf, 1,
                   [](uv_write_t* r, int) { delete reinterpret_cast<WriteReq*>(r); }) != 0) {
        delete w;
      }
    }

    void onBytes(const char* data, size_t len) {
      if (closing_ || server_->silent) return;
      if (parse_failed_) return;
      llhttp_errno_t err = llhttp_execute(&parser_, data, len);
      if (err != HPE_OK) parse_failed_ = true;
    }

    static Conn* of(llhttp_t* p) { return static_cast<Conn*>(p->data); }

    TestUpstream* server_ = nullptr;
    uv_tcp_t tcp_;
    llhttp_t parser_;
    std::unique_ptr<http::TlsChannel> tls_;
    std::string tls_error_;
    Request current_;
    std::string field_;
    std::string value_;
    size_t index_ = 0;
    size_t requests_ = 0;
    bool closing_ = false;
    bool ending_ = false;
    bool peer_closed_ = false;
    bool parse_failed_ = false;
  };

  using Handler = std::function<void(Conn& conn, const Request& request)>;

  TestUpstream(uv_loop_t* loop, Handler handler, std::shared_ptr<http::TlsContext> tls = nullptr)
      : loop_(loop), handler_(std::move(handler)), tls_(std::move(tls)) {
    uv_tcp_init(loop_, &listener_);
    listener_.data = this;
    sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    ok_ = uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0) == 0 &&
          uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 64, onConnection) == 0;
    sockaddr_storage bound;
    int len = sizeof bound;
    if (ok_ && uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
      port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    }
  }
  ~TestUpstream() { close(); }
  TestUpstream(const TestUpstream&) = delete;
  TestUpstream& operator=(const TestUpstream&) = delete;

  bool ok() const { return ok_ && port_ != 0; }
  int port() const { return port_; }
  size_t accepts() const { return conns_.size(); }
  Conn& conn(size_t i) { return *conns_[i]; }
  const std::vector<Request>& requests() const { return requests_; }
  // Read and ignore every byte: never parse, never answer.
  bool silent = false;

  void close() {
    if (closed_) return;
    closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    for (auto& c : conns_) c->close();
  }

  std::string url(const std::string& path = "/") const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  static void onConnection(uv_stream_t* listener, int status) {
    auto* self = static_cast<TestUpstream*>(listener->data);
    if (status < 0) return;
    auto conn = std::make_unique<Conn>();
    Conn* c = conn.get();
    c->server_ = self;
    c->index_ = self->conns_.size();
    uv_tcp_init(self->loop_, &c->tcp_);
    c->tcp_.data = c;
    if (uv_accept(listener, c->stream()) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), nullptr);
      c->closing_ = true;
    }
    llhttp_init(&c->parser_, HTTP_REQUEST, settings());
    c->parser_.data = c;
    if (self->tls_) {
      c->tls_ = self->tls_->newServerChannel(
          [c](const char* data, size_t len) { c->onBytes(data, len); },
          [c](std::string ciphertext) { c->writeRaw(std::move(ciphertext)); });
    }
    self->conns_.push_back(std::move(conn));
    if (!c->closing_) uv_read_start(c->stream(), onAlloc, onRead);
  }

  static void onAlloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
    buf->base = new char[suggested];
    buf->len = suggested;
  }

  static void onRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(stream->data);
    if (nread > 0 && !c->closing_) {
      if (c->tls_) {
        if (!c->tls_->feed(buf->base, static_cast<size_t>(nread))) {
          c->tls_error_ = c->tls_->error();
          c->end();  // lets the alert reach the client
        }
      } else {
        c->onBytes(buf->base, static_cast<size_t>(nread));
      }
    } else if (nread < 0 && !c->closing_) {
      c->peer_closed_ = true;
      c->close();
    }
    delete[] buf->base;
  }

  static const llhttp_settings_t* settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t st;
      llhttp_settings_init(&st);
      st.on_message_begin = [](llhttp_t* p) {
        Conn::of(p)->current_ = Request{};
        return 0;
      };
      st.on_url = [](llhttp_t* p, const char* at, size_t len) {
        Conn::of(p)->current_.target.append(at, len);
        return 0;
      };
      st.on_method = [](llhttp_t* p, const char* at, size_t len) {
        Conn::of(p)->current_.method.append(at, len);
        return 0;
      };
      st.on_header_field = [](llhttp_t* p, const char* at, size_t len) {
        for (size_t i = 0; i < len; ++i)
          Conn::of(p)->field_.push_back(static_cast<char>(tolower(at[i])));
        return 0;
      };
      st.on_header_value = [](llhttp_t* p, const char* at, size_t len) {
        Conn::of(p)->value_.append(at, len);
        return 0;
      };
      st.on_header_value_complete = [](llhttp_t* p) {
        Conn* c = Conn::of(p);
        c->current_.headers.emplace_back(std::move(c->field_), std::move(c->value_));
        c->field_.clear();
        c->value_.clear();
        return 0;
      };
      st.on_body = [](llhttp_t* p, const char* at, size_t len) {
        Conn::of(p)->current_.body.append(at, len);
        return 0;
      };
      st.on_message_complete = [](llhttp_t* p) {
        Conn* c = Conn::of(p);
        Request req = std::move(c->current_);
        req.conn_index = c->index_;
        req.index_on_conn = c->requests_++;
        c->server_->requests_.push_back(req);
        c->server_->handler_(*c, req);
        return 0;
      };
      return st;
    }();
    return &s;
  }

  uv_loop_t* loop_;
  Handler handler_;
  std::shared_ptr<http::TlsContext> tls_;
  uv_tcp_t listener_;
  bool ok_ = false;
  bool closed_ = false;
  int port_ = 0;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Request> requests_;
};

// Runs `loop` without blocking until the bytes `conn` still has to send stop
// changing (the peer is not reading and the socket buffers are full), and
// returns that count.
inline size_t stalledWriteQueue(uv_loop_t* loop, const TestUpstream::Conn& conn) {
  size_t last = SIZE_MAX;
  int stable = 0;
  for (int i = 0; i < 10000 && stable < 20; ++i) {
    uv_run(loop, UV_RUN_NOWAIT);
    size_t q = conn.writeQueueSize();
    stable = q == last ? stable + 1 : 0;
    last = q;
  }
  return last;
}

}  // namespace sluice::testing
