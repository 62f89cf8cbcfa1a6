// workflow (alias watch): background sync, one log line per cycle (one JSON object per line with --json).
#include <fmt/format.h>

#include "cli/cli.h"
#include "turso_sync/cancel.h"
#include "turso_sync/report_json.h"
#include "turso_sync/workflow.h"

namespace turso_sync::cli {

namespace {

struct WorkflowArgs {
  int interval = 0;  // seconds; 0 = configuration (TURSO_SYNC_INTERVAL, default 300)
  bool once = false;
  bool push_on_change = false;
  bool pull_on_change = false;
  std::string metrics_file;
  PullArgs pull;
};

std::string seconds(std::chrono::milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{} s", d.count() / 1000)
                               : fmt::format("{:.1f} s", d.count() / 1e3);
}

// "pulled +1 ~0 -0, pushed +2 ~1 -0", "up to date, nothing to push", "conflict: ...", "error: ...".
std::string outcome(const CycleReport& r, ConflictPolicy policy) {
  if (r.error) return "error: " + r.error->message();
  std::string out;
  if (r.pull && !r.pull->applied)
    return fmt::format(
        "conflict: {} row{} changed on both sides; nothing applied (resolve with `turso-sync "
        "pull --on-conflict=local|remote`)",
        r.pull->conflicts.size(), r.pull->conflicts.size() == 1 ? "" : "s");
  if (r.push && !r.push->conflicts.empty() && r.push->conflicts.front().local)
    return fmt::format(
        "conflict: {} row change{} would leave a reference dangling on the remote; nothing pushed "
        "(`turso-sync push` names them)",
        r.push->conflicts.size(), r.push->conflicts.size() == 1 ? "" : "s");
  if (r.push && !r.push->conflicts.empty())
    return fmt::format(
        "conflict: the remote changed {} row{} being pushed; nothing pushed (the next cycle "
        "pulls them first)",
        r.push->conflicts.size(), r.push->conflicts.size() == 1 ? "" : "s");
  if (r.pull) {
    out = r.pull->up_to_date || r.pull->taken.total() == 0 ? "up to date" : "pulled " + counts(r.pull->taken);
    if (!r.pull->conflicts.empty() && policy == ConflictPolicy::hold)
      out += fmt::format(" ({} new conflict{} held)", r.pull->conflicts.size(),
                         r.pull->conflicts.size() == 1 ? "" : "s");
    else if (!r.pull->conflicts.empty())
      out += fmt::format(" ({} conflict{} settled by policy)", r.pull->conflicts.size(),
                         r.pull->conflicts.size() == 1 ? "" : "s");
    if (!r.pull->moved.empty())
      out += fmt::format(" ({} local row{} moved to fresh ids)", r.pull->moved.size(),
                         r.pull->moved.size() == 1 ? "" : "s");
  }
  if (r.push)
    out += r.push->nothing_to_push ? ", nothing to push" : ", pushed " + counts(r.push->changes.totals);
  if (r.push && r.push->held_new > r.push->held_new_unique) {
    int64_t n = r.push->held_new - r.push->held_new_unique;
    out += fmt::format(" ({} new conflict{} held: {} would leave a reference dangling)", n, n == 1 ? "" : "s",
                       n == 1 ? "it" : "they");
  }
  if (r.push && r.push->held_new_unique > 0)
    out += fmt::format(" ({} new conflict{} held: {} a UNIQUE value a held row keeps on the remote)",
                       r.push->held_new_unique, r.push->held_new_unique == 1 ? "" : "s",
                       r.push->held_new_unique == 1 ? "it takes" : "they take");
  if (r.push && r.push->held_skipped > 0)
    out += fmt::format(" ({} held row change{} not pushed)", r.push->held_skipped,
                       r.push->held_skipped == 1 ? "" : "s");
  if (r.held > 0)
    out += fmt::format("; {} conflict{} held: `turso-sync conflicts`", r.held, r.held == 1 ? "" : "s");
  return out;
}

void print_cycle(Context& ctx, const CycleReport& r, ConflictPolicy policy) {
  if (ctx.global.json) {
    ctx.print_json(cycle_report_json(r));
    std::fflush(stdout);
    return;
  }
  std::string next;
  if (r.next_in.count() > 0)
    next = r.consecutive_failures > 0
               ? fmt::format("; {} failure{} in a row, retry in {}", r.consecutive_failures,
                             r.consecutive_failures == 1 ? "" : "s", seconds(r.next_in))
               : "; next in " + seconds(r.next_in);
  std::string line = fmt::format("{} #{} {}: {} ({}){}", r.started_at, r.number, to_string(r.trigger),
                                 outcome(r, policy), seconds(r.elapsed), next);
  if (r.error || r.exit_code == 3)
    ctx.warn(line);  // stderr, so that a log collector sees failures as such
  else
    ctx.print(line);
}

int run_workflow_command(Context& ctx, const WorkflowArgs& args) {
  auto pull = pull_options(ctx, args.pull);
  if (!pull.ok()) return ctx.fail(pull.error());
  pull->progress = nullptr;  // log lines, not a progress bar
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  WorkflowOptions options;
  int interval = args.interval > 0 ? args.interval : (*sync)->config().sync_interval_seconds;
  if (interval <= 0)
    return ctx.fail(Error(ErrorKind::config, "the workflow interval must be at least 1 second"));
  options.interval = std::chrono::seconds(interval);
  options.once = args.once;
  options.push_on_change = args.push_on_change;
  options.pull_on_change = args.pull_on_change;
  options.pull = *pull;
  options.metrics_file = args.metrics_file;
  if (!args.once)
    ctx.print(fmt::format("workflow: syncing {} with {} every {} s{}{}; Ctrl-C to stop",
                          (*sync)->config().working_path, (*sync)->config().database_url, interval,
                          args.push_on_change ? ", soon after each local change" : "",
                          args.pull_on_change ? ", as soon as the remote changes" : ""));
  // The first SIGINT/SIGTERM lets the cycle in progress finish (a push is followed by its pull, so nothing is
  // left half done); a second one cancels it; a third ends the process.
  set_graceful_stop(true);
  auto last = run_workflow(**sync, options,
                           [&](const CycleReport& r) { print_cycle(ctx, r, options.pull.on_conflict); });
  set_graceful_stop(false);
  if (!last.ok()) return ctx.fail(last.error());
  if (args.once) return last->exit_code;
  ctx.print("workflow: stopped");
  return 0;
}

}  // namespace

void register_workflow(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<WorkflowArgs>();
  auto* cmd = app.add_subcommand(
      "workflow",
      "Background sync: run `sync` (pull, then push) every --interval seconds until SIGINT/SIGTERM, one log "
      "line per cycle. After a failure it retries with exponential backoff (from 5 s, with jitter). One "
      "workflow per state dir. Other commands may run between cycles.");
  cmd->alias("watch");
  cmd->add_option("--interval", args->interval,
                  "Seconds between cycles (default: TURSO_SYNC_INTERVAL or the toml's interval, else 300)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--once", args->once, "Run one cycle and exit with its exit code (like `sync`)");
  cmd->add_flag("--push-on-change", args->push_on_change,
                "Also sync shortly after the working copy changes (once it has been quiet for 1.5 s, at the "
                "latest 10 s after the first change) instead of waiting for the interval");
  cmd->add_flag("--pull-on-change", args->pull_on_change,
                "Also sync as soon as the remote changes (within about a second): the remote's revision is "
                "asked with one small request, held by a server that long-polls, else repeated every second "
                "(`status` says which)");
  cmd->add_option("--metrics-file", args->metrics_file,
                  "After each cycle, write the workflow's counters here in the Prometheus text format "
                  "(atomically; for node_exporter's textfile collector)");
  args->pull.on_conflict = "hold";  // a service keeps syncing the other rows (docs/conflicts.md)
  add_pull_flags(cmd, args->pull);
  cmd->callback([&ctx, args] {
    if (ctx.global.all && !args->once) {
      ctx.exit_code = ctx.fail(Error(ErrorKind::usage,
                                     "workflow runs until stopped: start one per database (--db NAME), or "
                                     "use --all with --once"));
      return;
    }
    ctx.exit_code = ctx.for_each_database([&] { return run_workflow_command(ctx, *args); });
  });
}

}  // namespace turso_sync::cli
