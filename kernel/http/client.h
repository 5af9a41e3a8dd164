// Upstream HTTP/1.1 client, one per worker loop: keep-alive pools per origin,
// async DNS with a cache, TLS with SNI and verification, connect / first-byte /
// total timeouts, and streamed responses with backpressure (pause/resume).
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::http {

struct Url {
  bool tls = false;
  std::string host;  // no brackets for IPv6
  uint16_t port = 0;
  std::string path;  // path + query, at least "/"
  // Parses absolute http(s) URLs. Returns false on anything else.
  static bool parse(std::string_view text, Url* out);
  std::string origin() const;  // "https://host:port"
};

struct ClientOptions {
  uint32_t connect_timeout_ms = 5000;
  uint32_t first_byte_timeout_ms = 60000;
  uint32_t total_timeout_ms = 600000;
  uint32_t idle_keepalive_ms = 60000;  // pooled connection lifetime when idle
  uint32_t max_idle_per_origin = 64;
  uint32_t dns_ttl_ms = 30000;
  std::string ca_file;  // empty: system default store
  bool verify_tls = true;
};

struct ClientRequest {
  std::string method = "POST";
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;  // Host and Content-Length are added
  std::string body;
  uint32_t total_timeout_ms = 0;       // 0: ClientOptions default
  uint32_t first_byte_timeout_ms = 0;  // 0: ClientOptions default
};

enum class ClientError {
  None,
  Dns,           // name did not resolve
  Connect,       // refused / unreachable
  Tls,           // handshake or verification failed
  Reset,         // connection closed or reset before the response ended
  Protocol,      // unparsable response
  ConnectTimeout,
  FirstByteTimeout,
  TotalTimeout
};
const char* clientErrorName(ClientError e);
inline bool isTimeout(ClientError e) {
  return e == ClientError::ConnectTimeout || e == ClientError::FirstByteTimeout ||
         e == ClientError::TotalTimeout;
}

// Receives one response. Calls arrive on the worker loop, in order:
// onHead once, onBody zero or more times, then exactly one of onEnd / onError.
// (onError may come without onHead, or after it when the body breaks.)
class ClientHandler {
 public:
  virtual ~ClientHandler() = default;
  virtual void onHead(int status, const std::vector<std::pair<std::string, std::string>>& headers) = 0;
  virtual void onBody(const char* data, size_t len) = 0;  // de-chunked body bytes
  virtual void onEnd() = 0;
  virtual void onError(ClientError error, const std::string& detail) = 0;
};

class Client;

// One in-flight exchange. Owned by the client; the handle stays valid until
// onEnd/onError returns or cancel() is called.
class Call {
 public:
  virtual ~Call() = default;
  virtual void pause() = 0;   // stop reading from upstream (backpressure)
  virtual void resume() = 0;
  virtual void cancel() = 0;  // no further handler calls; the connection is closed
};

class Client {
 public:
  static std::unique_ptr<Client> create(uv_loop_t* loop, const ClientOptions& options,
                                        std::string* error);
  virtual ~Client() = default;
  // Starts a request; handler must outlive the call (until onEnd/onError or cancel()).
  virtual Call* start(ClientRequest request, ClientHandler* handler) = 0;
  // Closes idle pooled connections and cancels nothing; used when a worker drains.
  virtual void closeIdle() = 0;
  virtual size_t idleConnections() const = 0;  // for tests and metrics
};

}  // namespace sluice::http
