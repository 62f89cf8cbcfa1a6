// conflicts, resolve: the rows held by `--on-conflict=hold` (the default of `workflow`), listed and settled.
#include <fmt/format.h>

#include "cli/cli.h"
#include "sync/held.h"
#include "turso_sync/history.h"
#include "turso_sync/report_json.h"
#include "util/text.h"

namespace turso_sync::cli {

namespace {

std::string cell(const std::vector<Value>& row, size_t i) {
  if (row.empty()) return "(no row)";
  return i < row.size() ? describe(row[i], 40) : "?";
}

std::string render_conflicts(Context& ctx, const std::vector<HeldConflict>& held) {
  if (held.empty()) return "no held conflicts";
  std::string out = ctx.bold(fmt::format("{} held conflict{}", held.size(), held.size() == 1 ? "" : "s")) +
                    " (kept as your working copy has them; never pushed until resolved)\n";
  for (const HeldConflict& c : held) {
    std::string key;
    for (size_t i = 0; i < c.key.size(); ++i)
      key += fmt::format("{}{}={}", i ? ", " : "", i < c.key_names.size() ? c.key_names[i] : "key",
                         describe(c.key[i]));
    out += fmt::format("  {} [{}] {}, held since {}\n", printable(c.table),
                       key.empty() ? "the whole table" : key, c.kind, c.since);
    if (!c.about.empty()) out += fmt::format("    {}\n", printable(c.about));
    if (!c.theirs_changed_at.empty())
      out += fmt::format("    the remote changed it again at {}\n", c.theirs_changed_at);
    if (!c.ours_changed_at.empty())
      out += fmt::format("    the working copy changed it again at {}\n", c.ours_changed_at);
    out += fmt::format("    {:<16} {:<24} {:<24} {}\n", "column", "base", "ours", "theirs");
    for (size_t i = 0; i < c.columns.size(); ++i) {
      std::string b = cell(c.base, i), o = cell(c.ours, i), t = cell(c.theirs, i);
      bool differs = o != t;
      std::string line = fmt::format("    {:<16} {:<24} {:<24} {}", printable(c.columns[i]), b, o, t);
      out += (differs ? ctx.yellow(line) : line) + "\n";
    }
  }
  out +=
      "Settle with `turso-sync resolve --ours` (push yours) or `--theirs` (take the remote's; yours are "
      "saved), for all, `--table T` or given keys.";
  return out;
}

int run_conflicts(Context& ctx) {
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  auto held = (*sync)->conflicts();
  if (!held.ok()) return ctx.fail(held.error());
  if (ctx.global.json)
    ctx.print_json(conflicts_report_json(*held));
  else
    ctx.print(render_conflicts(ctx, *held));
  return 0;
}

struct ResolveArgs {
  bool ours = false;
  bool theirs = false;
  std::string table;
  std::vector<std::string> keys;
};

int run_resolve(Context& ctx, const ResolveArgs& args) {
  if (args.ours == args.theirs)
    return ctx.fail(Error(ErrorKind::usage, "resolve: give exactly one of --ours and --theirs"));
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  ResolveOptions options;
  options.take = args.ours ? Resolution::ours : Resolution::theirs;
  options.table = args.table;
  options.keys = args.keys;
  auto report = (*sync)->resolve(options);
  warn_history(ctx, **sync);
  if (!report.ok()) return ctx.fail(report.error());
  if (ctx.global.json) {
    ctx.print_json(resolve_report_json(*report));
    return 0;
  }
  if (report->resolved.empty()) {
    ctx.print("no held conflicts to resolve");
    return 0;
  }
  for (const ResolvedConflict& r : report->resolved) {
    std::string what = r.outcome == "ours"     ? "yours is kept; the next push sends it"
                       : r.outcome == "theirs" ? "the remote's row is now in the working copy"
                                               : "both sides already agree";
    ctx.print(fmt::format("{} {} [{}]: {}{}", ctx.green("resolved:"), printable(r.table),
                          printable(key_as_text(r.key)), what,
                          r.theirs_changed ? " (checked against the remote's newest version: it changed "
                                             "again after the row was held)"
                                           : ""));
  }
  if (report->dependents > 0)
    ctx.print(fmt::format("{} row{} that referenced a removed row took the remote's version or {} removed",
                          report->dependents, report->dependents == 1 ? "" : "s",
                          report->dependents == 1 ? "was" : "were"));
  if (!report->discarded_path.empty()) ctx.print("your versions were saved to " + report->discarded_path);
  if (report->still_held > 0)
    ctx.print(fmt::format("{} conflict{} still held (`turso-sync conflicts`)", report->still_held,
                          report->still_held == 1 ? "" : "s"));
  return 0;
}

}  // namespace

void register_conflicts(CLI::App& app, Context& ctx) {
  auto* list = app.add_subcommand(
      "conflicts",
      "List the held conflicts (rows changed on both sides that `--on-conflict=hold`, the default of "
      "`workflow`, keeps as the working copy has them): table, key, base/ours/theirs per column, since "
      "when.");
  list->callback([&ctx] { ctx.exit_code = ctx.for_each_database([&] { return run_conflicts(ctx); }); });

  auto args = std::make_shared<ResolveArgs>();
  auto* resolve = app.add_subcommand(
      "resolve",
      "Settle held conflicts: --ours (your row is what the next push sends, guarded against the remote's) or "
      "--theirs (the remote's newest row is written into the working copy; yours is saved to "
      ".turso-sync/discarded-<time>.sql). All of them, one --table, or the given KEYs (composite keys as "
      "a,b). To merge by hand: write the merged row into the working copy, then `resolve --ours`.");
  resolve->add_flag("--ours", args->ours, "Keep the working copy's version");
  resolve->add_flag("--theirs", args->theirs, "Take the remote's version");
  resolve->add_option("--table", args->table, "Only the conflicts of this table");
  resolve->add_option("keys", args->keys, "Only these keys (with --table when several tables are held)");
  resolve->callback(
      [&ctx, args] { ctx.exit_code = ctx.for_each_database([&] { return run_resolve(ctx, *args); }); });
}

}  // namespace turso_sync::cli
