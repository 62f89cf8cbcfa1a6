// `workflow --pull-on-change` (issue 21, "Realtime"; docs/operations.md): a teammate's change reaches the
// working copy as soon as the remote has it, not at the next interval, and following an idle remote costs a
// few small requests. Real server behind the test proxy, which counts the requests and bytes on the wire and,
// delaying
// `/pull-updates`, stands in for a server that long-polls.
#include <gtest/gtest.h>

#include <signal.h>
#include <simdjson.h>
#include <sys/wait.h>

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <sstream>
#include <thread>

#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Follower {
  TempDir dir;
  std::string url;  // the proxy's
  pid_t workflow = -1;
  std::string log = dir.file("workflow.log");

  CommandResult run(const std::vector<std::string>& args) const {
    return run_cli(args, {"TURSO_DATABASE_URL=" + url}, dir.path().string());
  }
  std::string wc() const { return dir.file("working_copy.db"); }
  // Starts `workflow --json --interval 600 --pull-on-change` and waits for its first cycle.
  void start() {
    workflow = spawn_cli({"--json", "workflow", "--interval", "600", "--pull-on-change"},
                         {"TURSO_DATABASE_URL=" + url}, dir.path().string(), log);
    ASSERT_TRUE(eventually([&] { return cycles() >= 1; }, std::chrono::seconds(60))) << read_text(log);
  }
  size_t cycles() const {
    std::istringstream in(read_text(log));
    size_t n = 0;
    for (std::string line; std::getline(in, line);) n += line.rfind("{\"cycle\":", 0) == 0;
    return n;
  }
  ~Follower() {
    if (workflow > 0) {
      ::kill(workflow, SIGKILL);
      ::waitpid(workflow, nullptr, 0);
    }
  }
};

// The remote's row 1 is set to `n` by a teammate (straight to the server); returns how long the working copy
// took to show it (the wait ends the test when it exceeds a minute: far more than the interval's 10 minutes
// would allow only by luck). Returns once the cycle that brought it has logged its line (its pull merges
// the row before its push and the line).
milliseconds teammate_change_arrives(const LocalServer& server, const Follower& f, int n) {
  size_t cycles = f.cycles();
  auto start = Clock::now();
  remote_exec(server.url(), {fmt::format("UPDATE notes SET n = {} WHERE id = 1", n)});
  Rows want{{I(n)}};
  bool arrived = eventually([&] { return local_rows(f.wc(), "SELECT n FROM notes WHERE id = 1") == want; },
                            std::chrono::seconds(60), milliseconds(20));
  EXPECT_TRUE(arrived) << "change " << n << " never reached the working copy\n" << read_text(f.log);
  auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  EXPECT_TRUE(eventually([&] { return f.cycles() > cycles; }, std::chrono::seconds(60))) << read_text(f.log);
  return took;
}

TEST(PullOnChange, ARemoteChangeReachesTheWorkingCopyAtOnceAndAnIdleRemoteCostsAFewSmallRequests) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, n INTEGER)",
                             "INSERT INTO notes VALUES (1, 0), (2, 0)"});
  TcpProxy proxy{server.port()};
  Follower f{TempDir(), proxy.url()};
  ASSERT_EQ(f.run({"init"}).exit_code, 0);

  // The local server answers at once: status says the remote is polled.
  auto status = f.run({"--json", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find(R"("remote_follow":"poll")"), std::string::npos) << status.out;

  f.start();
  std::vector<int64_t> latencies;
  for (int n = 1; n <= 5; ++n) latencies.push_back(teammate_change_arrives(server, f, n).count());
  std::sort(latencies.begin(), latencies.end());
  std::cout << "pull-on-change: latencies (ms, sorted) " << fmt::format("{}", fmt::join(latencies, " "))
            << "\n";
  EXPECT_NE(read_text(f.log).find(R"("trigger":"remote")"), std::string::npos) << read_text(f.log);

  // Ten idle seconds (a measuring window, not a wait for an event): at most 12 requests and 24 KB on the
  // wire, and at least one (the remote is being followed).
  size_t cycles_before = f.cycles();
  int requests = proxy.requests();
  uint64_t bytes = proxy.bytes_from_clients() + proxy.bytes_to_clients();
  std::this_thread::sleep_for(std::chrono::seconds(10));
  int idle_requests = proxy.requests() - requests;
  uint64_t idle_bytes = proxy.bytes_from_clients() + proxy.bytes_to_clients() - bytes;
  std::cout << "pull-on-change: idle 10 s: " << idle_requests << " requests, " << idle_bytes << " bytes\n";
  EXPECT_EQ(f.cycles(), cycles_before) << "an idle remote started a cycle\n" << read_text(f.log);
  EXPECT_GE(idle_requests, 1);
  EXPECT_LE(idle_requests, 12);
  EXPECT_LE(idle_bytes, 24u * 1024);

  ::kill(f.workflow, SIGTERM);
  EXPECT_EQ(wait_exit_code(f.workflow), 0) << read_text(f.log);
  f.workflow = -1;
}

TEST(PullOnChange, AServerThatHoldsTheRequestIsLongPolledAndStatusSaysSo) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE notes (id INTEGER PRIMARY KEY, n INTEGER)", "INSERT INTO notes VALUES (1, 0)"});
  TcpProxy proxy{server.port()};
  Follower f{TempDir(), proxy.url()};
  ASSERT_EQ(f.run({"init"}).exit_code, 0);
  // Every /pull-updates answer comes 1.5 s late, as from a server that holds a request while nothing is new.
  proxy.set_delay_ms(1500, "POST /pull-updates");
  auto status = f.run({"--json", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find(R"("remote_follow":"long-poll")"), std::string::npos) << status.out;
  auto text = f.run({"status"});
  EXPECT_NE(text.out.find("long-polls"), std::string::npos) << text.out;

  f.start();
  teammate_change_arrives(server, f, 7);
  EXPECT_NE(read_text(f.log).find(R"("trigger":"remote")"), std::string::npos) << read_text(f.log);
}

}  // namespace
}  // namespace turso_sync::testing
