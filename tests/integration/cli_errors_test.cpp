// Bad input and unreachable remotes: each gets a clear message, the exit code of SPEC §3, and changes no
// file.
#include <gtest/gtest.h>

#include <fstream>

#include "support/fake_http_server.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const std::string kToken = "eyJhbGciOiJFZERTQSJ9.secret-token-that-must-never-show";

void expect_no_files(const TempDir& dir) {
  EXPECT_FALSE(fs::exists(dir.file("local_replica.db")));
  EXPECT_FALSE(fs::exists(dir.file("working_copy.db")));
  if (fs::exists(dir.path())) {
    for (const auto& e : fs::recursive_directory_iterator(dir.path()))
      EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();
  }
}

TEST(CliErrors, MalformedUrlIsAConfigurationError) {
  for (const std::string url : {"not a url", "ftp://example.org", "libsql://", "libsql://host?tls=0",
                                "https://host:99999", "libsql://db.turso.io?authToken=abc"}) {
    TempDir dir;
    auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + url}, dir.path());
    EXPECT_EQ(r.exit_code, 2) << url << ": " << r.err;
    EXPECT_NE(r.err.find("URL"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("authToken=abc"), std::string::npos) << "a token in the URL is echoed: " << r.err;
    expect_no_files(dir);
  }
}

TEST(CliErrors, MissingUrlSaysHowToSetIt) {
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL="}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("TURSO_DATABASE_URL"), std::string::npos) << r.err;
  expect_no_files(dir);
}

TEST(CliErrors, NothingListeningIsUnreachableNamingTheUrl) {
  TempDir dir;
  std::string url = "http://127.0.0.1:" + std::to_string(free_port());
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + url}, dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find(url), std::string::npos) << r.err;
  expect_no_files(dir);
  auto s = run_cli({"status"}, {"TURSO_DATABASE_URL=" + url}, dir.path());
  EXPECT_EQ(s.exit_code, 4) << s.out << s.err;
  EXPECT_NE(s.out.find("reachable      no"), std::string::npos) << s.out;
}

TEST(CliErrors, Http401IsAuthenticationFailure) {
  FakeHttpServer server(FakeHttpServer::response(401, "{\"error\":\"Unauthorized\"}"));
  TempDir dir;
  auto r =
      run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url(), "TURSO_AUTH_TOKEN=" + kToken}, dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("authentication failed"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kToken), std::string::npos);
  EXPECT_EQ(r.out.find(kToken), std::string::npos);
  EXPECT_EQ(server.requests(), 1) << "authentication failures are not retried";
  expect_no_files(dir);
}

TEST(CliErrors, GarbageJsonAnswerIsAProtocolErrorNotACrash) {
  FakeHttpServer server(FakeHttpServer::response(200, "{\"hello\":\"I am some other JSON API\"}"));
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("unexpected answer from the server"), std::string::npos) << r.err;
  expect_no_files(dir);
}

// Seen when tried: TURSO_DATABASE_URL pointing at another web server that answers 200 with a web page gave
// exit 1 and "The JSON element does not have the requested type". Now: exit 4 and what is wrong, for every
// command, whether the page comes from /v2/pipeline or /pull-updates, and nothing changes.
TEST(CliErrors, AWebServerThatIsNotTursoIsNamedAsSuch) {
  const std::string page = "<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>";
  FakeHttpServer web(FakeHttpServer::response(200, page, "text/html"));
  auto expect_not_turso = [&](const CommandResult& r, const std::string& what) {
    EXPECT_EQ(r.exit_code, 4) << what << ": " << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("this is not a Turso database URL"), std::string::npos)
        << what << ": " << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("TURSO_DATABASE_URL"), std::string::npos) << what << ": " << r.err;
    EXPECT_EQ((r.out + r.err).find("JSON element"), std::string::npos) << what << ": " << r.err;
  };
  TempDir fresh;
  expect_not_turso(run_cli({"init"}, {"TURSO_DATABASE_URL=" + web.url()}, fresh.path()), "init");
  expect_no_files(fresh);
  expect_not_turso(run_cli({"status"}, {"TURSO_DATABASE_URL=" + web.url()}, fresh.path()), "status");

  // An initialized working copy whose URL is then changed to the web server's.
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", "INSERT INTO t VALUES (1, 'a')"});
  TempDir dir;
  ASSERT_EQ(run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path()).exit_code, 0);
  local_exec(dir.file("working_copy.db"), "INSERT INTO t VALUES (2, 'local')");
  std::string replica_before = read_text(dir.file("local_replica.db"));
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + web.url()};
  for (const std::string cmd : {"pull", "push", "sync", "status"})
    expect_not_turso(run_cli({cmd}, env, dir.path()), cmd);
  EXPECT_EQ(read_text(dir.file("local_replica.db")), replica_before);
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT id, v FROM t ORDER BY id"),
            (Rows{{I(1), T("a")}, {I(2), T("local")}}));
  EXPECT_EQ(remote_rows(server.url(), "SELECT id, v FROM t"), (Rows{{I(1), T("a")}}));
}

TEST(CliErrors, TruncatedAnswerIsAClearError) {
  std::string body =
      R"({"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"execute","result":{"cols":[)";
  // Claims more bytes than it sends, then closes the connection.
  std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n" + body;
  FakeHttpServer server(raw);
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "crashed: " << r.err;
  EXPECT_NE(r.err.find(server.url()), std::string::npos) << r.err;
  expect_no_files(dir);
  // A complete but truncated JSON document.
  FakeHttpServer json_cut(FakeHttpServer::response(200, body));
  auto r2 = run_cli({"init"}, {"TURSO_DATABASE_URL=" + json_cut.url()}, dir.path());
  EXPECT_EQ(r2.exit_code, 1) << r2.err;
  EXPECT_NE(r2.err.find("unexpected answer"), std::string::npos) << r2.err;
  expect_no_files(dir);
}

TEST(CliErrors, ServerErrorsAreRetriedThenReported) {
  FakeHttpServer server(FakeHttpServer::response(503, "overloaded", "text/plain"));
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("HTTP 503"), std::string::npos) << r.err;
  EXPECT_GT(server.requests(), 1) << "reads are retried";
  expect_no_files(dir);
}

TEST(CliErrors, TokenIsNeverSentOverPlainHttpToRemoteHosts) {
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=http://turso.invalid:8080", "TURSO_AUTH_TOKEN=" + kToken},
                   dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--allow-insecure-http"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kToken), std::string::npos);
  expect_no_files(dir);
}

TEST(CliErrors, TokenNeverAppearsInOutputOrState) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE t (id INTEGER PRIMARY KEY)"});
  TempDir dir;
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + server.url(), "TURSO_AUTH_TOKEN=" + kToken};
  auto init = run_cli({"-v", "init"}, env, dir.path());
  ASSERT_EQ(init.exit_code, 0) << init.err;
  auto status = run_cli({"status"}, env, dir.path());
  auto status_json = run_cli({"--json", "status"}, env, dir.path());
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("eyJh…(masked)"), std::string::npos) << status.out;
  for (const auto* r : {&init, &status, &status_json}) {
    EXPECT_EQ(r->out.find("secret-token"), std::string::npos) << r->out;
    EXPECT_EQ(r->err.find("secret-token"), std::string::npos) << r->err;
  }
  for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content.find("secret-token"), std::string::npos) << "token written to " << e.path();
  }
}

TEST(CliErrors, StatusJsonDescribesFilesAndRemote) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  TempDir dir;
  auto r = run_cli({"--json", "status"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"reachable\":true"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"initialized\":false"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"round_trip_ms\":"), std::string::npos) << r.out;
}

TEST(CliErrors, EveryCommandHasHelp) {
  for (const std::string cmd :
       {"init", "status", "diff", "pull", "push", "sync", "reset", "copy", "workflow", "watch"}) {
    auto help = run_cli({cmd, "--help"});
    EXPECT_EQ(help.exit_code, 0) << cmd;
    EXPECT_NE(help.out.find("Usage"), std::string::npos) << cmd << ": " << help.out;
  }
  auto version = run_cli({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("turso-sync "), std::string::npos);
  auto unknown = run_cli({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
}

}  // namespace
}  // namespace turso_sync::testing
