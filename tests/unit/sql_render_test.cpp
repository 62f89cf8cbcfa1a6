// Exact SQL literals, checked through the real sqlite3 shell, and the schema-text helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "diff/sql_text.h"
#include "diff_test_support.h"
#include "turso_sync/diff.h"

namespace turso_sync {
namespace {

using testing::TempDir;

// Inserts every value as a literal through the sqlite3 shell and reads it back in process.
void expect_literals_round_trip_through_shell(const std::vector<Value>& values) {
  TempDir dir;
  std::string db = dir.file("lit.db");
  std::string sql = "BEGIN;\nCREATE TABLE t(i INTEGER PRIMARY KEY, v);\n";
  for (size_t i = 0; i < values.size(); ++i)
    sql += "INSERT INTO t VALUES(" + std::to_string(i) + ", " + sql_literal(values[i]) + ");\n";
  sql += "COMMIT;\n";
  difftest::apply_with_shell(db, sql);
  auto conn = difftest::open_db(db);
  auto stmt = conn.prepare("SELECT i, v FROM t ORDER BY i");
  ASSERT_TRUE(stmt.ok());
  size_t n = 0;
  while (*stmt->step()) {
    auto i = static_cast<size_t>(stmt->column_int64(0));
    ASSERT_LT(i, values.size());
    EXPECT_EQ(stmt->column(1), values[i]) << "literal " << sql_literal(values[i]);
    ++n;
  }
  EXPECT_EQ(n, values.size());
}

TEST(SqlLiteral, RealEdgeValuesRoundTripThroughTheShell) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Value> values;
  for (double v : {0.1 + 0.2, -0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
                   4.4501477170144023e-308, 1e308, 1.7976931348623157e308, -1.7976931348623157e308, inf, -inf,
                   9007199254740993.0, 1e23, 1.5, -2.5e-300, 123456789012345678.0})
    values.push_back(Value::real(v));
  expect_literals_round_trip_through_shell(values);
  EXPECT_EQ(sql_literal(Value::real(inf)), "9e999");
  EXPECT_EQ(sql_literal(Value::real(-inf)), "-9e999");
  EXPECT_EQ(sql_literal(Value::real(0.1 + 0.2)), "0.30000000000000004");
}

TEST(SqlLiteral, RandomRealsRoundTripThroughTheShell) {
  uint64_t seed = testing::SeedSequence(1001).next();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  std::vector<Value> values;
  while (values.size() < 3000) {
    double v = std::bit_cast<double>(rng());
    if (!std::isnan(v)) values.push_back(Value::real(v));
  }
  expect_literals_round_trip_through_shell(values);
}

TEST(SqlLiteral, IntegersTextAndBlobsRoundTripThroughTheShell) {
  std::vector<Value> values = {
      Value::integer(0),
      Value::integer(std::numeric_limits<int64_t>::max()),
      Value::integer(std::numeric_limits<int64_t>::min()),
      Value::integer(-1),
      Value::null(),
      Value::text(""),
      Value::text("it's \"quoted\""),
      Value::text("héllo ✓ 𝄞 ünïcödé"),
      Value::text(std::string("nul\0inside", 10)),
      Value::text("\xff\xfe invalid utf-8 \xc0\xaf"),
      Value::text("line\nbreak\r\ttab\x01\x7f end"),
      Value::text("\n"),
      Value::text("-- not a comment; /* nor this */"),
      Value::blob(""),
      Value::blob(std::string("\0\x01\xff", 3)),
      Value::blob(std::string(100000, '\xab')),
  };
  expect_literals_round_trip_through_shell(values);
  EXPECT_EQ(sql_literal(Value::text("a'b")), "'a''b'");
  EXPECT_EQ(sql_literal(Value::text("a\nb")), "'a'||char(10)||'b'");
  EXPECT_EQ(sql_literal(Value::text(std::string("\0", 1))), "CAST(X'00' AS TEXT)");
  EXPECT_EQ(sql_literal(Value::blob("\x01")), "X'01'");
}

// Found by tests/fuzz/fuzz_sql_literal.cpp: a TEXT with 128 control characters in a row was rendered as one
// char(…) of 128 arguments (SQLite allows 127), and a TEXT of 500+ lines as a chain of || deeper than SQLite
// allows (1000): diff.sql, the merge into the working copy and the discarded file could not run. Past 100
// runs of control characters, or a run longer than 100, the text is written in hex.
TEST(SqlLiteral, FuzzTextWithLongControlRunsOrManyLinesIsStillALiteral) {
  std::string lines, hundred_lines;
  for (int i = 0; i < 600; ++i) lines += "line " + std::to_string(i) + "\n";
  for (int i = 0; i < 100; ++i) hundred_lines += "l\n";
  std::vector<Value> values = {
      Value::text(std::string(128, '\a')),
      Value::text(std::string(1000, '\n')),
      Value::text(lines),
      Value::text("a" + std::string(100, '\t') + "b"),
      Value::text(hundred_lines),
      Value::text(hundred_lines + "l\n"),
      Value::text("\n\x08\n\r\r" + std::string(140, '\a') + "$" + std::string(8, '\r'))};
  expect_literals_round_trip_through_shell(values);
  EXPECT_TRUE(sql_literal(Value::text(std::string(100, '\n'))).starts_with("char(10,"));
  EXPECT_TRUE(sql_literal(Value::text(std::string(101, '\n'))).starts_with("CAST(X'"));
  EXPECT_TRUE(sql_literal(Value::text(hundred_lines)).starts_with("'l'||char(10)||"));
  EXPECT_TRUE(sql_literal(Value::text(hundred_lines + "l\n")).starts_with("CAST(X'"));
}

TEST(SqlText, NormalizeIgnoresWhitespaceCommentsQuotingAndKeywordCase) {
  using diff::normalize_sql;
  EXPECT_EQ(normalize_sql("CREATE TABLE a(id)"), normalize_sql("CREATE TABLE a (id)"));
  EXPECT_EQ(normalize_sql("create table \"a\"(  id INTEGER -- c\n)"),
            normalize_sql("CREATE TABLE a (id INTEGER)"));
  // Type names are kept as written: PRAGMA table_xinfo reports them so.
  EXPECT_NE(normalize_sql("CREATE TABLE a(id integer)"), normalize_sql("CREATE TABLE a(id INTEGER)"));
  EXPECT_EQ(normalize_sql("CREATE TABLE [a b](`x`)"), normalize_sql("CREATE TABLE \"a b\"(\"x\")"));
  EXPECT_NE(normalize_sql("CREATE TABLE a(id)"), normalize_sql("CREATE TABLE a(ID)"));
  EXPECT_NE(normalize_sql("CREATE TABLE a(v DEFAULT 'x y')"),
            normalize_sql("CREATE TABLE a(v DEFAULT 'x  y')"));
}

TEST(SqlText, RenameAndSplitCreateTable) {
  EXPECT_EQ(diff::rename_created("CREATE TABLE IF NOT EXISTS main.\"t\" (a)", "\"n\""),
            "CREATE TABLE IF NOT EXISTS \"n\" (a)");
  diff::TableDefinition def;
  ASSERT_TRUE(diff::parse_table_definition(
      "CREATE TABLE t(a INTEGER CHECK (a > 0), \"b,c\" TEXT DEFAULT 'x,y', PRIMARY KEY(a)) WITHOUT ROWID",
      &def));
  EXPECT_EQ(def.items, (std::vector<std::string>{"a INTEGER CHECK (a > 0)", "\"b,c\" TEXT DEFAULT 'x,y'",
                                                 "PRIMARY KEY(a)"}));
  EXPECT_EQ(def.item_is_column, (std::vector<bool>{true, true, false}));
  EXPECT_EQ(def.options, "WITHOUT ROWID");
  EXPECT_TRUE(diff::can_add_column("c INTEGER NOT NULL DEFAULT -1"));
  EXPECT_FALSE(diff::can_add_column("c INTEGER NOT NULL"));
  EXPECT_FALSE(diff::can_add_column("c TEXT DEFAULT CURRENT_TIMESTAMP"));
  EXPECT_FALSE(diff::can_add_column("c INTEGER UNIQUE"));
  EXPECT_TRUE(diff::has_volatile_default("c DEFAULT (random())"));
  EXPECT_TRUE(diff::refers_to("CREATE VIEW v AS SELECT * FROM \"My Table\"", "my table"));
  EXPECT_FALSE(diff::refers_to("CREATE VIEW v AS SELECT 1", "v"));
}

}  // namespace
}  // namespace turso_sync
