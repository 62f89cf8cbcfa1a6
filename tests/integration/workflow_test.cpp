// workflow: background sync against a real local server. The loop runs as a separate process (spawn_cli) with
// its output in a file; the tests change the remote and the working copy as a teammate and an application
// would, and wait (bounded) for each change to arrive on the other side.
#include <gtest/gtest.h>

#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using namespace std::chrono_literals;

const char* kAll = "SELECT id, title FROM notes ORDER BY id";

// A server with a `notes` table and one initialized directory.
struct Scene {
  LocalServer server;
  TempDir dir;
  std::vector<std::string> env() const { return {"TURSO_DATABASE_URL=" + server.url()}; }
  std::string wc() const { return dir.file("working_copy.db"); }
  std::string log() const { return dir.file("workflow.log"); }
  void start() {
    ASSERT_TRUE(server.started());
    remote_exec(server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)",
                               "INSERT INTO notes VALUES (1, 'first')"});
    auto r = run_cli({"init"}, env(), dir.path().string());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  pid_t spawn(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"workflow"};
    argv.insert(argv.end(), args.begin(), args.end());
    return spawn_cli(argv, env(), dir.path().string(), log());
  }
};

TEST(Workflow, OnceSyncsBothWaysAndExitsWithTheCycleCode) {
  Scene s;
  ASSERT_NO_FATAL_FAILURE(s.start());
  remote_exec(s.server.url(), {"INSERT INTO notes VALUES (2, 'theirs')"});
  local_exec(s.wc(), "INSERT INTO notes VALUES (3, 'ours')");
  auto r = run_cli({"workflow", "--once"}, s.env(), s.dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("#1 start: pulled +1 ~0 -0, pushed +1 ~0 -0"), std::string::npos) << r.out;
  const Rows all = {{I(1), T("first")}, {I(2), T("theirs")}, {I(3), T("ours")}};
  EXPECT_EQ(remote_rows(s.server.url(), kAll), all);
  EXPECT_EQ(local_rows(s.wc(), kAll), all);

  // Both sides change the same column: with --on-conflict=abort the cycle stops with the conflict (exit 3),
  // nothing applied. (The workflow's default, hold, is covered by held_conflicts_test.cpp and
  // held_workflow_test.cpp.)
  remote_exec(s.server.url(), {"UPDATE notes SET title = 'remote' WHERE id = 1"});
  local_exec(s.wc(), "UPDATE notes SET title = 'local' WHERE id = 1");
  auto c = run_cli({"workflow", "--once", "--on-conflict=abort"}, s.env(), s.dir.path().string());
  EXPECT_EQ(c.exit_code, 3) << c.out << c.err;
  EXPECT_NE(c.err.find("conflict: 1 row changed on both sides"), std::string::npos) << c.err;
  EXPECT_EQ(local_rows(s.wc(), "SELECT title FROM notes WHERE id = 1"), (Rows{{T("local")}}));
  // The policy settles it.
  auto l = run_cli({"workflow", "--once", "--on-conflict=local"}, s.env(), s.dir.path().string());
  EXPECT_EQ(l.exit_code, 0) << l.out << l.err;
  EXPECT_EQ(remote_rows(s.server.url(), "SELECT title FROM notes WHERE id = 1"), (Rows{{T("local")}}));
}

TEST(Workflow, SyncsEveryIntervalAndStopsCleanlyOnSigterm) {
  Scene s;
  ASSERT_NO_FATAL_FAILURE(s.start());
  pid_t pid = s.spawn({"--interval", "1"});
  ASSERT_GT(pid, 0);
  // A teammate's change arrives in the working copy; the application's change arrives on the remote.
  remote_exec(s.server.url(), {"INSERT INTO notes VALUES (2, 'theirs')"});
  EXPECT_TRUE(eventually([&] { return local_rows(s.wc(), kAll).size() == 2; })) << read_text(s.log());
  local_exec(s.wc(), "INSERT INTO notes VALUES (3, 'ours')");
  EXPECT_TRUE(eventually([&] { return remote_rows(s.server.url(), kAll).size() == 3; }))
      << read_text(s.log());
  // Both changes may land in the first cycle: the interval is proven by a second one, whatever the speed.
  EXPECT_TRUE(eventually([&] { return read_text(s.log()).find("#2 interval: ") != std::string::npos; }))
      << read_text(s.log());

  // The signal comes while a cycle may still be running: it finishes (its pull included).
  kill(pid, SIGTERM);
  EXPECT_EQ(exit_within(pid, 15s), 0) << read_text(s.log());
  std::string log = read_text(s.log());
  EXPECT_NE(log.find("workflow: syncing working_copy.db"), std::string::npos) << log;
  EXPECT_NE(log.find("#2 interval: "), std::string::npos) << log;
  EXPECT_NE(log.find("workflow: stopped"), std::string::npos) << log;
  EXPECT_EQ(local_rows(s.wc(), kAll), remote_rows(s.server.url(), kAll));
  // Nothing left behind: the next command runs at once.
  auto status = run_cli({"diff", "--exit-code"}, s.env(), s.dir.path().string());
  EXPECT_EQ(status.exit_code, 0) << status.out << status.err;
}

TEST(Workflow, ASignalDuringACycleLetsItFinishASecondOneCancelsIt) {
  Scene s;
  ASSERT_NO_FATAL_FAILURE(s.start());
  TcpProxy proxy(s.server.port());
  proxy.set_delay_ms(300);  // every request of the cycle takes a while
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + proxy.url()};
  local_exec(s.wc(), "INSERT INTO notes VALUES (2, 'ours')");
  pid_t pid = spawn_cli({"workflow", "--interval", "600"}, env, s.dir.path().string(), s.log());
  // SIGTERM as soon as the push batch is on its way: the push's answer and the pull after it still follow.
  ASSERT_TRUE(eventually([&] { return proxy.forwarded_containing("INSERT INTO turso_sync_pushes") > 0; }))
      << read_text(s.log());
  kill(pid, SIGTERM);
  EXPECT_EQ(exit_within(pid, 20s), 0) << read_text(s.log());
  std::string log = read_text(s.log());
  EXPECT_NE(log.find("pushed +1 ~0 -0"), std::string::npos) << log;
  EXPECT_NE(log.find("workflow: stopped"), std::string::npos) << log;
  // The cycle was whole: the replica holds the pushed row, nothing is pending.
  EXPECT_EQ(local_rows(s.dir.file("local_replica.db"), kAll), (Rows{{I(1), T("first")}, {I(2), T("ours")}}));
  EXPECT_EQ(run_cli({"diff", "--exit-code"}, s.env(), s.dir.path().string()).exit_code, 0);

  // Two signals: the cycle in progress is cancelled (cleanly: the next command finishes or redoes it).
  local_exec(s.wc(), "INSERT INTO notes VALUES (3, 'more')");
  proxy.set_delay_ms(1000);
  int before = proxy.requests();
  std::string log2 = s.dir.file("workflow2.log");
  pid = spawn_cli({"workflow", "--interval", "600"}, env, s.dir.path().string(), log2);
  ASSERT_TRUE(eventually([&] { return proxy.requests() > before; })) << read_text(log2);
  kill(pid, SIGTERM);
  std::this_thread::sleep_for(100ms);
  kill(pid, SIGTERM);
  EXPECT_EQ(exit_within(pid, 10s), 0) << read_text(log2);
  EXPECT_NE(read_text(log2).find("interrupted"), std::string::npos) << read_text(log2);
  proxy.set_delay_ms(0);
  auto sync = run_cli({"sync"}, s.env(), s.dir.path().string());
  EXPECT_EQ(sync.exit_code, 0) << sync.out << sync.err;
  EXPECT_EQ(remote_rows(s.server.url(), kAll),
            (Rows{{I(1), T("first")}, {I(2), T("ours")}, {I(3), T("more")}}));
}

TEST(Workflow, OneWorkflowPerStateDir) {
  Scene s;
  ASSERT_NO_FATAL_FAILURE(s.start());
  pid_t pid = s.spawn({"--interval", "30"});
  ASSERT_TRUE(eventually([&] { return read_text(s.log()).find("#1 start") != std::string::npos; }))
      << read_text(s.log());
  auto second = run_cli({"workflow", "--once"}, s.env(), s.dir.path().string());
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  EXPECT_NE(second.err.find("a turso-sync workflow is already running for .turso-sync (pid " +
                            std::to_string(pid) + ")"),
            std::string::npos)
      << second.err;
  auto status = run_cli({"status", "--offline"}, s.env(), s.dir.path().string());
  EXPECT_NE(status.out.find("workflow       running (pid " + std::to_string(pid) + ")"), std::string::npos)
      << status.out;
  // Other commands run between cycles.
  local_exec(s.wc(), "INSERT INTO notes VALUES (2, 'pushed by hand')");
  auto push = run_cli({"push"}, s.env(), s.dir.path().string());
  EXPECT_EQ(push.exit_code, 0) << push.out << push.err;
  kill(pid, SIGINT);
  EXPECT_EQ(exit_within(pid, 15s), 0) << read_text(s.log());
  EXPECT_NE(
      run_cli({"status", "--offline"}, s.env(), s.dir.path().string()).out.find("workflow       not running"),
      std::string::npos);
  auto again = run_cli({"workflow", "--once"}, s.env(), s.dir.path().string());
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
}

TEST(Workflow, FailuresBackOffExponentiallyAndRecover) {
  Scene s;
  ASSERT_NO_FATAL_FAILURE(s.start());
  // The same directory pointed at a port where nothing listens.
  std::vector<std::string> env{"TURSO_DATABASE_URL=http://127.0.0.1:" + std::to_string(free_port())};
  pid_t pid = spawn_cli({"--json", "workflow", "--interval", "1"}, env, s.dir.path().string(), s.log());
  // Cycles take a moment each (the client retries a refused connection); wait for three of them.
  auto lines = [&] {
    std::vector<std::string> out;
    std::istringstream in(read_text(s.log()));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("{\"cycle\"", 0) == 0) out.push_back(line);
    return out;
  };
  EXPECT_TRUE(eventually([&] { return lines().size() >= 3; }, 40s)) << read_text(s.log());
  kill(pid, SIGTERM);
  EXPECT_EQ(exit_within(pid, 15s), 0) << read_text(s.log());
  auto cycles = lines();
  ASSERT_GE(cycles.size(), 3u) << read_text(s.log());
  simdjson::dom::parser parser;
  int64_t previous = 0;
  for (size_t i = 0; i + 1 < cycles.size(); ++i) {  // the last one may have been cut short by the signal
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(cycles[i]).get(doc), simdjson::SUCCESS) << cycles[i];
    EXPECT_EQ(int64_t(doc["consecutive_failures"]), static_cast<int64_t>(i + 1)) << cycles[i];
    EXPECT_EQ(int64_t(doc["exit_code"]), 4) << cycles[i];
    EXPECT_EQ(std::string_view(doc["error"]["kind"]), "unreachable") << cycles[i];
    int64_t next = doc["next_in_ms"];
    EXPECT_GT(next, previous) << "the wait grows after each failure: " << cycles[i];
    previous = next;
  }
  // The same directory against the live server: the first cycle succeeds and the count starts over.
  auto ok = run_cli({"--json", "workflow", "--once"}, s.env(), s.dir.path().string());
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("\"consecutive_failures\":0"), std::string::npos) << ok.out;
}

TEST(Workflow, PushOnChangeSendsAWriteWithoutWaitingForTheInterval) {
  Scene s;
  ASSERT_NO_FATAL_FAILURE(s.start());
  pid_t pid = s.spawn({"--interval", "600", "--push-on-change"});
  ASSERT_TRUE(eventually([&] { return read_text(s.log()).find("#1 start") != std::string::npos; }))
      << read_text(s.log());
  local_exec(s.wc(), "INSERT INTO notes VALUES (2, 'soon')");
  EXPECT_TRUE(eventually([&] { return remote_rows(s.server.url(), kAll).size() == 2; }, 15s))
      << read_text(s.log());
  // (The log line follows the cycle's own pull, a moment after the rows land on the remote.)
  EXPECT_TRUE(eventually([&] { return read_text(s.log()).find("#2 change: ") != std::string::npos; }, 10s))
      << read_text(s.log());
  kill(pid, SIGTERM);
  EXPECT_EQ(exit_within(pid, 15s), 0) << read_text(s.log());
}

}  // namespace
}  // namespace turso_sync::testing
