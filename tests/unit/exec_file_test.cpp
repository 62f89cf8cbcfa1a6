// Database::exec_file: a SQL script run statement by statement from a file read in chunks (a pushed change
// set's script can be hundreds of MB). Statements end only where SQLite says they do.
#include <gtest/gtest.h>

#include <fstream>

#include "db/sqlite.h"
#include "support/test_env.h"

namespace turso_sync {
namespace {

using testing::TempDir;

TEST(ExecFile, RunsEveryStatementWhateverTheChunkBoundariesAndTheSemicolonsInside) {
  TempDir dir;
  std::string script = dir.file("script.sql"), path = dir.file("db.sqlite");
  // Literals with ';', quotes, comment markers; a trigger body of several statements; a value longer than a
  // read chunk (64 KiB) full of ';'; statements at every offset around the chunk boundaries; a last
  // statement without ';'.
  std::string sql =
      "BEGIN; -- a comment; with a semicolon\n"
      "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); /* block; comment */\n"
      "CREATE TABLE log (v TEXT);\n"
      "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('a;b'); INSERT INTO log VALUES "
      "(new.v); END;\n"
      "INSERT INTO t (v) VALUES ('it''s; -- not a comment /* nor this');\n"
      "INSERT INTO \"t\" ([v]) VALUES ('" +
      std::string(100000, ';') + "');\n";
  for (int i = 0; i < 3000; ++i) sql += "INSERT INTO t (v) VALUES ('row " + std::to_string(i) + ";');\n";
  sql += "INSERT INTO t (v) VALUES ('last');\nCOMMIT";
  std::ofstream(script, std::ios::binary) << sql;
  auto db = db::Database::open(path, db::OpenMode::create);
  ASSERT_TRUE(db.ok()) << db.error().message();
  auto ran = db->exec_file(script);
  ASSERT_TRUE(ran.ok()) << ran.error().message();
  EXPECT_EQ(db::query_int(*db, "SELECT count(*) FROM t").value(), 3003);
  EXPECT_EQ(db::query_int(*db, "SELECT count(*) FROM log").value(), 2 * 3003);
  EXPECT_EQ(
      db::query_int(*db, "SELECT count(*) FROM t WHERE v = 'it''s; -- not a comment /* nor this'").value(),
      1);
  EXPECT_EQ(db::query_int(*db, "SELECT length(v) FROM t WHERE id = 2").value(), 100000);
  EXPECT_EQ(db::query_int(*db, "SELECT count(*) FROM t WHERE v = 'row 2999;'").value(), 1);
  // An error stops the script there, naming SQLite's message.
  std::ofstream(script, std::ios::binary)
      << "INSERT INTO t (v) VALUES ('x'); INSERT INTO nowhere VALUES (1);";
  auto failed = db->exec_file(script);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("no such table: nowhere"), std::string::npos)
      << failed.error().message();
  EXPECT_FALSE(db->exec_file(dir.file("missing.sql")).ok());
}

}  // namespace
}  // namespace turso_sync
