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

bool official_client_installed() {
  return fs::exists(fs::path(TURSO_SYNC_SOURCE_DIR) / "node_modules/@tursodatabase/sync/package.json");
}

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
      auto r = run_command(
          {"/usr/bin/node", std::string(TURSO_SYNC_SOURCE_DIR) + "/tests/support/teammate.mjs", team_db,
           server.url(), "pull", fmt::format("exec:UPDATE emails SET n = n + 1 WHERE id = {}", k), "push"});
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
