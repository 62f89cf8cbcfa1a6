// Hrana /v2/pipeline wire format (docs/protocol.md), decoding: exact values of real tursodb answers, execute
// results, streamed rows (decode_rows) and batch results, and wrong, truncated and corrupted answers
// (protocol errors, never a crash). Request encoding: hrana_encode_test.cpp.
#include "remote/hrana.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "hrana_test_support.h"
#include "turso_sync/remote.h"
#include "util/text.h"

namespace turso_sync {
namespace {

using hrana::decode_batch_pipeline;
using hrana::decode_execute_pipeline;
using hrana::decode_rows;
using hranatest::decode_one;
using hranatest::execute_answer;
using hranatest::kMax;
using hranatest::kMin;
using hranatest::kSelect;
using hranatest::same_values;

std::string one_cell_answer(const std::string& value_json) {
  return execute_answer(R"([{"name":"v","decltype":null}])", "[[" + value_json + "]]");
}

// The answer of a real tursodb to a SELECT of the five storage classes.
const std::string kRealAnswer =
    R"({"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"execute","result":{"cols":)"
    R"([{"name":"id","decltype":"INTEGER"}],"rows":[[{"type":"integer","value":"9223372036854775807"},)"
    R"({"type":"float","value":0.30000000000000004},{"type":"blob","base64":"AAEC"},)"
    R"({"type":"text","value":"a\u0000b"},{"type":"null"}]],"affected_row_count":0,"last_insert_rowid":null,)"
    R"("replication_index":null,"rows_read":0,"rows_written":0,"query_duration_ms":0.0}}}]})";

const std::vector<Value> kRealRow = {Value::integer(kMax), Value::real(0.30000000000000004),
                                     Value::blob(std::string("\x00\x01\x02", 3)),
                                     Value::text(std::string("a\0b", 3)), Value::null()};

Error decode_error_of(std::string body) {
  auto r = decode_one(std::move(body));
  EXPECT_FALSE(r.ok());
  return r.ok() ? Error(ErrorKind::internal, "decoded without error") : r.error();
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding execute answers

TEST(HranaDecode, RealTursodbAnswer) {
  auto r = decode_one(kRealAnswer);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 1u);
  const StatementResult& result = r->at(0);
  EXPECT_EQ(result.columns, std::vector<std::string>{"id"});
  ASSERT_EQ(result.rows.size(), 1u);
  EXPECT_TRUE(same_values(result.rows[0], kRealRow));
  EXPECT_EQ(result.rows[0][3].as_bytes().size(), 3u);
}

TEST(HranaDecode, ExactFloats) {
  for (auto [json, expected] : std::vector<std::pair<std::string, double>>{
           {"-0.0", -0.0},
           {"0.0", 0.0},
           {"5e-324", 5e-324},
           {"4.9406564584124654e-324", 5e-324},
           {"2.2250738585072014e-308", 2.2250738585072014e-308},
           {"1e308", 1e308},
           {"1.7976931348623157e308", std::numeric_limits<double>::max()},
           {"0.30000000000000004", 0.1 + 0.2},
           {"1", 1.0},
           {"-1E-2", -0.01}}) {
    auto r = decode_one(one_cell_answer(R"({"type":"float","value":)" + json + "}"));
    ASSERT_TRUE(r.ok()) << json << ": " << r.error().message();
    ASSERT_EQ(r->at(0).rows.at(0).size(), 1u);
    const Value& v = r->at(0).rows[0][0];
    ASSERT_EQ(v.type(), ValueType::real) << json;
    EXPECT_EQ(std::bit_cast<uint64_t>(v.as_real()), std::bit_cast<uint64_t>(expected)) << json;
  }
}

TEST(HranaDecode, ExactIntegers) {
  for (auto [json, expected] :
       std::vector<std::pair<std::string, int64_t>>{{"\"-9223372036854775808\"", kMin},
                                                    {"\"9223372036854775807\"", kMax},
                                                    {"\"0\"", 0},
                                                    {"\"-1\"", -1}}) {
    auto r = decode_one(one_cell_answer(R"({"type":"integer","value":)" + json + "}"));
    ASSERT_TRUE(r.ok()) << json << ": " << r.error().message();
    EXPECT_EQ(r->at(0).rows.at(0).at(0), Value::integer(expected)) << json;
  }
}

TEST(HranaDecode, TextEscapesAndUnicode) {
  auto r =
      decode_one(one_cell_answer(R"({"type":"text","value":"\u0000\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"})"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->at(0).rows.at(0).at(0),
            Value::text(std::string("\0\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80", 15)));
}

TEST(HranaDecode, EmptyTextAndBlob) {
  auto r = decode_one(execute_answer("[]", R"([[{"type":"text","value":""},{"type":"blob","base64":""}]])"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(same_values(r->at(0).rows.at(0), {Value::text(""), Value::blob("")}));
}

TEST(HranaDecode, UnpaddedBase64IsAccepted) {
  auto r = decode_one(one_cell_answer(R"({"type":"blob","base64":"YQ"})"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->at(0).rows.at(0).at(0), Value::blob("a"));
}

TEST(HranaDecode, NoRowsAndManyRows) {
  auto empty = decode_one(execute_answer(R"([{"name":"a"},{"name":"b"}])", "[]"));
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_EQ(empty->at(0).columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(empty->at(0).rows.empty());

  std::string rows = "[";
  for (int i = 0; i < 1000; ++i)
    rows += (i ? "," : "") + std::string(R"([{"type":"integer","value":")") + std::to_string(i) + "\"}]";
  rows += "]";
  auto many = decode_one(execute_answer(R"([{"name":"i"}])", rows));
  ASSERT_TRUE(many.ok()) << many.error().message();
  ASSERT_EQ(many->at(0).rows.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(many->at(0).rows[i].at(0), Value::integer(i));
}

TEST(HranaDecode, SeveralStatements) {
  std::vector<SqlStatement> stmts = {{"SELECT 1", {}}, {"SELECT 'x'", {}}};
  std::string body =
      R"({"baton":null,"base_url":null,"results":[)"
      R"({"type":"ok","response":{"type":"execute","result":{"cols":[{"name":"1"}],"rows":[[{"type":"integer","value":"1"}]]}}},)"
      R"({"type":"ok","response":{"type":"execute","result":{"cols":[{"name":"'x'"}],"rows":[[{"type":"text","value":"x"}]]}}}]})";
  auto r = decode_execute_pipeline(body, stmts);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(r->at(0).rows.at(0).at(0), Value::integer(1));
  EXPECT_EQ(r->at(1).columns, std::vector<std::string>{"'x'"});
  EXPECT_EQ(r->at(1).rows.at(0).at(0), Value::text("x"));
}

TEST(HranaDecode, ErrorResultIsSqlErrorWithMessageAndStatement) {
  SqlStatement insert{"INSERT INTO t(id) VALUES (1)", {}};
  std::string body =
      R"js({"baton":null,"base_url":null,"results":[{"type":"error","error":{"message":"Runtime error: UNIQUE constraint failed: t.id (19)","code":"EXECUTE_ERROR"}}]})js";
  auto r = decode_execute_pipeline(body, std::span<const SqlStatement>(&insert, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::sql);
  EXPECT_NE(r.error().message().find("UNIQUE constraint failed: t.id"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find(insert.sql), std::string::npos) << r.error().message();
}

TEST(HranaDecode, ErrorInSecondStatementNamesThatStatement) {
  std::vector<SqlStatement> stmts = {{"SELECT 1", {}}, {"SELECT * FROM missing_table", {}}};
  std::string body = R"({"baton":null,"base_url":null,"results":[)"
                     R"({"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[]}}},)"
                     R"({"type":"error","error":{"message":"no such table: missing_table"}}]})";
  auto r = decode_execute_pipeline(body, stmts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::sql);
  EXPECT_NE(r.error().message().find("no such table: missing_table"), std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("SELECT * FROM missing_table"), std::string::npos)
      << r.error().message();
}

TEST(HranaDecode, FloatNullIsAProtocolErrorNotACrash) {
  Error e = decode_error_of(one_cell_answer(R"({"type":"float","value":null})"));
  EXPECT_EQ(e.kind(), ErrorKind::protocol) << e.message();
}

TEST(HranaDecode, BadValuesAreProtocolErrors) {
  for (const char* cell : {
           R"({"type":"integer","value":5})",                      // integer as a number
           R"({"type":"integer","value":"9223372036854775808"})",  // out of range
           R"({"type":"integer","value":"-9223372036854775809"})",
           R"({"type":"integer","value":"12abc"})",
           R"({"type":"integer","value":""})",
           R"({"type":"integer","value":" 1"})",
           R"({"type":"integer"})",
           R"({"type":"float","value":"0.5"})",
           R"({"type":"float","value":true})",
           R"({"type":"float"})",
           R"({"type":"float","value":1e999})",
           R"({"type":"text","value":5})",
           R"({"type":"blob","base64":"!!!!"})",
           R"({"type":"blob","base64":"A"})",
           R"({"type":"blob","base64":5})",
           R"({"type":"bigint","value":"1"})",
           R"({"type":5})",
           R"({})",
           R"({"value":"1"})",
           R"([])",
           R"("text")",
           R"(null)",
           R"(5)",
       }) {
    Error e = decode_error_of(one_cell_answer(cell));
    EXPECT_EQ(e.kind(), ErrorKind::protocol) << cell << ": " << e.message();
  }
}

TEST(HranaDecode, BadRowsAreProtocolErrors) {
  for (const char* rows : {R"({})", R"(5)", R"("x")", R"([5])", R"([{}])", R"([null])", R"([[5]])"}) {
    Error e = decode_error_of(execute_answer("[]", rows));
    EXPECT_EQ(e.kind(), ErrorKind::protocol) << rows << ": " << e.message();
  }
}

TEST(HranaDecode, GarbageBodies) {
  for (const char* body : {"", " ", "not json", "<html><body>502 Bad Gateway</body></html>", "null", "5",
                           "\"results\"", "[]", "{}", "{", "}", "{\"results\"", "\xff\xfe\x00"}) {
    Error e = decode_error_of(body);
    EXPECT_EQ(e.kind(), ErrorKind::protocol) << printable(body) << ": " << e.message();
  }
}

TEST(HranaDecode, WrongShapes) {
  for (const char* body : {
           R"({"baton":null,"base_url":null})",  // no results
           R"({"baton":null,"results":{}})",     // results not an array
           R"({"results":null})",
           R"({"results":"ok"})",
           R"({"results":5})",
           R"({"results":[]})",  // missing result
           R"({"results":[5]})",
           R"({"results":[null]})",
           R"({"results":[[]]})",
           R"({"results":[{}]})",
           R"({"results":[{"type":"ok"}]})",  // ok without response
           R"({"results":[{"type":"ok","response":5}]})",
           R"({"results":[{"type":"weird","response":{"type":"execute","result":{"cols":[],"rows":[]}}}]})",
           R"({"results":[{"type":"ok","response":{"type":"execute","result":5}}]})",
           R"({"results":[{"type":"ok","response":{"type":"execute","result":{"cols":5,"rows":[]}}}]})",
           R"({"results":[{"type":"error","error":"boom"}]})",
           R"({"results":[{"type":"error","error":{"message":5}}]})",
       }) {
    Error e = decode_error_of(body);
    EXPECT_EQ(e.kind(), ErrorKind::protocol) << body << ": " << e.message();
  }
}

TEST(HranaDecode, ExtraResultsAreAProtocolError) {
  std::string two =
      R"({"results":[{"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[]}}},)"
      R"({"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[]}}}]})";
  Error e = decode_error_of(two);
  EXPECT_EQ(e.kind(), ErrorKind::protocol) << e.message();
}

TEST(HranaDecode, FewerResultsThanStatementsIsAProtocolError) {
  std::vector<SqlStatement> stmts = {{"SELECT 1", {}}, {"SELECT 2", {}}};
  std::string body =
      R"({"results":[{"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[]}}}]})";
  auto r = decode_execute_pipeline(body, stmts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::protocol) << r.error().message();
}

TEST(HranaDecode, UnknownFieldsAreIgnored) {
  std::string body =
      R"({"future":{"a":[1,2,{"b":null}]},"baton":"abc","base_url":"https://x","results":[{"type":"ok","extra":[],)"
      R"("response":{"type":"execute","more":{},"result":{"cols":[{"name":"c","decltype":"TEXT","x":1}],)"
      R"("rows":[[{"type":"text","value":"v","extra":"ignored"}]],"new_counter":7}}}],"trailer":true})";
  auto r = decode_one(body);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->at(0).columns, std::vector<std::string>{"c"});
  EXPECT_EQ(r->at(0).rows.at(0).at(0), Value::text("v"));
}

TEST(HranaDecode, WhitespaceBetweenTokensIsAccepted) {
  std::string body =
      " \n{ \"results\" : [ { \"type\" : \"ok\" , \"response\" : { \"result\" : { \"cols\" : [ ] , "
      "\"rows\" : [ [ { \"type\" : \"integer\" , \"value\" : \"3\" } ] ] } } } ] }\n ";
  auto r = decode_one(body);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->at(0).rows.at(0).at(0), Value::integer(3));
}

// Every prefix of a valid answer (a connection cut mid-body) must give an error or, where the prefix is
// itself complete, the full result: never a crash and never a silently shortened result.
TEST(HranaDecode, EveryTruncationOfARealAnswer) {
  for (size_t n = 0; n < kRealAnswer.size(); ++n) {
    auto r = decode_one(kRealAnswer.substr(0, n));
    if (r.ok()) {
      ASSERT_EQ(r->size(), 1u) << "prefix " << n;
      EXPECT_TRUE(same_values(r->at(0).rows.at(0), kRealRow)) << "prefix " << n;
      ADD_FAILURE() << "a truncated answer was accepted: prefix of " << n
                    << " bytes: " << kRealAnswer.substr(0, n);
    } else {
      EXPECT_EQ(r.error().kind(), ErrorKind::protocol) << "prefix " << n << ": " << r.error().message();
    }
  }
}

// Single-byte corruptions anywhere in the answer: never a crash (run under ASan/UBSan).
TEST(HranaDecode, SingleByteCorruptionsDoNotCrash) {
  size_t accepted = 0, rejected = 0;
  for (size_t i = 0; i < kRealAnswer.size(); ++i) {
    for (char c : {'"', '{', '}', '[', ']', ',', ':', '0', 'x', '\\', '\0', ' ', '\xff'}) {
      std::string body = kRealAnswer;
      body[i] = c;
      auto r = decode_one(body);
      if (r.ok()) {
        ++accepted;
      } else {
        ++rejected;
        EXPECT_TRUE(r.error().kind() == ErrorKind::protocol || r.error().kind() == ErrorKind::sql)
            << i << " " << r.error().message();
      }
    }
  }
  EXPECT_GT(rejected, 0u);
  (void)accepted;
}

// Regression: simdjson On-Demand stops at the end of the root object, so bytes after it went unnoticed.
TEST(HranaDecode, TrailingGarbageIsRejected) {
  for (const char* tail : {"}", "]", "x", "{}", "[]", " 5", ",", "\"", "null", " {\"results\":[]}"}) {
    Error e = decode_error_of(kRealAnswer + tail);
    EXPECT_EQ(e.kind(), ErrorKind::protocol) << tail << ": " << e.message();
  }
  auto with_spaces = decode_one(kRealAnswer + " \r\n\t ");
  EXPECT_TRUE(with_spaces.ok()) << with_spaces.error().message();

  std::string rows_body = kRealAnswer + "}";
  Status st = decode_rows(rows_body, kSelect, [](std::span<const Value>) -> Status { return {}; });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::protocol) << st.error().message();
}

TEST(HranaDecode, DuplicateResultsKeyIsAProtocolError) {
  std::string result = R"([{"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[]}}}])";
  Error e = decode_error_of(R"({"results":)" + result + R"(,"results":)" + result + "}");
  EXPECT_EQ(e.kind(), ErrorKind::protocol) << e.message();
}

// ---------------------------------------------------------------------------------------------------------------
// Streaming rows

TEST(HranaDecodeRows, CallsOnRowForEachRowInOrder) {
  std::string body = execute_answer(
      R"([{"name":"i"},{"name":"t"}])",
      R"([[{"type":"integer","value":"1"},{"type":"text","value":"a"}],)"
      R"([{"type":"integer","value":"2"},{"type":"null"}],[{"type":"integer","value":"3"},{"type":"blob","base64":"AA=="}]])");
  std::vector<std::vector<Value>> seen;
  Status st = decode_rows(body, kSelect, [&](std::span<const Value> row) -> Status {
    seen.emplace_back(row.begin(), row.end());
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_TRUE(same_values(seen[0], {Value::integer(1), Value::text("a")}));
  EXPECT_TRUE(same_values(seen[1], {Value::integer(2), Value::null()}));
  EXPECT_TRUE(same_values(seen[2], {Value::integer(3), Value::blob(std::string(1, '\0'))}));
}

TEST(HranaDecodeRows, RealAnswerExactValues) {
  std::string body = kRealAnswer;
  int calls = 0;
  Status st = decode_rows(body, kSelect, [&](std::span<const Value> row) -> Status {
    ++calls;
    EXPECT_TRUE(same_values(std::vector<Value>(row.begin(), row.end()), kRealRow));
    return {};
  });
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_EQ(calls, 1);
}

TEST(HranaDecodeRows, StopsWithTheCallbacksError) {
  std::string rows = "[";
  for (int i = 0; i < 10; ++i)
    rows += (i ? "," : "") + std::string(R"([{"type":"integer","value":")") + std::to_string(i) + "\"}]";
  rows += "]";
  std::string body = execute_answer("[]", rows);
  int calls = 0;
  Status st = decode_rows(body, kSelect, [&](std::span<const Value> row) -> Status {
    ++calls;
    if (row[0] == Value::integer(3)) return Error(ErrorKind::cancelled, "stop at 3");
    return {};
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::cancelled);
  EXPECT_EQ(st.error().message(), "stop at 3");
  EXPECT_EQ(calls, 4);
}

TEST(HranaDecodeRows, ErrorResult) {
  std::string body =
      R"({"results":[{"type":"error","error":{"message":"no such table: t","code":"SQLITE_ERROR"}}]})";
  int calls = 0;
  Status st = decode_rows(body, kSelect, [&](std::span<const Value>) -> Status {
    ++calls;
    return {};
  });
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::sql);
  EXPECT_NE(st.error().message().find("no such table: t"), std::string::npos) << st.error().message();
  EXPECT_NE(st.error().message().find(kSelect.sql), std::string::npos) << st.error().message();
  EXPECT_EQ(calls, 0);
}

TEST(HranaDecodeRows, WrongShapes) {
  auto no_rows = [](std::span<const Value>) -> Status { return {}; };
  for (std::string body : {std::string(""), std::string("{}"), std::string(R"({"results":[]})"),
                           std::string(R"({"results":{}})"),
                           std::string(R"({"results":[{"type":"ok","response":{"result":{"rows":[]}}},)"
                                       R"({"type":"ok","response":{"result":{"rows":[]}}}]})"),
                           one_cell_answer(R"({"type":"float","value":null})")}) {
    std::string copy = body;
    Status st = decode_rows(copy, kSelect, no_rows);
    ASSERT_FALSE(st.ok()) << body;
    EXPECT_EQ(st.error().kind(), ErrorKind::protocol) << body << ": " << st.error().message();
  }
}

TEST(HranaDecodeRows, EveryTruncationOfARealAnswer) {
  for (size_t n = 0; n < kRealAnswer.size(); ++n) {
    std::string body = kRealAnswer.substr(0, n);
    Status st = decode_rows(body, kSelect, [&](std::span<const Value> row) -> Status {
      EXPECT_TRUE(same_values(std::vector<Value>(row.begin(), row.end()), kRealRow)) << "prefix " << n;
      return {};
    });
    ASSERT_FALSE(st.ok()) << "a truncated answer was accepted: prefix of " << n << " bytes";
    EXPECT_EQ(st.error().kind(), ErrorKind::protocol) << "prefix " << n << ": " << st.error().message();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Batch answers

const std::string kStepResult =
    R"({"cols":[{"name":"n","decltype":null}],"rows":[[{"type":"integer","value":"42"}]],"affected_row_count":0,)"
    R"("last_insert_rowid":null,"replication_index":null,"rows_read":0,"rows_written":0,"query_duration_ms":0.0})";

std::string batch_answer(const std::string& step_results, const std::string& step_errors) {
  return R"({"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"batch","result":{"step_results":)" +
         step_results + R"(,"step_errors":)" + step_errors + "}}}]}";
}

Error batch_error_of(std::string body, size_t steps) {
  auto r = decode_batch_pipeline(body, steps);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? Error(ErrorKind::internal, "decoded without error") : r.error();
}

TEST(HranaDecodeBatch, ResultsErrorsAndSkippedSteps) {
  std::string body =
      batch_answer("[" + kStepResult + ",null,null]", R"([null,{"message":"boom","code":"X"},null])");
  auto r = decode_batch_pipeline(body, 3);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 3u);
  const auto& out = *r;
  ASSERT_TRUE(out[0].result.has_value());
  EXPECT_FALSE(out[0].error.has_value());
  EXPECT_FALSE(out[0].skipped());
  EXPECT_EQ(out[0].result->columns, std::vector<std::string>{"n"});
  ASSERT_EQ(out[0].result->rows.size(), 1u);
  EXPECT_EQ(out[0].result->rows[0].at(0), Value::integer(42));

  EXPECT_FALSE(out[1].result.has_value());
  ASSERT_TRUE(out[1].error.has_value());
  EXPECT_NE(out[1].error->find("boom"), std::string::npos) << *out[1].error;
  EXPECT_FALSE(out[1].skipped());

  EXPECT_TRUE(out[2].skipped());
}

TEST(HranaDecodeBatch, BriefExample) {
  std::string body = batch_answer("[" + kStepResult + ",null]", R"([null,{"message":"boom","code":"X"}])");
  auto r = decode_batch_pipeline(body, 2);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_TRUE(r->at(0).result.has_value());
  ASSERT_TRUE(r->at(1).error.has_value());
  EXPECT_NE(r->at(1).error->find("boom"), std::string::npos);
}

TEST(HranaDecodeBatch, AtomicPushThatRolledBack) {
  // BEGIN ok, change 1 ok, change 2 failed (guard), change 3 and COMMIT skipped, ROLLBACK ran.
  std::string body =
      batch_answer(R"([{"cols":[],"rows":[]},{"cols":[],"rows":[]},null,null,null,{"cols":[],"rows":[]}])",
                   R"([null,null,{"message":"SQLite error: guard: row changed remotely"},null,null,null])");
  auto r = decode_batch_pipeline(body, 6);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->at(0).result && r->at(1).result);
  ASSERT_TRUE(r->at(2).error.has_value());
  EXPECT_NE(r->at(2).error->find("guard: row changed remotely"), std::string::npos);
  EXPECT_TRUE(r->at(3).skipped());
  EXPECT_TRUE(r->at(4).skipped());
  EXPECT_TRUE(r->at(5).result.has_value());
}

TEST(HranaDecodeBatch, ExactValuesInSteps) {
  std::string row =
      R"([{"type":"integer","value":"-9223372036854775808"},{"type":"float","value":-0.0},)"
      R"({"type":"float","value":5e-324},{"type":"text","value":"a\u0000b"},{"type":"blob","base64":"AAEC"},{"type":"null"}])";
  std::string body = batch_answer(R"([{"cols":[],"rows":[)" + row + "]}]", "[null]");
  auto r = decode_batch_pipeline(body, 1);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_TRUE(r->at(0).result.has_value());
  EXPECT_TRUE(same_values(
      r->at(0).result->rows.at(0),
      {Value::integer(kMin), Value::real(-0.0), Value::real(5e-324), Value::text(std::string("a\0b", 3)),
       Value::blob(std::string("\0\1\2", 3)), Value::null()}));
}

TEST(HranaDecodeBatch, BatchRequestErrorIsSqlError) {
  std::string body =
      R"({"baton":null,"base_url":null,"results":[{"type":"error","error":{"message":"batch rejected","code":"X"}}]})";
  Error e = batch_error_of(body, 2);
  EXPECT_EQ(e.kind(), ErrorKind::sql);
  EXPECT_NE(e.message().find("batch rejected"), std::string::npos) << e.message();
}

TEST(HranaDecodeBatch, MoreStepsThanSentIsAProtocolError) {
  Error e = batch_error_of(batch_answer("[" + kStepResult + "," + kStepResult + "]", "[null,null]"), 1);
  EXPECT_EQ(e.kind(), ErrorKind::protocol) << e.message();
  Error e2 = batch_error_of(batch_answer("[null]", R"([null,{"message":"x"}])"), 1);
  EXPECT_EQ(e2.kind(), ErrorKind::protocol) << e2.message();
}

TEST(HranaDecodeBatch, WrongShapes) {
  for (const std::string& body : {
           std::string(""),
           std::string("not json"),
           std::string("{}"),
           std::string(R"({"results":{}})"),
           std::string(R"({"results":[]})"),  // no result for the batch request
           std::string(
               R"({"results":[{"type":"ok","response":{"type":"batch","result":{"step_results":[null],)"
               R"("step_errors":[null]}}},{"type":"ok","response":{"type":"batch","result":{"step_results":)"
               R"([null],"step_errors":[null]}}}]})"),  // two results for one batch request
           std::string(R"({"results":[{"type":"ok","response":{"type":"batch","result":5}}]})"),
           std::string(R"({"results":[{"type":"ok","response":{"type":"batch"}}]})"),  // no batch result
           batch_answer("5", "[null]"),
           batch_answer("[5]", "[null]"),
           batch_answer("[null]", "[5]"),
           batch_answer("[null]", R"(["boom"])"),
           batch_answer(R"([{"cols":[],"rows":[[{"type":"float","value":null}]]}])", "[null]"),
       }) {
    Error e = batch_error_of(body, 1);
    EXPECT_EQ(e.kind(), ErrorKind::protocol) << body << ": " << e.message();
  }
}

TEST(HranaDecodeBatch, TrailingGarbageIsRejected) {
  Error e = batch_error_of(batch_answer("[null]", "[null]") + "{}", 1);
  EXPECT_EQ(e.kind(), ErrorKind::protocol) << e.message();
}

TEST(HranaDecodeBatch, EveryTruncationOfAnAnswer) {
  const std::string full =
      batch_answer("[" + kStepResult + ",null,null]", R"([null,{"message":"boom","code":"X"},null])");
  for (size_t n = 0; n < full.size(); ++n) {
    std::string body = full.substr(0, n);
    auto r = decode_batch_pipeline(body, 3);
    if (r.ok()) {
      ADD_FAILURE() << "a truncated answer was accepted: prefix of " << n << " bytes: " << body;
    } else {
      EXPECT_EQ(r.error().kind(), ErrorKind::protocol) << "prefix " << n << ": " << r.error().message();
    }
  }
}

}  // namespace
}  // namespace turso_sync
