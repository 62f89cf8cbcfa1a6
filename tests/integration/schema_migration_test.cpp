// Schema migrations (issue #7; docs/conflicts.md, "Schema changes"): diffed, pushed and
// merged by meaning, against a real local server, played by two teammates (two working copies, each
// `turso-sync init`ed from the same server). Every scenario reads "remote SQL, local SQL, command, expected
// rows / conflicts / exit code"; the remote is checked through the independent path (hrana_query.py), the
// working copies with the plain SQLite C API. Section 6, a copy that has not seen a teammate's schema change
// (stale pushes and pulls): stale_schema_test.cpp.
//
// The local server (tursodb 0.6.0) lower-cases name/tbl_name in sqlite_schema, and rewrites a table's SQL
// after ALTER TABLE ... ADD COLUMN (inline REFERENCES become a table constraint, UNIQUE NOT NULL is
// reordered, COLLATE and AUTOINCREMENT are dropped): a push or pull must neither mistake that rewrite for a
// change nor lose what it dropped.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "support/team.h"
#include "support/test_env.h"
#include "util/text.h"

namespace turso_sync::testing {
namespace {

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

// Whether `text` names `word` as a whole identifier ("note" in "notes.note" but not in "notes").
bool names_word(const std::string& text, const std::string& word) {
  return std::regex_search(text, std::regex("(^|[^A-Za-z0-9_])" + word + "($|[^A-Za-z0-9_])"));
}

using Names = std::vector<std::string>;

std::string joined(const Names& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return "[" + out + "]";
}

// ---------------------------------------------------------------------------------------------------------------
// 1. A column added locally is pushed once; the push's own final pull does not bring the rows back as new.

TEST(SchemaMigration, AddColumnPushNeverDoublesItsRows) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({
      "CREATE TABLE recipients (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL)",
      "CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT, recipient_id INTEGER REFERENCES "
      "recipients(id), status TEXT)",
      "INSERT INTO recipients VALUES (1, 'ann@x'), (2, 'bob@x')",
      "INSERT INTO emails VALUES (1, 'one', 1, 'sent'), (2, 'two', 2, 'queued')",
  }));
  ASSERT_NO_FATAL_FAILURE(local_sql(
      team.wc(team.a),
      "ALTER TABLE emails ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"
      "INSERT INTO emails (subject, recipient_id, status, priority) VALUES ('three', 1, 'queued', 5);"));
  const char* all = "SELECT id, subject, recipient_id, status, priority FROM emails ORDER BY id";
  const Rows expected = {{I(1), T("one"), I(1), T("sent"), I(0)},
                         {I(2), T("two"), I(2), T("queued"), I(0)},
                         {I(3), T("three"), I(1), T("queued"), I(5)}};
  ASSERT_EQ(team.rows(team.a, all), expected);

  auto r = team.run(team.a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(contains(r.out + r.err, "moved")) << "a push must never collide with its own rows:\n"
                                                 << r.out << r.err;
  EXPECT_EQ(team.rows(team.a, all), expected) << render_rows(team.rows(team.a, all));
  EXPECT_EQ(team.rows(team.a, "SELECT count(*) FROM emails"), (Rows{{I(3)}}));
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));
  EXPECT_EQ(team.remote_columns("emails"), (Names{"id", "subject", "recipient_id", "status", "priority"}))
      << joined(team.remote_columns("emails"));

  // Nothing is left: the server's rewrite of the table's SQL is not a local change.
  auto diff = team.run(team.a, {"diff", "--exit-code"});
  EXPECT_EQ(diff.exit_code, 0) << diff.out << diff.err;
  auto again = team.run(team.a, {"sync"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_TRUE(contains(again.out, "nothing to push")) << again.out << again.err;
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));
  EXPECT_EQ(team.rows(team.a, all), expected) << render_rows(team.rows(team.a, all));

  // The teammate gets the column and the three rows, once.
  auto pulled = team.run(team.b, {"pull"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(team.rows(team.b, all), expected) << render_rows(team.rows(team.b, all));
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// 2. The same ALTER TABLE on two copies is one migration: the rows of both sides merge into one column.

TEST(SchemaMigration, SameMigrationOnTwoCopiesIsOneMigration) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(
      team.start({"CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL)",
                  "INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x')"}));
  const std::string migration = "ALTER TABLE users ADD COLUMN tz TEXT DEFAULT 'UTC';";
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), migration + "UPDATE users SET tz = 'Paris' WHERE id = 1;"));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), migration +
                                                         "UPDATE users SET tz = 'Tokyo' WHERE id = 2;"
                                                         "INSERT INTO users VALUES (3, 'c@x', 'NY');"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;

  const char* all = "SELECT id, email, tz FROM users ORDER BY id";
  const Rows expected = {
      {I(1), T("a@x"), T("Paris")}, {I(2), T("b@x"), T("Tokyo")}, {I(3), T("c@x"), T("NY")}};
  auto pulled = team.run(team.b, {"pull"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(team.rows(team.b, all), expected) << render_rows(team.rows(team.b, all));
  EXPECT_EQ(team.columns(team.b, "users"), (Names{"id", "email", "tz"}))
      << joined(team.columns(team.b, "users"));

  auto pushed = team.run(team.b, {"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));
  EXPECT_EQ(team.remote_columns("users"), (Names{"id", "email", "tz"}))
      << joined(team.remote_columns("users"));

  auto a_pull = team.run(team.a, {"pull"});
  ASSERT_EQ(a_pull.exit_code, 0) << a_pull.out << a_pull.err;
  EXPECT_EQ(team.rows(team.a, all), expected) << render_rows(team.rows(team.a, all));
  EXPECT_EQ(team.columns(team.a, "users"), (Names{"id", "email", "tz"}))
      << joined(team.columns(team.a, "users"));
  EXPECT_EQ(team.diff_exit(team.a), 0);
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

// The same ADD COLUMN with sized types on two copies is one migration too: the server drops the sizes from
// the added columns (`VARCHAR(12)` becomes `VARCHAR`), which SQLite ignores anyway. Before, the two
// definitions differed and the pull reported a schema conflict.
TEST(SchemaMigration, SameMigrationWithSizedTypesIsOneMigration) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO items VALUES (1, 'one')"}));
  const std::string migration =
      "ALTER TABLE items ADD COLUMN code VARCHAR(12);"
      "ALTER TABLE items ADD COLUMN price DECIMAL(10,2) DEFAULT 0;";
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), migration + "UPDATE items SET code = 'A1' WHERE id = 1;"));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.b), migration + "INSERT INTO items VALUES (2, 'two', 'B2', 2.5);"));
  auto r = team.run(team.a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = team.run(team.b, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = team.run(team.a, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const char* all = "SELECT id, name, code, price FROM items ORDER BY id";
  const Rows expected = {{I(1), T("one"), T("A1"), I(0)}, {I(2), T("two"), T("B2"), R(2.5)}};
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));
  EXPECT_EQ(team.rows(team.a, all), expected) << render_rows(team.rows(team.a, all));
  EXPECT_EQ(team.rows(team.b, all), expected) << render_rows(team.rows(team.b, all));
  EXPECT_EQ(team.columns(team.b, "items"), (Names{"id", "name", "code", "price"}));
  EXPECT_EQ(team.diff_exit(team.a), 0);
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// 3. A column renamed on the remote carries the local edits of that column along.

TEST(SchemaMigration, RemoteRenameOfAColumnCarriesLocalEdits) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)",
                                      "INSERT INTO notes VALUES (1, 'one', 'first'), (2, 'two', 'second')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "ALTER TABLE notes RENAME COLUMN body TO content"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_EQ(team.remote_columns("notes"), (Names{"id", "title", "content"}))
      << joined(team.remote_columns("notes"));

  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.b), "UPDATE notes SET body = 'first, edited by B' WHERE id = 1"));
  auto pulled = team.run(team.b, {"pull"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(team.columns(team.b, "notes"), (Names{"id", "title", "content"}))
      << joined(team.columns(team.b, "notes"));
  const char* all = "SELECT id, title, content FROM notes ORDER BY id";
  const Rows expected = {{I(1), T("one"), T("first, edited by B")}, {I(2), T("two"), T("second")}};
  EXPECT_EQ(team.rows(team.b, all), expected) << render_rows(team.rows(team.b, all));

  auto pushed = team.run(team.b, {"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));
  EXPECT_EQ(team.remote_columns("notes"), (Names{"id", "title", "content"}))
      << joined(team.remote_columns("notes"));
  ASSERT_EQ(team.run(team.a, {"pull"}).exit_code, 0);
  EXPECT_EQ(team.rows(team.a, all), expected) << render_rows(team.rows(team.a, all));
}

// ---------------------------------------------------------------------------------------------------------------
// 4. A column the remote dropped while we edited it: a conflict, never a silent loss.

TEST(SchemaMigration, RemoteDropOfAnEditedColumnIsAConflict) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, note TEXT)",
                                      "INSERT INTO notes VALUES (1, 'one', 'n1'), (2, 'two', 'n2')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "ALTER TABLE notes DROP COLUMN note"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_EQ(team.remote_columns("notes"), (Names{"id", "title"})) << joined(team.remote_columns("notes"));

  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.b), "UPDATE notes SET note = 'B''s precious note' WHERE id = 1"));
  const char* b_rows = "SELECT id, title, note FROM notes ORDER BY id";
  const Rows b_before = {{I(1), T("one"), T("B's precious note")}, {I(2), T("two"), T("n2")}};
  std::string wc_before = read_text(team.wc(team.b));

  auto r = team.run(team.b, {"pull"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "notes")) << r.out << r.err;
  EXPECT_TRUE(names_word(r.out + r.err, "note")) << "the dropped column is not named:\n" << r.out << r.err;
  EXPECT_TRUE(read_text(team.wc(team.b)) == wc_before) << "the working copy must not change";
  EXPECT_EQ(team.columns(team.b, "notes"), (Names{"id", "title", "note"}))
      << joined(team.columns(team.b, "notes"));
  EXPECT_EQ(team.rows(team.b, b_rows), b_before) << render_rows(team.rows(team.b, b_rows));

  // Taking the remote's: the column goes, and B's edit is saved in the discarded file.
  auto settled = team.run(team.b, {"pull", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(team.columns(team.b, "notes"), (Names{"id", "title"})) << joined(team.columns(team.b, "notes"));
  EXPECT_EQ(team.rows(team.b, "SELECT id, title FROM notes ORDER BY id"),
            (Rows{{I(1), T("one")}, {I(2), T("two")}}));
  ASSERT_FALSE(discarded_files(team.b).empty()) << settled.out << settled.err;
  EXPECT_TRUE(contains(discarded_files_text(team.b), "B''s precious note")) << discarded_files_text(team.b);
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

// A teammate drops an index, then the column it covered (a rebuild on the server). A copy that still has
// both, unchanged, takes both drops: the index is the remote's change, not one of ours to keep (found by the
// property test: the copy's pull refused, "your index Ix1 items ... does not fit", whatever the policy).
TEST(SchemaMigration, RemoteDropOfAnIndexAndItsColumnReachesACopyThatHasBoth) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE \"Items\" (id INTEGER PRIMARY KEY, title TEXT, \"Tag\" TEXT)",
       "CREATE INDEX \"Ix Tag\" ON \"Items\" (\"Tag\")", "INSERT INTO \"Items\" VALUES (1, 'one', 't1')"}));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), "DROP INDEX \"Ix Tag\"; ALTER TABLE \"Items\" DROP COLUMN \"Tag\""));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_EQ(team.remote_sql("Ix Tag"), "");
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE \"Items\" SET title = 'B''s' WHERE id = 1"));

  auto r = team.run(team.b, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(team.local_sql_of(team.b, "Ix Tag"), "");
  EXPECT_EQ(team.columns(team.b, "Items"), (Names{"id", "title"})) << joined(team.columns(team.b, "Items"));
  EXPECT_EQ(team.remote("SELECT id, title FROM items"), (Rows{{I(1), T("B's")}}));
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

// A teammate indexes a column that this copy renamed: a conflict by default; taking the remote's brings
// theirs' table back (ours saved) so that the index can be created (found by the property test: even
// --on-conflict=remote refused, "no such column").
TEST(SchemaMigration, RemoteIndexOnALocallyRenamedColumnIsSettledByTheRemotePolicy) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, tag TEXT)",
                                      "INSERT INTO notes VALUES (1, 'one', 't1')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "CREATE INDEX notes_tag ON notes (tag)"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "ALTER TABLE notes RENAME COLUMN tag TO label"));

  std::string wc_before = read_text(team.wc(team.b));
  auto r = team.run(team.b, {"pull"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "notes_tag")) << r.err;
  EXPECT_TRUE(read_text(team.wc(team.b)) == wc_before) << "the working copy must not change";

  auto settled = team.run(team.b, {"pull", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(team.columns(team.b, "notes"), (Names{"id", "title", "tag"}))
      << joined(team.columns(team.b, "notes"));
  EXPECT_NE(team.local_sql_of(team.b, "notes_tag"), "");
  EXPECT_TRUE(contains(discarded_files_text(team.b), "label")) << discarded_files_text(team.b);
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

// The mirror case: the working copy dropped a column the remote edited since. A conflict naming it; taking
// the remote's brings the column back with the remote's values (never reset to NULL, which the next push
// would send); keeping ours drops the remote's edit along with the column.
TEST(SchemaMigration, LocalDropOfARemotelyEditedColumnIsAConflict) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, note TEXT)",
                                      "INSERT INTO notes VALUES (1, 'one', 'n1'), (2, 'two', 'n2')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "UPDATE notes SET note = 'A''s note' WHERE id = 1"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "ALTER TABLE notes DROP COLUMN note"));
  std::string wc_before = read_text(team.wc(team.b));

  auto r = team.run(team.b, {"pull"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(names_word(r.out + r.err, "note")) << "the dropped column is not named:\n" << r.out << r.err;
  EXPECT_TRUE(read_text(team.wc(team.b)) == wc_before) << "the working copy must not change";

  auto settled = team.run(team.b, {"pull", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(team.rows(team.b, "SELECT id, title, note FROM notes ORDER BY id"),
            (Rows{{I(1), T("one"), T("A's note")}, {I(2), T("two"), T("n2")}}));
  EXPECT_EQ(team.diff_exit(team.b), 0) << "taking the remote's table leaves nothing to push";
}

TEST(SchemaMigration, RemoteRowEditsFollowLocalRenames) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)",
                                      "INSERT INTO notes VALUES (1, 'one', 'b1'), (2, 'two', 'b2')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "UPDATE notes SET body = 'A''s body' WHERE id = 1;"
                                    "INSERT INTO notes VALUES (3, 'three', 'b3')"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b),
                                    "ALTER TABLE notes RENAME COLUMN body TO content;"
                                    "ALTER TABLE notes RENAME TO \"Notes Archive\""));

  auto r = team.run(team.b, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const Rows expected = {
      {I(1), T("one"), T("A's body")}, {I(2), T("two"), T("b2")}, {I(3), T("three"), T("b3")}};
  EXPECT_EQ(team.rows(team.b, "SELECT id, title, content FROM \"Notes Archive\" ORDER BY id"), expected);
  EXPECT_EQ(team.remote("SELECT id, title, content FROM \"Notes Archive\" ORDER BY id"), expected)
      << "B's renames reach the remote with A's rows in them";
  EXPECT_EQ(team.diff_exit(team.b), 0);
}

// ---------------------------------------------------------------------------------------------------------------
// 5. The remote rebuilt a table under a column we added (with an index and a trigger on it) and filled.

TEST(SchemaMigration, RemoteRebuildUnderALocalColumnIsAConflict) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, legacy TEXT)",
                                      "INSERT INTO notes VALUES (1, 'one', 'x'), (2, 'two', 'y')"}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "ALTER TABLE notes DROP COLUMN legacy"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  ASSERT_EQ(team.remote_columns("notes"), (Names{"id", "title"})) << joined(team.remote_columns("notes"));

  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.b),
                "ALTER TABLE notes ADD COLUMN due TEXT;"
                "CREATE INDEX notes_due ON notes (due);"
                "CREATE TABLE due_log (id INTEGER PRIMARY KEY, note_id INTEGER, due TEXT);"
                "CREATE TRIGGER notes_due_log AFTER UPDATE OF due ON notes BEGIN "
                "INSERT INTO due_log (note_id, due) VALUES (new.id, new.due); END;"
                "UPDATE notes SET due = '2026-12-24' WHERE id = 1;"
                "UPDATE notes SET due = '2027-01-01' WHERE id = 2;"));
  const char* b_rows = "SELECT id, title, legacy, due FROM notes ORDER BY id";
  const Rows b_before = {{I(1), T("one"), T("x"), T("2026-12-24")},
                         {I(2), T("two"), T("y"), T("2027-01-01")}};
  const char* b_objects =
      "SELECT type, lower(name) FROM sqlite_schema WHERE lower(name) IN ('notes_due', 'notes_due_log') ORDER "
      "BY 2";
  const Rows b_objects_before = {{T("index"), T("notes_due")}, {T("trigger"), T("notes_due_log")}};
  ASSERT_EQ(team.rows(team.b, b_objects), b_objects_before);
  std::string wc_before = read_text(team.wc(team.b));

  auto r = team.run(team.b, {"pull"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.out + r.err, "notes")) << r.out << r.err;
  // It says what B would lose: its column, and the index and trigger that use it.
  EXPECT_TRUE(contains(r.err, "would drop your column due")) << r.err;
  EXPECT_TRUE(contains(r.err, "index notes_due")) << r.err;
  EXPECT_TRUE(contains(r.err, "trigger notes_due_log")) << r.err;
  EXPECT_TRUE(read_text(team.wc(team.b)) == wc_before) << "the working copy must not change";
  EXPECT_EQ(team.rows(team.b, b_rows), b_before) << render_rows(team.rows(team.b, b_rows));
  EXPECT_EQ(team.rows(team.b, b_objects), b_objects_before) << render_rows(team.rows(team.b, b_objects));
  EXPECT_EQ(team.remote_columns("notes"), (Names{"id", "title"})) << "a pull never writes to the remote";

  // Taking the remote's table: B's column goes, its values are saved in the discarded file.
  auto settled = team.run(team.b, {"pull", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  EXPECT_EQ(team.columns(team.b, "notes"), (Names{"id", "title"})) << joined(team.columns(team.b, "notes"));
  EXPECT_EQ(team.rows(team.b, "SELECT id, title FROM notes ORDER BY id"),
            (Rows{{I(1), T("one")}, {I(2), T("two")}}));
  ASSERT_FALSE(discarded_files(team.b).empty()) << settled.out << settled.err;
  std::string discarded = discarded_files_text(team.b);
  EXPECT_TRUE(contains(discarded, "2026-12-24")) << discarded;
  EXPECT_TRUE(contains(discarded, "2027-01-01")) << discarded;
  // The index on the dropped column is saved; the trigger is kept in the working copy (SQLite accepts a
  // trigger whose UPDATE OF column is gone: it never fires), so the application's updates still work.
  EXPECT_TRUE(contains(discarded, "CREATE INDEX notes_due ON notes (due)")) << discarded;
  EXPECT_EQ(team.rows(team.b, b_objects), (Rows{{T("trigger"), T("notes_due_log")}}));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "UPDATE notes SET title = 'ONE' WHERE id = 1"));
  auto synced = team.run(team.b, {"sync"});
  EXPECT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  EXPECT_EQ(team.remote_columns("notes"), (Names{"id", "title"})) << joined(team.remote_columns("notes"));
}

// ---------------------------------------------------------------------------------------------------------------
// 7. PRAGMA user_version (the application's migration counter) travels with the schema.

TEST(SchemaMigration, UserVersionTravelsWithTheSchema) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(
      team.start({"PRAGMA user_version = 1", "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)",
                  "INSERT INTO items VALUES (1, 'one')"}));
  const char* version = "PRAGMA user_version";
  ASSERT_EQ(team.remote(version), (Rows{{I(1)}}));
  EXPECT_EQ(team.rows(team.a, version), (Rows{{I(1)}}))
      << "init must give the working copy the remote's version";
  EXPECT_EQ(team.rows(team.b, version), (Rows{{I(1)}}))
      << "init must give the working copy the remote's version";

  // A's migration 2: a column, and the counter.
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), "ALTER TABLE items ADD COLUMN size INTEGER; PRAGMA user_version = 2;"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;
  EXPECT_EQ(team.remote(version), (Rows{{I(2)}})) << a.out;
  EXPECT_EQ(team.remote_columns("items"), (Names{"id", "name", "size"}))
      << joined(team.remote_columns("items"));
  EXPECT_EQ(team.rows(team.a, version), (Rows{{I(2)}}));
  EXPECT_EQ(team.diff_exit(team.a), 0);

  auto b = team.run(team.b, {"pull"});
  ASSERT_EQ(b.exit_code, 0) << b.out << b.err;
  EXPECT_EQ(team.rows(team.b, version), (Rows{{I(2)}})) << b.out;
  EXPECT_EQ(team.columns(team.b, "items"), (Names{"id", "name", "size"}))
      << joined(team.columns(team.b, "items"));
  EXPECT_EQ(team.diff_exit(team.b), 0);

  // Both copies run a different migration 3 (different counters): the second one to sync is stopped.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "PRAGMA user_version = 3"));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), "PRAGMA user_version = 4"));
  auto first = team.run(team.a, {"sync"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_EQ(team.remote(version), (Rows{{I(3)}})) << first.out;
  auto second = team.run(team.b, {"sync"});
  EXPECT_EQ(second.exit_code, 3) << second.out << second.err;
  EXPECT_TRUE(contains(lower_ascii(second.out + second.err), "user_version")) << second.out << second.err;
  EXPECT_EQ(team.remote(version), (Rows{{I(3)}})) << "the conflicting version must not be pushed";
  EXPECT_EQ(team.rows(team.b, version), (Rows{{I(4)}})) << "B's version must stay until B decides";
}

// ---------------------------------------------------------------------------------------------------------------
// 8. Mixed-case names (the server lower-cases them in sqlite_schema).

TEST(SchemaMigration, MixedCaseTableNamesWork) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({}));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a),
                "CREATE TABLE Recipients (Id INTEGER PRIMARY KEY, Email TEXT NOT NULL, "
                "Name TEXT);"
                "CREATE INDEX Recipients_Email ON Recipients (Email);"
                "INSERT INTO Recipients VALUES (1, 'Ann@X', 'Ann'), (2, 'bob@x', 'Bob');"));
  const char* all = "SELECT Id, Email, Name FROM Recipients ORDER BY Id";
  Rows expected = {{I(1), T("Ann@X"), T("Ann")}, {I(2), T("bob@x"), T("Bob")}};
  auto pushed = team.run(team.a, {"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));
  auto quiet = team.run(team.a, {"diff", "--exit-code"});
  EXPECT_EQ(quiet.exit_code, 0) << "the server's lower-cased names are not a change:\n"
                                << quiet.out << quiet.err;

  // A third directory starts from the remote.
  TempDir late;
  auto init = team.run(late, {"init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_EQ(local_rows(late.file("working_copy.db"), all), expected);

  // Edits on every side reach the others.
  auto b_pull = team.run(team.b, {"pull"});
  ASSERT_EQ(b_pull.exit_code, 0) << b_pull.out << b_pull.err;
  EXPECT_EQ(team.rows(team.b, all), expected) << render_rows(team.rows(team.b, all));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b),
                                    "UPDATE Recipients SET Name = 'Bob B' WHERE Id = 2;"
                                    "INSERT INTO Recipients VALUES (3, 'Cid@x', 'Cid');"));
  auto b_push = team.run(team.b, {"push"});
  ASSERT_EQ(b_push.exit_code, 0) << b_push.out << b_push.err;
  expected = {{I(1), T("Ann@X"), T("Ann")}, {I(2), T("bob@x"), T("Bob B")}, {I(3), T("Cid@x"), T("Cid")}};
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));

  ASSERT_NO_FATAL_FAILURE(
      local_sql(late.file("working_copy.db"), "UPDATE Recipients SET Email = 'ann@x' WHERE Id = 1"));
  auto late_sync = team.run(late, {"sync"});
  ASSERT_EQ(late_sync.exit_code, 0) << late_sync.out << late_sync.err;
  expected[0] = {I(1), T("ann@x"), T("Ann")};
  EXPECT_EQ(local_rows(late.file("working_copy.db"), all), expected);
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));

  // A pulls first: deleting a row B changed since A's last pull would be a real delete/update conflict.
  ASSERT_EQ(team.run(team.a, {"pull"}).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), "DELETE FROM Recipients WHERE Id = 2"));
  auto a_sync = team.run(team.a, {"sync"});
  ASSERT_EQ(a_sync.exit_code, 0) << a_sync.out << a_sync.err;
  expected.erase(expected.begin() + 1);
  EXPECT_EQ(team.rows(team.a, all), expected) << render_rows(team.rows(team.a, all));
  EXPECT_EQ(team.remote(all), expected) << render_rows(team.remote(all));
  for (const TempDir* dir : {&team.b, &late}) {
    auto r = team.run(*dir, {"sync"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(local_rows(dir->file("working_copy.db"), all), expected);
    EXPECT_EQ(team.diff_exit(*dir), 0);
  }
  EXPECT_EQ(team.rows(team.b, "SELECT count(*) FROM sqlite_schema WHERE lower(name) = 'recipients_email'"),
            (Rows{{I(1)}}));
}

// ---------------------------------------------------------------------------------------------------------------
// 9. Two copies create the same table differently: a conflict (exit 3), not an error from the server.

TEST(SchemaMigration, SameTableCreatedDifferentlyOnTwoCopiesIsAConflict) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE other (id INTEGER PRIMARY KEY)"}));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), "CREATE TABLE notes (a TEXT); INSERT INTO notes VALUES ('A');"));
  ASSERT_NO_FATAL_FAILURE(local_sql(
      team.wc(team.b), "CREATE TABLE notes (b TEXT, c TEXT); INSERT INTO notes VALUES ('B', 'C');"));
  auto a = team.run(team.a, {"push"});
  ASSERT_EQ(a.exit_code, 0) << a.out << a.err;

  auto b = team.run(team.b, {"push"});
  EXPECT_EQ(b.exit_code, 3) << b.out << b.err;
  EXPECT_TRUE(names_word(b.out + b.err, "notes")) << b.out << b.err;
  EXPECT_EQ(team.remote_columns("notes"), (Names{"a"})) << joined(team.remote_columns("notes"));
  EXPECT_EQ(team.remote("SELECT * FROM notes"), (Rows{{T("A")}}));

  // pull sees the same clash and changes nothing.
  std::string wc_before = read_text(team.wc(team.b));
  auto pulled = team.run(team.b, {"pull"});
  EXPECT_EQ(pulled.exit_code, 3) << pulled.out << pulled.err;
  EXPECT_TRUE(names_word(pulled.out + pulled.err, "notes")) << pulled.out << pulled.err;
  EXPECT_TRUE(read_text(team.wc(team.b)) == wc_before);
  EXPECT_EQ(team.columns(team.b, "notes"), (Names{"b", "c"}));
}

// ---------------------------------------------------------------------------------------------------------------
// 10. A pull that brings only schema changes says so.

TEST(SchemaMigration, SchemaOnlyPullIsReported) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
                                      "CREATE TABLE scratch (id INTEGER PRIMARY KEY, junk TEXT)",
                                      "INSERT INTO emails VALUES (1, 'one'), (2, 'two')",
                                      "INSERT INTO scratch VALUES (1, 'j')"}));
  remote_exec(team.server.url(), {"DROP TABLE scratch", "CREATE INDEX emails_subject ON emails (subject)"});

  auto r = team.run(team.a, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(contains(r.out, "already up to date")) << r.out;
  EXPECT_TRUE(contains(lower_ascii(r.out), "schema")) << "the schema change is not reported:\n" << r.out;
  const char* objects =
      "SELECT type, lower(name) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE "
      "'turso_%' "
      "ORDER BY 2";
  const Rows expected = {{T("table"), T("emails")}, {T("index"), T("emails_subject")}};
  EXPECT_EQ(team.rows(team.a, objects), expected) << render_rows(team.rows(team.a, objects));
  EXPECT_EQ(team.rows(team.a, "SELECT id, subject FROM emails ORDER BY id"),
            (Rows{{I(1), T("one")}, {I(2), T("two")}}));
  EXPECT_EQ(team.diff_exit(team.a), 0);

  // Now it is up to date.
  auto again = team.run(team.a, {"pull"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_TRUE(contains(again.out, "already up to date")) << again.out;
}

// ---------------------------------------------------------------------------------------------------------------
// 11. ADD COLUMN on a table with COLLATE and AUTOINCREMENT keeps them (the server's ALTER drops them).

TEST(SchemaMigration, AddColumnKeepsCollationAndAutoincrement) {
  SchemaTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, tag TEXT COLLATE NOCASE, title TEXT)",
       "INSERT INTO tickets (tag, title) VALUES ('Urgent', 'a'), ('later', 'b')"}));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a),
                "ALTER TABLE tickets ADD COLUMN owner TEXT;"
                "INSERT INTO tickets (tag, title, owner) VALUES ('URGENT', 'c', 'ann');"));
  auto r = team.run(team.a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string remote_def = upper(team.remote_sql("tickets"));
  EXPECT_TRUE(contains(remote_def, "COLLATE NOCASE")) << team.remote_sql("tickets");
  EXPECT_TRUE(contains(remote_def, "AUTOINCREMENT")) << team.remote_sql("tickets");
  EXPECT_TRUE(contains(remote_def, "OWNER")) << team.remote_sql("tickets");
  const char* urgent = "SELECT id, title, owner FROM tickets WHERE tag = 'urgent' ORDER BY id";
  const Rows expected_urgent = {{I(1), T("a"), N()}, {I(3), T("c"), T("ann")}};
  EXPECT_EQ(team.remote(urgent), expected_urgent) << render_rows(team.remote(urgent));
  // The push's own pull does not take the server's lossy text back into the working copy.
  std::string local_def = upper(team.local_sql_of(team.a, "tickets"));
  EXPECT_TRUE(contains(local_def, "COLLATE NOCASE")) << team.local_sql_of(team.a, "tickets");
  EXPECT_TRUE(contains(local_def, "AUTOINCREMENT")) << team.local_sql_of(team.a, "tickets");
  EXPECT_EQ(team.diff_exit(team.a), 0);

  // A copy made from the remote afterwards has the collation too (reads the definition, not the server's
  // memory).
  TempDir late;
  auto init = team.run(late, {"init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_EQ(local_rows(late.file("working_copy.db"), urgent), expected_urgent)
      << render_rows(local_rows(late.file("working_copy.db"), urgent));

  // A teammate's bare ALTER TABLE on the remote loses the COLLATE: the next pull warns about it.
  remote_exec(team.server.url(), {"ALTER TABLE tickets ADD COLUMN due TEXT"});
  ASSERT_FALSE(contains(upper(team.remote_sql("tickets")), "COLLATE"))
      << "the server kept COLLATE this time: " << team.remote_sql("tickets");
  auto pulled = team.run(team.b, {"pull"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  std::string said = pulled.out + pulled.err;
  EXPECT_TRUE(contains(lower_ascii(said), "collate")) << "no warning about the lost COLLATE:\n" << said;
  EXPECT_TRUE(contains(said, "tickets")) << said;
  ASSERT_FALSE(contains(upper(team.remote_sql("tickets")), "AUTOINCREMENT"))
      << "the server kept AUTOINCREMENT this time: " << team.remote_sql("tickets");
  EXPECT_TRUE(contains(said, "table tickets: column id loses AUTOINCREMENT"))
      << "no warning about the lost AUTOINCREMENT:\n"
      << said;
  EXPECT_EQ(team.columns(team.b, "tickets"), (Names{"id", "tag", "title", "owner", "due"}))
      << joined(team.columns(team.b, "tickets"));
}

}  // namespace
}  // namespace turso_sync::testing
