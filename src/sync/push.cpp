// push: local changes (replica -> working copy) applied to the remote in one guarded atomic batch (staged
// first when the change set does not fit one request: sync/push_stage.h), then a pull.
// A push whose answer is lost is recognised through its receipt row on the remote (turso_sync_pushes), so it
// is never applied twice nor reported as a conflict (docs/operations.md, "On the remote").
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "db/schema.h"
#include "db/sqlite.h"
#include "diff/schema_plan.h"
#include "merge/policy.h"
#include "sync/held.h"
#include "sync/pending_push.h"
#include "sync/push_batch.h"
#include "sync/push_conflicts.h"
#include "sync/push_references.h"
#include "sync/push_stage.h"
#include "sync/push_unique.h"
#include "sync/remote_identity.h"
#include "sync/remote_lineage.h"
#include "sync/state.h"
#include "turso_sync/cancel.h"
#include "turso_sync/sync.h"
#include "util/crash_point.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

namespace {

std::string new_push_id() {
  std::random_device rd;
  std::mt19937_64 rng((static_cast<uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

// The replica's user objects and user_version: what the last pull saw of the remote's schema.
// With the rows of every table the changeset drops (see DroppedTableRows).
Result<BaseSchema> read_base_schema(const std::string& replica, const Changeset& changes) {
  db::Database db = TS_TRY(db::Database::open(replica, db::OpenMode::read_only));
  BaseSchema out;
  for (db::SchemaObject& o : TS_TRY(db::read_schema(db)))
    out.objects.push_back({std::move(o.type), std::move(o.name), std::move(o.sql)});
  out.user_version = TS_TRY(db::query_int(db, "PRAGMA user_version"));
  for (const SchemaChange& c : changes.schema) {
    if (c.op != SchemaOp::drop_table) continue;
    DroppedTableRows d;
    d.table = TS_TRY(diff::read_table_desc(db, "main", c.name));
    std::string table = quote_identifier(c.name);
    d.count = TS_TRY(db::query_int(db, "SELECT count(*) FROM " + table));
    if (d.count > kDroppedRowsListed || (d.table.keyed_by_rowid() && d.table.rowid_expr.empty())) {
      auto totals = TS_TRY(db.prepare(dropped_table_totals_sql(d.table)));
      if (TS_TRY(totals.step()))
        for (int i = 0; i < totals.column_count(); ++i) d.totals.push_back(totals.column(i));
    } else {
      std::string cols = d.table.keyed_by_rowid() ? d.table.rowid_expr : "";
      for (const ColumnDesc& col : d.table.columns)
        cols += (cols.empty() ? "" : ", ") + quote_identifier(col.name);
      auto rows = TS_TRY(db.prepare(fmt::format("SELECT {} FROM {}", cols, table)));
      size_t nkey = d.table.keyed_by_rowid() ? 1 : 0;
      while (TS_TRY(rows.step())) {
        std::vector<Value> key, values;
        for (size_t i = 0; i < nkey; ++i) key.push_back(rows.column(static_cast<int>(i)));
        for (size_t i = 0; i < d.table.columns.size(); ++i)
          values.push_back(rows.column(static_cast<int>(nkey + i)));
        if (!d.table.keyed_by_rowid())
          for (int k : d.table.key_columns) key.push_back(values[static_cast<size_t>(k)]);
        d.rows.emplace_back(std::move(key), std::move(values));
      }
    }
    out.dropped.push_back(std::move(d));
  }
  return out;
}

enum class BatchResult { committed, conflict, retry };

}  // namespace

Result<PushReport> SyncContext::push_files(const PushOptions& options) {
  TS_TRY_STATUS(require_initialized());
  StateLock lock = TS_TRY(StateLock::acquire(m_config.state_dir));
  // Each row the remote rejects is held and the push runs again without it, up to this many rows; a remote
  // that rejects more is refusing the push itself (the error names the last row).
  constexpr int kMaxRowsRejected = 10;
  PushReport earlier;  // what the attempts that ran again held and found
  for (int attempt = 0;; ++attempt) {
    bool run_again = false;
    auto report = push_attempt(options, attempt < kMaxRowsRejected, run_again);
    if (!report.ok()) return report;
    earlier.refused_rows.insert(earlier.refused_rows.end(), report->refused_rows.begin(),
                                report->refused_rows.end());
    earlier.already_applied |= report->already_applied;
    earlier.held_new += report->held_new;
    earlier.held_new_unique += report->held_new_unique;
    if (run_again) continue;
    report->refused_rows = std::move(earlier.refused_rows);
    report->already_applied = earlier.already_applied;
    report->held_new = earlier.held_new;
    report->held_new_unique = earlier.held_new_unique;
    return report;
  }
}

Result<PushReport> SyncContext::push_attempt(const PushOptions& options, bool may_hold_rejected,
                                             bool& run_again) {
  const Config& c = m_config;
  RemoteClient* client = nullptr;
  if (!options.dry_run) {
    client = TS_TRY(remote(options.progress));
    TS_TRY(load_state(c.state_dir));  // a damaged state.json stops the push before anything is sent
  }
  std::vector<std::string> notes;
  TS_TRY_STATUS(recover(notes));
  PushReport report;

  // A previous push whose outcome is unknown: if it landed, pull it in before computing what is left.
  if (!options.dry_run && file_exists(push_marker(c))) {
    std::string id = trim(TS_TRY(read_file(push_marker(c))));
    // Its receipt tells; the rows it staged, if it never committed, are dropped (settle_staged_push).
    bool landed = TS_TRY(settle_staged_push(*client, id));
    if (landed) {
      std::optional<Changeset> sent = load_pending_push(c, notes);
      PullOptions pull = options.pull;
      if (sent) pull.pushed = &*sent;
      auto pulled = TS_TRY(pull_locked(pull));
      if (!pulled.applied) {
        report.pull = std::move(pulled);
        return report;  // conflicts: the caller shows them; the marker stays until a pull succeeds
      }
      report.already_applied = true;
    }
    clear_pending_push(c);
  }

  ChangesetCollector collector(c.state_dir);  // a large change set spills beside the replica, not in memory
  report.changes = TS_TRY(diff_databases(c.replica_path, c.working_path, collector, local_diff_options(c)));
  Changeset changeset = collector.take();
  // Held rows are never pushed (sync/held.h); the application may have edited one again: it stays held.
  std::vector<HeldConflict> held = TS_TRY(load_held(c.state_dir));
  if (TS_TRY(refresh_held(c, held))) TS_TRY_STATUS(save_held(c.state_dir, held));
  report.held = static_cast<int64_t>(held.size());
  report.held_skipped = TS_TRY(exclude_held(changeset, report.changes, held));
  if (options.only) {
    const RowSelection& only = *options.only;
    TS_TRY(
        exclude_rows(changeset, report.changes, [&](const std::string& table, const std::vector<Value>& key) {
          return !same_table(table, only.table) ||
                 std::find(only.keys.begin(), only.keys.end(), key_as_text(key)) == only.keys.end();
        }));
  }
  std::vector<ForeignReference> references = TS_TRY(read_references(c.working_path));
  // Each row these checks hold can make another one wrong (a held parent leaves its new child without a
  // parent on the remote; a held delete leaves its UNIQUE value to the remote): repeated until nothing new is
  // held.
  for (size_t before = held.size() + 1; held.size() != before;) {
    before = held.size();
    // A UNIQUE value that a row of the remote keeps because the working copy's change of that row is held
    // (its delete, say): the server would refuse the whole batch on it, every cycle. Under hold the row
    // change is held too and the rest goes; under every other policy the server's refusal names both rows.
    if (merge::conflict_handler(options.pull.on_conflict)(ConflictKind::unique) ==
        merge::ConflictDecision::hold) {
      std::vector<LocalUniqueTaker> takers = TS_TRY(find_unique_takers(c, changeset));
      if (!takers.empty()) {
        for (LocalUniqueTaker& u : takers)
          if (!is_held(held, u.row.table, u.row.key)) held.push_back(std::move(u.row));
        if (!options.dry_run) TS_TRY_STATUS(save_held(c.state_dir, held));
        report.held = static_cast<int64_t>(held.size());
        report.held_new += static_cast<int64_t>(takers.size());
        report.held_new_unique += static_cast<int64_t>(takers.size());
        report.held_skipped += TS_TRY(exclude_held(changeset, report.changes, held));
      }
    }
    // A reference the push's own rows would leave dangling (an application with foreign_keys off): held under
    // hold, else the push is refused naming the rows; nothing is sent either way.
    std::vector<LocalDangling> dangling = TS_TRY(find_local_dangling(c, changeset, references));
    // A parent the remote lacks because this copy's change of it is held (an update of a row a teammate
    // deleted): the remote's parent guard would refuse the whole push, every cycle. Under hold the child is
    // held too; under every other policy the guard's refusal names it, as before.
    if (merge::conflict_handler(options.pull.on_conflict)(ConflictKind::dangling) ==
        merge::ConflictDecision::hold) {
      // And a parent whose child the remote keeps because this copy's change of the child is held.
      std::vector<LocalDangling> more = TS_TRY(find_parents_the_remote_lacks(c, changeset, references));
      for (LocalDangling& d : TS_TRY(find_parents_held_rows_reference(c, changeset, references, held)))
        more.push_back(std::move(d));
      for (LocalDangling& d : more)
        if (std::none_of(dangling.begin(), dangling.end(), [&](const LocalDangling& e) {
              return same_table(e.row.table, d.row.table) && e.row.key == d.row.key;
            }))
          dangling.push_back(std::move(d));
    }
    if (!dangling.empty()) {
      if (merge::conflict_handler(options.pull.on_conflict)(ConflictKind::dangling) !=
          merge::ConflictDecision::hold) {
        for (LocalDangling& d : dangling)
          report.conflicts.push_back(PushConflict{d.row.table, d.row.key_names, d.row.key, d.operation,
                                                  std::move(d.detail), false, true});
        return report;
      }
      for (LocalDangling& d : dangling) {
        d.row.about = d.detail;
        if (!is_held(held, d.row.table, d.row.key)) held.push_back(std::move(d.row));
      }
      TS_TRY_STATUS(save_held(c.state_dir, held));
      report.held = static_cast<int64_t>(held.size());
      report.held_new += static_cast<int64_t>(dangling.size());
      report.held_skipped += TS_TRY(exclude_held(changeset, report.changes, held));
    }
  }
  // A row the remote cannot take is refused alone (docs/conflicts.md, "Rows the remote cannot take"): held
  // like a conflict, named by table and key; the rest of the push goes.
  std::vector<std::string> why;
  std::vector<HeldConflict> refused = TS_TRY(rows_the_remote_cannot_take(changeset, &why));
  if (!refused.empty()) {
    for (size_t i = 0; i < refused.size(); ++i) {
      report.refused_rows.push_back(
          fmt::format("{} {}: {}", refused[i].table, printable(key_as_text(refused[i].key)), why[i]));
      refused[i].about = why[i];
    }
    TS_TRY(exclude_held(changeset, report.changes, refused));
    if (!options.dry_run) {
      held.insert(held.end(), refused.begin(), refused.end());
      TS_TRY_STATUS(save_held(c.state_dir, held));
      report.held = static_cast<int64_t>(held.size());
    }
  }
  if (changeset.empty()) {
    report.nothing_to_push = true;
    return report;
  }
  PushBatchOptions batch_options;
  batch_options.force = options.force;
  batch_options.push_id = new_push_id();
  batch_options.pushed_at = utc_timestamp();
  batch_options.base_schema = TS_TRY(read_base_schema(c.replica_path, changeset));
  batch_options.guard_schema = !options.force;
  auto base_state = TS_TRY(load_state(c.state_dir));
  if (base_state) batch_options.known_receipt = base_state->remote_receipt;
  // No receipt to guard the batch with (nobody pushed to this remote through turso-sync yet): the remote
  // must still be the replica's database before our rows and the first receipt go there.
  if (!options.dry_run && batch_options.known_receipt.empty())
    TS_TRY_STATUS(check_remote_before_push(*client, c, base_state, options.progress));
  batch_options.references = std::move(references);
  batch_options.max_batch_bytes = static_cast<size_t>(c.push_part_bytes);
  // One request when it fits; else staged (sync/push_stage.h): parts, then one final batch.
  std::optional<PushBatch> single = TS_TRY(build_push_batch(changeset, batch_options));
  report.batches = 1;
  // A value the remote cannot store exactly refuses the push before anything is sent.
  if (!single)
    TS_TRY_STATUS(StagePartBuilder(changeset, batch_options, batch_options.max_batch_bytes).check());
  if (options.dry_run) {
    if (single) {
      report.dry_run_sql = render_batch_sql(*single);
      return report;
    }
    StagePartBuilder parts(changeset, batch_options, batch_options.max_batch_bytes);
    std::string sql;
    while (true) {
      std::optional<PushBatch> part = TS_TRY(parts.next());
      if (!part) break;
      sql += fmt::format("-- part {}: staged rows, a transaction of its own\n", parts.parts_built()) +
             render_batch_sql(*part);
    }
    PushBatch apply = TS_TRY(build_stage_apply_batch(changeset, batch_options, parts.parts_built()));
    report.staged_parts = parts.parts_built();
    report.dry_run_sql =
        fmt::format(
            "-- staged push: {} parts into staging tables on the remote, then one atomic batch applies "
            "them all\n",
            report.staged_parts) +
        sql + "-- the final batch: applies every staged row at once, or nothing\n" + render_batch_sql(apply);
    return report;
  }

  TS_TRY_STATUS(save_pending_push(c, batch_options.push_id, changeset));
  crash_point("push.marker-written");
  bool staged = !single;
  // After a failure of a staged push: its staging is dropped (unless it committed after all), and the
  // marker cleared once that is done; else the next push or pull settles it.
  auto settle_failed = [&](Error error) -> Error {
    if (!staged) {
      clear_pending_push(c);
      return error;
    }
    auto settled = settle_staged_push(*client, batch_options.push_id);
    if (!settled.ok()) return error;
    if (*settled)
      return Error(ErrorKind::sql, "push: the remote reports this push committed after all (" +
                                       error.message() + "); run `turso-sync pull`");
    clear_pending_push(c);
    return error;
  };
  PushBatch apply;
  if (single) {
    apply = std::move(*single);
  } else {
    drop_abandoned_stages(*client);
    StagePartBuilder parts(changeset, batch_options, batch_options.max_batch_bytes);
    auto uploaded = upload_staged_parts(*client, parts, options.progress);
    if (!uploaded.ok()) {
      Error e = std::move(uploaded).error();
      return settle_failed(Error(e.kind(), e.message() + " (nothing was applied)"));
    }
    report.staged_parts = *uploaded;
    apply = TS_TRY(build_stage_apply_batch(changeset, batch_options, *uploaded));
  }
  if (options.progress) {
    Progress p;
    p.phase = staged ? "push apply" : "push";
    p.parts_done = report.staged_parts;
    p.parts_total = staged ? report.staged_parts : 1;
    p.rows_total = 0;
    for (const TableChanges& tc : changeset.tables) p.rows_total += static_cast<int64_t>(tc.rows.size());
    p.rows_done = p.rows_total;
    options.progress(p);
  }

  const std::string& id = batch_options.push_id;
  BatchResult outcome = BatchResult::retry;
  for (int attempt = 1; outcome == BatchResult::retry; ++attempt) {
    if (cancel_requested()) {
      if (!staged) return Error(ErrorKind::cancelled, "push interrupted");
      return settle_failed(Error(ErrorKind::cancelled, "push interrupted (nothing was applied)"));
    }
    auto sent = client->batch(apply.steps, Retry::unsafe);
    if (!sent.ok()) {
      ErrorKind k = sent.error().kind();
      // An answer that does not decode (protocol) came after the server ran the batch: unknown as well.
      bool unknown = k == ErrorKind::unreachable || k == ErrorKind::timeout || k == ErrorKind::server ||
                     k == ErrorKind::protocol;
      if (!unknown) return settle_failed(sent.error().context("push"));
      // The batch may or may not have committed: its receipt tells.
      auto landed = receipt_exists(*client, id);
      if (!landed.ok())
        return sent.error().context("push (outcome unknown; the next push or pull checks it)");
      if (*landed) {
        outcome = BatchResult::committed;
        break;
      }
      if (attempt >= 3) {
        Error e = sent.error().context("push (not applied)");
        return staged ? settle_failed(std::move(e)) : e;  // a one-batch push keeps its marker
      }
      continue;
    }
    const auto& steps = *sent;
    if (steps[static_cast<size_t>(apply.commit_step)].result) {
      outcome = BatchResult::committed;
      break;
    }
    size_t failed = 0;
    while (failed < steps.size() && !steps[failed].error) ++failed;
    if (failed >= steps.size())
      return Error(ErrorKind::protocol, "push: the remote neither committed nor reported an error");
    const std::string& message = *steps[failed].error;
    const StepOrigin& origin = apply.origins[failed];
    if (static_cast<int>(failed) == apply.begin_step) {
      // Another transaction is open on the remote: nothing was applied; wait and try again.
      if (attempt >= 8)
        return settle_failed(
            Error(ErrorKind::busy, "push: the remote stayed busy with another transaction: " + message));
      std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
      continue;
    }
    if (origin.kind == StepOrigin::Kind::identity_guard)
      return settle_failed(another_remote_error(c, batch_options.known_receipt).context("push"));
    // A guard that fails, or an insert that meets an existing key, is a conflict; any other rejection of a
    // row statement (e.g. "UPDATE of WITHOUT ROWID tables is not supported", a CHECK constraint) is an
    // error.
    bool key_exists =
        message.find("UNIQUE") != std::string::npos || message.find("PRIMARY KEY") != std::string::npos;
    bool conflict = true;
    switch (origin.kind) {
      case StepOrigin::Kind::schema_guard:
        report.conflicts.push_back(explain_schema_guard(*client, *batch_options.base_schema));
        break;
      case StepOrigin::Kind::reference_guard:
        if (staged) {
          report.conflicts = staged_conflicts(*client, changeset, batch_options, apply, failed, message);
          break;
        }
        report.conflicts.push_back(
            PushConflict{origin.table, {}, {}, "delete", origin.description, false, false});
        break;
      case StepOrigin::Kind::parent_guard:
        report.conflicts = explain_missing_parents(*client, origin);
        add_later_conflicts(*client, apply, failed, report.conflicts);
        break;
      case StepOrigin::Kind::stage_guard:
      case StepOrigin::Kind::stage_parent_guard:
        report.conflicts = staged_conflicts(*client, changeset, batch_options, apply, failed, message);
        break;
      case StepOrigin::Kind::stage_rows:
        conflict = key_exists;
        if (conflict)
          report.conflicts = staged_conflicts(*client, changeset, batch_options, apply, failed, message);
        break;
      case StepOrigin::Kind::guard:
      case StepOrigin::Kind::row:
        conflict = origin.kind == StepOrigin::Kind::guard || key_exists;
        if (!conflict) break;
        report.conflicts.push_back(conflict_for(*client, origin, message));
        add_later_conflicts(*client, apply, failed, report.conflicts);
        break;
      default:
        conflict = false;
    }
    if (conflict) {
      outcome = BatchResult::conflict;
      break;
    }
    // Not a conflict: the remote refused a statement. Nothing was applied either.
    // A row statement (the server's own limits: "UPDATE of WITHOUT ROWID tables is not supported", a CHECK
    // of its schema): that row is refused alone, held like a conflict (docs/conflicts.md, "Rows the remote
    // cannot take"), and the push runs again without it. A staged statement moves every staged row of its
    // table and kind at once, and which one the remote rejected is not known: all of them are held.
    if (may_hold_rejected && !options.dry_run &&
        (origin.kind == StepOrigin::Kind::row || origin.kind == StepOrigin::Kind::stage_rows)) {
      bool one_row = origin.kind == StepOrigin::Kind::row;
      std::vector<HeldConflict> rejected =
          TS_TRY(rows_the_remote_rejected(changeset, origin.table, [&](const RowChange& row) {
            return one_row ? row.key == origin.key : row.op == origin.op;
          }));
      if (!rejected.empty()) {
        if (staged) {
          auto committed = settle_staged_push(*client, batch_options.push_id);  // drops the staging
          if (!committed.ok() || *committed) return settle_failed(Error(ErrorKind::sql, "push: " + message));
        }
        clear_pending_push(c);
        constexpr size_t kListed = 20;
        for (size_t i = 0; i < rejected.size() && i < kListed; ++i)
          report.refused_rows.push_back(
              fmt::format("{} {}: the remote rejected its {}: {}", rejected[i].table,
                          printable(key_as_text(rejected[i].key)), to_string(origin.op), message));
        if (rejected.size() > kListed)
          report.refused_rows.push_back(fmt::format("{} more rows of {}: the remote rejected their {}s",
                                                    rejected.size() - kListed, rejected[0].table,
                                                    to_string(origin.op)));
        for (HeldConflict& h : rejected) {
          h.about = fmt::format("the remote rejected its {}: {}", to_string(origin.op), message);
          held.push_back(std::move(h));
        }
        TS_TRY_STATUS(save_held(c.state_dir, held));
        run_again = true;
        return report;
      }
    }
    if (origin.kind == StepOrigin::Kind::stage_parts_guard)
      return settle_failed(Error(ErrorKind::protocol,
                                 "push: the remote no longer holds every staged part of this push (another "
                                 "copy dropped them?); nothing was applied, run push again"));
    std::string what = origin.description;
    if (what.empty()) {
      std::string key;
      for (size_t i = 0; i < origin.key.size(); ++i) key += (i ? ", " : "") + describe(origin.key[i]);
      what = fmt::format("the {} of {} [{}]", to_string(origin.op), quote_identifier(origin.table), key);
    }
    return settle_failed(Error(ErrorKind::sql, fmt::format("push: the remote rejected {}: {}; nothing was "
                                                           "applied",
                                                           what, message)));
  }
  if (outcome == BatchResult::conflict) {
    // Nothing was applied (one transaction); the staged rows go too.
    (void)settle_failed(Error(ErrorKind::conflict, "push refused"));
    return report;
  }

  crash_point("push.remote-committed");
  SyncState state;
  if (auto old = load_state(c.state_dir); old.ok() && old->has_value()) state = **old;
  state.last_push_at = utc_timestamp();
  TS_TRY_STATUS(save_state(c.state_dir, state));
  PullOptions trailing = options.pull;
  trailing.pushed = &changeset;
  auto pulled = pull_locked(trailing);
  if (!pulled.ok())
    return pulled.error().context("push applied; the pull that follows failed (run `turso-sync pull`)");
  if (pulled->applied) clear_pending_push(c);
  report.pull = std::move(pulled).value();
  return report;
}

}  // namespace turso_sync
