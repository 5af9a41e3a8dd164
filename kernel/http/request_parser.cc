#include "http/request_parser.h"

#include <strings.h>

#include "util/clock.h"

namespace sluice::http {
namespace {
char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
RequestParser* from(llhttp_t* p) { return static_cast<RequestParser*>(p->data); }
}  // namespace

RequestParser::RequestParser(const manifest::Limits& limits) : limits_(limits) {
  llhttp_init(&parser_, HTTP_REQUEST, settings());
  parser_.data = this;
}

const llhttp_settings_t* RequestParser::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_message_begin = onMessageBegin;
    st.on_url = onUrl;
    st.on_header_field = onHeaderField;
    st.on_header_value = onHeaderValue;
    st.on_headers_complete = onHeadersComplete;
    st.on_body = onBody;
    st.on_message_complete = onMessageComplete;
    return st;
  }();
  return &s;
}

RequestParser::Result RequestParser::parse(const char* data, size_t len, size_t* consumed) {
  *consumed = 0;
  if (error_status_) return Result::Error;
  llhttp_errno_t err = llhttp_execute(&parser_, data, len);
  if (err == HPE_OK) {
    *consumed = len;
    return Result::NeedMore;
  }
  if (err == HPE_PAUSED && complete_) {
    const char* stop = llhttp_get_error_pos(&parser_);
    *consumed = stop ? static_cast<size_t>(stop - data) : len;
    llhttp_resume(&parser_);
    return Result::Complete;
  }
  if (!error_status_) {
    error_status_ = 400;
    const char* reason = llhttp_get_error_reason(&parser_);
    error_message_ = std::string("malformed HTTP request: ") + (reason ? reason : "parse error");
  }
  return Result::Error;
}

void RequestParser::reset() {
  request_.method.clear();
  request_.target.clear();
  request_.headers.clear();
  request_.body.clear();
  request_.keep_alive = true;
  header_field_.clear();
  header_value_open_ = false;
  header_bytes_ = 0;
  complete_ = false;
  in_message_ = false;
  expect_continue_ = false;
}

bool RequestParser::takeExpectContinue() {
  bool e = expect_continue_;
  expect_continue_ = false;
  return e;
}

bool RequestParser::countHeaderBytes(size_t len) {
  header_bytes_ += len;
  if (header_bytes_ <= limits_.max_header_bytes) return true;
  error_status_ = 431;
  error_message_ = "request headers are larger than server.limits.max_header_bytes (" +
                   std::to_string(limits_.max_header_bytes) + ")";
  return false;
}

int RequestParser::onMessageBegin(llhttp_t* p) {
  RequestParser* r = from(p);
  r->reset();
  r->in_message_ = true;
  r->request_.start_ns = util::monotonicNs();
  return 0;
}

int RequestParser::onUrl(llhttp_t* p, const char* at, size_t len) {
  RequestParser* r = from(p);
  if (!r->countHeaderBytes(len)) return -1;
  r->request_.target.append(at, len);
  return 0;
}

int RequestParser::onHeaderField(llhttp_t* p, const char* at, size_t len) {
  RequestParser* r = from(p);
  if (!r->countHeaderBytes(len)) return -1;
  if (r->header_value_open_) {
    r->header_value_open_ = false;
    r->header_field_.clear();
  }
  for (size_t i = 0; i < len; i++) r->header_field_.push_back(asciiLower(at[i]));
  return 0;
}

int RequestParser::onHeaderValue(llhttp_t* p, const char* at, size_t len) {
  RequestParser* r = from(p);
  if (!r->countHeaderBytes(len)) return -1;
  if (!r->header_value_open_) {
    r->header_value_open_ = true;
    r->request_.headers.emplace_back(r->header_field_, std::string());
  }
  r->request_.headers.back().second.append(at, len);
  return 0;
}

int RequestParser::onHeadersComplete(llhttp_t* p) {
  RequestParser* r = from(p);
  r->request_.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  r->request_.keep_alive = llhttp_should_keep_alive(p);
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > r->limits_.max_body_bytes) {
    r->error_status_ = 413;
    r->error_message_ = "request body is larger than server.limits.max_body_bytes (" +
                        std::to_string(r->limits_.max_body_bytes) + ")";
    return -1;
  }
  const std::string* expect = r->request_.header("expect");
  if (expect && strcasecmp(expect->c_str(), "100-continue") == 0) r->expect_continue_ = true;
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0) {
    r->request_.body.reserve(p->content_length);
  }
  return 0;
}

int RequestParser::onBody(llhttp_t* p, const char* at, size_t len) {
  RequestParser* r = from(p);
  if (r->request_.body.size() + len > r->limits_.max_body_bytes) {
    r->error_status_ = 413;
    r->error_message_ = "request body is larger than server.limits.max_body_bytes (" +
                        std::to_string(r->limits_.max_body_bytes) + ")";
    return -1;
  }
  r->request_.body.append(at, len);
  return 0;
}

int RequestParser::onMessageComplete(llhttp_t* p) {
  RequestParser* r = from(p);
  r->complete_ = true;
  r->in_message_ = false;
  return HPE_PAUSED;  // answer this message before parsing the next
}

}  // namespace sluice::http
