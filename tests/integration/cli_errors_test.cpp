// Bad input and unreachable remotes: each gets a clear message, the exit code the README lists, and changes
// no file.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>

#include "support/fake_http_server.h"
#include "support/sync_checks.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const std::string kToken = "eyJhbGciOiJFZERTQSJ9.secret-token-that-must-never-show";

// expect_no_files (support/sync_checks.h), and no temp file left anywhere in `dir` either: these commands
// fail before or while writing their files.
void expect_nothing_written(const TempDir& dir) {
  expect_no_files(dir);
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
    expect_nothing_written(dir);
  }
}

TEST(CliErrors, MissingUrlSaysHowToSetIt) {
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL="}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("TURSO_DATABASE_URL"), std::string::npos) << r.err;
  expect_nothing_written(dir);
}

TEST(CliErrors, NothingListeningIsUnreachableNamingTheUrl) {
  TempDir dir;
  std::string url = "http://127.0.0.1:" + std::to_string(free_port());
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + url}, dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find(url), std::string::npos) << r.err;
  expect_nothing_written(dir);
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
  // The page request and the receipt read init sends beside it, each once: authentication failures are not
  // retried.
  EXPECT_EQ(server.requests(), 2) << "authentication failures are not retried";
  expect_nothing_written(dir);
}

// JSON of another API: exit 1 with a parser's message until issue 21. Now exit 4 (the remote is not usable,
// as for any server that is not a Turso server), naming the URL; the parser's words only with -v (and in the
// JSON error's "detail").
TEST(CliErrors, JsonOfAnotherShapeIsNotATursoServerWithTheParserInVerbose) {
  FakeHttpServer server(FakeHttpServer::response(200, "{\"hello\":\"I am some other JSON API\"}"));
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("the server at " + server.url() + " did not answer as a Turso server does"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("unexpected answer from the server"), std::string::npos) << r.err;
  auto v = run_cli({"--verbose", "init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_EQ(v.exit_code, 4) << v.err;
  EXPECT_NE(v.err.find("detail: unexpected answer from the server"), std::string::npos) << v.err;
  auto j = run_cli({"--json", "init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_EQ(j.exit_code, 4) << j.out;
  EXPECT_NE(j.out.find(R"("detail":"unexpected answer from the server)"), std::string::npos) << j.out;
  expect_nothing_written(dir);
}

// Seen when tried: TURSO_DATABASE_URL pointing at another web server that answers 200 with a web page gave
// exit 1 and "The JSON element does not have the requested type". Now: exit 4 and what is wrong, for every
// command, whether the page comes from /v2/pipeline or /pull-updates, and nothing changes.
TEST(CliErrors, AWebServerThatIsNotTursoIsNamedAsSuch) {
  const std::string page = "<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>";
  FakeHttpServer web(FakeHttpServer::response(200, page, "text/html"));
  auto expect_not_turso = [&](const CommandResult& r, const std::string& what) {
    EXPECT_EQ(r.exit_code, 4) << what << ": " << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("did not answer as a Turso server does"), std::string::npos)
        << what << ": " << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("TURSO_DATABASE_URL"), std::string::npos) << what << ": " << r.err;
    EXPECT_EQ((r.out + r.err).find("JSON element"), std::string::npos) << what << ": " << r.err;
  };
  TempDir fresh;
  expect_not_turso(run_cli({"init"}, {"TURSO_DATABASE_URL=" + web.url()}, fresh.path()), "init");
  expect_nothing_written(fresh);
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
  expect_nothing_written(dir);
  // A complete HTTP answer holding a truncated JSON document: not what a Turso server sends (exit 4 since
  // issue 21), the parser's words with -v.
  FakeHttpServer json_cut(FakeHttpServer::response(200, body));
  auto r2 = run_cli({"-v", "init"}, {"TURSO_DATABASE_URL=" + json_cut.url()}, dir.path());
  EXPECT_EQ(r2.exit_code, 4) << r2.err;
  EXPECT_NE(r2.err.find("did not answer as a Turso server does"), std::string::npos) << r2.err;
  EXPECT_NE(r2.err.find("detail: unexpected answer"), std::string::npos) << r2.err;
  expect_nothing_written(dir);
}

TEST(CliErrors, ServerErrorsAreRetriedThenReported) {
  FakeHttpServer server(FakeHttpServer::response(503, "overloaded", "text/plain"));
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("HTTP 503"), std::string::npos) << r.err;
  EXPECT_GT(server.requests(), 1) << "reads are retried";
  expect_nothing_written(dir);
}

TEST(CliErrors, TokenIsNeverSentOverPlainHttpToRemoteHosts) {
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=http://turso.invalid:8080", "TURSO_AUTH_TOKEN=" + kToken},
                   dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--allow-insecure-http"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kToken), std::string::npos);
  expect_nothing_written(dir);
}

// The token never appears in the output of any command (also under -v, also when a command fails),
// in any file turso-sync writes (state dir, history, diff file, discarded changes, conflicts, the databases),
// or in a process's arguments (/proc/PID/cmdline of a running workflow). It reaches turso-sync through .env
// or the environment only; the environment of a process (/proc/PID/environ) holds it by design.
TEST(CliErrors, TokenNeverAppearsInOutputOrState) {
  // Pieces of kToken that must never show; status may show only its first four characters.
  const std::vector<std::string> pieces{"secret-token", "bGciOiJFZERTQSJ9", kToken};
  auto leaks = [&](const std::string& text) {
    for (const auto& p : pieces)
      if (contains(text, p)) return true;
    return false;
  };
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
                             "INSERT INTO emails VALUES (1, 'a'), (2, 'b'), (3, 'c')"});
  TempDir dir;
  const std::string working = dir.file("working_copy.db");
  {
    std::ofstream env_file(dir.file(".env"));
    env_file << "TURSO_DATABASE_URL=" << server.url() << "\nTURSO_AUTH_TOKEN=\"" << kToken << "\"\n";
  }
  fs::permissions(dir.file(".env"), fs::perms::owner_read | fs::perms::owner_write);

  std::vector<std::pair<std::string, CommandResult>> runs;  // every command's output, checked at the end
  auto run = [&](const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    std::string name;
    for (const auto& a : args) name += a + " ";
    runs.emplace_back(name, run_cli(args, env, dir.path()));
    return runs.back().second.exit_code;
  };
  ASSERT_EQ(run({"-v", "init"}), 0) << runs.back().second.err;
  // Local changes: diff in every form, status, a dry run, a push.
  local_exec(working, "INSERT INTO emails VALUES (10, 'local')");
  EXPECT_EQ(run({"diff"}), 0);
  EXPECT_TRUE(fs::exists(dir.file("diff.sql")));
  EXPECT_EQ(run({"-v", "diff", "--sql"}), 0);
  EXPECT_EQ(run({"--json", "diff"}), 0);
  EXPECT_EQ(run({"status"}), 0);
  EXPECT_NE(runs.back().second.out.find("eyJh…(masked)"), std::string::npos) << runs.back().second.out;
  EXPECT_EQ(run({"-v", "status"}), 0);
  EXPECT_EQ(run({"--json", "status"}), 0);
  EXPECT_EQ(run({"push", "--dry-run"}), 0);
  EXPECT_EQ(run({"-v", "push"}), 0) << runs.back().second.err;
  // A remote change pulled; a conflict held, listed and settled with --theirs (a discarded file).
  remote_exec(server.url(), {"UPDATE emails SET subject = 'remote' WHERE id = 1"});
  EXPECT_EQ(run({"-v", "pull"}), 0) << runs.back().second.err;
  local_exec(working, "UPDATE emails SET subject = 'mine' WHERE id = 2");
  remote_exec(server.url(), {"UPDATE emails SET subject = 'theirs' WHERE id = 2"});
  EXPECT_EQ(run({"-v", "pull", "--on-conflict=hold"}), 0) << runs.back().second.err;
  EXPECT_EQ(run({"conflicts"}), 0);
  EXPECT_EQ(run({"-v", "--json", "conflicts"}), 0);
  EXPECT_EQ(run({"-v", "resolve", "--theirs"}), 0) << runs.back().second.err;
  // A reset (another discarded file), a sync, one workflow cycle, the history.
  local_exec(working, "UPDATE emails SET subject = 'to be reset' WHERE id = 3");
  EXPECT_EQ(run({"reset", "--yes"}), 0) << runs.back().second.err;
  local_exec(working, "INSERT INTO emails VALUES (11, 'synced')");
  EXPECT_EQ(run({"-v", "sync"}), 0) << runs.back().second.err;
  EXPECT_EQ(run({"sync"}), 0) << runs.back().second.err;
  EXPECT_EQ(run({"-v", "workflow", "--once"}), 0) << runs.back().second.err;
  EXPECT_EQ(run({"log"}), 0);
  EXPECT_EQ(run({"-v", "--json", "log"}), 0);

  // A running workflow's arguments, read while it runs: after its first cycle's line is written.
  {
    std::string log = dir.file("workflow.out");
    pid_t pid = spawn_cli({"-v", "workflow", "--interval", "3600"}, {}, dir.path(), log);
    ASSERT_TRUE(eventually([&] { return contains(read_text(log), "#1 "); })) << read_text(log);
    std::string cmdline = read_text("/proc/" + std::to_string(pid) + "/cmdline");
    kill(pid, SIGTERM);
    EXPECT_EQ(exit_within(pid, std::chrono::seconds(30)), 0) << read_text(log);
    EXPECT_TRUE(contains(cmdline, "workflow")) << "not the workflow's arguments: " << cmdline;
    EXPECT_FALSE(leaks(cmdline)) << "token in /proc/PID/cmdline: " << cmdline;
    EXPECT_FALSE(leaks(read_text(log))) << read_text(log);
    fs::remove(log);
  }

  // Failing commands, with the token from the environment this time: the server is down.
  std::vector<std::string> env_token{"TURSO_AUTH_TOKEN=" + kToken};
  server.stop();
  local_exec(working, "INSERT INTO emails VALUES (12, 'unpushed')");
  EXPECT_EQ(run({"-v", "pull"}, env_token), 4);
  EXPECT_EQ(run({"-v", "push"}, env_token), 4);
  EXPECT_EQ(run({"sync"}, env_token), 4);
  EXPECT_EQ(run({"-v", "workflow", "--once"}, env_token), 4);
  EXPECT_EQ(run({"-v", "status"}, env_token), 4);
  EXPECT_EQ(run({"--json", "status"}, env_token), 4);
  EXPECT_EQ(run({"-v", "init", "--force"}, env_token), 4);

  for (const auto& [name, r] : runs) {
    EXPECT_FALSE(leaks(r.out)) << name << "printed the token: " << r.out;
    EXPECT_FALSE(leaks(r.err)) << name << "printed the token: " << r.err;
  }
  int discarded = 0, files = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
    if (!e.is_regular_file() || e.path().filename() == ".env") continue;
    ++files;
    if (e.path().filename().string().rfind("discarded-", 0) == 0) ++discarded;
    EXPECT_FALSE(leaks(read_text(e.path().string()))) << "token written to " << e.path();
  }
  EXPECT_GE(discarded, 2) << "resolve --theirs and reset each save a discarded file";
  EXPECT_TRUE(fs::exists(dir.path() / ".turso-sync" / "history.jsonl"));
  EXPECT_GE(files, 6);
}

// Overwrites every page of an SQLite file after the first with garbage (a fixed pattern, so every run damages
// it the same way) and appends one more such page, so its size changes too.
void damage_pages(const std::string& path) {
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 151 + 7) % 251);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(0, std::ios::end);
  auto pages = static_cast<size_t>(f.tellg()) / garbage.size();
  for (size_t page = 1; page <= pages; ++page) {
    f.seekp(static_cast<std::streamoff>(page * garbage.size()));
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
}

// Seen when tried: a damaged replica was reported as a damaged working copy ("read table emails
// (working_copy.db): database disk image is malformed") or as local_replica.db.tmp-N, so a user who trusted
// the message would restore or delete the healthy working copy holding their unpushed changes. Every command
// names the replica and says what to do; `init --force` recovers and saves the working copy's changes first.
TEST(CliErrors, ADamagedReplicaIsNamedAndInitForceSavesTheLocalChanges) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
               "INSERT INTO emails SELECT value, 'subject ' || value FROM generate_series(1, 2000)"});
  TempDir dir;
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + server.url()};
  ASSERT_EQ(run_cli({"init"}, env, dir.path()).exit_code, 0);
  const std::string working = dir.file("working_copy.db");
  local_exec(working,
             "INSERT INTO emails VALUES (5000, 'my unpushed email'); "
             "UPDATE emails SET subject = 'my unpushed edit' WHERE id = 7");
  damage_pages(dir.file("local_replica.db"));

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"pull"}, {"push"}, {"sync"}, {"diff"}, {"diff", "--sql"}, {"status"}, {"--json", "status"}}) {
    auto r = run_cli(args, env, dir.path());
    std::string said = r.out + r.err;  // status --json reports it in its document
    std::string what = args.back() + ": " + said;
    EXPECT_NE(r.exit_code, 0) << what;
    EXPECT_LT(r.exit_code, 128) << what;
    EXPECT_TRUE(contains(said, "the replica local_replica.db is damaged")) << what;
    EXPECT_TRUE(contains(said, "turso-sync init --force")) << what;
    EXPECT_FALSE(contains(said, "(working_copy.db)")) << "blames the working copy: " << what;
    EXPECT_FALSE(contains(said, ".tmp-")) << "names a temporary file: " << what;
  }
  // Nothing was pushed, and the working copy is intact with the local changes.
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*), max(id) FROM emails"), (Rows{{I(2000), I(2000)}}));
  EXPECT_EQ(local_rows(working, "PRAGMA integrity_check"), (Rows{{T("ok")}}));
  EXPECT_EQ(local_rows(working, "SELECT subject FROM emails WHERE id IN (7, 5000) ORDER BY id"),
            (Rows{{T("my unpushed edit")}, {T("my unpushed email")}}));

  // init without --force changes nothing and says the same; with --force it recovers.
  auto refused = run_cli({"init"}, env, dir.path());
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_TRUE(contains(refused.err, "local_replica.db is damaged")) << refused.err;
  auto recovered = run_cli({"init", "--force"}, env, dir.path());
  ASSERT_EQ(recovered.exit_code, 0) << recovered.err;
  EXPECT_TRUE(contains(recovered.out + recovered.err, "discarded-")) << recovered.out << recovered.err;
  EXPECT_EQ(local_rows(dir.file("local_replica.db"), "PRAGMA integrity_check"), (Rows{{T("ok")}}));
  EXPECT_EQ(local_rows(working, "SELECT count(*) FROM emails WHERE id = 5000"), (Rows{{I(0)}}));

  // The saved file gives the local changes back; a push then sends them.
  std::string saved = discarded_files_text(dir);
  ASSERT_TRUE(contains(saved, "my unpushed email")) << saved;
  local_exec(working, saved);
  auto push = run_cli({"push"}, env, dir.path());
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT subject FROM emails WHERE id IN (1, 7, 5000) ORDER BY id"),
            (Rows{{T("subject 1")}, {T("my unpushed edit")}, {T("my unpushed email")}}));
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*) FROM emails"), (Rows{{I(2001)}}));
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

// The policy text has one parser: an unknown word is a usage error wherever it comes from, never a silent
// `abort` (the marker of an interrupted pull used to fall back to it).
TEST(CliErrors, AnUnknownConflictPolicyIsAUsageErrorEverywhere) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"});
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + server.url()};
  TempDir dir;
  ASSERT_EQ(run_cli({"init"}, env, dir.path()).exit_code, 0);
  for (const std::string command : {"pull", "push", "sync", "workflow"}) {
    std::vector<std::string> args = {command, "--on-conflict=mine"};
    if (command == "workflow") args.push_back("--once");
    auto r = run_cli(args, env, dir.path());
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.err;
    EXPECT_TRUE(contains(r.err, "unknown conflict policy 'mine'")) << command << ": " << r.err;
  }
  // A pull.pending naming a policy this library never writes: the pull stops and says so.
  fs::copy_file(dir.file("local_replica.db"), dir.file("new_replica.db"));
  {
    std::ofstream marker(dir.file(".turso-sync/pull.pending"));
    marker << dir.file("new_replica.db") << "\nmine\nmove\n";
  }
  auto r = run_cli({"pull"}, env, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "unknown conflict policy 'mine'")) << r.err;
  EXPECT_TRUE(fs::exists(dir.file(".turso-sync/pull.pending")));
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
