// Rows are events or shared facts (docs/conflicts.md "Events and facts"; issue 19 case 1): two
// copies that each insert an identical row at the same auto-assigned key made two events when the table is
// AUTOINCREMENT or a trigger writes it (an audit log: both rows kept, ours moved), one shared fact otherwise
// (the seed rows of one migration run on two copies). Before, the pull took two identical audit rows for one
// insert and the second user's creation was missing from the audit log.
#include <gtest/gtest.h>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

TEST(EventsAndFacts, IdenticalAuditRowsAreTwoEventsAndIdenticalSeedRowsOneFact) {
  Team team;
  // The usual audit trigger, both tables AUTOINCREMENT; a log written by a trigger on a plain rowid table;
  // a settings table that migrations seed.
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)",
       "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT, at TEXT)",
       "CREATE TABLE log (id INTEGER PRIMARY KEY, what TEXT)",
       "CREATE TRIGGER users_audit AFTER INSERT ON users BEGIN INSERT INTO audit (what, at) VALUES "
       "('user created', '2026-12-07 10:00:00'); INSERT INTO \"log\" (what) VALUES ('created'); END",
       "CREATE TABLE settings (id INTEGER PRIMARY KEY, name TEXT, value TEXT)"}));
  const std::string& url = team.server.url();
  const TempDir &a = team.a, &b = team.b;
  const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
  // Each copy adds a user in the same second, and runs the same seeding migration.
  const std::string seed = "INSERT INTO settings (name, value) VALUES ('theme', 'dark'), ('lang', 'en');";
  local_exec(wa, "INSERT INTO users (name) VALUES ('alice');" + seed);
  local_exec(wb, "INSERT INTO users (name) VALUES ('bob');" + seed);
  ASSERT_EQ(local_rows(wa, "SELECT * FROM audit"), local_rows(wb, "SELECT * FROM audit"));
  auto r = run_cli({"push"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_cli({"sync"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_cli({"pull"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  const Rows audit{{I(1), T("user created"), T("2026-12-07 10:00:00")},
                   {I(2), T("user created"), T("2026-12-07 10:00:00")}};
  EXPECT_EQ(remote_rows(url, "SELECT id, name FROM users ORDER BY id"),
            (Rows{{I(1), T("alice")}, {I(2), T("bob")}}));
  EXPECT_EQ(remote_rows(url, "SELECT * FROM audit ORDER BY id"), audit);
  EXPECT_EQ(remote_rows(url, "SELECT * FROM log ORDER BY id"),
            (Rows{{I(1), T("created")}, {I(2), T("created")}}));
  EXPECT_EQ(remote_rows(url, "SELECT * FROM settings ORDER BY id"),
            (Rows{{I(1), T("theme"), T("dark")}, {I(2), T("lang"), T("en")}}));
  for (const std::string& path : {wa, wb})
    for (const char* table : {"users", "audit", "log", "settings"})
      expect_same(url, path, std::string("SELECT * FROM ") + table + " ORDER BY id");
  EXPECT_GE(local_count(wb, "SELECT seq FROM sqlite_sequence WHERE name = 'audit'"), 2);
  expect_no_local_changes(a, url);
  expect_no_local_changes(b, url);
}

}  // namespace
}  // namespace turso_sync::testing
