// A live application and a team (issue: no self-conflicts, constraints kept, `--force` that never deletes a
// stranger): the application writes while turso-sync runs; teammates' changes meet ours through foreign keys
// and UNIQUE constraints. Real server; the push is held in flight by the test proxy, so "the application
// writes while the push is on the wire" is an event, not a race.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

#include "support/tcp_proxy.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

// Runs `args` on `copy` while the proxy holds its first request containing `trigger`; `meanwhile` runs while
// it is held (the application writing). Returns the command's exit code; its output goes to `log`.
int run_held(TcpProxy& proxy, const Copy& copy, const std::vector<std::string>& args,
             const std::string& trigger, const std::function<void()>& meanwhile, const std::string& log) {
  proxy.arm_once(TcpProxy::Fault::hold, trigger);
  pid_t pid = spawn_cli(args, {"TURSO_DATABASE_URL=" + copy.url}, copy.dir.path().string(), log);
  EXPECT_TRUE(proxy.wait_until_held()) << "the command never sent " << trigger;
  meanwhile();
  proxy.release_held();
  return wait_exit_code(pid);
}

TEST(LiveTeam, PushNeverConflictsWithWhatItSentWhileTheAppWrites) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT, status TEXT)",
                             "INSERT INTO emails VALUES (1, 'one', 'new')"});
  TcpProxy proxy{server.port()};
  Copy a{TempDir(), proxy.url()};
  ASSERT_EQ(a.run({"init"}).exit_code, 0);
  local_exec(
      a.wc(),
      "UPDATE emails SET status = 'batch-1' WHERE id = 1; INSERT INTO emails VALUES (2, 'two', 'new')");
  std::string log = a.dir.file("push.log");
  int code = run_held(
      proxy, a, {"push"}, "BEGIN IMMEDIATE",
      [&] {
        // The application goes on writing while the push is on the wire: the same rows again.
        local_exec(
            a.wc(),
            "UPDATE emails SET status = 'app-again-1' WHERE id = 1; UPDATE emails SET status = 'app-2' "
            "WHERE id = 2");
      },
      log);
  EXPECT_EQ(code, 0) << read_text(log);
  EXPECT_FALSE(contains(read_text(log), "conflict")) << read_text(log);
  EXPECT_FALSE(contains(read_text(log), "moved")) << read_text(log);
  // The remote has what was sent; the working copy keeps the newer values, as local changes.
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM emails ORDER BY id"),
            (Rows{{I(1), T("one"), T("batch-1")}, {I(2), T("two"), T("new")}}));
  EXPECT_EQ(local_rows(a.wc(), "SELECT * FROM emails ORDER BY id"),
            (Rows{{I(1), T("one"), T("app-again-1")}, {I(2), T("two"), T("app-2")}}));
  auto diff = a.run({"diff", "--exit-code", "--stat"});
  EXPECT_EQ(diff.exit_code, 1) << "the newer values are local changes:\n" << diff.out;
  auto again = a.run({"push"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM emails ORDER BY id"),
            (Rows{{I(1), T("one"), T("app-again-1")}, {I(2), T("two"), T("app-2")}}));
  EXPECT_EQ(a.run({"diff", "--exit-code"}).exit_code, 0);
}

TEST(LiveTeam, PushedRowsChangedByATeammateInBetweenStillMergeThreeWay) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT, status TEXT)",
                             "INSERT INTO emails VALUES (1, 'one', 'new')"});
  TcpProxy proxy{server.port()};
  Copy a{TempDir(), proxy.url()};
  ASSERT_EQ(a.run({"init"}).exit_code, 0);
  local_exec(a.wc(), "UPDATE emails SET status = 'sent' WHERE id = 1");
  std::string log = a.dir.file("push.log");
  // The push's trailing pull (its page request) is held, and a teammate changes the subject in between.
  int code = run_held(
      proxy, a, {"push"}, "POST /pull-updates",
      [&] {
        remote_exec(server.url(), {"UPDATE emails SET subject = 'ONE' WHERE id = 1"});
        local_exec(a.wc(), "UPDATE emails SET status = 'archived' WHERE id = 1");
      },
      log);
  EXPECT_EQ(code, 0) << read_text(log);
  EXPECT_EQ(local_rows(a.wc(), "SELECT * FROM emails"), (Rows{{I(1), T("ONE"), T("archived")}}));
  ASSERT_EQ(a.run({"push"}).exit_code, 0);
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM emails"), (Rows{{I(1), T("ONE"), T("archived")}}));
}

TEST(LiveTeam, UniqueClashIsNamedAndForceNeverDeletesAStrangersRow) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE recipients (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, name TEXT)",
               "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient_id INTEGER REFERENCES recipients(id))",
               "INSERT INTO recipients VALUES (1, 'a@x', 'A')"});
  Copy mine{TempDir(), server.url()};
  ASSERT_EQ(mine.run({"init"}).exit_code, 0);
  // A teammate adds b@x as recipient 2 and an email to it.
  remote_exec(server.url(),
              {"INSERT INTO recipients VALUES (2, 'b@x', 'teammate')", "INSERT INTO emails VALUES (1, 2)"});
  local_exec(
      mine.wc(),
      "INSERT INTO recipients VALUES (5, 'b@x', 'mine'); UPDATE recipients SET name = 'A2' WHERE id = 1");
  auto refused = mine.run({"push"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_TRUE(contains(refused.err, "UNIQUE constraint on (email)")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "id=2")) << refused.err;
  EXPECT_FALSE(contains(refused.err, "a row with this key already exists")) << refused.err;
  auto forced = mine.run({"push", "--force"});
  EXPECT_EQ(forced.exit_code, 3) << forced.out << forced.err;
  EXPECT_TRUE(contains(forced.err, "UNIQUE constraint on (email)")) << forced.err;
  // Both rows named: mine (its key) and the teammate's that holds the value.
  EXPECT_TRUE(contains(forced.err, "recipients [id=5] insert")) << forced.err;
  EXPECT_TRUE(contains(forced.err, "email='b@x'")) << forced.err;
  EXPECT_TRUE(contains(forced.err, "[id=2]")) << forced.err;
  EXPECT_FALSE(contains(forced.err, "or `push --force`")) << "--force was used and cannot settle it:\n"
                                                          << forced.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM recipients ORDER BY id"),
            (Rows{{I(1), T("a@x"), T("A")}, {I(2), T("b@x"), T("teammate")}}))
      << "nothing applied, and the teammate's row is still there";
  // With the clash gone, --force makes local win for its own rows only.
  remote_exec(server.url(), {"UPDATE recipients SET name = 'theirs' WHERE id = 1"});
  local_exec(mine.wc(), "UPDATE recipients SET email = 'c@x' WHERE id = 5");
  auto pushed = mine.run({"push", "--force"});
  EXPECT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM recipients ORDER BY id"),
            (Rows{{I(1), T("a@x"), T("A2")}, {I(2), T("b@x"), T("teammate")}, {I(5), T("c@x"), T("mine")}}));
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM emails"), (Rows{{I(1), I(2)}}));
}

// ---- a stale push never leaves a child pointing at a parent a teammate deleted
// -----------------------------

// The remote's rows of `child` whose non-NULL `columns` name no row of `parent` (`parent_columns`): read
// through the independent path (the server has no PRAGMA foreign_key_check, and runs with foreign_keys off).
Rows remote_dangling(const std::string& url, const std::string& child,
                     const std::vector<std::string>& columns, const std::string& parent,
                     const std::vector<std::string>& parent_columns) {
  std::string match, not_null;
  for (size_t i = 0; i < columns.size(); ++i) {
    match += fmt::format("{}p.{} = c.{}", i ? " AND " : "", parent_columns[i], columns[i]);
    not_null += fmt::format(" AND c.{} IS NOT NULL", columns[i]);
  }
  return remote_rows(url, fmt::format("SELECT c.rowid FROM {} AS c WHERE NOT EXISTS (SELECT 1 FROM {} AS p "
                                      "WHERE {}){}",
                                      child, parent, match, not_null));
}

const std::vector<std::string> kEmailsWithAttachments = {
    "CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
    "CREATE TABLE attachments (id INTEGER PRIMARY KEY, email_id INTEGER REFERENCES emails(id) ON DELETE "
    "CASCADE, name TEXT)",
    "INSERT INTO emails VALUES (1, 'hello'), (2, 'other'), (3, 'third')",
    "INSERT INTO attachments VALUES (1, 2, 'x.pdf')"};

// A teammate deletes email 1 and pushes; I, without pulling, attach a file to email 1 and push. The server
// runs with foreign_keys off, so nothing but the push's own guard stops my attachment from dangling there.
TEST(LiveTeam, StalePushOfAChildOfARemotelyDeletedParentIsRefused) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), kEmailsWithAttachments);
  Copy a{TempDir(), server.url()}, b{TempDir(), server.url()};
  ASSERT_EQ(a.run({"init"}).exit_code, 0);
  ASSERT_EQ(b.run({"init"}).exit_code, 0);
  local_exec(a.wc(), "PRAGMA foreign_keys = ON; DELETE FROM emails WHERE id = 1");
  auto deleted = a.run({"push"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.out << deleted.err;

  local_exec(b.wc(),
             "PRAGMA foreign_keys = ON; INSERT INTO attachments VALUES (2, 1, 'b.pdf');"
             "INSERT INTO attachments VALUES (3, 3, 'c.pdf')");
  auto refused = b.run({"push"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_TRUE(contains(refused.err, "remote has changes you do not have")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "attachments [id=2] insert")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "emails")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "id=1")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "turso-sync pull")) << refused.err;
  EXPECT_FALSE(contains(refused.err, "[id=3]")) << "attachment 3's email is there:\n" << refused.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM attachments ORDER BY id"),
            (Rows{{I(1), I(2), T("x.pdf")}}))
      << "nothing applied";
  // --force makes local win for its own rows; it cannot bring back a row it did not change.
  auto forced = b.run({"push", "--force"});
  EXPECT_EQ(forced.exit_code, 3) << forced.out << forced.err;
  EXPECT_TRUE(contains(forced.err, "attachments [id=2] insert")) << forced.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM attachments ORDER BY id"),
            (Rows{{I(1), I(2), T("x.pdf")}}))
      << "nothing applied";

  // The pull reports it as the merge rules say: my child of a parent the remote deleted.
  auto pulled = b.run({"pull"});
  EXPECT_EQ(pulled.exit_code, 3) << pulled.out << pulled.err;
  EXPECT_TRUE(contains(pulled.out + pulled.err, "dangling")) << pulled.out << pulled.err;
  EXPECT_TRUE(contains(pulled.out + pulled.err, "the remote deleted")) << pulled.out << pulled.err;
  // Keeping mine: the email comes back (as last pulled) and goes to the remote with the attachment.
  auto settled = b.run({"sync", "--on-conflict=local"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  const char* all = "SELECT * FROM attachments ORDER BY id";
  const Rows attachments = {{I(1), I(2), T("x.pdf")}, {I(2), I(1), T("b.pdf")}, {I(3), I(3), T("c.pdf")}};
  EXPECT_EQ(remote_rows(server.url(), all), attachments);
  EXPECT_EQ(remote_rows(server.url(), "SELECT id FROM emails ORDER BY id"), (Rows{{I(1)}, {I(2)}, {I(3)}}));
  EXPECT_EQ(remote_dangling(server.url(), "attachments", {"email_id"}, "emails", {"id"}), Rows{});
  ASSERT_EQ(a.run({"pull"}).exit_code, 0);
  for (const Copy* c : {&a, &b}) {
    EXPECT_EQ(local_rows(c->wc(), all), attachments);
    EXPECT_EQ(local_rows(c->wc(), "PRAGMA foreign_key_check"), Rows{});
    EXPECT_EQ(c->run({"diff", "--exit-code"}).exit_code, 0);
  }
}

// The same through an UPDATE: I move attachment 1 to email 1, which a teammate deleted (and rename it).
// Taking the remote's side gives the attachment back the remote's reference and keeps my other edit: it is a
// row the team has, which must not be deleted (before, the merge deleted it and the sync pushed the delete).
TEST(LiveTeam, StalePushRepointingAChildToARemotelyDeletedParentIsRefused) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), kEmailsWithAttachments);
  Copy a{TempDir(), server.url()}, b{TempDir(), server.url()};
  ASSERT_EQ(a.run({"init"}).exit_code, 0);
  ASSERT_EQ(b.run({"init"}).exit_code, 0);
  local_exec(a.wc(), "PRAGMA foreign_keys = ON; DELETE FROM emails WHERE id = 1");
  ASSERT_EQ(a.run({"push"}).exit_code, 0);

  local_exec(
      b.wc(),
      "PRAGMA foreign_keys = ON; UPDATE attachments SET email_id = 1, name = 'moved.pdf' WHERE id = 1");
  auto refused = b.run({"push"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_TRUE(contains(refused.err, "attachments [id=1] update")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "emails")) << refused.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT * FROM attachments ORDER BY id"),
            (Rows{{I(1), I(2), T("x.pdf")}}))
      << "nothing applied";
  EXPECT_EQ(remote_dangling(server.url(), "attachments", {"email_id"}, "emails", {"id"}), Rows{});

  auto pulled = b.run({"pull"});
  EXPECT_EQ(pulled.exit_code, 3) << pulled.out << pulled.err;
  EXPECT_TRUE(contains(pulled.out + pulled.err, "dangling")) << pulled.out << pulled.err;
  auto settled = b.run({"sync", "--on-conflict=remote"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  const char* all = "SELECT * FROM attachments ORDER BY id";
  const Rows settled_rows = {{I(1), I(2), T("moved.pdf")}};
  EXPECT_EQ(local_rows(b.wc(), all), settled_rows);
  EXPECT_EQ(remote_rows(server.url(), all), settled_rows)
      << "the team's attachment must survive my discarded reference";
  EXPECT_TRUE(contains(discarded_files_text(b.dir), "UPDATE \"attachments\" SET \"email_id\" = 1"))
      << discarded_files_text(b.dir);
  EXPECT_EQ(remote_dangling(server.url(), "attachments", {"email_id"}, "emails", {"id"}), Rows{});
  ASSERT_EQ(a.run({"pull"}).exit_code, 0);
  for (const Copy* c : {&a, &b}) {
    EXPECT_EQ(local_rows(c->wc(), all), settled_rows);
    EXPECT_EQ(local_rows(c->wc(), "PRAGMA foreign_key_check"), Rows{});
    EXPECT_EQ(c->run({"diff", "--exit-code"}).exit_code, 0);
  }
}

// The mirror: a teammate moves attachment 1 to email 3 and pushes; I delete email 3. Keeping my side
// (--on-conflict=local) gives the attachment back its reference as last pulled instead of deleting it, and my
// push (the delete, and the attachment's reference back) passes its reference guard at COMMIT.
TEST(LiveTeam, KeepingMyParentDeleteRevertsATeammatesRepointedChild) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), kEmailsWithAttachments);
  Copy a{TempDir(), server.url()}, b{TempDir(), server.url()};
  ASSERT_EQ(a.run({"init"}).exit_code, 0);
  ASSERT_EQ(b.run({"init"}).exit_code, 0);
  local_exec(a.wc(), "UPDATE attachments SET email_id = 3, name = 'moved.pdf' WHERE id = 1");
  ASSERT_EQ(a.run({"push"}).exit_code, 0);
  local_exec(b.wc(), "PRAGMA foreign_keys = ON; DELETE FROM emails WHERE id = 3");

  auto refused = b.run({"push"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_TRUE(contains(refused.err, "attachments")) << refused.err;
  auto settled = b.run({"sync", "--on-conflict=local"});
  ASSERT_EQ(settled.exit_code, 0) << settled.out << settled.err;
  const char* all = "SELECT * FROM attachments ORDER BY id";
  const Rows settled_rows = {{I(1), I(2), T("moved.pdf")}};
  EXPECT_EQ(local_rows(b.wc(), all), settled_rows);
  EXPECT_EQ(remote_rows(server.url(), all), settled_rows);
  EXPECT_EQ(remote_rows(server.url(), "SELECT id FROM emails ORDER BY id"), (Rows{{I(1)}, {I(2)}}));
  EXPECT_TRUE(contains(discarded_files_text(b.dir), "UPDATE \"attachments\" SET \"email_id\" = 3"))
      << discarded_files_text(b.dir);
  EXPECT_EQ(remote_dangling(server.url(), "attachments", {"email_id"}, "emails", {"id"}), Rows{});
  ASSERT_EQ(a.run({"pull"}).exit_code, 0);
  for (const Copy* c : {&a, &b}) {
    EXPECT_EQ(local_rows(c->wc(), all), settled_rows);
    EXPECT_EQ(local_rows(c->wc(), "PRAGMA foreign_key_check"), Rows{});
    EXPECT_EQ(c->run({"diff", "--exit-code"}).exit_code, 0);
  }
}

// The guard reads the working copy's declared foreign keys as SQLite does: a composite key (declared without
// columns: the parent's PRIMARY KEY), a reference to a UNIQUE column, quoted mixed-case names with spaces.
// A parent this push inserts itself, and NULL references, never refuse.
TEST(LiveTeam, StalePushGuardsCompositeUniqueAndQuotedReferences) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE \"Accounts\" (\"Org\" TEXT, \"Num\" INTEGER, \"Code\" TEXT UNIQUE, PRIMARY KEY "
               "(\"Org\", \"Num\"))",
               "CREATE TABLE \"Ledger Lines\" (id INTEGER PRIMARY KEY, \"Acct Org\" TEXT, \"Acct Num\" "
               "INTEGER, \"Acct Code\" TEXT REFERENCES \"Accounts\" (\"Code\"), FOREIGN KEY (\"Acct Org\", "
               "\"Acct Num\") REFERENCES \"Accounts\")",
               "INSERT INTO \"Accounts\" VALUES ('acme', 1, 'A1'), ('acme', 2, 'A2'), ('beta', 1, 'B1')"});
  Copy a{TempDir(), server.url()}, b{TempDir(), server.url()};
  ASSERT_EQ(a.run({"init"}).exit_code, 0);
  ASSERT_EQ(b.run({"init"}).exit_code, 0);
  local_exec(a.wc(), "DELETE FROM \"Accounts\" WHERE \"Code\" IN ('A2', 'B1')");
  ASSERT_EQ(a.run({"push"}).exit_code, 0);

  local_exec(b.wc(),
             "PRAGMA foreign_keys = ON;"
             "INSERT INTO \"Accounts\" VALUES ('gamma', 7, 'G7');"
             "INSERT INTO \"Ledger Lines\" VALUES (1, 'acme', 2, 'A1');"  // composite parent gone
             "INSERT INTO \"Ledger Lines\" VALUES (2, 'acme', 1, 'B1');"  // UNIQUE-column parent gone
             "INSERT INTO \"Ledger Lines\" VALUES (3, 'acme', 1, 'A1');"
             "INSERT INTO \"Ledger Lines\" VALUES (4, NULL, NULL, NULL);"
             "INSERT INTO \"Ledger Lines\" VALUES (5, 'gamma', 7, 'G7');");
  auto refused = b.run({"push"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_TRUE(contains(refused.err, "Ledger Lines [id=1] insert")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "Ledger Lines [id=2] insert")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "'acme', 2") || contains(refused.err, "Num=2")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "'B1'")) << refused.err;
  for (const char* fine : {"[id=3]", "[id=4]", "[id=5]"})
    EXPECT_FALSE(contains(refused.err, fine)) << fine << " is no conflict:\n" << refused.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*) FROM \"Ledger Lines\""), (Rows{{I(0)}}));
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*) FROM \"Accounts\""), (Rows{{I(1)}}));

  // Without the two stale lines the push goes through.
  local_exec(b.wc(), "DELETE FROM \"Ledger Lines\" WHERE id IN (1, 2)");
  auto pushed = b.run({"sync"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT id FROM \"Ledger Lines\" ORDER BY id"),
            (Rows{{I(3)}, {I(4)}, {I(5)}}));
  EXPECT_EQ(remote_dangling(server.url(), "\"Ledger Lines\"", {"\"Acct Org\"", "\"Acct Num\""},
                            "\"Accounts\"", {"\"Org\"", "\"Num\""}),
            Rows{});
  EXPECT_EQ(
      remote_dangling(server.url(), "\"Ledger Lines\"", {"\"Acct Code\""}, "\"Accounts\"", {"\"Code\""}),
      Rows{});
  EXPECT_EQ(local_rows(b.wc(), "PRAGMA foreign_key_check"), Rows{});
}

// ---- the live soak: an application writing every few ms, `workflow --push-on-change`, a teammate
// -------------

// The application: updates rows 1..5 (status 'tick-N', N counting up) and inserts a row every 10th tick,
// one transaction each, every few ms, until the file argv[2] exists. Prints each committed tick.
const char* kAppScript = R"PY(
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
n = 0
while not os.path.exists(sys.argv[2]):
    n += 1
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE emails SET status = ?, n = ? WHERE id = ?", ("tick-%d" % n, n, 1 + n % 5))
    if n % 10 == 0:
        db.execute("INSERT INTO emails (status, n) VALUES ('app-insert', ?)", (n,))
    db.execute("COMMIT")
    print(n, flush=True)
    time.sleep(0.003)
)PY";

// Runs `f` when the scope ends (processes and threads of a test stopped also when an assertion returns
// early).
struct AtExit {
  std::function<void()> f;
  ~AtExit() { f(); }
};

// The cycle reports of `workflow --json` in its log, in order.
std::vector<std::string> cycle_lines(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("{\"cycle\":", 0) == 0) lines.push_back(line);
  return lines;
}

// The highest tick of rows 1..5 in `rows` (SELECT n FROM emails WHERE id <= 5).
int64_t highest_tick(const Rows& rows) {
  int64_t best = 0;
  for (const auto& r : rows)
    if (!r.empty() && r[0].type() == ValueType::integer) best = std::max(best, r[0].as_integer());
  return best;
}

// The issue's soak: the application writes for `seconds` while `workflow --interval 1 --push-on-change`
// runs and a teammate (the official client) edits other rows. Synchronised on the workflow's cycle reports:
// every two cycles the remote must have moved on (never stuck behind a self-conflict), every cycle exits 0
// with nothing held, and at the end the remote, the working copy and the teammate's copy are equal.
void live_soak(int seconds) {
  if (!official_client_installed()) GTEST_SKIP() << "node_modules/@tursodatabase/sync is missing (make deps)";
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(
      server.url(),
      {"CREATE TABLE emails (id INTEGER PRIMARY KEY, status TEXT, n INTEGER)",
       "INSERT INTO emails VALUES (1, 'new', 0), (2, 'new', 0), (3, 'new', 0), (4, 'new', 0), (5, 'new', 0)",
       "INSERT INTO emails VALUES (100, 'team', 0), (101, 'team', 0), (102, 'team', 0)"});
  Copy a{TempDir(), server.url()};
  ASSERT_EQ(a.run({"init"}).exit_code, 0);
  std::string log = a.dir.file("workflow.log");
  pid_t workflow = spawn_cli({"--json", "workflow", "--interval", "1", "--push-on-change"},
                             {"TURSO_DATABASE_URL=" + server.url()}, a.dir.path().string(), log);
  pid_t app = -1;
  std::atomic<bool> team_stop{false};
  std::thread team;
  AtExit stop_all{[&] {
    if (workflow > 0) {
      ::kill(workflow, SIGKILL);
      ::waitpid(workflow, nullptr, 0);
    }
    if (app > 0) {
      ::kill(app, SIGKILL);
      ::waitpid(app, nullptr, 0);
    }
    team_stop = true;
    if (team.joinable()) team.join();
  }};
  ASSERT_TRUE(eventually([&] { return !cycle_lines(read_text(log)).empty(); }, std::chrono::seconds(60)))
      << read_text(log);

  std::string script = a.dir.file("app.py"), stop = a.dir.file("app.stop"), ticks = a.dir.file("app.out");
  std::ofstream(script) << kAppScript;
  app = fork();
  if (app == 0) {
    int fd = ::open(ticks.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::execl("/usr/bin/python3", "python3", script.c_str(), a.wc().c_str(), stop.c_str(), nullptr);
    ::_exit(127);
  }
  ASSERT_GT(app, 0);

  // The teammate: pull, bump one of its rows, push, until told to stop.
  std::atomic<int> team_rounds{0}, team_failures{0};
  std::string team_db = a.dir.file("teammate.db");
  team = std::thread([&] {
    while (!team_stop) {
      int k = 100 + team_rounds % 3;
      auto r = run_command({"/usr/bin/node", std::string(TURSO_SYNC_SOURCE_DIR "/tests/support/teammate.mjs"),
                            team_db, server.url(), "pull",
                            fmt::format("exec:UPDATE emails SET n = n + 1 WHERE id = {}", k), "push"});
      if (r.exit_code == 0)
        ++team_rounds;
      else if (++team_failures == 1)
        ADD_FAILURE() << "teammate round failed: " << r.err;
    }
  });

  // While the application writes: every two cycles, the remote has the application's newer ticks.
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int64_t remote_tick = 0;
  int samples = 0;
  while (std::chrono::steady_clock::now() < end) {
    size_t seen = cycle_lines(read_text(log)).size();
    ASSERT_TRUE(
        eventually([&] { return cycle_lines(read_text(log)).size() >= seen + 2; }, std::chrono::seconds(120)))
        << read_text(log);
    int64_t now = highest_tick(remote_rows(server.url(), "SELECT n FROM emails WHERE id <= 5"));
    EXPECT_GT(now, remote_tick) << "the remote did not move on in two cycles\n" << read_text(log);
    remote_tick = now;
    ++samples;
  }
  std::ofstream(stop) << "stop";
  int app_code = wait_exit_code(app);
  app = -1;
  EXPECT_EQ(app_code, 0) << read_text(ticks);
  team_stop = true;
  team.join();
  int64_t last_tick = 0;
  {
    std::istringstream in(read_text(ticks));
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) last_tick = std::stoll(line);
  }
  ASSERT_GT(last_tick, 0);
  // Two cycles after the last write: everything is on the remote.
  size_t seen = cycle_lines(read_text(log)).size();
  ASSERT_TRUE(
      eventually([&] { return cycle_lines(read_text(log)).size() >= seen + 2; }, std::chrono::seconds(120)))
      << read_text(log);
  ::kill(workflow, SIGTERM);
  EXPECT_EQ(wait_exit_code(workflow), 0) << read_text(log);
  workflow = -1;

  std::string text = read_text(log);
  std::vector<std::string> cycles = cycle_lines(text);
  simdjson::dom::parser parser;
  for (const std::string& line : cycles) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
    EXPECT_EQ(int64_t(doc["exit_code"]), 0) << line;
    EXPECT_EQ(int64_t(doc["held"]), 0) << "a conflict with nobody: " << line;
  }
  EXPECT_EQ(highest_tick(remote_rows(server.url(), "SELECT n FROM emails WHERE id <= 5")), last_tick);
  const char* all = "SELECT id, status, n FROM emails ORDER BY id";
  EXPECT_EQ(remote_rows(server.url(), all), local_rows(a.wc(), all));
  EXPECT_EQ(remote_rows(server.url(), "SELECT sum(n) FROM emails WHERE id BETWEEN 100 AND 102"),
            (Rows{{I(team_rounds.load())}}));
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*) FROM emails WHERE status = 'app-insert'"),
            (Rows{{I(last_tick / 10)}}));
  EXPECT_EQ(a.run({"diff", "--exit-code"}).exit_code, 0);
  std::cout << "live soak: " << seconds << " s, " << cycles.size() << " cycles, " << samples
            << " samples, application tick " << last_tick << ", teammate rounds " << team_rounds << "\n";
}

TEST(LiveTeam, AppWritingWhileWorkflowPushesOnChangeStaysCurrentAndConverges) {
  live_soak(8);
}

TEST(LiveTeam, SlowAppWritingForAMinuteWhileWorkflowPushesOnChange) {
  live_soak(60);
}

}  // namespace
}  // namespace turso_sync::testing
