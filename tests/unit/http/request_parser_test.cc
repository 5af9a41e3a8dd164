#include "http/request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::http {
namespace {

manifest::Limits smallLimits() {
  manifest::Limits l;
  l.max_body_bytes = 64;
  l.max_header_bytes = 256;
  return l;
}

TEST(RequestParser, ParsesContentLengthBody) {
  RequestParser p(smallLimits());
  std::string in = "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: "
                   "application/json\r\nContent-Length: 2\r\n\r\n{}";
  size_t used = 0;
  ASSERT_EQ(p.parse(in.data(), in.size(), &used), RequestParser::Result::Complete);
  EXPECT_EQ(used, in.size());
  EXPECT_EQ(p.request().method, "POST");
  EXPECT_EQ(p.request().target, "/v1/chat/completions?x=1");
  EXPECT_EQ(p.request().path(), "/v1/chat/completions");
  EXPECT_EQ(p.request().body, "{}");
  ASSERT_NE(p.request().header("content-type"), nullptr);
  EXPECT_EQ(*p.request().header("content-type"), "application/json");
  EXPECT_TRUE(p.request().keep_alive);
}

TEST(RequestParser, ParsesChunkedBodyFedByteByByte) {
  RequestParser p(smallLimits());
  std::string in = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  RequestParser::Result r = RequestParser::Result::NeedMore;
  for (size_t i = 0; i < in.size(); i++) {
    size_t used = 0;
    r = p.parse(in.data() + i, 1, &used);
    ASSERT_NE(r, RequestParser::Result::Error) << "at byte " << i;
    if (r == RequestParser::Result::Complete) {
      EXPECT_EQ(i, in.size() - 1);
      break;
    }
  }
  ASSERT_EQ(r, RequestParser::Result::Complete);
  EXPECT_EQ(p.request().body, "abcde");
}

TEST(RequestParser, StopsAtMessageBoundaryForPipelining) {
  RequestParser p(smallLimits());
  std::string first = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string second = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string in = first + second;
  size_t used = 0;
  ASSERT_EQ(p.parse(in.data(), in.size(), &used), RequestParser::Result::Complete);
  EXPECT_EQ(used, first.size());
  EXPECT_EQ(p.request().target, "/a");
  p.reset();
  ASSERT_EQ(p.parse(in.data() + used, in.size() - used, &used), RequestParser::Result::Complete);
  EXPECT_EQ(p.request().target, "/b");
}

TEST(RequestParser, RefusesBodyOverLimitFromContentLength) {
  RequestParser p(smallLimits());
  std::string in = "POST /x HTTP/1.1\r\nContent-Length: 65\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.parse(in.data(), in.size(), &used), RequestParser::Result::Error);
  EXPECT_EQ(p.errorStatus(), 413);
  EXPECT_EQ(p.errorMessage(),
            "request body is larger than server.limits.max_body_bytes (64)");
}

TEST(RequestParser, RefusesChunkedBodyOverLimit) {
  RequestParser p(smallLimits());
  std::string in = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" +
                   std::string(65, 'a') + "\r\n0\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.parse(in.data(), in.size(), &used), RequestParser::Result::Error);
  EXPECT_EQ(p.errorStatus(), 413);
}

TEST(RequestParser, RefusesHeadersOverLimit) {
  RequestParser p(smallLimits());
  std::string in = "GET /x HTTP/1.1\r\nX-Big: " + std::string(300, 'b') + "\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.parse(in.data(), in.size(), &used), RequestParser::Result::Error);
  EXPECT_EQ(p.errorStatus(), 431);
  EXPECT_EQ(p.errorMessage(),
            "request headers are larger than server.limits.max_header_bytes (256)");
}

TEST(RequestParser, ReportsMalformedRequest) {
  RequestParser p(smallLimits());
  std::string in = "BLAH\x01 / HTTP/1.1\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.parse(in.data(), in.size(), &used), RequestParser::Result::Error);
  EXPECT_EQ(p.errorStatus(), 400);
  EXPECT_EQ(p.errorMessage().rfind("malformed HTTP request: ", 0), 0u);
}

TEST(RequestParser, ConnectionCloseAndHttp10AreNotKeepAlive) {
  RequestParser p(smallLimits());
  std::string in = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.parse(in.data(), in.size(), &used), RequestParser::Result::Complete);
  EXPECT_FALSE(p.request().keep_alive);
  RequestParser q(smallLimits());
  std::string old = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(q.parse(old.data(), old.size(), &used), RequestParser::Result::Complete);
  EXPECT_FALSE(q.request().keep_alive);
}

TEST(RequestParser, FlagsExpectContinueOnce) {
  RequestParser p(smallLimits());
  std::string in = "POST /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.parse(in.data(), in.size(), &used), RequestParser::Result::NeedMore);
  EXPECT_TRUE(p.takeExpectContinue());
  EXPECT_FALSE(p.takeExpectContinue());
  ASSERT_EQ(p.parse("{}", 2, &used), RequestParser::Result::Complete);
  EXPECT_EQ(p.request().body, "{}");
}

TEST(RequestParser, LowerCasesHeaderNamesSplitAcrossReads) {
  RequestParser p(smallLimits());
  std::string a = "GET / HTTP/1.1\r\nX-Sluice-Meta";
  std::string b = "data: {\"a\":\"b\"}\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.parse(a.data(), a.size(), &used), RequestParser::Result::NeedMore);
  ASSERT_EQ(p.parse(b.data(), b.size(), &used), RequestParser::Result::Complete);
  ASSERT_NE(p.request().header("x-sluice-metadata"), nullptr);
  EXPECT_EQ(*p.request().header("x-sluice-metadata"), "{\"a\":\"b\"}");
}

}  // namespace
}  // namespace sluice::http
