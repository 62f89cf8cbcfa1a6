// The workflow's counters in the Prometheus text exposition format (workflow.h, `workflow --metrics-file`).
#include <fmt/format.h>

#include <chrono>

#include "turso_sync/workflow.h"

namespace turso_sync {

void add_cycle_to_metrics(WorkflowMetrics& m, const CycleReport& r) {
  ++m.cycles;
  int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  m.last_cycle_unix = now;
  if (r.error) {
    ++m.failures;
  } else if (r.exit_code == 0) {
    m.last_success_unix = now;
  }
  m.consecutive_failures = r.consecutive_failures;
  auto add = [](TableCounts& to, const TableCounts& c) {
    to.inserts += c.inserts;
    to.updates += c.updates;
    to.deletes += c.deletes;
  };
  if (r.pull) {
    add(m.pulled, r.pull->taken);
    m.conflicts += static_cast<int64_t>(r.pull->conflicts.size());
  }
  if (r.push) {
    if (!r.push->nothing_to_push && r.push->conflicts.empty()) add(m.pushed, r.push->changes.totals);
    m.conflicts += static_cast<int64_t>(r.push->conflicts.size());
    if (r.push->pull) {  // what others pushed meanwhile (this push's own rows are not taken again)
      add(m.pulled, r.push->pull->taken);
      m.conflicts += static_cast<int64_t>(r.push->pull->conflicts.size());
    }
  }
  m.bytes_sent += r.traffic.bytes_sent;
  m.bytes_received += r.traffic.bytes_received;
  m.requests += r.traffic.requests;
  m.held = r.held;
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
  metric("turso_sync_rows_pulled_total", "counter", "Remote row changes written into the working copy.");
  kinds("turso_sync_rows_pulled_total", m.pulled);
  metric("turso_sync_rows_pushed_total", "counter", "Local row changes applied to the remote.");
  kinds("turso_sync_rows_pushed_total", m.pushed);
  metric("turso_sync_conflicts_total", "counter", "Conflicts found (held, or stopping a cycle).");
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
         "Unix time of the last cycle that succeeded (0: none yet).");
  sample("turso_sync_last_success_timestamp_seconds", m.last_success_unix);
  metric("turso_sync_last_cycle_timestamp_seconds", "gauge", "Unix time of the last cycle.");
  sample("turso_sync_last_cycle_timestamp_seconds", m.last_cycle_unix);
  return out;
}

}  // namespace turso_sync
