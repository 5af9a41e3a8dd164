// Self-signed certificates for TLS tests, made with the OpenSSL API into a
// temporary directory that is removed with the object.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::testing {

class SelfSignedCert {
 public:
  // An EC P-256 key and a certificate for `common_name` whose subject
  // alternative names are `dns_names` and `ips`. ok() tells if it worked.
  SelfSignedCert(const std::string& common_name, const std::vector<std::string>& dns_names,
                 const std::vector<std::string>& ips) {
    std::string tmpl = std::filesystem::temp_directory_path().string() + "/sluice-cert-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) return;
    dir_ = buf.data();
    cert_file_ = dir_ + "/cert.pem";
    key_file_ = dir_ + "/key.pem";
    ok_ = make(common_name, dns_names, ips);
  }
  ~SelfSignedCert() {
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  SelfSignedCert(const SelfSignedCert&) = delete;
  SelfSignedCert& operator=(const SelfSignedCert&) = delete;

  bool ok() const { return ok_; }
  const std::string& certFile() const { return cert_file_; }
  const std::string& keyFile() const { return key_file_; }
  const std::string& dir() const { return dir_; }

 private:
  bool make(const std::string& cn, const std::vector<std::string>& dns_names,
            const std::vector<std::string>& ips) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* x = X509_new();
    bool ok = key != nullptr && x != nullptr;
    if (ok) {
      X509_set_version(x, 2);
      ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
      X509_gmtime_adj(X509_getm_notBefore(x), -3600);
      X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
      X509_set_pubkey(x, key);
      X509_NAME* name = X509_get_subject_name(x);
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
      X509_set_issuer_name(x, name);
      std::string san;
      for (const auto& d : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
      for (const auto& ip : ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
      X509V3_CTX ctx;
      X509V3_set_ctx_nodb(&ctx);
      X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
      ok = addExt(x, &ctx, NID_basic_constraints, "critical,CA:TRUE") &&
           addExt(x, &ctx, NID_subject_key_identifier, "hash") &&
           (san.empty() || addExt(x, &ctx, NID_subject_alt_name, san.c_str())) &&
           X509_sign(x, key, EVP_sha256()) > 0;
    }
    if (ok) {
      FILE* f = std::fopen(cert_file_.c_str(), "w");
      ok = f != nullptr && PEM_write_X509(f, x) == 1;
      if (f != nullptr) std::fclose(f);
    }
    if (ok) {
      FILE* f = std::fopen(key_file_.c_str(), "w");
      ok = f != nullptr && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
      if (f != nullptr) std::fclose(f);
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
  }

  static bool addExt(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value);
    if (ext == nullptr) return false;
    bool ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
  }

  std::string dir_;
  std::string cert_file_;
  std::string key_file_;
  bool ok_ = false;
};

}  // namespace sluice::testing
