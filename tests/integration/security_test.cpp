// Security (docs/reliability.md, "Security"): certificates are verified (a private CA is trusted with --ca-cert), and a token never travels over
// plain http to a host that is not loopback. Against the real server, behind a real TLS front (stunnel4).
#include <gtest/gtest.h>

#include <chrono>

#include "support/test_env.h"
#include "support/tls_front.h"

namespace turso_sync::testing {
namespace {

const std::string kTlsToken = "eyJhbGciOiJFZERTQSJ9.tls-test-token-never-shown";

Rows emails_on(const std::string& server_url) {
  return remote_rows(server_url, "SELECT id, subject FROM emails ORDER BY id");
}

TEST(Tls, SelfSignedFrontIsRefusedWithoutCaCertAndRoundTripsWithIt) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
                             "INSERT INTO emails VALUES (1, 'from the remote')"});
  TlsFront tls(server.port());
  ASSERT_TRUE(tls.started());
  TempDir dir;
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + tls.url(), "TURSO_AUTH_TOKEN=" + kTlsToken};

  // Without --ca-cert the self-signed certificate is not trusted: exit 4, nothing written, and the message
  // says why and what to do.
  auto refused = run_cli({"init"}, env, dir.path());
  EXPECT_EQ(refused.exit_code, 4) << refused.err;
  EXPECT_TRUE(contains(refused.err, "certificate could not be verified")) << refused.err;
  EXPECT_TRUE(contains(refused.err, "--ca-cert")) << refused.err;
  EXPECT_TRUE(contains(refused.err, tls.url())) << refused.err;
  EXPECT_FALSE(contains(refused.err, kTlsToken)) << refused.err;
  EXPECT_FALSE(fs::exists(dir.file("local_replica.db")));
  EXPECT_FALSE(fs::exists(dir.file("working_copy.db")));
  auto status = run_cli({"status"}, env, dir.path());
  EXPECT_EQ(status.exit_code, 4) << status.out << status.err;
  EXPECT_TRUE(contains(status.out, "certificate could not be verified")) << status.out;

  // With the certificate as the CA: init, a local edit pushed, a remote edit pulled.
  std::string ca = "--ca-cert=" + tls.cert_path();
  auto init = run_cli({ca, "init"}, env, dir.path());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT id, subject FROM emails"),
            (Rows{{I(1), T("from the remote")}}));
  local_exec(dir.file("working_copy.db"), "INSERT INTO emails VALUES (2, 'written locally')");

  // A push without the CA is refused before anything is sent.
  auto push_refused = run_cli({"push"}, env, dir.path());
  EXPECT_EQ(push_refused.exit_code, 4) << push_refused.err;
  EXPECT_TRUE(contains(push_refused.err, "--ca-cert")) << push_refused.err;
  EXPECT_EQ(emails_on(server.url()), (Rows{{I(1), T("from the remote")}}));

  auto push = run_cli({ca, "push"}, env, dir.path());
  ASSERT_EQ(push.exit_code, 0) << push.err;
  // Checked on the server directly (plain http, not through the front or turso-sync).
  EXPECT_EQ(emails_on(server.url()), (Rows{{I(1), T("from the remote")}, {I(2), T("written locally")}}));

  remote_exec(server.url(), {"UPDATE emails SET subject = 'changed by a teammate' WHERE id = 1"});
  std::vector<std::string> env_ca = env;
  env_ca.push_back("TURSO_SYNC_CA_CERT=" + tls.cert_path());  // the same, from the environment
  auto pull = run_cli({"pull"}, env_ca, dir.path());
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT id, subject FROM emails ORDER BY id"),
            (Rows{{I(1), T("changed by a teammate")}, {I(2), T("written locally")}}));
  auto status_ok = run_cli({"status"}, env_ca, dir.path());
  EXPECT_EQ(status_ok.exit_code, 0) << status_ok.out << status_ok.err;
  EXPECT_TRUE(contains(status_ok.out, "reachable      yes")) << status_ok.out;
  for (const auto* r : {&init, &push, &pull, &status_ok}) {
    EXPECT_FALSE(contains(r->out, kTlsToken));
    EXPECT_FALSE(contains(r->err, kTlsToken));
  }
}

TEST(Tls, TheCertificateMustNameTheHost) {
  // The CA is trusted, but the certificate covers IP 127.0.0.1, not the name `localhost`: refused.
  LocalServer server;
  ASSERT_TRUE(server.started());
  TlsFront tls(server.port());
  ASSERT_TRUE(tls.started());
  TempDir dir;
  auto r = run_cli({"--ca-cert", tls.cert_path(), "init"},
                   {"TURSO_DATABASE_URL=https://localhost:" + std::to_string(tls.port())}, dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(contains(r.err, "certificate could not be verified")) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("working_copy.db")));
}

TEST(Tls, AMissingCaCertFileIsAConfigurationError) {
  TempDir dir;
  auto r = run_cli({"--ca-cert", dir.file("no-such-ca.pem"), "init"},
                   {"TURSO_DATABASE_URL=https://127.0.0.1:" + std::to_string(free_port())}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "no-such-ca.pem")) << r.err;
  EXPECT_TRUE(contains(r.err, "--ca-cert")) << r.err;
  EXPECT_FALSE(fs::exists(dir.file("working_copy.db")));
}

// 192.0.2.1 (TEST-NET-1) is never routed: a connection attempt would hang until the connect timeout, set here
// far beyond the test's limit, or fail as unreachable (exit 4). Refused before connecting, every command
// exits 2 at once naming the rule.
TEST(PlainHttp, TokenToANonLoopbackHostIsRefusedBeforeAnyConnection) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)"});
  TempDir dir;
  ASSERT_EQ(run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path()).exit_code, 0);
  local_exec(dir.file("working_copy.db"), "INSERT INTO emails VALUES (1, 'local')");
  std::vector<std::string> env{"TURSO_DATABASE_URL=http://192.0.2.1:9", "TURSO_AUTH_TOKEN=" + kTlsToken,
                               "TURSO_SYNC_CONNECT_TIMEOUT_MS=600000"};
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"pull"}, {"push"}, {"sync"}, {"status"}, {"workflow", "--once"}}) {
    std::string output = dir.file("out.txt");
    fs::remove(output);
    pid_t pid = spawn_cli(args, env, dir.path(), output);
    int code = exit_within(pid, std::chrono::seconds(60));
    std::string text = read_text(output);
    EXPECT_EQ(code, 2) << args[0] << " (-1: still connecting after 60 s): " << text;
    EXPECT_TRUE(contains(text, "refusing to send the auth token over plain http to 192.0.2.1")) << text;
    EXPECT_TRUE(contains(text, "--allow-insecure-http")) << text;
    EXPECT_FALSE(contains(text, kTlsToken)) << text;
  }
  TempDir fresh;
  auto init = run_cli({"init"}, env, fresh.path());
  EXPECT_EQ(init.exit_code, 2) << init.err;
  EXPECT_FALSE(fs::exists(fresh.file("working_copy.db")));
  // The local change is still there, and nothing reached the real remote.
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT id FROM emails"), (Rows{{I(1)}}));
  EXPECT_TRUE(remote_rows(server.url(), "SELECT id FROM emails").empty());

  // --allow-insecure-http lifts the rule: the command then tries the host (and fails to reach it, exit 4).
  std::vector<std::string> allowed = env;
  allowed.back() = "TURSO_SYNC_CONNECT_TIMEOUT_MS=200";
  auto tried = run_cli({"--allow-insecure-http", "init"}, allowed, fresh.path());
  EXPECT_EQ(tried.exit_code, 4) << tried.err;
  EXPECT_FALSE(contains(tried.err, "refusing")) << tried.err;
  EXPECT_FALSE(contains(tried.err, kTlsToken)) << tried.err;
}

}  // namespace
}  // namespace turso_sync::testing
