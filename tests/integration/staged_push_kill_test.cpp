// A staged push (docs/protocol.md, "Push: staged") killed in every phase: at the crash points between its
// durable steps (marker written, first part staged, every part staged, final batch committed), at seeded
// random moments (uploading, between parts, final batch in flight, after the commit before the local state
// is written), and with its final batch still on its way to the server after the sender died. After each
// kill the remote (read through the independent path) holds all of the push or none of it; the next `push`
// finishes it exactly once (one receipt per push, every row once), leaves no staging behind and loses no
// local change. Seeds: TURSO_SYNC_KILL_SEED=<seed> replays a run's moments.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "support/sync_checks.h"
#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;
using Fault = TcpProxy::Fault;
constexpr int64_t kTrialRows = 1500;  // ~350 KB of new rows per trial
constexpr int64_t kUpdates = 200;     // and 200 updated seed rows

int64_t pushes(const std::string& url) {
  if (remote_count(url, "SELECT count(*) FROM sqlite_schema WHERE name = 'turso_sync_pushes'") == 0) return 0;
  return remote_count(url, "SELECT count(*) FROM turso_sync_pushes");
}

constexpr const char* kAllItemsChecksum =
    "SELECT count(*), sum(id), total(length(body)), total(score), sum(length(owner)) FROM items";

// One copy of a remote of 1024 seed rows, pushing a tagged change set per trial, in parts of 64 KiB.
struct Pusher {
  LocalServer server;
  TcpProxy proxy{server.port()};
  TempDir dir;
  std::string wc;
  int64_t pushed = 0;  // receipts expected on the remote

  void init() {
    ASSERT_TRUE(server.started());
    make_items_remote(server.url());
    auto r = run_cli({"init"}, env(), dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    wc = dir.file("working_copy.db");
  }
  std::vector<std::string> env(const std::string& url = "") const {
    std::vector<std::string> e = env_for(url.empty() ? server.url() : url);
    e.push_back("TURSO_SYNC_PUSH_PART_BYTES=65536");
    return e;
  }
  std::string owner(int trial) const { return "trial-" + std::to_string(trial); }

  // Trial `trial`'s local edits: kTrialRows inserts and kUpdates updates of seed rows.
  void edit(int trial) {
    int64_t first = 100000 + static_cast<int64_t>(trial) * kTrialRows;
    int64_t updated = 1 + (trial % 5) * kUpdates;
    ASSERT_NO_FATAL_FAILURE(
        local_exec(wc, "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < " +
                           std::to_string(kTrialRows - 1) +
                           ") INSERT INTO items (id, owner, body, score) SELECT " + std::to_string(first) +
                           " + i, '" + owner(trial) + "', printf('%.200c', 'x') || i, i / 4.0 FROM k;" +
                           "UPDATE items SET body = '" + owner(trial) + "' WHERE id BETWEEN " +
                           std::to_string(updated) + " AND " + std::to_string(updated + kUpdates - 1) + ";"));
  }

  // The remote holds all of trial `trial`'s push or none of it; returns whether all.
  bool all_or_none(int trial) {
    int64_t rows =
        remote_count(server.url(), "SELECT count(*) FROM items WHERE owner = '" + owner(trial) + "'");
    int64_t updates =
        remote_count(server.url(), "SELECT count(*) FROM items WHERE body = '" + owner(trial) + "'");
    bool all = rows == kTrialRows && updates == kUpdates;
    EXPECT_TRUE(all || (rows == 0 && updates == 0))
        << "part of the push is on the remote: " << rows << " rows, " << updates << " updates";
    return all;
  }

  // The next push finishes it: every row once, one receipt, no staging, the working copy equal to the remote.
  void finish(int trial) {
    auto r = run_cli({"push"}, env(), dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    verify(trial);
  }
  void verify(int trial) {
    ++pushed;
    EXPECT_TRUE(all_or_none(trial)) << "the next push did not finish it";
    EXPECT_EQ(pushes(server.url()), pushed) << "a push applied twice, or not at all";
    EXPECT_EQ(staging_left(server.url()), 0);
    expect_integrity_ok(wc);
    expect_integrity_ok(dir.file("local_replica.db"));
    expect_same(server.url(), wc, kAllItemsChecksum);
    expect_no_local_changes(dir, server.url());
  }
};

// Killed at each crash point of a staged push (SIGKILL by the process itself, exactly there).
TEST(StagedPushKill, KilledAtEveryCrashPointIsFinishedOnceByTheNextPush) {
  Pusher p;
  ASSERT_NO_FATAL_FAILURE(p.init());
  int trial = 0;
  for (const char* point :
       {"push.marker-written", "push.part-sent", "push.staged", "push.remote-committed"}) {
    SCOPED_TRACE(point);
    ++trial;
    ASSERT_NO_FATAL_FAILURE(p.edit(trial));
    std::vector<std::string> env = p.env();
    env.push_back(std::string("TURSO_SYNC_CRASH_AT=") + point);
    auto killed = run_cli({"push"}, env, p.dir.path());
    ASSERT_EQ(killed.exit_code, kKilled) << killed.out << killed.err;
    bool committed = p.all_or_none(trial);
    EXPECT_EQ(committed, std::string(point) == "push.remote-committed");
    if (std::string(point) == "push.part-sent" || std::string(point) == "push.staged") {
      EXPECT_GT(staging_left(p.server.url()), 0) << "nothing was staged before the crash point";
    }
    ASSERT_NO_FATAL_FAILURE(p.finish(trial));
  }
}

void seeded_kills(int trials) {
  Pusher p;
  ASSERT_NO_FATAL_FAILURE(p.init());
  uint64_t seed = kill_seed();
  SCOPED_TRACE("TURSO_SYNC_KILL_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // An uninterrupted push of the same size, measured: the kill moments are drawn in [0, 1.2 × its time].
  ASSERT_NO_FATAL_FAILURE(p.edit(0));
  auto start = Clock::now();
  auto first = run_cli({"push"}, p.env(), p.dir.path());
  auto measured = std::chrono::duration_cast<microseconds>(Clock::now() - start);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("staged in"), std::string::npos) << first.out;
  ASSERT_NO_FATAL_FAILURE(p.verify(0));
  int killed = 0, before = 0, mid_upload = 0, after_commit = 0;  // where the kills landed
  for (int trial = 1; trial <= trials; ++trial) {
    ASSERT_NO_FATAL_FAILURE(p.edit(trial));
    microseconds moment(std::uniform_int_distribution<int64_t>(0, measured.count() * 6 / 5)(rng));
    SCOPED_TRACE("trial " + std::to_string(trial) + ": killed at " + std::to_string(moment.count()) +
                 " µs of a measured " + std::to_string(measured.count()) + " µs push");
    auto at = Clock::now() + moment;
    int code = kill_at(spawn_cli({"push"}, p.env(), p.dir.path()), at);
    ASSERT_TRUE(code == 0 || code == kKilled) << "exit code " << code;
    killed += code == kKilled;
    bool committed = p.all_or_none(trial);
    if (code == kKilled)
      ++(committed ? after_commit : staging_left(p.server.url()) > 0 ? mid_upload : before);
    if (code == 0) {  // finished before its moment
      ASSERT_NO_FATAL_FAILURE(p.verify(trial));
      continue;
    }
    ASSERT_NO_FATAL_FAILURE(p.finish(trial));
  }
  std::printf(
      "[ StagedPushKill ] %d of %d trials killed mid-way: %d before anything was staged, %d with rows "
      "staged, %d after the commit (measured push %lld µs)\n",
      killed, trials, before, mid_upload, after_commit, static_cast<long long>(measured.count()));
}

TEST(StagedPushKill, KilledAtSeededMomentsIsAllOrNothingThenFinishedOnce) {
  seeded_kills(6);
}

TEST(StagedPushKill, SlowKilledAtSeededMomentsIsAllOrNothingThenFinishedOnce) {
  seeded_kills(30);
}

// The final batch is on its way to the server (held by the proxy) when its sender is killed. Either it
// arrives first and commits (the next push finds its receipt and only pulls), or the next push comes first:
// it drops the staged rows and pushes again, and the late final batch then fails on the server (its parts
// are gone) instead of applying the push a second time.
TEST(StagedPushKill, FinalBatchStillInFlightWhenTheSenderDiedLandsAtMostOnce) {
  for (bool arrives_first : {true, false}) {
    SCOPED_TRACE(arrives_first ? "the final batch arrives first" : "the next push comes first");
    Pusher p;
    ASSERT_NO_FATAL_FAILURE(p.init());
    ASSERT_NO_FATAL_FAILURE(p.edit(1));
    p.proxy.arm_once(Fault::hold_in_flight, kFinalBatch);
    pid_t pid = spawn_cli({"push"}, p.env(p.proxy.url()), p.dir.path());
    ASSERT_TRUE(p.proxy.wait_until_held()) << "the final batch never reached the proxy";
    kill(pid, SIGKILL);
    ASSERT_EQ(wait_exit_code(pid), kKilled);
    EXPECT_FALSE(p.all_or_none(1));
    EXPECT_GT(staging_left(p.server.url()), 0) << "the push was not staged";
    int answered = p.proxy.answered();
    if (arrives_first) {
      p.proxy.release_held();
      ASSERT_TRUE(eventually([&] { return p.proxy.answered() > answered; }));
      EXPECT_TRUE(p.all_or_none(1));
      ASSERT_NO_FATAL_FAILURE(p.finish(1));
      continue;
    }
    ASSERT_NO_FATAL_FAILURE(p.finish(1));
    p.proxy.release_held();
    ASSERT_TRUE(eventually([&] { return p.proxy.answered() > answered; }));
    EXPECT_EQ(p.proxy.forwarded_containing(kFinalBatch), 1) << "the late final batch was not forwarded";
    EXPECT_TRUE(p.all_or_none(1));
    EXPECT_EQ(pushes(p.server.url()), 1) << "the late final batch applied the push a second time";
    EXPECT_EQ(staging_left(p.server.url()), 0);
    auto again = run_cli({"push"}, p.env(), p.dir.path());
    EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
    EXPECT_NE(again.out.find("nothing to push"), std::string::npos) << again.out;
  }
}

}  // namespace
}  // namespace turso_sync::testing
