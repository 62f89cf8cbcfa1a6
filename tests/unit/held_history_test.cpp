// The state files of unattended sync: conflicts.json (held conflicts) round-trips exactly, including values
// JSON cannot carry; history.jsonl is appended line by line, read newest first, bounded, and survives a line
// cut short; the Prometheus rendering of the workflow metrics.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "support/test_env.h"
#include "sync/held.h"
#include "turso_sync/history.h"
#include "turso_sync/workflow.h"
#include "util/fs.h"

namespace turso_sync {
namespace {

using testing::TempDir;

HeldConflict sample_conflict() {
  HeldConflict c;
  c.table = "odd \"t\" ü";
  c.keyed_by_rowid = false;
  c.key_names = {"k1", "k2"};
  c.key = {Value::text("a,b"), Value::integer(-9223372036854775807LL - 1)};
  c.kind = "update/update";
  c.columns = {"k1", "k2", "v", "r", "bin"};
  c.base = {c.key[0], c.key[1], Value::null(), Value::real(0.1 + 0.2), Value::blob(std::string("\0\xff", 2))};
  c.ours = {c.key[0], c.key[1], Value::text(std::string("bad \xff utf8 \0 nul", 15)), Value::real(-0.0),
            Value::blob("")};
  c.theirs = {};  // deleted on the remote
  c.conflicting_columns = {2, 3};
  c.since = "2026-12-03T10:00:00Z";
  c.theirs_changed_at = "2026-12-03T11:00:00Z";
  return c;
}

TEST(HeldConflictFile, RoundTripsEveryValueExactly) {
  TempDir dir;
  HeldConflict nan = sample_conflict();
  nan.table = "t2";
  nan.keyed_by_rowid = true;
  nan.key_names = {"rowid"};
  nan.key = {Value::integer(5)};
  nan.ours = {Value::real(std::numeric_limits<double>::infinity()), Value::real(std::nan("0x123"))};
  nan.columns = {"a", "b"};
  nan.base.clear();
  nan.theirs = {Value::integer(1), Value::text("")};
  std::vector<HeldConflict> held = {sample_conflict(), nan};
  ASSERT_TRUE(save_held(dir.path().string(), held).ok());
  auto loaded = load_held(dir.path().string());
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  ASSERT_EQ(loaded->size(), 2u);
  for (size_t i = 0; i < held.size(); ++i) {
    const HeldConflict &a = held[i], &b = (*loaded)[i];
    EXPECT_EQ(a.table, b.table);
    EXPECT_EQ(a.keyed_by_rowid, b.keyed_by_rowid);
    EXPECT_EQ(a.key_names, b.key_names);
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.columns, b.columns);
    EXPECT_EQ(a.base, b.base);  // Value == is exact: REAL bit for bit, TEXT bytes
    EXPECT_EQ(a.ours, b.ours);
    EXPECT_EQ(a.theirs, b.theirs);
    EXPECT_EQ(a.conflicting_columns, b.conflicting_columns);
    EXPECT_EQ(a.since, b.since);
    EXPECT_EQ(a.theirs_changed_at, b.theirs_changed_at);
    EXPECT_EQ(a.ours_changed_at, b.ours_changed_at);
  }
  EXPECT_TRUE(is_held(*loaded, "ODD \"T\" ü", held[0].key));
  EXPECT_FALSE(is_held(*loaded, "t2", {Value::integer(6)}));
  EXPECT_EQ(key_as_text(held[0].key), "a,b,-9223372036854775808");
  // The file holds data: 0600. Saving an empty list leaves an empty list.
  EXPECT_EQ(
      std::filesystem::status(held_file(dir.path().string())).permissions() & std::filesystem::perms::all,
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ASSERT_TRUE(save_held(dir.path().string(), {}).ok());
  EXPECT_TRUE(load_held(dir.path().string())->empty());
}

TEST(HeldConflictFile, MissingIsEmptyCorruptIsAnErrorThatSaysWhatToDo) {
  TempDir dir;
  EXPECT_TRUE(load_held(dir.path().string())->empty());
  std::ofstream(held_file(dir.path().string())) << "{\"conflicts\":[{\"table\":\"t\"";
  auto r = load_held(dir.path().string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::local_db);
  EXPECT_NE(r.error().message().find("conflicts.json"), std::string::npos) << r.error().message();
  for (const char* bad : {"x", "i:", "i:1x", "r:123", "t:!!", "q:1"})
    EXPECT_FALSE(decode_held_value(bad)) << bad;
}

TEST(HeldConflictFile, ExcludeHeldDropsOnlyHeldRowsAndFixesTheSummary) {
  HeldConflict h;
  h.table = "notes";
  h.key = {Value::integer(1)};
  for (bool spilled : {false, true}) {
    SCOPED_TRACE(spilled ? "rows spilled to disk" : "rows in memory");
    Changeset cs;
    TableChanges tc;
    tc.table.name = "Notes";
    RowChange held_row, other;
    held_row.op = RowOp::update;
    held_row.key = {Value::integer(1)};
    other.op = RowOp::insert;
    other.key = {Value::integer(2)};
    ASSERT_TRUE(tc.rows.push_back(held_row).ok());
    if (spilled) {
      ASSERT_TRUE(tc.rows.spill("").ok());
    }
    ASSERT_TRUE(tc.rows.push_back(other).ok());
    tc.counts.updates = 1;
    tc.counts.inserts = 1;
    DiffSummary summary;
    summary.tables.push_back({"Notes", KeyKind::rowid, tc.counts, {}});
    summary.totals = tc.counts;
    cs.tables.push_back(std::move(tc));
    EXPECT_EQ(exclude_held(cs, summary, {h}).value(), 1);
    ASSERT_EQ(cs.tables.size(), 1u);
    ASSERT_EQ(cs.tables[0].rows.size(), 1u);
    EXPECT_EQ(cs.tables[0].rows.spilled(), spilled);
    EXPECT_EQ(cs.tables[0].rows.at(0).value().key[0], Value::integer(2));
    EXPECT_EQ(summary.totals.updates, 0);
    EXPECT_EQ(summary.totals.inserts, 1);
    // A table whose only change is held disappears from both.
    HeldConflict second = h;
    second.key = {Value::integer(2)};
    EXPECT_EQ(exclude_held(cs, summary, {second}).value(), 1);
    EXPECT_TRUE(cs.empty());
    EXPECT_TRUE(summary.tables.empty());
  }
}

HistoryEntry entry(int i) {
  HistoryEntry e = begin_history_entry(i % 2 ? "push" : "pull", "cli");
  e.pulled.inserts = i;
  e.error = i % 3 == 0 ? "pull from http://x: HTTP 503 \"quoted\"" : "";
  e.result = e.error.empty() ? "ok" : "error";
  return e;
}

TEST(HistoryFile, AppendsReadsNewestFirstAndSkipsACutLine) {
  TempDir dir;
  std::string sd = dir.path().string();
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(append_history(sd, entry(i)).ok());
  std::ofstream(sd + "/history.jsonl", std::ios::app) << "{\"time\":\"2026-";  // a crash mid-line
  ASSERT_TRUE(append_history(sd, entry(6)).ok());                              // starts a line of its own
  ASSERT_TRUE(append_history(sd, entry(7)).ok());
  auto all = read_history(sd);
  ASSERT_TRUE(all.ok());
  std::vector<int64_t> order;
  for (const auto& e : *all) order.push_back(e.pulled.inserts);
  EXPECT_EQ(order, (std::vector<int64_t>{7, 6, 5, 4, 3, 2, 1}));  // only the cut line is lost
  EXPECT_EQ((*all)[1].operation, "pull");
  EXPECT_EQ((*all)[1].result, "error");
  EXPECT_EQ((*all)[1].error, "pull from http://x: HTTP 503 \"quoted\"");
  auto two = read_history(sd, 2);
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].pulled.inserts, 6);
}

TEST(HistoryFile, IsBoundedDroppingTheOldestWholeLines) {
  TempDir dir;
  std::string sd = dir.path().string();
  const uint64_t limit = 4096;
  for (int i = 1; i <= 200; ++i) ASSERT_TRUE(append_history(sd, entry(i), limit).ok());
  auto size = file_size(sd + "/history.jsonl");
  ASSERT_TRUE(size);
  EXPECT_LE(*size, limit);
  auto all = read_history(sd);
  ASSERT_TRUE(all.ok());
  ASSERT_GT(all->size(), 3u);
  EXPECT_EQ(all->front().pulled.inserts, 200);  // the newest is kept
  for (size_t i = 1; i < all->size(); ++i)      // consecutive: only the oldest were dropped
    EXPECT_EQ((*all)[i].pulled.inserts, (*all)[i - 1].pulled.inserts - 1);
  EXPECT_GT(all->back().pulled.inserts, 1);
  std::string text = testing::read_text(sd + "/history.jsonl");
  EXPECT_EQ(text.front(), '{');  // starts on a whole line
  EXPECT_EQ(text.back(), '\n');
}

TEST(HistoryMetrics, PrometheusTextHasTypedFamilies) {
  WorkflowMetrics m;
  CycleReport r;
  r.pull = PullReport{};
  r.pull->applied = true;
  r.pull->taken.inserts = 2;
  r.traffic.bytes_sent = 100;
  r.held = 1;
  add_cycle_to_metrics(m, r);
  r.error = Error(ErrorKind::unreachable, "down");
  r.pull.reset();
  add_cycle_to_metrics(m, r);
  std::string text = render_prometheus(m);
  EXPECT_NE(text.find("# TYPE turso_sync_cycles_total counter\nturso_sync_cycles_total 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("turso_sync_cycle_failures_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("turso_sync_rows_pulled_total{kind=\"insert\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("turso_sync_bytes_sent_total 200\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE turso_sync_last_success_timestamp_seconds gauge\n"), std::string::npos) << text;
}

// A pull report that met `conflicts` on rows of `notes` keyed by these ids; `applied`: false with abort.
PullReport pull_meeting(std::vector<int64_t> ids, bool applied) {
  PullReport p;
  p.applied = applied;
  p.taken.inserts = 1;  // what it takes (or, stopped, would have taken)
  for (int64_t id : ids) {
    MergeConflict c;
    c.table = "notes";
    c.key = {Value::integer(id)};
    c.kind = "update/update";
    p.conflicts.push_back(c);
  }
  return p;
}

TEST(HistoryMetrics, AConflictThatStopsEveryCycleIsCountedOnceAndEachStoppedCycleIsCounted) {
  WorkflowMetrics m;
  CycleReport stopped;
  stopped.pull = pull_meeting({1}, false);
  stopped.exit_code = 3;
  for (int i = 0; i < 3; ++i) add_cycle_to_metrics(m, stopped);  // --on-conflict=abort meets it every cycle
  EXPECT_EQ(m.conflicts, 1);
  EXPECT_EQ(m.conflict_cycles, 3);
  EXPECT_EQ(m.failures, 0);
  EXPECT_EQ(m.last_success_unix, 0);  // a stopped cycle is no success
  EXPECT_EQ(m.pulled.inserts, 0);     // and wrote nothing
  // The remote is down for a cycle: the row is still unsettled, and not counted again after.
  CycleReport down;
  down.error = Error(ErrorKind::unreachable, "down");
  down.exit_code = 4;
  add_cycle_to_metrics(m, down);
  add_cycle_to_metrics(m, stopped);
  EXPECT_EQ(m.conflicts, 1);
  EXPECT_EQ(m.conflict_cycles, 4);
  EXPECT_EQ(m.failures, 1);
  // A second row joins the first: one more. (Table names compare case-insensitively.)
  CycleReport two;
  two.pull = pull_meeting({1, 2}, false);
  two.pull->conflicts[0].table = "NOTES";
  two.exit_code = 3;
  add_cycle_to_metrics(m, two);
  EXPECT_EQ(m.conflicts, 2);
  // Settled (the cycle applies), then the same row conflicts again: a new conflict.
  CycleReport ok;
  ok.pull = pull_meeting({}, true);
  add_cycle_to_metrics(m, ok);
  EXPECT_GT(m.last_success_unix, 0);
  add_cycle_to_metrics(m, stopped);
  EXPECT_EQ(m.conflicts, 3);
  // Held conflicts are reported by the pull that holds them only (later merges skip held rows): once each.
  CycleReport held;
  held.pull = pull_meeting({7, 8}, true);
  held.held = 2;
  add_cycle_to_metrics(m, held);
  EXPECT_EQ(m.conflicts, 5);
  EXPECT_EQ(m.conflict_cycles, 6);
  std::string text = render_prometheus(m);
  EXPECT_NE(
      text.find("# TYPE turso_sync_cycle_conflicts_total counter\nturso_sync_cycle_conflicts_total 6\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("turso_sync_conflicts_total 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("turso_sync_cycle_failures_total 1\n"), std::string::npos) << text;
}

// A history line as a workflow cycle or a CLI command writes it.
HistoryEntry line(const std::string& time, const std::string& operation, const std::string& result,
                  int cycle = 0, int failures = 0) {
  HistoryEntry e = begin_history_entry(operation, cycle ? "workflow:interval" : "cli");
  e.time = time;
  e.result = result;
  e.exit_code = result == "ok" ? 0 : result == "conflict" ? 3 : 4;
  if (result == "conflict") e.conflicts_new = 2;
  if (result == "error") e.error = "pull from http://x: connection refused";
  e.cycle = cycle;
  e.consecutive_failures = failures;
  return e;
}

TEST(HistoryMetrics, AWorkflowStartsFromTheLastSuccessAndTheFailuresInARowOfTheHistory) {
  TempDir dir;
  std::string sd = dir.path().string();
  WorkflowMetrics fresh;
  auto health = read_health(sd);
  ASSERT_TRUE(health.ok());
  seed_metrics(fresh, *health);  // no history, no state: nothing known
  EXPECT_EQ(fresh.last_success_unix, 0);
  EXPECT_EQ(fresh.consecutive_failures, 0);

  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:00:00Z", "init", "ok")).ok());
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:05:00Z", "sync", "ok", 1)).ok());
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:10:00Z", "sync", "error", 2, 1)).ok());
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:10:05Z", "resolve", "ok")).ok());  // not a sync
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:10:10Z", "sync", "error", 3, 2)).ok());
  health = read_health(sd, 0);
  ASSERT_TRUE(health.ok());
  EXPECT_TRUE(health->recent.empty());
  WorkflowMetrics m;
  seed_metrics(m, *health);
  EXPECT_EQ(m.last_success_unix, 1772359500);  // 2026-03-01T10:05:00Z
  EXPECT_EQ(m.consecutive_failures, 2);
  EXPECT_EQ(m.cycles, 0);  // counters start over
  // A successful command since then ends the streak.
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:20:00Z", "pull", "ok")).ok());
  WorkflowMetrics after;
  seed_metrics(after, *read_health(sd, 0));
  EXPECT_EQ(after.last_success_unix, 1772360400);
  EXPECT_EQ(after.consecutive_failures, 0);
}

TEST(HistoryFile, HealthTellsALastSyncStoppedByAConflictFromAFailedOne) {
  TempDir dir;
  std::string sd = dir.path().string();
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:00:00Z", "init", "ok")).ok());
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:01:00Z", "pull", "conflict")).ok());
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:02:00Z", "resolve", "ok")).ok());  // not a sync
  auto h = read_health(sd);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->last_sync_conflict);
  EXPECT_FALSE(h->last_sync_failed);
  EXPECT_EQ(h->last_sync_operation, "pull");
  EXPECT_EQ(h->last_sync_at, "2026-03-01T10:01:00Z");
  EXPECT_EQ(h->last_sync_conflicts, 2);
  EXPECT_EQ(h->last_success_at, "2026-03-01T10:00:00Z");
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:03:00Z", "sync", "error", 1, 1)).ok());
  h = read_health(sd);
  EXPECT_FALSE(h->last_sync_conflict);
  EXPECT_TRUE(h->last_sync_failed);
  ASSERT_TRUE(append_history(sd, line("2026-03-01T10:04:00Z", "push", "ok")).ok());
  h = read_health(sd);
  EXPECT_FALSE(h->last_sync_conflict);
  EXPECT_FALSE(h->last_sync_failed);
}

}  // namespace
}  // namespace turso_sync
