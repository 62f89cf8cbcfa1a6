// The command-line program: parse, call the library, print. Each command lives in its own cmd_<name>.cpp and
// registers itself on the CLI11 app through a register_<name>() function called from main.cpp.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

#include "turso_sync/config.h"
#include "turso_sync/history.h"
#include "turso_sync/status.h"
#include "turso_sync/sync.h"
#include "util/json_writer.h"

namespace turso_sync::cli {

struct GlobalOptions {
  std::string env_file;
  std::string config_file;
  std::string db_name;
  bool all = false;
  bool json = false;
  bool quiet = false;
  bool verbose = false;
  bool no_color = false;
  std::string ca_cert;
  bool allow_insecure_http = false;
  std::string url;
  std::string replica;
  std::string working;
  std::string diff_file;
};

// What every command gets: the global options and the ways to print.
class Context {
 public:
  GlobalOptions global;
  int exit_code = 0;

  ConfigOverrides overrides() const;
  // Loads the configuration for the selected database; prints its warnings (unless --quiet/--json).
  Result<Config> load_config();

  // Human output on stdout (suppressed by --quiet and --json).
  void print(const std::string& text) const;
  // Diagnostics on stderr: warnings (suppressed by --quiet), verbose details (only with -v).
  void warn(const std::string& text) const;
  void verbose(const std::string& text) const;
  // Prints `error` (as JSON on stdout with --json, else "turso-sync: error: …" on stderr) and returns its
  // exit code.
  int fail(const Error& error) const;
  // Runs `command` once: for the selected database, or with --all for every [databases.NAME] of
  // turso-sync.toml in name order (a "== NAME" line before each; with --json one document per database).
  // Returns the exit code, with --all the highest of the databases' codes.
  int for_each_database(const std::function<int()>& command);
  // Prints a JSON document on stdout followed by a newline.
  void print_json(const JsonWriter& json) const;
  void print_json(const std::string& json) const;

  bool color() const;
  std::string bold(const std::string& s) const;
  std::string green(const std::string& s) const;
  std::string red(const std::string& s) const;
  std::string yellow(const std::string& s) const;

  // A progress line on stderr when it is a terminal (and not --quiet/--json), redrawn at most 10 times a
  // second.
  ProgressCallback progress_printer();
  void end_progress();

 private:
  bool m_progress_shown = false;
};

// Human-readable byte count ("1.2 MB").
std::string human_bytes(uint64_t bytes);
// Row counts of one direction as "+inserts ~updates -deletes".
std::string counts(const TableCounts& c);

// The configured database's SyncContext (configuration warnings printed).
Result<std::unique_ptr<SyncContext>> open_context(Context& ctx);

// The conflict options shared by pull, push, sync and workflow.
struct PullArgs {
  std::string on_conflict = "abort";
  std::string on_insert_collision = "move";
};
void add_pull_flags(CLI::App* cmd, PullArgs& args);
Result<PullOptions> pull_options(Context& ctx, const PullArgs& args);

void register_init(CLI::App& app, Context& ctx);
void register_status(CLI::App& app, Context& ctx);
void register_diff_command(CLI::App& app, Context& ctx);
void register_sync_commands(CLI::App& app, Context& ctx);  // pull, push, sync, reset, copy
void register_workflow(CLI::App& app, Context& ctx);       // workflow (alias watch)
void register_conflicts(CLI::App& app, Context& ctx);      // conflicts, resolve
void register_log(CLI::App& app, Context& ctx);            // log

// Warns when the library could not write the history line of the operation just run (never a failure).
void warn_history(Context& ctx, const SyncContext& sync);

}  // namespace turso_sync::cli
