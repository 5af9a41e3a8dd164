// TLS over memory BIOs, shared by the upstream client and the listener.
//
// A TlsContext holds the OpenSSL settings (certificates, trust store, protocol
// floor, ALPN); a TlsChannel is one connection's TLS state and knows nothing of
// sockets: the owner feeds it the ciphertext it reads, gets plaintext through
// a callback, hands it plaintext to send and receives the ciphertext to write
// through another callback. Both run on one loop thread; a context may be
// shared by channels on several threads (OpenSSL locks the SSL_CTX itself).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace sluice::http {

class TlsChannel;

struct TlsClientOptions {
  std::string ca_file;      // PEM bundle; empty: the system's default trust store
  bool verify_peer = true;  // certificate chain + host name (or IP) verification
};

// Decrypted application data. The bytes are valid only during the call.
using TlsPlaintextFn = std::function<void(const char* data, size_t len)>;
// Ciphertext the owner must write to the peer, in order.
using TlsCiphertextFn = std::function<void(std::string ciphertext)>;

class TlsContext {
 public:
  // Client side: TLS 1.2 minimum, ALPN "http/1.1", peer verification against
  // ca_file or the system store. Returns nullptr and sets *error (for example
  // "cannot load CA file '/x.pem': No such file or directory") on failure.
  static std::shared_ptr<TlsContext> createClient(const TlsClientOptions& options,
                                                  std::string* error);
  // Server side: certificate chain and private key PEM files, TLS 1.2
  // minimum, ALPN "http/1.1" when the client offers it. Returns nullptr and
  // sets *error naming the file and OpenSSL's reason on failure.
  static std::shared_ptr<TlsContext> createServer(const std::string& cert_file,
                                                  const std::string& key_file, std::string* error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  bool isServer() const { return server_; }
  bool verifiesPeer() const { return verify_peer_; }
  ssl_ctx_st* native() const { return ctx_; }

  // A channel for one accepted connection; the handshake starts with the
  // first feed(). Returns nullptr only when OpenSSL cannot allocate.
  std::unique_ptr<TlsChannel> newServerChannel(TlsPlaintextFn on_plaintext,
                                               TlsCiphertextFn on_ciphertext) const;
  // A channel for one outgoing connection to `host` (a name or an IP
  // literal, without brackets). Sets SNI for names, and when the context
  // verifies peers, checks the certificate against the name or IP. The
  // ClientHello is emitted through on_ciphertext before this returns.
  // Returns nullptr and sets *error on failure.
  std::unique_ptr<TlsChannel> newClientChannel(std::string_view host, TlsPlaintextFn on_plaintext,
                                               TlsCiphertextFn on_ciphertext,
                                               std::string* error) const;

 private:
  TlsContext(ssl_ctx_st* ctx, bool server, bool verify_peer)
      : ctx_(ctx), server_(server), verify_peer_(verify_peer) {}
  ssl_ctx_st* ctx_;
  bool server_;
  bool verify_peer_;
};

// One connection's TLS state. Not thread-safe; callbacks run synchronously
// inside feed(), write(), resume() and shutdown(). The owner must not destroy
// the channel from inside one of its callbacks (close the socket and destroy
// the channel later, e.g. in the handle's close callback).
class TlsChannel {
 public:
  ~TlsChannel();
  TlsChannel(const TlsChannel&) = delete;
  TlsChannel& operator=(const TlsChannel&) = delete;

  // Ciphertext read from the socket. Advances the handshake and delivers the
  // plaintext it can decrypt (unless paused). Returns false on a fatal error:
  // error() tells why, any alert for the peer has been emitted, and the
  // channel is unusable; the owner should close the socket.
  bool feed(const char* data, size_t len);
  // Plaintext to send. Before the handshake completes it is held and sent
  // when it does. Returns false if the channel already failed or was shut down.
  bool write(const char* data, size_t len);
  // Emits close_notify; nothing can be written afterwards.
  void shutdown();

  // Backpressure: while paused, feed() only stores ciphertext and no
  // plaintext is delivered. The owner should stop reading the socket too, so
  // what is stored stays bounded by one read. pause() may be called from
  // inside on_plaintext: delivery stops when that call returns. resume()
  // delivers what is pending right away; same return as feed().
  void pause() { paused_ = true; }
  bool resume();
  bool paused() const { return paused_; }

  bool handshakeDone() const { return handshake_done_; }
  bool failed() const { return failed_; }
  // The peer sent close_notify: no more plaintext will come.
  bool peerClosed() const { return peer_closed_; }
  // Received bytes not yet delivered as plaintext (still encrypted or held
  // while paused). Used to refuse reuse of a connection with leftover input.
  bool hasPendingInput() const;
  // OpenSSL's reason for the failure, e.g. "certificate verify failed:
  // self-signed certificate" or "tlsv1 alert unknown ca".
  const std::string& error() const { return error_; }
  // The ALPN protocol agreed on, empty if none.
  std::string alpn() const;

 private:
  friend class TlsContext;
  TlsChannel(ssl_st* ssl, bio_st* in, TlsPlaintextFn on_plaintext, TlsCiphertextFn on_ciphertext);
  bool advance();  // handshake, held writes, then plaintext delivery
  bool deliver();
  bool fail(int ret);
  void flushOutput();

  ssl_st* ssl_;
  bio_st* in_;  // owned by ssl_ (SSL_set_bio); out_ likewise
  bio_st* out_;
  TlsPlaintextFn on_plaintext_;
  TlsCiphertextFn on_ciphertext_;
  std::string held_;  // plaintext written before the handshake completed
  std::unique_ptr<char[]> buf_;
  bool handshake_done_ = false;
  bool failed_ = false;
  bool paused_ = false;
  bool peer_closed_ = false;
  bool shut_down_ = false;
  bool in_deliver_ = false;
  std::string error_;
};

}  // namespace sluice::http
