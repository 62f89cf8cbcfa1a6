// Tables of 2000 columns, SQLite's default SQLITE_MAX_COLUMN (issue 19): a limit on tables and on result
// sets alike, so no query may add a column (a key, a rowid, a type tag) to a full row. Before, diff and push
// failed with "too many columns in result set" and init failed on the SQL path. Three shapes: an INTEGER
// PRIMARY KEY, a TEXT primary key on a rowid table, no key at all (rows addressed by rowid). Each goes
// through init on both paths, diff, pushes in one batch, a pull on the SQL path that merges a local change,
// a staged push (refused whole by a stale guard, then through) and a pull on the page path; every copy and
// the remote (read through the independent path) hold the same values, exactly.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/sync_checks.h"
#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

constexpr int kColumns = 2000;
const std::vector<std::string> kTables = {"wide", "wide_text", "wide_nokey"};

std::string create_table(const std::string& table) {
  std::string sql = "CREATE TABLE " + table + " (";
  int first = 0;
  if (table == "wide") {
    sql += "id INTEGER PRIMARY KEY";
    first = 1;
  } else if (table == "wide_text") {
    sql += "k TEXT PRIMARY KEY";
    first = 1;
  }
  for (int i = first; i < kColumns; ++i) sql += (i ? ", c" : "c") + std::to_string(i);
  return sql + ")";
}

// A value of every storage class, by row and column: the key (column 0) is the row number (as text for
// wide_text), the others cycle through INTEGER, REAL (not exact in 15 digits), TEXT, BLOB and NULL.
std::string literal(const std::string& table, int row, int column, int version) {
  if (column == 0) return table == "wide_text" ? "'key " + std::to_string(row) + "'" : std::to_string(row);
  int64_t n = row * 100000 + column * 10 + version;
  switch (column % 5) {
    case 0:
      return std::to_string(n);
    case 1:
      return "(" + std::to_string(n) + " + 0.1 + 0.2)";
    case 2:
      return "'v" + std::to_string(n) + " ü''\"'";
    case 3: {
      std::string digits = std::to_string(n);
      return "x'00ff" + std::string(digits.size() % 2, '0') + digits + "'";  // an even number of digits
    }
    default:
      return "NULL";
  }
}

std::string insert_row(const std::string& table, int row, int version) {
  std::string sql = "INSERT INTO " + table + " VALUES (";
  for (int i = 0; i < kColumns; ++i) sql += (i ? ", " : "") + literal(table, row, i, version);
  return sql + ")";
}

std::string key_of(const std::string& table, int row) {
  return (table == "wide_text" ? "k = " : table == "wide" ? "id = " : "c0 = ") + literal(table, row, 0, 0);
}

// Every row of every wide table, in key order (no rowid in the result: that would be column 2001).
void expect_all_same(const std::string& url, const std::string& path) {
  for (const auto& t : kTables) expect_same(url, path, "SELECT * FROM " + t + " ORDER BY 1");
}

TEST(WideTables, TwoThousandColumnsSyncOnEveryPath) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  TcpProxy proxy(server.port());
  proxy.answer_not_found("POST /pull-updates");  // B takes the SQL path for init and pulls
  std::vector<std::string> seed;
  for (const auto& t : kTables) {
    seed.push_back(create_table(t));
    for (int row = 1; row <= 3; ++row) seed.push_back(insert_row(t, row, 0));
  }
  remote_exec(server.url(), seed);
  const std::vector<std::string> env_a = env_for(server.url()), env_b = env_for(proxy.url());
  TempDir a, b;
  auto r = run_cli({"init"}, env_a, a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_cli({"init"}, env_b, b.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(read_text(b.file(".turso-sync/state.json")).find("\"sql\""), std::string::npos);
  const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
  for (const std::string& path : {wa, wb, a.file("local_replica.db"), b.file("local_replica.db")})
    expect_all_same(server.url(), path);

  // A: an update of the first and the last column, a delete, an insert, in every table; diff, push.
  std::string edits;
  for (const auto& t : kTables)
    edits += "UPDATE " + t + " SET c1 = 'first', c1999 = 0.1 + 0.2 WHERE " + key_of(t, 1) + "; DELETE FROM " +
             t + " WHERE " + key_of(t, 2) + "; " + insert_row(t, 4, 1) + ";";
  local_exec(wa, edits);
  r = run_cli({"diff", "--exit-code"}, env_a, a.path());
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("wide_nokey"), std::string::npos) << r.out;
  r = run_cli({"push"}, env_a, a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_all_same(server.url(), wa);
  expect_no_local_changes(a, server.url());

  // B changed another column of row 1 meanwhile: the pull (SQL path) merges both.
  std::string b_edits;
  for (const auto& t : kTables)
    b_edits += "UPDATE " + t + " SET c1000 = 'from b' WHERE " + key_of(t, 1) + ";";
  local_exec(wb, b_edits);
  r = run_cli({"pull"}, env_b, b.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const auto& t : kTables)
    EXPECT_EQ(local_rows(wb, "SELECT c1, c1000, c1999 FROM " + t + " WHERE " + key_of(t, 1)),
              (Rows{{T("first"), T("from b"), R(0.1 + 0.2)}}))
        << t;

  // B: more rows, an update of every column of row 3 and of one column of row 1 (two masks), a delete of
  // row 4, in every table; pushed staged (parts of 100 kB: a row or two each), so each table is staged
  // over three staging tables joined on seq (docs/protocol.md "Push: staged"). A teammate changed a column
  // of row 3 meanwhile: the final batch's guard refuses the push, nothing is applied, no staging is left.
  std::string b_rows;
  for (const auto& t : kTables) {
    for (int row = 10; row < 20; ++row) b_rows += insert_row(t, row, 2) + ";";
    b_rows += "UPDATE " + t + " SET ";
    for (int i = 1; i < kColumns; ++i)
      b_rows += (i > 1 ? ", c" : "c") + std::to_string(i) + " = " + literal(t, 3, i, 3);
    b_rows += " WHERE " + key_of(t, 3) + "; UPDATE " + t + " SET c5 = 'five' WHERE " + key_of(t, 1) +
              "; DELETE FROM " + t + " WHERE " + key_of(t, 4) + ";";
  }
  local_exec(wb, b_rows);
  std::vector<std::string> staged = env_b;
  staged.push_back("TURSO_SYNC_PUSH_PART_BYTES=100000");
  remote_exec(server.url(), {"UPDATE wide_text SET c1500 = 'teammate' WHERE " + key_of("wide_text", 3)});
  r = run_cli({"push"}, staged, b.path());
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("nothing was applied"), std::string::npos) << r.err;
  for (const auto& t : kTables) {
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM " + t), 3) << t;
    EXPECT_EQ(
        remote_count(server.url(), "SELECT count(*) FROM " + t + " WHERE c5 = 'five' OR " + key_of(t, 10)), 0)
        << t;
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM " + t + " WHERE " + key_of(t, 4)), 1) << t;
  }
  EXPECT_EQ(staging_left(server.url()), 0);

  // Settled as the docs say (local wins), the same changes go through staged, exactly.
  r = run_cli({"sync", "--on-conflict=local"}, staged, b.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("staged in"), std::string::npos) << r.out;
  EXPECT_EQ(staging_left(server.url()), 0);
  expect_all_same(server.url(), wb);
  for (const auto& t : kTables) {
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM " + t), 12) << t;
    EXPECT_EQ(remote_rows(server.url(), "SELECT c1, c1500, c1999 FROM " + t + " WHERE " + key_of(t, 3)),
              local_rows(wb, "SELECT " + literal(t, 3, 1, 3) + ", " + literal(t, 3, 1500, 3) + ", " +
                                 literal(t, 3, 1999, 3)))
        << t;
  }
  r = run_cli({"pull"}, env_a, a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const std::string& path : {wa, wb, a.file("local_replica.db"), b.file("local_replica.db")})
    expect_all_same(server.url(), path);
  expect_no_local_changes(a, server.url());
  expect_no_local_changes(b, server.url());
}

}  // namespace
}  // namespace turso_sync::testing
