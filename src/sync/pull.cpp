// pull, reset, copy and crash recovery: everything that moves the replica or rewrites the working copy from
// it. Invariant: the replica is the base of the working copy. The replica only moves together with
// a merge of the same delta into the working copy; a marker in the state dir makes the pair redoable after a
// crash.
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>

#include "db/file_reader.h"
#include "db/sqlite.h"
#include "merge/merge.h"
#include "sync/discarded.h"
#include "sync/held.h"
#include "sync/local_objects.h"
#include "sync/page_pull.h"
#include "sync/pending_push.h"
#include "sync/remote_identity.h"
#include "sync/remote_lineage.h"
#include "sync/replica_fetch.h"
#include "sync/replica_spare.h"
#include "sync/snapshot.h"
#include "sync/state.h"
#include "turso_sync/sync.h"
#include "util/crash_point.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

namespace {

std::string pull_marker(const Config& c) {
  return c.state_dir + "/pull.pending";
}

// Diff of two local files, collected (a pull's delta); rows past the collector's budget are spilled to
// temporary files in `spill_dir`.
Result<std::pair<DiffSummary, Changeset>> collect_diff(const std::string& base, const std::string& target,
                                                       const std::string& spill_dir,
                                                       const DiffOptions& options) {
  ChangesetCollector collector(spill_dir);
  DiffSummary summary = TS_TRY(diff_databases(base, target, collector, options));
  return std::make_pair(std::move(summary), collector.take());
}

}  // namespace

Status SyncContext::require_initialized() const {
  if (!file_exists(m_config.replica_path))
    return Error(ErrorKind::refused, fmt::format("replica {} does not exist: run `turso-sync init` first",
                                                 m_config.replica_path));
  if (!file_exists(m_config.working_path))
    return Error(ErrorKind::refused, fmt::format("working copy {} does not exist: run `turso-sync init` (or "
                                                 "`turso-sync copy`) first",
                                                 m_config.working_path));
  return {};
}

// Saves SQL that restores discarded local changes as <state dir>/discarded-<time>.sql (mode 0600).
static Result<std::string> new_discarded_path(const Config& c) {
  TS_TRY_STATUS(make_dirs(c.state_dir));
  std::string path = fmt::format("{}/discarded-{}.sql", c.state_dir, utc_timestamp_for_file());
  for (int i = 2; file_exists(path); ++i)
    path = fmt::format("{}/discarded-{}-{}.sql", c.state_dir, utc_timestamp_for_file(), i);
  return path;
}

Result<std::string> save_discarded(const Config& c, const std::string& sql) {
  std::string path = TS_TRY(new_discarded_path(c));
  TS_TRY_STATUS(atomic_write_file(path, sql, 0600));
  return path;
}

Result<std::string> save_discarded_changes(const Config& c, const std::string& base,
                                           const std::string& target, const std::string& title) {
  std::string path = TS_TRY(new_discarded_path(c));
  TS_TRY_STATUS(write_sql_script(path, title, [&](ChangeSink& sink) -> Status {
    TS_TRY(diff_databases(base, target, sink, local_diff_options(c)));
    return {};
  }));
  return path;
}

// Applies the delta replica -> new_replica to the working copy and, when applied, makes new_replica the
// replica. Called with the lock held, both for a fresh pull and to redo an interrupted one (the merge is
// idempotent: rows already merged compare equal to theirs). `redo`: finishing an interrupted pull, whose
// merge may already be committed: on error the marker must stay.
// `changed_pages`: where new_replica differs from the replica, when known (the old replica is then kept as
// the spare of the next incremental pull, replica_spare.h).
// `before_merge` (may be empty) runs once the delta is known, before anything is written: its error stops the
// pull with nothing changed.
static Result<PullReport> merge_and_swap(const Config& c, const std::string& new_replica,
                                         const PullOptions& options, bool redo,
                                         const std::optional<std::vector<uint32_t>>& changed_pages,
                                         const std::function<Status()>& before_merge = {}) {
  PullReport report;
  // The pages the pull wrote are the only ones that differ: the delta reads only those (and interior pages).
  std::vector<uint32_t> page_numbers;
  // A remote object named like one of the working copy's local objects is left alone (sync/local_objects.h).
  DiffOptions diff_options = TS_TRY(delta_diff_options(c));
  if (changed_pages) {
    for (uint32_t id : *changed_pages) page_numbers.push_back(id + 1);
    diff_options.changed_pages = &page_numbers;
  }
  auto [summary, delta] = TS_TRY(collect_diff(c.replica_path, new_replica, c.state_dir, diff_options));
  if (before_merge) TS_TRY_STATUS(before_merge());
  report.remote_changes = std::move(summary);
  if (delta.empty()) {
    report.held = static_cast<int64_t>(TS_TRY(load_held(c.state_dir)).size());
    report.up_to_date = true;
    report.applied = true;
    // Keeps the newest remote revision's file.
    TS_TRY_STATUS(swap_in_replica(c.state_dir, new_replica, c.replica_path, changed_pages));
    return report;
  }
  TS_TRY_STATUS(atomic_write_file(pull_marker(c),
                                  fmt::format("{}\n{}\n{}\n", new_replica, to_string(options.on_conflict),
                                              to_string(options.on_insert_collision)),
                                  0600));
  db::Database working = TS_TRY(db::Database::open(c.working_path, db::OpenMode::read_write));
  MergeOptions merge_options;
  merge_options.on_conflict = options.on_conflict;
  merge_options.on_insert_collision = options.on_insert_collision;
  merge_options.theirs_path = new_replica;
  merge_options.base_path = c.replica_path;
  merge_options.pushed = options.pushed;
  merge_options.redo = redo;
  // Held rows (sync/held.h) stay as they are; the merge lists them so that their record follows theirs.
  // First brought up to date with the files: a hold whose two sides became equal (reset, init --force, the
  // application wrote theirs) is lifted, so the remote's later changes to that row are merged again.
  std::vector<HeldConflict> held = TS_TRY(load_held(c.state_dir));
  if (TS_TRY(refresh_held(c, held))) TS_TRY_STATUS(save_held(c.state_dir, held));
  merge_options.is_held = [&held](const std::string& table, const std::vector<Value>& key) {
    return is_held(held, table, key);
  };
  // The discarded values and the held conflicts are saved durably before the working copy commits: a crash
  // in between loses nothing (the marker redoes the merge, which finds the same rows held).
  merge_options.before_commit = [&](const MergeReport& pending) -> Status {
    // The full-text indexes of the rows the merge wrote follow them (its triggers were set aside).
    TS_TRY(follow_local_indexes(working, delta));
    if (!pending.discarded_sql.empty())
      report.discarded_path = TS_TRY(save_discarded(c, pending.discarded_sql));
    std::vector<HeldConflict> next = held;
    if (fold_merge_into_held(next, pending, delta, options.on_conflict))
      TS_TRY_STATUS(save_held(c.state_dir, next));
    report.held = static_cast<int64_t>(next.size());
    crash_point("pull.held-saved");
    return {};
  };
  auto merge_result = merge_into_working_copy(working, delta, merge_options);
  if (!merge_result.ok()) {
    // The merge rolled back: the working copy is unchanged, so a fresh pull leaves nothing to redo.
    if (!redo) {
      ::unlink(new_replica.c_str());
      ::unlink(pull_marker(c).c_str());
    }
    return std::move(merge_result).error();
  }
  MergeReport merged = std::move(merge_result).value();
  if (merged.applied) crash_point("pull.working-committed");
  report.applied = merged.applied;
  report.conflicts = std::move(merged.conflicts);
  report.moved = std::move(merged.moved);
  report.taken = merged.taken;
  report.merged_rows = merged.merged_columns;
  if (!merged.applied) {
    ::unlink(new_replica.c_str());
    ::unlink(pull_marker(c).c_str());
    return report;
  }
  TS_TRY_STATUS(swap_in_replica(c.state_dir, new_replica, c.replica_path, changed_pages));
  crash_point("pull.replica-swapped");
  ::unlink(pull_marker(c).c_str());
  return report;
}

// Removes the temp files of killed runs beside the replica and the working copy and in the state dir (a new
// replica, a new working copy, a state file or discarded file being written), keeping the new replica an
// interrupted pull's marker names: recover() finishes that pull with it.
static void remove_temp_files_of_killed_runs(const Config& c) {
  std::string keep;
  if (auto marker = read_file(pull_marker(c)); marker.ok()) keep = marker->substr(0, marker->find('\n'));
  remove_stale_temp_files(c.replica_path, keep);
  remove_stale_temp_files(c.working_path, keep);
  remove_stale_temp_files_in(c.state_dir, keep);
}

// Redoes the pull a killed run left half done (its marker in the state dir), if any.
static Status finish_interrupted_pull(const Config& c, std::vector<std::string>& notes) {
  if (!file_exists(pull_marker(c))) return {};
  std::string marker = TS_TRY(read_file(pull_marker(c)));
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < marker.size();) {
    auto nl = marker.find('\n', pos);
    lines.push_back(marker.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    pos = nl == std::string::npos ? marker.size() : nl + 1;
  }
  if (lines.size() < 3 || !file_exists(lines[0])) {
    ::unlink(pull_marker(c).c_str());
    return {};
  }
  PullOptions options;
  // Written by this library; another word means the marker was damaged or edited: say so, never guess.
  auto policy = parse_conflict_policy(lines[1]);
  if (!policy.ok()) return policy.error().context("finish an interrupted pull: " + pull_marker(c));
  auto collision = parse_insert_collision(lines[2]);
  if (!collision.ok()) return collision.error().context("finish an interrupted pull: " + pull_marker(c));
  options.on_conflict = *policy;
  options.on_insert_collision = *collision;
  // The interrupted pull may be the one that ends a push (only a push that committed leaves its marker
  // beside a pull's): the pushed values stay the push's own.
  std::optional<Changeset> sent;
  if (file_exists(push_marker(c))) sent = load_pending_push(c, notes);
  if (sent) options.pushed = &*sent;
  auto redone = merge_and_swap(c, lines[0], options, /*redo=*/true, std::nullopt);
  if (!redone.ok()) return redone.error().context("finish an interrupted pull");
  notes.push_back(redone->applied ? "finished an interrupted pull"
                                  : "an interrupted pull had conflicts; it was dropped (run pull again)");
  return {};
}

Status SyncContext::recover(std::vector<std::string>& notes) {
  TS_TRY_STATUS(finish_interrupted_pull(m_config, notes));
  remove_temp_files_of_killed_runs(m_config);
  return {};
}

Result<PullReport> SyncContext::pull_locked(const PullOptions& options) {
  const Config& c = m_config;
  RemoteClient* client = TS_TRY(remote(options.progress));
  std::string new_replica = fmt::format("{}.tmp-{}", c.replica_path, ::getpid());
  auto state = TS_TRY(load_state(c.state_dir));
  // Changes are merged only into a replica of the same remote (sync/remote_identity.h). That check is one
  // more request: it runs on a second connection while the pages are asked for (when nothing is new, its
  // answer is not needed).
  std::unique_ptr<RemoteClient> second;
  std::future<Result<std::string>> identity;
  auto check_identity_meanwhile = [&]() {
    if (identity.valid() || !(second = client->another())) return;
    identity =
        std::async(std::launch::async, [&c, remote = second.get()] { return check_same_remote(*remote, c); });
  };
  auto snapshot = fetch_replica(*client, c, state, FetchMode::incremental, new_replica, /*describe=*/false,
                                options.progress, {}, check_identity_meanwhile, /*sync_incremental=*/false);
  // The identity check's answer is awaited only where it is needed (the local server answers it after the
  // pages): before the merge, once the delta is known.
  Result<std::string> newest_receipt = std::string();
  auto await_identity = [&]() {
    if (identity.valid()) newest_receipt = identity.get();
    if (second) client->add_traffic(second->stats());
    second.reset();
  };
  if (!snapshot.ok()) {
    await_identity();
    return snapshot.error().context(fmt::format("pull from {}", client->endpoint().base_url));
  }
  if (!snapshot->up_to_date) crash_point("pull.replica-fetched");
  if (snapshot->up_to_date) {
    await_identity();
    // Nothing changed on the remote: no file is rewritten, the working copy is untouched.
    PullReport report;
    report.up_to_date = true;
    report.applied = true;
    report.bytes_received = snapshot->bytes_received;
    report.requests = snapshot->requests;
    report.protocol = snapshot->protocol;
    report.protocol_reason = snapshot->reason;
    TS_TRY_STATUS(record_pull(c.state_dir, c.database_url, pull_record(c, *snapshot)));
    return report;
  }
  // The new image is made durable while the delta is read (it must be before the pull's marker names it).
  std::future<Status> synced;
  if (!snapshot->synced)
    synced = std::async(std::launch::async, [&new_replica] { return db::sync_database_file(new_replica); });
  // Changes are merged only if the remote is the database the replica came from (sync/remote_identity.h).
  // Both are known before the merge.
  bool asked = identity.valid();
  auto ready_to_merge = [&]() -> Status {
    if (synced.valid()) TS_TRY_STATUS(synced.get());
    await_identity();
    if (!asked) newest_receipt = check_same_remote(*client, c);
    if (!newest_receipt.ok()) return newest_receipt.error();
    return {};
  };
  // No receipt to tell the remote by, and no page history that continues the replica's: the content must.
  if (state && state->remote_receipt.empty() && !snapshot->incremental) {
    auto lineage =
        check_remote_lineage(c, new_replica, state->protocol == "pages" && snapshot->protocol == "pages");
    if (!lineage.ok()) {
      ::unlink(new_replica.c_str());
      return lineage.error().context("pull");
    }
  }
  auto report =
      merge_and_swap(c, new_replica, options, /*redo=*/false, snapshot->changed_pages, ready_to_merge);
  if (!report.ok()) {
    if (!file_exists(pull_marker(c))) ::unlink(new_replica.c_str());
    return report.error().context("pull");
  }
  report->bytes_received = snapshot->bytes_received;
  report->requests = snapshot->requests;
  report->protocol = snapshot->protocol;
  report->protocol_reason = snapshot->reason;
  report->pages_received = snapshot->pages_received;
  if (report->applied) {
    PullRecord record = pull_record(c, *snapshot);
    if (!newest_receipt->empty()) record.receipt = *newest_receipt;
    TS_TRY_STATUS(record_pull(c.state_dir, c.database_url, record));
  }
  return report;
}

Result<PullReport> SyncContext::pull_files(const PullOptions& options) {
  TS_TRY_STATUS(require_initialized());
  StateLock lock = TS_TRY(StateLock::acquire(m_config.state_dir));
  std::vector<std::string> notes;
  TS_TRY_STATUS(recover(notes));
  // A push that committed but never ran its own pull (killed, or its answer lost): this pull does it.
  std::optional<Changeset> sent;
  bool pending = TS_TRY(settle_pending_push(m_config, *TS_TRY(remote(options.progress)), sent, notes));
  PullOptions effective = options;
  if (sent) effective.pushed = &*sent;
  auto report = TS_TRY(pull_locked(effective));
  if (pending && report.applied) clear_pending_push(m_config);
  report.notes.insert(report.notes.begin(), notes.begin(), notes.end());
  return report;
}

Result<DiffSummary> SyncContext::local_changes() {
  TS_TRY_STATUS(require_initialized());
  NullSink sink;
  auto changes =
      diff_databases(m_config.replica_path, m_config.working_path, sink, local_diff_options(m_config));
  if (!changes.ok()) return explain_damaged_files(m_config, std::move(changes).error());
  return changes;
}

Result<ResetReport> SyncContext::reset_files(const ResetOptions&) {
  TS_TRY_STATUS(require_initialized());
  const Config& c = m_config;
  StateLock lock = TS_TRY(StateLock::acquire(c.state_dir));
  std::vector<std::string> notes;
  TS_TRY_STATUS(recover(notes));
  ResetReport report;
  NullSink sink;
  report.discarded = TS_TRY(diff_databases(c.replica_path, c.working_path, sink));
  if (!report.discarded.has_changes()) return report;
  report.discarded_path = TS_TRY(save_discarded_changes(
      c, c.replica_path, c.working_path,
      fmt::format("local changes discarded by `turso-sync reset` at {}; run this on the working copy to "
                  "restore them",
                  utc_timestamp())));
  db::Database working = TS_TRY(db::Database::open(c.working_path, db::OpenMode::read_write));
  TS_TRY_STATUS(copy_replica_into(c.replica_path, working));
  return report;
}

Result<ResetReport> SyncContext::copy_files(const CopyOptions& options) {
  const Config& c = m_config;
  if (!file_exists(c.replica_path))
    return Error(ErrorKind::refused,
                 fmt::format("replica {} does not exist: run `turso-sync init` first", c.replica_path));
  StateLock lock = TS_TRY(StateLock::acquire(c.state_dir));
  // An interrupted pull is finished first: its merge may be in the working copy already, and must not be
  // taken for local changes.
  std::vector<std::string> notes;
  if (file_exists(c.working_path)) {
    TS_TRY_STATUS(recover(notes));
  } else {
    remove_temp_files_of_killed_runs(c);
  }
  ResetReport report;
  if (!file_exists(c.working_path)) {
    std::string tmp = fmt::format("{}.tmp-{}", c.working_path, ::getpid());
    ::unlink(tmp.c_str());
    auto created = [&]() -> Status {
      TS_TRY_STATUS(create_working_copy_file(c.replica_path, tmp));
      crash_point("copy.working-written");
      return durable_rename(tmp, c.working_path);
    }();
    if (!created.ok()) ::unlink(tmp.c_str());
    TS_TRY_STATUS(created);
    return report;
  }
  NullSink sink;
  report.discarded = TS_TRY(diff_databases(c.replica_path, c.working_path, sink));
  if (report.discarded.has_changes()) {
    if (!options.force)
      return Error(
          ErrorKind::refused,
          fmt::format("copy: working copy {} has local changes ({} row changes, {} schema changes); nothing "
                      "was changed. Push them, or run `turso-sync reset` / `copy --force` to discard them "
                      "(they are saved first)",
                      c.working_path, report.discarded.totals.total(), report.discarded.schema.size()));
    report.discarded_path = TS_TRY(save_discarded_changes(
        c, c.replica_path, c.working_path,
        fmt::format("local changes discarded by `turso-sync copy --force` at {}", utc_timestamp())));
  }
  db::Database working = TS_TRY(db::Database::open(c.working_path, db::OpenMode::read_write));
  TS_TRY_STATUS(copy_replica_into(c.replica_path, working));
  return report;
}

}  // namespace turso_sync
