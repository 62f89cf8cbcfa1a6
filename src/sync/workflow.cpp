// workflow: sync cycles on a timer (and on working-copy changes), with backoff after failures.
#include "turso_sync/workflow.h"

#include <sys/stat.h>

#include <algorithm>
#include <random>
#include <thread>

#include "sync/state.h"
#include "turso_sync/cancel.h"
#include "turso_sync/history.h"
#include "util/fs.h"

namespace turso_sync {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const char* to_string(CycleTrigger trigger) {
  switch (trigger) {
    case CycleTrigger::start:
      return "start";
    case CycleTrigger::interval:
      return "interval";
    case CycleTrigger::change:
      return "change";
    case CycleTrigger::remote:
      return "remote";
    case CycleTrigger::retry:
      return "retry";
  }
  return "?";
}

milliseconds backoff_delay(milliseconds interval, int failures, double jitter) {
  double base = static_cast<double>(std::clamp(interval, milliseconds(1), milliseconds(5000)).count());
  double cap = static_cast<double>(std::max(interval, milliseconds(300'000)).count());
  double delay = base;
  for (int i = 1; i < failures && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap) * (0.75 + 0.5 * std::clamp(jitter, 0.0, 1.0));
  return milliseconds(static_cast<int64_t>(delay));
}

namespace {

// The working copy's file and WAL as seen by stat(): a change of either means the application wrote.
struct FileSignature {
  int64_t size = -1, mtime_ns = -1, wal_size = -1, wal_mtime_ns = -1;
  bool operator==(const FileSignature&) const = default;
};

FileSignature signature_of(const std::string& path) {
  FileSignature s;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    s.size = st.st_size;
    s.mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
  }
  if (::stat((path + "-wal").c_str(), &st) == 0) {
    s.wal_size = st.st_size;
    s.wal_mtime_ns = st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
  }
  return s;
}

// One `sync` (SyncContext::sync: pull, then push, its history line). `settle` runs once the outcome is known,
// before the line is written, to fill in the cycle's failures in a row and next wait (and the line's fields
// for them).
void run_cycle(SyncContext& sync, const WorkflowOptions& options, CycleReport& r,
               const std::function<void(HistoryEntry&, const Error*)>& settle) {
  TransferStats before = sync.transfer_stats();
  r.started_at = utc_timestamp();
  auto start = Clock::now();
  SyncOptions sync_options;
  sync_options.pull = options.pull;
  sync_options.why = to_string(r.trigger);
  sync_options.complete_history = [&](HistoryEntry& e, const Error* error) {
    e.cycle = r.number;
    r.held = e.conflicts_held;
    settle(e, error);
  };
  auto synced = sync.sync(sync_options);
  if (!synced.ok()) {
    r.error = synced.error();
    r.exit_code = exit_code_for(synced.error().kind());
  } else {
    r.pull = std::move(synced->pull);
    r.push = std::move(synced->push);
    r.exit_code = r.push ? exit_code_of(*r.push) : exit_code_of(*r.pull);
  }
  r.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  TransferStats after = sync.transfer_stats();
  r.traffic.requests = after.requests - before.requests;
  r.traffic.bytes_sent = after.bytes_sent - before.bytes_sent;
  r.traffic.bytes_received = after.bytes_received - before.bytes_received;
}

}  // namespace

Result<CycleReport> run_workflow(SyncContext& sync, const WorkflowOptions& options,
                                 const CycleCallback& on_cycle) {
  TS_TRY_STATUS(sync.require_initialized());
  const std::string& working = sync.config().working_path;
  StateLock lock = TS_TRY(StateLock::acquire_workflow(sync.config().state_dir));
  sync.set_trigger(options.trigger);
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto stopping = [&] { return stop_requested() || (options.stop && options.stop()); };
  // A restarted workflow goes on from the history (seed_metrics): the last success stays known, and failures
  // in a row keep counting, for the gauges and for the backoff (a service that keeps restarting still alerts
  // and does not hammer a failing remote).
  WorkflowMetrics metrics;
  if (auto health = read_health(sync.config().state_dir, 0); health.ok()) seed_metrics(metrics, *health);
  int failures = metrics.consecutive_failures;
  CycleTrigger trigger = CycleTrigger::start;
  for (int number = 1;; ++number) {
    // Compared after the cycle: a write the application made while the cycle ran is picked up at once (the
    // cycle's own merge counts as a change too, which costs at most one extra, empty cycle).
    FileSignature seen = signature_of(working);
    CycleReport r;
    r.number = number;
    r.trigger = trigger;
    bool stop = false;
    run_cycle(sync, options, r, [&](HistoryEntry& e, const Error* error) {
      stop = options.once || stopping();  // a cancelled cycle implies a stop request
      // A cycle cancelled by a stop request neither fails nor succeeds: the count stays.
      bool cancelled = error && error->kind() == ErrorKind::cancelled;
      if (!cancelled) failures = error ? failures + 1 : 0;
      r.consecutive_failures = failures;
      if (!stop)
        r.next_in = failures > 0 ? backoff_delay(options.interval, failures, unit(rng)) : options.interval;
      e.consecutive_failures = failures;
      if (r.next_in.count() > 0) e.next_at = utc_timestamp_at(std::chrono::system_clock::now() + r.next_in);
    });
    // The history line is written (by the sync); the metrics before the callback: whoever watches the
    // cycle's log line finds both written.
    add_cycle_to_metrics(metrics, r);
    if (!options.metrics_file.empty())
      (void)atomic_write_file(options.metrics_file, render_prometheus(metrics), 0644);  // best effort
    if (on_cycle) on_cycle(r);
    if (stop) return r;

    // Wait for the interval (or the backoff), a change of the working copy, or a signal.
    trigger = failures > 0 ? CycleTrigger::retry : CycleTrigger::interval;
    std::optional<Clock::time_point> first_change, last_change;
    auto deadline = Clock::now() + r.next_in;
    // Following the remote stops until the next cycle when it cannot tell (an SQL replica) or fails: the
    // cycle then reports the failure, and backs off.
    bool following = options.pull_on_change && failures == 0;
    Clock::time_point next_ask = Clock::now();
    while (true) {
      if (stopping()) return r;
      auto now = Clock::now();
      if (now >= deadline) break;
      // Changes do not cut a backoff short: a failing remote is not retried on every write.
      if (options.push_on_change && failures == 0) {
        FileSignature current = signature_of(working);
        if (current != seen) {
          seen = current;
          last_change = now;
          if (!first_change) first_change = now;
        }
        if (first_change &&
            (now - *last_change >= options.settle || now - *first_change >= options.max_settle)) {
          trigger = CycleTrigger::change;
          break;
        }
      }
      if (following && now >= next_ask) {
        auto change = sync.remote_changed(options.long_poll);
        if (!change.ok() || change->state == RemoteChange::State::unknown) {
          following = false;
        } else if (change->state == RemoteChange::State::changed) {
          trigger = CycleTrigger::remote;
          break;
        } else {
          next_ask = change->held(options.long_poll) ? Clock::now() : now + options.follow_every;
        }
        continue;
      }
      auto until = following ? std::min(deadline, next_ask) : deadline;
      std::this_thread::sleep_for(std::min<Clock::duration>(milliseconds(100), until - Clock::now()));
    }
  }
}

}  // namespace turso_sync
