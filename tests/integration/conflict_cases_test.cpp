// Disagreements that unattended sync once settled silently (issue 18; docs/conflicts.md). The remote is read
// through the independent path.
// - A held row is held for its disputed columns only ("Held conflicts"): while it is held, a teammate's later
//   change of another column merges into it as for any row, `conflicts` shows as base the last state both
//   sides agreed on, and `resolve --ours` sends back only what is in dispute. Before, `resolve --ours` pushed
//   the whole row as the application last wrote it, undoing the teammate's column on the remote.
// - A held row stays held through a teammate's migration of its table (a column dropped, a column renamed):
//   the record follows the schema. Before, the hold vanished ("both sides already agree") and the next cycle
//   pushed ours over theirs.
// - A reference the remote itself holds dangling (a teammate deleted a parent with foreign keys off) is not
//   the merge's to settle: a copy with no local change pulls it as it is and pushes nothing back. Before, its
//   workflow cycle brought the parent back and pushed it, undoing the teammate's delete.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "support/sync_checks.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const char* kRow1 = "SELECT id, title, body, tag FROM notes WHERE id = 1";

// Two copies of a `notes` table, each init'ed; A has changed row 1's title to 'A' and pushed, B to 'B' and
// ran `hold_with` (a holding pull): row 1 is held on B.
struct Pair {
  LocalServer server;
  TempDir a, b;
  std::string url() const { return server.url(); }
  std::string wa() const { return a.file("working_copy.db"); }
  std::string wb() const { return b.file("working_copy.db"); }
  CommandResult run(const TempDir& dir, const std::vector<std::string>& args) const {
    return run_cli(args, env_for(server.url()), dir.path().string());
  }
  void hold_row_1(const std::vector<std::string>& schema, const std::vector<std::string>& hold_with) {
    ASSERT_TRUE(server.started());
    remote_exec(url(), schema);
    for (const TempDir* d : {&a, &b}) {
      auto r = run(*d, {"init"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    local_exec(wa(), "UPDATE notes SET title = 'A' WHERE id = 1");
    auto r = run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(wb(), "UPDATE notes SET title = 'B' WHERE id = 1");
    r = run(b, hold_with);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
};

TEST(HeldColumns, ATeammatesLaterEditOfAnotherColumnMergesIntoTheHeldRowAndResolveOursKeepsIt) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(
      p.hold_row_1({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, tag TEXT)",
                    "INSERT INTO notes VALUES (1, 'base', 'b1', 't1'), (2, 'two', 'b2', 't2')"},
                   {"sync", "--on-conflict=hold"}));
  const std::string url = p.url(), wa = p.wa(), wb = p.wb();
  const TempDir &a = p.a, &b = p.b;
  auto run = [&](const TempDir& dir, const std::vector<std::string>& args) { return p.run(dir, args); };
  CommandResult r;
  EXPECT_EQ(remote_rows(url, kRow1), (Rows{{I(1), T("A"), T("b1"), T("t1")}}));

  // While it is held, A changes another column of the row (and another row).
  local_exec(wa, "UPDATE notes SET body = 'A body' WHERE id = 1; UPDATE notes SET body = 'A2' WHERE id = 2");
  r = run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run(b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // B's row takes A's body; its title stays B's, still held.
  EXPECT_EQ(local_rows(wb, kRow1), (Rows{{I(1), T("B"), T("A body"), T("t1")}}));
  EXPECT_EQ(remote_rows(url, kRow1), (Rows{{I(1), T("A"), T("A body"), T("t1")}}));
  simdjson::dom::parser parser;
  r = run(b, {"--json", "conflicts"});
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  ASSERT_EQ(doc["conflicts"].get_array().size(), 1u) << r.out;
  // The base: the last state both sides agreed on, column by column.
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["base"]),
            (std::vector<std::string>{"1", "'base'", "'A body'", "'t1'"}));
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["ours"]),
            (std::vector<std::string>{"1", "'B'", "'A body'", "'t1'"}));
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["theirs"]),
            (std::vector<std::string>{"1", "'A'", "'A body'", "'t1'"}));

  // B keeps its title: only the title goes out; A's body stays on the remote.
  r = run(b, {"resolve", "--ours"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run(b, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_rows(url, kRow1), (Rows{{I(1), T("B"), T("A body"), T("t1")}}));
  r = run(a, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same_local(wa, wb, "SELECT * FROM notes ORDER BY id");
  expect_same(url, wb, "SELECT * FROM notes ORDER BY id");
}

// A's migrations, each pushed while B holds row 1's title: a column dropped, then one renamed.
TEST(HeldColumns, AHoldSurvivesATeammatesMigrationOfItsTable) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(p.hold_row_1(
      {"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, tag TEXT, extra TEXT)",
       "INSERT INTO notes VALUES (1, 'base', 'b1', 't1', 'x1'), (2, 'two', 'b2', 't2', 'x2')"},
      {"workflow", "--once"}));
  const std::string url = p.url(), wa = p.wa(), wb = p.wb();
  const TempDir &a = p.a, &b = p.b;
  auto run = [&](const TempDir& dir, const std::vector<std::string>& args) { return p.run(dir, args); };
  CommandResult r;
  for (const char* migration :
       {"ALTER TABLE notes DROP COLUMN extra", "ALTER TABLE notes RENAME COLUMN tag TO label",
        "ALTER TABLE notes RENAME COLUMN title TO heading"}) {
    SCOPED_TRACE(migration);
    r = run(a, {"pull"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(wa, migration);
    r = run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    const std::string title =
        std::string(migration).find("heading") == std::string::npos ? "title" : "heading";
    EXPECT_EQ(remote_rows(url, "SELECT " + title + " FROM notes WHERE id = 1"), (Rows{{T("A")}}));
    EXPECT_EQ(local_rows(wb, "SELECT " + title + " FROM notes WHERE id = 1"), (Rows{{T("B")}}));
    r = run(b, {"--json", "conflicts"});
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
    ASSERT_EQ(doc["conflicts"].get_array().size(), 1u) << r.out;
    // The disputed column keeps its base under its new name.
    EXPECT_EQ(json_strings(doc["conflicts"].at(0)["columns"]).at(1), title) << r.out;
    EXPECT_EQ(json_strings(doc["conflicts"].at(0)["base"]).at(1), "'base'") << r.out;
  }
  // The record follows the schema: resolve --theirs takes A's title under the new column names.
  r = run(b, {"resolve", "--theirs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(local_rows(wb, "SELECT id, heading, body, label FROM notes WHERE id = 1"),
            (Rows{{I(1), T("A"), T("b1"), T("t1")}}));
  r = run(b, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same(url, wb, "SELECT * FROM notes ORDER BY id");
}

TEST(DanglingOnTheRemote, ACopyWithNoLocalChangePullsItAsItIsAndPushesNothingBack) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(url,
              {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)",
               "CREATE TABLE emails (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id), "
               "subject TEXT)",
               "INSERT INTO contacts VALUES (1, 'a@x'), (2, 'b@x')",
               "INSERT INTO emails VALUES (10, 1, 'hello'), (11, 2, 'hi')"});
  TempDir b;
  auto r = run_cli({"init"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // A teammate's application, foreign keys off (SQLite's default), deletes contact 1 and leaves its email.
  remote_exec(url, {"DELETE FROM contacts WHERE id = 1"});
  for (const char* policy : {"hold", "local"}) {
    SCOPED_TRACE(policy);
    r = run_cli({"workflow", "--once", std::string("--on-conflict=") + policy}, env_for(url),
                b.path().string());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(remote_rows(url, "SELECT id FROM contacts ORDER BY id"), (Rows{{I(2)}}));
    EXPECT_EQ(remote_count(url, "SELECT count(*) FROM sqlite_schema WHERE name = 'turso_sync_pushes'"), 0)
        << "nothing was pushed";
    expect_same(url, b.file("working_copy.db"), "SELECT * FROM contacts ORDER BY id");
    expect_same(url, b.file("working_copy.db"), "SELECT * FROM emails ORDER BY id");
    EXPECT_EQ(discarded_files_text(b), "");
  }
}

}  // namespace
}  // namespace turso_sync::testing
