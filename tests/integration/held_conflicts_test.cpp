// Held conflicts (issue 11): with --on-conflict=hold (the default of `workflow`), a row changed on both sides
// is kept as the working copy has it and recorded in .turso-sync/conflicts.json; every other change still
// flows both ways; the held row is never pushed until `resolve`. Two teammates A and B on one real local
// server; the remote is checked through the independent path (hrana_query.py). A held row in the running
// `workflow`, the sync history (`log`, history.jsonl), `status --check` codes and `workflow --metrics-file`:
// held_workflow_test.cpp.
#include <gtest/gtest.h>

#include <signal.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const char* kNotes = "SELECT id, title, body FROM notes ORDER BY id";

TEST(HeldConflicts, UnrelatedEditsFlowTheConflictingRowIsHeldUntilResolveOurs) {
  NotesTeam t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());

  // Without hold, an interactive sync stops (abort stays the default): nothing changes anywhere.
  auto stopped = t.run(t.b, {"sync"});
  EXPECT_EQ(stopped.exit_code, 3) << stopped.out << stopped.err;
  EXPECT_EQ(t.remote("SELECT count(*) FROM notes WHERE id = 20"), (Rows{{I(0)}}));

  // With hold: one sync moves every unrelated change both ways in the same cycle and holds row 1.
  auto r = t.run(t.b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "held: 1 row")) << r.err;
  EXPECT_TRUE(contains(r.err, "1 local change of held rows not pushed")) << r.err;
  const Rows remote_after_b = {{I(1), T("A"), T("b1")},
                               {I(2), T("two"), T("b-body")},
                               {I(3), T("three"), T("b3")},
                               {I(10), T("a-new"), T("x")},
                               {I(20), T("b-new"), T("y")}};
  EXPECT_EQ(t.remote(kNotes), remote_after_b);
  Rows b_rows = t.rows(t.b, kNotes);
  EXPECT_EQ(b_rows[0], (std::vector<Value>{I(1), T("B"), T("b1")})) << render_rows(b_rows);
  EXPECT_EQ(b_rows.size(), 5u) << render_rows(b_rows);  // 10 arrived
  // A receives B's unrelated edits; its row 1 stays its own.
  r = t.run(t.a, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(t.rows(t.a, kNotes), remote_after_b);

  // `conflicts --json`: table, key, base/ours/theirs, since when.
  simdjson::dom::parser parser;
  r = t.run(t.b, {"--json", "conflicts"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto doc = parse(parser, r.out);
  auto list = doc["conflicts"].get_array();
  ASSERT_EQ(list.size(), 1u) << r.out;
  auto c = list.at(0);
  EXPECT_EQ(std::string_view(c["table"]), "notes");
  EXPECT_EQ(std::string_view(c["kind"]), "update/update");
  EXPECT_EQ(std::string_view(c["key_text"]), "1");
  EXPECT_EQ(json_strings(c["base"]), (std::vector<std::string>{"1", "'base'", "'b1'"}));
  EXPECT_EQ(json_strings(c["ours"]), (std::vector<std::string>{"1", "'B'", "'b1'"}));
  EXPECT_EQ(json_strings(c["theirs"]), (std::vector<std::string>{"1", "'A'", "'b1'"}));
  EXPECT_FALSE(std::string_view(c["since"]).empty());
  r = t.run(t.b, {"conflicts"});
  EXPECT_TRUE(contains(r.out, "1 held conflict")) << r.out;
  EXPECT_TRUE(contains(r.out, "notes [id=1] update/update")) << r.out;

  // status shows it, and --check fails with 3 while it is held.
  r = t.run(t.b, {"status", "--offline"});
  EXPECT_TRUE(contains(r.out, "HELD CONFLICTS 1")) << r.out;
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check"}).exit_code, 3);

  // A plain push skips it, and says so.
  r = t.run(t.b, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "nothing to push")) << r.out;
  EXPECT_TRUE(contains(r.err, "held rows not pushed")) << r.err;
  EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("A"), T("b1")}}));

  // The application edits the held row again: it stays held, with the new ours; still not pushed.
  local_exec(t.wc(t.b), "UPDATE notes SET title = 'B2' WHERE id = 1");
  r = t.run(t.b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("A"), T("b1")}}));
  r = t.run(t.b, {"--json", "conflicts"});
  doc = parse(parser, r.out);
  ASSERT_EQ(doc["conflicts"].get_array().size(), 1u) << r.out;
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["ours"]), (std::vector<std::string>{"1", "'B2'", "'b1'"}));
  EXPECT_FALSE(std::string_view(doc["conflicts"].at(0)["ours_changed_at"]).empty()) << r.out;

  // resolve --ours: the next push sends the local row.
  r = t.run(t.b, {"resolve", "--ours"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "resolved: notes [1]")) << r.out;
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check"}).exit_code, 0);
  r = t.run(t.b, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("B2"), T("b1")}}));
  r = t.run(t.a, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(t.rows(t.a, kNotes), t.remote(kNotes));
  EXPECT_EQ(t.rows(t.b, kNotes), t.remote(kNotes));
}

TEST(HeldConflicts, ResolveTheirsAfterTheRemoteMovedAgainTakesItsNewestVersion) {
  NotesTeam t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  auto r = t.run(t.b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // A changes the held row again, and another row. B's plain pull (policy abort) is not stopped by the
  // held row: it stays held (with the new theirs) while the other change arrives.
  local_exec(t.wc(t.a),
             "UPDATE notes SET title = 'A2' WHERE id = 1; UPDATE notes SET title = 'T3' WHERE id = 3");
  r = t.run(t.a, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = t.run(t.b, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(t.rows(t.b, "SELECT title FROM notes WHERE id IN (1, 3) ORDER BY id"),
            (Rows{{T("B")}, {T("T3")}}));
  simdjson::dom::parser parser;
  r = t.run(t.b, {"--json", "conflicts"});
  auto doc = parse(parser, r.out);
  ASSERT_EQ(doc["conflicts"].get_array().size(), 1u) << r.out;
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["theirs"]), (std::vector<std::string>{"1", "'A2'", "'b1'"}));
  EXPECT_FALSE(std::string_view(doc["conflicts"].at(0)["theirs_changed_at"]).empty()) << r.out;

  // resolve --theirs for the given key: the remote's newest row is written, ours saved as SQL.
  r = t.run(t.b, {"resolve", "--theirs", "--table", "notes", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "changed again")) << r.out;
  EXPECT_EQ(t.rows(t.b, kRow1), (Rows{{I(1), T("A2"), T("b1")}}));
  EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("A2"), T("b1")}}));
  EXPECT_EQ(t.run(t.b, {"diff", "--exit-code"}).exit_code, 0);  // nothing left to push
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check"}).exit_code, 0);
  std::string saved;
  for (const auto& e : fs::directory_iterator(t.b.path() / ".turso-sync"))
    if (e.path().filename().string().rfind("discarded-", 0) == 0) saved += read_text(e.path().string());
  EXPECT_TRUE(contains(saved, "UPDATE \"notes\" SET \"title\" = 'B' WHERE rowid = 1")) << saved;

  // A key that is not held is a usage error.
  EXPECT_EQ(t.run(t.b, {"resolve", "--ours", "--table", "notes", "1"}).exit_code, 2);
}

TEST(HeldConflicts, ResolveOursIsCheckedAgainstTheRemotesNewestVersion) {
  NotesTeam t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  auto r = t.run(t.b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // B settles with --ours, but A changed the row again before B's next push: the push must not overwrite
  // what B never saw. The next sync holds the row again, against the newest theirs; the remote keeps A2.
  r = t.run(t.b, {"resolve", "--ours"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(t.wc(t.a), "UPDATE notes SET title = 'A2' WHERE id = 1");
  r = t.run(t.a, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = t.run(t.b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "held: 1 row")) << r.err;
  EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("A2"), T("b1")}}));
  EXPECT_EQ(t.rows(t.b, kRow1), (Rows{{I(1), T("B"), T("b1")}}));
  simdjson::dom::parser parser;
  r = t.run(t.b, {"--json", "conflicts"});
  auto doc = parse(parser, r.out);
  ASSERT_EQ(doc["conflicts"].get_array().size(), 1u) << r.out;
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["base"]), (std::vector<std::string>{"1", "'A'", "'b1'"}));
  EXPECT_EQ(json_strings(doc["conflicts"].at(0)["theirs"]), (std::vector<std::string>{"1", "'A2'", "'b1'"}));
  // Now settled knowingly: B's row goes out.
  r = t.run(t.b, {"resolve", "--ours"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = t.run(t.b, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("B"), T("b1")}}));
}

// The keys listed by `conflicts --json` ("table:key_text"); fails the test when the command fails.
std::vector<std::string> held_keys(const Team& t, const TempDir& dir) {
  auto r = t.run(dir, {"--json", "conflicts"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  simdjson::dom::parser parser;
  std::vector<std::string> keys;
  simdjson::dom::element doc;
  if (parser.parse(r.out).get(doc) != simdjson::SUCCESS) {
    ADD_FAILURE() << "not JSON: " << r.out;
    return keys;
  }
  for (auto c : doc["conflicts"].get_array())
    keys.push_back(std::string(std::string_view(c["table"])) + ":" +
                   std::string(std::string_view(c["key_text"])));
  return keys;
}

// A table without a key whose columns are named rowid and _rowid_: its rows are addressed by oid, by the
// merge and by `resolve` alike (resolve used _rowid_, a column, so --theirs wrote nothing and could not
// bring back a row deleted locally).
TEST(HeldConflicts, ResolveAddressesRowsByOidWhenColumnsAreNamedRowidAndRowid_) {
  NotesTeam t;
  ASSERT_TRUE(t.server.started());
  remote_exec(t.server.url(), {"CREATE TABLE odd (rowid TEXT, _rowid_ TEXT, v TEXT)",
                               "INSERT INTO odd VALUES ('r1', 'u1', 'base'), ('r2', 'u2', 'two')"});
  ASSERT_NO_FATAL_FAILURE(t.start());
  const char* kOdd = "SELECT oid, rowid, _rowid_, v FROM odd ORDER BY oid";
  local_exec(t.wc(t.a), "UPDATE odd SET v = 'A' WHERE oid = 1; UPDATE odd SET v = 'A2' WHERE oid = 2");
  auto r = t.run(t.a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // B edits row 1 (update/update) and deletes row 2 (delete/update): both held.
  local_exec(t.wc(t.b), "UPDATE odd SET v = 'B' WHERE oid = 1; DELETE FROM odd WHERE oid = 2");
  r = t.run(t.b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(held_keys(t, t.b), (std::vector<std::string>{"odd:1", "odd:2"}));
  EXPECT_EQ(t.rows(t.b, kOdd), (Rows{{I(1), T("r1"), T("u1"), T("B")}}));

  r = t.run(t.b, {"resolve", "--theirs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const Rows theirs = {{I(1), T("r1"), T("u1"), T("A")}, {I(2), T("r2"), T("u2"), T("A2")}};
  EXPECT_EQ(t.rows(t.b, kOdd), theirs);
  EXPECT_EQ(t.remote(kOdd), theirs);
  EXPECT_TRUE(held_keys(t, t.b).empty());
  EXPECT_EQ(t.run(t.b, {"diff", "--exit-code"}).exit_code, 0);  // nothing left to push
  // What --theirs discarded restores B's versions, addressed the same way.
  std::string saved = discarded_files_text(t.b);
  EXPECT_TRUE(contains(saved, "UPDATE \"odd\" SET \"v\" = 'B' WHERE oid = 1")) << saved;
  EXPECT_TRUE(contains(saved, "DELETE FROM \"odd\" WHERE oid = 2")) << saved;
}

// A holding pull killed between each two of its durable steps (held rows saved; working copy committed;
// replica swapped): the files stay sound, the local row is never lost, and whatever runs next (here a plain
// push) first finishes the pull, so the row ends held exactly once and is never pushed.
TEST(HeldConflicts, SigkillBetweenTheDurableStepsOfAHoldingPullNeverPushesTheHeldRow) {
  for (const char* point : {"pull.held-saved", "pull.working-committed", "pull.replica-swapped"}) {
    SCOPED_TRACE(point);
    NotesTeam t;
    ASSERT_NO_FATAL_FAILURE(t.start());
    ASSERT_NO_FATAL_FAILURE(t.make_conflict());
    auto killed = t.run_crashing(t.b, {"pull", "--on-conflict=hold"}, point);
    ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.out << killed.err;
    expect_integrity_ok(t.wc(t.b));
    expect_integrity_ok(t.b.file("local_replica.db"));
    EXPECT_EQ(t.rows(t.b, kRow1), (Rows{{I(1), T("B"), T("b1")}}));

    auto pushed = t.run(t.b, {"push"});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
    EXPECT_EQ(held_keys(t, t.b), (std::vector<std::string>{"notes:1"}));
    EXPECT_EQ(t.remote(kNotes), (Rows{{I(1), T("A"), T("b1")},
                                      {I(2), T("two"), T("b-body")},
                                      {I(3), T("three"), T("b3")},
                                      {I(10), T("a-new"), T("x")},
                                      {I(20), T("b-new"), T("y")}}));
    EXPECT_EQ(t.rows(t.b, kRow1), (Rows{{I(1), T("B"), T("b1")}}));
    EXPECT_EQ(t.rows(t.b, "SELECT count(*) FROM notes"), (Rows{{I(5)}}));

    auto resolved = t.run(t.b, {"resolve", "--ours"});
    ASSERT_EQ(resolved.exit_code, 0) << resolved.out << resolved.err;
    pushed = t.run(t.b, {"push"});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
    EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("B"), T("b1")}}));
    EXPECT_EQ(t.rows(t.b, kNotes), t.remote(kNotes));
  }
}

// `resolve --theirs` killed after it saved ours and after it wrote theirs into the working copy: the row is
// either still held (ours in the working copy) or settled (theirs), ours is saved in both cases, and running
// resolve again settles it; nothing of B's reaches the remote for that row.
TEST(HeldConflicts, SigkillDuringResolveTheirsLeavesTheRowHeldOrSettledOursSaved) {
  for (const char* point : {"resolve.discarded-saved", "resolve.working-committed"}) {
    SCOPED_TRACE(point);
    NotesTeam t;
    ASSERT_NO_FATAL_FAILURE(t.start());
    ASSERT_NO_FATAL_FAILURE(t.make_conflict());
    auto r = t.run(t.b, {"sync", "--on-conflict=hold"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto killed = t.run_crashing(t.b, {"resolve", "--theirs"}, point);
    ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.out << killed.err;
    expect_integrity_ok(t.wc(t.b));
    EXPECT_TRUE(contains(discarded_files_text(t.b), "'B'")) << discarded_files_text(t.b);
    Rows row1 = t.rows(t.b, kRow1);
    std::vector<std::string> held = held_keys(t, t.b);
    if (row1 == Rows{{I(1), T("B"), T("b1")}})
      EXPECT_EQ(held, (std::vector<std::string>{"notes:1"})) << "ours in the working copy must stay held";
    else
      EXPECT_EQ(row1, (Rows{{I(1), T("A"), T("b1")}})) << render_rows(row1);
    auto pushed = t.run(t.b, {"push"});
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
    EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("A"), T("b1")}}));

    r = t.run(t.b, {"resolve", "--theirs"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = t.run(t.b, {"sync"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(held_keys(t, t.b), std::vector<std::string>{});
    EXPECT_EQ(t.rows(t.b, kRow1), (Rows{{I(1), T("A"), T("b1")}}));
    EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("A"), T("b1")}}));
    EXPECT_EQ(t.rows(t.b, kNotes), t.remote(kNotes));
    EXPECT_EQ(t.run(t.b, {"diff", "--exit-code"}).exit_code, 0);
  }
}

TEST(HeldConflicts, ResetLiftsTheHoldAndTheRemotesLaterChangesArriveAgain) {
  NotesTeam t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  auto r = t.run(t.b, {"sync", "--on-conflict=hold"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(t.run(t.b, {"status", "--offline", "--check"}).exit_code, 3);
  // reset makes the working copy the replica: both sides agree, nothing is held any more...
  r = t.run(t.b, {"reset", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // ...so the remote's next change of that row is merged like any other.
  local_exec(t.wc(t.a), "UPDATE notes SET title = 'A3' WHERE id = 1");
  ASSERT_EQ(t.run(t.a, {"sync"}).exit_code, 0);
  r = t.run(t.b, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(t.rows(t.b, kRow1), (Rows{{I(1), T("A3"), T("b1")}}));
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check"}).exit_code, 0);
  r = t.run(t.b, {"conflicts"});
  EXPECT_TRUE(contains(r.out, "no held conflicts")) << r.out;
}

}  // namespace
}  // namespace turso_sync::testing
