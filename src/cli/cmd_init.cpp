#include <fmt/format.h>

#include "cli/cli.h"
#include "turso_sync/report_json.h"

namespace turso_sync::cli {

namespace {

struct InitArgs {
  bool force = false;
  std::string from;
};

int run_init(Context& ctx, const InitArgs& args) {
  auto config = ctx.load_config();
  if (!config.ok()) return ctx.fail(config.error());
  auto sync = SyncContext::open(*config);
  if (!sync.ok()) return ctx.fail(sync.error());
  InitOptions options;
  options.force = args.force;
  options.from = args.from;
  options.progress = ctx.progress_printer();
  auto report = (*sync)->init(options);
  ctx.end_progress();
  warn_history(ctx, **sync);
  if (!report.ok()) return ctx.fail(report.error());
  for (const auto& w : report->warnings) ctx.warn("warning: " + w);
  if (ctx.global.json) {
    ctx.print_json(init_report_json(*config, *report));
  } else {
    if (const auto& p = report->published) {
      if (p->already_published)
        ctx.print(fmt::format("{} {} was already published (an earlier run committed it)",
                              ctx.green("published:"), args.from));
      else
        ctx.print(fmt::format(
            "{} {}: {} tables, {} rows, {} indexes/views/triggers in one transaction ({} parts{})",
            ctx.green("published:"), args.from, p->tables, p->rows, p->other_objects, p->parts,
            p->parts_sent < p->parts
                ? fmt::format(", {} sent before an interruption", p->parts - p->parts_sent)
                : ""));
    }
    ctx.print(
        fmt::format("{} {} tables, {} rows, {} indexes/views/triggers from {} ({} in {} requests, {:.1f} s)",
                    ctx.green("initialized:"), report->tables, report->rows, report->other_objects,
                    config->database_url, human_bytes(report->bytes_received), report->requests,
                    static_cast<double>(report->elapsed.count()) / 1000.0));
    ctx.print(fmt::format("  replica       {}", config->replica_path));
    ctx.print(fmt::format("  working copy  {}{}", config->working_path,
                          report->working_copy_replaced ? " (replaced)" : " (created)"));
    if (!report->discarded_path.empty())
      ctx.print(fmt::format("  its local changes were saved to {}", report->discarded_path));
  }
  return 0;
}

}  // namespace

void register_init(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<InitArgs>();
  auto* cmd = app.add_subcommand(
      "init",
      "Download the remote into the replica and create the working copy from it.\n"
      "Refuses (exit 2) when the working copy already exists, unless --force.\n"
      "With --from FILE (migration from plain SQLite): first publish FILE into the remote, which must be\n"
      "empty, as one transaction (resumable: run it again after an interruption).");
  cmd->add_flag("-f,--force", args->force,
                "Replace an existing working copy with the remote's content (local changes are lost)");
  cmd->add_option(
         "--from", args->from,
         "Publish this SQLite database (schema, rows, AUTOINCREMENT counters, user_version) into the "
         "empty remote first; FILE may be the working copy itself")
      ->check(CLI::ExistingFile);
  cmd->callback(
      [&ctx, args] { ctx.exit_code = ctx.for_each_database([&] { return run_init(ctx, *args); }); });
}

}  // namespace turso_sync::cli
