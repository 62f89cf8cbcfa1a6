// Scenarios for the three-way merge of a pull: a base database, the working copy (base + "ours" SQL), the new
// replica (base + "theirs" SQL); the delta base -> theirs is merged into ours, then rows and conflicts are
// checked.
#include "merge/merge.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include "diff_test_support.h"
#include "support/test_env.h"
#include "turso_sync/changeset.h"
#include "turso_sync/diff.h"

namespace turso_sync {
namespace {

using difftest::exec;
using testing::TempDir;

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> names(std::initializer_list<const char*> list) {
  return {list.begin(), list.end()};
}

struct Scenario {
  TempDir dir;
  std::string base = dir.file("base.db");
  std::string ours = dir.file("ours.db");
  std::string theirs = dir.file("theirs.db");
  Changeset delta;

  Scenario(const std::string& base_sql, const std::string& ours_sql, const std::string& theirs_sql) {
    exec(base, base_sql);
    difftest::copy_file(base, ours);
    difftest::copy_file(base, theirs);
    if (!ours_sql.empty()) exec(ours, ours_sql);
    if (!theirs_sql.empty()) exec(theirs, theirs_sql);
    ChangesetCollector collector;
    auto r = diff_databases(base, theirs, collector);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    delta = collector.take();
  }

  Result<MergeReport> try_merge(ConflictPolicy policy = ConflictPolicy::abort,
                                InsertCollision collision = InsertCollision::move_local,
                                int busy_timeout_ms = 5000) {
    auto db = db::Database::open(ours, db::OpenMode::read_write, busy_timeout_ms);
    if (!db.ok()) return std::move(db).error();
    MergeOptions options;
    options.on_conflict = policy;
    options.on_insert_collision = collision;
    options.theirs_path = theirs;
    options.base_path = base;
    return merge_into_working_copy(*db, delta, options);
  }

  MergeReport merge(ConflictPolicy policy = ConflictPolicy::abort,
                    InsertCollision collision = InsertCollision::move_local) {
    auto r = try_merge(policy, collision);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok() ? *r : MergeReport{};
  }

  // Rows of `sql` on the working copy, each as "v|v|v" (values rendered by describe(): 1, 0.5, 'a', X'00',
  // NULL).
  std::vector<std::string> rows(const std::string& sql, const std::string& path = "") const {
    std::vector<std::string> out;
    for (const auto& row : testing::local_rows(path.empty() ? ours : path, sql)) {
      std::string line;
      for (size_t i = 0; i < row.size(); ++i) line += (i ? "|" : "") + describe(row[i], 200);
      out.push_back(line);
    }
    return out;
  }
};

const char* k_emails =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER);"
    "INSERT INTO t VALUES(1, 'a', 1), (2, 'b', 2), (3, 'c', 3);";

// --- the rules without conflicts ---------------------------------------------------------------------------

TEST(Merge, TakesTheirsWhereOursIsUnchangedAndKeepsLocalChanges) {
  Scenario s(
      k_emails, "INSERT INTO t VALUES(10, 'local', 0); UPDATE t SET a = 'ours' WHERE id = 3;",
      "UPDATE t SET b = 20 WHERE id = 2; DELETE FROM t WHERE id = 1; INSERT INTO t VALUES(4, 'd', 4);");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_TRUE(r.moved.empty());
  EXPECT_EQ(r.taken.inserts, 1);
  EXPECT_EQ(r.taken.updates, 1);
  EXPECT_EQ(r.taken.deletes, 1);
  EXPECT_EQ(r.merged_columns, 0);
  EXPECT_EQ(r.discarded_sql, "");
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"),
            names({"2|'b'|20", "3|'ours'|3", "4|'d'|4", "10|'local'|0"}));
}

TEST(Merge, SameChangeOnBothSidesIsNothingToDo) {
  const char* same =
      "UPDATE t SET b = 20 WHERE id = 2; DELETE FROM t WHERE id = 1; INSERT INTO t VALUES(4, 'd', 4);";
  Scenario s(k_emails, same, same);
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_TRUE(r.moved.empty()) << "an identical insert is not a collision";
  EXPECT_EQ(r.taken.total(), 0);
  EXPECT_EQ(difftest::snapshot(s.ours), difftest::snapshot(s.theirs));
}

TEST(Merge, ChangesToDifferentColumnsAreMerged) {
  Scenario s(k_emails, "UPDATE t SET a = 'A' WHERE id = 1; UPDATE t SET a = 'B', b = 20 WHERE id = 2;",
             "UPDATE t SET b = 10 WHERE id = 1; UPDATE t SET b = 20 WHERE id = 2;");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(r.merged_columns, 1);  // row 2: theirs' only change is already ours
  EXPECT_EQ(r.taken.updates, 1);
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'A'|10", "2|'B'|20", "3|'c'|3"}));
}

// --- update/update and the three policies ------------------------------------------------------------------

const char* k_uu_ours = "UPDATE t SET a = 'ours' WHERE id = 1; INSERT INTO t VALUES(10, 'local', 0);";
const char* k_uu_theirs =
    "UPDATE t SET a = 'theirs', b = 9 WHERE id = 1; INSERT INTO t VALUES(4, 'd', 4); CREATE TABLE extra(x);"
    "INSERT INTO extra VALUES(1);";

TEST(Merge, AbortWithConflictsLeavesTheFileByteIdentical) {
  Scenario s(std::string(k_emails) + "CREATE TRIGGER keep AFTER UPDATE ON t BEGIN SELECT 1; END;", k_uu_ours,
             k_uu_theirs);
  std::string before = file_bytes(s.ours);
  MergeReport r = s.merge(ConflictPolicy::abort);
  EXPECT_FALSE(r.applied);
  ASSERT_EQ(r.conflicts.size(), 1u);
  const MergeConflict& c = r.conflicts[0];
  EXPECT_EQ(c.table, "t");
  EXPECT_EQ(c.kind, "update/update");
  EXPECT_EQ(c.key, std::vector<Value>{Value::integer(1)});
  EXPECT_EQ(c.columns, names({"id", "a", "b"}));
  EXPECT_EQ(c.base, (std::vector<Value>{Value::integer(1), Value::text("a"), Value::integer(1)}));
  EXPECT_EQ(c.ours, (std::vector<Value>{Value::integer(1), Value::text("ours"), Value::integer(1)}));
  EXPECT_EQ(c.theirs, (std::vector<Value>{Value::integer(1), Value::text("theirs"), Value::integer(9)}));
  EXPECT_EQ(c.conflicting_columns, std::vector<int>{1});
  EXPECT_EQ(r.discarded_sql, "");
  EXPECT_EQ(file_bytes(s.ours), before);
  EXPECT_FALSE(std::filesystem::exists(s.ours + "-journal"));
}

TEST(Merge, LocalPolicyKeepsOursAndStillTakesTheirOtherColumns) {
  Scenario s(k_emails, k_uu_ours, k_uu_theirs);
  MergeReport r = s.merge(ConflictPolicy::local);
  EXPECT_TRUE(r.applied);
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_EQ(r.merged_columns, 0);
  EXPECT_EQ(r.taken.inserts, 2);  // t row 4, extra row 1
  EXPECT_EQ(r.taken.updates, 1);  // column b of row 1
  EXPECT_EQ(r.discarded_sql, "");
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"),
            names({"1|'ours'|9", "2|'b'|2", "3|'c'|3", "4|'d'|4", "10|'local'|0"}));
  EXPECT_EQ(s.rows("SELECT * FROM extra"), names({"1"}));
}

TEST(Merge, RemotePolicyTakesTheirsAndTheDiscardedSqlRestoresOurs) {
  Scenario s(k_emails, k_uu_ours, k_uu_theirs);
  MergeReport r = s.merge(ConflictPolicy::remote);
  EXPECT_TRUE(r.applied);
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"),
            names({"1|'theirs'|9", "2|'b'|2", "3|'c'|3", "4|'d'|4", "10|'local'|0"}));
  ASSERT_NE(r.discarded_sql, "");
  difftest::apply_with_shell(s.ours, r.discarded_sql);
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"),
            names({"1|'ours'|9", "2|'b'|2", "3|'c'|3", "4|'d'|4", "10|'local'|0"}));
}

// --- update vs delete, both ways
// ------------------------------------------------------------------------------

TEST(Merge, WeUpdatedTheyDeleted) {
  const char* ours = "UPDATE t SET a = 'ours' WHERE id = 1;";
  const char* theirs = "DELETE FROM t WHERE id = 1; UPDATE t SET b = 5 WHERE id = 2;";
  {
    Scenario s(k_emails, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::abort);
    EXPECT_FALSE(r.applied);
    ASSERT_EQ(r.conflicts.size(), 1u);
    EXPECT_EQ(r.conflicts[0].kind, "update/delete");
    EXPECT_EQ(r.conflicts[0].base,
              (std::vector<Value>{Value::integer(1), Value::text("a"), Value::integer(1)}));
    EXPECT_EQ(r.conflicts[0].ours,
              (std::vector<Value>{Value::integer(1), Value::text("ours"), Value::integer(1)}));
    EXPECT_TRUE(r.conflicts[0].theirs.empty());
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'ours'|1", "2|'b'|2", "3|'c'|3"}));
  }
  {
    Scenario s(k_emails, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::local);
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(r.conflicts.size(), 1u);
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'ours'|1", "2|'b'|5", "3|'c'|3"}));
  }
  {
    Scenario s(k_emails, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::remote);
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(r.taken.deletes, 1);
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"2|'b'|5", "3|'c'|3"}));
    difftest::apply_with_shell(s.ours, r.discarded_sql);
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'ours'|1", "2|'b'|5", "3|'c'|3"}));
  }
}

TEST(Merge, WeDeletedTheyUpdated) {
  const char* ours = "DELETE FROM t WHERE id = 1;";
  const char* theirs = "UPDATE t SET a = 'theirs' WHERE id = 1;";
  {
    Scenario s(k_emails, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::abort);
    EXPECT_FALSE(r.applied);
    ASSERT_EQ(r.conflicts.size(), 1u);
    EXPECT_EQ(r.conflicts[0].kind, "delete/update");
    EXPECT_TRUE(r.conflicts[0].ours.empty());
    EXPECT_EQ(r.conflicts[0].theirs,
              (std::vector<Value>{Value::integer(1), Value::text("theirs"), Value::integer(1)}));
  }
  {
    Scenario s(k_emails, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::local);
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"2|'b'|2", "3|'c'|3"}));
  }
  {
    Scenario s(k_emails, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::remote);
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'theirs'|1", "2|'b'|2", "3|'c'|3"}));
    difftest::apply_with_shell(s.ours, r.discarded_sql);
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"2|'b'|2", "3|'c'|3"}));
  }
}

// --- inserts on both sides
// -----------------------------------------------------------------------------------

TEST(Merge, InsertInsertOnATextKeyIsAConflict) {
  const char* base = "CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID; INSERT INTO kv VALUES('a', 1);";
  const char* ours = "INSERT INTO kv VALUES('x', 'ours');";
  const char* theirs = "INSERT INTO kv VALUES('x', 'theirs'), ('y', 'theirs');";
  {
    Scenario s(base, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::abort);
    EXPECT_FALSE(r.applied);
    ASSERT_EQ(r.conflicts.size(), 1u);
    EXPECT_EQ(r.conflicts[0].kind, "insert/insert");
    EXPECT_EQ(r.conflicts[0].key, std::vector<Value>{Value::text("x")});
    EXPECT_TRUE(r.conflicts[0].base.empty());
    EXPECT_TRUE(r.moved.empty());
  }
  {
    Scenario s(base, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::local);
    EXPECT_EQ(s.rows("SELECT * FROM kv ORDER BY k"), names({"'a'|1", "'x'|'ours'", "'y'|'theirs'"}));
  }
  {
    Scenario s(base, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::remote);
    EXPECT_EQ(s.rows("SELECT * FROM kv ORDER BY k"), names({"'a'|1", "'x'|'theirs'", "'y'|'theirs'"}));
    difftest::apply_with_shell(s.ours, r.discarded_sql);
    EXPECT_EQ(s.rows("SELECT * FROM kv ORDER BY k"), names({"'a'|1", "'x'|'ours'", "'y'|'theirs'"}));
  }
}

TEST(Merge, KeysAreComparedWithTheirCollation) {
  Scenario s(
      "CREATE TABLE u(name TEXT COLLATE NOCASE PRIMARY KEY, v) WITHOUT ROWID;"
      "INSERT INTO u VALUES('bob', 1);",
      "INSERT INTO u VALUES('Alice', 'ours');",
      "INSERT INTO u VALUES('alice', 'theirs'); UPDATE u SET name = 'BOB' WHERE name = 'bob';");
  MergeReport r = s.merge(ConflictPolicy::local);
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_EQ(r.conflicts[0].kind, "insert/insert");
  EXPECT_EQ(r.conflicts[0].ours, (std::vector<Value>{Value::text("Alice"), Value::text("ours")}));
  EXPECT_EQ(s.rows("SELECT * FROM u ORDER BY name"), names({"'Alice'|'ours'", "'BOB'|1"}));
}

const char* k_mail_schema =
    "CREATE TABLE emails(id INTEGER PRIMARY KEY, subject TEXT);"
    "CREATE TABLE attachments(id INTEGER PRIMARY KEY, email_id INTEGER REFERENCES emails(id), name TEXT);"
    "CREATE TABLE notes(id INTEGER PRIMARY KEY, about INTEGER REFERENCES emails, body TEXT);"
    "CREATE TABLE other(id INTEGER PRIMARY KEY, email_subject TEXT REFERENCES emails(subject));"
    "INSERT INTO emails VALUES(100, 'old');";

TEST(Merge, CollidingAutoIdsMoveTheLocalRowAndItsReferences) {
  Scenario s(k_mail_schema,
             "INSERT INTO emails(subject) VALUES('mine');"  // 101
             "INSERT INTO attachments(email_id, name) VALUES(101, 'mine.pdf');"
             "INSERT INTO notes(about, body) VALUES(101, 'note');"
             "INSERT INTO other VALUES(1, '101');",
             "INSERT INTO emails(subject) VALUES('theirs');"  // 101
             "INSERT INTO emails VALUES(102, 'theirs too');"
             "INSERT INTO attachments(email_id, name) VALUES(101, 'theirs.pdf');");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_TRUE(r.conflicts.empty());
  ASSERT_EQ(r.moved.size(), 2u);
  EXPECT_EQ(r.moved[0].table, "emails");
  EXPECT_EQ(r.moved[0].from, 101);
  EXPECT_EQ(r.moved[0].to, 103);
  EXPECT_EQ(r.moved[0].updated_references, names({"attachments.email_id", "notes.about"}));
  EXPECT_EQ(r.moved[1].table, "attachments");  // its local row now differs from theirs: it moves too
  EXPECT_EQ(r.moved[1].from, 1);
  EXPECT_EQ(r.moved[1].to, 2);
  EXPECT_EQ(r.taken.inserts, 3);
  EXPECT_EQ(s.rows("SELECT * FROM emails ORDER BY id"),
            names({"100|'old'", "101|'theirs'", "102|'theirs too'", "103|'mine'"}));
  EXPECT_EQ(s.rows("SELECT * FROM attachments ORDER BY id"),
            names({"1|101|'theirs.pdf'", "2|103|'mine.pdf'"}));
  EXPECT_EQ(s.rows("SELECT * FROM notes ORDER BY id"), names({"1|103|'note'"}));
  EXPECT_EQ(s.rows("SELECT * FROM other ORDER BY id"), names({"1|'101'"})) << "not a reference to the key";
}

TEST(Merge, ChildIdenticalBeforeItsParentMovedAlsoMoves) {
  // The child table comes first in the schema, so it is examined before the parent moves.
  Scenario s(
      "CREATE TABLE att(id INTEGER PRIMARY KEY, email_id INTEGER REFERENCES emails(id), name TEXT);"
      "CREATE TABLE emails(id INTEGER PRIMARY KEY, subject TEXT);",
      "INSERT INTO emails VALUES(1, 'mine'); INSERT INTO att VALUES(1, 1, 'same');",
      "INSERT INTO emails VALUES(1, 'theirs'); INSERT INTO att VALUES(1, 1, 'same');");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(r.moved.size(), 2u);
  EXPECT_EQ(s.rows("SELECT * FROM emails ORDER BY id"), names({"1|'theirs'", "2|'mine'"}));
  EXPECT_EQ(s.rows("SELECT * FROM att ORDER BY id"), names({"1|1|'same'", "2|2|'same'"}));
}

TEST(Merge, SeveralCollisionsGetIncreasingKeysAboveBothSides) {
  // Ours deleted row 50, which theirs still has: fresh keys start above 50.
  Scenario s(
      "CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES(1, 'a'), (2, 'b'), (50, 'top');",
      "DELETE FROM t WHERE id = 50; INSERT INTO t(v) VALUES('o3'), ('o4'), ('o5');",
      "INSERT INTO t VALUES(3, 't3'), (4, 'o4'), (5, 't5');");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.conflicts.empty());
  ASSERT_EQ(r.moved.size(), 2u);
  EXPECT_EQ(r.moved[0].from, 3);
  EXPECT_EQ(r.moved[0].to, 51);
  EXPECT_EQ(r.moved[1].from, 5);
  EXPECT_EQ(r.moved[1].to, 52);
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"),
            names({"1|'a'", "2|'b'", "3|'t3'", "4|'o4'", "5|'t5'", "51|'o3'", "52|'o5'"}));
}

TEST(Merge, FreshKeysStayAboveAnAutoincrementCounter) {
  Scenario s(
      "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, v); INSERT INTO t VALUES(1, 'a');",
      "INSERT INTO t(v) VALUES('mine');",  // 2
      "INSERT INTO t VALUES(90, 'gone'); DELETE FROM t WHERE id = 90; INSERT INTO t VALUES(2, 'theirs');");
  MergeReport r = s.merge();
  ASSERT_EQ(r.moved.size(), 1u);
  EXPECT_EQ(r.moved[0].to, 91);
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'a'", "2|'theirs'", "91|'mine'"}));
}

TEST(Merge, RowsOfATableWithoutKeyMoveByRowid) {
  Scenario s("CREATE TABLE log(msg); INSERT INTO log VALUES('base');", "INSERT INTO log VALUES('ours');",
             "INSERT INTO log VALUES('theirs');");
  MergeReport r = s.merge();
  ASSERT_EQ(r.moved.size(), 1u);
  EXPECT_EQ(s.rows("SELECT rowid, msg FROM log ORDER BY rowid"),
            names({"1|'base'", "2|'theirs'", "3|'ours'"}));
}

TEST(Merge, InsertCollisionPolicyConflictReportsInsteadOfMoving) {
  Scenario s(k_mail_schema, "INSERT INTO emails(subject) VALUES('mine');",
             "INSERT INTO emails(subject) VALUES('theirs');");
  MergeReport r = s.merge(ConflictPolicy::abort, InsertCollision::conflict);
  EXPECT_FALSE(r.applied);
  EXPECT_TRUE(r.moved.empty());
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_EQ(r.conflicts[0].kind, "insert/insert");
  EXPECT_EQ(r.conflicts[0].key, std::vector<Value>{Value::integer(101)});
}

// --- schema, triggers, locks -------------------------------------------------------------------------------

TEST(Merge, SchemaChangesAreAppliedBeforeRows) {
  Scenario s("CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES(1, 'a'), (2, 'b');",
             "UPDATE t SET a = 'ours' WHERE id = 1; INSERT INTO t VALUES(3, 'local');",
             "ALTER TABLE t ADD COLUMN c INTEGER DEFAULT 7; UPDATE t SET c = 8 WHERE id = 2;"
             "CREATE TABLE fresh(id INTEGER PRIMARY KEY, x); INSERT INTO fresh VALUES(1, 'new');"
             "CREATE INDEX t_a ON t(a);");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'ours'|7", "2|'b'|8", "3|'local'|7"}));
  EXPECT_EQ(s.rows("SELECT * FROM fresh"), names({"1|'new'"}));
  EXPECT_EQ(s.rows("SELECT name FROM sqlite_schema WHERE type = 'index'"), names({"'t_a'"}));
}

TEST(Merge, SchemaChangeClashingWithALocalOneIsAnErrorAndChangesNothing) {
  Scenario s(k_emails, "CREATE TABLE fresh(y); UPDATE t SET a = 'ours' WHERE id = 2;",
             "CREATE TABLE fresh(id INTEGER PRIMARY KEY, x); INSERT INTO fresh VALUES(1, 'new');"
             "UPDATE t SET b = 0 WHERE id = 1;");
  std::string before = file_bytes(s.ours);
  auto r = s.try_merge(ConflictPolicy::abort);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::conflict);
  EXPECT_NE(r.error().message().find("fresh"), std::string::npos) << r.error().message();
  EXPECT_EQ(file_bytes(s.ours), before);
}

TEST(Merge, SchemaConflictSettledByRemoteTakesTheirsAndSavesOurs) {
  Scenario s(k_emails, "CREATE TABLE fresh(y); INSERT INTO fresh VALUES('mine');",
             "CREATE TABLE fresh(id INTEGER PRIMARY KEY, x); INSERT INTO fresh VALUES(1, 'new');");
  MergeReport r = s.merge(ConflictPolicy::remote);
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(s.rows("SELECT * FROM fresh"), names({"1|'new'"}));
  EXPECT_NE(r.discarded_sql.find("'mine'"), std::string::npos) << r.discarded_sql;
}

TEST(Merge, RemoteDropOfALocallyEditedColumnIsAConflict) {
  Scenario s(k_emails, "UPDATE t SET b = 20 WHERE id = 2;", "ALTER TABLE t DROP COLUMN b;");
  std::string before = file_bytes(s.ours);
  auto r = s.try_merge(ConflictPolicy::abort);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::conflict);
  EXPECT_NE(r.error().message().find("dropped column(s) b"), std::string::npos) << r.error().message();
  EXPECT_EQ(file_bytes(s.ours), before);
}

TEST(Merge, RemoteRenameOfAColumnCarriesLocalEdits) {
  Scenario s(k_emails, "UPDATE t SET a = 'ours' WHERE id = 2;",
             "ALTER TABLE t RENAME COLUMN a TO body; UPDATE t SET b = 30 WHERE id = 3;");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(s.rows("SELECT id, body, b FROM t ORDER BY id"), names({"1|'a'|1", "2|'ours'|2", "3|'c'|30"}));
}

TEST(Merge, DeletesComeFirstSoUniqueValuesCanMoveBetweenRows) {
  Scenario s(
      "CREATE TABLE u(id INTEGER PRIMARY KEY, email TEXT UNIQUE); INSERT INTO u VALUES(1, 'x'), (2, 'y');",
      "", "DELETE FROM u WHERE id = 1; UPDATE u SET email = 'x' WHERE id = 2; INSERT INTO u VALUES(3, 'y');");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(s.rows("SELECT * FROM u ORDER BY id"), names({"2|'x'", "3|'y'"}));
}

TEST(Merge, RebuiltTableKeepsLocalRows) {
  Scenario s(k_emails, "UPDATE t SET a = 'ours' WHERE id = 2; INSERT INTO t(id, a) VALUES(10, 'local');",
             "ALTER TABLE t DROP COLUMN b; UPDATE t SET a = 'theirs' WHERE id = 3;");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'a'", "2|'ours'", "3|'theirs'", "10|'local'"}));
}

TEST(Merge, DroppingATableWithLocalChangesIsAConflict) {
  const char* base =
      "CREATE TABLE t(id INTEGER PRIMARY KEY, a); INSERT INTO t VALUES(1, 'a');"
      "CREATE TABLE keep(x); INSERT INTO keep VALUES(1);";
  {
    Scenario s(base, "UPDATE t SET a = 'ours' WHERE id = 1;", "DROP TABLE t; INSERT INTO keep VALUES(2);");
    std::string before = file_bytes(s.ours);
    for (ConflictPolicy policy : {ConflictPolicy::abort, ConflictPolicy::local}) {
      auto r = s.try_merge(policy);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().kind(), ErrorKind::conflict);
      EXPECT_NE(r.error().message().find("dropped table t"), std::string::npos) << r.error().message();
      EXPECT_EQ(file_bytes(s.ours), before);
    }
    // Taking theirs drops the table and saves our rows in the discarded-changes script.
    MergeReport r = s.merge(ConflictPolicy::remote);
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(s.rows("SELECT count(*) FROM sqlite_schema WHERE name = 't'"), names({"0"}));
    EXPECT_NE(r.discarded_sql.find("'ours'"), std::string::npos) << r.discarded_sql;
  }
  {
    Scenario s(base, "INSERT INTO keep VALUES(3);", "DROP TABLE t; INSERT INTO keep VALUES(2);");
    MergeReport r = s.merge();
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(s.rows("SELECT count(*) FROM sqlite_schema WHERE name = 't'"), names({"0"}));
    EXPECT_EQ(s.rows("SELECT x FROM keep ORDER BY x"), names({"1", "2", "3"}));
  }
}

TEST(Merge, RebuildThatCannotKeepRowsRefusesToLoseLocalChanges) {
  // A new NOT NULL column without default: the rebuild cannot copy rows, every row arrives as an insert.
  const char* base = "CREATE TABLE t(id INTEGER PRIMARY KEY, a); INSERT INTO t VALUES(1, 'a'), (2, 'b');";
  const char* theirs =
      "CREATE TABLE t2(id INTEGER PRIMARY KEY, a, b NOT NULL);"
      "INSERT INTO t2 SELECT id, a, 'x' FROM t; DROP TABLE t; ALTER TABLE t2 RENAME TO t;";
  {
    Scenario s(base, "INSERT INTO t VALUES(3, 'local');", theirs);
    bool no_copy = false;
    for (const SchemaChange& c : s.delta.schema) no_copy |= c.op == SchemaOp::rebuild_table && !c.copy_rows;
    ASSERT_TRUE(no_copy) << "the scenario needs a rebuild without copy";
    auto r = s.try_merge();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::conflict);
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'a'", "2|'b'", "3|'local'"}));
  }
  {
    Scenario s(base, "", theirs);
    MergeReport r = s.merge();
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'a'|'x'", "2|'b'|'x'"}));
  }
}

TEST(Merge, SameSchemaChangeOnBothSidesIsNothingToDo) {
  const char* both = "CREATE TABLE fresh(id INTEGER PRIMARY KEY, x); CREATE INDEX fresh_x ON fresh(x);";
  Scenario s(k_emails, std::string(both) + "INSERT INTO fresh VALUES(1, 'ours');",
             std::string(both) + "INSERT INTO fresh VALUES(2, 'theirs');");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(s.rows("SELECT * FROM fresh ORDER BY id"), names({"1|'ours'", "2|'theirs'"}));
}

// A pull interrupted after the merge committed but before the replica moved is redone with the same delta.
TEST(Merge, RedoingAMergeChangesNothing) {
  Scenario s(
      std::string(k_mail_schema) + "INSERT INTO emails VALUES(1, 'one');",
      "INSERT INTO emails(subject) VALUES('mine'); UPDATE emails SET subject = 'ours' WHERE id = 1;",
      "INSERT INTO emails(subject) VALUES('theirs'); ALTER TABLE emails ADD COLUMN sent INTEGER DEFAULT 0;"
      "UPDATE emails SET sent = 1 WHERE id = 1; ALTER TABLE notes DROP COLUMN body;"
      "CREATE TABLE fresh(x); INSERT INTO fresh VALUES(1); CREATE INDEX e_s ON emails(subject);"
      "DROP TABLE other;");
  MergeReport first = s.merge();
  EXPECT_TRUE(first.applied);
  EXPECT_EQ(first.moved.size(), 1u);
  EXPECT_EQ(first.merged_columns, 1);
  std::string after_first = difftest::snapshot(s.ours);
  MergeReport again = s.merge();
  EXPECT_TRUE(again.applied);
  EXPECT_TRUE(again.conflicts.empty());
  EXPECT_TRUE(again.moved.empty());
  EXPECT_EQ(again.taken.total(), 0);
  EXPECT_EQ(again.merged_columns, 0);
  EXPECT_EQ(difftest::snapshot(s.ours), after_first);
}

TEST(Merge, BeforeCommitSeesTheReportAndItsErrorRollsBack) {
  Scenario s(k_emails, k_uu_ours, k_uu_theirs);
  std::string before = file_bytes(s.ours);
  auto db = db::Database::open(s.ours, db::OpenMode::read_write);
  ASSERT_TRUE(db.ok());
  MergeOptions options;
  options.on_conflict = ConflictPolicy::remote;
  options.theirs_path = s.theirs;
  options.base_path = s.base;
  std::string seen;
  options.before_commit = [&](const MergeReport& report) -> Status {
    seen = report.discarded_sql;
    return Error(ErrorKind::io, "disk full");
  };
  auto r = merge_into_working_copy(*db, s.delta, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::io);
  EXPECT_NE(seen.find("'ours'"), std::string::npos) << seen;
  EXPECT_EQ(file_bytes(s.ours), before);
}

TEST(Merge, TriggersOfTheWorkingCopyDoNotFireAgain) {
  const char* base =
      "CREATE TABLE t(id INTEGER PRIMARY KEY, v);"
      "CREATE TABLE log(id INTEGER PRIMARY KEY, what TEXT);"
      "INSERT INTO t VALUES(1, 'a'), (3, 'c');"
      "CREATE TRIGGER t_upd AFTER UPDATE ON t BEGIN INSERT INTO log(what) VALUES('updated ' || new.id); END;"
      "CREATE TRIGGER \"t ins\" AFTER INSERT ON t BEGIN INSERT INTO log(what) VALUES('inserted ' || new.id); "
      "END;"
      "CREATE TRIGGER t_del BEFORE DELETE ON t BEGIN INSERT INTO log(what) VALUES('deleted ' || old.id); "
      "END;";
  // Our own update logged 'updated 3' as log row 1; theirs logged three rows, 1 to 3.
  Scenario s(base, "UPDATE t SET v = 'local' WHERE id = 3;",
             "UPDATE t SET v = 'b' WHERE id = 1; INSERT INTO t VALUES(2, 'c'); DELETE FROM t WHERE id = 2;");
  auto triggers_before = s.rows("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY name");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(s.rows("SELECT * FROM log ORDER BY id"),
            names({"1|'updated 1'", "2|'inserted 2'", "3|'deleted 2'", "4|'updated 3'"}));
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'b'", "3|'local'"}));
  EXPECT_EQ(s.rows("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' ORDER BY name"),
            triggers_before);
  exec(s.ours, "UPDATE t SET v = 'z' WHERE id = 1;");  // the triggers are back and work
  EXPECT_EQ(s.rows("SELECT * FROM log ORDER BY id DESC LIMIT 1"), names({"5|'updated 1'"}));
}

TEST(Merge, BusyWorkingCopyFailsAfterTheBusyTimeoutChangingNothing) {
  Scenario s(k_emails, "", "UPDATE t SET b = 20 WHERE id = 2;");
  auto app = db::Database::open(s.ours, db::OpenMode::read_write);
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE(app->exec("BEGIN IMMEDIATE; INSERT INTO t VALUES(9, 'app', 9);").ok());
  auto start = std::chrono::steady_clock::now();
  auto r = s.try_merge(ConflictPolicy::abort, InsertCollision::move_local, 200);
  auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::busy);
  EXPECT_NE(r.error().message().find(s.ours), std::string::npos) << r.error().message();
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_LT(waited, std::chrono::seconds(4));
  ASSERT_TRUE(app->exec("COMMIT").ok());
  EXPECT_EQ(s.rows("SELECT * FROM t ORDER BY id"), names({"1|'a'|1", "2|'b'|2", "3|'c'|3", "9|'app'|9"}));
  MergeReport again = s.merge();  // once the application is done, the merge goes through
  EXPECT_TRUE(again.applied);
  EXPECT_EQ(s.rows("SELECT b FROM t WHERE id = 2"), names({"20"}));
}

TEST(Merge, EmptyDeltaDoesNotWaitForTheLock) {
  Scenario s(k_emails, "", "");
  ASSERT_TRUE(s.delta.empty());
  auto app = db::Database::open(s.ours, db::OpenMode::read_write);
  ASSERT_TRUE(app.ok());
  ASSERT_TRUE(app->exec("BEGIN IMMEDIATE; INSERT INTO t VALUES(9, 'app', 9);").ok());
  auto r = s.try_merge(ConflictPolicy::abort, InsertCollision::move_local, 5000);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->applied);
}

TEST(Merge, ConnectionInsideATransactionIsRefused) {
  Scenario s(k_emails, "", "UPDATE t SET b = 20 WHERE id = 2;");
  auto db = db::Database::open(s.ours, db::OpenMode::read_write);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->exec("BEGIN").ok());
  auto r = merge_into_working_copy(*db, s.delta, MergeOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::internal);
}

TEST(Merge, ConstraintClashWithALocalRowIsAConflictError) {
  Scenario s("CREATE TABLE u(id INTEGER PRIMARY KEY, email TEXT UNIQUE);",
             "INSERT INTO u VALUES(1, 'x@example.com');", "INSERT INTO u VALUES(7, 'x@example.com');");
  std::string before = file_bytes(s.ours);
  auto r = s.try_merge(ConflictPolicy::local);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::conflict);
  EXPECT_NE(r.error().message().find("UNIQUE"), std::string::npos) << r.error().message();
  EXPECT_EQ(file_bytes(s.ours), before);
}

TEST(Merge, ForeignKeyEnforcementIsSuspendedAndRestored) {
  // Theirs deleted a parent (no children on their side); a local child refers to it. With enforcement on, the
  // cascade would silently delete the local child; without a check, the child would dangle.
  const char* base =
      "CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT);"
      "CREATE TABLE c(id INTEGER PRIMARY KEY, p INTEGER REFERENCES p(id) ON DELETE CASCADE);"
      "INSERT INTO p VALUES(1, 'parent');";
  for (ConflictPolicy policy : {ConflictPolicy::abort, ConflictPolicy::local, ConflictPolicy::remote}) {
    Scenario s(base, "INSERT INTO c VALUES(1, 1);", "DELETE FROM p WHERE id = 1;");
    auto db = db::Database::open(s.ours, db::OpenMode::read_write);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("PRAGMA foreign_keys = ON").ok());
    MergeOptions options;
    options.theirs_path = s.theirs;
    options.base_path = s.base;
    options.on_conflict = policy;
    auto r = merge_into_working_copy(*db, s.delta, options);
    EXPECT_EQ(*db::query_int(*db, "PRAGMA foreign_keys"), 1);
    EXPECT_EQ(s.rows("PRAGMA foreign_key_check"), names({})) << "a foreign key left dangling";
    if (policy == ConflictPolicy::abort) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().kind(), ErrorKind::conflict);
      EXPECT_NE(r.error().message().find("table c row 1"), std::string::npos) << r.error().message();
      EXPECT_EQ(s.rows("SELECT * FROM p"), names({"1|'parent'"})) << "nothing applied";
      continue;
    }
    ASSERT_TRUE(r.ok()) << r.error().message();
    if (policy == ConflictPolicy::local) {  // ours wins: the parent as last pulled comes back
      EXPECT_EQ(s.rows("SELECT * FROM c"), names({"1|1"}));
      EXPECT_EQ(s.rows("SELECT * FROM p"), names({"1|'parent'"}));
    } else {  // theirs wins: our child goes, saved
      EXPECT_EQ(s.rows("SELECT * FROM c"), names({}));
      EXPECT_EQ(s.rows("SELECT * FROM p"), names({}));
      EXPECT_NE(r->discarded_sql.find("INSERT INTO \"c\" VALUES(1, 1)"), std::string::npos)
          << r->discarded_sql;
    }
  }
}

// A local delete of a parent (its children cascaded away) against a remote new child of it: the mirror case.
TEST(Merge, LocalDeleteOfAParentAgainstARemoteNewChildIsAConflict) {
  const char* base =
      "CREATE TABLE emails(id INTEGER PRIMARY KEY, subject TEXT);"
      "CREATE TABLE attachments(id INTEGER PRIMARY KEY, email_id INTEGER REFERENCES emails(id) ON DELETE "
      "CASCADE, name TEXT);"
      "INSERT INTO emails VALUES(1, 'hello'); INSERT INTO attachments VALUES(1, 1, 'a.pdf');";
  const char* ours = "PRAGMA foreign_keys = ON; DELETE FROM emails WHERE id = 1;";
  const char* theirs = "INSERT INTO attachments VALUES(2, 1, 'b.pdf');";
  {
    Scenario s(base, ours, theirs);
    auto r = s.try_merge(ConflictPolicy::abort);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind(), ErrorKind::conflict);
    EXPECT_NE(r.error().message().find("you deleted"), std::string::npos) << r.error().message();
    EXPECT_EQ(s.rows("SELECT count(*) FROM attachments"), names({"0"})) << "nothing applied";
  }
  {
    Scenario s(base, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::remote);  // the remote's side: the email comes back
    EXPECT_EQ(s.rows("SELECT * FROM emails"), names({"1|'hello'"}));
    EXPECT_EQ(s.rows("SELECT id, name FROM attachments"), names({"2|'b.pdf'"}));
    EXPECT_EQ(s.rows("PRAGMA foreign_key_check"), names({}));
    EXPECT_NE(r.discarded_sql.find("DELETE FROM \"emails\""), std::string::npos) << r.discarded_sql;
  }
  {
    Scenario s(base, ours, theirs);
    MergeReport r = s.merge(ConflictPolicy::local);  // ours: the email stays deleted, their attachment goes
    EXPECT_EQ(s.rows("SELECT count(*) FROM emails"), names({"0"}));
    EXPECT_EQ(s.rows("SELECT count(*) FROM attachments"), names({"0"}));
    EXPECT_NE(r.discarded_sql.find("b.pdf"), std::string::npos) << r.discarded_sql;
  }
}

// --- names and values --------------------------------------------------------------------------------------

TEST(Merge, OddIdentifiers) {
  const char* base =
      "CREATE TABLE \"we\"\"ird tab\"(\"i d\" INTEGER PRIMARY KEY, \"naïve 列\" TEXT, \"sp ace\" INTEGER,"
      " [select] TEXT);"
      "INSERT INTO \"we\"\"ird tab\" VALUES(1, 'a', 1, 's'), (2, 'b', 2, 's');"
      "CREATE TABLE \"kéy tab\"(\"k\"\"1\" TEXT, \"k 2\" INTEGER, v, PRIMARY KEY(\"k 2\", \"k\"\"1\")) "
      "WITHOUT ROWID;"
      "INSERT INTO \"kéy tab\" VALUES('x', 1, 'base');";
  const char* ours =
      "UPDATE \"we\"\"ird tab\" SET \"naïve 列\" = 'ours' WHERE \"i d\" = 1;"
      "UPDATE \"we\"\"ird tab\" SET [select] = 'ours' WHERE \"i d\" = 2;"
      "UPDATE \"kéy tab\" SET v = 'ours' WHERE \"k\"\"1\" = 'x';";
  const char* theirs =
      "UPDATE \"we\"\"ird tab\" SET \"naïve 列\" = 'theirs' WHERE \"i d\" = 1;"
      "UPDATE \"we\"\"ird tab\" SET \"sp ace\" = 20 WHERE \"i d\" = 2;"
      "INSERT INTO \"we\"\"ird tab\" VALUES(3, 'c', 3, 'theirs');"
      "UPDATE \"kéy tab\" SET v = 'theirs' WHERE \"k\"\"1\" = 'x';"
      "INSERT INTO \"kéy tab\" VALUES('y', 2, 'new');";
  Scenario s(base, ours, theirs);
  MergeReport r = s.merge(ConflictPolicy::remote);
  EXPECT_TRUE(r.applied);
  ASSERT_EQ(r.conflicts.size(), 2u);
  EXPECT_EQ(r.conflicts[0].table, "we\"ird tab");
  EXPECT_EQ(r.conflicts[0].columns, names({"i d", "naïve 列", "sp ace", "select"}));
  EXPECT_EQ(r.conflicts[1].key, (std::vector<Value>{Value::integer(1), Value::text("x")}));
  EXPECT_EQ(r.merged_columns, 1);
  EXPECT_EQ(s.rows("SELECT * FROM \"we\"\"ird tab\" ORDER BY 1"),
            names({"1|'theirs'|1|'s'", "2|'b'|20|'ours'", "3|'c'|3|'theirs'"}));
  EXPECT_EQ(s.rows("SELECT * FROM \"kéy tab\" ORDER BY 2"), names({"'x'|1|'theirs'", "'y'|2|'new'"}));
  difftest::apply_with_shell(s.ours, r.discarded_sql);
  EXPECT_EQ(s.rows("SELECT * FROM \"we\"\"ird tab\" ORDER BY 1"),
            names({"1|'ours'|1|'s'", "2|'b'|20|'ours'", "3|'c'|3|'theirs'"}));
  EXPECT_EQ(s.rows("SELECT * FROM \"kéy tab\" ORDER BY 2"), names({"'x'|1|'ours'", "'y'|2|'new'"}));
}

TEST(Merge, ValuesAreComparedAndWrittenExactly) {
  const char* base =
      "CREATE TABLE v(id INTEGER PRIMARY KEY, r, b, t, n);"
      "INSERT INTO v VALUES(1, 0.5, X'00', 'a', 1), (2, 1.5, NULL, 'x', NULL), (4, 1, 'same', NULL, NULL);";
  const char* ours =
      "UPDATE v SET n = 'local' WHERE id = 1; UPDATE v SET r = 0.3 WHERE id = 2;"
      "UPDATE v SET r = 1.0 WHERE id = 4;";
  const char* theirs =
      "UPDATE v SET r = 0.1 + 0.2, b = X'00FF00', t = 'héllo 🌍' || CAST(X'00' AS TEXT) || 'z' WHERE id = 1;"
      "UPDATE v SET r = 0.1 + 0.2 WHERE id = 2;"
      "UPDATE v SET r = '1' WHERE id = 4;"
      "INSERT INTO v VALUES(3, 5e-324, X'', '', NULL);";
  Scenario s(base, ours, theirs);
  MergeReport r = s.merge(ConflictPolicy::local);
  EXPECT_TRUE(r.applied);
  // Row 2: 0.3 and 0.1+0.2 differ in the last bit; row 4: 1, 1.0 and '1' are three different values.
  ASSERT_EQ(r.conflicts.size(), 2u);
  EXPECT_EQ(r.conflicts[0].key, std::vector<Value>{Value::integer(2)});
  EXPECT_EQ(r.conflicts[0].conflicting_columns, std::vector<int>{1});
  EXPECT_EQ(r.conflicts[1].key, std::vector<Value>{Value::integer(4)});
  EXPECT_EQ(r.merged_columns, 1);
  auto got = testing::local_rows(s.ours, "SELECT * FROM v ORDER BY id");
  auto want_theirs = testing::local_rows(s.theirs, "SELECT * FROM v ORDER BY id");
  ASSERT_EQ(got.size(), 4u);
  ASSERT_EQ(want_theirs.size(), 4u);
  EXPECT_EQ(got[0], (std::vector<Value>{want_theirs[0][0], want_theirs[0][1], want_theirs[0][2],
                                        want_theirs[0][3], Value::text("local")}));
  EXPECT_EQ(got[0][3].as_bytes(), std::string("héllo 🌍\0z", sizeof("héllo 🌍\0z") - 1));
  EXPECT_EQ(got[1][1], Value::real(0.3));
  EXPECT_EQ(got[2], want_theirs[2]);
  EXPECT_EQ(got[2][2], Value::blob(""));
  EXPECT_EQ(got[2][3], Value::text(""));
  EXPECT_EQ(got[3][1], Value::real(1.0));
}

TEST(Merge, GeneratedColumnsAreNeverWritten) {
  Scenario s(
      "CREATE TABLE g(id INTEGER PRIMARY KEY, a INTEGER, d INTEGER AS (a * 2) STORED, e AS (a + 1), f TEXT);"
      "INSERT INTO g(id, a, f) VALUES(1, 1, 'x'), (2, 2, 'y');",
      "UPDATE g SET f = 'ours' WHERE id = 1;",
      "UPDATE g SET a = 10 WHERE id = 1; UPDATE g SET a = 20 WHERE id = 2; INSERT INTO g(id, a, f) "
      "VALUES(3, 3, 'z');");
  MergeReport r = s.merge();
  EXPECT_TRUE(r.applied);
  EXPECT_EQ(s.rows("SELECT id, a, d, e, f FROM g ORDER BY id"),
            names({"1|10|20|11|'ours'", "2|20|40|21|'y'", "3|3|6|4|'z'"}));
}

// The discarded SQL of --on-conflict=remote, run on the merged file, gives what --on-conflict=local gives,
// for every kind of conflict at once.
TEST(Merge, DiscardedSqlOfRemoteGivesWhatLocalGives) {
  const char* base =
      "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INTEGER);"
      "INSERT INTO t VALUES(1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4);"
      "CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;";
  const char* ours =
      "UPDATE t SET a = 'ours', b = 10 WHERE id = 1; UPDATE t SET a = 'ours' WHERE id = 2; DELETE FROM t "
      "WHERE id = 3;"
      "INSERT INTO kv VALUES('k', X'01');";
  const char* theirs =
      "UPDATE t SET a = 'theirs', b = 11 WHERE id = 1; DELETE FROM t WHERE id = 2; UPDATE t SET a = 'x' "
      "WHERE id = 3;"
      "UPDATE t SET b = 40 WHERE id = 4; INSERT INTO kv VALUES('k', X'02');";
  Scenario remote(base, ours, theirs), local(base, ours, theirs);
  MergeReport rr = remote.merge(ConflictPolicy::remote);
  MergeReport lr = local.merge(ConflictPolicy::local);
  ASSERT_EQ(rr.conflicts.size(), 4u);
  ASSERT_EQ(lr.conflicts.size(), 4u);
  EXPECT_NE(difftest::snapshot(remote.ours), difftest::snapshot(local.ours));
  difftest::apply_with_shell(remote.ours, rr.discarded_sql);
  EXPECT_EQ(difftest::snapshot(remote.ours), difftest::snapshot(local.ours)) << rr.discarded_sql;
}

}  // namespace
}  // namespace turso_sync
