// A live application and a team (issue: no self-conflicts, constraints kept, `--force` that never deletes a
// stranger): the application writes while turso-sync runs; teammates' changes meet ours through foreign keys
// and UNIQUE constraints. Real server; the push is held in flight by the test proxy, so "the application
// writes while the push is on the wire" is an event, not a race.
#include <gtest/gtest.h>

#include <signal.h>

#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct Copy {
  TempDir dir;
  std::string url;
  CommandResult run(const std::vector<std::string>& args) const {
    return run_cli(args, {"TURSO_DATABASE_URL=" + url}, dir.path().string());
  }
  std::string wc() const { return dir.file("working_copy.db"); }
};

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

}  // namespace
}  // namespace turso_sync::testing
