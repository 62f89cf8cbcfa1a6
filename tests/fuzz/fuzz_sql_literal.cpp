// Fuzz target: the SQL literal renderer (sql_literal, include/turso_sync/diff.h): render -> SQLite parses
// and evaluates -> the same value.
//
// Input: one byte T (mod 5: the storage class), then the payload:
//   0 NULL; 1 INTEGER (8 bytes, little endian, zero-padded); 2 REAL (8 bytes: the bit pattern);
//   3 TEXT (the rest: any bytes, invalid UTF-8 and NUL included); 4 BLOB (the rest).
// SQLite (in memory) evaluates `SELECT <literal>`, which must consume the whole statement and give the same
// storage class and bytes (REAL bit for bit, -0.0 included). The one exception is what the product promises
// (docs/changeset.md): NaN, which SQLite never stores (it binds NaN as NULL), renders as NULL. The literal
// must also work as an operand: `SELECT <literal> IS ?1` with the value bound gives 1.
#include <sqlite3.h>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_check.h"
#include "turso_sync/diff.h"

namespace turso_sync::fuzz {
namespace {

sqlite3* database() {
  static sqlite3* db = [] {
    sqlite3* d = nullptr;
    FUZZ_CHECK(sqlite3_open(":memory:", &d) == SQLITE_OK, "open an in-memory database");
    return d;
  }();
  return db;
}

Value value_from(const uint8_t* data, size_t size) {
  const uint8_t* p = data + 1;
  size_t n = size - 1;
  uint64_t bits = 0;
  for (size_t i = 0; i < 8 && i < n; ++i) bits |= uint64_t{p[i]} << (8 * i);
  std::string bytes(reinterpret_cast<const char*>(p), n);
  switch (data[0] % 5) {
    case 0:
      return Value::null();
    case 1:
      return Value::integer(static_cast<int64_t>(bits));
    case 2:
      return Value::real(std::bit_cast<double>(bits));
    case 3:
      return Value::text(std::move(bytes));
    default:
      return Value::blob(std::move(bytes));
  }
}

// The value in column `i` of the current row of `stmt`, exactly.
Value column_value(sqlite3_stmt* stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      return Value::integer(sqlite3_column_int64(stmt, i));
    case SQLITE_FLOAT:
      return Value::real(sqlite3_column_double(stmt, i));
    case SQLITE_TEXT: {
      auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
      return Value::text(std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, i))));
    }
    case SQLITE_BLOB: {
      auto p = static_cast<const char*>(sqlite3_column_blob(stmt, i));
      return Value::blob(std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, i))));
    }
    default:
      return Value::null();
  }
}

void bind(sqlite3_stmt* stmt, int i, const Value& v) {
  switch (v.type()) {
    case ValueType::null:
      sqlite3_bind_null(stmt, i);
      break;
    case ValueType::integer:
      sqlite3_bind_int64(stmt, i, v.as_integer());
      break;
    case ValueType::real:
      sqlite3_bind_double(stmt, i, v.as_real());
      break;
    case ValueType::text:
      sqlite3_bind_text(stmt, i, v.as_bytes().data(), static_cast<int>(v.as_bytes().size()), SQLITE_STATIC);
      break;
    case ValueType::blob:
      sqlite3_bind_blob(stmt, i, v.as_bytes().data(), static_cast<int>(v.as_bytes().size()), SQLITE_STATIC);
      break;
  }
}

// Evaluates `sql` (one statement, one row); the statement is left stepped on its row for the caller.
sqlite3_stmt* evaluate(const std::string& sql, const Value* arg) {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(database(), sql.data(), static_cast<int>(sql.size()), &stmt, &tail);
  FUZZ_CHECK(rc == SQLITE_OK && stmt, "SQLite does not parse `{}`: {}", sql, sqlite3_errmsg(database()));
  FUZZ_CHECK(tail == sql.data() + sql.size(), "SQLite stops reading `{}` at offset {}", sql,
             tail - sql.data());
  if (arg) bind(stmt, 1, *arg);
  rc = sqlite3_step(stmt);
  FUZZ_CHECK(rc == SQLITE_ROW, "`{}` gives no row: {}", sql, sqlite3_errmsg(database()));
  FUZZ_CHECK(sqlite3_column_count(stmt) == 1, "`{}` gives {} columns", sql, sqlite3_column_count(stmt));
  return stmt;
}

}  // namespace
}  // namespace turso_sync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turso_sync;
  if (size == 0) return 0;
  Value value = fuzz::value_from(data, size);
  std::string literal = sql_literal(value);
  bool nan = value.type() == ValueType::real && std::isnan(value.as_real());
  Value expected = nan ? Value::null() : value;

  sqlite3_stmt* stmt = fuzz::evaluate("SELECT " + literal, nullptr);
  Value got = fuzz::column_value(stmt, 0);
  FUZZ_CHECK(got == expected, "{} rendered as `{}` reads back as {} ({} vs {})", describe(value), literal,
             describe(got), to_string(expected.type()), to_string(got.type()));
  if (got.type() == ValueType::real)
    FUZZ_CHECK(std::bit_cast<uint64_t>(got.as_real()) == std::bit_cast<uint64_t>(expected.as_real()),
               "{} rendered as `{}` reads back as bits {:016x}", describe(value), literal,
               std::bit_cast<uint64_t>(got.as_real()));
  FUZZ_CHECK(sqlite3_step(stmt) == SQLITE_DONE, "`SELECT {}` gives more than one row", literal);
  sqlite3_finalize(stmt);

  stmt = fuzz::evaluate("SELECT " + literal + " IS ?1", &value);
  FUZZ_CHECK(sqlite3_column_int(stmt, 0) == 1, "`{} IS ?1` is false for {}", literal, describe(value));
  sqlite3_finalize(stmt);
  return 0;
}
