// Stale schema (issue #7): a push from a copy that has not seen a teammate's schema change must not replay
// its own (stale) schema, and a pull must not lose what the teammate did: a stale drop of a table, a remote
// rename of a mixed-case table under local edits, a deleted parent against a teammate's new child (foreign
// keys never dangle, cascades come back whole and once), triggers a teammate created or dropped. Two
// teammates on one real local server; the remote is checked through the independent path (hrana_query.py),
// the working copies with the plain SQLite C API. The other schema migrations: schema_migration_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// 6. A push from a copy that has not seen a teammate's schema change must not replay its own (stale) schema.

// A push that drops a table the remote changed since the last pull would take a teammate's rows along
// unseen: refused (exit 3); the pull then names the conflict; keeping the drop is an explicit choice.
TEST(SchemaMigration, StaleDropOfATableNeverLosesATeammatesRows) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(
      team.start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)",
                  "INSERT INTO notes VALUES (1, 'one')", "CREATE TABLE other (id INTEGER PRIMARY KEY)"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE notes SET title = 'B''s title' WHERE id = 1"));
  auto b = team.run(team.b, {"push"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "DROP TABLE notes"));

  auto stale = team.run(team.a, {"push"});
  EXPECT_EQ(stale.exit_code, 3) << stale.out << stale.err;
  EXPECT_TRUE(contains(stale.out + stale.err, "notes")) << stale.out << stale.err;
  EXPECT_EQ(team.remote("SELECT id, title FROM notes ORDER BY id"), (Rows{{I(1), T("B's title")}}))
      << "B's row was dropped by A's stale push";

  auto pulled = team.run(team.a, {"pull"});
  EXPECT_EQ(pulled.exit_code, 3) << pulled.out << pulled.err;
  EXPECT_TRUE(contains(pulled.out + pulled.err, "dropped it")) << pulled.out << pulled.err;
  auto keep = team.run(team.a, {"pull", "--on-conflict=local"});
  ASSERT_EQ(keep.exit_code, 0) << keep.out << keep.err;
  auto pushed = team.run(team.a, {"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(team.remote("SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"), (Rows{{I(0)}}));
}

// A teammate renamed a mixed-case table (pushed as a drop and a create) while B edited a row of it: B's pull
// stops (exit 3) rather than dropping the edit with the old table. (The server lower-cases names in its
// schema: the check must match them case-insensitively.)
TEST(SchemaMigration, RemoteRenameOfAMixedCaseTableUnderLocalEditsIsAConflict) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE \"Accounts\" (id INTEGER PRIMARY KEY, email TEXT)",
                                      "INSERT INTO \"Accounts\" VALUES (1, 'a@x'), (2, 'b@x')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "ALTER TABLE \"Accounts\" RENAME TO \"Users\""));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE \"Accounts\" SET email = 'B@new' WHERE id = 1"));
  auto r = team.run(team.b, {"pull"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_EQ(team.rows(team.b, "SELECT email FROM \"Accounts\" WHERE id = 1"), (Rows{{T("B@new")}}));
  auto settled = team.run(team.b, {"pull", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_TRUE(contains(discarded_files_text(team.b), "B@new")) << discarded_files_text(team.b);
}

// Issue 8, case 2: I delete an email (its attachments cascade away) while a teammate adds an attachment to
// it. My stale push is refused (the teammate's attachment would dangle on the remote); my pull is a conflict
// naming both rows; taking the remote's side brings the email back. PRAGMA foreign_key_check stays clean.
TEST(SchemaMigration, DeletedParentAgainstATeammatesNewChildNeverDangles) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
       "CREATE TABLE attachments (id INTEGER PRIMARY KEY, email_id INTEGER REFERENCES emails(id) ON DELETE "
       "CASCADE, name TEXT)",
       "INSERT INTO emails VALUES (1, 'hello'), (2, 'other')",
       "INSERT INTO attachments VALUES (1, 1, 'a.pdf')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "INSERT INTO attachments VALUES (2, 1, 'b.pdf')"));
  auto b = team.run(team.b, {"push"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), "PRAGMA foreign_keys = ON; DELETE FROM emails WHERE id = 1"));

  auto stale = team.run(team.a, {"push"});
  EXPECT_EQ(stale.exit_code, 3) << stale.out << stale.err;
  EXPECT_TRUE(contains(stale.out + stale.err, "attachments")) << stale.out << stale.err;
  EXPECT_EQ(team.remote("SELECT id FROM emails ORDER BY id"), (Rows{{I(1)}, {I(2)}})) << "nothing applied";

  auto pulled = team.run(team.a, {"pull"});
  EXPECT_EQ(pulled.exit_code, 3) << pulled.out << pulled.err;
  EXPECT_TRUE(contains(pulled.out + pulled.err, "dangling")) << pulled.out << pulled.err;
  auto settled = team.run(team.a, {"sync", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(team.rows(team.a, "SELECT id FROM emails ORDER BY id"), (Rows{{I(1)}, {I(2)}}));
  EXPECT_EQ(team.rows(team.a, "SELECT id, name FROM attachments ORDER BY id"), (Rows{{I(2), T("b.pdf")}}));
  EXPECT_EQ(team.rows(team.a, "PRAGMA foreign_key_check"), Rows{});
  EXPECT_EQ(team.remote(
                "SELECT a.id FROM attachments a LEFT JOIN emails e ON e.id = a.email_id WHERE e.id IS NULL"),
            Rows{})
      << "a dangling attachment on the remote";
}

// ConstraintsProperty seed 3216097126735632101: I delete a recipient; ON DELETE CASCADE deletes its email
// (and would its attachments). A teammate had added an attachment to that email. Taking the remote's side
// brings the email back, and with it the recipient it references, which my delete had removed too: the whole
// chain comes back, nothing dangles (before, the email came back pointing at no recipient, and sync said 0).
TEST(SchemaMigration, TakingTheRemotesChildBringsBackTheWholeCascadeDeletedChain) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE recipients (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL)",
       "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient_id INTEGER REFERENCES recipients(id) ON "
       "DELETE "
       "CASCADE, subject TEXT)",
       "CREATE TABLE attachments (id INTEGER PRIMARY KEY, email_id INTEGER REFERENCES emails(id) ON DELETE "
       "CASCADE, name TEXT)",
       "INSERT INTO recipients VALUES (1, 'r1@x'), (2, 'r2@x')", "INSERT INTO emails VALUES (1, 1, 'hello')",
       "INSERT INTO attachments VALUES (1, 1, 'a.pdf')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "INSERT INTO attachments VALUES (2, 1, 'b.pdf')"));
  auto b = team.run(team.b, {"push"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), "PRAGMA foreign_keys = ON; DELETE FROM recipients WHERE id = 1"));
  ASSERT_EQ(team.rows(team.a, "SELECT count(*) FROM emails"), (Rows{{I(0)}}));

  auto settled = team.run(team.a, {"sync", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(team.rows(team.a, "PRAGMA foreign_key_check"), Rows{});
  EXPECT_EQ(team.rows(team.a, "SELECT id FROM recipients ORDER BY id"), (Rows{{I(1)}, {I(2)}}));
  EXPECT_EQ(team.rows(team.a, "SELECT id, recipient_id FROM emails"), (Rows{{I(1), I(1)}}));
  EXPECT_EQ(team.rows(team.a, "SELECT id, name FROM attachments ORDER BY id"), (Rows{{I(2), T("b.pdf")}}));
  EXPECT_TRUE(contains(discarded_files_text(team.a), "recipients")) << discarded_files_text(team.a);
  for (const char* sql : {"SELECT id, email FROM recipients ORDER BY id", "SELECT * FROM emails ORDER BY id",
                          "SELECT * FROM attachments ORDER BY id"})
    EXPECT_EQ(team.rows(team.a, sql), team.remote(sql)) << sql;
  EXPECT_EQ(team.diff_exit(team.a), 0);
}

// ConstraintsProperty seed 3327535091428799545: two of the teammate's new rows reference a recipient I
// deleted; taking the remote's side brings the recipient back once (before, the second reference tried to
// insert it again: "UNIQUE constraint failed: recipients.id", exit 1).
TEST(SchemaMigration, TwoRemoteChildrenOfALocallyDeletedParentBringItBackOnce) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(
      team.start({"CREATE TABLE recipients (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL)",
                  "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient_id INTEGER REFERENCES "
                  "recipients(id) ON DELETE "
                  "CASCADE, subject TEXT)",
                  "INSERT INTO recipients VALUES (1, 'r1@x'), (2, 'r2@x')"}));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.b), "INSERT INTO emails VALUES (1, 1, 'one'), (2, 1, 'two')"));
  auto b = team.run(team.b, {"push"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), "PRAGMA foreign_keys = ON; DELETE FROM recipients WHERE id = 1"));
  auto settled = team.run(team.a, {"sync", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(team.rows(team.a, "PRAGMA foreign_key_check"), Rows{});
  EXPECT_EQ(team.rows(team.a, "SELECT id FROM recipients ORDER BY id"), (Rows{{I(1)}, {I(2)}}));
  EXPECT_EQ(team.rows(team.a, "SELECT id FROM emails ORDER BY id"), (Rows{{I(1)}, {I(2)}}));
  EXPECT_EQ(team.diff_exit(team.a), 0);
}

TEST(SchemaMigration, StalePushNeverUndoesATeammatesTrigger) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({
      "CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT, done INTEGER)",
      "CREATE TABLE log (id INTEGER PRIMARY KEY, task_id INTEGER, what TEXT)",
      "CREATE TRIGGER tasks_log AFTER UPDATE ON tasks BEGIN "
      "INSERT INTO log (task_id, what) VALUES (new.id, 'updated'); END",
      "INSERT INTO tasks VALUES (1, 'write', 0), (2, 'test', 0), (3, 'ship', 0)",
  }));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a),
                "DROP TRIGGER tasks_log;"
                "CREATE TRIGGER tasks_log AFTER UPDATE ON tasks BEGIN "
                "INSERT INTO log (task_id, what) VALUES (new.id, 'changed: ' || new.title); END;"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_TRUE(contains(team.remote_sql("tasks_log"), "changed: ")) << team.remote_sql("tasks_log");

  // B never pulled A's trigger; it updates an unrelated row (its old trigger logs it) and pushes.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE tasks SET done = 1 WHERE id = 3"));
  auto stale = team.run(team.b, {"push"});
  EXPECT_EQ(stale.exit_code, 3) << "the remote's schema changed since B's last pull:\n"
                                << stale.out << stale.err;
  EXPECT_TRUE(contains(team.remote_sql("tasks_log"), "changed: "))
      << "B's stale push replaced A's trigger: " << team.remote_sql("tasks_log");
  EXPECT_EQ(team.remote("SELECT done FROM tasks WHERE id = 3"), (Rows{{I(0)}}))
      << "a refused push applies nothing";

  auto synced = team.run(team.b, {"sync"});
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  EXPECT_EQ(team.remote("SELECT done FROM tasks WHERE id = 3"), (Rows{{I(1)}}));
  EXPECT_TRUE(contains(team.remote_sql("tasks_log"), "changed: "))
      << "B's sync replaced A's trigger: " << team.remote_sql("tasks_log");
  EXPECT_TRUE(contains(team.local_sql_of(team.b, "tasks_log"), "changed: "))
      << "B did not get A's trigger: " << team.local_sql_of(team.b, "tasks_log");
  const char* log = "SELECT id, task_id, what FROM log ORDER BY id";
  EXPECT_EQ(team.rows(team.b, log), team.remote(log)) << render_rows(team.remote(log));
  EXPECT_EQ(team.diff_exit(team.b), 0);
  // And B's application now runs A's trigger.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE tasks SET title = 'ship it' WHERE id = 3"));
  EXPECT_EQ(team.rows(team.b, "SELECT what FROM log ORDER BY id DESC LIMIT 1"),
            (Rows{{T("changed: ship it")}}));
}

// A teammate DROPS a trigger (not replaces it): my stale push must not create it again (push suspends and
// restores the working copy's triggers around its rows, and mine still has it).
TEST(SchemaMigration, StalePushNeverRecreatesATriggerATeammateDropped) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({
      "CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT, done INTEGER)",
      "CREATE TABLE log (id INTEGER PRIMARY KEY, task_id INTEGER, what TEXT)",
      "CREATE TRIGGER tasks_log AFTER UPDATE ON tasks BEGIN "
      "INSERT INTO log (task_id, what) VALUES (new.id, 'updated'); END",
      "INSERT INTO tasks VALUES (1, 'write', 0), (2, 'test', 0), (3, 'ship', 0)",
  }));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "DROP TRIGGER tasks_log"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_EQ(team.remote_sql("tasks_log"), "") << "A's drop did not reach the remote";

  // B never pulled A's drop; it updates an unrelated row (its trigger logs it) and pushes.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE tasks SET done = 1 WHERE id = 3"));
  auto stale = team.run(team.b, {"push"});
  EXPECT_EQ(stale.exit_code, 3) << "the remote's schema changed since B's last pull:\n"
                                << stale.out << stale.err;
  EXPECT_TRUE(contains(stale.err, "trigger tasks_log was dropped")) << stale.err;
  EXPECT_EQ(team.remote_sql("tasks_log"), "") << "B's stale push re-created the trigger A dropped";
  EXPECT_EQ(team.remote("SELECT done FROM tasks WHERE id = 3"), (Rows{{I(0)}}))
      << "a refused push applies nothing";
  EXPECT_EQ(team.remote("SELECT count(*) FROM log"), (Rows{{I(0)}})) << "a refused push applies nothing";

  auto synced = team.run(team.b, {"sync"});
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  EXPECT_EQ(team.remote("SELECT done FROM tasks WHERE id = 3"), (Rows{{I(1)}}));
  EXPECT_EQ(team.remote_sql("tasks_log"), "") << "B's sync re-created the trigger A dropped";
  EXPECT_EQ(team.local_sql_of(team.b, "tasks_log"), "") << "B did not take A's drop";
  const char* log = "SELECT id, task_id, what FROM log ORDER BY id";
  EXPECT_EQ(team.rows(team.b, log), team.remote(log)) << render_rows(team.remote(log));
  EXPECT_EQ(team.diff_exit(team.b), 0);
  // B's application no longer logs, and nothing re-creates the trigger later.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE tasks SET title = 'ship it' WHERE id = 3"));
  EXPECT_EQ(team.rows(team.b, "SELECT count(*) FROM log"), team.remote("SELECT count(*) FROM log"));
  auto again = team.run(team.b, {"sync"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(team.remote_sql("tasks_log"), "");
  EXPECT_EQ(team.remote("SELECT title FROM tasks WHERE id = 3"), (Rows{{T("ship it")}}));
}

}  // namespace
}  // namespace turso_sync::testing
