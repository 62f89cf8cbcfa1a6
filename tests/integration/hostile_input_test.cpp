// Hostile and odd input (issue 12): identifiers built to break quoting (", ', ], ;, newlines, unicode, SQL
// keywords) in tables, columns, indexes, views and triggers; SQL text inside values; a 10 MB BLOB row; 0
// tables; 200 tables. Each goes through init, diff, push, pull and sync on two copies, on the page path and
// on the SQL path, and must arrive exactly: every copy (replica and working copy) and the remote, read
// through the independent path (hrana_query.py), hold the same objects and the same rows.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
  return s;
}

// An identifier and a string literal, quoted the SQL way.
std::string id(const std::string& name) {
  return "\"" + replace_all(name, "\"", "\"\"") + "\"";
}
std::string lit(const std::string& text) {
  return "'" + replace_all(text, "'", "''") + "'";
}

// Every user object (type, name, table) and every row of every user table, as one list of rows. Names are
// compared in lower case: SQLite's names are case-insensitive, and the local server lower-cases SQL keywords
// even inside a quoted name in its sqlite_schema ("DROP TABLE" in a table's name is stored as "drop table").
Rows everything(const std::function<Rows(const std::string&)>& query) {
  const std::string objects =
      "SELECT type, lower(name), lower(tbl_name) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND name "
      "NOT LIKE 'turso_sync_%' ORDER BY type, lower(name)";
  Rows out = query(objects);
  Rows tables = query(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE "
      "'turso_sync_%' ORDER BY name");
  for (const auto& table : tables) {
    std::string name = table[0].as_bytes();
    std::string lowered = name;  // as SQLite's lower(): ASCII letters only
    for (char& c : lowered)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out.push_back({Value::text("table"), Value::text(lowered)});
    Rows rows = query("SELECT * FROM " + id(name) + " ORDER BY 1");
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

// The remote, and the replica and working copy of each copy, hold the same objects and rows.
void expect_everywhere_equal(const std::string& url, const std::vector<const TempDir*>& copies,
                             const std::string& when) {
  Rows remote = everything([&](const std::string& sql) { return remote_rows(url, sql); });
  for (const TempDir* copy : copies)
    for (const std::string file : {"local_replica.db", "working_copy.db"}) {
      Rows local = everything([&](const std::string& sql) { return local_rows(copy->file(file), sql); });
      EXPECT_TRUE(local == remote) << when << ": " << file << " differs from the remote\nlocal:\n"
                                   << render_rows(local).substr(0, 4000) << "\nremote:\n"
                                   << render_rows(remote).substr(0, 4000);
      EXPECT_EQ(local_rows(copy->file(file), "PRAGMA integrity_check"), (Rows{{T("ok")}})) << when << file;
    }
}

// `diff` writes SQL that turns the replica into the working copy: applied to a copy of the replica, it gives
// the working copy's objects and rows exactly.
void expect_diff_file_rebuilds_the_working_copy(const TempDir& copy, const std::vector<std::string>& env) {
  auto diff = run_cli({"diff"}, env, copy.path());
  ASSERT_EQ(diff.exit_code, 0) << diff.out << diff.err;
  // The copy as diff.sql says to make it (a byte copy of a page image keeps the server's schema names).
  std::string rebuilt = copy.file("rebuilt.db");
  std::vector<std::string> copy_env = env;
  copy_env.push_back("WORKING_DB=" + rebuilt);
  auto made = run_cli({"copy"}, copy_env, copy.path());
  ASSERT_EQ(made.exit_code, 0) << made.out << made.err;
  ASSERT_NO_FATAL_FAILURE(local_exec(rebuilt, read_text(copy.file("diff.sql"))));
  auto rows = [](const std::string& path) {
    return everything([&](const std::string& sql) { return local_rows(path, sql); });
  };
  EXPECT_TRUE(rows(rebuilt) == rows(copy.file("working_copy.db")))
      << "diff.sql does not rebuild the working copy:\n"
      << read_text(copy.file("diff.sql")).substr(0, 4000);
  fs::remove(rebuilt);
}

// Names that break naive quoting: a double quote, a single quote, a bracket, a semicolon with SQL after it, a
// newline, non-ASCII letters, emoji, SQL keywords.
const std::string kTable = "we\"ird'] ; DROP TABLE \"order\"; --\n ü";
const std::string kKey = "select";
const std::string kText = "a\"b";
const std::string kBlob = "c']d";
const std::string kReal = "e;\nf";
const std::string kUnicode = "ö ✓ 🙂";
const std::string kOrder = "order";
const std::string kGroup = "group";
const std::string kFrom = "from";
const std::string kIndex = "idx \"x\"; 'y' [z]";
const std::string kView = "v]iew\n; SELECT 1";
const std::string kTrigger = "trg\"';--";
// SQL text inside values.
const std::string kInjection = "'); DROP TABLE \"order\"; --";
const std::string kQuotes = "\"double\" 'single' `back` [bracket]";

std::vector<std::string> hostile_schema() {
  std::string t = id(kTable);
  return {
      "CREATE TABLE " + t + " (" + id(kKey) + " INTEGER PRIMARY KEY, " + id(kText) + " TEXT, " + id(kBlob) +
          " BLOB, " + id(kReal) + " REAL, " + id(kUnicode) + " TEXT)",
      "INSERT INTO " + t + " VALUES (1, " + lit(kInjection) + ", x'00ff27', 1.5, 'ü'), (2, " + lit(kQuotes) +
          ", x'', 0.1, NULL), (3, 'line 1\nline 2;', NULL, -1e308, " + lit(kTable) + ")",
      "CREATE TABLE " + id(kOrder) + " (" + id(kGroup) + " TEXT PRIMARY KEY, " + id(kFrom) + " INTEGER)",
      "INSERT INTO " + id(kOrder) + " VALUES ('a;b', 1), ('it''s', 2), (" + lit(kInjection) + ", 3)",
      "CREATE INDEX " + id(kIndex) + " ON " + t + " (" + id(kText) + ", " + id(kReal) + ")",
      "CREATE VIEW " + id(kView) + " AS SELECT " + id(kKey) + ", " + id(kText) + " FROM " + t + " WHERE " +
          id(kBlob) + " IS NOT NULL",
      "CREATE TRIGGER " + id(kTrigger) + " AFTER DELETE ON " + t + " BEGIN UPDATE " + id(kOrder) + " SET " +
          id(kFrom) + " = " + id(kFrom) + " + 100 WHERE " + id(kFrom) + " = OLD." + id(kKey) + "; END",
  };
}

void hostile_identifiers_round_trip(bool sql_path) {
  SCOPED_TRACE(sql_path ? "SQL path" : "page path");
  LocalServer server;
  ASSERT_TRUE(server.started());
  TcpProxy proxy(server.port());
  if (sql_path) proxy.answer_not_found("POST /pull-updates");
  remote_exec(server.url(), hostile_schema());
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + proxy.url()};
  TempDir a, b;
  for (const TempDir* copy : {&a, &b}) {
    auto r = run_cli({"init"}, env, copy->path());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  expect_everywhere_equal(server.url(), {&a, &b}, "after init");

  // A: rows of every kind, a column and an index with hostile names, SQL text as values.
  std::string t = id(kTable);
  local_exec(a.file("working_copy.db"),
             "INSERT INTO " + t + " VALUES (4, " + lit(kInjection + kQuotes) + ", randomblob(64), 2.5, " +
                 lit("new ✓\n") +
                 ");"
                 "UPDATE " +
                 t + " SET " + id(kText) + " = " + lit("changed '\"; --") + " WHERE " + id(kKey) +
                 " = 1;"
                 "DELETE FROM " +
                 t + " WHERE " + id(kKey) +
                 " = 2;"
                 "INSERT INTO " +
                 id(kOrder) + " VALUES (" + lit("new;\nrow") +
                 ", 4);"
                 "ALTER TABLE " +
                 t + " ADD COLUMN " + id("new \"col\"; DROP") + " TEXT DEFAULT " + lit("d'ef") +
                 ";"
                 "UPDATE " +
                 t + " SET " + id("new \"col\"; DROP") + " = " + lit(kTable) + " WHERE " + id(kKey) +
                 " = 3;"
                 "CREATE INDEX " +
                 id("idx2 \n ;") + " ON " + id(kOrder) + " (" + id(kFrom) + ");");
  ASSERT_NO_FATAL_FAILURE(expect_diff_file_rebuilds_the_working_copy(a, env));
  auto pushed = run_cli({"push"}, env, a.path());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  auto pulled = run_cli({"pull"}, env, b.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  expect_everywhere_equal(server.url(), {&a, &b}, "after A's push and B's pull");

  // B: edits the new column, deletes a row (its trigger fires), drops the hostile index, adds a trigger.
  local_exec(b.file("working_copy.db"), "UPDATE " + t + " SET " + id(kUnicode) + " = " + lit("from b ✓") +
                                            ", " + id("new \"col\"; DROP") + " = NULL WHERE " + id(kKey) +
                                            " = 4;"
                                            "DELETE FROM " +
                                            t + " WHERE " + id(kKey) +
                                            " = 3;"
                                            "DROP INDEX " +
                                            id(kIndex) +
                                            ";"
                                            "CREATE TRIGGER " +
                                            id("t2 \"]';\n") + " AFTER INSERT ON " + id(kOrder) +
                                            " BEGIN SELECT 1; END;");
  ASSERT_NO_FATAL_FAILURE(expect_diff_file_rebuilds_the_working_copy(b, env));
  auto synced = run_cli({"sync"}, env, b.path());
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  pulled = run_cli({"pull"}, env, a.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  expect_everywhere_equal(server.url(), {&a, &b}, "after B's sync and A's pull");
  for (const TempDir* copy : {&a, &b}) {
    auto diff = run_cli({"diff", "--exit-code"}, env, copy->path());
    EXPECT_EQ(diff.exit_code, 0) << diff.out << diff.err;
  }
}

TEST(HostileInput, IdentifiersBuiltToBreakQuotingRoundTripOnThePagePath) {
  hostile_identifiers_round_trip(/*sql_path=*/false);
}

TEST(HostileInput, IdentifiersBuiltToBreakQuotingRoundTripOnTheSqlPath) {
  hostile_identifiers_round_trip(/*sql_path=*/true);
}

// A 10 MB BLOB row: init on both paths, a local 10 MB update and a second 10 MB row pushed (each batch is
// larger than one request may be: the push still lands whole), pulled by the other copy, byte for byte.
TEST(HostileInput, TenMegabyteBlobRowsRoundTrip) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  TcpProxy proxy(server.port());
  proxy.answer_not_found("POST /pull-updates");
  remote_exec(server.url(), {"CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT, data BLOB)",
                             "INSERT INTO files VALUES (1, 'big', randomblob(10 * 1024 * 1024))"});
  TempDir a, b;
  ASSERT_EQ(run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, a.path()).exit_code, 0);
  ASSERT_EQ(run_cli({"init"}, {"TURSO_DATABASE_URL=" + proxy.url()}, b.path()).exit_code, 0);
  expect_everywhere_equal(server.url(), {&a, &b}, "after init (pages for A, SQL for B)");
  local_exec(a.file("working_copy.db"),
             "UPDATE files SET data = randomblob(10 * 1024 * 1024) WHERE id = 1;"
             "INSERT INTO files VALUES (2, 'big 2', randomblob(10 * 1024 * 1024))");
  auto pushed = run_cli({"push"}, {"TURSO_DATABASE_URL=" + server.url()}, a.path());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  auto pulled = run_cli({"pull"}, {"TURSO_DATABASE_URL=" + proxy.url()}, b.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  expect_everywhere_equal(server.url(), {&a, &b}, "after the push and the pull");
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*), sum(length(data)) FROM files"),
            (Rows{{I(2), I(20 * 1024 * 1024)}}));
}

// The objects and rows of tables "t 0" … "t <count - 1>" in two queries (one per table would start hundreds
// of reader processes).
void expect_numbered_tables_equal(const std::string& url, const std::vector<const TempDir*>& copies,
                                  int count, const std::string& when) {
  std::string objects = "SELECT type, name FROM sqlite_schema WHERE name LIKE 't %' ORDER BY name";
  std::string rows;
  for (int i = 0; i < count; ++i)
    rows += (i ? " UNION ALL " : "") + std::string("SELECT ") + std::to_string(i) + ", * FROM \"t " +
            std::to_string(i) + "\"";
  rows += " ORDER BY 1, 2";
  Rows remote_objects = remote_rows(url, objects);
  ASSERT_EQ(remote_objects.size(), static_cast<size_t>(count)) << when;
  Rows remote = remote_rows(url, rows);
  for (const TempDir* copy : copies)
    for (const std::string file : {"local_replica.db", "working_copy.db"}) {
      EXPECT_EQ(local_rows(copy->file(file), objects), remote_objects) << when << " " << file;
      EXPECT_TRUE(local_rows(copy->file(file), rows) == remote) << when << " " << file;
    }
}

// A remote with no table at all, and one with 200.
TEST(HostileInput, ZeroTablesAndTwoHundredTables) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + server.url()};
  TempDir a, b;
  auto init = run_cli({"init"}, env, a.path());
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_NE(init.out.find("0 tables"), std::string::npos) << init.out;
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"status"}, {"diff", "--exit-code"}, {"pull"}, {"push"}}) {
    auto r = run_cli(args, env, a.path());
    EXPECT_EQ(r.exit_code, 0) << args.front() << ": " << r.out << r.err;
  }
  ASSERT_EQ(run_cli({"init"}, env, b.path()).exit_code, 0);
  // From 0 to 200 tables in one push.
  std::string sql;
  for (int i = 0; i < 200; ++i)
    sql += "CREATE TABLE \"t " + std::to_string(i) + "\" (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO \"t " +
           std::to_string(i) + "\" VALUES (1, 'row of table " + std::to_string(i) + "');";
  local_exec(a.file("working_copy.db"), sql);
  auto pushed = run_cli({"push"}, env, a.path());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  auto pulled = run_cli({"pull"}, env, b.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  expect_numbered_tables_equal(server.url(), {&a, &b}, 200, "200 tables pushed and pulled");
  // A change in every table, and one table dropped, on the other copy.
  sql.clear();
  for (int i = 0; i < 200; ++i)
    sql += "UPDATE \"t " + std::to_string(i) + "\" SET v = 'changed by b'; INSERT INTO \"t " +
           std::to_string(i) + "\" VALUES (2, NULL);";
  sql += "DROP TABLE \"t 199\";";
  local_exec(b.file("working_copy.db"), sql);
  auto synced = run_cli({"sync"}, env, b.path());
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  pulled = run_cli({"pull"}, env, a.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  expect_numbered_tables_equal(server.url(), {&a, &b}, 199, "a change in every table, one dropped");
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*), sum(v = 'changed by b') FROM \"t 7\""),
            (Rows{{I(2), I(1)}}));
}

}  // namespace
}  // namespace turso_sync::testing
