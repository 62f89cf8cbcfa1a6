// AUTOINCREMENT counters never go backwards on any copy (issue 19; docs/conflicts.md "AUTOINCREMENT"): a
// local row the pull moves to a fresh id raises the counter (SQLite raises it on INSERT, not when UPDATE
// moves a rowid), and a pull carries the remote's counter (a teammate inserted and deleted rows). Before, the
// application's next insert after a delete reused an id AUTOINCREMENT exists to protect.
#include <gtest/gtest.h>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

TEST(Autoincrement, CountersFollowMovedRowsAndTheRemote) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(
      team.start({"CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT)"}));
  const std::string& url = team.server.url();
  const TempDir &a = team.a, &b = team.b;
  const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
  local_exec(wa, "INSERT INTO audit (what) VALUES ('a1')");
  auto r = run_cli({"push"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // B's own row took id 1 too: the pull moves it to 2.
  local_exec(wb, "INSERT INTO audit (what) VALUES ('b1')");
  r = run_cli({"pull"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(local_rows(wb, "SELECT id, what FROM audit ORDER BY id"),
            (Rows{{I(1), T("a1")}, {I(2), T("b1")}}));
  EXPECT_EQ(local_count(wb, "SELECT seq FROM sqlite_sequence WHERE name = 'audit'"), 2);
  // The application deletes its row and writes another: a new id, never 2 again.
  local_exec(wb, "DELETE FROM audit WHERE id = 2; INSERT INTO audit (what) VALUES ('b2')");
  EXPECT_EQ(local_count(wb, "SELECT id FROM audit WHERE what = 'b2'"), 3);
  r = run_cli({"push"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // A teammate's application inserts rows up to id 20 and deletes them: the remote's counter is 20.
  remote_exec(url, {"INSERT INTO audit (id, what) VALUES (20, 'x')", "DELETE FROM audit WHERE id = 20",
                    "UPDATE audit SET what = 'a1 edited' WHERE id = 1"});
  ASSERT_EQ(remote_count(url, "SELECT seq FROM sqlite_sequence WHERE name = 'audit'"), 20);
  r = run_cli({"pull"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_GE(local_count(wa, "SELECT seq FROM sqlite_sequence WHERE name = 'audit'"), 20);
  local_exec(wa, "INSERT INTO audit (what) VALUES ('a2')");
  EXPECT_EQ(local_count(wa, "SELECT id FROM audit WHERE what = 'a2'"), 21);
  r = run_cli({"push"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same(url, wa, "SELECT * FROM audit ORDER BY id");
}

// Found by TeamHoldProperty (seed 11593240341628430509): a copy drops a column of an AUTOINCREMENT table
// whose largest rows were deleted, and pushes the table rebuild (new table, copy, drop, rename). The counter
// stays where it was on the remote and on the other copy: the next insert on the server gets a new id.
// Before, the rebuilt table's counter restarted at its largest copied id, the server gave out a deleted row's
// id again, and copies that still had edits of that row took the new row for it (one overwrote it).
TEST(Autoincrement, ATableRebuildKeepsTheCounterOnTheRemote) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(
      team.start({"CREATE TABLE people (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, note TEXT)",
                  "INSERT INTO people (name, note) VALUES ('p1', 'n'), ('p2', 'n'), ('p3', 'n')",
                  "DELETE FROM people WHERE id = 3"}));
  const std::string& url = team.server.url();
  const TempDir &a = team.a, &b = team.b;
  ASSERT_EQ(remote_count(url, "SELECT seq FROM sqlite_sequence WHERE name = 'people'"), 3);
  local_exec(team.wc(a), "ALTER TABLE people DROP COLUMN note");
  auto r = team.run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(team.remote("SELECT name FROM pragma_table_info('people') ORDER BY cid"),
            (Rows{{T("id")}, {T("name")}}));
  EXPECT_EQ(remote_count(url, "SELECT seq FROM sqlite_sequence WHERE name = 'people'"), 3);
  remote_exec(url, {"INSERT INTO people (name) VALUES ('on the server')"});
  EXPECT_EQ(remote_count(url, "SELECT id FROM people WHERE name = 'on the server'"), 4);
  r = team.run(b, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_GE(local_count(team.wc(b), "SELECT seq FROM sqlite_sequence WHERE name = 'people'"), 4);
  local_exec(team.wc(b), "INSERT INTO people (name) VALUES ('b')");
  EXPECT_EQ(local_count(team.wc(b), "SELECT id FROM people WHERE name = 'b'"), 5);
}

}  // namespace
}  // namespace turso_sync::testing
