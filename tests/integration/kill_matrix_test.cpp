// SIGKILL at seeded random moments of `reset`, `copy` and a `workflow --once` cycle (issue 12;
// docs/reliability.md: after a crash at any point the next run finishes or redoes the step, a local change is
// never lost and a remote change is never applied twice).
//
// Each test first runs the operation once uninterrupted and measures it, then kills it in each trial at a
// moment drawn uniformly from [0, 1.2 × that duration]: the moments land inside the operation on a fast or a
// slow machine, and some land before it started or after it ended. No assertion depends on the phase the kill
// hit. The moments come from one seed, printed with every failure; TURSO_SYNC_KILL_SEED=<seed> replays it.
// The default run makes a few trials per operation, the Slow variants dozens.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/sync_checks.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;

// The kill moments of one test: uniform in [0, 1.2 × the measured duration of an uninterrupted run].
class KillMoments {
 public:
  KillMoments() : m_seed(kill_seed()), m_rng(m_seed) {}
  uint64_t seed() const { return m_seed; }
  std::string trace() const { return "TURSO_SYNC_KILL_SEED=" + std::to_string(m_seed); }
  microseconds next(microseconds measured) {
    std::uniform_int_distribution<int64_t> d(0, measured.count() * 6 / 5);
    return microseconds(d(m_rng));
  }
  // An integer in [0, n), for choices other than the moment (the same seed replays them).
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(m_rng); }
  // Counts where the kills landed, for the log: a run that finished first was not stopped.
  void landed(int exit_code) { ++(exit_code == kKilled ? m_killed : m_finished); }
  std::string summary() const {
    return std::to_string(m_killed) + " trials killed mid-way, " + std::to_string(m_finished) +
           " finished before their moment";
  }

 private:
  uint64_t m_seed;
  std::mt19937_64 m_rng;
  int m_killed = 0, m_finished = 0;
};

// Runs the CLI to completion and returns how long it took; fails the test unless it exits 0.
microseconds measure(const std::vector<std::string>& args, const std::vector<std::string>& env,
                     const fs::path& cwd) {
  auto start = Clock::now();
  auto r = run_cli(args, env, cwd);
  auto took = std::chrono::duration_cast<microseconds>(Clock::now() - start);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return took;
}

// Starts the CLI and SIGKILLs it `moment` after the start; returns its exit code (0 if it finished first).
int run_killed_at(const std::vector<std::string>& args, const std::vector<std::string>& env,
                  const fs::path& cwd, microseconds moment) {
  auto start = Clock::now();
  pid_t pid = spawn_cli(args, env, cwd);
  return kill_at(pid, start + moment);
}

std::string describe(const KillMoments& moments, int trial, microseconds moment, microseconds measured) {
  return moments.trace() + ", trial " + std::to_string(trial) + ": killed at " +
         std::to_string(moment.count()) + " µs of a measured " + std::to_string(measured.count()) + " µs run";
}

// Every SQLite file under `dir` (not the journals, not the temp files of dead processes, which the next run
// removes) passes `PRAGMA integrity_check`.
void expect_every_database_intact(const fs::path& dir) {
  auto dead = temp_files_of_dead_processes(dir);
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string path = e.path().string();
    if (std::find(dead.begin(), dead.end(), path) != dead.end()) continue;
    if (read_text(path).rfind("SQLite format 3", 0) != 0) continue;
    expect_integrity_ok(path);
  }
}

void expect_no_dead_temp_files(const fs::path& dir) {
  for (const auto& path : temp_files_of_dead_processes(dir))
    ADD_FAILURE() << "left behind by a killed run, still there after the next one succeeded: " << path;
}

// The content of a database: its schema (type, name, table, SQL) and every row of every table.
Rows content_of(const std::string& path) {
  Rows out = local_rows(path,
                        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' "
                        "ORDER BY type, name");
  for (const auto& table : local_rows(path,
                                      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE "
                                      "'sqlite_%' ORDER BY name")) {
    std::string name = table[0].as_bytes();
    out.push_back({T("table " + name)});
    Rows rows = local_rows(path, "SELECT * FROM \"" + name + "\" ORDER BY rowid");
    out.insert(out.end(), rows.begin(), rows.end());
  }
  return out;
}

// A copy of `path` made by SQLite (VACUUM INTO), so that it is consistent even beside a hot journal.
std::string snapshot(const std::string& path, const std::string& to) {
  fs::remove(to);
  local_exec(path, "VACUUM INTO '" + to + "'");
  return to;
}

// Local edits of every kind: inserts, updates and deletes in the big table, a new table with rows, an index.
std::string local_edits(const std::string& tag) {
  return "INSERT INTO emails (recipient, subject, score, pad) SELECT 'local-" + tag +
         "', 'mine', id / 16.0, randomblob(300) FROM emails WHERE recipient = 'seed' LIMIT 2000;"
         "UPDATE emails SET subject = 'edited " +
         tag +
         "' WHERE id IN (SELECT id FROM emails WHERE recipient = 'seed' ORDER BY id LIMIT 1000);"
         "DELETE FROM emails WHERE id IN (SELECT id FROM emails WHERE recipient = 'seed' ORDER BY id DESC "
         "LIMIT "
         "50);"
         "CREATE TABLE notes_" +
         tag + " (id INTEGER PRIMARY KEY, body TEXT);INSERT INTO notes_" + tag +
         " SELECT id, 'note ' || id FROM emails LIMIT 100;"
         "CREATE INDEX emails_subject_" +
         tag + " ON emails(subject);";
}

// One client of a big remote, made by init.
struct Client {
  LocalServer server;
  TempDir dir, scratch;
  std::string wc, replica;

  void init(int doublings) {
    ASSERT_TRUE(server.started());
    make_big_remote(server.url(), doublings);
    auto r = run_cli({"init"}, env_for(server.url()), dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    wc = dir.file("working_copy.db");
    replica = dir.file("local_replica.db");
  }
  std::vector<std::string> env() const { return env_for(server.url()); }
};

// --- reset and copy --force --------------------------------------------------------------------------------

// `command` discards the local edits (reset --yes, or copy --force). Killed at any moment: the working copy
// is either as it was (with every local change) or equal to the replica, never in between; the next run of
// the command makes it equal to the replica; every discarded file written, applied to the replica, gives back
// the working copy with all its changes; the replica never changes; no temp file of the killed run is left.
void discard_trial(Client& c, KillMoments& moments, const std::vector<std::string>& command, int trial,
                   microseconds measured, const Rows& replica_content) {
  std::string tag = std::to_string(trial);
  ASSERT_NO_FATAL_FAILURE(local_exec(c.wc, local_edits(tag)));
  std::string edited = snapshot(c.wc, c.scratch.file("edited.db"));
  Rows edited_content = content_of(edited);
  const std::vector<std::string> before = discarded_files(c.dir);

  microseconds moment = moments.next(measured);
  SCOPED_TRACE(describe(moments, trial, moment, measured));
  int code = run_killed_at(command, c.env(), c.dir.path(), moment);
  moments.landed(code);
  ASSERT_TRUE(code == 0 || code == kKilled) << "exit code " << code;
  expect_every_database_intact(c.dir.path());
  Rows now = content_of(c.wc);
  EXPECT_TRUE(now == edited_content || now == replica_content)
      << "the working copy is neither as it was nor equal to the replica";

  auto again = run_cli(command, c.env(), c.dir.path());
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  expect_every_database_intact(c.dir.path());
  EXPECT_TRUE(content_of(c.wc) == replica_content) << "the working copy is not equal to the replica";
  EXPECT_TRUE(content_of(c.replica) == replica_content) << "the replica changed";
  expect_no_local_changes(c.dir, c.server.url());
  expect_no_dead_temp_files(c.dir.path());

  std::vector<std::string> saved;
  for (const auto& f : discarded_files(c.dir))
    if (std::find(before.begin(), before.end(), f) == before.end()) saved.push_back(f);
  EXPECT_FALSE(saved.empty()) << "no discarded file saved the local changes";
  for (const auto& f : saved) {
    std::string restored = snapshot(c.replica, c.scratch.file("restored.db"));
    ASSERT_NO_FATAL_FAILURE(local_exec(restored, read_text(f))) << f;
    EXPECT_TRUE(content_of(restored) == edited_content)
        << f << " applied to the replica does not give back the local changes";
  }
}

void reset_or_copy_matrix(const std::vector<std::string>& command, int trials) {
  Client c;
  ASSERT_NO_FATAL_FAILURE(c.init(14));
  KillMoments moments;
  SCOPED_TRACE(moments.trace());
  Rows replica_content = content_of(c.replica);
  ASSERT_NO_FATAL_FAILURE(local_exec(c.wc, local_edits("measured")));
  microseconds measured = measure(command, c.env(), c.dir.path());
  ASSERT_TRUE(content_of(c.wc) == replica_content);
  for (int trial = 1; trial <= trials; ++trial) {
    ASSERT_NO_FATAL_FAILURE(discard_trial(c, moments, command, trial, measured, replica_content));
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf("[ KillMatrix ] %s: %s (measured run %lld µs)\n", command[0].c_str(), moments.summary().c_str(),
              static_cast<long long>(measured.count()));
}

TEST(KillMatrix, ResetKilledAtSeededMomentsLosesNothing) {
  reset_or_copy_matrix({"reset", "--yes"}, 3);
}

TEST(KillMatrix, SlowResetKilledAtSeededMomentsLosesNothing) {
  reset_or_copy_matrix({"reset", "--yes"}, 30);
}

// `copy` has two jobs: replace a working copy that has local changes (--force; the changes are saved first,
// as by reset), and create a missing one. The seed picks one per trial.
void copy_matrix(int trials) {
  Client c;
  ASSERT_NO_FATAL_FAILURE(c.init(14));
  KillMoments moments;
  SCOPED_TRACE(moments.trace());
  const std::vector<std::string> force = {"copy", "--force"}, create = {"copy"};
  Rows replica_content = content_of(c.replica);
  ASSERT_NO_FATAL_FAILURE(local_exec(c.wc, local_edits("measured")));
  microseconds measured_force = measure(force, c.env(), c.dir.path());
  fs::remove(c.wc);
  microseconds measured_create = measure(create, c.env(), c.dir.path());
  ASSERT_TRUE(content_of(c.wc) == replica_content);
  for (int trial = 1; trial <= trials; ++trial) {
    if (moments.pick(2) == 0) {
      ASSERT_NO_FATAL_FAILURE(discard_trial(c, moments, force, trial, measured_force, replica_content));
      continue;
    }
    // A missing working copy: killed, there is none or a complete one; the next copy makes it.
    fs::remove(c.wc);
    microseconds moment = moments.next(measured_create);
    SCOPED_TRACE("missing working copy; " + describe(moments, trial, moment, measured_create));
    int code = run_killed_at(create, c.env(), c.dir.path(), moment);
    moments.landed(code);
    ASSERT_TRUE(code == 0 || code == kKilled) << "exit code " << code;
    expect_every_database_intact(c.dir.path());
    if (fs::exists(c.wc)) {
      EXPECT_TRUE(content_of(c.wc) == replica_content) << "a partial working copy";
    }
    auto again = run_cli(create, c.env(), c.dir.path());
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    expect_every_database_intact(c.dir.path());
    EXPECT_TRUE(content_of(c.wc) == replica_content) << "the working copy is not equal to the replica";
    expect_no_dead_temp_files(c.dir.path());
  }
  std::printf("[ KillMatrix ] copy: %s (measured runs: --force %lld µs, create %lld µs)\n",
              moments.summary().c_str(), static_cast<long long>(measured_force.count()),
              static_cast<long long>(measured_create.count()));
}

TEST(KillMatrix, CopyKilledAtSeededMomentsLosesNothing) {
  copy_matrix(3);
}

TEST(KillMatrix, SlowCopyKilledAtSeededMomentsLosesNothing) {
  copy_matrix(30);
}

// --- a workflow cycle -------------------------------------------------------------------------------------

// The rows trial `t` edits, disjoint between trials and between the two sides: of the 2^14 seed rows, block t
// holds 500 ids; the client updates the first 100 and deletes the next 10, the remote updates 100 others and
// deletes 10 others. Both sides insert 300 rows (their new ids collide: pull moves the local ones).
struct CycleEdits {
  std::string tag;
  int64_t base;
  std::string local_sql() const {
    return "INSERT INTO emails (recipient, subject, score, pad) SELECT 'local-" + tag +
           "', 'mine', id / 16.0, randomblob(100) FROM emails WHERE recipient = 'seed' LIMIT 300;" +
           "UPDATE emails SET subject = 'local edit " + tag + "' WHERE id BETWEEN " + ids(0, 99) + ";" +
           "DELETE FROM emails WHERE id BETWEEN " + ids(100, 109) + ";";
  }
  std::vector<std::string> remote_sql() const {
    return {"INSERT INTO emails (recipient, subject, score, pad) SELECT 'remote-" + tag +
                "', 'theirs', id / 4.0, randomblob(100) FROM emails WHERE recipient = 'seed' LIMIT 300",
            "UPDATE emails SET subject = 'remote edit " + tag + "' WHERE id BETWEEN " + ids(200, 299),
            "DELETE FROM emails WHERE id BETWEEN " + ids(300, 309)};
  }
  std::string ids(int from, int to) const {
    return std::to_string(base + from) + " AND " + std::to_string(base + to);
  }
  // (inserted rows, updated rows, rows of the deleted range) of `side` ("local" or "remote") in a table.
  std::string counts(const std::string& side) const {
    bool local = side == "local";
    return "SELECT (SELECT count(*) FROM emails WHERE recipient = '" + side + "-" + tag +
           "'), (SELECT count(*) FROM emails WHERE subject = '" + side + " edit " + tag +
           "'), (SELECT count(*) FROM emails WHERE id BETWEEN " + (local ? ids(100, 109) : ids(300, 309)) +
           ")";
  }
};

const Rows kNotApplied = {{I(0), I(0), I(10)}};
const Rows kApplied = {{I(300), I(100), I(0)}};

const char* kChangedRowsSql =
    "SELECT id, recipient, subject, score FROM emails WHERE recipient <> 'seed' OR subject NOT LIKE 's%' "
    "ORDER BY id";

// After the (killed or finished) cycle and the next one: the remote holds each local change once (one push
// receipt more), the working copy and the replica hold every remote change, nothing is left to push.
void expect_converged(Client& c, const CycleEdits& e, int64_t receipts_before) {
  const std::string& url = c.server.url();
  EXPECT_EQ(remote_rows(url, e.counts("local")), kApplied) << "the local changes on the remote";
  EXPECT_EQ(remote_rows(url, e.counts("remote")), kApplied) << "the remote changes on the remote";
  EXPECT_EQ(local_rows(c.wc, e.counts("local")), kApplied) << "the local changes in the working copy";
  EXPECT_EQ(local_rows(c.wc, e.counts("remote")), kApplied) << "the remote changes in the working copy";
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM turso_sync_pushes"), receipts_before + 1)
      << "the local changes were pushed once";
  EXPECT_EQ(remote_count(url, "SELECT count(*) - count(DISTINCT pad) FROM emails"), 0)
      << "a row pushed twice";
  expect_same(url, c.wc, kRowsChecksum);
  expect_same(url, c.replica, kRowsChecksum);
  expect_same(url, c.wc, kChangedRowsSql);
  expect_no_local_changes(c.dir, url);
  EXPECT_FALSE(fs::exists(c.dir.file(".turso-sync/pull.pending")));
  EXPECT_FALSE(fs::exists(c.dir.file(".turso-sync/push.pending")));
}

void workflow_matrix(int trials) {
  Client c;
  ASSERT_NO_FATAL_FAILURE(c.init(14));
  ASSERT_LE((trials + 1) * 500, 1 << 14);
  KillMoments moments;
  SCOPED_TRACE(moments.trace());
  const std::vector<std::string> cycle = {"workflow", "--once"};
  const std::string& url = c.server.url();
  // Push receipts on the remote (none, and no table, before the first push).
  auto receipts = [&]() -> int64_t {
    if (remote_count(url, "SELECT count(*) FROM sqlite_schema WHERE name = 'turso_sync_pushes'") == 0)
      return 0;
    return remote_count(url, "SELECT count(*) FROM turso_sync_pushes");
  };

  CycleEdits first{"measured", 1};
  ASSERT_NO_FATAL_FAILURE(local_exec(c.wc, first.local_sql()));
  remote_exec(url, first.remote_sql());
  int64_t receipts_before = receipts();
  microseconds measured = measure(cycle, c.env(), c.dir.path());
  ASSERT_NO_FATAL_FAILURE(expect_converged(c, first, receipts_before));

  for (int trial = 1; trial <= trials; ++trial) {
    CycleEdits e{std::to_string(trial), 1 + 500 * static_cast<int64_t>(trial)};
    ASSERT_NO_FATAL_FAILURE(local_exec(c.wc, e.local_sql()));
    remote_exec(url, e.remote_sql());
    receipts_before = receipts();
    microseconds moment = moments.next(measured);
    SCOPED_TRACE(describe(moments, trial, moment, measured));
    int code = run_killed_at(cycle, c.env(), c.dir.path(), moment);
    moments.landed(code);
    ASSERT_TRUE(code == 0 || code == kKilled) << "exit code " << code;
    expect_every_database_intact(c.dir.path());
    // Nothing local lost; the push landed whole or not at all.
    EXPECT_EQ(local_rows(c.wc, e.counts("local")), kApplied);
    Rows pushed = remote_rows(url, e.counts("local"));
    EXPECT_TRUE(pushed == kApplied || pushed == kNotApplied) << "a partial push:\n" << render_rows(pushed);
    int64_t receipts_now = receipts();
    EXPECT_EQ(receipts_now - receipts_before, pushed == kApplied ? 1 : 0);
    // The working copy holds the remote's changes all or not yet (a merge is one transaction).
    Rows merged = local_rows(c.wc, e.counts("remote"));
    EXPECT_TRUE(merged == kApplied || merged == kNotApplied) << "a partial merge:\n" << render_rows(merged);

    auto again = run_cli(cycle, c.env(), c.dir.path());
    ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
    expect_every_database_intact(c.dir.path());
    expect_converged(c, e, receipts_before);
    expect_no_dead_temp_files(c.dir.path());
    if (::testing::Test::HasFailure()) return;  // the next trials start from this one's state
  }
  std::printf("[ KillMatrix ] workflow --once: %s (measured run %lld µs)\n", moments.summary().c_str(),
              static_cast<long long>(measured.count()));
}

TEST(KillMatrix, WorkflowCycleKilledAtSeededMomentsLosesNothing) {
  workflow_matrix(3);
}

TEST(KillMatrix, SlowWorkflowCycleKilledAtSeededMomentsLosesNothing) {
  workflow_matrix(30);
}

// --- temp files -------------------------------------------------------------------------------------------

// A pull killed with its new replica written (local_replica.db.tmp-<pid>) and a copy killed with the new
// working copy written (working_copy.db.tmp-<pid>) leave a file of a process that no longer runs: the next
// pull, reset or copy removes it (the matrix tests above check the same after every killed trial).
TEST(KillMatrix, TempFilesOfAKilledPullResetOrCopyAreRemovedByTheNextRun) {
  Client c;
  ASSERT_NO_FATAL_FAILURE(c.init(10));
  const std::string& url = c.server.url();
  int step = 0;
  auto killed_pull_leaves_a_temp_file = [&] {
    remote_exec(url, {"UPDATE emails SET subject = 'remote " + std::to_string(++step) + "' WHERE id = 1"});
    std::vector<std::string> env = c.env();
    env.push_back("TURSO_SYNC_CRASH_AT=pull.replica-fetched");
    auto killed = run_cli({"pull"}, env, c.dir.path());
    ASSERT_EQ(killed.exit_code, kKilled) << killed.out << killed.err;
    ASSERT_FALSE(temp_files_of_dead_processes(c.dir.path()).empty()) << "the killed pull left no temp file";
  };
  for (const std::vector<std::string>& next :
       {std::vector<std::string>{"pull"}, {"reset", "--yes"}, {"copy"}}) {
    SCOPED_TRACE("a killed pull, then " + next[0]);
    ASSERT_NO_FATAL_FAILURE(killed_pull_leaves_a_temp_file());
    auto r = run_cli(next, c.env(), c.dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_no_dead_temp_files(c.dir.path());
  }

  SCOPED_TRACE("a killed copy, then copy");
  fs::remove(c.wc);
  std::vector<std::string> env = c.env();
  env.push_back("TURSO_SYNC_CRASH_AT=copy.working-written");
  auto killed = run_cli({"copy"}, env, c.dir.path());
  ASSERT_EQ(killed.exit_code, kKilled) << killed.out << killed.err;
  EXPECT_FALSE(fs::exists(c.wc));
  ASSERT_FALSE(temp_files_of_dead_processes(c.dir.path()).empty()) << "the killed copy left no temp file";
  auto r = run_cli({"copy"}, c.env(), c.dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_no_dead_temp_files(c.dir.path());
  expect_integrity_ok(c.wc);
  expect_same_local(c.replica, c.wc, kRowsChecksum);
}

// A pull killed after its merge committed leaves the working copy ahead of the replica, with a marker naming
// the new replica (a temp file of the dead process). `copy` finishes that pull first, as every other command
// does, instead of taking the merged remote change for a local one and refusing; the temp file it needs is
// not removed before.
TEST(KillMatrix, CopyAfterAPullKilledMidWayFinishesThePull) {
  Client c;
  ASSERT_NO_FATAL_FAILURE(c.init(10));
  const std::string& url = c.server.url();
  remote_exec(url, {"UPDATE emails SET subject = 'remote change' WHERE id = 1"});
  std::vector<std::string> env = c.env();
  env.push_back("TURSO_SYNC_CRASH_AT=pull.working-committed");
  auto killed = run_cli({"pull"}, env, c.dir.path());
  ASSERT_EQ(killed.exit_code, kKilled) << killed.out << killed.err;
  ASSERT_TRUE(fs::exists(c.dir.file(".turso-sync/pull.pending")));
  auto r = run_cli({"copy"}, c.env(), c.dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(fs::exists(c.dir.file(".turso-sync/pull.pending")));
  expect_no_dead_temp_files(c.dir.path());
  expect_integrity_ok(c.wc);
  expect_integrity_ok(c.replica);
  expect_same(url, c.replica, kRowsChecksum);
  expect_same(url, c.wc, kRowsChecksum);
  EXPECT_EQ(local_rows(c.wc, "SELECT subject FROM emails WHERE id = 1"), (Rows{{T("remote change")}}));
  expect_no_local_changes(c.dir, url);
}

}  // namespace
}  // namespace turso_sync::testing
