// Scenarios for the three-way merge of a pull (merge_scenario.h) where schema, triggers and the working
// copy's lock meet the rows: schema changes applied before rows, clashing, dropped, renamed or rebuilt under
// local edits; redoing a merge; the before-commit hook; triggers not firing again; a busy or mid-transaction
// working copy; constraint clashes and foreign keys suspended and restored. The row rules and conflicts
// themselves: merge_test.cpp.
#include "merge/merge.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "diff_test_support.h"
#include "merge_scenario.h"
#include "support/test_env.h"
#include "turso_sync/changeset.h"
#include "turso_sync/diff.h"

namespace turso_sync {
namespace {

using difftest::exec;
using mergetest::file_bytes;
using mergetest::k_emails;
using mergetest::k_mail_schema;
using mergetest::k_uu_ours;
using mergetest::k_uu_theirs;
using mergetest::names;
using mergetest::Scenario;

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

}  // namespace
}  // namespace turso_sync
