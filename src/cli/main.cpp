// turso-sync: keeps a local SQLite working copy in sync with a Turso database. See `turso-sync --help`.
#include <csignal>
#include <cstdio>
#include <exception>

#include "cli/cli.h"
#include "turso_sync/cancel.h"

using turso_sync::cli::Context;

namespace {
// First SIGINT/SIGTERM: ask the running operation to stop cleanly; once it is cancelled, the next one ends
// the process at once. (A workflow stops gracefully: the first signal ends it after its current cycle,
// cancel.h.)
void on_signal(int sig) {
  if (turso_sync::cancel_requested()) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
  turso_sync::request_cancel();
}
}  // namespace

int main(int argc, char** argv) {
  Context ctx;
  CLI::App app{
      "turso-sync keeps a local SQLite working copy in sync with a Turso database.\n"
      "The replica (local_replica.db) is the last pulled state of the remote; the working copy\n"
      "(working_copy.db) is what the application edits. Configuration: flags > environment > .env >\n"
      "turso-sync.toml; see env.example.",
      "turso-sync"};
  app.set_version_flag("--version", "turso-sync " TURSO_SYNC_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  auto& g = ctx.global;
  app.add_option("--env-file", g.env_file, "Read configuration from this .env file instead of ./.env");
  app.add_option("--config", g.config_file, "Read this turso-sync.toml instead of ./turso-sync.toml");
  app.add_option("--db", g.db_name, "Use database NAME from turso-sync.toml ([databases.NAME])");
  app.add_flag("--all", g.all,
               "Run the command for every [databases.NAME] of turso-sync.toml, in name order (exit code: the "
               "highest of theirs)");
  app.add_option("--url", g.url, "Remote database URL (overrides TURSO_DATABASE_URL)");
  app.add_option("--replica", g.replica, "Replica path (overrides REPLICA_DB; default local_replica.db)");
  app.add_option("--working", g.working, "Working copy path (overrides WORKING_DB; default working_copy.db)");
  app.add_option("--diff-file", g.diff_file, "Diff file path (overrides DIFF_FILE; default diff.sql)");
  app.add_flag("--json", g.json, "Machine-readable output (JSON on stdout)");
  app.add_flag("-q,--quiet", g.quiet, "Print only errors");
  app.add_flag("-v,--verbose", g.verbose, "Print more details");
  app.add_flag("--no-color", g.no_color, "No colors (also: NO_COLOR environment variable)");
  app.add_option("--ca-cert", g.ca_cert, "PEM file of certificate authorities to trust (private CAs)");
  app.add_flag("--allow-insecure-http", g.allow_insecure_http,
               "Allow sending the token over plain http to a non-loopback host");

  turso_sync::cli::register_init(app, ctx);
  turso_sync::cli::register_status(app, ctx);
  turso_sync::cli::register_diff_command(app, ctx);
  turso_sync::cli::register_sync_commands(app, ctx);
  turso_sync::cli::register_workflow(app, ctx);
  turso_sync::cli::register_conflicts(app, ctx);
  turso_sync::cli::register_log(app, ctx);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "turso-sync: error: %s\nRun `turso-sync --help` for usage.\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "turso-sync: internal error: %s\n", e.what());
    return 1;
  }
  return ctx.exit_code;
}
