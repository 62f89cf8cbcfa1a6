// log: the sync history (.turso-sync/history.jsonl), newest first.
#include <fmt/format.h>

#include "cli/cli.h"
#include "turso_sync/history.h"
#include "turso_sync/report_json.h"

namespace turso_sync::cli {

namespace {

std::string render_entry(Context& ctx, const HistoryEntry& e) {
  std::string what = fmt::format("pulled {}, pushed {}", counts(e.pulled), counts(e.pushed));
  if (e.operation == "resolve") what = fmt::format("{} resolved", e.conflicts_resolved);
  if (e.conflicts_new)
    what += fmt::format(", {} new conflict{}", e.conflicts_new, e.conflicts_new == 1 ? "" : "s");
  if (e.conflicts_held) what += fmt::format(", {} held", e.conflicts_held);
  if (e.held_skipped)
    what += fmt::format(", {} held change{} not pushed", e.held_skipped, e.held_skipped == 1 ? "" : "s");
  std::string traffic = e.requests ? fmt::format(", {} req, {} up, {} down", e.requests,
                                                 human_bytes(e.bytes_up), human_bytes(e.bytes_down))
                                   : "";
  std::string result = e.result == "ok"         ? ctx.green(e.result)
                       : e.result == "conflict" ? ctx.yellow(e.result)
                                                : ctx.red(e.result);
  std::string line = fmt::format("{} {:<7} {:<18} {} (exit {}) {}{} in {} ms", e.time, e.operation, e.trigger,
                                 result, e.exit_code, what, traffic, e.duration_ms);
  if (!e.error.empty()) line += "\n    " + ctx.red(e.error);
  return line;
}

int run_log(Context& ctx, int limit) {
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  auto entries = (*sync)->log(limit > 0 ? static_cast<size_t>(limit) : 0);
  if (!entries.ok()) return ctx.fail(entries.error());
  if (ctx.global.json) {
    ctx.print_json(log_report_json(*entries));
    return 0;
  }
  if (entries->empty()) {
    ctx.print("no sync history yet (" + (*sync)->config().state_dir + "/history.jsonl)");
    return 0;
  }
  std::string out;
  for (const HistoryEntry& e : *entries) out += render_entry(ctx, e) + "\n";
  ctx.print(out);
  return 0;
}

}  // namespace

void register_log(CLI::App& app, Context& ctx) {
  auto limit = std::make_shared<int>(20);
  auto* cmd =
      app.add_subcommand("log",
                         "The sync history (.turso-sync/history.jsonl), newest first: one line per pull, "
                         "push, sync, resolve and workflow cycle, with its result and counts.");
  cmd->add_option("-n,--number", *limit, "How many entries (default 20; 0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback(
      [&ctx, limit] { ctx.exit_code = ctx.for_each_database([&] { return run_log(ctx, *limit); }); });
}

}  // namespace turso_sync::cli
