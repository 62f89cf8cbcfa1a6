// Scenarios for the three-way merge of a pull: a base database, the working copy (base + "ours" SQL), the new
// replica (base + "theirs" SQL); the delta base -> theirs is merged into ours, then rows and conflicts are
// checked (merge_scenario.h). The rules without conflicts, update/update under the three policies, update vs
// delete, inserts on both sides, names and values. Schema, triggers and locks: merge_schema_test.cpp.
#include "merge/merge.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "diff_test_support.h"
#include "merge_scenario.h"
#include "support/test_env.h"
#include "turso_sync/changeset.h"
#include "turso_sync/diff.h"

namespace turso_sync {
namespace {

using mergetest::file_bytes;
using mergetest::k_emails;
using mergetest::k_mail_schema;
using mergetest::k_uu_ours;
using mergetest::k_uu_theirs;
using mergetest::names;
using mergetest::Scenario;

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
