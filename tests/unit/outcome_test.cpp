// What the front ends share and must never re-derive: the conflict-policy text (one parser), the exit code of
// an operation's outcome, and the health check of `status --check` (its order of precedence and max age).
#include <gtest/gtest.h>

#include <chrono>

#include "turso_sync/conflict.h"
#include "turso_sync/history.h"
#include "turso_sync/sync.h"

namespace turso_sync {
namespace {

using std::chrono::seconds;

TEST(ConflictPolicyText, EveryNameRoundTripsAndAnUnknownWordIsAUsageError) {
  for (ConflictPolicy p :
       {ConflictPolicy::abort, ConflictPolicy::local, ConflictPolicy::remote, ConflictPolicy::hold}) {
    auto parsed = parse_conflict_policy(to_string(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, p);
  }
  for (const char* bad : {"", "mine", "Abort", "abort ", "ours"}) {
    auto parsed = parse_conflict_policy(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().kind(), ErrorKind::usage);
    EXPECT_NE(parsed.error().message().find("abort, local, remote or hold"), std::string::npos);
  }
  EXPECT_EQ(*parse_insert_collision("move"), InsertCollision::move_local);
  EXPECT_EQ(*parse_insert_collision("conflict"), InsertCollision::conflict);
  EXPECT_FALSE(parse_insert_collision("moved").ok());
}

TEST(OutcomeExitCode, ConflictsThatStoppedAnOperationAreThree) {
  PullReport pulled;
  pulled.applied = true;
  EXPECT_EQ(exit_code_of(pulled), 0);
  pulled.conflicts.push_back(MergeConflict{});  // settled by a policy: applied, still 0
  EXPECT_EQ(exit_code_of(pulled), 0);
  pulled.applied = false;
  EXPECT_EQ(exit_code_of(pulled), 3);

  PushReport pushed;
  EXPECT_EQ(exit_code_of(pushed), 0);
  pushed.pull = PullReport{};
  pushed.pull->applied = false;  // the pull after the push stopped on a conflict
  EXPECT_EQ(exit_code_of(pushed), 3);
  pushed.pull->applied = true;
  EXPECT_EQ(exit_code_of(pushed), 0);
  pushed.conflicts.push_back(PushConflict{});  // the remote refused it
  EXPECT_EQ(exit_code_of(pushed), 3);
}

TEST(HealthCheck, TheFirstThatAppliesWins) {
  StatusReport r;
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(evaluate_health(r, std::nullopt, now).exit_code, 0);
  EXPECT_EQ(evaluate_health(r, std::nullopt, now).reason, "healthy");
  EXPECT_EQ(exit_code_of(r), 0);

  r.health.held_conflicts = 2;
  HealthCheck held = evaluate_health(r, std::nullopt, now);
  EXPECT_EQ(held.exit_code, 3);
  EXPECT_EQ(held.kind, ErrorKind::conflict);
  EXPECT_NE(held.reason.find("2 conflicts held"), std::string::npos) << held.reason;

  r.health.last_sync_failed = true;
  r.health.last_error = "pull: HTTP 503";
  HealthCheck failed = evaluate_health(r, std::nullopt, now);
  EXPECT_EQ(failed.exit_code, 5);
  EXPECT_NE(failed.reason.find("HTTP 503"), std::string::npos);

  r.pending_exit_code = 1;
  r.pending_error_kind = ErrorKind::local_db;
  EXPECT_EQ(evaluate_health(r, std::nullopt, now).exit_code, 1);
  EXPECT_EQ(evaluate_health(r, std::nullopt, now).kind, ErrorKind::local_db);

  r.remote_exit_code = 4;
  r.remote_error_kind = ErrorKind::auth;
  EXPECT_EQ(evaluate_health(r, std::nullopt, now).exit_code, 4);
  EXPECT_EQ(evaluate_health(r, std::nullopt, now).kind, ErrorKind::auth);
  EXPECT_EQ(exit_code_of(r), 4);

  // The check's code is the status's once it was evaluated.
  r.check = HealthCheck{5, std::nullopt, "the last sync failed"};
  EXPECT_EQ(exit_code_of(r), 5);
}

TEST(HealthCheck, MaxAgeCountsFromTheLastSuccess) {
  StatusReport r;
  auto now = std::chrono::system_clock::now();
  EXPECT_EQ(evaluate_health(r, seconds(60), now).exit_code, 6);  // no success at all
  EXPECT_EQ(evaluate_health(r, seconds(60), now).reason, "no successful sync yet");
  r.health.last_success_at = "2026-01-01T00:00:00Z";
  auto last = std::chrono::sys_days(std::chrono::year(2026) / 1 / 1);
  EXPECT_EQ(evaluate_health(r, seconds(60), last + seconds(60)).exit_code, 0);
  HealthCheck old = evaluate_health(r, seconds(60), last + seconds(61));
  EXPECT_EQ(old.exit_code, 6);
  EXPECT_NE(old.reason.find("61 s old"), std::string::npos) << old.reason;
  EXPECT_EQ(evaluate_health(r, std::nullopt, last + seconds(1'000'000)).exit_code, 0);
}

TEST(HealthCheck, MaxAgeText) {
  EXPECT_EQ(*parse_max_age("90"), seconds(90));
  EXPECT_EQ(*parse_max_age("90s"), seconds(90));
  EXPECT_EQ(*parse_max_age("15m"), seconds(900));
  EXPECT_EQ(*parse_max_age("2h"), seconds(7200));
  EXPECT_EQ(*parse_max_age("1d"), seconds(86400));
  for (const char* bad : {"", "m", "15x", "1.5h", "-5", "15mm", "9999999999999"}) {
    auto parsed = parse_max_age(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().kind(), ErrorKind::usage);
  }
}

}  // namespace
}  // namespace turso_sync
