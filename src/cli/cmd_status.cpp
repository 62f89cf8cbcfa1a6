#include <fmt/format.h>

#include <chrono>
#include <optional>
#include <utility>

#include "cli/cli.h"
#include "turso_sync/report_json.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync::cli {

namespace {

struct StatusArgs {
  bool offline = false;
  bool check = false;
  std::string max_age;  // "90", "15m", "2h", "1d"
};

std::string source_note(const StatusReport& r, const std::string& var) {
  auto it = r.sources.find(var);
  return it == r.sources.end() ? "" : fmt::format("  ({})", it->second);
}

std::string describe_file(const FileInfo& f) {
  if (!f.exists) return fmt::format("{}  (missing)", f.path);
  std::string s = fmt::format("{}  {}", f.path, human_bytes(f.size));
  if (f.wal_size) s += fmt::format(" + {} WAL", human_bytes(f.wal_size));
  return s;
}

int run_status(Context& ctx, const StatusArgs& args) {
  auto config = ctx.load_config();
  if (!config.ok()) return ctx.fail(config.error());
  auto sync = SyncContext::open(*config);
  if (!sync.ok()) return ctx.fail(sync.error());
  StatusOptions options;
  options.check_remote = !args.offline;
  options.progress = ctx.progress_printer();
  options.check = args.check;
  if (!args.max_age.empty()) {
    auto max_age = parse_max_age(args.max_age);
    if (!max_age.ok()) return ctx.fail(max_age.error().context("--max-age"));
    options.max_age = *max_age;
  }
  auto report = (*sync)->status(options);
  ctx.end_progress();
  if (!report.ok()) return ctx.fail(report.error());
  const StatusReport& r = *report;
  int exit_code = exit_code_of(r);
  if (ctx.global.json) {
    ctx.print_json(status_report_json(r));
    return exit_code;
  }
  std::string out;
  out += ctx.bold("Configuration") + "\n";
  out += fmt::format("  database URL   {}{}\n",
                     r.database_url.empty() ? "(not set: run ./setup-turso.sh or set "
                                              "TURSO_DATABASE_URL)"
                                            : r.database_url,
                     source_note(r, "TURSO_DATABASE_URL"));
  if (!r.remote_http_url.empty()) out += fmt::format("  endpoint       {}\n", r.remote_http_url);
  out += fmt::format("  auth token     {}{}\n", r.token_masked, source_note(r, "TURSO_AUTH_TOKEN"));
  if (!r.config_files.empty()) {
    std::string files;
    for (const auto& f : r.config_files) files += (files.empty() ? "" : ", ") + f;
    out += fmt::format("  read from      {}\n", files);
  }
  out += ctx.bold("Files") + "\n";
  out += fmt::format("  replica        {}\n", describe_file(r.replica));
  out += fmt::format("  working copy   {}\n", describe_file(r.working_copy));
  out += fmt::format("  state dir      {}\n", r.state_dir);
  out += ctx.bold("Sync") + "\n";
  if (!r.initialized) out += "  not initialized: run `turso-sync init`\n";
  out += fmt::format("  pull path      {}\n", r.protocol.empty() ? "-" : r.protocol);
  if (!r.pull_path_reason.empty()) out += fmt::format("  why            {}\n", r.pull_path_reason);
  if (!r.remote_revision.empty()) out += fmt::format("  revision       {}\n", r.remote_revision);
  out += fmt::format("  last pull      {}\n", r.last_pull_at.empty() ? "never" : r.last_pull_at);
  out += fmt::format("  last push      {}\n", r.last_push_at.empty() ? "never" : r.last_push_at);
  if (r.workflow_pid != 0)
    out += fmt::format("  workflow       running{}\n",
                       r.workflow_pid > 0 ? fmt::format(" (pid {})", r.workflow_pid) : std::string());
  else
    out += "  workflow       not running\n";
  const HealthReport& h = r.health;
  if (h.held_conflicts > 0)
    out += ctx.red(ctx.bold(fmt::format("  HELD CONFLICTS {}: rows changed on both sides, kept as yours and "
                                        "not pushed; `turso-sync conflicts`, then `turso-sync resolve`",
                                        h.held_conflicts))) +
           "\n";
  else
    out += "  held conflicts 0\n";
  out += fmt::format("  last success   {}\n", h.last_success_at.empty() ? "never" : h.last_success_at);
  if (h.last_sync_conflict)
    out +=
        ctx.yellow(fmt::format("  last {:<10}{} stopped on {} conflict{}\n", h.last_sync_operation,
                               h.last_sync_at, h.last_sync_conflicts, h.last_sync_conflicts == 1 ? "" : "s"));
  if (!h.last_error.empty())
    out += fmt::format("  last error     {} {}\n", h.last_error_at, ctx.red(h.last_error));
  if (!h.last_cycle_at.empty()) {
    out += fmt::format("  last cycle     {} ({})\n", h.last_cycle_at, h.last_cycle_result);
    if (!h.next_cycle_at.empty() && r.workflow_pid != 0)
      out += fmt::format("  next cycle     {}\n", h.next_cycle_at);
    if (h.consecutive_failures > 0)
      out += ctx.red(fmt::format("  failures       {} cycle{} in a row\n", h.consecutive_failures,
                                 h.consecutive_failures == 1 ? "" : "s"));
  }
  if (!h.recent.empty()) {
    out += ctx.bold("Recent operations") + " (`turso-sync log`)\n";
    for (const HistoryEntry& e : h.recent)
      out += fmt::format("  {} {:<7} {:<18} {:<8} pulled {} pushed {}{}\n", e.time, e.operation, e.trigger,
                         e.result, e.pulled.total(), e.pushed.total(),
                         e.conflicts_held ? fmt::format(", {} held", e.conflicts_held) : "");
  }
  if (!r.health_error.empty()) out += ctx.yellow("warning: ") + r.health_error + "\n";
  if (r.pending) {
    out += ctx.bold("Local changes (not pushed)") + "\n";
    if (!r.pending->has_changes()) {
      out += "  none\n";
    } else {
      for (const auto& t : r.pending->tables)
        out += fmt::format("  {:<14} +{} ~{} -{}{}\n", t.name, t.counts.inserts, t.counts.updates,
                           t.counts.deletes, t.schema_ops.empty() ? "" : " (schema changed)");
    }
  } else if (!r.pending_error.empty()) {
    out += fmt::format("  local changes: cannot compute: {}\n", r.pending_error);
  }
  if (r.pending && !r.pending->local_objects.empty()) {
    out += ctx.bold("Stays local") + " (never pushed or pulled)\n";
    for (const LocalObject& o : r.pending->local_objects)
      out += fmt::format("  {:<7} {:<20} {}\n", o.type, o.name, o.why);
  }
  if (r.remote_checked) {
    out += ctx.bold("Remote") + "\n";
    if (r.remote_reachable) {
      out += fmt::format("  reachable      {} (round trip {:.1f} ms)\n", ctx.green("yes"), r.round_trip_ms);
      if (!r.remote_follow.empty())
        out += fmt::format("  changes        {}\n",
                           r.remote_follow == "long-poll"
                               ? "the server long-polls: `workflow --pull-on-change` waits for them"
                               : "the server answers at once: `workflow --pull-on-change` asks every second");
    } else {
      out += fmt::format("  reachable      {}: {}\n", ctx.red("no"), r.remote_error);
    }
    if (!r.remote_error_detail.empty() && ctx.global.verbose)
      out += fmt::format("  detail         {}\n", r.remote_error_detail);
  }
  for (const auto& x : r.warnings) out += ctx.yellow("warning: ") + x + "\n";
  if (r.check) out += fmt::format("check: {} (exit {})\n", r.check->reason, r.check->exit_code);
  ctx.print(out);
  if (r.check && r.check->exit_code != 0 && (ctx.global.quiet || ctx.global.json))
    ctx.warn("turso-sync: check: " + r.check->reason);
  else if (!args.check && r.pending_exit_code != 0)
    ctx.warn("turso-sync: error: " + r.pending_error);
  return exit_code;
}

}  // namespace

void register_status(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<StatusArgs>();
  auto* cmd = app.add_subcommand("status",
                                 "Show configuration (token masked), files, last pull/push, whether a "
                                 "workflow runs, and whether the remote is "
                                 "reachable.\nExit 4 when the remote is unreachable or rejects the token.");
  cmd->add_flag("--offline", args->offline, "Do not contact the remote");
  cmd->add_flag(
      "--check", args->check,
      "Health check for cron, systemd and containers: exit 4 remote unreachable, 5 the last sync or "
      "workflow cycle failed, 3 it stopped on a conflict or conflicts are held, 6 no successful sync "
      "within --max-age (the first that applies), else 0");
  cmd->add_option(
      "--max-age", args->max_age,
      "With --check: the last successful sync must be at most this old (seconds, or 15m, 2h, 1d)");
  cmd->callback(
      [&ctx, args] { ctx.exit_code = ctx.for_each_database([&] { return run_status(ctx, *args); }); });
}

}  // namespace turso_sync::cli
