// Background sync (`turso-sync workflow`, README "Commands"): a `sync` cycle (pull, then push) every
// interval, with exponential backoff after failures, optional sync shortly after the working copy changes,
// one instance per state dir. Stops when stop_requested() (cancel.h: SIGINT/SIGTERM in the CLI) becomes true:
// at once while waiting, after the cycle in progress otherwise (with set_graceful_stop(true); else the cycle
// is cancelled cleanly); or when WorkflowOptions::stop says so.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "turso_sync/history.h"
#include "turso_sync/status.h"
#include "turso_sync/sync.h"

namespace turso_sync {

struct WorkflowOptions {
  std::chrono::milliseconds interval{300'000};
  bool once = false;            // one cycle, then return
  bool push_on_change = false;  // also sync soon after the working copy (or its WAL) changes
  // push_on_change: sync once the working copy has been quiet this long, or at the latest this long after the
  // first change seen (an application that writes all the time still gets synced).
  std::chrono::milliseconds settle{1500};
  std::chrono::milliseconds max_settle{10'000};
  // Also sync soon after the remote changes (`workflow --pull-on-change`): while waiting, the remote's
  // revision is checked with one small request (SyncContext::remote_changed) that a server which long-polls
  // holds up to `long_poll`; a server that answers at once is asked again `follow_every` after the last ask.
  // A replica fetched over SQL has no revision to compare: the interval alone then brings the changes.
  bool pull_on_change = false;
  std::chrono::milliseconds follow_every{1000};
  std::chrono::milliseconds long_poll{2000};
  // Conflict policies of the cycle's pull (and of the pull that ends its push). A background sync should hold
  // conflicts (ConflictPolicy::hold, the CLI's and the C API's default): one conflicting row then never stops
  // the others.
  PullOptions pull;
  // Each cycle is a SyncContext::sync, whose history line carries the trigger "<trigger>:<why>" (run_workflow
  // sets the context's trigger) and the cycle's number, failures in a row and next cycle. When metrics_file
  // is set, the Prometheus text exposition of the workflow's counters is written there atomically after each
  // cycle (for node_exporter's textfile collector).
  Trigger trigger = Trigger::workflow;
  std::string metrics_file;
  // Also stop when this returns true, checked where stop_requested() is (after each cycle and every 100 ms
  // while waiting): lets one in-process loop (the C API's background sync) stop without the process-wide
  // flags of cancel.h, so other loops and operations of the process keep running. A cycle in progress runs
  // to its end.
  std::function<bool()> stop;
};

enum class CycleTrigger { start, interval, change, remote, retry };
const char* to_string(CycleTrigger trigger);

struct CycleReport {
  int number = 0;  // 1, 2, ...
  CycleTrigger trigger = CycleTrigger::start;
  std::string started_at;  // RFC 3339 UTC
  std::chrono::milliseconds elapsed{0};
  std::optional<PullReport> pull;  // set when the pull ran
  std::optional<PushReport> push;  // set when the push ran (only after a pull that applied)
  std::optional<Error> error;      // the cycle failed (not a conflict)
  int exit_code = 0;  // what `turso-sync sync` would have returned: 0, 3 (conflict), or the error's
  int consecutive_failures = 0;          // failed cycles in a row, this one included
  int64_t held = 0;                      // held conflicts after the cycle
  TransferStats traffic;                 // the cycle's remote traffic
  std::chrono::milliseconds next_in{0};  // wait before the next cycle (0 when none follows)
};
using CycleCallback = std::function<void(const CycleReport&)>;

// Runs cycles until cancelled (or one, with options.once), calling on_cycle after each. Returns the last
// cycle's report; an Error only when the workflow cannot start: not initialized, or another workflow already
// runs for the same state dir (ErrorKind::busy, naming its pid). A cycle that finds another turso-sync
// command working on the files counts as a failure and is retried.
Result<CycleReport> run_workflow(SyncContext& sync, const WorkflowOptions& options,
                                 const CycleCallback& on_cycle);

// The counters of a running workflow, as written to WorkflowOptions::metrics_file (names and meaning in
// docs/operations.md, "Metrics").
struct WorkflowMetrics {
  int64_t cycles = 0;
  int64_t failures = 0;         // cycles that ended with an error
  int64_t conflict_cycles = 0;  // cycles that ended on a conflict that stopped them (exit 3, no error)
  int64_t conflicts = 0;        // rows that came into conflict, each counted once (see stopped_on)
  TableCounts pulled, pushed;
  uint64_t bytes_sent = 0, bytes_received = 0;
  int64_t requests = 0;
  int64_t held = 0;  // gauge: held conflicts now
  int consecutive_failures = 0;
  int64_t last_success_unix = 0;  // gauge: the last successful sync (0: none known)
  int64_t last_cycle_unix = 0;
  // The rows ("table\x1fkey") whose conflicts stopped the last cycle: a cycle stopped again by the same
  // unsettled row (--on-conflict=abort meets it every cycle) does not count it in `conflicts` again.
  std::vector<std::string> stopped_on;
};
void add_cycle_to_metrics(WorkflowMetrics& metrics, const CycleReport& cycle);
// Seeds the gauges of a workflow that starts from what the state dir's history says (read_health): the time
// of the last successful sync, the failed cycles in a row (when the newest sync operation is a failed
// cycle), the held conflicts. A restart then neither looks like a fresh success-less service to a "time since
// last success" alert nor resets a failure streak. Counters stay at 0 (Prometheus sees a counter reset).
void seed_metrics(WorkflowMetrics& metrics, const HealthReport& health);
// The Prometheus text exposition format (version 0.0.4): # HELP / # TYPE lines, turso_sync_* samples.
std::string render_prometheus(const WorkflowMetrics& metrics);

// The wait after `failures` (>= 1) consecutive failed cycles: doubling from min(interval, 5 s), capped at
// max(interval, 5 min), scaled by 0.75 + 0.5 * jitter (jitter in [0, 1)) so that many clients spread out.
std::chrono::milliseconds backoff_delay(std::chrono::milliseconds interval, int failures, double jitter);

}  // namespace turso_sync
