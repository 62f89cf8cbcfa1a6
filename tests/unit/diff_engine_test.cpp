// Scenarios for the diff engine: what changeset a given base/target pair yields.
#include <gtest/gtest.h>

#include <thread>

#include "diff_test_support.h"
#include "turso_sync/changeset.h"
#include "turso_sync/diff.h"

namespace turso_sync {
namespace {

using difftest::exec;
using difftest::rows_of;
using testing::TempDir;

struct Pair {
  TempDir dir;
  std::string base = dir.file("base.db");
  std::string target = dir.file("target.db");
  // Creates the base with `setup`, copies it to the target, then runs `edit` on the target.
  Pair(const std::string& setup, const std::string& edit) {
    exec(base, setup);
    difftest::copy_file(base, target);
    if (!edit.empty()) exec(target, edit);
  }
  Changeset changeset(DiffSummary* summary = nullptr) {
    ChangesetCollector collector;
    auto r = diff_databases(base, target, collector);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    if (summary && r.ok()) *summary = *r;
    return collector.take();
  }
  // Applies the SQL rendering to a copy of the base with the sqlite3 shell and checks it equals the target.
  void expect_sql_reproduces_target() {
    std::string sql = difftest::diff_sql(base, target);
    std::string copy = dir.file("applied.db");
    difftest::copy_file(base, copy);
    difftest::apply_with_shell(copy, sql);
    difftest::expect_same_snapshot(difftest::snapshot(copy), difftest::snapshot(target), sql);
  }
};

TEST(DiffEngine, IdenticalDatabasesHaveNoChanges) {
  Pair p("CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES(1, 'a'), (2, 0.5);", "");
  DiffSummary s;
  Changeset c = p.changeset(&s);
  EXPECT_TRUE(c.empty());
  EXPECT_FALSE(s.has_changes());
  EXPECT_EQ(render_summary(s), "No changes.\n");
}

TEST(DiffEngine, RowChangesCarryKeyOldNewAndChangedColumns) {
  Pair p(
      "CREATE TABLE t(id INTEGER PRIMARY KEY, a, b); INSERT INTO t VALUES(1, 'x', 1), (2, 'y', 2), (3, 'z', "
      "3);",
      "UPDATE t SET b = 0.30000000000000004 WHERE id = 2; DELETE FROM t WHERE id = 1; "
      "INSERT INTO t VALUES(7, NULL, X'00');");
  DiffSummary s;
  Changeset c = p.changeset(&s);
  ASSERT_EQ(c.tables.size(), 1u);
  const TableChanges& t = c.tables[0];
  EXPECT_EQ(t.table.key_kind, KeyKind::rowid);
  EXPECT_EQ(t.table.rowid_alias, 0);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(rows_of(t)[0].op, RowOp::remove);
  EXPECT_EQ(rows_of(t)[0].key, std::vector<Value>{Value::integer(1)});
  EXPECT_EQ(rows_of(t)[0].old_values[1], Value::text("x"));
  EXPECT_EQ(rows_of(t)[1].op, RowOp::update);
  EXPECT_EQ(rows_of(t)[1].changed_columns, std::vector<int>{2});
  EXPECT_EQ(rows_of(t)[1].old_values[2], Value::integer(2));
  EXPECT_EQ(rows_of(t)[1].new_values[2], Value::real(0.1 + 0.2));
  EXPECT_EQ(rows_of(t)[2].op, RowOp::insert);
  EXPECT_EQ(rows_of(t)[2].new_values[2], Value::blob(std::string(1, '\0')));
  EXPECT_EQ(s.totals.inserts, 1);
  EXPECT_EQ(s.totals.updates, 1);
  EXPECT_EQ(s.totals.deletes, 1);
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, ExactComparisonSeesTypeAndBitChanges) {
  Pair p(
      "CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES(1, 1), (2, 0.0), (3, 'a'), (4, 0.3);",
      "UPDATE t SET v = 1.0 WHERE id = 1; UPDATE t SET v = -0.0 WHERE id = 2; UPDATE t SET v = X'61' WHERE "
      "id = 3;"
      "UPDATE t SET v = 0.30000000000000004 WHERE id = 4;");
  DiffSummary s;
  p.changeset(&s);
  EXPECT_EQ(s.totals.updates, 4);
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, WithoutRowidTablesAreMatchedByPrimaryKey) {
  Pair p(
      "CREATE TABLE k(a TEXT COLLATE NOCASE, b INTEGER, v, PRIMARY KEY(a, b)) WITHOUT ROWID;"
      "INSERT INTO k VALUES('x', 1, 'one'), ('x', 2, 'two'), ('y', 1, 'three');",
      "UPDATE k SET v = 'TWO' WHERE a = 'x' AND b = 2; UPDATE k SET a = 'Y' WHERE a = 'y';"
      "INSERT INTO k VALUES('a', 9, NULL);");
  Changeset c = p.changeset();
  ASSERT_EQ(c.tables.size(), 1u);
  const TableChanges& t = c.tables[0];
  EXPECT_EQ(t.table.key_kind, KeyKind::primary_key);
  EXPECT_EQ(t.table.key_collations, (std::vector<std::string>{"NOCASE", "BINARY"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(rows_of(t)[0].op, RowOp::insert);
  EXPECT_EQ(rows_of(t)[1].op, RowOp::update);
  EXPECT_EQ(rows_of(t)[1].key, (std::vector<Value>{Value::text("x"), Value::integer(2)}));
  // 'y' -> 'Y' is the same key under NOCASE: an update of the key column, not a delete and an insert.
  EXPECT_EQ(rows_of(t)[2].op, RowOp::update);
  EXPECT_EQ(rows_of(t)[2].key[0], Value::text("y"));
  EXPECT_EQ(rows_of(t)[2].changed_columns, std::vector<int>{0});
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, TableWithoutKeyIsMatchedByRowidWithWarning) {
  Pair p("CREATE TABLE log(msg); INSERT INTO log VALUES('a'), ('b');", "DELETE FROM log WHERE msg = 'a';");
  DiffSummary s;
  Changeset c = p.changeset(&s);
  ASSERT_EQ(c.tables.size(), 1u);
  EXPECT_EQ(c.tables[0].table.key_kind, KeyKind::none);
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_NE(s.warnings[0].find("log"), std::string::npos);
  EXPECT_NE(render_summary(s).find("warning"), std::string::npos);
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, WhitespaceAndQuotingOfSchemaSqlDoNotCount) {
  Pair p("CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX ai ON a(v);",
         "PRAGMA writable_schema = ON;"
         "UPDATE sqlite_schema SET sql = 'CREATE TABLE \"a\" (id  INTEGER primary key,\n v TEXT)' WHERE name "
         "= 'a';"
         "UPDATE sqlite_schema SET sql = 'create index ai on a (\"v\")' WHERE name = 'ai';");
  Changeset c = p.changeset();
  EXPECT_TRUE(c.empty()) << (c.schema.empty() ? "" : c.schema[0].name);
}

TEST(DiffEngine, InternalTablesAreSkipped) {
  Pair p(
      "CREATE TABLE turso_sync_meta(k, v); CREATE TABLE libsql_wasm_func_table(x);"
      "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, v);",
      "INSERT INTO turso_sync_meta VALUES(1, 2); INSERT INTO libsql_wasm_func_table VALUES(1);"
      "CREATE TABLE _litestream_seq(x); INSERT INTO t(v) VALUES('a');");
  Changeset c = p.changeset();
  EXPECT_TRUE(c.schema.empty());
  ASSERT_EQ(c.tables.size(), 1u);
  EXPECT_EQ(c.tables[0].table.name, "t");
}

TEST(DiffEngine, AddedColumnUsesAlterTableAndDefaultsForOldRows) {
  Pair p("CREATE TABLE t(id INTEGER PRIMARY KEY, a); INSERT INTO t VALUES(1, 'x'), (2, 'y');",
         "ALTER TABLE t ADD COLUMN n INTEGER NOT NULL DEFAULT 7; ALTER TABLE t ADD COLUMN s TEXT DEFAULT 'q';"
         "UPDATE t SET n = 8 WHERE id = 2; INSERT INTO t VALUES(3, 'z', 7, NULL);");
  Changeset c = p.changeset();
  ASSERT_EQ(c.schema.size(), 1u);
  EXPECT_EQ(c.schema[0].op, SchemaOp::add_column);
  EXPECT_EQ(c.schema[0].added_columns,
            (std::vector<std::string>{"n INTEGER NOT NULL DEFAULT 7", "s TEXT DEFAULT 'q'"}));
  ASSERT_EQ(c.tables.size(), 1u);
  ASSERT_EQ(c.tables[0].rows.size(), 2u);  // row 1 holds the defaults: unchanged
  EXPECT_EQ(rows_of(c.tables[0])[0].old_values[2], Value::integer(7));
  EXPECT_EQ(rows_of(c.tables[0])[0].changed_columns, std::vector<int>{2});
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, ColumnTypeChangeRebuildsTableAndItsDependents) {
  Pair p(
      "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b); CREATE INDEX tb ON t(b);"
      "CREATE VIEW tv AS SELECT id, a FROM t; CREATE VIEW tv2 AS SELECT * FROM tv;"
      "CREATE TABLE other(x); CREATE TRIGGER tr AFTER INSERT ON other BEGIN DELETE FROM t WHERE id = 0; END;"
      "INSERT INTO t VALUES(1, '10', 'keep'), (2, 'abc', NULL);",
      "DROP TRIGGER tr; DROP VIEW tv2; DROP VIEW tv;"
      "CREATE TABLE t2(id INTEGER PRIMARY KEY, a INTEGER, b); INSERT INTO t2 SELECT * FROM t; DROP TABLE t;"
      "ALTER TABLE t2 RENAME TO t; CREATE INDEX tb ON t(b);"
      "CREATE VIEW tv AS SELECT id, a FROM t; CREATE VIEW tv2 AS SELECT * FROM tv;"
      "CREATE TRIGGER tr AFTER INSERT ON other BEGIN DELETE FROM t WHERE id = 0; END;");
  DiffSummary s;
  Changeset c = p.changeset(&s);
  std::vector<std::string> ops;
  for (const SchemaChange& sc : c.schema) ops.push_back(std::string(to_string(sc.op)) + " " + sc.name);
  EXPECT_EQ(ops, (std::vector<std::string>{"drop_trigger tr", "drop_view tv2", "drop_view tv",
                                           "rebuild_table t", "create_index tb", "create_view tv",
                                           "create_view tv2", "create_trigger tr"}));
  EXPECT_TRUE(c.schema[3].copy_rows);
  // '10' became 10 through the copy into an INTEGER column, in the target as in the rebuilt base: no row
  // change.
  EXPECT_TRUE(c.tables.empty());
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, RebuildThatCannotCopyRowsInsertsThemAll) {
  Pair p("CREATE TABLE t(id INTEGER PRIMARY KEY, a); INSERT INTO t VALUES(1, NULL), (2, 'b');",
         "CREATE TABLE t2(id INTEGER PRIMARY KEY, a NOT NULL); INSERT INTO t2 VALUES(1, 'a'), (2, 'b'); DROP "
         "TABLE t;"
         "ALTER TABLE t2 RENAME TO t;");
  Changeset c = p.changeset();
  ASSERT_EQ(c.schema.size(), 1u);
  EXPECT_FALSE(c.schema[0].copy_rows);
  ASSERT_EQ(c.tables.size(), 1u);
  EXPECT_EQ(c.tables[0].counts.inserts, 2);
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, CreatedAndDroppedObjectsAreOrderedByDependency) {
  Pair p(
      "CREATE TABLE gone(x); CREATE INDEX gi ON gone(x); CREATE VIEW gv AS SELECT x FROM gone;"
      "CREATE TABLE keep(id INTEGER PRIMARY KEY, v);",
      "DROP VIEW gv; DROP TABLE gone; CREATE TABLE fresh(id INTEGER PRIMARY KEY, v REAL);"
      "INSERT INTO fresh VALUES(1, 1e308); CREATE INDEX fi ON fresh(v); CREATE VIEW fv AS SELECT * FROM "
      "fresh;"
      "CREATE TRIGGER ft AFTER INSERT ON keep BEGIN INSERT INTO fresh(v) VALUES(new.v); END;");
  DiffSummary s;
  Changeset c = p.changeset(&s);
  std::vector<std::string> ops;
  for (const SchemaChange& sc : c.schema) ops.push_back(std::string(to_string(sc.op)) + " " + sc.name);
  EXPECT_EQ(ops, (std::vector<std::string>{"drop_view gv", "drop_table gone", "create_table fresh",
                                           "create_index fi", "create_view fv", "create_trigger ft"}));
  EXPECT_EQ(s.totals.inserts, 1);
  std::string json = render_json(s);
  EXPECT_NE(json.find("\"op\":\"drop_table\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"inserts\":1"), std::string::npos) << json;
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, ReadsTargetSnapshotWithoutWaitingForWriters) {
  Pair p(
      "PRAGMA journal_mode = WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES(1, 'a');",
      "");
  exec(p.target, "PRAGMA journal_mode = WAL; INSERT INTO t VALUES(2, 'committed, in the WAL');");
  // An application holds the write lock with an uncommitted change.
  auto app = difftest::open_db(p.target);
  ASSERT_TRUE(
      app.exec("PRAGMA wal_autocheckpoint = 0; BEGIN IMMEDIATE; INSERT INTO t VALUES(3, 'uncommitted')")
          .ok());
  DiffSummary s;
  auto start = std::chrono::steady_clock::now();
  Changeset c = p.changeset(&s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  ASSERT_EQ(c.tables.size(), 1u);
  ASSERT_EQ(c.tables[0].rows.size(), 1u);
  EXPECT_EQ(rows_of(c.tables[0])[0].new_values[1], Value::text("committed, in the WAL"));
  ASSERT_TRUE(app.exec("COMMIT").ok());
}

TEST(DiffEngine, SqlIsTheSameWithOrWithoutTheRenderingThread) {
  Pair p(
      "CREATE TABLE t(id INTEGER PRIMARY KEY, v, w TEXT UNIQUE); CREATE TABLE n(x);"
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000) "
      "INSERT INTO t SELECT x, x * 0.5, 'w' || x FROM c; INSERT INTO n VALUES(1), (2);",
      "UPDATE t SET v = v + 1 WHERE id % 3 = 0; DELETE FROM t WHERE id % 7 = 0; UPDATE t SET w = 'w14' WHERE "
      "id = 6;"
      "INSERT INTO t(v) VALUES(1e308); DELETE FROM n WHERE x = 1; INSERT INTO n VALUES(3);");
  DiffSummary s;
  std::string inline_sql = difftest::diff_sql(p.base, p.target, &s, SqlWriter::Threading::inline_only);
  std::string background_sql =
      difftest::diff_sql(p.base, p.target, nullptr, SqlWriter::Threading::background);
  EXPECT_GT(s.totals.total(), 2000);
  EXPECT_EQ(inline_sql, background_sql);
  // Row 6 takes the unique value 'w14' of deleted row 14: the table's deletes must come before its updates.
  size_t del = inline_sql.find("DELETE FROM \"t\" WHERE \"id\"=14;");
  size_t upd = inline_sql.find("\"w\"='w14'");
  ASSERT_NE(del, std::string::npos);
  ASSERT_NE(upd, std::string::npos);
  EXPECT_LT(del, upd);
  p.expect_sql_reproduces_target();
}

TEST(DiffEngine, MissingFileIsAnError) {
  TempDir dir;
  exec(dir.file("a.db"), "CREATE TABLE t(x)");
  NullSink sink;
  auto r = diff_databases(dir.file("missing.db"), dir.file("a.db"), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::local_db);
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing.db")));
}

}  // namespace
}  // namespace turso_sync
