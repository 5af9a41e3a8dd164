// Incremental HTTP/1.1 request parser on llhttp, with the server's limits:
// header bytes (431), body bytes (413, checked against Content-Length before
// the body arrives). Knows nothing of sockets, so it is tested and fuzzed
// on its own.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string>

#include "http/server.h"
#include "manifest/config.h"

namespace sluice::http {

class RequestParser {
 public:
  enum class Result { NeedMore, Complete, Error };

  explicit RequestParser(const manifest::Limits& limits);
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses up to one message from data. *consumed is how many bytes were
  // used (the rest belongs to the next, pipelined, message). After Complete,
  // request() holds the message until reset().
  Result parse(const char* data, size_t len, size_t* consumed);
  void reset();  // ready for the next message on the same connection

  Request& request() { return request_; }
  // After Error: the status to answer (400, 413, 431) and why.
  int errorStatus() const { return error_status_; }
  const std::string& errorMessage() const { return error_message_; }
  // True once per message whose headers asked for "Expect: 100-continue".
  bool takeExpectContinue();
  // Whether a request is partly received.
  bool inMessage() const { return in_message_; }

 private:
  static int onMessageBegin(llhttp_t* p);
  static int onUrl(llhttp_t* p, const char* at, size_t len);
  static int onHeaderField(llhttp_t* p, const char* at, size_t len);
  static int onHeaderValue(llhttp_t* p, const char* at, size_t len);
  static int onHeadersComplete(llhttp_t* p);
  static int onBody(llhttp_t* p, const char* at, size_t len);
  static int onMessageComplete(llhttp_t* p);
  static const llhttp_settings_t* settings();
  bool countHeaderBytes(size_t len);

  manifest::Limits limits_;
  llhttp_t parser_;
  Request request_;
  std::string header_field_;
  bool header_value_open_ = false;
  size_t header_bytes_ = 0;
  bool complete_ = false;
  bool in_message_ = false;
  bool expect_continue_ = false;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace sluice::http
