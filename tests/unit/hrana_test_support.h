// Helpers shared by the Hrana codec tests (hrana_encode_test.cpp, hrana_codec_test.cpp): int64 bounds, exact
// comparison of values, a /v2/pipeline execute answer and its decoding.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "remote/hrana.h"
#include "turso_sync/remote.h"
#include "util/text.h"

namespace turso_sync::hranatest {

inline constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// Success when `actual` holds exactly the values of `expected` (storage class and bytes), else the first
// difference.
inline ::testing::AssertionResult same_values(const std::vector<Value>& actual,
                                              const std::vector<Value>& expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << actual.size() << " values, expected " << expected.size();
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i] != expected[i])
      return ::testing::AssertionFailure()
             << "value " << i << ": " << describe(actual[i]) << " (" << to_string(actual[i].type())
             << "), expected " << describe(expected[i]) << " (" << to_string(expected[i].type()) << ")";
  }
  return ::testing::AssertionSuccess();
}

// A /v2/pipeline answer holding one successful execute result with `cols` and `rows` (raw JSON).
inline std::string execute_answer(const std::string& cols, const std::string& rows) {
  return R"({"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"execute","result":{"cols":)" +
         cols + R"(,"rows":)" + rows +
         R"(,"affected_row_count":0,"last_insert_rowid":null,"replication_index":null,"rows_read":0,)"
         R"("rows_written":0,"query_duration_ms":0.0}}}]})";
}

inline const SqlStatement kSelect{"SELECT * FROM t", {}};

// `body` decoded as the answer to the one statement `stmt`.
inline Result<std::vector<StatementResult>> decode_one(std::string body, const SqlStatement& stmt = kSelect) {
  return hrana::decode_execute_pipeline(body, std::span<const SqlStatement>(&stmt, 1));
}

}  // namespace turso_sync::hranatest
