// push, pull, sync, reset and copy against a real local server, played by two teammates: two working copies
// (TempDirs, each `turso-sync init`ed from the same server). Every scenario reads "remote SQL, local SQL,
// command, expected rows / conflicts / exit code"; the remote is checked through the independent path
// (hrana_query.py), the working copies with the plain SQLite C API. Pull's three-way merge, its conflict
// policies and colliding auto-assigned ids: pull_policies_test.cpp.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const std::vector<std::string> kTasks = {
    "CREATE TABLE tasks (id INTEGER PRIMARY KEY, title TEXT, done INTEGER)",
    "INSERT INTO tasks VALUES (1, 'write', 0), (2, 'test', 0), (3, 'ship', 0)",
};
const char* kAllTasks = "SELECT id, title, done FROM tasks ORDER BY id";
const Rows kSeedTasks = {{I(1), T("write"), I(0)}, {I(2), T("test"), I(0)}, {I(3), T("ship"), I(0)}};

// ---------------------------------------------------------------------------------------------------------------
// push

TEST(PushPull, PushSendsInsertsUpdatesDeletesExactly) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start({
      "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT, send_at REAL, "
      "body BLOB)",
      "INSERT INTO emails VALUES (1, 'a@x', 'one', 1.5, x'01'), (2, 'b@x', 'two', 2.5, NULL), "
      "(3, 'c@x', 'three', 3.5, x'03')",
      "CREATE TABLE \"odd \"\"t\"\" ü\" (\"select\" INTEGER PRIMARY KEY, \"a b\" TEXT, \"x\"\"y\" REAL)",
      "INSERT INTO \"odd \"\"t\"\" ü\" VALUES (1, 'one', 1.0), (2, 'two', 2.0)",
  }));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a),
                "INSERT INTO emails VALUES (4, 'd@x', 'héllo ✓ 日本', 0.1 + 0.2, x'00ff00');"
                "INSERT INTO emails VALUES (5, 'e@x', NULL, NULL, NULL);"
                "UPDATE emails SET subject = 'it''s \"quoted\"', body = x'' WHERE id = 1;"
                "UPDATE emails SET send_at = NULL WHERE id = 2;"
                "DELETE FROM emails WHERE id = 3;"
                "INSERT INTO \"odd \"\"t\"\" ü\" VALUES (3, 'ü ✓', 0.1 + 0.2);"
                "UPDATE \"odd \"\"t\"\" ü\" SET \"x\"\"y\" = 1e-300, \"a b\" = NULL "
                "WHERE \"select\" = 1;"
                "DELETE FROM \"odd \"\"t\"\" ü\" WHERE \"select\" = 2;"));

  auto r = team.run(team.a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "pushed: 3 inserts, 3 updates, 2 deletes")) << r.out;

  const char* emails = "SELECT id, recipient, subject, send_at, body FROM emails ORDER BY id";
  const Rows expected_emails = {
      {I(1), T("a@x"), T("it's \"quoted\""), R(1.5), B("")},
      {I(2), T("b@x"), T("two"), N(), N()},
      {I(4), T("d@x"), T("héllo ✓ 日本"), R(0.1 + 0.2), B(std::string("\0\xff\0", 3))},
      {I(5), T("e@x"), N(), N(), N()},
  };
  const char* odd = "SELECT \"select\", \"a b\", \"x\"\"y\" FROM \"odd \"\"t\"\" ü\" ORDER BY 1";
  const Rows expected_odd = {{I(1), N(), R(1e-300)}, {I(3), T("ü ✓"), R(0.1 + 0.2)}};
  Rows remote_emails = team.remote(emails);
  EXPECT_EQ(remote_emails, expected_emails) << render_rows(remote_emails);
  Rows remote_odd = team.remote(odd);
  EXPECT_EQ(remote_odd, expected_odd) << render_rows(remote_odd);

  // The push ended with a pull: the replica caught up, nothing left to push.
  EXPECT_EQ(team.diff_exit(team.a), 0);
  EXPECT_EQ(local_rows(team.replica(team.a), emails), expected_emails);
  auto again = team.run(team.a, {"push"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(contains(again.out, "nothing to push")) << again.out;

  // The teammate gets exactly the same rows.
  auto pulled = team.run(team.b, {"pull"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(team.rows(team.b, emails), expected_emails) << render_rows(team.rows(team.b, emails));
  EXPECT_EQ(team.rows(team.b, odd), expected_odd) << render_rows(team.rows(team.b, odd));
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

TEST(PushPull, PushConflictOnSameColumnAppliesNothingThenForceWins) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kTasks));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE tasks SET title = 'write docs' WHERE id = 1"));
  ASSERT_EQ(team.run(team.b, {"push"}).exit_code, 0);
  const Rows after_b = {{I(1), T("write docs"), I(0)}, {I(2), T("test"), I(0)}, {I(3), T("ship"), I(0)}};
  ASSERT_EQ(team.remote(kAllTasks), after_b);

  // A changed the same column, plus two changes nobody else touched.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "UPDATE tasks SET title = 'write code' WHERE id = 1;"
                                    "UPDATE tasks SET done = 1 WHERE id = 2;"
                                    "INSERT INTO tasks VALUES (4, 'party', 0);"));
  std::string replica_before = read_text(team.replica(team.a));
  auto r = team.run(team.a, {"push"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "tasks [id=1]")) << r.err;
  EXPECT_TRUE(contains(r.err, "title is 'write docs' on the remote, expected 'write'")) << r.err;
  EXPECT_TRUE(contains(r.err, "nothing was applied")) << r.err;
  EXPECT_TRUE(contains(r.err, "turso-sync pull")) << r.err;
  // Nothing of the batch landed, not even the non-conflicting update and insert.
  EXPECT_EQ(team.remote(kAllTasks), after_b) << render_rows(team.remote(kAllTasks));
  EXPECT_EQ(read_text(team.replica(team.a)), replica_before);
  EXPECT_EQ(team.rows(team.a, kAllTasks), (Rows{{I(1), T("write code"), I(0)},
                                                {I(2), T("test"), I(1)},
                                                {I(3), T("ship"), I(0)},
                                                {I(4), T("party"), I(0)}}));
  EXPECT_EQ(team.diff_exit(team.a), 1) << "the local changes are still pending";
  auto j = team.run(team.a, {"--json", "push"});
  EXPECT_EQ(j.exit_code, 3) << j.out << j.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(j.out).get(doc), simdjson::SUCCESS) << j.out;
  simdjson::dom::array conflicts = doc["push"]["conflicts"].get_array();
  ASSERT_EQ(conflicts.size(), 1u) << j.out;
  EXPECT_EQ(conflicts.at(0)["table"].get_string().value(), "tasks");
  EXPECT_EQ(conflicts.at(0)["operation"].get_string().value(), "update");
  EXPECT_EQ(conflicts.at(0)["key"].at(0).get_string().value(), "1");
  EXPECT_EQ(team.remote(kAllTasks), after_b);

  auto forced = team.run(team.a, {"push", "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  const Rows after_a = {{I(1), T("write code"), I(0)},
                        {I(2), T("test"), I(1)},
                        {I(3), T("ship"), I(0)},
                        {I(4), T("party"), I(0)}};
  EXPECT_EQ(team.remote(kAllTasks), after_a) << render_rows(team.remote(kAllTasks));
  EXPECT_EQ(team.rows(team.a, kAllTasks), after_a);
  EXPECT_EQ(team.diff_exit(team.a), 0);
}

TEST(PushPull, PushConflictOnRowDeletedRemotely) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kTasks));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "DELETE FROM tasks WHERE id = 2"));
  ASSERT_EQ(team.run(team.b, {"push"}).exit_code, 0);
  const Rows after_b = {{I(1), T("write"), I(0)}, {I(3), T("ship"), I(0)}};

  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "INSERT INTO tasks VALUES (4, 'party', 0);"
                                    "UPDATE tasks SET done = 1 WHERE id = 2;"));
  auto r = team.run(team.a, {"push"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "tasks [id=2] update: the row was deleted on the remote")) << r.err;
  EXPECT_TRUE(contains(r.err, "turso-sync pull")) << r.err;
  EXPECT_EQ(team.remote(kAllTasks), after_b) << render_rows(team.remote(kAllTasks));

  // The same conflict seen by pull: we updated, they deleted.
  auto pulled = team.run(team.a, {"pull"});
  EXPECT_EQ(pulled.exit_code, 3) << pulled.out << pulled.err;
  EXPECT_TRUE(contains(pulled.err, "tasks [2] update/delete")) << pulled.err;

  // Local wins: the row comes back with our values.
  auto forced = team.run(team.a, {"push", "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  const Rows after_a = {
      {I(1), T("write"), I(0)}, {I(2), T("test"), I(1)}, {I(3), T("ship"), I(0)}, {I(4), T("party"), I(0)}};
  EXPECT_EQ(team.remote(kAllTasks), after_a) << render_rows(team.remote(kAllTasks));
  EXPECT_EQ(team.rows(team.a, kAllTasks), after_a);
  EXPECT_EQ(team.diff_exit(team.a), 0);
}

TEST(PushPull, PushConflictOnInsertWithTextKey) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT)",
                                      "INSERT INTO settings VALUES ('theme', 'dark')"}));
  const char* all = "SELECT name, value FROM settings ORDER BY name";
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "INSERT INTO settings VALUES ('lang', 'fr')"));
  ASSERT_EQ(team.run(team.b, {"push"}).exit_code, 0);
  const Rows after_b = {{T("lang"), T("fr")}, {T("theme"), T("dark")}};

  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "UPDATE settings SET value = 'light' WHERE name = 'theme';"
                                    "INSERT INTO settings VALUES ('lang', 'de');"));
  auto r = team.run(team.a, {"push"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(
      contains(r.err, "settings [name='lang'] insert: a row with this key already exists on the remote"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "turso-sync pull")) << r.err;
  EXPECT_EQ(team.remote(all), after_b) << render_rows(team.remote(all));

  // Text keys are never moved: pull reports an insert/insert conflict.
  auto pulled = team.run(team.a, {"pull"});
  EXPECT_EQ(pulled.exit_code, 3) << pulled.out << pulled.err;
  EXPECT_TRUE(contains(pulled.err, "settings ['lang'] insert/insert")) << pulled.err;
  EXPECT_EQ(team.rows(team.a, all), (Rows{{T("lang"), T("de")}, {T("theme"), T("light")}}));

  auto forced = team.run(team.a, {"push", "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  EXPECT_EQ(team.remote(all), (Rows{{T("lang"), T("de")}, {T("theme"), T("light")}}))
      << render_rows(team.remote(all));
  EXPECT_EQ(team.diff_exit(team.a), 0);
}

TEST(PushPull, PushRefusedListsEveryConflictingRow) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kTasks));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b),
                                    "UPDATE tasks SET title = 'write docs' WHERE id = 1;"
                                    "DELETE FROM tasks WHERE id = 2;"
                                    "INSERT INTO tasks VALUES (5, 'lunch', 0);"));
  ASSERT_EQ(team.run(team.b, {"push"}).exit_code, 0);
  const Rows after_b = {{I(1), T("write docs"), I(0)}, {I(3), T("ship"), I(0)}, {I(5), T("lunch"), I(0)}};
  ASSERT_EQ(team.remote(kAllTasks), after_b);

  // Three conflicts (same column, update of a deleted row, same new key) around one clean change.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "UPDATE tasks SET title = 'write code' WHERE id = 1;"
                                    "UPDATE tasks SET done = 1 WHERE id = 2;"
                                    "UPDATE tasks SET done = 1 WHERE id = 3;"
                                    "INSERT INTO tasks VALUES (5, 'party', 0);"));
  auto r = team.run(team.a, {"push"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "tasks [id=1] update: title is 'write docs' on the remote, expected 'write'"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "tasks [id=2] update: the row was deleted on the remote")) << r.err;
  EXPECT_TRUE(contains(r.err, "tasks [id=5] insert: a row with this key already exists on the remote"))
      << r.err;
  EXPECT_FALSE(contains(r.err, "[id=3]")) << r.err;
  EXPECT_EQ(team.remote(kAllTasks), after_b) << render_rows(team.remote(kAllTasks));

  auto j = team.run(team.a, {"--json", "push"});
  EXPECT_EQ(j.exit_code, 3) << j.out << j.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(j.out).get(doc), simdjson::SUCCESS) << j.out;
  EXPECT_EQ(doc["push"]["conflicts"].get_array().size(), 3u) << j.out;
}

TEST(PushPull, PushDryRunPrintsSqlAndSendsNothing) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kTasks));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "UPDATE tasks SET title = 'dry ✓' WHERE id = 1;"
                                    "INSERT INTO tasks VALUES (4, 'party', 0);"
                                    "DELETE FROM tasks WHERE id = 3;"));
  std::string replica_before = read_text(team.replica(team.a));
  auto r = team.run(team.a, {"push", "--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "BEGIN IMMEDIATE;")) << r.out;
  EXPECT_TRUE(contains(r.out, "UPDATE \"tasks\" SET \"title\" = 'dry ✓' WHERE \"id\" = 1;")) << r.out;
  EXPECT_TRUE(contains(r.out, "INSERT INTO \"tasks\" (\"id\", \"title\", \"done\") VALUES (4, 'party', 0);"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "DELETE FROM \"tasks\" WHERE \"id\" = 3;")) << r.out;
  EXPECT_TRUE(contains(r.out, "-- guard")) << r.out;
  EXPECT_TRUE(contains(r.out, "COMMIT;")) << r.out;
  EXPECT_EQ(team.remote(kAllTasks), kSeedTasks) << render_rows(team.remote(kAllTasks));
  EXPECT_EQ(read_text(team.replica(team.a)), replica_before);
  EXPECT_EQ(team.diff_exit(team.a), 1);
  EXPECT_TRUE(team.remote("SELECT name FROM sqlite_schema WHERE name LIKE 'turso_sync%'").empty())
      << "a dry run must not even create the receipt table";
}

// A statement the server refuses (the local tursodb cannot UPDATE a WITHOUT ROWID table) refuses that row
// alone (refused_row_test.cpp): the row is named by its key (a BLOB and a REAL) with the server's words and
// held, and the rest of the batch lands exactly. (Before, the whole push failed with exit 1.)
TEST(PushPull, PushRejectedByTheServerNamesTheRowAndPushesTheRest) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE kv (k BLOB, n REAL, v, PRIMARY KEY (k, n)) WITHOUT ROWID",
                                      "INSERT INTO kv VALUES (x'00ff', 0.5, 'a'), (x'01', 1.5, 'b')"}));
  const char* all = "SELECT k, n, v FROM kv ORDER BY k";
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "INSERT INTO kv VALUES (x'03', 0.1 + 0.2, x'');"
                                    "UPDATE kv SET v = 'A' WHERE k = x'00ff';"));
  auto r = team.run(team.a, {"push"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "row refused: kv X'00FF',0.5: the remote rejected its update: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "UPDATE of WITHOUT ROWID tables is not supported")) << r.err;
  const Rows pushed = {{B(std::string("\0\xff", 2)), R(0.5), T("a")},
                       {B("\x01"), R(1.5), T("b")},
                       {B("\x03"), R(0.1 + 0.2), B("")}};
  EXPECT_EQ(team.remote(all), pushed) << render_rows(team.remote(all));
  EXPECT_EQ(team.diff_exit(team.a), 1);  // the held row is still a local change
}

// ---------------------------------------------------------------------------------------------------------------
// schema

TEST(PushPull, SchemaChangePushedByOneCopyIsPulledByTheOther) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
                                      "INSERT INTO emails VALUES (1, 'one'), (2, 'two')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "ALTER TABLE emails ADD COLUMN priority INTEGER NOT NULL DEFAULT 3;"
                                    "CREATE INDEX emails_priority ON emails (priority);"
                                    "CREATE TABLE labels (id INTEGER PRIMARY KEY, name TEXT UNIQUE);"
                                    "INSERT INTO labels VALUES (1, 'work'), (2, 'home ✓');"
                                    "CREATE VIEW urgent AS SELECT id, subject FROM emails WHERE priority < 3;"
                                    "UPDATE emails SET priority = 1 WHERE id = 2;"
                                    "INSERT INTO emails (id, subject) VALUES (3, 'three');"));
  auto r = team.run(team.a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "4 schema changes")) << r.out;

  const char* objects =
      "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'turso_%' "
      "ORDER BY name";
  const Rows expected_objects = {{T("table"), T("emails")},
                                 {T("index"), T("emails_priority")},
                                 {T("table"), T("labels")},
                                 {T("view"), T("urgent")}};
  const char* emails = "SELECT id, subject, priority FROM emails ORDER BY id";
  const Rows expected_emails = {{I(1), T("one"), I(3)}, {I(2), T("two"), I(1)}, {I(3), T("three"), I(3)}};
  const char* labels = "SELECT id, name FROM labels ORDER BY id";
  const Rows expected_labels = {{I(1), T("work")}, {I(2), T("home ✓")}};
  const char* urgent = "SELECT id, subject FROM urgent ORDER BY id";
  EXPECT_EQ(team.remote(objects), expected_objects) << render_rows(team.remote(objects));
  EXPECT_EQ(team.remote(emails), expected_emails) << render_rows(team.remote(emails));
  EXPECT_EQ(team.remote(labels), expected_labels);
  EXPECT_EQ(team.remote(urgent), (Rows{{I(2), T("two")}}));
  EXPECT_EQ(team.diff_exit(team.a), 0);

  auto pulled = team.run(team.b, {"pull"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(team.rows(team.b, objects), expected_objects) << render_rows(team.rows(team.b, objects));
  EXPECT_EQ(team.rows(team.b, emails), expected_emails) << render_rows(team.rows(team.b, emails));
  EXPECT_EQ(team.rows(team.b, labels), expected_labels);
  EXPECT_EQ(team.rows(team.b, urgent), (Rows{{I(2), T("two")}}));
  // The added column keeps its full definition: NOT NULL with its default.
  EXPECT_EQ(team.rows(team.b,
                      "SELECT \"notnull\", dflt_value FROM pragma_table_info('emails') "
                      "WHERE name = 'priority'"),
            (Rows{{I(1), T("3")}}));
  EXPECT_EQ(team.diff_exit(team.b), 0);
  // And B's own rows use it.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "INSERT INTO emails (id, subject) VALUES (4, 'four')"));
  ASSERT_EQ(team.run(team.b, {"push"}).exit_code, 0);
  EXPECT_EQ(team.remote("SELECT priority FROM emails WHERE id = 4"), (Rows{{I(3)}}));
}

// ---------------------------------------------------------------------------------------------------------------
// reset, copy, sync

TEST(PushPull, ResetDiscardsLocalChangesIntoARestoringFile) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kTasks));
  const std::string local =
      "UPDATE tasks SET title = 'rewritten' WHERE id = 1; INSERT INTO tasks VALUES (4, 'new', 1); "
      "DELETE FROM tasks WHERE id = 2;";
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), local));
  const Rows ours = {{I(1), T("rewritten"), I(0)}, {I(3), T("ship"), I(0)}, {I(4), T("new"), I(1)}};
  ASSERT_EQ(team.rows(team.a, kAllTasks), ours);

  auto r = team.run(team.a, {"reset", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "3 row changes")) << r.out;
  EXPECT_EQ(team.rows(team.a, kAllTasks), kSeedTasks);
  EXPECT_EQ(team.diff_exit(team.a), 0);
  EXPECT_EQ(team.remote(kAllTasks), kSeedTasks) << "reset never touches the remote";

  auto files = discarded_files(team.a);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(contains(r.out, files[0].substr(files[0].rfind('/') + 1))) << r.out;
  EXPECT_EQ(mode_of(files[0]), 0600u);
  auto restored = run_command({"sqlite3", team.wc(team.a)}, {}, "", read_text(files[0]));
  ASSERT_EQ(restored.exit_code, 0) << restored.err << read_text(files[0]);
  EXPECT_EQ(team.rows(team.a, kAllTasks), ours) << render_rows(team.rows(team.a, kAllTasks));

  // Reset with nothing to discard writes nothing.
  ASSERT_EQ(team.run(team.a, {"reset", "--yes"}).exit_code, 0);
  auto again = team.run(team.b, {"reset", "--yes"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(contains(again.out, "nothing to reset")) << again.out;
  EXPECT_TRUE(discarded_files(team.b).empty());
}

TEST(PushPull, CopyRefusesLocalChangesUnlessForced) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kTasks));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "UPDATE tasks SET done = 1 WHERE id = 3"));
  std::string wc_before = read_text(team.wc(team.a));
  auto refused = team.run(team.a, {"copy"});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_TRUE(contains(refused.err, "has local changes")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "--force")) << refused.err;
  EXPECT_EQ(read_text(team.wc(team.a)), wc_before);
  EXPECT_TRUE(discarded_files(team.a).empty());

  auto forced = team.run(team.a, {"copy", "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  EXPECT_EQ(team.rows(team.a, kAllTasks), kSeedTasks);
  auto files = discarded_files(team.a);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(contains(forced.out, files[0].substr(files[0].rfind('/') + 1))) << forced.out;
  EXPECT_EQ(mode_of(files[0]), 0600u);
  auto restored = run_command({"sqlite3", team.wc(team.a)}, {}, "", read_text(files[0]));
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(team.rows(team.a, "SELECT done FROM tasks WHERE id = 3"), (Rows{{I(1)}}));

  // Without a working copy, copy creates one; without local changes, it needs no --force.
  fs::remove(team.wc(team.b));
  auto created = team.run(team.b, {"copy"});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  EXPECT_EQ(team.rows(team.b, kAllTasks), kSeedTasks);
  EXPECT_EQ(team.run(team.b, {"copy"}).exit_code, 0);
}

TEST(PushPull, SyncPullsThenPushes) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kTasks));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE tasks SET title = 'write docs' WHERE id = 1"));
  ASSERT_EQ(team.run(team.b, {"push"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "UPDATE tasks SET done = 1 WHERE id = 1;"
                                    "INSERT INTO tasks VALUES (4, 'party', 0);"));
  // sync merges B's change into A's copy first, then pushes A's.
  auto r = team.run(team.a, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "pulled:")) << r.out;
  EXPECT_TRUE(contains(r.out, "pushed: 1 inserts, 1 updates")) << r.out;
  const Rows expected = {{I(1), T("write docs"), I(1)},
                         {I(2), T("test"), I(0)},
                         {I(3), T("ship"), I(0)},
                         {I(4), T("party"), I(0)}};
  EXPECT_EQ(team.remote(kAllTasks), expected) << render_rows(team.remote(kAllTasks));
  EXPECT_EQ(team.rows(team.a, kAllTasks), expected);
  EXPECT_EQ(team.diff_exit(team.a), 0);

  auto b = team.run(team.b, {"sync"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_EQ(team.rows(team.b, kAllTasks), expected);

  // A conflicting pull stops sync before it pushes; its --on-conflict policy settles it.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "UPDATE tasks SET title = 'test A' WHERE id = 2"));
  ASSERT_EQ(team.run(team.a, {"push"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE tasks SET title = 'test B' WHERE id = 2"));
  auto stopped = team.run(team.b, {"sync"});
  EXPECT_EQ(stopped.exit_code, 3) << stopped.out << stopped.err;
  EXPECT_TRUE(contains(stopped.err, "tasks [2] update/update")) << stopped.err;
  EXPECT_EQ(team.remote("SELECT title FROM tasks WHERE id = 2"), (Rows{{T("test A")}}));
  EXPECT_EQ(team.rows(team.b, "SELECT title FROM tasks WHERE id = 2"), (Rows{{T("test B")}}));
  auto settled = team.run(team.b, {"sync", "--on-conflict=local"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(team.remote("SELECT title FROM tasks WHERE id = 2"), (Rows{{T("test B")}}));
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// a busy working copy

TEST(PushPull, PullWaitsForABusyWorkingCopyThenFailsChangingNothing) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kTasks));
  remote_exec(team.server.url(), {"UPDATE tasks SET title = 'remote' WHERE id = 1"});
  std::string wc = team.wc(team.a);
  std::string replica_before = read_text(team.replica(team.a));
  std::string ready = team.a.file("locked.flag");

  // The application: a write transaction held open until it is told to stop (SIGTERM rolls it back).
  const std::string script =
      "import signal, sqlite3, sys, time\n"
      "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
      "c.execute('BEGIN IMMEDIATE')\n"
      "c.execute('UPDATE tasks SET done = 1 WHERE id = 3')\n"
      "def stop(*_):\n"
      "    c.execute('ROLLBACK')\n"
      "    sys.exit(0)\n"
      "signal.signal(signal.SIGTERM, stop)\n"
      "open(sys.argv[2], 'w').close()\n"
      "time.sleep(30)\n";
  pid_t app = fork();
  if (app == 0) {
    setpgid(0, 0);
    execlp("python3", "python3", "-c", script.c_str(), wc.c_str(), ready.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(app, 0);
  for (int i = 0; i < 200 && !fs::exists(ready); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  bool locked = fs::exists(ready);

  auto start = std::chrono::steady_clock::now();
  auto r = locked ? team.run(team.a, {"pull"}) : CommandResult{};
  auto waited = std::chrono::steady_clock::now() - start;
  kill(app, SIGTERM);
  int status = 0;
  waitpid(app, &status, 0);
  ASSERT_TRUE(locked) << "the lock holder did not start";

  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "merge into working copy working_copy.db")) << r.err;
  EXPECT_TRUE(contains(r.err, "locked")) << r.err;
  EXPECT_TRUE(contains(r.err, "nothing was changed")) << r.err;
  EXPECT_GE(waited, std::chrono::seconds(2)) << "pull should wait for the lock before giving up";
  EXPECT_EQ(read_text(team.replica(team.a)), replica_before) << "the replica must not move";
  EXPECT_EQ(team.rows(team.a, kAllTasks), kSeedTasks);

  // Once the application is idle, pull goes through.
  auto again = team.run(team.a, {"pull"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(team.rows(team.a, kAllTasks),
            (Rows{{I(1), T("remote"), I(0)}, {I(2), T("test"), I(0)}, {I(3), T("ship"), I(0)}}));
  EXPECT_EQ(team.diff_exit(team.a), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// --all: every database of turso-sync.toml

TEST(PushPull, AllRunsTheCommandForEveryDatabaseOfTheToml) {
  LocalServer app_server, log_server;
  ASSERT_TRUE(app_server.started() && log_server.started());
  remote_exec(app_server.url(), kTasks);
  remote_exec(log_server.url(), {"CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)"});
  TempDir dir;
  {
    std::ofstream toml(dir.file("turso-sync.toml"));
    toml << "[databases.app]\nurl = \"" << app_server.url() << "\"\n"
         << "[databases.logs]\nurl = \"" << log_server.url() << "\"\n";
  }
  auto run = [&](const std::vector<std::string>& args) { return run_cli(args, {}, dir.path().string()); };

  auto init = run({"--all", "init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_TRUE(contains(init.out, "== app")) << init.out;
  EXPECT_TRUE(contains(init.out, "== logs")) << init.out;
  EXPECT_EQ(local_rows(dir.file("app_working.db"), kAllTasks), kSeedTasks);
  EXPECT_TRUE(local_rows(dir.file("logs_working.db"), "SELECT * FROM events").empty());

  ASSERT_NO_FATAL_FAILURE(local_sql(dir.file("app_working.db"), "UPDATE tasks SET done = 1 WHERE id = 1"));
  ASSERT_NO_FATAL_FAILURE(local_sql(dir.file("logs_working.db"), "INSERT INTO events VALUES (1, 'done')"));
  auto pushed = run({"--all", "push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(remote_rows(app_server.url(), kAllTasks),
            (Rows{{I(1), T("write"), I(1)}, {I(2), T("test"), I(0)}, {I(3), T("ship"), I(0)}}));
  EXPECT_EQ(remote_rows(log_server.url(), "SELECT id, what FROM events"), (Rows{{I(1), T("done")}}));

  // A conflict in one database does not stop the others; the exit code is the highest.
  remote_exec(app_server.url(), {"UPDATE tasks SET title = 'theirs' WHERE id = 2"});
  ASSERT_NO_FATAL_FAILURE(
      local_sql(dir.file("app_working.db"), "UPDATE tasks SET title = 'ours' WHERE id = 2"));
  ASSERT_NO_FATAL_FAILURE(local_sql(dir.file("logs_working.db"), "INSERT INTO events VALUES (2, 'more')"));
  auto partial = run({"--all", "push"});
  EXPECT_EQ(partial.exit_code, 3) << partial.out << partial.err;
  EXPECT_EQ(remote_rows(log_server.url(), "SELECT id, what FROM events"),
            (Rows{{I(1), T("done")}, {I(2), T("more")}}));

  auto mixed = run({"--all", "--db", "app", "status", "--offline"});
  EXPECT_EQ(mixed.exit_code, 2) << mixed.out << mixed.err;
  EXPECT_TRUE(contains(mixed.err, "--all")) << mixed.err;
}

}  // namespace
}  // namespace turso_sync::testing
