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
    ctx.exit_code = ctx.fail(Error(
        ErrorKind::usage, fmt::format("`turso-sync {}` is not available in this version "
                                      "yet; available: init, status, diff, pull, push, sync, reset, copy",
                                      name)));
  });
}

}  // namespace

void register_pending(CLI::App& app, Context& ctx) {
  add_pending(app, ctx, "workflow", "Background sync every --interval seconds.", "watch");
}

}  // namespace turso_sync::cli
