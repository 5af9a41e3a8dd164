// The OpenAI wire request: URL per endpoint, static headers, and the
// canonical body passed through unchanged. Shared by the `openai` and
// `openai-compatible` providers, which speak the same request format.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::openai {

struct RequestOptions {
  const char* default_base_url = nullptr;  // NULL: base_url is required
  bool rerank = false;                     // serve SLUICE_EP_RERANK at /rerank
};

// The endpoint's path under base_url, or NULL when it has none.
const char* endpointPath(sluice_endpoint ep);
// Endpoints whose request body is multipart/form-data rather than JSON.
bool isMultipart(sluice_endpoint ep);

class RequestBuilder {
 public:
  // Parses the provider block (base_url, auth.bearer, organization, project,
  // headers). Returns false with a message in *err that never holds a secret.
  bool init(const char* config_json, const RequestOptions& opts, std::string* err);

  // Fills `out` for `call`. Strings point into this builder, except the
  // multipart Content-Type, which goes into *scratch (kept by the caller
  // until the call ends; may be NULL for JSON endpoints).
  int build(const sluice_provider_call* call, sluice_upstream_request* out,
            std::string* scratch) const;

  const std::string& baseUrl() const { return base_url_; }
  bool hasAuth() const { return !fixed_.empty() && fixed_[0].first == "Authorization"; }

 private:
  std::string base_url_;           // without a trailing '/'
  std::vector<std::string> urls_;  // by sluice_endpoint; empty = unsupported
  std::vector<std::pair<std::string, std::string>> fixed_;  // auth, org, project
  std::vector<std::pair<std::string, std::string>> extra_;  // config `headers`
};

}  // namespace sluice::openai
