#include "http/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstring>

namespace sluice::http {
namespace {

constexpr size_t kPlainBufSize = 16 * 1024;  // one TLS record
constexpr unsigned char kAlpn[] = "\x08http/1.1";
constexpr unsigned kAlpnLen = sizeof(kAlpn) - 1;

// OpenSSL's reason for the oldest error in the thread's queue (the root
// cause; later entries only say which call failed), then clears the queue.
std::string takeOpensslError() {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "unknown error";
  if (ERR_SYSTEM_ERROR(first)) return std::strerror(static_cast<int>(ERR_GET_REASON(first)));
  const char* reason = ERR_reason_error_string(first);
  if (reason != nullptr) return reason;
  char buf[256];
  ERR_error_string_n(first, buf, sizeof buf);
  return buf;
}

bool isIpLiteral(const std::string& host) {
  unsigned char addr[16];
  return inet_pton(AF_INET, host.c_str(), addr) == 1 ||
         inet_pton(AF_INET6, host.c_str(), addr) == 1;
}

int selectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpn, kAlpnLen, in, inlen) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;  // no ALPN rather than a failed handshake
}

SSL_CTX* newContext(const SSL_METHOD* method) {
  SSL_CTX* ctx = SSL_CTX_new(method);
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Idle keep-alive connections give their record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

}  // namespace

std::shared_ptr<TlsContext> TlsContext::createClient(const TlsClientOptions& options,
                                                     std::string* error) {
  ERR_clear_error();
  SSL_CTX* ctx = newContext(TLS_client_method());
  if (ctx == nullptr) {
    *error = "cannot create TLS context: " + takeOpensslError();
    return nullptr;
  }
  if (SSL_CTX_set_alpn_protos(ctx, kAlpn, kAlpnLen) != 0) {  // 0 is success here
    *error = "cannot set ALPN: " + takeOpensslError();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (options.verify_peer) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (options.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        *error = "cannot load the system trust store: " + takeOpensslError();
        SSL_CTX_free(ctx);
        return nullptr;
      }
    } else if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
      *error = "cannot load CA file '" + options.ca_file + "': " + takeOpensslError();
      SSL_CTX_free(ctx);
      return nullptr;
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return std::shared_ptr<TlsContext>(new TlsContext(ctx, false, options.verify_peer));
}

std::shared_ptr<TlsContext> TlsContext::createServer(const std::string& cert_file,
                                                     const std::string& key_file,
                                                     std::string* error) {
  ERR_clear_error();
  SSL_CTX* ctx = newContext(TLS_server_method());
  if (ctx == nullptr) {
    *error = "cannot create TLS context: " + takeOpensslError();
    return nullptr;
  }
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    *error = "cannot load certificate '" + cert_file + "': " + takeOpensslError();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    unsigned long code = ERR_peek_last_error();
    if (ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      *error = "private key '" + key_file + "' does not match certificate '" + cert_file + "'";
      SSL_CTX_free(ctx);
      return nullptr;
    }
    *error = "cannot load private key '" + key_file + "': " + takeOpensslError();
    SSL_CTX_free(ctx);
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    *error = "private key '" + key_file + "' does not match certificate '" + cert_file + "'";
    SSL_CTX_free(ctx);
    return nullptr;
  }
  SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, nullptr);
  return std::shared_ptr<TlsContext>(new TlsContext(ctx, true, false));
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

namespace {

// SSL with a pair of memory BIOs; nullptr when OpenSSL cannot allocate.
SSL* newSsl(SSL_CTX* ctx, BIO** in) {
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    SSL_free(ssl);
    return nullptr;
  }
  BIO_set_mem_eof_return(rbio, -1);  // empty means "wait for more", not EOF
  SSL_set_bio(ssl, rbio, wbio);
  *in = rbio;
  return ssl;
}

}  // namespace

std::unique_ptr<TlsChannel> TlsContext::newServerChannel(TlsPlaintextFn on_plaintext,
                                                         TlsCiphertextFn on_ciphertext) const {
  BIO* in = nullptr;
  SSL* ssl = newSsl(ctx_, &in);
  if (ssl == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsChannel>(
      new TlsChannel(ssl, in, std::move(on_plaintext), std::move(on_ciphertext)));
}

std::unique_ptr<TlsChannel> TlsContext::newClientChannel(std::string_view host,
                                                         TlsPlaintextFn on_plaintext,
                                                         TlsCiphertextFn on_ciphertext,
                                                         std::string* error) const {
  ERR_clear_error();
  BIO* in = nullptr;
  SSL* ssl = newSsl(ctx_, &in);
  if (ssl == nullptr) {
    *error = "cannot create TLS session: " + takeOpensslError();
    return nullptr;
  }
  SSL_set_connect_state(ssl);
  std::string name(host);
  bool ok = true;
  if (isIpLiteral(name)) {
    // No SNI for addresses (RFC 6066); verify against the certificate's IP SANs.
    if (verify_peer_) ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) == 1;
  } else {
    ok = SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
    if (ok && verify_peer_) {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      ok = SSL_set1_host(ssl, name.c_str()) == 1;
    }
  }
  if (!ok) {
    *error = "cannot set TLS server name '" + name + "': " + takeOpensslError();
    SSL_free(ssl);
    return nullptr;
  }
  std::unique_ptr<TlsChannel> channel(
      new TlsChannel(ssl, in, std::move(on_plaintext), std::move(on_ciphertext)));
  if (!channel->advance()) {  // emits the ClientHello
    *error = channel->error();
    return nullptr;
  }
  return channel;
}

TlsChannel::TlsChannel(ssl_st* ssl, bio_st* in, TlsPlaintextFn on_plaintext,
                       TlsCiphertextFn on_ciphertext)
    : ssl_(ssl),
      in_(in),
      out_(SSL_get_wbio(ssl)),
      on_plaintext_(std::move(on_plaintext)),
      on_ciphertext_(std::move(on_ciphertext)),
      buf_(new char[kPlainBufSize]) {}

TlsChannel::~TlsChannel() { SSL_free(ssl_); }

bool TlsChannel::feed(const char* data, size_t len) {
  if (failed_) return false;
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : static_cast<int>(len);
    if (BIO_write(in_, data, chunk) != chunk) {
      ERR_clear_error();
      failed_ = true;
      error_ = "out of memory buffering TLS input";
      return false;
    }
    data += chunk;
    len -= static_cast<size_t>(chunk);
  }
  return advance();
}

bool TlsChannel::write(const char* data, size_t len) {
  if (failed_ || shut_down_) return false;
  if (len == 0) return true;
  if (!handshake_done_) {
    held_.append(data, len);
    return true;
  }
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : static_cast<int>(len);
    ERR_clear_error();
    int n = SSL_write(ssl_, data, chunk);  // memory BIO: never a partial write
    if (n <= 0) return fail(n);
    data += n;
    len -= static_cast<size_t>(n);
  }
  flushOutput();
  return true;
}

void TlsChannel::shutdown() {
  if (failed_ || shut_down_) return;
  shut_down_ = true;
  if (!handshake_done_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  ERR_clear_error();
  flushOutput();
}

bool TlsChannel::resume() {
  paused_ = false;
  if (failed_) return false;
  if (!handshake_done_) return true;
  return deliver();
}

bool TlsChannel::hasPendingInput() const {
  return SSL_has_pending(ssl_) == 1 || BIO_ctrl_pending(in_) > 0;
}

std::string TlsChannel::alpn() const {
  const unsigned char* proto = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &proto, &len);
  return proto == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(proto), len);
}

bool TlsChannel::advance() {
  if (failed_) return false;
  if (!handshake_done_) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        flushOutput();
        return true;
      }
      return fail(r);
    }
    handshake_done_ = true;
    if (!held_.empty()) {
      std::string held = std::move(held_);
      held_.clear();
      if (!write(held.data(), held.size())) return false;
    }
  }
  flushOutput();
  return deliver();
}

bool TlsChannel::deliver() {
  // A resume() from inside on_plaintext lands here: the outer loop goes on.
  if (in_deliver_) return !failed_;
  in_deliver_ = true;
  while (!paused_ && !failed_ && !peer_closed_) {
    ERR_clear_error();
    int n = SSL_read(ssl_, buf_.get(), static_cast<int>(kPlainBufSize));
    if (n > 0) {
      on_plaintext_(buf_.get(), static_cast<size_t>(n));
      continue;
    }
    int e = SSL_get_error(ssl_, n);
    if (e == SSL_ERROR_WANT_READ) break;
    if (e == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      break;
    }
    in_deliver_ = false;
    return fail(n);
  }
  in_deliver_ = false;
  flushOutput();  // reading may answer the peer (key update, close_notify)
  return !failed_;
}

bool TlsChannel::fail(int ret) {
  int kind = SSL_get_error(ssl_, ret);
  unsigned long code = ERR_peek_error();
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    error_ = reason != nullptr ? reason : "TLS error";
    if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      long verify = SSL_get_verify_result(ssl_);
      if (verify != X509_V_OK) error_ += std::string(": ") + X509_verify_cert_error_string(verify);
    }
  } else if (kind == SSL_ERROR_SYSCALL) {
    error_ = "unexpected end of TLS stream";
  } else {
    error_ = "TLS error " + std::to_string(kind);
  }
  ERR_clear_error();
  failed_ = true;
  flushOutput();  // the alert telling the peer why
  return false;
}

void TlsChannel::flushOutput() {
  size_t n = BIO_ctrl_pending(out_);
  if (n == 0) return;
  std::string out(n, '\0');
  int got = BIO_read(out_, out.data(), static_cast<int>(n));
  if (got <= 0) return;
  out.resize(static_cast<size_t>(got));
  on_ciphertext_(std::move(out));
}

}  // namespace sluice::http
