// Disagreements that unattended sync once settled silently (issue 18; docs/conflicts.md). The remote is read
// through the independent path.
// - A held row is held for its disputed columns only ("Held conflicts"): while it is held, a teammate's later
//   change of another column merges into it as for any row, `conflicts` shows as base the last state both
//   sides agreed on, and `resolve --ours` sends back only what is in dispute. Before, `resolve --ours` pushed
//   the whole row as the application last wrote it, undoing the teammate's column on the remote.
// - A held row stays held through a teammate's migration of its table (a column dropped, a column renamed):
//   the record follows the schema. Before, the hold vanished ("both sides already agree") and the next cycle
//   pushed ours over theirs.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const char* kTaggedRow1 = "SELECT id, title, body, tag FROM notes WHERE id = 1";

// Two copies of a `notes` table, each init'ed; A has changed row 1's title to 'A' and pushed, B to 'B' and
// ran `hold_with` (a holding pull): row 1 is held on B.
struct Pair : Team {
  std::string url() const { return server.url(); }
  std::string wa() const { return wc(a); }
  std::string wb() const { return wc(b); }
  void hold_row_1(const std::vector<std::string>& schema, const std::vector<std::string>& hold_with) {
    ASSERT_NO_FATAL_FAILURE(start(schema));
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
  EXPECT_EQ(remote_rows(url, kTaggedRow1), (Rows{{I(1), T("A"), T("b1"), T("t1")}}));

  // While it is held, A changes another column of the row (and another row).
  local_exec(wa, "UPDATE notes SET body = 'A body' WHERE id = 1; UPDATE notes SET body = 'A2' WHERE id = 2");
  r = run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run(b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // B's row takes A's body; its title stays B's, still held.
  EXPECT_EQ(local_rows(wb, kTaggedRow1), (Rows{{I(1), T("B"), T("A body"), T("t1")}}));
  EXPECT_EQ(remote_rows(url, kTaggedRow1), (Rows{{I(1), T("A"), T("A body"), T("t1")}}));
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
  EXPECT_EQ(remote_rows(url, kTaggedRow1), (Rows{{I(1), T("B"), T("A body"), T("t1")}}));
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

// Case 4 of issue 18, the local side: B renames the held column (and another one) while the row is held.
// The hold stays, and `resolve --theirs` writes A's title into B's renamed column; B's next sync pushes the
// rename with A's title. Before, `resolve --theirs` failed with a raw "no such column" and, tried again,
// kept ours.
TEST(HeldColumns, ResolveTheirsAfterALocalRenameOfTheHeldColumnWritesTheirsUnderTheNewName) {
  Pair p;
  ASSERT_NO_FATAL_FAILURE(
      p.hold_row_1({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT, tag TEXT)",
                    "INSERT INTO notes VALUES (1, 'base', 'b1', 't1'), (2, 'two', 'b2', 't2')"},
                   {"workflow", "--once"}));
  const std::string url = p.url(), wb = p.wb();
  const TempDir& b = p.b;
  auto run = [&](const TempDir& dir, const std::vector<std::string>& args) { return p.run(dir, args); };
  local_exec(
      wb, "ALTER TABLE notes RENAME COLUMN title TO heading; ALTER TABLE notes RENAME COLUMN tag TO label");
  auto r = run(b, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out << r.err;
  ASSERT_EQ(doc["conflicts"].get_array().size(), 1u) << r.out;
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["ours"]).at(1), "'B'") << r.out;
  EXPECT_EQ(run(b, {"status", "--check", "--offline"}).exit_code, 3);

  r = run(b, {"resolve", "--theirs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(local_rows(wb, "SELECT id, heading, body, label FROM notes WHERE id = 1"),
            (Rows{{I(1), T("A"), T("b1"), T("t1")}}));
  EXPECT_NE(discarded_files_text(b).find("'B'"), std::string::npos) << discarded_files_text(b);
  EXPECT_EQ(run(b, {"status", "--check", "--offline"}).exit_code, 0);
  r = run(b, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_rows(url, "SELECT heading FROM notes WHERE id = 1"), (Rows{{T("A")}}));
  expect_same(url, wb, "SELECT * FROM notes ORDER BY id");
}

// A held row's table dropped by a teammate: the remote's drop would lose B's held edit. Under hold the table
// is held as a whole (kind `dropped column`): B keeps it, pushes nothing of it, and every other change
// syncs both ways; `resolve --theirs` drops it (B's rows saved), `resolve --ours` brings it back on the
// remote with B's rows. Before, every cycle of B stopped with exit 3 and nothing synced.
TEST(HeldColumns, ATableDroppedByATeammateUnderAHeldRowIsHeldWhileEverythingElseSyncs) {
  for (const std::string side : {"--theirs", "--ours"}) {
    SCOPED_TRACE(side);
    Pair p;
    ASSERT_NO_FATAL_FAILURE(p.hold_row_1(
        {"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)",
         "CREATE INDEX notes_title ON notes (title)", "CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT)",
         "INSERT INTO notes VALUES (1, 'base', 'b1'), (2, 'two', 'b2')"},
        {"workflow", "--once"}));
    const std::string url = p.url(), wa = p.wa(), wb = p.wb();
    const TempDir &a = p.a, &b = p.b;
    auto run = [&](const TempDir& dir, const std::vector<std::string>& args) { return p.run(dir, args); };
    auto r = run(a, {"pull"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(wa, "DROP TABLE notes; INSERT INTO other VALUES (1, 'from A')");
    r = run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(wb, "INSERT INTO other VALUES (2, 'from B')");
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    EXPECT_EQ(remote_count(url, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"), 0);
    EXPECT_EQ(remote_rows(url, "SELECT id, v FROM other ORDER BY id"),
              (Rows{{I(1), T("from A")}, {I(2), T("from B")}}));
    EXPECT_EQ(local_rows(wb, "SELECT id, title FROM notes ORDER BY id"),
              (Rows{{I(1), T("B")}, {I(2), T("two")}}));
    expect_same(url, wb, "SELECT * FROM other ORDER BY id");
    r = run(b, {"--json", "conflicts"});
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out << r.err;
    bool table_held = false;
    for (auto c : doc["conflicts"].get_array())
      table_held |= std::string(c["kind"].get_string().value()) == "dropped column" &&
                    std::string(c["table"].get_string().value()) == "notes";
    EXPECT_TRUE(table_held) << r.out;
    EXPECT_EQ(run(b, {"status", "--check", "--offline"}).exit_code, 3);

    r = run(b, {"resolve", side});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(run(b, {"status", "--check", "--offline"}).exit_code, 0);
    if (side == "--theirs") {
      EXPECT_EQ(local_rows(wb, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"), (Rows{{I(0)}}));
      EXPECT_NE(discarded_files_text(b).find("'B'"), std::string::npos) << discarded_files_text(b);
      EXPECT_EQ(remote_count(url, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"), 0);
    } else {
      EXPECT_EQ(remote_rows(url, "SELECT id, title FROM notes ORDER BY id"),
                (Rows{{I(1), T("B")}, {I(2), T("two")}}));
      expect_same(url, wb, "SELECT * FROM notes ORDER BY id");
    }
    expect_same(url, wb, "SELECT * FROM other ORDER BY id");
  }
}

// Case 3 of issue 18: the same address typed in two cases on two copies (`email UNIQUE COLLATE NOCASE`).
// Under hold the clashing local row (and the remote's) are held, and every other change keeps syncing in both
// directions, cycle after cycle. Before, every workflow cycle stopped with exit 3 and nothing synced.
TEST(UniqueClash, UnderHoldTheClashingRowsAreHeldWhileEverythingElseSyncsBothWays) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE, name TEXT)",
       "INSERT INTO contacts VALUES (1, 'a@x', 'A')"}));
  const std::string& url = team.server.url();
  const TempDir &a = team.a, &b = team.b;
  auto run = [&](const TempDir& dir, const std::vector<std::string>& args) { return team.run(dir, args); };
  const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
  local_exec(wa, "INSERT INTO contacts VALUES (5, 'Sam@X.com', 'from A')");
  auto r = run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(
      wb,
      "INSERT INTO contacts VALUES (6, 'sam@x.com', 'from B'); UPDATE contacts SET name = 'B' WHERE id = 1");
  for (int cycle = 0; cycle < 2; ++cycle) {
    r = run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // B's other change went out; A's row stays on the remote; B keeps its own row, not pushed.
  EXPECT_EQ(remote_rows(url, "SELECT id, email, name FROM contacts ORDER BY id"),
            (Rows{{I(1), T("a@x"), T("B")}, {I(5), T("Sam@X.com"), T("from A")}}));
  EXPECT_EQ(local_rows(wb, "SELECT id, email FROM contacts ORDER BY id"),
            (Rows{{I(1), T("a@x")}, {I(6), T("sam@x.com")}}));
  r = run(b, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  ASSERT_EQ(doc["conflicts"].get_array().size(), 2u) << r.out;
  for (auto c : doc["conflicts"].get_array())
    EXPECT_EQ(std::string(c["kind"].get_string().value()), "unique") << r.out;
  EXPECT_EQ(run(b, {"status", "--check", "--offline"}).exit_code, 3);

  // A keeps working: its next change reaches B, B's next change reaches the remote.
  r = run(a, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(
      wa, "UPDATE contacts SET name = 'A again' WHERE id = 1; INSERT INTO contacts VALUES (7, 'c@x', 'C')");
  r = run(a, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(wb, "INSERT INTO contacts VALUES (8, 'd@x', 'D')");
  r = run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(local_rows(wb, "SELECT id, name FROM contacts ORDER BY id"),
            (Rows{{I(1), T("A again")}, {I(6), T("from B")}, {I(7), T("C")}, {I(8), T("D")}}));
  EXPECT_EQ(remote_rows(url, "SELECT id FROM contacts ORDER BY id"), (Rows{{I(1)}, {I(5)}, {I(7)}, {I(8)}}));

  r = run(b, {"resolve", "--theirs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(run(b, {"status", "--check", "--offline"}).exit_code, 0);
  EXPECT_NE(discarded_files_text(b).find("from B"), std::string::npos) << discarded_files_text(b);
  expect_same(url, wb, "SELECT * FROM contacts ORDER BY id");
}

// Issue 18, found by ConstraintsProperty (seed 7054911410165892499): a parent row that comes back to keep a
// teammate's reference intact needs a UNIQUE value that another row of the working copy holds. Under
// `remote` (you deleted recipient 1, then gave its address to a new recipient; a teammate wrote an email to
// recipient 1) the merge stops as for every UNIQUE clash: exit 3 naming both rows, nothing changed. Before,
// the pull failed with exit 1 on SQLite's own "UNIQUE constraint failed: recipients.email".
const std::vector<std::string> kRecipients = {
    "CREATE TABLE recipients (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT)",
    "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient_id INTEGER REFERENCES recipients(id) ON DELETE "
    "CASCADE, subject TEXT)",
    "INSERT INTO recipients VALUES (1, 'r1@x', 'one'), (2, 'r2@x', 'two')"};
const char* kRecipientRows = "SELECT id, email, name FROM recipients ORDER BY id";
const char* kEmailRows = "SELECT id, recipient_id, subject FROM emails ORDER BY id";

TEST(UniqueClash, UnderRemoteAParentComingBackOverYourRowsValueStopsInsteadOfFailingOnTheConstraint) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(url, kRecipients);
  TempDir a, b;
  auto run = [&](const TempDir& dir, const std::vector<std::string>& args) {
    return run_cli(args, env_for(url), dir.path().string());
  };
  for (const TempDir* d : {&a, &b}) ASSERT_EQ(run(*d, {"init"}).exit_code, 0);
  const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
  local_exec(wb, "INSERT INTO emails VALUES (1, 1, 'to one')");
  auto r = run(b, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(wa,
             "PRAGMA foreign_keys = ON; DELETE FROM recipients WHERE id = 1; "
             "INSERT INTO recipients VALUES (3, 'r1@x', 'A')");

  r = run(a, {"sync", "--on-conflict=remote"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("cannot come back: your row id = 3 holds email='r1@x'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("constraint failed"), std::string::npos) << r.err;
  // Nothing changed, on either side (the remote read through the independent path).
  EXPECT_EQ(local_rows(wa, kRecipientRows), (Rows{{I(2), T("r2@x"), T("two")}, {I(3), T("r1@x"), T("A")}}));
  EXPECT_EQ(local_rows(wa, kEmailRows), Rows{});
  EXPECT_EQ(remote_rows(url, kRecipientRows),
            (Rows{{I(1), T("r1@x"), T("one")}, {I(2), T("r2@x"), T("two")}}));
  EXPECT_EQ(remote_rows(url, kEmailRows), (Rows{{I(1), I(1), T("to one")}}));
  EXPECT_EQ(discarded_files_text(a), "");

  // Changed as the message says, the same sync settles it: recipient 1 is back (your delete saved), and A's
  // new recipient goes out.
  local_exec(wa, "UPDATE recipients SET email = 'r3@x' WHERE id = 3");
  r = run(a, {"sync", "--on-conflict=remote"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_rows(url, kRecipientRows),
            (Rows{{I(1), T("r1@x"), T("one")}, {I(2), T("r2@x"), T("two")}, {I(3), T("r3@x"), T("A")}}));
  expect_same(url, wa, kRecipientRows);
  expect_same(url, wa, kEmailRows);
  EXPECT_EQ(local_rows(wa, "PRAGMA foreign_key_check"), Rows{});
  EXPECT_NE(discarded_files_text(a).find("DELETE FROM \"recipients\" WHERE \"id\" = 1"), std::string::npos)
      << discarded_files_text(a);
}

// The same clash the other way round: the remote deleted recipient 1 and gave its address to recipient 2,
// while you wrote an email to recipient 1. `local` brings recipient 1 back as last pulled, over the remote's
// value: exit 3 naming the remote's row, nothing changed (`hold` cannot hold it either: your email would be
// left dangling). Before, exit 1 on SQLite's constraint error. `remote` settles it: your email goes, saved.
TEST(UniqueClash, UnderLocalAParentComingBackOverTheRemotesValueStopsInsteadOfFailingOnTheConstraint) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(url, kRecipients);
  TempDir a, b;
  auto run = [&](const TempDir& dir, const std::vector<std::string>& args) {
    return run_cli(args, env_for(url), dir.path().string());
  };
  for (const TempDir* d : {&a, &b}) ASSERT_EQ(run(*d, {"init"}).exit_code, 0);
  const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
  local_exec(wb,
             "PRAGMA foreign_keys = ON; DELETE FROM recipients WHERE id = 1; "
             "UPDATE recipients SET email = 'r1@x' WHERE id = 2");
  auto r = run(b, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(wa, "PRAGMA foreign_keys = ON; INSERT INTO emails VALUES (1, 1, 'to one')");

  for (const char* policy : {"--on-conflict=local", "--on-conflict=hold"}) {
    r = run(a, {"sync", policy});
    EXPECT_EQ(r.exit_code, 3) << policy << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find("cannot come back: the remote's row id = 2 holds email='r1@x'"), std::string::npos)
        << policy << "\n"
        << r.err;
    EXPECT_EQ(r.err.find("constraint failed"), std::string::npos) << r.err;
    EXPECT_EQ(local_rows(wa, kRecipientRows),
              (Rows{{I(1), T("r1@x"), T("one")}, {I(2), T("r2@x"), T("two")}}));
    EXPECT_EQ(local_rows(wa, kEmailRows), (Rows{{I(1), I(1), T("to one")}}));
    EXPECT_EQ(remote_rows(url, kRecipientRows), (Rows{{I(2), T("r1@x"), T("two")}}));
    EXPECT_EQ(remote_rows(url, kEmailRows), Rows{});
  }

  r = run(a, {"sync", "--on-conflict=remote"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same(url, wa, kRecipientRows);
  expect_same(url, wa, kEmailRows);
  EXPECT_EQ(local_rows(wa, kEmailRows), Rows{});
  EXPECT_NE(discarded_files_text(a).find("to one"), std::string::npos) << discarded_files_text(a);
}

// Issue 18, found by ConstraintsProperty's long run: `resolve --theirs` removes a held row the remote does
// not have (here a new contact whose address clashed with a teammate's), while rows the application wrote
// after the hold still reference it. They are settled as a pull under `remote` settles them: a new row is
// removed, an existing one takes the remote's version; all saved to the discarded file first. Before, they
// were left dangling, and every later push was refused ("references contacts row id = 6, which your working
// copy does not have").
TEST(UniqueClash, ResolveTheirsSettlesTheRowsThatStillReferenceTheRowItRemoves) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT)",
       "CREATE TABLE emails (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id), subject "
       "TEXT)",
       "CREATE TABLE attachments (id INTEGER PRIMARY KEY, email_id INTEGER REFERENCES emails(id), name TEXT)",
       "INSERT INTO contacts VALUES (1, 'a@x', 'A')", "INSERT INTO emails VALUES (1, 1, 'hello')"}));
  const TempDir &a = team.a, &b = team.b;
  local_exec(team.wc(a), "INSERT INTO contacts VALUES (5, 'sam@x', 'from A')");
  auto r = team.run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(team.wc(b), "INSERT INTO contacts VALUES (6, 'sam@x', 'from B')");
  r = team.run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(team.rows(b, "SELECT id FROM contacts WHERE id = 6"), (Rows{{I(6)}}));  // held, kept
  // After the hold, the application writes to the held contact: a new email (with an attachment of its
  // own) and an existing email moved to it.
  local_exec(team.wc(b),
             "INSERT INTO emails VALUES (2, 6, 'to sam'); INSERT INTO attachments VALUES (1, 2, 'a.pdf'); "
             "UPDATE emails SET contact_id = 6, subject = 'moved' WHERE id = 1");

  r = team.run(b, {"--json", "resolve", "--theirs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"dependents\":3"), std::string::npos) << r.out;
  EXPECT_EQ(team.rows(b, "SELECT id, email FROM contacts ORDER BY id"),
            (Rows{{I(1), T("a@x")}, {I(5), T("sam@x")}}));
  EXPECT_EQ(team.rows(b, "SELECT id, contact_id, subject FROM emails ORDER BY id"),
            (Rows{{I(1), I(1), T("hello")}}));
  EXPECT_EQ(team.rows(b, "SELECT count(*) FROM attachments"), (Rows{{I(0)}}));
  EXPECT_EQ(team.rows(b, "PRAGMA foreign_key_check"), Rows{});
  std::string saved = discarded_files_text(b);
  for (const char* part : {"from B", "to sam", "a.pdf", "moved"})
    EXPECT_NE(saved.find(part), std::string::npos) << part << "\n" << saved;

  // Nothing of B's is left to push, and nothing is refused.
  r = team.run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
  EXPECT_EQ(team.diff_exit(b), 0);
  EXPECT_EQ(team.remote("SELECT id, contact_id, subject FROM emails ORDER BY id"),
            (Rows{{I(1), I(1), T("hello")}}));
  expect_same(team.server.url(), team.wc(b), "SELECT * FROM contacts ORDER BY id");
}

// Found by TeamHoldProperty (seed 17071447977804286276): B deletes contact 1 and gives its address to a new
// contact 5, while A edits contact 1 and pushes. B's cycle holds the delete (delete/update), so the remote
// keeps contact 1, and with it the address contact 5 takes. Under hold contact 5 is held too (kind `unique`)
// and everything else of B's is pushed; `resolve --ours` then sends the delete and the insert together.
// Before, the server refused the whole push on "UNIQUE constraint failed: contacts.email" every cycle (exit
// 3, "the remote changed 1 row being pushed"): nothing of B's reached the remote.
TEST(UniqueClash, UnderHoldARowTakingTheValueOfAHeldDeleteIsHeldAndTheRestIsPushed) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE, name TEXT)",
       "INSERT INTO contacts VALUES (1, 'a@x', 'A'), (2, 'b@x', 'B')"}));
  const TempDir &a = team.a, &b = team.b;
  local_exec(team.wc(a), "UPDATE contacts SET name = 'A edited' WHERE id = 1");
  auto r = team.run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(
      team.wc(b),
      "DELETE FROM contacts WHERE id = 1; INSERT INTO contacts VALUES (5, 'A@x', 'new'); UPDATE contacts "
      "SET name = 'B edited' WHERE id = 2");
  for (int cycle = 0; cycle < 2; ++cycle) {
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_EQ(team.remote("SELECT id, email, name FROM contacts ORDER BY id"),
            (Rows{{I(1), T("a@x"), T("A edited")}, {I(2), T("b@x"), T("B edited")}}));
  r = team.run(b, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parse(parser, r.out);
  std::vector<std::string> kinds;
  for (auto c : doc["conflicts"].get_array()) kinds.emplace_back(c["kind"].get_string().value());
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"delete/update", "unique"})) << r.out;
  EXPECT_EQ(team.rows(b, "SELECT id, email, name FROM contacts ORDER BY id"),
            (Rows{{I(2), T("b@x"), T("B edited")}, {I(5), T("A@x"), T("new")}}));

  r = team.run(b, {"resolve", "--ours"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = team.run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
  EXPECT_EQ(team.remote("SELECT id, email, name FROM contacts ORDER BY id"),
            (Rows{{I(2), T("b@x"), T("B edited")}, {I(5), T("A@x"), T("new")}}));
  r = team.run(a, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same(team.server.url(), team.wc(a), "SELECT * FROM contacts ORDER BY id");
}

// Found by TeamHoldProperty (seed 14250790579970045368): while B's row 1 is held for its title, B's
// application and A each write its body again, differently. The body is in dispute too: `conflicts` lists it
// (so a tool or a user deciding by the disputed columns sees it), and `resolve --theirs` takes A's body.
// Before, only the title was listed as disputed, and `resolve --ours` silently wrote B's body over A's.
TEST(HeldColumns, AColumnBothSidesWriteAgainWhileTheRowIsHeldIsInDisputeToo) {
  NotesTeam team;
  ASSERT_NO_FATAL_FAILURE(team.start());
  ASSERT_NO_FATAL_FAILURE(team.make_conflict());
  auto r = team.run(team.b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(team.wc(team.a), "UPDATE notes SET body = 'A body' WHERE id = 1");
  r = team.run(team.a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(team.wc(team.b), "UPDATE notes SET body = 'B body' WHERE id = 1");
  r = team.run(team.b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = team.run(team.b, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parse(parser, r.out);
  ASSERT_EQ(doc["conflicts"].get_array().size(), 1u) << r.out;
  std::vector<int64_t> disputed;
  for (auto i : doc["conflicts"].at(0)["conflicting_columns"].get_array()) disputed.push_back(i.get_int64());
  EXPECT_EQ(disputed, (std::vector<int64_t>{1, 2})) << r.out;  // title and body
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["theirs"]),
            (std::vector<std::string>{"1", "'A'", "'A body'"}));
  r = team.run(team.b, {"resolve", "--theirs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(team.rows(team.b, kRow1), (Rows{{I(1), T("A"), T("A body")}}));
}

// Found by TeamHoldProperty (seed 17014228572450077405): as above, contact 5 takes the address of B's held
// delete of contact 1 and is held; B's application has also written an email to contact 5. The email is held
// too (its parent is not on the remote, nor sent). Before, the push checked references before it held
// contact 5: the email was sent without its parent, and the remote's guard refused the whole push (exit 3
// every cycle). The checks now repeat until nothing new is held (a held delete can in turn leave a UNIQUE
// value to the remote).
TEST(UniqueClash, UnderHoldAChildOfARowHeldForAUniqueValueIsHeldToo) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(
      team.start({"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT)",
                  "CREATE TABLE emails (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id), "
                  "subject TEXT)",
                  "INSERT INTO contacts VALUES (1, 'a@x', 'A'), (2, 'b@x', 'B')"}));
  const TempDir &a = team.a, &b = team.b;
  local_exec(team.wc(a), "UPDATE contacts SET name = 'A edited' WHERE id = 1");
  auto r = team.run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(
      team.wc(b),
      "PRAGMA foreign_keys = ON; DELETE FROM contacts WHERE id = 1; INSERT INTO contacts VALUES (5, 'a@x', "
      "'new'); INSERT INTO emails VALUES (7, 5, 'to new'); UPDATE contacts SET name = 'B edited' WHERE id = "
      "2");
  for (int cycle = 0; cycle < 2; ++cycle) {
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_EQ(team.remote("SELECT id, email, name FROM contacts ORDER BY id"),
            (Rows{{I(1), T("a@x"), T("A edited")}, {I(2), T("b@x"), T("B edited")}}));
  EXPECT_EQ(team.remote("SELECT count(*) FROM emails"), (Rows{{I(0)}}));
  r = team.run(b, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parse(parser, r.out);
  std::vector<std::string> kinds;
  for (auto c : doc["conflicts"].get_array()) kinds.emplace_back(c["kind"].get_string().value());
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"dangling reference", "delete/update", "unique"})) << r.out;
}

// Found by TeamHoldProperty (seed 16284078847371686437): B's contact 1 is held for its name; A then changes
// contact 1's email, which B never touched (an agreed column, merged into the held row), while B's
// application gives contact 2 the same address. The agreed column meets B's UNIQUE value: under hold contact
// 2 is held too (kind `unique`, saying which value clashes), contact 1's email is in dispute (resolve decides
// it), and everything else syncs. Before, every cycle of B stopped with exit 3 ("the remote's row clashes
// with a local row"): nothing synced in either direction.
TEST(UniqueClash, UnderHoldAnAgreedColumnOfAHeldRowThatClashesHoldsTheLocalRowToo) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE, name TEXT)",
       "CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT)",
       "INSERT INTO contacts VALUES (1, 'a@x', 'A'), (2, 'b@x', 'B')"}));
  const TempDir &a = team.a, &b = team.b;
  local_exec(team.wc(a), "UPDATE contacts SET name = 'A edited' WHERE id = 1");
  auto r = team.run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(team.wc(b), "UPDATE contacts SET name = 'B edited' WHERE id = 1");
  r = team.run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(team.wc(a),
             "UPDATE contacts SET email = 'new@x' WHERE id = 1; INSERT INTO other VALUES (1, 'from A')");
  r = team.run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(team.wc(b),
             "UPDATE contacts SET email = 'NEW@x' WHERE id = 2; INSERT INTO other VALUES (2, 'from B')");
  for (int cycle = 0; cycle < 2; ++cycle) {
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_EQ(team.remote("SELECT id, v FROM other ORDER BY id"),
            (Rows{{I(1), T("from A")}, {I(2), T("from B")}}));
  expect_same(team.server.url(), team.wc(b), "SELECT * FROM other ORDER BY id");
  EXPECT_EQ(team.remote("SELECT id, email, name FROM contacts ORDER BY id"),
            (Rows{{I(1), T("new@x"), T("A edited")}, {I(2), T("b@x"), T("B")}}));
  r = team.run(b, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parse(parser, r.out);
  std::vector<std::string> kinds;
  for (auto c : doc["conflicts"].get_array()) kinds.emplace_back(c["kind"].get_string().value());
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"unique", "update/update"})) << r.out;
  EXPECT_NE(r.out.find("UNIQUE"), std::string::npos) << r.out;
  // Contact 1's email, which A changed and B's contact 2 now holds, is in dispute: `resolve --ours` decides
  // it instead of sending B's old address back as if A's change had not happened.
  for (auto c : doc["conflicts"].get_array()) {
    if (std::string(c["kind"].get_string().value()) != "update/update") continue;
    std::vector<int64_t> disputed;
    for (auto i : c["conflicting_columns"].get_array()) disputed.push_back(i.get_int64().value());
    EXPECT_NE(std::find(disputed.begin(), disputed.end(), 1), disputed.end()) << r.out;
  }

  // Theirs on both: B ends with A's contact 1 and the remote's contact 2 (B's address saved).
  r = team.run(b, {"resolve", "--theirs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = team.run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
  expect_same(team.server.url(), team.wc(b), "SELECT * FROM contacts ORDER BY id");
  EXPECT_NE(discarded_files_text(b).find("NEW@x"), std::string::npos) << discarded_files_text(b);
}

}  // namespace
}  // namespace turso_sync::testing
