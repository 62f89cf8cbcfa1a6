// The HTTP/1.1 rules the plain transport reads an answer by (remote/http1.h): the head, chunked bodies cut
// anywhere, Retry-After. No network.
#include <gtest/gtest.h>

#include <string>

#include "remote/http1.h"

namespace turso_sync {
namespace {

using State = Http1HeadParse::State;

TEST(Http1Head, StatusHeadersAndWhereTheBodyBegins) {
  std::string answer =
      "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nCONTENT-LENGTH: 2\r\n"
      "Retry-After:  7 \r\nX-Other: a:b\r\n\r\n{}";
  auto parsed = http1_parse_head(answer, 65536);
  ASSERT_EQ(parsed.state, State::done) << parsed.problem;
  EXPECT_EQ(parsed.consumed, answer.size() - 2);
  EXPECT_EQ(parsed.head.status, 503);
  EXPECT_EQ(parsed.head.content_type, "application/json");
  EXPECT_EQ(parsed.head.content_length, 2u);
  EXPECT_EQ(parsed.head.retry_after, "7");
  EXPECT_FALSE(parsed.head.chunked);
  EXPECT_FALSE(parsed.head.close);
}

TEST(Http1Head, IncompleteUntilTheEmptyLineArrives) {
  std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  for (size_t n = 0; n < answer.size(); ++n)
    EXPECT_EQ(http1_parse_head(answer.substr(0, n), 65536).state, State::incomplete) << n;
  EXPECT_EQ(http1_parse_head(answer, 65536).state, State::done);
  // Bare LF line ends are read too.
  auto lf = http1_parse_head("HTTP/1.0 200 OK\nContent-Length: 3\n\nabc", 65536);
  ASSERT_EQ(lf.state, State::done);
  EXPECT_EQ(lf.consumed, 35u);
  EXPECT_TRUE(lf.head.close) << "HTTP/1.0 without keep-alive closes";
}

TEST(Http1Head, BytesThatAreNotHttpAreKnownFromTheFirstWrongByte) {
  for (const char* bytes : {"S", "SSH-2.0-OpenSSH_9.2p1", "HTTP/2 200\r\n", "HTTP/1.1 2x0 OK",
                            "HTTP/1.1 099 X\r\n", "<html>", "\x16\x03\x01"})
    EXPECT_EQ(http1_parse_head(bytes, 65536).state, State::not_http) << bytes;
}

TEST(Http1Head, MalformedHeadersAndOversizedHeads) {
  EXPECT_EQ(http1_parse_head("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 65536).state, State::malformed);
  EXPECT_EQ(
      http1_parse_head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 65536).state,
      State::malformed);
  EXPECT_EQ(http1_parse_head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 65536).state, State::malformed);
  std::string big = "HTTP/1.1 200 OK\r\nX: " + std::string(200, 'x');
  EXPECT_EQ(http1_parse_head(big, 100).state, State::malformed);
  EXPECT_EQ(http1_parse_head(big, 1000).state, State::incomplete);
}

TEST(Http1Head, ChunkedOverridesContentLengthAndConnectionClose) {
  auto parsed = http1_parse_head(
      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, "
      "Close\r\n\r\n",
      65536);
  ASSERT_EQ(parsed.state, State::done);
  EXPECT_TRUE(parsed.head.chunked);
  EXPECT_FALSE(parsed.head.content_length);
  EXPECT_TRUE(parsed.head.close);
  EXPECT_FALSE(http1_has_body(Http1Head{.status = 204}));
  EXPECT_FALSE(http1_has_body(Http1Head{.status = 100}));
  EXPECT_TRUE(http1_has_body(Http1Head{.status = 404}));
}

// The same chunked body, fed whole and cut at every byte: the same data, and the bytes after it are not
// taken.
TEST(ChunkedDecoder, DecodesPiecesCutAnywhere) {
  const std::string body = "5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  const std::string after = "HTTP/1.1 200";
  for (size_t cut = 0; cut <= body.size(); ++cut) {
    ChunkedDecoder decoder;
    std::string out;
    auto sink = [&](std::string_view piece) -> Status {
      out.append(piece);
      return {};
    };
    auto first = decoder.feed(std::string_view(body).substr(0, cut), sink);
    ASSERT_TRUE(first.ok()) << cut << ": " << first.error().message();
    EXPECT_EQ(*first, cut);
    EXPECT_EQ(decoder.done(), cut == body.size());
    std::string rest = body.substr(cut) + after;
    auto second = decoder.feed(rest, sink);
    ASSERT_TRUE(second.ok()) << cut << ": " << second.error().message();
    EXPECT_EQ(*second, body.size() - cut) << cut;
    EXPECT_TRUE(decoder.done());
    EXPECT_EQ(out, "hello 0123456789") << cut;
  }
}

TEST(ChunkedDecoder, RefusesWhatIsNotAChunkedBody) {
  for (const char* bad : {"x\r\n", "5\r\nhello!\r\n", "\r\n", "5\rhello", "12345678901234567\r\n"}) {
    ChunkedDecoder decoder;
    auto r = decoder.feed(bad, [](std::string_view) -> Status { return {}; });
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::protocol);
  }
  // The sink's own error stops decoding and is returned.
  ChunkedDecoder decoder;
  auto r = decoder.feed("3\r\nabc\r\n0\r\n\r\n",
                        [](std::string_view) -> Status { return Error(ErrorKind::io, "disk full"); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "disk full");
}

TEST(RetryAfter, SecondsAndTheThreeDateForms) {
  const std::time_t now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(http1_retry_after_seconds("120", now), 120);
  EXPECT_EQ(http1_retry_after_seconds(" 7 ", now), 7);
  EXPECT_EQ(http1_retry_after_seconds("Sun, 06 Nov 1994 08:51:37 GMT", now), 120);
  EXPECT_EQ(http1_retry_after_seconds("Sunday, 06-Nov-94 08:50:37 GMT", now), 60);
  EXPECT_EQ(http1_retry_after_seconds("Sun Nov  6 08:50:07 1994", now), 30);
  EXPECT_EQ(http1_retry_after_seconds("Sun, 06 Nov 1994 08:00:00 GMT", now), 0) << "in the past";
  EXPECT_EQ(http1_retry_after_seconds("soon", now), 0);
  EXPECT_EQ(http1_retry_after_seconds("", now), 0);
  EXPECT_EQ(http1_retry_after_seconds("Sun, 32 Nov 1994 08:51:37 GMT", now), 0);
}

}  // namespace
}  // namespace turso_sync
