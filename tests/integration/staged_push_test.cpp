// Staged push (issue 17 part 2: a push is one transaction whatever its size; docs/protocol.md,
// "Push: staged"): a change set larger than one request is staged on the remote in parts, then applied by
// one final batch. The remote shows all of a push or none of it: a conflict in a late part applies nothing,
// children declared before their parents never show without them, a push killed at any moment is finished
// exactly once by the next run, a lost answer to the final batch is settled by its receipt. The remote is
// checked through the independent path (tests/support/hrana_query.py), never through turso-sync alone.
//
// Most tests lower the part size (TURSO_SYNC_PUSH_PART_BYTES) so that a few MB make many parts; the
// conflict test pushes over 20 MB with the default part size.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/sync_checks.h"
#include "support/tcp_proxy.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using Fault = TcpProxy::Fault;
using Clock = std::chrono::steady_clock;
constexpr const char* kSmallParts = "TURSO_SYNC_PUSH_PART_BYTES=262144";  // 256 KiB

std::vector<std::string> env_with(const std::string& url, const std::vector<std::string>& extra) {
  std::vector<std::string> env = env_for(url);
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// SQLite (local) statements inserting `n` rows of ~200-byte bodies into items, ids from `first`, owner `who`.
std::string insert_rows(int64_t first, int64_t n, const std::string& who) {
  return "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < " + std::to_string(n - 1) +
         ") INSERT INTO items (id, owner, body, score) SELECT " + std::to_string(first) + " + i, '" + who +
         "', printf('%.200c', 'x') || i, i / 4.0 FROM k;";
}

constexpr const char* kItemsChecksum =
    "SELECT count(*), sum(id), total(length(body)), total(score), sum(owner = 'A'), sum(owner = 'seed') FROM "
    "items";

// The team (support/team.h) on the items remote, with a proxy in front of the server (the copies are
// init'ed against the server itself).
struct ItemsTeam : Team {
  TcpProxy proxy{server.port()};

  void init() {
    ASSERT_TRUE(server.started());
    make_items_remote(server.url());
    ASSERT_NO_FATAL_FAILURE(init_both(server.url()));
  }
};

// A's local edits: `n` inserts (ids 100001..), 500 updates of seed rows (1..500), 50 deletes (900..949).
void edit_as_a(const ItemsTeam& t, int64_t n) {
  ASSERT_NO_FATAL_FAILURE(local_exec(
      t.wc(t.a), insert_rows(100001, n, "A") + "UPDATE items SET body = 'A edited ' || id WHERE id <= 500;"
                                               "DELETE FROM items WHERE id BETWEEN 900 AND 949;"));
}

// The remote holds every one of A's edits exactly once, and A's working copy equals it.
void expect_a_applied(const ItemsTeam& t, int64_t n) {
  const std::string& url = t.server.url();
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE owner = 'A'"), n);
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE body LIKE 'A edited %'"), 500);
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE id BETWEEN 900 AND 949"), 0);
  EXPECT_EQ(staging_left(url), 0);
  expect_same(url, t.wc(t.a), kItemsChecksum);
  expect_same(url, t.wc(t.a), "SELECT id, owner, body, score FROM items WHERE owner <> 'A' ORDER BY id");
  expect_no_local_changes(t.a, url);
}

// The remote holds none of A's edits.
void expect_a_absent(const ItemsTeam& t) {
  const std::string& url = t.server.url();
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE owner = 'A'"), 0);
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE body LIKE 'A edited %'"), 0);
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE id BETWEEN 900 AND 949"), 50);
}

// Over 20 MB (100,000 rows of ~200 bytes), default part size: a teammate took one of A's new ids (late in
// the order) and changed a row A changes. Nothing of A's push is applied, the conflicts are listed, no
// staging is left; sync then converges with nothing lost (A's colliding row moved, A's row kept by policy).
TEST(StagedPush, ConflictInALatePartOfA20MbPushAppliesNothingThenSyncConverges) {
  constexpr int64_t n = 100000;
  ItemsTeam t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(edit_as_a(t, n));
  remote_exec(t.server.url(),
              {"INSERT INTO items (id, owner, body, score) VALUES (199990, 'B', 'teammate', 1.5)",
               "UPDATE items SET body = 'B edited' WHERE id = 450"});
  auto refused = run_cli({"push"}, env_for(t.server.url()), t.a.path());
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("nothing was applied"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("items [id=199990] insert"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("items [id=450] update"), std::string::npos) << refused.err;
  expect_a_absent(t);
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM turso_sync_pushes"), 0);
  EXPECT_EQ(staging_left(t.server.url()), 0);

  auto synced = run_cli({"sync", "--on-conflict=local"}, env_for(t.server.url()), t.a.path());
  ASSERT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  EXPECT_NE(synced.out.find("staged in"), std::string::npos) << synced.out;
  expect_a_applied(t, n);
  EXPECT_EQ(remote_rows(t.server.url(), "SELECT owner, body FROM items WHERE id = 199990"),
            (Rows{{T("B"), T("teammate")}}));
  EXPECT_EQ(remote_rows(t.server.url(), "SELECT body FROM items WHERE id = 450"),
            (Rows{{T("A edited 450")}}));
  // A's row that met the teammate's id moved above both sides' maximum, with its content.
  EXPECT_EQ(remote_count(t.server.url(),
                         "SELECT count(*) FROM items WHERE owner = 'A' AND body = printf('%.200c', "
                         "'x') || 99989 AND id > 199990"),
            1);
}

// A child table declared before its parent, with a foreign key to it; over 6 MB of new parents and children,
// many parts. While the push runs, the remote is read again and again: it never shows a child without its
// parent, and shows either none of the rows or all of them.
TEST(StagedPush, ChildrenDeclaredBeforeTheirParentsNeverDangleOnTheRemote) {
  constexpr int64_t n = 20000;
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(
      server.url(),
      {"CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), body TEXT)",
       "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)"});
  TempDir a;
  auto r = run_cli({"init"}, env_for(server.url()), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string rows = std::to_string(n - 1);
  ASSERT_NO_FATAL_FAILURE(
      local_exec(a.file("working_copy.db"),
                 "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i <= " + rows +
                     ") INSERT INTO parent SELECT i, printf('%.200c', 'p') || i FROM k;"
                     "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i <= " +
                     rows + ") INSERT INTO child SELECT i, i, printf('%.200c', 'c') || i FROM k;"));

  pid_t pid = spawn_cli({"push"}, env_for(server.url()), a.path(), a.file("push.log"));
  int observations = 0, exit_code = -1;
  while (true) {
    int status = 0;
    pid_t done = waitpid(pid, &status, WNOHANG);
    Rows seen =
        remote_rows(server.url(),
                    "SELECT (SELECT count(*) FROM child), (SELECT count(*) FROM parent), (SELECT count(*) "
                    "FROM child WHERE parent_id NOT IN (SELECT id FROM parent))");
    ++observations;
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0][2], I(0)) << "children without their parents on the remote: " << render_rows(seen);
    EXPECT_TRUE(seen[0][0] == seen[0][1] && (seen[0][0] == I(0) || seen[0][0] == I(n)))
        << "part of the push is visible: " << render_rows(seen);
    if (done == pid) {
      exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
  }
  ASSERT_EQ(exit_code, 0) << read_text(a.file("push.log"));
  EXPECT_NE(read_text(a.file("push.log")).find("staged in"), std::string::npos)
      << read_text(a.file("push.log"));
  std::printf("[ StagedPush ] the remote was read %d times during the push\n", observations);
  EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM child"), n);
  EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM parent"), n);
  EXPECT_EQ(staging_left(server.url()), 0);
  expect_same(server.url(), a.file("working_copy.db"), "SELECT * FROM child ORDER BY id");
  expect_same(server.url(), a.file("working_copy.db"), "SELECT * FROM parent ORDER BY id");
}

// A teammate deleted a parent since the last pull; a push of over 6 MB (default part size) inserts a child
// of it in a late part: refused, nothing applied (no child of the other parent either), the child named.
TEST(StagedPush, AChildOfAParentDeletedOnTheRemoteIsAConflictAndNothingIsApplied) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(
      server.url(),
      {"CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)",
       "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), body TEXT)",
       "INSERT INTO parent VALUES (1, 'one'), (2, 'two')"});
  TempDir a;
  auto r = run_cli({"init"}, env_for(server.url()), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_NO_FATAL_FAILURE(
      local_exec(a.file("working_copy.db"),
                 "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 32000) "
                 "INSERT INTO child SELECT i, CASE WHEN i = 31999 THEN 2 ELSE 1 END, "
                 "printf('%.200c', 'c') || i FROM k;"));
  remote_exec(server.url(), {"DELETE FROM parent WHERE id = 2"});
  auto refused = run_cli({"push"}, env_for(server.url()), a.path());
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("nothing was applied"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("child [id=31999] insert: references parent row id=2"), std::string::npos)
      << refused.err;
  EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM child"), 0);
  EXPECT_EQ(staging_left(server.url()), 0);
}

// --force, staged: local wins for the rows it names (a teammate's change to a row we update is overwritten,
// a row inserted at one of our ids is updated to ours), never INSERT OR REPLACE.
TEST(StagedPush, ForceIsLocalWinsForTheStagedRows) {
  ItemsTeam t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(edit_as_a(t, 12000));
  remote_exec(t.server.url(),
              {"INSERT INTO items (id, owner, body, score) VALUES (111000, 'B', 'teammate', 1.5)",
               "UPDATE items SET body = 'B edited' WHERE id = 450"});
  auto forced = run_cli({"push", "--force"}, env_with(t.server.url(), {kSmallParts}), t.a.path());
  ASSERT_EQ(forced.exit_code, 0) << forced.out << forced.err;
  EXPECT_NE(forced.out.find("staged in"), std::string::npos) << forced.out;
  expect_a_applied(t, 12000);
  EXPECT_EQ(remote_rows(t.server.url(), "SELECT owner FROM items WHERE id = 111000"), (Rows{{T("A")}}));
}

// push --dry-run of a staged push says so and sends nothing.
TEST(StagedPush, DryRunShowsThePartsAndTheFinalBatchAndSendsNothing) {
  ItemsTeam t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(edit_as_a(t, 3000));
  auto dry = run_cli({"push", "--dry-run"}, env_with(t.server.url(), {kSmallParts}), t.a.path());
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("-- staged push: "), std::string::npos) << dry.out.substr(0, 2000);
  EXPECT_NE(dry.out.find("-- part 2: "), std::string::npos);
  EXPECT_NE(dry.out.find("-- the final batch"), std::string::npos);
  EXPECT_NE(dry.out.find("UPDATE \"items\" SET"), std::string::npos);
  expect_a_absent(t);
  EXPECT_EQ(staging_left(t.server.url()), 0);
}

// The answer to the final batch is lost (the server committed it): recognised by its receipt, not applied
// twice, not a conflict. The answer to a part is lost: the part is sent again and recognised as landed.
TEST(StagedPush, LostAnswersToAPartAndToTheFinalBatchAreSettledNotAppliedTwice) {
  for (const char* lost : {kFinalBatch, "INSERT INTO turso_sync_push_parts"}) {
    SCOPED_TRACE(lost);
    ItemsTeam t;
    ASSERT_NO_FATAL_FAILURE(t.init());
    ASSERT_NO_FATAL_FAILURE(edit_as_a(t, 6000));
    t.proxy.arm_once(Fault::drop_response_after_forwarding, lost);
    auto r = run_cli({"push"}, env_with(t.proxy.url(), {kSmallParts}), t.a.path());
    ASSERT_TRUE(t.proxy.armed_fault_fired()) << r.out << r.err;
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("staged in"), std::string::npos) << r.out;
    EXPECT_EQ(t.proxy.forwarded_containing(kFinalBatch), 1);
    EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM turso_sync_pushes"), 1);
    expect_a_applied(t, 6000);
    auto again = run_cli({"push"}, env_with(t.proxy.url(), {kSmallParts}), t.a.path());
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    EXPECT_NE(again.out.find("nothing to push"), std::string::npos) << again.out;
  }
}

// The staging of another copy's push in progress is never dropped; one abandoned for over a day is.
TEST(StagedPush, AnotherCopysStagingIsKeptAndAnAbandonedOneIsDropped) {
  ItemsTeam t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  std::string now = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";
  remote_exec(
      t.server.url(),
      {"CREATE TABLE turso_sync_push_parts (push_id TEXT NOT NULL, part INTEGER NOT NULL, staged_at TEXT NOT "
       "NULL, PRIMARY KEY (push_id, part))",
       "INSERT INTO turso_sync_push_parts VALUES ('0123456789abcdef0123456789abcdef', 1, " + now + ")",
       "CREATE TABLE turso_sync_stage_0123456789abcdef0123456789abcdef_0 (seq INTEGER PRIMARY KEY, op "
       "TEXT NOT NULL, m TEXT, k0, n0)",
       "INSERT INTO turso_sync_push_parts VALUES ('fedcba9876543210fedcba9876543210', 1, "
       "'2020-01-01T00:00:00Z')",
       "CREATE TABLE turso_sync_stage_fedcba9876543210fedcba9876543210_0 (seq INTEGER PRIMARY KEY, op "
       "TEXT NOT NULL, m TEXT, k0, n0)"});
  ASSERT_EQ(
      remote_count(t.server.url(), "SELECT count(*) FROM turso_sync_push_parts WHERE staged_at > '2021'"), 1)
      << "the server's strftime";
  ASSERT_NO_FATAL_FAILURE(edit_as_a(t, 3000));
  auto r = run_cli({"push"}, env_with(t.server.url(), {kSmallParts}), t.a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("staged in"), std::string::npos) << r.out;
  EXPECT_EQ(remote_count(t.server.url(),
                         "SELECT count(*) FROM sqlite_schema WHERE name = "
                         "'turso_sync_stage_0123456789abcdef0123456789abcdef_0'"),
            1);
  EXPECT_EQ(remote_count(t.server.url(),
                         "SELECT count(*) FROM sqlite_schema WHERE name = "
                         "'turso_sync_stage_fedcba9876543210fedcba9876543210_0'"),
            0);
  EXPECT_EQ(remote_rows(t.server.url(), "SELECT push_id FROM turso_sync_push_parts"),
            (Rows{{T("0123456789abcdef0123456789abcdef")}}));
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM items WHERE owner = 'A'"), 3000);
}

// Values that JSON or SQL text could alter (shortest round-trip REALs, huge and tiny REALs, BLOBs with NUL
// bytes, NULLs, unicode and quotes, integers as text in an untyped column) go through the staging tables
// unchanged, and the updates and deletes of rows holding them pass their guards (compared exactly).
TEST(StagedPush, ExactValuesAndTheirGuardsSurviveStaging) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE v (id INTEGER PRIMARY KEY, r REAL, x, t TEXT, b BLOB)",
                             "INSERT INTO v VALUES (1, 0.30000000000000004, 0.1, 'it''s \"q\"', x'00ff00'), "
                             "(2, 1e308, '5', NULL, x''), (3, 1e-300, 5, 'ünïcødé ✓', NULL), "
                             "(4, NULL, x'0000', 'x', x'01'), (5, 2.5, NULL, '', x'00')"});
  TempDir a;
  auto r = run_cli({"init"}, env_for(server.url()), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string wc = a.file("working_copy.db");
  ASSERT_NO_FATAL_FAILURE(local_exec(
      wc,
      "UPDATE v SET t = 'changed ' || id WHERE id IN (1, 2);"  // guards on t: a TEXT and a NULL
      "UPDATE v SET r = 0.1 WHERE id = 3;"                     // a guard on a REAL
      "UPDATE v SET b = x'ff' WHERE id = 4;"                   // a guard on a BLOB
      "DELETE FROM v WHERE id = 5;"                            // a guard on every column
      "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 6000) "
      "INSERT INTO v SELECT 100 + i, i * 0.1, CASE i % 5 WHEN 0 THEN i WHEN 1 THEN i / 3.0 WHEN 2 THEN "
      "CAST(i AS TEXT) WHEN 3 THEN CAST(i AS BLOB) ELSE NULL END, 'é''\"' || printf('%.150c', 'y') || i, "
      "CAST(x'00' || zeroblob(i % 7) || x'ff' AS BLOB) FROM k;"));
  auto pushed = run_cli({"push"}, env_with(server.url(), {kSmallParts}), a.path());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_NE(pushed.out.find("staged in"), std::string::npos) << pushed.out;
  const char* all = "SELECT id, r, typeof(r), x, typeof(x), t, b FROM v ORDER BY id";
  expect_same(server.url(), wc, all);
  expect_same(server.url(), a.file("local_replica.db"), all);
  expect_no_local_changes(a, server.url());
  EXPECT_EQ(staging_left(server.url()), 0);
}

// TEXT that is not valid UTF-8 cannot be stored unchanged on the remote: that row alone is refused before
// any part is sent (held, named by table and key), and the rest of the staged push goes (issue 19; was: the
// whole push refused).
TEST(StagedPush, InvalidUtf8RowIsHeldAloneAndTheRestIsStaged) {
  ItemsTeam t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(edit_as_a(t, 3000));
  ASSERT_NO_FATAL_FAILURE(local_exec(
      t.wc(t.a), "INSERT INTO items (id, owner, body) VALUES (900000, 'B', CAST(x'61ff62' AS TEXT))"));
  auto r = run_cli({"push"}, env_with(t.proxy.url(), {kSmallParts}), t.a.path());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("items 900000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not valid UTF-8"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("staged in"), std::string::npos) << r.out;
  const std::string& url = t.server.url();
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE id = 900000"), 0);
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE owner = 'A'"), 3000);
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE body LIKE 'A edited %'"), 500);
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM items WHERE id BETWEEN 900 AND 949"), 0);
  EXPECT_EQ(staging_left(url), 0);
  EXPECT_EQ(local_count(t.wc(t.a), "SELECT count(*) FROM items WHERE id = 900000"), 1);
}

// Schema changes travel in the final batch before the staged rows that need them: a new table with its rows,
// a column added to a table and set on every row, an index and a trigger (suspended while the rows are
// applied, restored after). A second copy pulls exactly the same.
TEST(StagedPush, SchemaChangesAndTheStagedRowsThatNeedThemApplyTogether) {
  ItemsTeam t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(local_exec(
      t.wc(t.a),
      "CREATE TABLE notes (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items(id), text TEXT);"
      "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 6000) "
      "INSERT INTO notes SELECT i, 1 + i % 1024, printf('%.200c', 'n') || i FROM k;"
      "ALTER TABLE items ADD COLUMN tag TEXT DEFAULT 'none';"
      "UPDATE items SET tag = 'tagged ' || id;"
      "CREATE INDEX items_tag ON items(tag);"
      "CREATE TRIGGER notes_touch AFTER INSERT ON notes BEGIN UPDATE items SET score = -1 WHERE id = "
      "new.item_id; END;"));
  auto pushed = run_cli({"push"}, env_with(t.server.url(), {kSmallParts}), t.a.path());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_NE(pushed.out.find("staged in"), std::string::npos) << pushed.out;
  EXPECT_EQ(staging_left(t.server.url()), 0);
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM notes"), 6000);
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM items WHERE tag = 'tagged ' || id"), 1024);
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM items WHERE score = -1"), 0)
      << "the trigger fired while the rows were applied";
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM sqlite_schema WHERE name = 'notes_touch'"), 1);
  auto pulled = run_cli({"pull"}, env_for(t.server.url()), t.b.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  for (const char* sql : {"SELECT * FROM items ORDER BY id", "SELECT * FROM notes ORDER BY id"}) {
    expect_same(t.server.url(), t.wc(t.a), sql);
    expect_same_local(t.wc(t.a), t.wc(t.b), sql);
  }
  expect_no_local_changes(t.a, t.server.url());
  expect_no_local_changes(t.b, t.server.url());
}

// A table without a declared key (rows matched by rowid: inserted, updated, deleted) and a WITHOUT ROWID
// table with a composite key (inserts: the local server supports no UPDATE or DELETE on those) are staged
// too.
TEST(StagedPush, TablesWithoutAKeyAndWithoutRowidAreStagedToo) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE log (msg TEXT, level INTEGER)",
               "INSERT INTO log VALUES ('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5)",
               "CREATE TABLE tags (name TEXT, n INTEGER, note TEXT, PRIMARY KEY (name, n)) WITHOUT ROWID",
               "INSERT INTO tags VALUES ('x', 1, 'one')"});
  TempDir a;
  auto r = run_cli({"init"}, env_for(server.url()), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string wc = a.file("working_copy.db");
  ASSERT_NO_FATAL_FAILURE(
      local_exec(wc,
                 "UPDATE log SET level = 20 WHERE msg = 'b'; DELETE FROM log WHERE msg IN ('c', 'd');"
                 "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 5000) "
                 "INSERT INTO log SELECT printf('%.200c', 'l') || i, i FROM k;"
                 "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 5000) "
                 "INSERT INTO tags SELECT 'tag' || (i % 7), i, printf('%.200c', 't') FROM k;"));
  auto pushed = run_cli({"push"}, env_with(server.url(), {kSmallParts}), a.path());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_NE(pushed.out.find("staged in"), std::string::npos) << pushed.out;
  expect_same(server.url(), wc, "SELECT rowid, msg, level FROM log ORDER BY rowid");
  expect_same(server.url(), wc, "SELECT name, n, note FROM tags ORDER BY name, n");
  EXPECT_EQ(staging_left(server.url()), 0);
  expect_no_local_changes(a, server.url());
}

}  // namespace
}  // namespace turso_sync::testing
