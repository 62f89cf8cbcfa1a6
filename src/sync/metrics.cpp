// The workflow's counters in the Prometheus text exposition format (workflow.h, `workflow --metrics-file`).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "sync/held.h"
#include "turso_sync/workflow.h"
#include "util/fs.h"

namespace turso_sync {

namespace {

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A conflict's row, as WorkflowMetrics::stopped_on names it: the table (case-folded, as SQLite names
// compare) and the exact key.
template <typename Conflict>
std::string row_of(const Conflict& c) {
  std::string id;
  for (char ch : c.table) id += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  id += '\x1f';
  for (const Value& v : c.key) id += encode_held_value(v) + ",";
  return id;
}

}  // namespace

void add_cycle_to_metrics(WorkflowMetrics& m, const CycleReport& r) {
  ++m.cycles;
  int64_t now = unix_now();
  m.last_cycle_unix = now;
  if (r.error) {
    ++m.failures;
  } else if (r.exit_code == 0) {
    m.last_success_unix = now;
  } else if (r.exit_code == 3) {
    ++m.conflict_cycles;
  }
  m.consecutive_failures = r.consecutive_failures;
  auto add = [](TableCounts& to, const TableCounts& c) {
    to.inserts += c.inserts;
    to.updates += c.updates;
    to.deletes += c.deletes;
  };
  // Conflicts: held ones are found once (later merges skip held rows); one that stops the cycle is found
  // again by every cycle until it is settled, and counted only the first time.
  std::vector<std::string> stopped;
  auto count = [&](const auto& conflicts, bool stopping) {
    for (const auto& c : conflicts) {
      std::string row = row_of(c);
      if (std::find(m.stopped_on.begin(), m.stopped_on.end(), row) == m.stopped_on.end() &&
          std::find(stopped.begin(), stopped.end(), row) == stopped.end())
        ++m.conflicts;
      if (stopping) stopped.push_back(std::move(row));
    }
  };
  // A pull that conflicts stopped (abort) wrote nothing, whatever it would have taken.
  if (r.pull) {
    if (r.pull->applied) add(m.pulled, r.pull->taken);
    count(r.pull->conflicts, !r.pull->applied);
  }
  if (r.push) {
    if (!r.push->nothing_to_push && r.push->conflicts.empty()) add(m.pushed, r.push->changes.totals);
    count(r.push->conflicts, true);
    if (r.push->pull) {  // what others pushed meanwhile (this push's own rows are not taken again)
      if (r.push->pull->applied) add(m.pulled, r.push->pull->taken);
      count(r.push->pull->conflicts, !r.push->pull->applied);
    }
  }
  // A cycle that failed before its pull looked (remote down) leaves the stopping rows as they were.
  if (r.pull) m.stopped_on = std::move(stopped);
  m.bytes_sent += r.traffic.bytes_sent;
  m.bytes_received += r.traffic.bytes_received;
  m.requests += r.traffic.requests;
  m.held = r.held;
}

void seed_metrics(WorkflowMetrics& m, const HealthReport& h) {
  if (auto last = parse_utc_timestamp(h.last_success_at))
    m.last_success_unix = std::chrono::duration_cast<std::chrono::seconds>(last->time_since_epoch()).count();
  m.consecutive_failures = h.last_sync_failed ? h.consecutive_failures : 0;
  m.held = h.held_conflicts;
}

std::string render_prometheus(const WorkflowMetrics& m) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto sample = [&](const char* name, int64_t value, const std::string& labels = "") {
    out += fmt::format("{}{} {}\n", name, labels.empty() ? "" : "{" + labels + "}", value);
  };
  auto kinds = [&](const char* name, const TableCounts& c) {
    sample(name, c.inserts, "kind=\"insert\"");
    sample(name, c.updates, "kind=\"update\"");
    sample(name, c.deletes, "kind=\"delete\"");
  };
  metric("turso_sync_cycles_total", "counter", "Sync cycles run by this workflow.");
  sample("turso_sync_cycles_total", m.cycles);
  metric("turso_sync_cycle_failures_total", "counter", "Cycles that ended with an error.");
  sample("turso_sync_cycle_failures_total", m.failures);
  metric("turso_sync_cycle_conflicts_total", "counter",
         "Cycles stopped by a conflict (exit 3): the conflicting changes were not applied.");
  sample("turso_sync_cycle_conflicts_total", m.conflict_cycles);
  metric("turso_sync_rows_pulled_total", "counter", "Remote row changes written into the working copy.");
  kinds("turso_sync_rows_pulled_total", m.pulled);
  metric("turso_sync_rows_pushed_total", "counter", "Local row changes applied to the remote.");
  kinds("turso_sync_rows_pushed_total", m.pushed);
  metric("turso_sync_conflicts_total", "counter",
         "Rows found in conflict (held, or stopping a cycle), each once until it is settled.");
  sample("turso_sync_conflicts_total", m.conflicts);
  metric("turso_sync_bytes_sent_total", "counter", "HTTP request bytes sent to the remote.");
  sample("turso_sync_bytes_sent_total", static_cast<int64_t>(m.bytes_sent));
  metric("turso_sync_bytes_received_total", "counter", "HTTP response bytes received from the remote.");
  sample("turso_sync_bytes_received_total", static_cast<int64_t>(m.bytes_received));
  metric("turso_sync_requests_total", "counter", "HTTP requests sent to the remote.");
  sample("turso_sync_requests_total", m.requests);
  metric("turso_sync_conflicts_held", "gauge", "Conflicts held now, waiting for `turso-sync resolve`.");
  sample("turso_sync_conflicts_held", m.held);
  metric("turso_sync_consecutive_failures", "gauge", "Failed cycles in a row.");
  sample("turso_sync_consecutive_failures", m.consecutive_failures);
  metric("turso_sync_last_success_timestamp_seconds", "gauge",
         "Unix time of the last successful sync (this workflow's, else the history's; 0: none).");
  sample("turso_sync_last_success_timestamp_seconds", m.last_success_unix);
  metric("turso_sync_last_cycle_timestamp_seconds", "gauge", "Unix time of the last cycle.");
  sample("turso_sync_last_cycle_timestamp_seconds", m.last_cycle_unix);
  return out;
}

}  // namespace turso_sync
