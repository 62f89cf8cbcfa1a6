// Fuzz target: the Hrana response decoder (src/remote/hrana.*), fed what a server, a proxy or a stranger on
// the network may answer.
//
// Input: one byte N (mod 4: the number of statements, or of batch steps, the answer is for), then the body.
// The body goes through all three decoders (execute, streaming rows, batch). Each must return values or a
// protocol/sql error, never crash or read out of bounds. What an execute answer decodes to must survive
// being written back as Hrana JSON (write_value) and decoded again, value for value (REALs bit for bit).
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "remote/hrana.h"
#include "util/json_writer.h"

namespace turso_sync::fuzz {
namespace {

bool same(const Value& a, const Value& b) {
  return a == b;  // storage class and bytes; REAL by bit pattern
}

// The decoded results written back as a pipeline answer.
Result<std::string> reencode(const std::vector<StatementResult>& results) {
  JsonWriter w;
  w.begin_object().key("baton").null().key("base_url").null().key("results").begin_array();
  for (const auto& r : results) {
    w.begin_object().key("type").string("ok").key("response").begin_object();
    w.key("type").string("execute").key("result").begin_object().key("cols").begin_array();
    for (const auto& c : r.columns) w.begin_object().key("name").string(c).end_object();
    w.end_array().key("rows").begin_array();
    for (const auto& row : r.rows) {
      w.begin_array();
      for (const auto& v : row) TS_TRY_STATUS(hrana::write_value(w, v));
      w.end_array();
    }
    w.end_array().end_object().end_object().end_object();
  }
  w.end_array().end_object();
  return w.take();
}

void check_execute(std::string body, const std::vector<SqlStatement>& statements) {
  auto r = hrana::decode_execute_pipeline(body, statements);
  if (!r.ok()) {
    check_error_kind(r.error(), {ErrorKind::protocol, ErrorKind::sql}, "decode_execute_pipeline");
    return;
  }
  FUZZ_CHECK(r->size() == statements.size(), "{} results for {} statements", r->size(), statements.size());
  auto again = reencode(*r);
  // Everything decoded came out of JSON, so it can go back into JSON.
  FUZZ_CHECK(again.ok(), "a decoded value cannot be written back: {}",
             again.ok() ? "" : again.error().message());
  auto r2 = hrana::decode_execute_pipeline(*again, statements);
  FUZZ_CHECK(r2.ok(), "the re-encoded answer does not decode: {}", r2.ok() ? "" : r2.error().message());
  for (size_t i = 0; i < r->size(); ++i) {
    const StatementResult &a = r->at(i), &b = r2->at(i);
    FUZZ_CHECK(a.columns == b.columns, "statement {}: columns differ after re-encoding", i);
    FUZZ_CHECK(a.rows.size() == b.rows.size(), "statement {}: row count differs after re-encoding", i);
    for (size_t j = 0; j < a.rows.size(); ++j) {
      FUZZ_CHECK(a.rows[j].size() == b.rows[j].size(), "statement {} row {}: width differs", i, j);
      for (size_t k = 0; k < a.rows[j].size(); ++k)
        FUZZ_CHECK(same(a.rows[j][k], b.rows[j][k]), "statement {} row {} column {}: {} became {}", i, j, k,
                   describe(a.rows[j][k]), describe(b.rows[j][k]));
    }
  }
}

void check_rows(std::string body, const SqlStatement& statement) {
  size_t rows = 0;
  auto st = hrana::decode_rows(body, statement, [&](std::span<const Value> row) -> Status {
    for (const Value& v : row) (void)v.payload_size();
    // A callback's error stops decoding and is returned as it is.
    if (++rows == 3) return Error(ErrorKind::cancelled, "stop at the third row");
    return {};
  });
  if (!st.ok())
    check_error_kind(st.error(), {ErrorKind::protocol, ErrorKind::sql, ErrorKind::cancelled}, "decode_rows");
}

void check_batch(std::string body, size_t steps) {
  auto r = hrana::decode_batch_pipeline(body, steps);
  if (!r.ok()) {
    check_error_kind(r.error(), {ErrorKind::protocol, ErrorKind::sql}, "decode_batch_pipeline");
    return;
  }
  FUZZ_CHECK(r->size() == steps, "{} outcomes for {} steps", r->size(), steps);
}

}  // namespace
}  // namespace turso_sync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turso_sync;
  if (size == 0) return 0;
  size_t n = data[0] % 4;
  std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<SqlStatement> statements(n, SqlStatement{"SELECT 1", {}});
  fuzz::check_execute(body, statements);
  fuzz::check_rows(body, SqlStatement{"SELECT 1", {}});
  fuzz::check_batch(body, n);
  return 0;
}
