// A large TEXT in a request body (docs/changeset.md, "Large values"): spliced into its JSON string escaped in
// pieces as the body is read, byte for byte what escaping it whole gives, with body_size exact; its UTF-8
// checked in chunks whose boundaries may cut a character anywhere; invalid UTF-8 refused as for a small one.
#include <gtest/gtest.h>

#include <random>

#include "remote/hrana.h"
#include "remote/request_body.h"
#include "turso_sync/value.h"
#include "util/json_writer.h"
#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync {
namespace {

// Valid UTF-8 of `n` bytes or a little more: ASCII (JSON specials and control characters included) and
// characters of 2, 3 and 4 bytes, mixed so that chunk boundaries fall inside each kind.
std::string mixed_text(size_t n, unsigned seed) {
  static const char* const kPieces[] = {"a", "\"", "\\", "\n", "\t", "\x01", "\x7f", "'",
                                        "é", "ü",  "€",  "中", "😀",  "𝄞",    "/",    " "};
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < n) out += kPieces[rng() % std::size(kPieces)];
  return out;
}

bool valid_in_pieces(std::string_view bytes, size_t piece) {
  Utf8Validator v;
  for (size_t at = 0; at < bytes.size(); at += piece) v.feed(bytes.substr(at, piece));
  return v.finish();
}

TEST(LargeText, Utf8IsCheckedInPiecesCutAnywhere) {
  std::string text = mixed_text(4000, 1);
  for (size_t piece = 1; piece <= 9; ++piece) EXPECT_TRUE(valid_in_pieces(text, piece)) << piece;
  EXPECT_TRUE(valid_in_pieces("", 3));
  // Each invalid form, with a cut at every place inside it.
  const std::string bad[] = {
      "ab\xC3",              // a character cut at the end
      "ab\xE2\x82",          // same, 3 bytes
      "a\xC3(b",             // a lead byte followed by ASCII
      "a\xE0\x80\x80z",      // overlong
      "a\xED\xA0\x80z",      // a surrogate
      "a\xF4\x90\x80\x80z",  // past U+10FFFF
      "a\x80z",              // a lone continuation byte
      "a\xF8\x88\x80\x80\x80z",
  };
  for (const std::string& b : bad) {
    EXPECT_FALSE(is_valid_utf8(b));
    for (size_t piece = 1; piece <= b.size(); ++piece) EXPECT_FALSE(valid_in_pieces(b, piece)) << piece;
  }
}

TEST(LargeText, EscapedSizeIsWhatEscapingAppends) {
  std::string every;
  for (int c = 0; c < 256; ++c) every.push_back(static_cast<char>(c));
  for (int c = 0; c < 256; ++c) {
    std::string one(1, static_cast<char>(c)), out;
    append_json_escaped(out, one);
    EXPECT_EQ(json_escaped_size(one), out.size()) << c;
  }
  std::string out;
  append_json_escaped(out, every);
  EXPECT_EQ(json_escaped_size(every), out.size());
}

// Reads the whole body in pieces of `step` bytes.
std::string read_in_pieces(const HttpTransport::Request& request, size_t step) {
  BodyReader reader(request);
  std::string got, buffer(step, '\0');
  while (true) {
    auto n = reader.read(buffer.data(), step);
    EXPECT_TRUE(n.ok());
    if (!n.ok() || n.value() == 0) break;
    got.append(buffer.data(), n.value());
  }
  return got;
}

TEST(LargeText, ASplicedTextIsTheWholeTextEscapedWhateverThePieces) {
  auto store = LargeStore::create("", "a test");
  ASSERT_TRUE(store.ok());
  // Past two of the reader's pieces (192 KiB), so that pieces end inside characters and escapes.
  std::string text = mixed_text((1 << 20) + 5, 2);
  Value large = store_large(*store, Value::text(text)).value();
  ASSERT_TRUE(large.is_large());
  TextScan scan = scan_text(large).value();
  EXPECT_TRUE(scan.valid_utf8);
  EXPECT_FALSE(scan.has_nul);

  SqlStatement stmt{"INSERT INTO t VALUES (?, ?)", {large, Value::text("small \"one\"")}};
  auto encoded = hrana::encode_execute_pipeline(std::span<const SqlStatement>(&stmt, 1));
  ASSERT_TRUE(encoded.ok()) << encoded.error().message();
  ASSERT_EQ(encoded->splices.size(), 1u);  // the large one only
  EXPECT_EQ(encoded->splices[0].escaped_size, scan.json_escaped_size);

  // What a JSON writer gives for the same statement with the text written whole.
  JsonWriter whole;
  whole.begin_object().key("baton").null().key("requests").begin_array();
  whole.begin_object().key("type").string("execute").key("stmt").begin_object();
  whole.key("sql").string(stmt.sql).key("args").begin_array();
  whole.begin_object().key("type").string("text").key("value").string(text).end_object();
  whole.begin_object().key("type").string("text").key("value").string("small \"one\"").end_object();
  whole.end_array().end_object().end_object().end_array().end_object();
  const std::string expected = whole.take();

  HttpTransport::Request request;
  request.body = encoded->json;
  request.splices = encoded->splices;
  // The request's JSON may order keys its own way: compare with what it would be written whole.
  std::string body = whole_body(request);
  EXPECT_EQ(body_size(request), body.size());
  EXPECT_NE(body.find(expected.substr(expected.find("\"args\""), 1000)), std::string::npos);
  for (size_t step : {size_t{1} << 10, size_t{7777}, size_t{65536}, size_t{1} << 22}) {
    SCOPED_TRACE(step);
    EXPECT_TRUE(read_in_pieces(request, step) == body);
  }
  std::string escaped;
  append_json_escaped(escaped, text);
  EXPECT_NE(body.find("\"" + escaped + "\""), std::string::npos);
}

TEST(LargeText, ALargeTextThatIsNotUtf8IsRefusedLikeASmallOne) {
  auto store = LargeStore::create("", "a test");
  ASSERT_TRUE(store.ok());
  std::string text = mixed_text((1 << 20) + 5, 3);
  text[700000] = '\xC3';  // a lead byte followed by whatever comes next
  text[700001] = 'x';
  Value large = store_large(*store, Value::text(text)).value();
  EXPECT_FALSE(scan_text(large).value().valid_utf8);
  EXPECT_FALSE(is_valid_utf8_text(large).value());
  JsonWriter w;
  auto st = hrana::write_value(w, large);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::usage);
  std::vector<Value> args;
  EXPECT_FALSE(exact_placeholder(large, args).ok());
  EXPECT_TRUE(
      scan_text(store_large(*store, Value::text(std::string(1 << 20, '\0'))).value()).value().has_nul);
}

}  // namespace
}  // namespace turso_sync
