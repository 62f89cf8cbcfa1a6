#include <fmt/format.h>

#include "cli/cli.h"

namespace turso_sync::cli {

namespace {

void add_pending(CLI::App& app, Context& ctx, const std::string& name, const std::string& help,
                 const std::string& alias = "") {
  auto* cmd = app.add_subcommand(name, help + "\n(Not available in this version yet.)");
  if (!alias.empty()) cmd->alias(alias);
  cmd->allow_extras();
  cmd->callback([&ctx, name] {
    ctx.exit_code = ctx.fail(Error(ErrorKind::usage, fmt::format("`turso-sync {}` is not available in this version "
                                                                 "yet; available: init, status, diff",
                                                                 name)));
  });
}

}  // namespace

void register_pending(CLI::App& app, Context& ctx) {
  add_pending(app, ctx, "pull", "Bring the replica up to the remote and merge its changes into the working copy.");
  add_pending(app, ctx, "push", "Apply local changes to the remote in one atomic, conflict-guarded transaction.");
  add_pending(app, ctx, "sync", "Pull, then push.");
  add_pending(app, ctx, "reset", "Make the working copy equal to the replica (discarded changes are saved).");
  add_pending(app, ctx, "copy", "Copy the replica to the working copy when that loses nothing.");
  add_pending(app, ctx, "workflow", "Background sync every --interval seconds.", "watch");
}

void register_diff(CLI::App& app, Context& ctx) {
  add_pending(app, ctx, "diff", "Write diff.sql (replica -> working copy) and print a per-table summary.");
}

}  // namespace turso_sync::cli
