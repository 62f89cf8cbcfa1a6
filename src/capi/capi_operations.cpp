// The C API's operations: options parsed, the library called (which writes the history line, trigger capi),
// the report rendered by the renderers of the CLI's --json (turso_sync/report_json.h).
#include "capi/capi_internal.h"
#include "turso_sync/diff.h"
#include "turso_sync/history.h"
#include "turso_sync/report_json.h"

using namespace turso_sync::capi;

namespace {

std::string conflict_message(const std::string& what, size_t conflicts) {
  return fmt::format("{}: {} conflict{} with the remote; nothing was applied (see the report's conflicts)",
                     what, conflicts, conflicts == 1 ? "" : "s");
}

}  // namespace

extern "C" {

namespace {

// The outcome of a pull report: its code (exit_code_of), and when it is a conflict, the message.
Outcome pull_outcome(const std::string& what, const ts::PullReport& report, std::string json) {
  int code = ts::exit_code_of(report);
  if (code == 0) return Outcome{0, std::move(json), ""};
  return Outcome{code, std::move(json), conflict_message(what, report.conflicts.size()),
                 ts::ErrorKind::conflict};
}

// The outcome of a push report: 3 when the remote refused it or the pull after it met conflicts.
Outcome push_outcome(const std::string& what, const ts::PushReport& report, std::string json) {
  int code = ts::exit_code_of(report);
  if (code == 0) return Outcome{0, std::move(json), ""};
  if (report.conflicts.empty())
    return pull_outcome(what + ": the pull after the push", *report.pull, std::move(json));
  return Outcome{code, std::move(json),
                 fmt::format("{}: the remote has changes you do not have in {} row{}; nothing was applied. "
                             "Pull (merges their changes with yours), then push again; or push with "
                             "{{\"force\":true}} to overwrite theirs",
                             what, report.conflicts.size(), report.conflicts.size() == 1 ? "" : "s"),
                 ts::ErrorKind::conflict};
}

}  // namespace

int turso_sync_init(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "init", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("init", options_json, {"force", "from"}));
    ts::InitOptions options;
    options.force = TS_TRY(o.boolean("force", false));
    options.from = TS_TRY(o.text("from")).value_or("");
    ts::InitReport report = TS_TRY(sync.init(options));
    return Outcome{0, ts::init_report_json(sync.config(), report), ""};
  });
}

int turso_sync_pull(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "pull", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("pull", options_json, kPullOptionNames));
    ts::PullOptions options = TS_TRY(pull_options(o));
    ts::PullReport report = TS_TRY(sync.pull(options));
    return pull_outcome("pull", report, ts::pull_report_json(report));
  });
}

int turso_sync_push(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "push", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(
        Options::parse("push", options_json, with_pull_options({"force", "dry_run", "table", "keys"})));
    ts::PushOptions options;
    options.force = TS_TRY(o.boolean("force", false));
    options.dry_run = TS_TRY(o.boolean("dry_run", false));
    options.pull = TS_TRY(pull_options(o));
    std::optional<std::string> table = TS_TRY(o.text("table"));
    std::vector<std::string> keys = TS_TRY(o.strings("keys"));
    if (table.has_value() != !keys.empty())
      return ts::Error(ts::ErrorKind::usage,
                       "push: options 'table' and 'keys' go together (push only those rows' local changes)");
    if (table) options.only = ts::RowSelection{*table, std::move(keys)};
    ts::PushReport report = TS_TRY(sync.push(options));
    return push_outcome("push", report, ts::push_report_json(report));
  });
}

int turso_sync_sync(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "sync", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("sync", options_json, with_pull_options({"force"})));
    ts::SyncOptions options;
    options.pull = TS_TRY(pull_options(o));
    options.force = TS_TRY(o.boolean("force", false));
    ts::SyncReport report = TS_TRY(sync.sync(options));
    std::string json = ts::sync_report_json(report.pull, report.push);
    if (!report.push) return pull_outcome("sync: pull", report.pull, std::move(json));
    return push_outcome("sync: push", *report.push, std::move(json));
  });
}

int turso_sync_diff(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "diff", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("diff", options_json, {"exit_code"}));
    bool exit_code = TS_TRY(o.boolean("exit_code", false));
    const ts::Config& c = sync.config();
    ts::DiffSummary summary =
        TS_TRY(ts::write_diff_file(c.replica_path, c.working_path, c.diff_path, ts::local_diff_options(c)));
    std::string json = ts::diff_report_json(c.diff_path, summary);
    if (exit_code && summary.has_changes())
      return Outcome{TURSO_SYNC_ERROR, std::move(json), "diff: the working copy has local changes"};
    return Outcome{0, std::move(json), ""};
  });
}

int turso_sync_status(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "status", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("status", options_json, {"offline", "check", "max_age"}));
    ts::StatusOptions options;
    options.check_remote = !TS_TRY(o.boolean("offline", false));
    options.check = TS_TRY(o.boolean("check", false));
    if (auto seconds = o.number("max_age"); seconds.ok() && *seconds) {
      if (!(**seconds >= 0 && **seconds < 1e12))
        return ts::Error(ts::ErrorKind::usage, "status: option 'max_age' must be a number of seconds >= 0");
      options.max_age = std::chrono::seconds(static_cast<int64_t>(**seconds));
    } else if (std::optional<std::string> text = TS_TRY(o.text("max_age")); text) {
      auto parsed = ts::parse_max_age(*text);
      if (!parsed.ok()) return parsed.error().context("status: option 'max_age'");
      options.max_age = *parsed;
    }
    ts::StatusReport report = TS_TRY(sync.status(options));
    int code = ts::exit_code_of(report);
    std::string message;
    std::optional<ts::ErrorKind> kind;
    if (report.check) {
      if (code != 0) message = "status: check: " + report.check->reason;
      kind = report.check->kind;
    } else if (report.remote_exit_code) {
      message = "status: remote: " + report.remote_error;
      kind = report.remote_error_kind;
    } else if (report.pending_exit_code) {
      message = "status: " + report.pending_error;
      kind = report.pending_error_kind;
    }
    return Outcome{code, ts::status_report_json(report), message, kind};
  });
}

int turso_sync_reset(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "reset", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("reset", options_json, {"yes"}));
    (void)TS_TRY(o.boolean("yes", false));  // checked for its type; the C API never asks
    ts::ResetReport report = TS_TRY(sync.reset({}));
    return Outcome{0, ts::reset_report_json("reset", report), ""};
  });
}

int turso_sync_copy(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "copy", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("copy", options_json, {"force"}));
    ts::CopyOptions options;
    options.force = TS_TRY(o.boolean("force", false));
    ts::ResetReport report = TS_TRY(sync.copy(options));
    return Outcome{0, ts::reset_report_json("copy", report), ""};
  });
}

int turso_sync_log(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "log", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("log", options_json, {"number"}));
    std::optional<double> number = TS_TRY(o.number("number"));
    if (number &&
        !(*number >= 0 && *number < 1e9 && *number == static_cast<double>(static_cast<int>(*number))))
      return ts::Error(ts::ErrorKind::usage, "log: option 'number' must be an integer >= 0 (0: every entry)");
    size_t limit = number ? static_cast<size_t>(*number) : 20;
    std::vector<ts::HistoryEntry> entries = TS_TRY(sync.log(limit));
    return Outcome{0, ts::log_report_json(entries), ""};
  });
}

int turso_sync_conflicts(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "conflicts", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    (void)TS_TRY(Options::parse("conflicts", options_json, {}));
    std::vector<ts::HeldConflict> held = TS_TRY(sync.conflicts());
    return Outcome{0, ts::conflicts_report_json(held), ""};
  });
}

int turso_sync_resolve(turso_sync_handle* handle, const char* options_json, char** report_json) {
  return run_call(handle, "resolve", report_json, [&](ts::SyncContext& sync) -> ts::Result<Outcome> {
    Options o = TS_TRY(Options::parse("resolve", options_json, {"take", "table", "keys"}));
    if (!TS_TRY(o.text("take")))
      return ts::Error(ts::ErrorKind::usage,
                       "resolve: option 'take' is required: \"ours\" (push yours) or \"theirs\" (take the "
                       "remote's; yours are saved to the state dir)");
    ts::ResolveOptions options;
    options.take = TS_TRY(o.choice("take", "ours", {"ours", "theirs"})) == "theirs" ? ts::Resolution::theirs
                                                                                    : ts::Resolution::ours;
    options.table = TS_TRY(o.text("table")).value_or("");
    options.keys = TS_TRY(o.strings("keys"));
    ts::ResolveReport report = TS_TRY(sync.resolve(options));
    return Outcome{0, ts::resolve_report_json(report), ""};
  });
}

}  // extern "C"
