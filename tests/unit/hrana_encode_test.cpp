// Hrana /v2/pipeline request encoding (docs/protocol.md): the execute and batch pipelines checked against the
// Hrana v2 shape with a real JSON parser, exact values (integers as strings, shortest round-trip floats,
// base64 blobs), refused invalid UTF-8 and non-finite reals, and encoded values that decode to the same
// values. Decoding answers: hrana_codec_test.cpp.
#include "remote/hrana.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "hrana_test_support.h"
#include "turso_sync/remote.h"
#include "util/json_writer.h"
#include "util/text.h"

namespace turso_sync {
namespace {

using hrana::encode_batch_pipeline;
using hrana::encode_execute_pipeline;
using hranatest::decode_one;
using hranatest::execute_answer;
using hranatest::kMax;
using hranatest::kMin;
using hranatest::same_values;

// A DOM view of an encoded request. The parser owns the document.
struct Parsed {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
};

void parse_json(const std::string& json, Parsed& out) {
  auto error = out.parser.parse(json).get(out.root);
  ASSERT_EQ(error, simdjson::SUCCESS) << simdjson::error_message(error) << " in " << json;
}

std::string_view str_at(simdjson::dom::element e, std::string_view pointer) {
  std::string_view s;
  auto error = e.at_pointer(pointer).get(s);
  EXPECT_EQ(error, simdjson::SUCCESS) << pointer << ": " << simdjson::error_message(error);
  return s;
}

int64_t int_at(simdjson::dom::element e, std::string_view pointer) {
  int64_t i = 0;
  auto error = e.at_pointer(pointer).get(i);
  EXPECT_EQ(error, simdjson::SUCCESS) << pointer << ": " << simdjson::error_message(error);
  return i;
}

size_t array_size_at(simdjson::dom::element e, std::string_view pointer) {
  simdjson::dom::array a;
  auto error = e.at_pointer(pointer).get(a);
  EXPECT_EQ(error, simdjson::SUCCESS) << pointer << ": " << simdjson::error_message(error);
  return error ? 0 : a.size();
}

bool is_null_at(simdjson::dom::element e, std::string_view pointer) {
  simdjson::dom::element x;
  if (e.at_pointer(pointer).get(x)) return false;
  return x.is_null();
}

std::string encode_value(const Value& v) {
  JsonWriter w;
  Status st = hrana::write_value(w, v);
  EXPECT_TRUE(st.ok()) << st.error().message();
  return w.take();
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding: the Hrana v2 request shape

TEST(HranaEncode, ExecutePipelineShape) {
  std::vector<SqlStatement> stmts = {{"SELECT ?1, ?2", {Value::integer(5), Value::text("x")}},
                                     {"DELETE FROM t", {}}};
  auto json = encode_execute_pipeline(stmts);
  ASSERT_TRUE(json.ok()) << json.error().message();
  Parsed p;
  parse_json(json->json, p);
  EXPECT_TRUE(is_null_at(p.root, "/baton"));
  ASSERT_EQ(array_size_at(p.root, "/requests"), 2u);
  EXPECT_EQ(str_at(p.root, "/requests/0/type"), "execute");
  EXPECT_EQ(str_at(p.root, "/requests/0/stmt/sql"), "SELECT ?1, ?2");
  ASSERT_EQ(array_size_at(p.root, "/requests/0/stmt/args"), 2u);
  EXPECT_EQ(str_at(p.root, "/requests/0/stmt/args/0/type"), "integer");
  EXPECT_EQ(str_at(p.root, "/requests/0/stmt/args/0/value"), "5");
  EXPECT_EQ(str_at(p.root, "/requests/0/stmt/args/1/type"), "text");
  EXPECT_EQ(str_at(p.root, "/requests/0/stmt/args/1/value"), "x");
  bool want_rows = false;
  EXPECT_EQ(p.root.at_pointer("/requests/0/stmt/want_rows").get(want_rows), simdjson::SUCCESS);
  EXPECT_TRUE(want_rows);
  EXPECT_EQ(str_at(p.root, "/requests/1/type"), "execute");
  EXPECT_EQ(str_at(p.root, "/requests/1/stmt/sql"), "DELETE FROM t");
  EXPECT_EQ(array_size_at(p.root, "/requests/1/stmt/args"), 0u);
}

TEST(HranaEncode, EmptyPipeline) {
  auto json = encode_execute_pipeline({});
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->json, R"({"baton":null,"requests":[]})");
}

TEST(HranaEncode, SqlIsEscaped) {
  SqlStatement s{"SELECT 'a\"b\\c', '\n\t', char(0)", {}};
  auto json = encode_execute_pipeline(std::span<const SqlStatement>(&s, 1));
  ASSERT_TRUE(json.ok());
  Parsed p;
  parse_json(json->json, p);
  EXPECT_EQ(str_at(p.root, "/requests/0/stmt/sql"), s.sql);
}

TEST(HranaEncode, IntegersTravelAsStrings) {
  EXPECT_EQ(encode_value(Value::integer(kMin)), R"({"type":"integer","value":"-9223372036854775808"})");
  EXPECT_EQ(encode_value(Value::integer(kMax)), R"({"type":"integer","value":"9223372036854775807"})");
  EXPECT_EQ(encode_value(Value::integer(0)), R"({"type":"integer","value":"0"})");
  EXPECT_EQ(encode_value(Value::integer(-42)), R"({"type":"integer","value":"-42"})");
}

TEST(HranaEncode, FloatsAreShortestRoundTripNumbers) {
  EXPECT_EQ(encode_value(Value::real(0.1 + 0.2)), R"({"type":"float","value":0.30000000000000004})");
  EXPECT_EQ(encode_value(Value::real(-0.0)), R"({"type":"float","value":-0.0})");
  EXPECT_EQ(encode_value(Value::real(5e-324)), R"({"type":"float","value":5e-324})");
  EXPECT_EQ(encode_value(Value::real(1.0)), R"({"type":"float","value":1.0})");
  EXPECT_EQ(encode_value(Value::real(1e308)), R"({"type":"float","value":1e+308})");
  for (double v : {0.1 + 0.2, -0.0, 5e-324, 2.2250738585072014e-308, 1e308, -1.5}) {
    Parsed p;
    parse_json(encode_value(Value::real(v)), p);
    double back = 0;
    ASSERT_EQ(p.root.at_pointer("/value").get(back), simdjson::SUCCESS);
    EXPECT_EQ(std::bit_cast<uint64_t>(back), std::bit_cast<uint64_t>(v)) << v;
  }
}

TEST(HranaEncode, BlobsAreBase64) {
  EXPECT_EQ(encode_value(Value::blob(std::string("\x00\x01\x02", 3))), R"({"type":"blob","base64":"AAEC"})");
  EXPECT_EQ(encode_value(Value::blob("")), R"({"type":"blob","base64":""})");
  EXPECT_EQ(encode_value(Value::blob("\xff\xfe")), R"({"type":"blob","base64":"//4="})");
  EXPECT_EQ(encode_value(Value::blob("a")), R"({"type":"blob","base64":"YQ=="})");
}

TEST(HranaEncode, TextAndNull) {
  EXPECT_EQ(encode_value(Value::text(std::string("a\0b", 3))), R"({"type":"text","value":"a\u0000b"})");
  EXPECT_EQ(encode_value(Value::text("")), R"({"type":"text","value":""})");
  EXPECT_EQ(encode_value(Value::text("\"\\\x01")), R"({"type":"text","value":"\"\\\u0001"})");
  EXPECT_EQ(encode_value(Value::text("\xe2\x82\xac")), "{\"type\":\"text\",\"value\":\"\xe2\x82\xac\"}");
  EXPECT_EQ(encode_value(Value::null()), R"({"type":"null"})");

  Parsed p;
  parse_json(encode_value(Value::text(std::string("a\0b", 3))), p);
  EXPECT_EQ(str_at(p.root, "/value"), std::string_view("a\0b", 3));
}

TEST(HranaEncode, InvalidUtf8TextIsRefused) {
  for (const std::string& bad :
       {std::string("\xff"), std::string("a\xc0\x80"), std::string("\xed\xa0\x80"), std::string("\xe2\x82"),
        std::string("\xf4\x90\x80\x80"), std::string("\x80")}) {
    JsonWriter w;
    Status st = hrana::write_value(w, Value::text(bad));
    ASSERT_FALSE(st.ok()) << printable(bad);
    EXPECT_EQ(st.error().kind(), ErrorKind::usage);

    SqlStatement s{"SELECT ?", {Value::text(bad)}};
    auto json = encode_execute_pipeline(std::span<const SqlStatement>(&s, 1));
    ASSERT_FALSE(json.ok());
    EXPECT_EQ(json.error().kind(), ErrorKind::usage);
    BatchStep step{s, std::nullopt};
    auto batch = encode_batch_pipeline(std::span<const BatchStep>(&step, 1));
    ASSERT_FALSE(batch.ok());
    EXPECT_EQ(batch.error().kind(), ErrorKind::usage);
  }
  // The same bytes as a BLOB are fine.
  EXPECT_EQ(encode_value(Value::blob("\xff")), R"({"type":"blob","base64":"/w=="})");
}

TEST(HranaEncode, InvalidUtf8SqlIsRefused) {
  SqlStatement s{"SELECT '\xff'", {}};
  auto json = encode_execute_pipeline(std::span<const SqlStatement>(&s, 1));
  ASSERT_FALSE(json.ok());
  EXPECT_EQ(json.error().kind(), ErrorKind::usage);
}

TEST(HranaEncode, NonFiniteRealsAreRefused) {
  for (double v : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    JsonWriter w;
    Status st = hrana::write_value(w, Value::real(v));
    ASSERT_FALSE(st.ok()) << v;
    EXPECT_EQ(st.error().kind(), ErrorKind::usage);
    SqlStatement s{"SELECT ?", {Value::real(v)}};
    auto json = encode_execute_pipeline(std::span<const SqlStatement>(&s, 1));
    ASSERT_FALSE(json.ok());
    EXPECT_EQ(json.error().kind(), ErrorKind::usage);
  }
}

TEST(HranaEncode, ExactPlaceholder) {
  std::vector<Value> args;
  auto placeholder = [&](const Value& v) {
    auto r = exact_placeholder(v, args);
    EXPECT_TRUE(r.ok()) << describe(v) << ": " << r.error().message();
    return r.ok() ? r.value() : std::string();
  };
  EXPECT_EQ(placeholder(Value::integer(7)), "?");
  EXPECT_EQ(placeholder(Value::real(std::numeric_limits<double>::infinity())), "9e999");
  EXPECT_EQ(placeholder(Value::real(-std::numeric_limits<double>::infinity())), "-9e999");
  EXPECT_EQ(placeholder(Value::text("ok")), "?");
  EXPECT_EQ(placeholder(Value::blob("\xff\xfe")), "?");
  EXPECT_EQ(placeholder(Value::null()), "?");
  ASSERT_TRUE(
      same_values(args, {Value::integer(7), Value::text("ok"), Value::blob("\xff\xfe"), Value::null()}));
  // Every argument exact_placeholder produces can be encoded.
  SqlStatement s{"SELECT ?, ?, ?, ?", args};
  EXPECT_TRUE(encode_execute_pipeline(std::span<const SqlStatement>(&s, 1)).ok());

  // TEXT that is not valid UTF-8 cannot be carried exactly: refused, and no argument is added.
  auto bad = exact_placeholder(Value::text("\xff\xfe"), args);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::usage);
  EXPECT_EQ(args.size(), 4u);
}

TEST(HranaEncode, BatchPipelineShapeWithNestedConditions) {
  std::vector<BatchStep> steps;
  steps.push_back({{"BEGIN IMMEDIATE", {}}, std::nullopt});
  steps.push_back({{"INSERT INTO t VALUES (?)", {Value::integer(1)}}, BatchCondition::ok(0)});
  steps.push_back({{"COMMIT", {}}, BatchCondition::all({BatchCondition::ok(0), BatchCondition::ok(1)})});
  steps.push_back({{"ROLLBACK", {}}, BatchCondition::negate(BatchCondition::ok(2))});
  steps.push_back(
      {{"SELECT 1", {}},
       BatchCondition::any(
           {BatchCondition::error(1), BatchCondition::all({BatchCondition::negate(BatchCondition::error(3)),
                                                           BatchCondition::any({BatchCondition::ok(2)})})})});
  auto json = encode_batch_pipeline(steps);
  ASSERT_TRUE(json.ok()) << json.error().message();
  Parsed p;
  parse_json(json->json, p);
  EXPECT_TRUE(is_null_at(p.root, "/baton"));
  ASSERT_EQ(array_size_at(p.root, "/requests"), 1u);
  EXPECT_EQ(str_at(p.root, "/requests/0/type"), "batch");
  ASSERT_EQ(array_size_at(p.root, "/requests/0/batch/steps"), 5u);

  simdjson::dom::element step0;
  ASSERT_EQ(p.root.at_pointer("/requests/0/batch/steps/0").get(step0), simdjson::SUCCESS);
  simdjson::dom::element missing;
  EXPECT_EQ(step0.at_key("condition").get(missing), simdjson::NO_SUCH_FIELD);
  EXPECT_EQ(str_at(step0, "/stmt/sql"), "BEGIN IMMEDIATE");

  const std::string s = "/requests/0/batch/steps/";
  EXPECT_EQ(str_at(p.root, s + "1/condition/type"), "ok");
  EXPECT_EQ(int_at(p.root, s + "1/condition/step"), 0);
  EXPECT_EQ(str_at(p.root, s + "1/stmt/args/0/value"), "1");

  EXPECT_EQ(str_at(p.root, s + "2/condition/type"), "and");
  ASSERT_EQ(array_size_at(p.root, s + "2/condition/conds"), 2u);
  EXPECT_EQ(str_at(p.root, s + "2/condition/conds/1/type"), "ok");
  EXPECT_EQ(int_at(p.root, s + "2/condition/conds/1/step"), 1);

  EXPECT_EQ(str_at(p.root, s + "3/condition/type"), "not");
  EXPECT_EQ(str_at(p.root, s + "3/condition/cond/type"), "ok");
  EXPECT_EQ(int_at(p.root, s + "3/condition/cond/step"), 2);
  EXPECT_EQ(str_at(p.root, s + "3/stmt/sql"), "ROLLBACK");

  EXPECT_EQ(str_at(p.root, s + "4/condition/type"), "or");
  EXPECT_EQ(str_at(p.root, s + "4/condition/conds/0/type"), "error");
  EXPECT_EQ(int_at(p.root, s + "4/condition/conds/0/step"), 1);
  EXPECT_EQ(str_at(p.root, s + "4/condition/conds/1/type"), "and");
  EXPECT_EQ(str_at(p.root, s + "4/condition/conds/1/conds/0/type"), "not");
  EXPECT_EQ(str_at(p.root, s + "4/condition/conds/1/conds/0/cond/type"), "error");
  EXPECT_EQ(int_at(p.root, s + "4/condition/conds/1/conds/0/cond/step"), 3);
  EXPECT_EQ(str_at(p.root, s + "4/condition/conds/1/conds/1/type"), "or");
  EXPECT_EQ(int_at(p.root, s + "4/condition/conds/1/conds/1/conds/0/step"), 2);
}

TEST(HranaEncode, EmptyAndOrConditions) {
  std::vector<BatchStep> steps = {{{"SELECT 1", {}}, BatchCondition::all({})},
                                  {{"SELECT 2", {}}, BatchCondition::any({})}};
  auto json = encode_batch_pipeline(steps);
  ASSERT_TRUE(json.ok());
  Parsed p;
  parse_json(json->json, p);
  EXPECT_EQ(array_size_at(p.root, "/requests/0/batch/steps/0/condition/conds"), 0u);
  EXPECT_EQ(array_size_at(p.root, "/requests/0/batch/steps/1/condition/conds"), 0u);
}

// What we send comes back identical when a server echoes the values (request and response values share a
// shape).
TEST(HranaEncode, EncodedValuesDecodeToTheSameValues) {
  std::vector<Value> values = {Value::integer(kMin),
                               Value::integer(kMax),
                               Value::integer(0),
                               Value::real(0.1 + 0.2),
                               Value::real(-0.0),
                               Value::real(0.0),
                               Value::real(5e-324),
                               Value::real(2.2250738585072014e-308),
                               Value::real(1e308),
                               Value::real(std::numeric_limits<double>::max()),
                               Value::text(std::string("a\0b", 3)),
                               Value::text("\"quoted\" \\ \n \xe2\x82\xac"),
                               Value::text(""),
                               Value::blob(std::string("\x00\xff\x80", 3)),
                               Value::blob(""),
                               Value::null()};
  std::string row = "[";
  for (size_t i = 0; i < values.size(); ++i) row += (i ? "," : "") + encode_value(values[i]);
  row += "]";
  auto r = decode_one(execute_answer("[]", "[" + row + "]"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->at(0).rows.size(), 1u);
  EXPECT_TRUE(same_values(r->at(0).rows[0], values));
}
}  // namespace
}  // namespace turso_sync
