// The /pull-updates codec: requests as the server expects them, responses fed in any chunking, and every
// kind of malformed body refused with a protocol error (never taken for pages).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "remote/page_codec.h"

namespace turso_sync::pages {
namespace {

void varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::string len_field(int field, const std::string& bytes) {
  std::string out;
  varint(out, (static_cast<uint64_t>(field) << 3) | 2);
  varint(out, bytes.size());
  return out + bytes;
}

std::string varint_field(int field, uint64_t v) {
  std::string out;
  varint(out, static_cast<uint64_t>(field) << 3);
  varint(out, v);
  return out;
}

std::string delimited(const std::string& msg) {
  std::string out;
  varint(out, msg.size());
  return out + msg;
}

std::string header(const std::string& revision, uint64_t db_size, const std::string& extra = "") {
  return delimited(len_field(1, revision) + varint_field(2, db_size) + len_field(3, "") + extra);
}

std::string page(uint64_t id, char fill, size_t size = k_page_size) {
  std::string msg = id ? varint_field(1, id) : "";  // proto3 omits page_id 0, as the server does
  return delimited(msg + len_field(2, std::string(size, fill)));
}

struct Decoded {
  std::vector<PullHeader> headers;
  std::vector<std::pair<uint64_t, char>> pages;
  Status status;
};

// Feeds `body` in chunks of `chunk` bytes.
Decoded decode(const std::string& body, size_t chunk = 1 << 20) {
  Decoded d;
  PullDecoder decoder(
      [&](const PullHeader& h) -> Status {
        d.headers.push_back(h);
        return {};
      },
      [&](uint64_t id, std::string_view p) -> Status {
        d.pages.emplace_back(id, p[0]);
        return {};
      });
  for (size_t i = 0; i < body.size(); i += chunk) {
    d.status = decoder.feed(std::string_view(body).substr(i, chunk));
    if (!d.status.ok()) return d;
  }
  d.status = decoder.finish();
  return d;
}

TEST(PageCodec, EncodesRequestFields) {
  EXPECT_EQ(encode_pull_request({}), "");  // from scratch, latest, raw: every field is a default
  PullRequest r;
  r.client_revision = "35";
  EXPECT_EQ(encode_pull_request(r), std::string("\x1a\x02"
                                                "35",
                                                4));
  r.server_revision = "7";
  EXPECT_EQ(encode_pull_request(r), std::string("\x12\x01"
                                                "7"
                                                "\x1a\x02"
                                                "35",
                                                7));
}

TEST(PageCodec, RoaringBitmapIsThePortableFormat) {
  std::string b = encode_roaring_bitmap({3, 1, 1, 70000});
  // cookie 12346, 2 containers, (key 0, card-1 1), (key 1, card-1 0), 2 offsets, values 1 3 | 4464.
  std::string expected(
      "\x3a\x30\x00\x00\x02\x00\x00\x00"
      "\x00\x00\x01\x00\x01\x00\x00\x00"
      "\x18\x00\x00\x00\x1c\x00\x00\x00"
      "\x01\x00\x03\x00\x70\x11",
      30);
  EXPECT_EQ(b, expected);
}

TEST(PageCodec, DecodesHeaderAndPagesInAnyChunking) {
  std::string body = header("35", 3) + page(0, 'a') + page(2, 'c') + page(1, 'b');
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{4096}, body.size()}) {
    Decoded d = decode(body, chunk);
    ASSERT_TRUE(d.status.ok()) << d.status.error().message();
    ASSERT_EQ(d.headers.size(), 1u);
    EXPECT_EQ(d.headers[0].server_revision, "35");
    EXPECT_EQ(d.headers[0].db_size, 3u);
    EXPECT_TRUE(d.headers[0].raw_encoding);
    EXPECT_EQ(d.headers[0].unusable_reason(), "");
    EXPECT_EQ(d.pages, (std::vector<std::pair<uint64_t, char>>{{0, 'a'}, {2, 'c'}, {1, 'b'}}));
  }
}

TEST(PageCodec, HeaderOnlyIsNothingNew) {
  Decoded d = decode(header("35", 8));
  ASSERT_TRUE(d.status.ok());
  EXPECT_TRUE(d.pages.empty());
}

TEST(PageCodec, TruncatedBodiesAreErrors) {
  std::string body = header("35", 2) + page(0, 'a') + page(1, 'b');
  for (size_t cut : {size_t{0}, size_t{1}, size_t{5}, body.size() - 1, body.size() - 4096}) {
    Decoded d = decode(body.substr(0, cut));
    ASSERT_FALSE(d.status.ok()) << "cut at " << cut;
    EXPECT_EQ(d.status.error().kind(), ErrorKind::protocol);
  }
}

TEST(PageCodec, WrongPageSizesAreErrors) {
  for (size_t size : {size_t{0}, size_t{4095}, size_t{4097}, size_t{1024}}) {
    Decoded d = decode(header("1", 1) + page(0, 'a', size));
    ASSERT_FALSE(d.status.ok()) << size;
    EXPECT_EQ(d.status.error().kind(), ErrorKind::protocol);
  }
  // Far too long for a page message: refused before buffering it.
  std::string huge = header("1", 1);
  varint(huge, 1u << 30);
  Decoded d = decode(huge);
  EXPECT_FALSE(d.status.ok());
}

TEST(PageCodec, GarbageIsNotAPageStream) {
  for (std::string body : {std::string("{\"error\":\"not found\"}"),
                           std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11),
                           std::string("\x05\x08\x01\x10", 4)}) {
    Decoded d = decode(body);
    EXPECT_FALSE(d.status.ok()) << body;
  }
  // A page message without its bytes, a field of wire type 7, a page_id as bytes.
  EXPECT_FALSE(decode(header("1", 1) + delimited(varint_field(1, 0))).status.ok());
  EXPECT_FALSE(decode(header("1", 1) + delimited(std::string("\x0f", 1))).status.ok());
  EXPECT_FALSE(decode(header("1", 1) + delimited(len_field(1, "x") + len_field(2, std::string(4096, 'a'))))
                   .status.ok());
}

TEST(PageCodec, NonPageStreamsAreUnusable) {
  auto reason = [](const std::string& extra) {
    Decoded d = decode(header("g1:o5", 3, extra));
    EXPECT_TRUE(d.status.ok());
    return d.headers.empty() ? std::string("no header") : d.headers[0].unusable_reason();
  };
  EXPECT_NE(reason(varint_field(5, 1)), "");   // stream_kind = MVCC logical log
  EXPECT_NE(reason(varint_field(5, 9)), "");   // unknown stream kind
  EXPECT_NE(reason(len_field(7, "")), "");     // mvcc_log metadata
  EXPECT_NE(reason(len_field(4, "")), "");     // zstd pages
  EXPECT_NE(reason(varint_field(6, 2)), "");   // unknown apply mode
  EXPECT_NE(reason(varint_field(8, 1)), "");   // unknown protocol
  EXPECT_EQ(reason(varint_field(6, 1)), "");   // ReplaceBase is a page stream (the caller honours it)
  EXPECT_EQ(reason(varint_field(15, 3)), "");  // unknown fields are ignored
  Decoded d = decode(header("1", 3, varint_field(6, 1)));
  ASSERT_EQ(d.headers.size(), 1u);
  EXPECT_EQ(d.headers[0].mode(), ApplyMode::replace_base);
}

TEST(PageCodec, CallbackErrorStopsDecoding) {
  int pages = 0;
  PullDecoder decoder([](const PullHeader&) -> Status { return {}; },
                      [&](uint64_t, std::string_view) -> Status {
                        ++pages;
                        return Error(ErrorKind::io, "disk full");
                      });
  auto st = decoder.feed(header("1", 2) + page(0, 'a') + page(1, 'b'));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::io);
  EXPECT_EQ(pages, 1);
  EXPECT_FALSE(decoder.feed("x").ok());
}

}  // namespace
}  // namespace turso_sync::pages
