// Failures that explain themselves, fast (issue 21; docs/protocol.md, "Timeouts"). Tried as a new user
// would, each case once took minutes or printed a library's words:
//   - a server that accepts connections and never answers: `status` took 120 s, `pull` 362 s with no output;
//   - TLS spoken to a plain-http port: 52 s, then "SSL connection timeout";
//   - an answer that is not HTTP: curl's raw "Received HTTP/0.9 when not allowed";
//   - push said nothing while it sent its parts.
// Bounds are generous (a loaded machine must not fail them) and far below the old figures; no test sleeps.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "support/fake_http_server.h"
#include "support/sync_checks.h"
#include "support/tcp_proxy.h"
#include "support/test_env.h"
#include "turso_sync/remote.h"

namespace turso_sync::testing {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// `status` checks reachability within a few seconds (4 s for the whole request), saying on a terminal what
// it waits for, instead of the 120 s of the request timeout.
TEST(FastFailures, StatusAgainstAServerThatNeverAnswersEndsWithinSeconds) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  TcpProxy silent(server.port());
  silent.set_mode(TcpProxy::Fault::hold);
  TempDir dir;
  auto start = Clock::now();
  auto r = run_cli_on_terminal({"status"}, {"TURSO_DATABASE_URL=" + silent.url()}, dir.path());
  double took = seconds_since(start);
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_LT(took, 10.0) << r.out;
  EXPECT_TRUE(contains(r.out, "waiting for the server at " + silent.url() + " to answer")) << r.out;
  EXPECT_TRUE(contains(r.out, "did not answer within 4 s")) << r.out;
  EXPECT_GE(silent.faults_injected(), 1);
}

// `pull` gives up after one wait for the page request and one for the SQL path (10 s each by default):
// neither a second page request nor retries of a request the server never answered. A terminal shows what is
// awaited the whole time; nothing changes.
TEST(FastFailures, PullAgainstAServerThatNeverAnswersFailsWithinSecondsSayingWhatItAwaits) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (1, 'a')"});
  TcpProxy proxy(server.port());
  TempDir dir;
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + proxy.url()};
  ASSERT_EQ(run_cli({"init"}, env, dir.path()).exit_code, 0);
  local_exec(dir.file("working_copy.db"), "INSERT INTO t VALUES (2, 'local')");
  remote_exec(server.url(), {"INSERT INTO t VALUES (3, 'theirs')"});
  std::string replica_before = read_text(dir.file("local_replica.db"));

  proxy.set_mode(TcpProxy::Fault::hold);
  int requests_before = proxy.requests();
  auto start = Clock::now();
  auto r = run_cli_on_terminal({"pull"}, env, dir.path());
  double took = seconds_since(start);
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_LT(took, 60.0) << r.out;  // measured 20 s; was 362 s
  EXPECT_TRUE(contains(r.out, "waiting for the server at " + proxy.url() + " to answer")) << r.out;
  EXPECT_TRUE(contains(r.out, "accepted the connection but did not answer within 10 s")) << r.out;
  // The page request with the two sent beside it (the proof of history, the identity check: each waits
  // once, at the same time), then the SQL path's first read. Nothing is asked twice.
  EXPECT_EQ(proxy.requests() - requests_before, 4)
      << "the page request, the proof and the identity check, then the SQL path's first read";
  EXPECT_EQ(read_text(dir.file("local_replica.db")), replica_before);
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT id, v FROM t ORDER BY id"),
            (Rows{{I(1), T("a")}, {I(2), T("local")}}));
}

// The existing settings keep bounding every wait: a small TURSO_SYNC_REQUEST_TIMEOUT_MS makes a read give up
// as soon, and TURSO_SYNC_READ_TIMEOUT_MS sets the wait of reads alone.
TEST(FastFailures, TimeoutSettingsBoundTheWait) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  TcpProxy silent(server.port());
  silent.set_mode(TcpProxy::Fault::hold);
  for (const std::string setting :
       {"TURSO_SYNC_REQUEST_TIMEOUT_MS=1000", "TURSO_SYNC_READ_TIMEOUT_MS=1000"}) {
    TempDir dir;
    auto start = Clock::now();
    auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + silent.url(), setting}, dir.path());
    double took = seconds_since(start);
    EXPECT_EQ(r.exit_code, 4) << setting << ": " << r.err;
    EXPECT_LT(took, 9.0) << setting << ": two waits of about 1 s, not two of 10 s: " << r.err;
    EXPECT_TRUE(contains(r.err, "timed out")) << setting << ": " << r.err;
    expect_no_files(dir);
  }
}

// The read timeout counts silence, not the whole request (libcurl's total timeout cut big downloads at
// 120 s whatever their pace): an answer that trickles in for about 4 s, a few bytes every 200 ms, arrives
// whole with a 2 s read timeout; one that stops before its end fails about 2 s after its last byte, saying
// that the server stopped sending.
TEST(FastFailures, AReadGivesUpOnSilenceNotOnAnAnswerThatTricklesIn) {
  const std::string answer =
      R"({"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"execute","result":)"
      R"({"cols":[{"name":"1","decltype":null}],"rows":[[{"type":"integer","value":"1"}]]}}}]})";
  const std::string raw = FakeHttpServer::response(200, answer);
  auto client_for = [](const std::string& url) {
    Config config;
    config.database_url = url;
    config.read_timeout_ms = 2000;
    auto client = RemoteClient::create(config);
    EXPECT_TRUE(client.ok()) << client.error().message();
    return std::move(client).value();
  };

  FakeHttpServer slow(raw, {.chunk = 12, .gap_ms = 200});
  auto start = Clock::now();
  auto r = client_for(slow.url())->execute(SqlStatement{"SELECT 1", {}}, Retry::safe);
  double took = seconds_since(start);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->rows, (Rows{{I(1)}}));
  EXPECT_GT(took, 2.5) << "the answer came faster than planned: the test proves nothing";

  FakeHttpServer stalled(raw, {.stall_after = raw.size() - 40});
  start = Clock::now();
  auto s = client_for(stalled.url())->execute(SqlStatement{"SELECT 1", {}}, Retry::safe);
  took = seconds_since(start);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::timeout) << s.error().message();
  EXPECT_TRUE(contains(s.error().message(), "stopped sending its answer: nothing arrived for 2 s"))
      << s.error().message();
  EXPECT_LT(took, 15.0) << s.error().message();
}

// TLS to the local server's plain-http port: the handshake is never answered (the server waits for a request
// line). After a second without an answer, one plain `GET /` on a connection of its own finds an HTTP
// server: exit 2 (the URL must change) with the way on, instead of 52 s and "SSL connection timeout".
TEST(FastFailures, TlsToAPlainHttpPortIsRecognisedAtOnceWithTheHint) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  std::string host_port = "127.0.0.1:" + std::to_string(server.port());
  for (const std::string& url : {"https://" + host_port, "libsql://" + host_port}) {
    for (const std::string command : {"status", "init"}) {
      TempDir dir;
      auto start = Clock::now();
      auto r = run_cli({command}, {"TURSO_DATABASE_URL=" + url}, dir.path());
      double took = seconds_since(start);
      std::string said = r.out + r.err;
      EXPECT_EQ(r.exit_code, 2) << url << " " << command << ": " << said;
      EXPECT_LT(took, 10.0) << url << " " << command << ": " << said;  // measured 1.2 s
      EXPECT_TRUE(contains(said, "speaks plain http, not TLS")) << said;
      EXPECT_TRUE(contains(said, "http://" + host_port)) << said;
      EXPECT_TRUE(contains(said, "libsql://" + host_port + "?tls=0")) << said;
      EXPECT_FALSE(contains(said, "SSL connection timeout")) << said;
      expect_no_files(dir);
    }
  }
}

// Bytes that are not HTTP (another protocol's greeting): exit 4 and "did not answer as a Turso server does";
// the transport's own words (what the answer begins with) only with -v.
TEST(FastFailures, AnAnswerThatIsNotHttpIsNotATursoServerWithTheDetailInVerbose) {
  FakeHttpServer ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + ssh.url()}, dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(contains(r.err, "the server at " + ssh.url() + " did not answer as a Turso server does"))
      << r.err;
  EXPECT_FALSE(contains(r.err, "HTTP/0.9")) << r.err;
  auto v = run_cli({"-v", "init"}, {"TURSO_DATABASE_URL=" + ssh.url()}, dir.path());
  EXPECT_EQ(v.exit_code, 4) << v.err;
  EXPECT_TRUE(contains(v.err, "detail: the answer has no HTTP/1.x status line")) << v.err;
  EXPECT_TRUE(contains(v.err, "SSH-2.0-OpenSSH_9.2p1")) << v.err;
  auto s = run_cli({"-v", "status"}, {"TURSO_DATABASE_URL=" + ssh.url()}, dir.path());
  EXPECT_EQ(s.exit_code, 4) << s.out << s.err;
  EXPECT_TRUE(contains(s.out, "did not answer as a Turso server does")) << s.out;
  EXPECT_TRUE(contains(s.out, "HTTP/0.9")) << s.out;
  expect_no_files(dir);
}

// Push says what it sends on a terminal: one transaction, or each staged part and the final batch.
TEST(FastFailures, PushOnATerminalSaysWhatItSends) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"});
  TempDir dir;
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + server.url()};
  ASSERT_EQ(run_cli({"init"}, env, dir.path()).exit_code, 0);

  local_exec(dir.file("working_copy.db"), "INSERT INTO t VALUES (1, 'one')");
  auto single = run_cli_on_terminal({"push"}, env, dir.path());
  EXPECT_EQ(single.exit_code, 0) << single.out;
  EXPECT_TRUE(contains(single.out, "push: sending 1 row change in one transaction")) << single.out;

  // About 600 KB of rows in parts of 64 KiB: about ten parts.
  local_exec(dir.file("working_copy.db"),
             "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 3001) "
             "INSERT INTO t SELECT i, printf('%.200c', 'x') FROM n");
  env.push_back("TURSO_SYNC_PUSH_PART_BYTES=65536");
  auto staged = run_cli_on_terminal({"push"}, env, dir.path());
  EXPECT_EQ(staged.exit_code, 0) << staged.out;
  EXPECT_TRUE(contains(staged.out, "push: sending part 1 of about ")) << staged.out;
  EXPECT_TRUE(contains(staged.out, "push: sending part 2 of about ")) << staged.out;
  EXPECT_TRUE(contains(staged.out, "push: applying ")) << staged.out;
  EXPECT_TRUE(contains(staged.out, "staged parts (3000 row changes) in one transaction")) << staged.out;
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*) FROM t"), (Rows{{I(3001)}}));
}

}  // namespace
}  // namespace turso_sync::testing
