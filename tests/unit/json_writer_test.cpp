// JsonWriter: structure (nesting, commas), string escaping and exact REAL formatting. Every output is checked
// to be JSON that a real parser (simdjson) accepts.
#include "util/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace turso_sync {
namespace {

// Parses `json` and fails the test when it is not valid JSON.
::testing::AssertionResult valid_json(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  auto error = parser.parse(json).get(element);
  if (error) return ::testing::AssertionFailure() << simdjson::error_message(error) << " in " << json;
  return ::testing::AssertionSuccess();
}

std::string escaped(std::string_view s) {
  std::string out;
  append_json_escaped(out, s);
  return out;
}

std::string real_json(double v) {
  JsonWriter w;
  w.real(v);
  return w.take();
}

// Parses the JSON number written for `v` back and returns its bits.
uint64_t reparsed_bits(double v) {
  std::string json = "[" + real_json(v) + "]";
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  EXPECT_EQ(parser.parse(json).get(element), simdjson::SUCCESS) << json;
  double back = 0;
  EXPECT_EQ(element.at(0).get_double().get(back), simdjson::SUCCESS) << json;
  return std::bit_cast<uint64_t>(back);
}

// ---------------------------------------------------------------------------------------------------------------
// Structure

TEST(JsonWriter, EmptyContainers) {
  EXPECT_EQ(JsonWriter().begin_object().end_object().str(), "{}");
  EXPECT_EQ(JsonWriter().begin_array().end_array().str(), "[]");
  EXPECT_EQ(
      JsonWriter().begin_array().begin_array().end_array().begin_object().end_object().end_array().str(),
      "[[],{}]");
}

TEST(JsonWriter, ObjectMembersAreSeparatedByCommas) {
  JsonWriter w;
  w.begin_object()
      .key("a")
      .integer(1)
      .key("b")
      .string("x")
      .key("c")
      .null()
      .key("d")
      .boolean(true)
      .end_object();
  EXPECT_EQ(w.str(), R"({"a":1,"b":"x","c":null,"d":true})");
  EXPECT_TRUE(valid_json(w.str()));
}

TEST(JsonWriter, ArrayElementsAreSeparatedByCommas) {
  JsonWriter w;
  w.begin_array().integer(1).string("x").null().boolean(false).real(1.5).end_array();
  EXPECT_EQ(w.str(), R"([1,"x",null,false,1.5])");
  EXPECT_TRUE(valid_json(w.str()));
}

TEST(JsonWriter, DeepNesting) {
  JsonWriter w;
  w.begin_object();
  w.key("a").begin_array();
  w.begin_object()
      .key("b")
      .begin_array()
      .integer(1)
      .integer(2)
      .end_array()
      .key("c")
      .begin_object()
      .end_object();
  w.end_object();
  w.begin_array().begin_array().end_array().integer(3).end_array();
  w.begin_object().key("d").begin_object().key("e").begin_array().end_array().end_object().end_object();
  w.end_array();
  w.key("f").integer(4);
  w.end_object();
  EXPECT_EQ(w.str(), R"({"a":[{"b":[1,2],"c":{}},[[],3],{"d":{"e":[]}}],"f":4})");
  EXPECT_TRUE(valid_json(w.str()));
}

TEST(JsonWriter, ContainerAfterKeyGetsNoComma) {
  JsonWriter w;
  w.begin_object().key("x").begin_object().end_object().key("y").begin_array().end_array().end_object();
  EXPECT_EQ(w.str(), R"({"x":{},"y":[]})");
}

TEST(JsonWriter, RawIsSplicedWithCommas) {
  JsonWriter w;
  w.begin_array().raw(R"({"a":1})").raw("2").begin_object().key("k").raw("[3]").end_object().end_array();
  EXPECT_EQ(w.str(), R"([{"a":1},2,{"k":[3]}])");
  EXPECT_TRUE(valid_json(w.str()));
}

TEST(JsonWriter, Integers) {
  JsonWriter w;
  w.begin_array()
      .integer(0)
      .integer(-1)
      .integer(std::numeric_limits<int64_t>::max())
      .integer(std::numeric_limits<int64_t>::min())
      .end_array();
  EXPECT_EQ(w.str(), "[0,-1,9223372036854775807,-9223372036854775808]");
  EXPECT_TRUE(valid_json(w.str()));
}

TEST(JsonWriter, SizeAndTake) {
  JsonWriter w;
  w.begin_array().integer(12).end_array();
  EXPECT_EQ(w.size(), 4u);
  EXPECT_EQ(w.take(), "[12]");
}

// ---------------------------------------------------------------------------------------------------------------
// Escaping

TEST(JsonWriter, EscapesQuotesAndBackslash) {
  EXPECT_EQ(escaped(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(escaped(R"(C:\dir\)"), R"(C:\\dir\\)");
  EXPECT_EQ(escaped(R"(\")"), R"(\\\")");
  EXPECT_EQ(escaped("/"), "/");
}

TEST(JsonWriter, EscapesControlCharacters) {
  EXPECT_EQ(escaped("a\nb\rc\td"), R"(a\nb\rc\td)");
  EXPECT_EQ(escaped(std::string("a\0b", 3)), R"(a\u0000b)");
  EXPECT_EQ(escaped("\x01\x08\x0c\x1f"), R"(\u0001\u0008\u000c\u001f)");
  EXPECT_EQ(escaped("\x7f"), R"(\u007f)");
  EXPECT_EQ(escaped(" ~"), " ~");
}

TEST(JsonWriter, EveryControlCharacterRoundTrips) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  JsonWriter w;
  w.begin_object().key(all).string(all).end_object();
  simdjson::dom::parser parser;
  simdjson::dom::element element;
  ASSERT_EQ(parser.parse(w.str()).get(element), simdjson::SUCCESS) << w.str();
  simdjson::dom::object object;
  ASSERT_EQ(element.get(object), simdjson::SUCCESS);
  ASSERT_EQ(object.size(), 1u);
  for (auto [key, value] : object) {
    EXPECT_EQ(key, all);
    std::string_view text;
    ASSERT_EQ(value.get(text), simdjson::SUCCESS);
    EXPECT_EQ(text, all);
  }
}

TEST(JsonWriter, Utf8PassesThroughUnchanged) {
  const std::string text = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xe2\x80\xa8";
  EXPECT_EQ(escaped(text), text);
  JsonWriter w;
  w.begin_array().string(text).end_array();
  EXPECT_TRUE(valid_json(w.str()));
}

TEST(JsonWriter, KeysAreEscapedToo) {
  JsonWriter w;
  w.begin_object().key("a\"b\\c\n").integer(1).end_object();
  EXPECT_EQ(w.str(), R"({"a\"b\\c\n":1})");
  EXPECT_TRUE(valid_json(w.str()));
}

// ---------------------------------------------------------------------------------------------------------------
// REALs: shortest round-trip, always recognisably a float

TEST(JsonWriter, RealFormatting) {
  EXPECT_EQ(real_json(0.1), "0.1");
  EXPECT_EQ(real_json(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(real_json(1.0), "1.0");
  EXPECT_EQ(real_json(100.0), "100.0");
  EXPECT_EQ(real_json(-2.5), "-2.5");
  EXPECT_EQ(real_json(0.0), "0.0");
  EXPECT_EQ(real_json(-0.0), "-0.0");
  EXPECT_EQ(real_json(5e-324), "5e-324");
  EXPECT_EQ(real_json(1e308), "1e+308");
  EXPECT_EQ(real_json(2.2250738585072014e-308), "2.2250738585072014e-308");
  EXPECT_EQ(real_json(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(real_json(9007199254740993.0), "9007199254740992.0");
}

TEST(JsonWriter, RealsAreValidJsonAndExact) {
  for (double v : {0.1, 0.1 + 0.2, 1.0, -0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e308, -1e308,
                   std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                   std::numeric_limits<double>::min(), 1e21, 1e22, 123456789012345680000.0, 1e-7, 3.0e15,
                   9007199254740993.0}) {
    EXPECT_TRUE(valid_json("[" + real_json(v) + "]")) << v;
    EXPECT_EQ(reparsed_bits(v), std::bit_cast<uint64_t>(v)) << real_json(v);
  }
}

TEST(JsonWriter, RandomRealsRoundTripBitExactly) {
  std::mt19937_64 rng(20261128);
  int checked = 0;
  while (checked < 20000) {
    double v = std::bit_cast<double>(rng());
    if (!std::isfinite(v)) continue;
    std::string json = real_json(v);
    ASSERT_NE(json.find_first_of(".e"), std::string::npos) << json;
    ASSERT_EQ(reparsed_bits(v), std::bit_cast<uint64_t>(v)) << json;
    ++checked;
  }
}

}  // namespace
}  // namespace turso_sync
