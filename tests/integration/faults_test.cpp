// Faults (docs/protocol.md retries; atomic writes): a proxy that loses a push's answer after the server
// committed, or cuts the request before it reaches the server; SIGKILL of `turso-sync` during pull and push;
// the application writing to the working copy while push and pull run. After each: integrity, no local change
// lost, no remote change applied twice, and the remote (read through an independent path, never through the
// proxy) holds exactly the expected rows.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "support/sync_checks.h"
#include "support/tcp_proxy.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using Fault = TcpProxy::Fault;
const char* kEmailsSql = "SELECT id, recipient, subject, score FROM emails ORDER BY id";
const char* kTagsSql = "SELECT name, email_id FROM tags ORDER BY name, email_id";

const std::vector<std::string> kSmallSchema = {
    "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT, subject TEXT, score REAL)",
    "INSERT INTO emails VALUES (1, 'seed-1', 's1', 0.5), (2, 'seed-2', 's2', 1.5), (3, 'seed-3', 's3', 0.1), "
    "(4, 'seed-4', 's4', NULL), (5, 'seed-5', NULL, 2.0)",
    "CREATE TABLE tags (name TEXT, email_id INTEGER, PRIMARY KEY (name, email_id)) WITHOUT ROWID",
    "INSERT INTO tags VALUES ('urgent', 1), ('later', 2)",
};

// Inserts, updates and deletes in emails; an insert in the WITHOUT ROWID table (the local server supports
// only INSERT and SELECT on WITHOUT ROWID tables: UPDATE and DELETE fail with "Parse error ... not
// supported").
const char* kLocalEdits =
    "INSERT INTO emails (recipient, subject, score) VALUES ('new-1', 'n1', 0.30000000000000004), "
    "('new-2', NULL, -1.25), ('new-3', 'n3', 7.0);"
    "UPDATE emails SET subject = 'changed' WHERE id = 2;"
    "UPDATE emails SET score = 0.7 WHERE id = 3;"
    "DELETE FROM emails WHERE id = 4;"
    "INSERT INTO tags VALUES ('new-tag', 1);";

// The team (support/team.h) on kSmallSchema, both copies init'ed through a proxy in front of the server.
struct TwoCopies : Team {
  TcpProxy proxy{server.port()};

  void init() {
    ASSERT_TRUE(server.started());
    remote_exec(server.url(), kSmallSchema);
    ASSERT_NO_FATAL_FAILURE(init_both(proxy.url()));
  }

  // The remote holds exactly A's working copy, each insert once; B's pull sees the same rows.
  void expect_converged_once() {
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM emails WHERE recipient LIKE 'new-%'"), 3);
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM emails"), 7);
    EXPECT_EQ(remote_rows(server.url(), "SELECT subject FROM emails WHERE id = 2"),
              (Rows{{Value::text("changed")}}));
    EXPECT_EQ(remote_rows(server.url(), "SELECT score FROM emails WHERE id = 3"), (Rows{{Value::real(0.7)}}));
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM emails WHERE id = 4"), 0);
    expect_same(server.url(), wc(a), kEmailsSql);
    expect_same(server.url(), wc(a), kTagsSql);
    expect_no_local_changes(a, proxy.url());
    auto pulled = run_cli({"pull"}, env_for(proxy.url()), b.path());
    EXPECT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
    expect_same(server.url(), wc(b), kEmailsSql);
    expect_same(server.url(), wc(b), kTagsSql);
    expect_same(server.url(), b.file("local_replica.db"), kEmailsSql);
  }
};

TEST(Faults, LostPushResponseIsRecognisedNotAppliedTwice) {
  TwoCopies t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(local_exec(t.wc(t.a), kLocalEdits));
  t.proxy.arm_once(Fault::drop_response_after_forwarding, "BEGIN IMMEDIATE");
  auto r = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  ASSERT_TRUE(t.proxy.armed_fault_fired()) << "the push batch never went through the proxy\n"
                                           << r.out << r.err;
  EXPECT_NE(r.exit_code, 3) << "a lost answer was reported as a conflict:\n" << r.out << r.err;
  if (r.exit_code != 0) {
    EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
    auto again = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  }
  // The batch reached the server once: the landed push was recognised by its receipt, not sent again.
  EXPECT_EQ(t.proxy.forwarded_containing("BEGIN IMMEDIATE"), 1);
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM turso_sync_pushes"), 1);
  t.expect_converged_once();
}

TEST(Faults, LostPushResponseWithRemoteGoneIsSettledByTheNextPush) {
  TwoCopies t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(local_exec(t.wc(t.a), kLocalEdits));
  // The answer to the batch is lost and the remote then becomes unreachable: the outcome stays unknown.
  t.proxy.arm_once(Fault::drop_response_after_forwarding, "BEGIN IMMEDIATE", Fault::cut_request);
  auto r = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  ASSERT_TRUE(t.proxy.armed_fault_fired()) << r.out << r.err;
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  // It did land (the server committed before the answer was dropped).
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM emails WHERE recipient LIKE 'new-%'"), 3);
  t.proxy.set_mode(Fault::none);
  auto again = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  auto third = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_EQ(third.exit_code, 0) << third.out << third.err;
  EXPECT_EQ(t.proxy.forwarded_containing("BEGIN IMMEDIATE"), 1);
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM turso_sync_pushes"), 1);
  t.expect_converged_once();
}

TEST(Faults, LostPushResponseThenPullThenPush) {
  TwoCopies t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(local_exec(t.wc(t.a), kLocalEdits));
  t.proxy.arm_once(Fault::drop_response_after_forwarding, "BEGIN IMMEDIATE", Fault::cut_request);
  auto r = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  t.proxy.set_mode(Fault::none);
  // The user pulls first: the landed changes equal ours, so nothing is a conflict and nothing is lost.
  auto pulled = run_cli({"pull"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  auto pushed = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(t.proxy.forwarded_containing("BEGIN IMMEDIATE"), 1);
  t.expect_converged_once();
}

TEST(Faults, CutPushRequestIsNotAppliedAndALaterPushAppliesItOnce) {
  TwoCopies t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(local_exec(t.wc(t.a), kLocalEdits));
  Rows before = remote_rows(t.server.url(), kEmailsSql);
  // Every request from the batch on is cut: the remote is unreachable for the rest of the command.
  t.proxy.arm_once(Fault::cut_request, "BEGIN IMMEDIATE", Fault::cut_request);
  auto r = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  ASSERT_TRUE(t.proxy.armed_fault_fired()) << r.out << r.err;
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_EQ(t.proxy.forwarded_containing("BEGIN IMMEDIATE"), 0);
  EXPECT_EQ(remote_rows(t.server.url(), kEmailsSql), before);
  // Local changes are kept.
  EXPECT_EQ(local_count(t.wc(t.a), "SELECT count(*) FROM emails WHERE recipient LIKE 'new-%'"), 3);
  t.proxy.set_mode(Fault::none);
  auto again = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(t.proxy.forwarded_containing("BEGIN IMMEDIATE"), 1);
  t.expect_converged_once();
}

TEST(Faults, OneCutPushRequestIsRetriedOrReportedNeverDoubled) {
  TwoCopies t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(local_exec(t.wc(t.a), kLocalEdits));
  t.proxy.arm_once(Fault::cut_request, "BEGIN IMMEDIATE");
  auto r = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  ASSERT_TRUE(t.proxy.armed_fault_fired()) << r.out << r.err;
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 4) << r.exit_code << "\n" << r.out << r.err;
  if (r.exit_code != 0) {
    auto again = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  }
  EXPECT_EQ(t.proxy.forwarded_containing("BEGIN IMMEDIATE"), 1);
  t.expect_converged_once();
}

TEST(Faults, DelayedAnswersStillSucceed) {
  TwoCopies t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(local_exec(t.wc(t.a), kLocalEdits));
  t.proxy.set_delay_ms(300);
  auto r = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  t.proxy.set_delay_ms(0);
  t.expect_converged_once();
}

// --- SIGKILL during pull and push
// -------------------------------------------------------------------------------

TEST(Faults, SigkillDuringPullLosesNothingAndAppliesNothingTwice) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  make_big_remote(server.url());
  int64_t seeds = remote_count(server.url(), "SELECT count(*) FROM emails");
  for (int delay : {50, 150, 300, 700}) {
    SCOPED_TRACE("killed after " + std::to_string(delay) + " ms");
    std::string tag = std::to_string(delay);
    TempDir a;
    auto r = run_cli({"init"}, env_for(server.url()), a.path());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    std::string wc = a.file("working_copy.db"), replica = a.file("local_replica.db");
    // Local-only changes, and remote changes (other rows) for the pull to bring in.
    ASSERT_NO_FATAL_FAILURE(
        local_exec(wc, "INSERT INTO emails (recipient, subject) VALUES ('local-" + tag +
                           "', 'mine'); UPDATE emails SET subject = 'local edit' WHERE id = 10"));
    remote_exec(server.url(),
                {"INSERT INTO emails (recipient, subject, score, pad) SELECT 'remote-" + tag +
                     "', 'theirs', id / 4.0, randomblob(300) FROM emails WHERE recipient = 'seed' LIMIT 500",
                 "UPDATE emails SET subject = 'remote edit " + tag + "' WHERE id BETWEEN 100 AND 300",
                 "DELETE FROM emails WHERE id BETWEEN 400 AND 420 AND recipient = 'seed'"});
    int64_t remote_now = remote_count(server.url(), "SELECT count(*) FROM emails");

    pid_t pid = spawn_cli({"pull"}, env_for(server.url()), a.path());
    kill_after(pid, delay);
    expect_integrity_ok(replica);
    expect_integrity_ok(wc);
    EXPECT_EQ(local_count(wc, "SELECT count(*) FROM emails WHERE recipient = 'local-" + tag + "'"), 1);

    auto pulled = run_cli({"pull"}, env_for(server.url()), a.path());
    ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
    expect_integrity_ok(replica);
    expect_integrity_ok(wc);
    // Remote changes once, local ones kept.
    EXPECT_EQ(local_count(wc, "SELECT count(*) FROM emails WHERE recipient = 'remote-" + tag + "'"), 500);
    EXPECT_EQ(local_count(wc, "SELECT count(*) FROM emails WHERE recipient = 'local-" + tag + "'"), 1);
    EXPECT_EQ(local_count(wc, "SELECT count(*) FROM emails"), remote_now + 1);
    EXPECT_EQ(local_rows(wc, "SELECT subject FROM emails WHERE id = 10"),
              (Rows{{Value::text("local edit")}}));
    EXPECT_EQ(local_count(wc, "SELECT count(*) FROM emails WHERE subject = 'remote edit " + tag + "'"), 201);
    expect_same(server.url(), replica, kRowsChecksum);

    auto pushed = run_cli({"push"}, env_for(server.url()), a.path());
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM emails WHERE recipient = 'local-" + tag + "'"),
              1);
    EXPECT_EQ(
        remote_count(server.url(), "SELECT count(*) FROM emails WHERE recipient = 'remote-" + tag + "'"),
        500);
    expect_same(server.url(), wc, kRowsChecksum);
    expect_same(server.url(), wc,
                "SELECT id, recipient, subject, score FROM emails WHERE recipient <> 'seed' OR "
                "subject NOT LIKE 's%' ORDER BY id");
    expect_no_local_changes(a, server.url());
  }
  EXPECT_GT(remote_count(server.url(), "SELECT count(*) FROM emails"), seeds);
}

TEST(Faults, SigkillDuringPushLosesNothingAndAppliesNothingTwice) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  make_big_remote(server.url());
  for (int delay : {50, 150, 300, 700}) {
    SCOPED_TRACE("killed after " + std::to_string(delay) + " ms");
    std::string tag = std::to_string(delay);
    TempDir a;
    auto r = run_cli({"init"}, env_for(server.url()), a.path());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    std::string wc = a.file("working_copy.db"), replica = a.file("local_replica.db");
    int64_t remote_before = remote_count(server.url(), "SELECT count(*) FROM emails");
    // A big local change set: 2000 inserts, 1000 updates, 50 deletes.
    ASSERT_NO_FATAL_FAILURE(local_exec(
        wc,
        "INSERT INTO emails (recipient, subject, score, pad) SELECT 'local-" + tag +
            "', 'mine', id / 16.0, randomblob(300) FROM emails WHERE recipient = 'seed' LIMIT 2000;"
            "UPDATE emails SET subject = 'pushed " +
            tag +
            "' WHERE id IN (SELECT id FROM emails WHERE recipient = 'seed' ORDER BY id LIMIT 1000);"
            "DELETE FROM emails WHERE id IN (SELECT id FROM emails WHERE recipient = 'seed' ORDER BY id DESC "
            "LIMIT 50);"));

    pid_t pid = spawn_cli({"push"}, env_for(server.url()), a.path());
    kill_after(pid, delay);
    expect_integrity_ok(replica);
    expect_integrity_ok(wc);
    EXPECT_EQ(local_count(wc, "SELECT count(*) FROM emails WHERE recipient = 'local-" + tag + "'"), 2000);

    auto pushed = run_cli({"push"}, env_for(server.url()), a.path());
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
    auto again = run_cli({"push"}, env_for(server.url()), a.path());
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    expect_integrity_ok(replica);
    expect_integrity_ok(wc);
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM emails WHERE recipient = 'local-" + tag + "'"),
              2000);
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM emails WHERE subject = 'pushed " + tag + "'"),
              1000);
    EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM emails"), remote_before + 2000 - 50);
    expect_same(server.url(), wc, kRowsChecksum);
    expect_same(server.url(), replica, kRowsChecksum);
    expect_same(server.url(), wc,
                "SELECT id, recipient, subject, score FROM emails WHERE recipient <> 'seed' OR "
                "subject NOT LIKE 's%' ORDER BY id");
    expect_no_local_changes(a, server.url());
  }
}

// A push killed after the remote committed, before its trailing pull: the next pull knows the pushed values
// as the push's own (no conflict with itself, nothing pushed twice), and an edit the application made after
// the crash stays a local change for the next push. Killed after its marker, before sending: the next push
// sends everything once.
TEST(Faults, SigkillAfterThePushCommittedIsNeitherASelfConflictNorPushedTwice) {
  for (const char* point : {"push.marker-written", "push.remote-committed"}) {
    SCOPED_TRACE(point);
    TwoCopies t;
    ASSERT_NO_FATAL_FAILURE(t.init());
    ASSERT_NO_FATAL_FAILURE(local_exec(t.wc(t.a), kLocalEdits));
    std::vector<std::string> env = env_for(t.proxy.url());
    env.push_back(std::string("TURSO_SYNC_CRASH_AT=") + point);
    auto killed = run_cli({"push"}, env, t.a.path());
    ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.out << killed.err;
    expect_integrity_ok(t.wc(t.a));
    expect_integrity_ok(t.a.file("local_replica.db"));
    bool committed = std::string(point) == "push.remote-committed";
    EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM emails WHERE recipient LIKE 'new-%'"),
              committed ? 3 : 0);
    // The application goes on writing: row 2 again, after the crash.
    ASSERT_NO_FATAL_FAILURE(
        local_exec(t.wc(t.a), "UPDATE emails SET subject = 'after the crash' WHERE id = 2"));

    auto pulled = run_cli({"pull"}, env_for(t.proxy.url()), t.a.path());
    ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
    EXPECT_EQ(local_rows(t.wc(t.a), "SELECT subject FROM emails WHERE id = 2"),
              (Rows{{Value::text("after the crash")}}));
    auto pushed = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
    ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
    EXPECT_EQ(remote_rows(t.server.url(), "SELECT subject FROM emails WHERE id = 2"),
              (Rows{{Value::text("after the crash")}}));
    EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM emails WHERE recipient LIKE 'new-%'"), 3);
    EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM emails"), 7);
    EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM tags WHERE name = 'new-tag'"), 1);
    expect_same(t.server.url(), t.wc(t.a), kEmailsSql);
    expect_same(t.server.url(), t.wc(t.a), kTagsSql);
    expect_no_local_changes(t.a, t.proxy.url());
  }
}

// HTTP 429 with Retry-After: the server refused the request without running it, so the client waits as told
// and asks again, a push's batch included (applied once). A server that keeps refusing gives a clear error.
TEST(Faults, RateLimitedRequestsWaitRetryAfterAndAreAppliedOnce) {
  TwoCopies t;
  ASSERT_NO_FATAL_FAILURE(t.init());
  ASSERT_NO_FATAL_FAILURE(local_exec(t.wc(t.a), kLocalEdits));
  t.proxy.arm_once(Fault::rate_limit, "INSERT INTO turso_sync_pushes");
  auto pushed = run_cli({"push"}, env_for(t.proxy.url()), t.a.path());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(t.proxy.faults_injected(), 1);
  t.proxy.arm_once(Fault::rate_limit, "POST /pull-updates");
  remote_exec(t.server.url(), {"INSERT INTO emails (recipient, subject) VALUES ('teammate', 'x')"});
  auto pulled = run_cli({"pull"}, env_for(t.proxy.url()), t.b.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(t.proxy.faults_injected(), 2);
  EXPECT_EQ(remote_count(t.server.url(), "SELECT count(*) FROM emails WHERE recipient LIKE 'new-%'"), 3);
  expect_same(t.server.url(), t.wc(t.b), kEmailsSql);

  t.proxy.set_mode(Fault::rate_limit);
  auto refused = run_cli({"pull"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("HTTP 429: the server is rate limiting this client (Retry-After: 1 s)"),
            std::string::npos)
      << refused.err;
  t.proxy.set_mode(Fault::none);
  auto again = run_cli({"pull"}, env_for(t.proxy.url()), t.a.path());
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  expect_same(t.server.url(), t.wc(t.a), kEmailsSql);
}

// A full disk, as a file size limit (`ulimit -f`, SIGXFSZ ignored: writes past it fail with EFBIG, as they
// would with ENOSPC): init, pull and diff fail with a message naming what could not be written, and every
// old file is left byte for byte as it was; without the limit the next run succeeds.
CommandResult run_cli_with_file_limit(const std::vector<std::string>& args,
                                      const std::vector<std::string>& env, const std::string& cwd,
                                      int limit_kib) {
  std::vector<std::string> argv = {
      "bash", "-c", "trap '' XFSZ; ulimit -f " + std::to_string(limit_kib) + "; exec \"$0\" \"$@\"",
      cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, cwd);
}

TEST(Faults, AFullDiskWhileWritingLeavesEveryOldFileIntact) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
                             "INSERT INTO notes VALUES (1, 'small')"});
  TempDir dir;
  // init: a replica larger than the limit is never written; nothing is left behind.
  remote_exec(server.url(), {"CREATE TABLE big (id INTEGER PRIMARY KEY, pad BLOB)",
                             "INSERT INTO big SELECT value, randomblob(3000) FROM generate_series(1, 400)"});
  auto failed = run_cli_with_file_limit({"init"}, env_for(server.url()), dir.path(), 512);
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("File too large"), std::string::npos) << failed.err;
  EXPECT_FALSE(fs::exists(dir.file("local_replica.db")));
  EXPECT_FALSE(fs::exists(dir.file("working_copy.db")));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  auto r = run_cli({"init"}, env_for(server.url()), dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // pull: the remote grows past the limit; the replica and the working copy stay as they were.
  local_exec(dir.file("working_copy.db"), "INSERT INTO notes VALUES (2, 'local')");
  remote_exec(server.url(),
              {"INSERT INTO big SELECT value + 1000, randomblob(3000) FROM generate_series(1, 800)"});
  std::string replica = read_text(dir.file("local_replica.db")), wc = read_text(dir.file("working_copy.db"));
  int limit = static_cast<int>(fs::file_size(dir.file("local_replica.db")) / 1024 + 256);
  failed = run_cli_with_file_limit({"pull"}, env_for(server.url()), dir.path(), limit);
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("File too large"), std::string::npos) << failed.err;
  EXPECT_EQ(read_text(dir.file("local_replica.db")), replica);
  EXPECT_EQ(read_text(dir.file("working_copy.db")), wc);
  expect_integrity_ok(dir.file("local_replica.db"));
  expect_integrity_ok(dir.file("working_copy.db"));

  // diff: the old diff file stays.
  std::ofstream(dir.file("diff.sql")) << "-- the previous diff\n";
  local_exec(dir.file("working_copy.db"), "UPDATE big SET pad = randomblob(3000)");
  failed = run_cli_with_file_limit({"diff"}, env_for(server.url()), dir.path(), 64);
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("diff.sql (left as it was)"), std::string::npos) << failed.err;
  EXPECT_EQ(read_text(dir.file("diff.sql")), "-- the previous diff\n");

  r = run_cli({"pull"}, env_for(server.url()), dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT count(*) FROM big"), (Rows{{I(1200)}}));
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT body FROM notes WHERE id = 2"),
            (Rows{{T("local")}}));
}

// The merge is the write that fails: the working copy holds more local data than the limit, so the pages the
// merge adds at its end cannot be written, while the new replica (smaller) can. The working copy and the
// replica stay byte for byte as they were, nothing is left half-merged, and the next pull merges it all.
TEST(Faults, AFullDiskWhileThePullMergesIntoTheWorkingCopyChangesNothing) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
                             "INSERT INTO notes VALUES (1, 'first')"});
  TempDir dir;
  ASSERT_EQ(run_cli({"init"}, env_for(server.url()), dir.path()).exit_code, 0);
  std::string wc_path = dir.file("working_copy.db"), replica_path = dir.file("local_replica.db");
  // 2 MB of unpushed local rows.
  local_exec(wc_path,
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
             "INSERT INTO notes SELECT i + 1000, hex(randomblob(1000)) FROM n");
  // A teammate's 200 rows: the replica stays far below the limit, the working copy must grow past it.
  remote_exec(
      server.url(),
      {"INSERT INTO notes SELECT value + 10, 'remote ' || hex(randomblob(500)) FROM generate_series(1, 200)",
       "UPDATE notes SET body = 'changed remotely' WHERE id = 1"});
  int limit_kib = static_cast<int>(fs::file_size(wc_path) / 1024);
  ASSERT_GT(limit_kib, 1024);
  std::string wc = read_text(wc_path), replica = read_text(replica_path);
  auto failed = run_cli_with_file_limit({"pull"}, env_for(server.url()), dir.path(), limit_kib);
  EXPECT_EQ(failed.exit_code, 1) << failed.out << failed.err;
  EXPECT_NE(failed.err.find("working_copy.db"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("the disk may be full"), std::string::npos) << failed.err;
  EXPECT_EQ(read_text(wc_path), wc);
  EXPECT_EQ(read_text(replica_path), replica);
  EXPECT_FALSE(fs::exists(wc_path + "-journal"));
  EXPECT_FALSE(fs::exists(dir.file(".turso-sync/pull.pending")));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  expect_integrity_ok(wc_path);
  expect_integrity_ok(replica_path);

  auto pulled = run_cli({"pull"}, env_for(server.url()), dir.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(local_rows(wc_path, "SELECT count(*), sum(id > 1000), sum(id BETWEEN 11 AND 210) FROM notes"),
            (Rows{{I(1201), I(1000), I(200)}}));
  EXPECT_EQ(local_rows(wc_path, "SELECT body FROM notes WHERE id = 1"), (Rows{{T("changed remotely")}}));
  auto pushed = run_cli({"push"}, env_for(server.url()), dir.path());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(remote_rows(server.url(), "SELECT count(*) FROM notes"), (Rows{{I(1201)}}));
}

// --- the application writing while sync runs
// -------------------------------------------------------------------

const char* kWriterScript = R"PY(
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
end = time.time() + float(sys.argv[2])
n = 0
while time.time() < end:
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO emails (recipient, subject, score) VALUES (?, 'app', ?)", ("writer-%d" % n, n / 10.0))
    if n % 7 == 3:
        db.execute("UPDATE emails SET subject = 'app touched' WHERE id = ?", (1 + n % 5,))
    db.execute("COMMIT")
    print("writer-%d" % n, flush=True)
    n += 1
    time.sleep(0.01)
)PY";

TEST(Faults, ApplicationWritingDuringPushAndPullLosesNothing) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kSmallSchema));
  const LocalServer& server = team.server;
  const TempDir &a = team.a, &b = team.b;
  std::string wc = a.file("working_copy.db");
  CommandResult writer;
  std::atomic<bool> writer_done{false};
  std::string python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
  std::thread app([&] {
    writer = run_command({python, "-c", kWriterScript, wc, "3"});
    writer_done = true;
  });
  // Meanwhile: push and pull repeatedly; a teammate (B) also pushes, so pulls bring changes in.
  int teammate_rows = 0;
  for (int rounds = 0; rounds < 40; ++rounds) {
    auto pushed = run_cli({"push"}, env_for(server.url()), a.path());
    EXPECT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
    ASSERT_NO_FATAL_FAILURE(local_exec(
        b.file("working_copy.db"),
        "INSERT INTO emails (recipient, subject) VALUES ('teammate-" + std::to_string(rounds) + "', 'b')"));
    ++teammate_rows;
    auto b_sync = run_cli({"sync"}, env_for(server.url()), b.path());
    EXPECT_EQ(b_sync.exit_code, 0) << b_sync.out << b_sync.err;
    auto pulled = run_cli({"pull"}, env_for(server.url()), a.path());
    EXPECT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
    if (rounds >= 3 && writer_done) break;
  }
  app.join();
  ASSERT_EQ(writer.exit_code, 0) << writer.err;
  std::set<std::string> written;
  std::istringstream in(writer.out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) written.insert(line);
  ASSERT_GT(written.size(), 20u) << "the writer barely ran";

  auto final_push = run_cli({"push"}, env_for(server.url()), a.path());
  ASSERT_EQ(final_push.exit_code, 0) << final_push.out << final_push.err;
  Rows remote = remote_rows(server.url(), "SELECT recipient FROM emails WHERE recipient LIKE 'writer-%'");
  std::multiset<std::string> on_remote;
  for (const auto& row : remote) on_remote.insert(row[0].as_bytes());
  EXPECT_EQ(on_remote.size(), written.size()) << "writer rows on the remote: each exactly once";
  EXPECT_EQ(std::set<std::string>(on_remote.begin(), on_remote.end()), written);
  EXPECT_EQ(remote_count(server.url(), "SELECT count(*) FROM emails WHERE recipient LIKE 'teammate-%'"),
            teammate_rows);
  expect_same(server.url(), wc, kEmailsSql);
  expect_no_local_changes(a, server.url());
}

}  // namespace
}  // namespace turso_sync::testing
