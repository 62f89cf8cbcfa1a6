// The operations as callers see them: each runs its implementation (sync_context.cpp, pull.cpp, push.cpp,
// resolve.cpp), names a damaged local file in its error, and appends its own history line with the
// context's trigger. The CLI, the C API and the workflow loop call these and write no history themselves.
#include "sync/held.h"
#include "turso_sync/history.h"
#include "turso_sync/sync.h"

namespace turso_sync {

const char* to_string(Trigger trigger) {
  switch (trigger) {
    case Trigger::cli:
      return "cli";
    case Trigger::capi:
      return "capi";
    case Trigger::workflow:
      return "workflow";
    case Trigger::background:
      return "capi:background";
  }
  return "?";
}

int exit_code_of(const SyncReport& report) {
  if (int code = exit_code_of(report.pull); code != 0) return code;
  return report.push ? exit_code_of(*report.push) : 0;
}

HistoryEntry SyncContext::begin_history(const char* operation, const std::string& why) const {
  std::string trigger = to_string(m_trigger);
  if (!why.empty()) trigger += ":" + why;
  return begin_history_entry(operation, trigger, transfer_stats());
}

void SyncContext::write_history(HistoryEntry& entry) {
  finish_history_entry(entry, transfer_stats());
  Status written = append_history(m_config.state_dir, entry);
  if (written.ok())
    m_history_error.reset();
  else
    m_history_error = written.error();
}

namespace {

// Fills the line from the outcome: the report's counts (by `fill`), or the error.
template <typename T, typename Fill>
void add_outcome(HistoryEntry& entry, const Result<T>& result, Fill fill) {
  if (result.ok())
    fill(entry, *result);
  else
    add_error_to_history(entry, result.error());
}

template <typename T>
Result<T> explained(const Config& config, Result<T> result) {
  if (!result.ok()) return explain_damaged_files(config, std::move(result).error());
  return result;
}

}  // namespace

Result<InitReport> SyncContext::init(const InitOptions& options) {
  HistoryEntry entry = begin_history("init");
  auto result = init_files(options);
  add_outcome(entry, result, [](HistoryEntry& e, const InitReport& r) {
    e.pulled.inserts = r.rows;  // the remote's rows, all taken
    e.pull_path = r.protocol;
  });
  write_history(entry);
  return result;
}

Result<PullReport> SyncContext::pull(const PullOptions& options) {
  HistoryEntry entry = begin_history("pull");
  auto result = explained(m_config, pull_files(options));
  add_outcome(entry, result, [](HistoryEntry& e, const PullReport& r) { add_to_history(e, r); });
  write_history(entry);
  return result;
}

Result<PushReport> SyncContext::push(const PushOptions& options) {
  if (options.dry_run) return explained(m_config, push_files(options));  // sends nothing: no line
  HistoryEntry entry = begin_history("push");
  auto result = explained(m_config, push_files(options));
  add_outcome(entry, result, [](HistoryEntry& e, const PushReport& r) { add_to_history(e, r); });
  write_history(entry);
  return result;
}

Result<SyncReport> SyncContext::sync(const SyncOptions& options) {
  HistoryEntry entry = begin_history("sync", options.why);
  bool pulled = false;
  auto result = [&]() -> Result<SyncReport> {
    SyncReport report;
    report.pull = TS_TRY(explained(m_config, pull_files(options.pull)));
    pulled = true;
    add_to_history(entry, report.pull);
    if (exit_code_of(report.pull) != 0) return report;
    PushOptions push;
    push.force = options.force;
    push.pull = options.pull;
    push.progress = options.pull.progress;
    report.push = TS_TRY(explained(m_config, push_files(push)));
    add_to_history(entry, *report.push);
    return report;
  }();
  if (!result.ok()) {
    add_error_to_history(entry, result.error());
    // No pull ran (the remote is down, say): the holds are still there.
    if (!pulled)
      if (auto held = load_held(m_config.state_dir); held.ok())
        entry.conflicts_held = static_cast<int64_t>(held->size());
  }
  if (options.complete_history) options.complete_history(entry, result.ok() ? nullptr : &result.error());
  write_history(entry);
  return result;
}

Result<ResetReport> SyncContext::reset(const ResetOptions& options) {
  HistoryEntry entry = begin_history("reset");
  auto result = explained(m_config, reset_files(options));
  add_outcome(entry, result, [](HistoryEntry&, const ResetReport&) {});
  write_history(entry);
  return result;
}

Result<ResetReport> SyncContext::copy(const CopyOptions& options) {
  HistoryEntry entry = begin_history("copy");
  auto result = explained(m_config, copy_files(options));
  add_outcome(entry, result, [](HistoryEntry&, const ResetReport&) {});
  write_history(entry);
  return result;
}

Result<ResolveReport> SyncContext::resolve(const ResolveOptions& options) {
  HistoryEntry entry = begin_history("resolve");
  auto result = resolve_files(options);
  add_outcome(entry, result, [](HistoryEntry& e, const ResolveReport& r) {
    e.conflicts_resolved = static_cast<int64_t>(r.resolved.size());
    e.conflicts_held = r.still_held;
  });
  write_history(entry);
  return result;
}

}  // namespace turso_sync
