#include "pipeline/errors.h"

#include <cstdio>

namespace sluice::pipeline {

void appendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  // Runs of characters that need no escape are appended whole: request
  // records put every id, model and body through here.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default: {
        char buf[8];
        snprintf(buf, sizeof buf, "\\u%04x", c);
        out->append(buf);
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

const char* errorTypeFor(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 408: return "timeout_error";
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 502:
    case 503: return "upstream_error";
    case 504: return "timeout_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

ApiError makeError(int status, std::string message, std::string code, std::string param) {
  ApiError e;
  e.status = status;
  e.message = std::move(message);
  e.type = errorTypeFor(status);
  e.code = std::move(code);
  e.param = std::move(param);
  return e;
}

std::string errorBody(const ApiError& e) {
  std::string out;
  out.reserve(96 + e.message.size());
  out.append("{\"error\":{\"message\":");
  appendJsonString(&out, e.message);
  out.append(",\"type\":");
  appendJsonString(&out, e.type.empty() ? errorTypeFor(e.status) : e.type);
  out.append(",\"code\":");
  if (e.code.empty()) out.append("null"); else appendJsonString(&out, e.code);
  out.append(",\"param\":");
  if (e.param.empty()) out.append("null"); else appendJsonString(&out, e.param);
  out.append("}}");
  return out;
}

}  // namespace sluice::pipeline
