// Held conflicts (issue 11): with --on-conflict=hold (the default of `workflow`), a row changed on both sides
// is kept as the working copy has it and recorded in .turso-sync/conflicts.json; every other change still
// flows both ways; the held row is never pushed until `resolve`. Two teammates A and B on one real local
// server; the remote is checked through the independent path (hrana_query.py). Also the sync history
// (`log`, history.jsonl), `status --check` codes and `workflow --metrics-file`.
#include <gtest/gtest.h>

#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using namespace std::chrono_literals;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

const char* kNotes = "SELECT id, title, body FROM notes ORDER BY id";
const char* kRow1 = "SELECT id, title, body FROM notes WHERE id = 1";

struct Team {
  LocalServer server;
  TempDir a, b;

  std::vector<std::string> env() const { return {"TURSO_DATABASE_URL=" + server.url()}; }
  CommandResult run(const TempDir& dir, const std::vector<std::string>& args) const {
    return run_cli(args, env(), dir.path().string());
  }
  // `args` in `dir`, killed with SIGKILL at the named crash point (src/util/crash_point.h).
  CommandResult run_crashing(const TempDir& dir, const std::vector<std::string>& args,
                             const std::string& point) const {
    std::vector<std::string> e = env();
    e.push_back("TURSO_SYNC_CRASH_AT=" + point);
    return run_cli(args, e, dir.path().string());
  }
  std::string wc(const TempDir& dir) const { return dir.file("working_copy.db"); }
  Rows remote(const std::string& sql) const { return remote_rows(server.url(), sql); }
  Rows rows(const TempDir& dir, const std::string& sql) const { return local_rows(wc(dir), sql); }

  void start() {
    ASSERT_TRUE(server.started());
    remote_exec(server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)",
                               "INSERT INTO notes VALUES (1, 'base', 'b1'), (2, 'two', 'b2'), (3, 'three', "
                               "'b3')"});
    for (const TempDir* dir : {&a, &b}) {
      auto r = run(*dir, {"init"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  }

  // A changes row 1's title and pushes; B changes the same title differently: B's next pull meets a conflict.
  // Both also make unrelated edits (A: insert 10; B: body of row 2, insert 20).
  void make_conflict() {
    local_exec(wc(a),
               "UPDATE notes SET title = 'A' WHERE id = 1; INSERT INTO notes VALUES (10, 'a-new', 'x')");
    auto r = run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(wc(b),
               "UPDATE notes SET title = 'B' WHERE id = 1; UPDATE notes SET body = 'b-body' WHERE id = 2; "
               "INSERT INTO notes VALUES (20, 'b-new', 'y')");
  }
};

// Parses a JSON document printed by the CLI (fails the test when it is not JSON).
simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& text) {
  simdjson::dom::element root;
  EXPECT_EQ(parser.parse(text).get(root), simdjson::SUCCESS) << text;
  return root;
}

std::vector<std::string> strings(simdjson::dom::element array) {
  std::vector<std::string> out;
  for (simdjson::dom::element e : array.get_array()) {
    std::string_view v;
    out.emplace_back(e.get(v) == simdjson::SUCCESS ? std::string(v) : std::string("null"));
  }
  return out;
}

TEST(HeldConflicts, UnrelatedEditsFlowTheConflictingRowIsHeldUntilResolveOurs) {
  Team t;
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
  EXPECT_EQ(strings(c["base"]), (std::vector<std::string>{"1", "'base'", "'b1'"}));
  EXPECT_EQ(strings(c["ours"]), (std::vector<std::string>{"1", "'B'", "'b1'"}));
  EXPECT_EQ(strings(c["theirs"]), (std::vector<std::string>{"1", "'A'", "'b1'"}));
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
  EXPECT_EQ(strings(doc["conflicts"].at(0)["ours"]), (std::vector<std::string>{"1", "'B2'", "'b1'"}));
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
  Team t;
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
  EXPECT_EQ(strings(doc["conflicts"].at(0)["theirs"]), (std::vector<std::string>{"1", "'A2'", "'b1'"}));
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
  Team t;
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
  EXPECT_EQ(strings(doc["conflicts"].at(0)["base"]), (std::vector<std::string>{"1", "'A'", "'b1'"}));
  EXPECT_EQ(strings(doc["conflicts"].at(0)["theirs"]), (std::vector<std::string>{"1", "'A2'", "'b1'"}));
  // Now settled knowingly: B's row goes out.
  r = t.run(t.b, {"resolve", "--ours"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = t.run(t.b, {"sync"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("B"), T("b1")}}));
}

void expect_integrity_ok(const std::string& path) {
  EXPECT_EQ(local_rows(path, "PRAGMA integrity_check"), (Rows{{T("ok")}})) << path;
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

std::string discarded_text(const TempDir& dir) {
  std::string saved;
  for (const auto& e : fs::directory_iterator(dir.path() / ".turso-sync"))
    if (e.path().filename().string().rfind("discarded-", 0) == 0) saved += read_text(e.path().string());
  return saved;
}

// A table without a key whose columns are named rowid and _rowid_: its rows are addressed by oid, by the
// merge and by `resolve` alike (resolve used _rowid_, a column, so --theirs wrote nothing and could not
// bring back a row deleted locally).
TEST(HeldConflicts, ResolveAddressesRowsByOidWhenColumnsAreNamedRowidAndRowid_) {
  Team t;
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
  std::string saved = discarded_text(t.b);
  EXPECT_TRUE(contains(saved, "UPDATE \"odd\" SET \"v\" = 'B' WHERE oid = 1")) << saved;
  EXPECT_TRUE(contains(saved, "DELETE FROM \"odd\" WHERE oid = 2")) << saved;
}

// A holding pull killed between each two of its durable steps (held rows saved; working copy committed;
// replica swapped): the files stay sound, the local row is never lost, and whatever runs next (here a plain
// push) first finishes the pull, so the row ends held exactly once and is never pushed.
TEST(HeldConflicts, SigkillBetweenTheDurableStepsOfAHoldingPullNeverPushesTheHeldRow) {
  for (const char* point : {"pull.held-saved", "pull.working-committed", "pull.replica-swapped"}) {
    SCOPED_TRACE(point);
    Team t;
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
    Team t;
    ASSERT_NO_FATAL_FAILURE(t.start());
    ASSERT_NO_FATAL_FAILURE(t.make_conflict());
    auto r = t.run(t.b, {"sync", "--on-conflict=hold"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto killed = t.run_crashing(t.b, {"resolve", "--theirs"}, point);
    ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.out << killed.err;
    expect_integrity_ok(t.wc(t.b));
    EXPECT_TRUE(contains(discarded_text(t.b), "'B'")) << discarded_text(t.b);
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
  Team t;
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

// ---------------------------------------------------------------------------------------------------------------
// workflow: a held conflict never stops the other rows, cycle after cycle; metrics and history follow.

// Minimal Prometheus text-format parser: "# HELP"/"# TYPE" comments, then `name{labels} value` samples. Fails
// the test on a malformed line or a sample without a preceding TYPE of its family.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# ", 0) == 0) {
      std::istringstream c(line.substr(2));
      std::string keyword, name, rest;
      c >> keyword >> name;
      std::getline(c, rest);
      EXPECT_TRUE(keyword == "HELP" || keyword == "TYPE") << line;
      EXPECT_FALSE(name.empty()) << line;
      if (keyword == "TYPE") {
        EXPECT_TRUE(rest == " counter" || rest == " gauge") << line;
        types[name] = rest.substr(1);
      }
      continue;
    }
    size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    std::string series = line.substr(0, space);
    std::string family = series.substr(0, series.find('{'));
    for (char ch : family) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << line;
    if (series.find('{') != std::string::npos) {
      EXPECT_EQ(series.back(), '}') << line;
    }
    EXPECT_TRUE(types.count(family)) << "no TYPE before " << line;
    if (types[family] == "counter") {
      EXPECT_TRUE(family.size() > 6 && family.substr(family.size() - 6) == "_total") << line;
    }
    char* end = nullptr;
    std::string value = line.substr(space + 1);
    double v = std::strtod(value.c_str(), &end);
    EXPECT_TRUE(end && *end == '\0') << line;
    samples[series] = v;
  }
  return samples;
}

int cycles_in(const std::string& log) {
  int n = 0;
  for (size_t at = log.find(" #"); at != std::string::npos; at = log.find(" #", at + 2)) ++n;
  return n;
}

// Waits (bounded) until the workflow's log shows `cycles` cycle lines.
bool wait_cycles(const std::string& log_path, int cycles) {
  return eventually([&] { return cycles_in(read_text(log_path)) >= cycles; }, 60s, 50ms);
}

TEST(HeldWorkflow, KeepsSyncingOtherRowsForManyCyclesWhileOneIsHeld) {
  Team t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  std::string log = t.b.file("workflow.log"), metrics = t.b.file("metrics.prom");
  // Default policy of workflow: hold.
  pid_t pid = spawn_cli({"workflow", "--interval", "1", "--metrics-file", metrics}, t.env(),
                        t.b.path().string(), log);
  ASSERT_TRUE(wait_cycles(log, 1)) << read_text(log);
  EXPECT_TRUE(contains(read_text(log), "(1 new conflict held)")) << read_text(log);
  // The first cycle already moved B's unrelated edits.
  EXPECT_EQ(t.remote("SELECT title FROM notes WHERE id = 20"), (Rows{{T("b-new")}}));
  for (int round = 0; round < 3; ++round) {
    int seen = cycles_in(read_text(log));
    remote_exec(t.server.url(),
                {"INSERT INTO notes VALUES (" + std::to_string(100 + round) + ", 'team', 'r')"});
    local_exec(t.wc(t.b), "INSERT INTO notes VALUES (" + std::to_string(200 + round) + ", 'app', 'z')");
    // A cycle that started after both writes has finished once two more cycle lines are there.
    ASSERT_TRUE(wait_cycles(log, seen + 2)) << read_text(log);
    EXPECT_EQ(t.rows(t.b, "SELECT count(*) FROM notes WHERE id = " + std::to_string(100 + round)),
              (Rows{{I(1)}}))
        << read_text(log);
    EXPECT_EQ(t.remote("SELECT count(*) FROM notes WHERE id = " + std::to_string(200 + round)),
              (Rows{{I(1)}}))
        << read_text(log);
    EXPECT_EQ(t.remote(kRow1), (Rows{{I(1), T("A"), T("b1")}})) << read_text(log);  // still held
    EXPECT_EQ(t.rows(t.b, kRow1), (Rows{{I(1), T("B"), T("b1")}}));
  }
  kill(pid, SIGTERM);
  ASSERT_EQ(exit_within(pid, 20s), 0) << read_text(log);
  std::string text = read_text(log);
  int cycles = cycles_in(text);
  EXPECT_TRUE(contains(text, "1 conflict held")) << text;

  auto m = parse_prometheus(read_text(metrics));
  EXPECT_EQ(m["turso_sync_cycles_total"], cycles) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_cycle_failures_total"], 0);
  EXPECT_EQ(m["turso_sync_conflicts_total"], 1);
  EXPECT_EQ(m["turso_sync_conflicts_held"], 1);
  // Pushed: cycle 1 sent B's update of row 2 and insert 20, then the three app rows.
  EXPECT_EQ(m["turso_sync_rows_pushed_total{kind=\"insert\"}"], 4) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_rows_pushed_total{kind=\"update\"}"], 1) << read_text(metrics);
  EXPECT_EQ(m["turso_sync_rows_pushed_total{kind=\"delete\"}"], 0);
  // Pulled: A's insert 10 in cycle 1, then the three teammate rows.
  EXPECT_EQ(m["turso_sync_rows_pulled_total{kind=\"insert\"}"], 4) << read_text(metrics);
  EXPECT_GT(m["turso_sync_bytes_sent_total"], 0);
  EXPECT_GT(m["turso_sync_bytes_received_total"], 0);
  EXPECT_GT(m["turso_sync_last_success_timestamp_seconds"], 1.7e9);

  // One history line per cycle, newest first in `log --json` (after them, the init).
  simdjson::dom::parser parser;
  auto r = t.run(t.b, {"--json", "log", "-n", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto entries = parse(parser, r.out)["entries"].get_array();
  ASSERT_EQ(static_cast<int>(entries.size()), cycles + 1) << r.out;
  EXPECT_EQ(std::string_view(entries.at(cycles)["operation"]), "init");
  EXPECT_EQ(int64_t(entries.at(0)["cycle"]), cycles);
  EXPECT_EQ(std::string_view(entries.at(cycles - 1)["trigger"]), "workflow:start");
  EXPECT_EQ(int64_t(entries.at(cycles - 1)["conflicts"]["new"]), 1);
  for (int i = 0; i < cycles; ++i) {
    auto e = entries.at(static_cast<size_t>(i));
    EXPECT_EQ(std::string_view(e["operation"]), "sync");
    EXPECT_EQ(std::string_view(e["result"]), "ok");
    EXPECT_EQ(int64_t(e["conflicts"]["held"]), 1);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// history and health checks

TEST(History, OneLinePerOperationFailuresIncludedAndStatusCheckCodes) {
  Team t;
  ASSERT_NO_FATAL_FAILURE(t.start());
  ASSERT_NO_FATAL_FAILURE(t.make_conflict());
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check", "--max-age", "1h"}).exit_code, 0);
  // A push that meets the remote's change, then a pull that stops on it (abort): nothing is held, but the
  // copy is stuck until the conflict is settled, and the health check says so (3) with either.
  EXPECT_EQ(t.run(t.b, {"push"}).exit_code, 3);
  auto stuck = t.run(t.b, {"status", "--offline", "--check", "--max-age", "1h"});
  EXPECT_EQ(stuck.exit_code, 3) << stuck.out;
  EXPECT_TRUE(contains(stuck.out, "the last push (")) << stuck.out;
  EXPECT_EQ(t.run(t.b, {"pull"}).exit_code, 3);  // abort: conflict
  stuck = t.run(t.b, {"status", "--offline", "--check"});
  EXPECT_EQ(stuck.exit_code, 3) << stuck.out;
  EXPECT_TRUE(contains(stuck.out, "stopped on 1 conflict and applied none of them")) << stuck.out;
  EXPECT_TRUE(contains(stuck.out, "held conflicts 0")) << stuck.out;
  EXPECT_EQ(t.run(t.b, {"pull", "--on-conflict=hold"}).exit_code, 0);  // held
  EXPECT_EQ(t.run(t.b, {"push"}).exit_code, 0);
  EXPECT_EQ(t.run(t.b, {"resolve", "--theirs"}).exit_code, 0);
  EXPECT_EQ(t.run(t.b, {"sync"}).exit_code, 0);
  EXPECT_EQ(t.run(t.b, {"status", "--offline", "--check", "--max-age", "1h"}).exit_code, 0);
  t.server.stop();
  auto failed = t.run(t.b, {"pull"});
  EXPECT_EQ(failed.exit_code, 4) << failed.out << failed.err;

  simdjson::dom::parser parser;
  auto r = t.run(t.b, {"--json", "log"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto entries = parse(parser, r.out)["entries"].get_array();
  std::vector<std::string> ops, results;
  for (auto e : entries) {
    ops.emplace_back(std::string_view(e["operation"]));
    results.emplace_back(std::string_view(e["result"]));
  }
  EXPECT_EQ(ops,
            (std::vector<std::string>{"pull", "sync", "resolve", "push", "pull", "pull", "push", "init"}))
      << r.out;
  EXPECT_EQ(results,
            (std::vector<std::string>{"error", "ok", "ok", "ok", "ok", "conflict", "conflict", "ok"}))
      << r.out;
  EXPECT_EQ(int64_t(entries.at(0)["exit_code"]), 4);
  EXPECT_FALSE(std::string_view(entries.at(0)["error"]).empty());
  EXPECT_EQ(int64_t(entries.at(5)["exit_code"]), 3);
  EXPECT_EQ(int64_t(entries.at(6)["exit_code"]), 3);
  EXPECT_EQ(int64_t(entries.at(5)["pulled"]["inserts"]), 0) << "the stopped pull wrote nothing: " << r.out;
  EXPECT_EQ(int64_t(entries.at(4)["pulled"]["inserts"]), 1) << "the holding pull took A's row: " << r.out;
  EXPECT_EQ(int64_t(entries.at(4)["conflicts"]["held"]), 1);
  EXPECT_EQ(int64_t(entries.at(3)["conflicts"]["skipped_rows"]), 1);
  EXPECT_EQ(int64_t(entries.at(3)["pushed"]["inserts"]), 1);
  EXPECT_EQ(int64_t(entries.at(2)["conflicts"]["resolved"]), 1);
  EXPECT_GT(int64_t(entries.at(4)["requests"]), 0);
  EXPECT_GT(int64_t(entries.at(4)["bytes_down"]), 0);
  EXPECT_GT(int64_t(entries.at(3)["bytes_up"]), 0);
  r = t.run(t.b, {"log", "-n", "2"});
  EXPECT_TRUE(contains(r.out, "pull") && contains(r.out, "error")) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n') >= 2, true) << r.out;

  // The last sync failed: 5, with the error in status.
  r = t.run(t.b, {"status", "--offline", "--check"});
  EXPECT_EQ(r.exit_code, 5) << r.out;
  EXPECT_TRUE(contains(r.out, "last error")) << r.out;
  // Unreachable remote when checked: 4.
  EXPECT_EQ(t.run(t.b, {"status", "--check"}).exit_code, 4);
  // A state dir whose last successful sync is old: 6 with --max-age, 0 without.
  TempDir old;
  fs::create_directories(old.path() / ".turso-sync");
  std::ofstream(old.file(".turso-sync/history.jsonl"))
      << R"({"time":"2001-01-01T00:00:00Z","operation":"sync","trigger":"cli","result":"ok","exit_code":0})"
      << "\n";
  EXPECT_EQ(
      run_cli({"status", "--offline", "--check", "--max-age", "1d"}, t.env(), old.path().string()).exit_code,
      6);
  EXPECT_EQ(run_cli({"status", "--offline", "--check"}, t.env(), old.path().string()).exit_code, 0);
}

}  // namespace
}  // namespace turso_sync::testing
