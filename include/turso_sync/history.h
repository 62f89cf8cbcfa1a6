// The sync history (`turso-sync log`): <state dir>/history.jsonl, one JSON object per line and per operation
// (init, pull, push, sync, reset, copy, resolve, and every workflow cycle as a sync with trigger
// "workflow:<why>"), oldest first. Each line is appended with one write(2) under an flock of the file, so
// lines never interleave; the file is bounded: past kHistoryMaxBytes the oldest lines are dropped (the file
// is rewritten atomically keeping the newest half). A line a crash cut short is skipped by the reader. Fields
// are documented in docs/operations.md ("history.jsonl").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turso_sync/changeset.h"
#include "turso_sync/config.h"
#include "turso_sync/remote.h"
#include "turso_sync/status.h"

namespace turso_sync {

struct PullReport;
struct PushReport;

inline constexpr uint64_t kHistoryMaxBytes = 1 << 20;

struct HistoryEntry {
  std::string time;       // RFC 3339 UTC, when the operation started
  std::string operation;  // "init", "pull", "push", "sync", "reset", "copy", "resolve"
  std::string trigger;    // "cli", "capi", "workflow:<why>", "capi:background:<why>" (why: start, interval,
                          // change, retry)
  std::string result;     // "ok", "conflict" (exit 3), "error"
  int exit_code = 0;
  TableCounts pulled;              // remote changes written into the working copy
  TableCounts pushed;              // local changes applied to the remote
  int64_t conflicts_held = 0;      // held conflicts after the operation
  int64_t conflicts_new = 0;       // conflicts this operation found (held, or stopping it)
  int64_t conflicts_resolved = 0;  // resolve: conflicts settled
  int64_t held_skipped = 0;        // local changes left out of the push because their row is held
  uint64_t bytes_up = 0, bytes_down = 0;
  int64_t requests = 0;
  int64_t duration_ms = 0;
  std::string pull_path;  // how the replica was brought up to date ("pages" or "sql"), "" when no pull ran
  std::string error;      // the error message, when result is "error"
  int cycle = 0;          // workflow cycle number, 0 otherwise
  int consecutive_failures = 0;  // workflow: failed cycles in a row, this one included
  std::string next_at;           // workflow: when the next cycle is due (RFC 3339 UTC), "" when none follows

  // Not written: when the operation started and the context's traffic then (see begin_history_entry).
  std::chrono::steady_clock::time_point started;
  TransferStats traffic_before;
};

// What the history says about the health of a state dir (status, `status --check`).
struct HealthReport {
  int64_t held_conflicts = 0;
  std::vector<HistoryEntry> recent;       // the newest operations, newest first
  std::string last_error, last_error_at;  // the newest failed operation ("" when none)
  std::string last_success_at;    // the newest pull/push/sync that succeeded (else the state's last pull)
  bool last_sync_failed = false;  // the newest init/pull/push/sync (workflow cycles included) failed
  // The newest init/pull/push/sync ended on a conflict that stopped it (result "conflict", exit 3: e.g.
  // --on-conflict=abort, or a push whose rows the remote changed meanwhile); with its time, operation and
  // the number of conflicts that stopped it.
  bool last_sync_conflict = false;
  std::string last_sync_at, last_sync_operation;
  int64_t last_sync_conflicts = 0;
  // The newest workflow cycle ("" when none is in the history).
  std::string last_cycle_at, last_cycle_result, next_cycle_at;
  int consecutive_failures = 0;
};

// The verdict of a health check (SyncContext::status with StatusOptions::check, evaluate_health in sync.h).
struct HealthCheck {
  int exit_code = 0;  // 0 healthy, 4 remote, 1 local files, 5 last sync failed, 3 conflict, 6 too old
  std::optional<ErrorKind> kind;  // 4 and 1: the error's kind; 3: conflict; else none
  std::string reason;             // "healthy", or what is wrong and what to do
};

// The age limit of `status --check --max-age`: "90", "90s", "15m", "2h", "1d". ErrorKind::usage otherwise.
Result<std::chrono::seconds> parse_max_age(std::string_view text);

// Reads <state dir>/history.jsonl and conflicts.json. `recent`: how many entries to keep in `recent`.
Result<HealthReport> read_health(const std::string& state_dir, size_t recent = 5);

// An entry for an operation starting now.
HistoryEntry begin_history_entry(const std::string& operation, const std::string& trigger,
                                 const TransferStats& traffic_before = {});
// Fills the entry from a report, an error, or the end of the operation (duration, traffic).
void add_to_history(HistoryEntry& entry, const PullReport& pull);
void add_to_history(HistoryEntry& entry, const PushReport& push);
void add_error_to_history(HistoryEntry& entry, const Error& error);
void finish_history_entry(HistoryEntry& entry, const TransferStats& traffic_after = {});

std::string history_line_json(const HistoryEntry& entry);  // one line, no newline

// Appends one line to <state dir>/history.jsonl (creating it, mode 0600) and drops the oldest lines when the
// file grows past `max_bytes`. Errors: ErrorKind::io.
Status append_history(const std::string& state_dir, const HistoryEntry& entry,
                      uint64_t max_bytes = kHistoryMaxBytes);
// The newest `limit` entries (0 = all), newest first; lines that cannot be parsed are skipped.
Result<std::vector<HistoryEntry>> read_history(const std::string& state_dir, size_t limit = 0);

}  // namespace turso_sync
