#include "openai_request.h"

#include <cjson/cJSON.h>
#include <strings.h>

#include <cstring>
#include <memory>

namespace sluice::openai {
namespace {

constexpr size_t kMaxFixedHeaders = 5;  // Authorization, org, project, Content-Type, Accept
constexpr size_t kMaxExtraHeaders = 16 - kMaxFixedHeaders;
constexpr size_t kEndpointSlots = SLUICE_EP_MODERATIONS + 1;

struct JsonDeleter {
  void operator()(cJSON* j) const { cJSON_Delete(j); }
};
using JsonPtr = std::unique_ptr<cJSON, JsonDeleter>;

sluice_str view(const std::string& s) { return {s.data(), s.size()}; }
sluice_str view(const char* s) { return {s, strlen(s)}; }

// CR, LF and NUL would let a value start a new header line.
bool safeHeaderText(const std::string& s) {
  return s.find_first_of("\r\n", 0) == std::string::npos && s.find('\0') == std::string::npos;
}

bool safeHeaderName(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || c == ':') return false;
  }
  return true;
}

// Reads an optional string key; false when present but not a string.
bool optionalString(const cJSON* obj, const char* key, std::string* out) {
  const cJSON* item = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!item || cJSON_IsNull(item)) return true;
  if (!cJSON_IsString(item)) return false;
  *out = item->valuestring;
  return true;
}

// "multipart/form-data; boundary=X" from a body that starts "--X\r\n".
bool multipartType(sluice_str body, std::string* out) {
  if (body.len < 4 || body.ptr[0] != '-' || body.ptr[1] != '-') return false;
  size_t end = 2;
  while (end < body.len && end < 2 + 70 && body.ptr[end] != '\r') end++;
  if (end == 2 || end + 1 >= body.len || body.ptr[end] != '\r' || body.ptr[end + 1] != '\n') {
    return false;
  }
  out->assign("multipart/form-data; boundary=");
  out->append(body.ptr + 2, end - 2);
  return safeHeaderText(*out);
}

void put(sluice_upstream_request* out, sluice_str name, sluice_str value) {
  for (size_t i = 0; i < out->header_count; i++) {
    const sluice_str& have = out->headers[i].name;
    if (have.len == name.len && strncasecmp(have.ptr, name.ptr, name.len) == 0) {
      out->headers[i].value = value;
      return;
    }
  }
  if (out->header_count < sizeof(out->headers) / sizeof(out->headers[0])) {
    out->headers[out->header_count++] = {name, value};
  }
}

}  // namespace

const char* endpointPath(sluice_endpoint ep) {
  switch (ep) {
    case SLUICE_EP_CHAT:
      return "/chat/completions";
    case SLUICE_EP_COMPLETIONS:
      return "/completions";
    case SLUICE_EP_EMBEDDINGS:
      return "/embeddings";
    case SLUICE_EP_MODELS:
      return "/models";
    case SLUICE_EP_IMAGES_GENERATIONS:
      return "/images/generations";
    case SLUICE_EP_IMAGES_EDITS:
      return "/images/edits";
    case SLUICE_EP_AUDIO_TRANSCRIPTIONS:
      return "/audio/transcriptions";
    case SLUICE_EP_AUDIO_TRANSLATIONS:
      return "/audio/translations";
    case SLUICE_EP_AUDIO_SPEECH:
      return "/audio/speech";
    case SLUICE_EP_RERANK:
      return "/rerank";
    case SLUICE_EP_MODERATIONS:
      return "/moderations";
  }
  return nullptr;
}

bool isMultipart(sluice_endpoint ep) {
  return ep == SLUICE_EP_IMAGES_EDITS || ep == SLUICE_EP_AUDIO_TRANSCRIPTIONS ||
         ep == SLUICE_EP_AUDIO_TRANSLATIONS;
}

bool RequestBuilder::init(const char* config_json, const RequestOptions& opts, std::string* err) {
  JsonPtr root(cJSON_Parse(config_json ? config_json : "{}"));
  if (!root || !cJSON_IsObject(root.get())) {
    *err = "config must be a JSON object";
    return false;
  }
  const cJSON* cfg = root.get();

  const cJSON* base = cJSON_GetObjectItemCaseSensitive(cfg, "base_url");
  if (base && !cJSON_IsNull(base) && !cJSON_IsString(base)) {
    *err = "base_url must be a string";
    return false;
  }
  if (base && cJSON_IsString(base)) {
    base_url_ = base->valuestring;
  } else if (opts.default_base_url) {
    base_url_ = opts.default_base_url;
  } else {
    *err = "base_url is required";
    return false;
  }
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  bool http = base_url_.rfind("http://", 0) == 0 && base_url_.size() > 7;
  bool https = base_url_.rfind("https://", 0) == 0 && base_url_.size() > 8;
  if ((!http && !https) || !safeHeaderText(base_url_) ||
      base_url_.find_first_of(" \t") != std::string::npos) {
    *err = "base_url must be an http:// or https:// URL";
    return false;
  }

  std::string bearer;
  const cJSON* auth = cJSON_GetObjectItemCaseSensitive(cfg, "auth");
  if (auth && !cJSON_IsNull(auth)) {
    if (!cJSON_IsObject(auth)) {
      *err = "auth must be an object";
      return false;
    }
    if (!optionalString(auth, "bearer", &bearer)) {
      *err = "auth.bearer must be a string";
      return false;
    }
    if (!safeHeaderText(bearer)) {
      *err = "auth.bearer contains a line break";  // the value itself is never echoed
      return false;
    }
  }
  if (!bearer.empty()) fixed_.emplace_back("Authorization", "Bearer " + bearer);

  const char* fixed_keys[][2] = {{"organization", "OpenAI-Organization"},
                                 {"project", "OpenAI-Project"}};
  for (const auto& key : fixed_keys) {
    std::string value;
    if (!optionalString(cfg, key[0], &value)) {
      *err = std::string(key[0]) + " must be a string";
      return false;
    }
    if (!safeHeaderText(value)) {
      *err = std::string(key[0]) + " contains a line break";
      return false;
    }
    if (!value.empty()) fixed_.emplace_back(key[1], value);
  }

  const cJSON* headers = cJSON_GetObjectItemCaseSensitive(cfg, "headers");
  if (headers && !cJSON_IsNull(headers)) {
    if (!cJSON_IsObject(headers)) {
      *err = "headers must be an object of strings";
      return false;
    }
    const cJSON* h = nullptr;
    cJSON_ArrayForEach(h, headers) {
      std::string name = h->string;
      if (!safeHeaderName(name)) {
        *err = "headers: invalid header name \"" + name + "\"";
        return false;
      }
      if (!cJSON_IsString(h)) {
        *err = "headers." + name + " must be a string";
        return false;
      }
      if (!safeHeaderText(h->valuestring)) {
        *err = "headers." + name + " contains a line break";
        return false;
      }
      extra_.emplace_back(name, h->valuestring);
    }
    if (extra_.size() > kMaxExtraHeaders) {
      *err = "headers: at most 11 extra headers";
      static_assert(kMaxExtraHeaders == 11, "keep the message in step");
      return false;
    }
  }

  urls_.assign(kEndpointSlots, std::string());
  for (size_t ep = 1; ep < kEndpointSlots; ep++) {
    if (ep == SLUICE_EP_RERANK && !opts.rerank) continue;
    if (const char* path = endpointPath(static_cast<sluice_endpoint>(ep))) {
      urls_[ep] = base_url_ + path;
    }
  }
  return true;
}

int RequestBuilder::build(const sluice_provider_call* call, sluice_upstream_request* out,
                          std::string* scratch) const {
  size_t ep = static_cast<size_t>(call->endpoint);
  if (ep >= urls_.size() || urls_[ep].empty()) return SLUICE_ERR_UNSUPPORTED;

  bool get = call->endpoint == SLUICE_EP_MODELS;
  out->method = view(get ? "GET" : "POST");
  out->url = view(urls_[ep]);
  out->header_count = 0;
  for (const auto& h : fixed_) put(out, view(h.first), view(h.second));
  if (isMultipart(call->endpoint)) {
    // The boundary is the body's first line; without one the kernel's own
    // (client) Content-Type is the only source.
    if (scratch && multipartType(call->body, scratch)) {
      put(out, view("Content-Type"), view(*scratch));
    }
  } else if (!get) {
    put(out, view("Content-Type"), view("application/json"));
  }
  if (call->stream) put(out, view("Accept"), view("text/event-stream"));
  for (const auto& h : extra_) put(out, view(h.first), view(h.second));
  out->body = {nullptr, 0};  // send the canonical body unchanged
  out->local = 0;
  return SLUICE_OK;
}

}  // namespace sluice::openai
