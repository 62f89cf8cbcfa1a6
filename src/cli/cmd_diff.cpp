// `turso-sync diff`: write the diff file (replica -> working copy) and print a per-table summary.
#include <fmt/format.h>

#include <cstdio>

#include "cli/cli.h"
#include "turso_sync/diff.h"
#include "turso_sync/report_json.h"
#include "turso_sync/sync.h"

namespace turso_sync::cli {

namespace {

struct DiffArgs {
  bool sql = false;
  bool stat = false;
  bool exit_code = false;
};

int run_diff(Context& ctx, const DiffArgs& args) {
  auto config = ctx.load_config();
  if (!config.ok()) return ctx.fail(config.error());
  DiffSummary summary;
  DiffOptions options;
  options.local_tables = config->local_tables;
  if (args.sql) {
    // SQL on stdout instead of the diff file.
    auto inputs = check_diff_inputs(config->replica_path, config->working_path);
    if (!inputs.ok()) return ctx.fail(inputs.error());
    Result<DiffSummary> r = Error(ErrorKind::internal, "diff: not run");
    {
      SqlWriter writer(stdout,
                       fmt::format("turso-sync diff: {} -> {}", config->replica_path, config->working_path));
      r = diff_databases(config->replica_path, config->working_path, writer, options);
    }
    if (!r.ok()) return ctx.fail(explain_damaged_files(*config, r.error()));
    summary = std::move(r).value();
  } else {
    auto r = write_diff_file(config->replica_path, config->working_path, config->diff_path, options);
    if (!r.ok()) return ctx.fail(explain_damaged_files(*config, r.error()));
    summary = std::move(r).value();
    if (ctx.global.json) {
      ctx.print_json(diff_report_json(config->diff_path, summary));
    } else {
      ctx.print(args.stat ? render_stat(summary) : render_summary(summary));
      ctx.print(fmt::format("wrote {}", config->diff_path));
    }
  }
  // The summary lists the warnings itself; the other outputs leave them to stderr.
  if ((args.sql || args.stat) && !ctx.global.json)
    for (const std::string& w : summary.warnings) ctx.warn("warning: " + w);
  return args.exit_code && summary.has_changes() ? 1 : 0;
}

}  // namespace

// Registers `diff` (called from main.cpp).
void register_diff_command(CLI::App& app, Context& ctx) {
  auto args = std::make_shared<DiffArgs>();
  auto* cmd =
      app.add_subcommand("diff",
                         "Write the diff file (diff.sql: SQL that turns the replica into the working copy)\n"
                         "and print a per-table summary of inserts, updates, deletes and schema changes.\n"
                         "Needs only the two local files.");
  cmd->add_flag("--sql", args->sql, "Print the SQL on stdout instead of writing the diff file");
  cmd->add_flag("--stat", args->stat, "Print a compact per-table count instead of the summary");
  cmd->add_flag("--exit-code", args->exit_code, "Exit with 1 when there are changes (for CI)");
  cmd->callback(
      [&ctx, args] { ctx.exit_code = ctx.for_each_database([&] { return run_diff(ctx, *args); }); });
}

}  // namespace turso_sync::cli
