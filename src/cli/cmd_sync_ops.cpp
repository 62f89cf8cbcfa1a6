// pull, push, sync, reset, copy: the commands that move data between the remote, the replica and the working
// copy.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/cli.h"
#include "turso_sync/report_json.h"
#include "util/text.h"

namespace turso_sync::cli {

Result<PullOptions> pull_options(Context& ctx, const PullArgs& args) {
  PullOptions o;
  auto policy = parse_conflict_policy(args.on_conflict);
  if (!policy.ok()) return policy.error().context("--on-conflict");
  auto collision = parse_insert_collision(args.on_insert_collision);
  if (!collision.ok()) return collision.error().context("--on-insert-collision");
  o.on_conflict = *policy;
  o.on_insert_collision = *collision;
  o.progress = ctx.progress_printer();
  return o;
}

void add_pull_flags(CLI::App* cmd, PullArgs& args) {
  cmd->add_option(
      "--on-conflict", args.on_conflict,
      fmt::format("When both sides changed the same column or row: abort (apply nothing, list "
                  "conflicts, exit 3), local (keep ours; it will be pushed), remote (take theirs; "
                  "ours is saved to .turso-sync/discarded-<time>.sql), hold (apply everything "
                  "else; keep ours in the conflicting rows and hold them, never pushed, until "
                  "`turso-sync resolve`). Default: {}",
                  args.on_conflict));
  cmd->add_option(
      "--on-insert-collision", args.on_insert_collision,
      "When both sides inserted a row with the same auto-assigned integer key: move (default: our row "
      "moves to a fresh key, foreign keys follow) or conflict");
}

void warn_history(Context& ctx, const SyncContext& sync) {
  if (const auto& error = sync.history_error()) ctx.warn("warning: history not written: " + error->message());
}

Result<std::unique_ptr<SyncContext>> open_context(Context& ctx) {
  Config config = TS_TRY(ctx.load_config());
  return SyncContext::open(std::move(config));
}

namespace {

std::string key_text(const std::vector<Value>& key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) out += (i ? ", " : "") + describe(key[i]);
  return out;
}

std::string row_text(const std::vector<std::string>& columns, const std::vector<Value>& row,
                     const std::vector<int>& only) {
  if (row.empty()) return "(no row)";
  std::string out;
  auto add = [&](size_t i) {
    out += fmt::format("{}{}={}", out.empty() ? "" : ", ", columns[i], describe(row[i], 40));
  };
  if (only.empty())
    for (size_t i = 0; i < row.size() && i < columns.size(); ++i) add(i);
  else
    for (int i : only) add(static_cast<size_t>(i));
  return out;
}

// Prints a pull report; returns the exit code (3 when conflicts stopped it).
int print_pull(Context& ctx, const PullReport& r, ConflictPolicy policy) {
  for (const auto& n : r.notes) ctx.warn("note: " + n);
  for (const auto& m : r.moved) {
    std::string refs;
    for (const auto& ref : m.updated_references) refs += (refs.empty() ? " (" : ", ") + ref;
    if (!refs.empty()) refs += " updated)";
    ctx.print(fmt::format("{}: local id {} moved to {}{}", m.table, m.from, m.to, refs));
  }
  if (!r.applied) {
    std::string out = ctx.red(fmt::format("pull stopped: {} conflict{} with the remote; nothing was applied.",
                                          r.conflicts.size(), r.conflicts.size() == 1 ? "" : "s")) +
                      "\n";
    for (const auto& c : r.conflicts) {
      out += fmt::format("  {} [{}] {}\n", c.table, key_text(c.key), c.kind);
      out += fmt::format("    base:   {}\n", row_text(c.columns, c.base, c.conflicting_columns));
      out += fmt::format("    ours:   {}\n", row_text(c.columns, c.ours, c.conflicting_columns));
      out += fmt::format("    theirs: {}\n", row_text(c.columns, c.theirs, c.conflicting_columns));
    }
    out +=
        "Resolve with `turso-sync pull --on-conflict=local` (keep yours) or `--on-conflict=remote` (take "
        "theirs; "
        "yours are saved).";
    if (!ctx.global.json) std::fprintf(stderr, "%s\n", out.c_str());
    return exit_code_of(r);
  }
  // What the remote's schema changes did to the table definitions (e.g. a collation the server dropped).
  for (const auto& w : r.remote_changes.warnings)
    if (w.find(" loses ") != std::string::npos) ctx.warn("warning: " + printable(w));
  if (r.up_to_date ||
      (r.taken.total() == 0 && r.moved.empty() && r.conflicts.empty() && r.remote_changes.schema.empty())) {
    ctx.print("already up to date with the remote");
  } else {
    std::string schema;
    for (const SchemaChange& c : r.remote_changes.schema) {
      if (c.reason == SchemaReason::dependent) continue;
      schema += fmt::format("{}{} {}", schema.empty() ? " (" : ", ", to_string(c.op), printable(c.name));
    }
    if (!schema.empty()) schema += ")";
    ctx.print(
        fmt::format("{} {} inserts, {} updates, {} deletes from the remote{}{}", ctx.green("pulled:"),
                    r.taken.inserts, r.taken.updates, r.taken.deletes,
                    r.merged_rows ? fmt::format(" ({} rows merged column by column)", r.merged_rows) : "",
                    r.remote_changes.schema.empty()
                        ? ""
                        : fmt::format(", {} schema changes{}", r.remote_changes.schema.size(), schema)));
  }
  if (!r.conflicts.empty() && policy == ConflictPolicy::hold) {
    std::string rows;
    for (const auto& c : r.conflicts)
      rows += fmt::format("\n  {} [{}] {}", printable(c.table), key_text(c.key), c.kind);
    ctx.warn(ctx.yellow(fmt::format("held: {} row{} changed on both sides; your version is kept and not "
                                    "pushed until `turso-sync resolve --ours|--theirs`:",
                                    r.conflicts.size(), r.conflicts.size() == 1 ? "" : "s")) +
             rows);
  } else if (!r.conflicts.empty()) {
    ctx.print(fmt::format("{} conflict{} settled by policy", r.conflicts.size(),
                          r.conflicts.size() == 1 ? "" : "s"));
  }
  if (r.held > 0 && (policy != ConflictPolicy::hold || r.conflicts.empty()))
    ctx.warn(
        ctx.yellow(fmt::format("{} held conflict{} waiting for `turso-sync resolve` (`turso-sync "
                               "conflicts` lists them)",
                               r.held, r.held == 1 ? "" : "s")));
  if (!r.discarded_path.empty())
    ctx.print("local values overridden by the remote were saved to " + r.discarded_path);
  return 0;
}

int run_pull(Context& ctx, const PullArgs& args) {
  auto options = pull_options(ctx, args);
  if (!options.ok()) return ctx.fail(options.error());
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  auto report = (*sync)->pull(*options);
  ctx.end_progress();
  warn_history(ctx, **sync);
  if (!report.ok()) return ctx.fail(report.error());
  int code = print_pull(ctx, *report, options->on_conflict);
  if (ctx.global.json) ctx.print_json(pull_report_json(*report));
  return code;
}

struct PushArgs {
  bool force = false;
  bool dry_run = false;
  std::string table;  // with keys: push only these rows' local changes
  std::vector<std::string> keys;
  PullArgs pull;
};

int print_push(Context& ctx, const PushReport& r, bool dry_run, ConflictPolicy policy) {
  for (const std::string& row : r.refused_rows)
    ctx.warn(
        ctx.yellow(fmt::format("{}row refused: {}; it is held, not pushed, and the rest {} (`turso-sync "
                               "conflicts`, `turso-sync resolve`)",
                               dry_run ? "(dry run) " : "", row, dry_run ? "would go" : "went")));
  if (r.held_skipped > 0)
    ctx.warn(
        ctx.yellow(fmt::format("{} local change{} of held rows not pushed (`turso-sync conflicts`, "
                               "`turso-sync resolve`)",
                               r.held_skipped, r.held_skipped == 1 ? "" : "s")));
  if (r.already_applied)
    ctx.print("an earlier push whose answer was lost had landed on the remote; not sent again");
  if (!r.conflicts.empty()) {
    bool local =
        std::all_of(r.conflicts.begin(), r.conflicts.end(), [](const PushConflict& c) { return c.local; });
    std::string out =
        ctx.red(local ? "push refused: it would leave references dangling on the remote; nothing was sent."
                      : "push refused: the remote has changes you do not have; nothing was applied.") +
        "\n";
    for (const auto& c : r.conflicts) {
      std::string key;
      for (size_t i = 0; i < c.key.size(); ++i)
        key += fmt::format("{}{}={}", i ? ", " : "", i < c.key_names.size() ? c.key_names[i] : "key",
                           describe(c.key[i]));
      out += fmt::format("  {} [{}] {}: {}\n", c.table, key, c.operation, c.detail);
    }
    bool force_overrides = std::any_of(r.conflicts.begin(), r.conflicts.end(),
                                       [](const PushConflict& c) { return c.force_overrides; });
    out +=
        local
            ? "Your application writes with foreign keys off: delete or change the rows that still reference "
              "what you deleted, or write the missing parent rows (or restore the deleted ones), then push "
              "again. `workflow` (--on-conflict=hold) holds such rows instead; `push --force` does not "
              "override these."
        : force_overrides
            ? "Run `turso-sync pull` (merges their changes with yours), then push again; or `push --force` "
              "to overwrite theirs."
            : "Run `turso-sync pull` (merges their changes with yours and reports what cannot be merged), "
              "then push again; `push --force` does not override these.";
    if (!ctx.global.json) std::fprintf(stderr, "%s\n", out.c_str());
    return exit_code_of(r);
  }
  if (r.pull && !r.pull->applied) return print_pull(ctx, *r.pull, policy);
  if (r.nothing_to_push) {
    ctx.print("nothing to push: the working copy has no local changes");
    return 0;
  }
  if (dry_run) {
    if (!ctx.global.json) std::fwrite(r.dry_run_sql.data(), 1, r.dry_run_sql.size(), stdout);
    return 0;
  }
  std::string how = r.staged_parts > 0 ? fmt::format("one atomic batch (staged in {} part{})", r.staged_parts,
                                                     r.staged_parts == 1 ? "" : "s")
                                       : "one atomic batch";
  ctx.print(fmt::format("{} {} inserts, {} updates, {} deletes, {} schema changes in {}",
                        ctx.green("pushed:"), r.changes.totals.inserts, r.changes.totals.updates,
                        r.changes.totals.deletes, r.changes.schema.size(), how));
  // The pull after a push: worth a line only when it brought something beyond our own changes.
  if (r.pull && (r.pull->taken.total() > 0 || !r.pull->moved.empty() || !r.pull->conflicts.empty()))
    return print_pull(ctx, *r.pull, policy);
  return 0;
}

int run_push(Context& ctx, const PushArgs& args) {
  auto pull = pull_options(ctx, args.pull);
  if (!pull.ok()) return ctx.fail(pull.error());
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  PushOptions options;
  options.force = args.force;
  options.dry_run = args.dry_run;
  options.pull = *pull;
  options.progress = pull->progress;
  if (args.table.empty() != args.keys.empty())
    return ctx.fail(Error(ErrorKind::usage, "push: --table and --key go together"));
  if (!args.table.empty()) options.only = RowSelection{args.table, args.keys};
  auto report = (*sync)->push(options);
  ctx.end_progress();
  warn_history(ctx, **sync);
  if (!report.ok()) return ctx.fail(report.error());
  int code = print_push(ctx, *report, args.dry_run, pull->on_conflict);
  if (ctx.global.json) ctx.print_json(push_report_json(*report));
  return code;
}

int run_sync(Context& ctx, const PushArgs& args) {
  auto pull = pull_options(ctx, args.pull);
  if (!pull.ok()) return ctx.fail(pull.error());
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  SyncOptions options;
  options.force = args.force;
  options.pull = *pull;
  auto report = (*sync)->sync(options);
  ctx.end_progress();
  warn_history(ctx, **sync);
  if (!report.ok()) return ctx.fail(report.error());
  int code = print_pull(ctx, report->pull, pull->on_conflict);
  if (code == 0 && report->push) code = print_push(ctx, *report->push, false, pull->on_conflict);
  if (ctx.global.json) ctx.print_json(sync_report_json(report->pull, report->push));
  return code;
}

struct ResetArgs {
  bool yes = false;
};

int run_reset(Context& ctx, const ResetArgs& args) {
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  if (!args.yes && isatty(STDIN_FILENO) && !ctx.global.json) {
    auto changes = (*sync)->local_changes();
    if (!changes.ok()) return ctx.fail(changes.error());
    if (!changes->has_changes()) {
      ctx.print("nothing to reset: the working copy has no local changes");
      return 0;
    }
    std::fprintf(
        stderr,
        "%s\nDiscard these local changes in %s? They are saved to %s/discarded-<time>.sql first. [y/N] ",
        render_summary(*changes).c_str(), (*sync)->config().working_path.c_str(),
        (*sync)->config().state_dir.c_str());
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      ctx.print("reset cancelled; nothing was changed");
      return 1;
    }
  }
  auto report = (*sync)->reset({});
  warn_history(ctx, **sync);
  if (!report.ok()) return ctx.fail(report.error());
  if (ctx.global.json) {
    ctx.print_json(reset_report_json("reset", *report));
  } else if (report->discarded_path.empty()) {
    ctx.print("nothing to reset: the working copy has no local changes");
  } else {
    ctx.print(
        fmt::format("{} the working copy equals the replica again; {} row changes and {} schema changes were "
                    "saved to {}",
                    ctx.green("reset:"), report->discarded.totals.total(), report->discarded.schema.size(),
                    report->discarded_path));
  }
  return 0;
}

struct CopyArgs {
  bool force = false;
};

int run_copy(Context& ctx, const CopyArgs& args) {
  auto sync = open_context(ctx);
  if (!sync.ok()) return ctx.fail(sync.error());
  CopyOptions options;
  options.force = args.force;
  auto report = (*sync)->copy(options);
  warn_history(ctx, **sync);
  if (!report.ok()) return ctx.fail(report.error());
  if (ctx.global.json) {
    ctx.print_json(reset_report_json("copy", *report));
  } else {
    ctx.print(fmt::format(
        "{} {} now equals {}{}", ctx.green("copied:"), (*sync)->config().working_path,
        (*sync)->config().replica_path,
        report->discarded_path.empty() ? "" : "; discarded changes saved to " + report->discarded_path));
  }
  return 0;
}

}  // namespace

void register_sync_commands(CLI::App& app, Context& ctx) {
  auto pull_args = std::make_shared<PullArgs>();
  auto* pull =
      app.add_subcommand("pull",
                         "Bring the replica up to the remote's current state and merge the remote's changes "
                         "into the working copy, keeping local changes (three-way, per row and column).\n"
                         "Exit 3 when conflicts stop it (nothing is applied then).");
  add_pull_flags(pull, *pull_args);
  pull->callback([&ctx, pull_args] {
    ctx.exit_code = ctx.for_each_database([&] { return run_pull(ctx, *pull_args); });
  });

  auto push_args = std::make_shared<PushArgs>();
  auto* push =
      app.add_subcommand("push",
                         "Apply local changes (working copy vs replica) to the remote in one atomic, "
                         "conflict-guarded transaction, then pull.\nExit 3 when the remote changed rows "
                         "you changed: nothing is applied; run pull, then push again.");
  push->add_flag("--force", push_args->force,
                 "Local wins: overwrite the remote's versions of the changed rows");
  push->add_flag("--dry-run", push_args->dry_run, "Print the SQL batch that would be sent; send nothing");
  push->add_option("--table", push_args->table,
                   "With --key: push only these rows' local changes (and pending schema changes); a claim "
                   "of one row is a compare-and-set through the remote");
  push->add_option("--key", push_args->keys, "A key of --table's rows (\"5\", \"a,b\"); repeatable");
  add_pull_flags(push, push_args->pull);
  push->callback([&ctx, push_args] {
    ctx.exit_code = ctx.for_each_database([&] { return run_push(ctx, *push_args); });
  });

  auto sync_args = std::make_shared<PushArgs>();
  auto* sync =
      app.add_subcommand("sync", "Pull, then push: both sides in line (what `workflow` runs each cycle).");
  sync->add_flag("--force", sync_args->force, "Push with local wins");
  add_pull_flags(sync, sync_args->pull);
  sync->callback([&ctx, sync_args] {
    ctx.exit_code = ctx.for_each_database([&] { return run_sync(ctx, *sync_args); });
  });

  auto reset_args = std::make_shared<ResetArgs>();
  auto* reset =
      app.add_subcommand("reset",
                         "Make the working copy equal to the replica, in place. The discarded changes are "
                         "first saved to .turso-sync/discarded-<time>.sql. Asks on a terminal unless --yes.");
  reset->add_flag("-y,--yes", reset_args->yes, "Do not ask for confirmation");
  reset->callback([&ctx, reset_args] {
    ctx.exit_code = ctx.for_each_database([&] { return run_reset(ctx, *reset_args); });
  });

  auto copy_args = std::make_shared<CopyArgs>();
  auto* copy =
      app.add_subcommand("copy",
                         "Copy the replica to the working copy, only when the working copy does not exist or "
                         "has no local changes (unless --force; discarded changes are saved first).");
  copy->add_flag("-f,--force", copy_args->force, "Replace a working copy that has local changes");
  copy->callback([&ctx, copy_args] {
    ctx.exit_code = ctx.for_each_database([&] { return run_copy(ctx, *copy_args); });
  });
}

}  // namespace turso_sync::cli
