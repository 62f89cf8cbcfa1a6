// push: local changes (replica -> working copy) applied to the remote in guarded atomic batches, then a pull.
// A push whose answer is lost is recognised through its receipt row on the remote (turso_sync_pushes), so it
// is never applied twice nor reported as a conflict (docs/architecture.md, "push receipts").
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
#include "sync/held.h"
#include "sync/pending_push.h"
#include "sync/push_batch.h"
#include "sync/remote_identity.h"
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

// Explains a failing guard by reading the remote row (best effort: the conflict stands even if this fails).
std::string explain_guard(RemoteClient& remote, const PushBatch& batch, size_t step) {
  const StepOrigin& o = batch.origins[step];
  if (o.guarded_columns.empty()) return "the row changed on the remote";
  std::string cols;
  for (size_t i = 0; i < o.guarded_columns.size(); ++i)
    cols += (i ? ", " : "") + quote_identifier(o.guarded_columns[i]);
  // The guard's WHERE clause starts with the key predicate; rebuild it from the origin.
  std::vector<Value> args;
  std::string where;
  for (size_t i = 0; i < o.key.size(); ++i) {
    std::string name = o.key_names[i] == "rowid" ? "rowid" : quote_identifier(o.key_names[i]);
    auto p = exact_placeholder(o.key[i], args);
    if (!p.ok()) return "the row changed on the remote";
    where += fmt::format("{}{} = {}", i ? " AND " : "", name, *p);
  }
  auto r = remote.execute(
      SqlStatement{fmt::format("SELECT {} FROM {} WHERE {}", cols, quote_identifier(o.table), where), args},
      Retry::safe);
  if (!r.ok()) return "the row changed on the remote";
  if (r->rows.empty()) return "the row was deleted on the remote";
  std::string out;
  for (size_t i = 0; i < o.guarded_columns.size() && i < r->rows[0].size(); ++i) {
    if (r->rows[0][i] == o.expected[i]) continue;
    out += fmt::format("{}{} is {} on the remote, expected {}", out.empty() ? "" : "; ", o.guarded_columns[i],
                       describe(r->rows[0][i]), describe(o.expected[i]));
  }
  return out.empty() ? "the row changed on the remote" : out;
}

// A UNIQUE constraint on other columns than the key ("UNIQUE constraint failed: t.email"): names the
// constraint and the remote row that holds the value. nullopt when the clash is on the key itself.
std::optional<std::string> explain_unique_clash(RemoteClient& remote, const StepOrigin& o,
                                                const std::string& error) {
  const std::string marker = "UNIQUE constraint failed: ";
  auto at = error.find(marker);
  if (at == std::string::npos || o.row_columns.empty()) return std::nullopt;
  std::string list = error.substr(at + marker.size());
  list = list.substr(0, list.find_first_of("([\n\""));
  std::vector<std::string> columns;
  for (size_t pos = 0; pos < list.size();) {
    size_t comma = list.find(',', pos);
    std::string item = trim(list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (auto dot = item.rfind('.'); dot != std::string::npos) item = item.substr(dot + 1);
    if (!item.empty()) columns.push_back(item);
    pos = comma == std::string::npos ? list.size() : comma + 1;
  }
  bool on_key = !columns.empty() && columns.size() == o.key_names.size();
  for (size_t i = 0; on_key && i < columns.size(); ++i)
    on_key = lower_ascii(columns[i]) == lower_ascii(o.key_names[i]) || lower_ascii(o.key_names[i]) == "rowid";
  if (columns.empty() || on_key) return std::nullopt;
  std::vector<Value> args;
  std::string where, shown;
  for (const std::string& col : columns) {
    size_t i = 0;
    while (i < o.row_columns.size() && lower_ascii(o.row_columns[i]) != lower_ascii(col)) ++i;
    if (i == o.row_columns.size()) return std::nullopt;
    auto p = exact_placeholder(o.row_values[i], args);
    if (!p.ok()) return std::nullopt;
    where += fmt::format("{}{} = {}", where.empty() ? "" : " AND ", quote_identifier(o.row_columns[i]), *p);
    shown += fmt::format("{}{}={}", shown.empty() ? "" : ", ", o.row_columns[i], describe(o.row_values[i]));
  }
  std::string detail = fmt::format(
      "UNIQUE constraint on ({}): another row on the remote already holds {}",
      [&] {
        std::string out;
        for (const auto& col : columns) out += (out.empty() ? "" : ", ") + col;
        return out;
      }(),
      shown);
  std::string keys;
  for (const std::string& k : o.key_names)
    keys += (keys.empty() ? "" : ", ") + (k == "rowid" ? k : quote_identifier(k));
  auto r = remote.execute(
      SqlStatement{fmt::format("SELECT {} FROM {} WHERE {} LIMIT 1", keys, quote_identifier(o.table), where),
                   args},
      Retry::safe);
  if (r.ok() && !r->rows.empty()) {
    std::string other;
    for (size_t i = 0; i < r->rows[0].size() && i < o.key_names.size(); ++i)
      other += fmt::format("{}{}={}", other.empty() ? "" : ", ", o.key_names[i], describe(r->rows[0][i]));
    detail += fmt::format(" (the row [{}])", other);
  }
  return detail + "; change your row's value (push --force does not replace another row)";
}

// A conflict named by its row only, without reading the remote.
PushConflict conflict_for_unexplained(const PushBatch& batch, size_t step) {
  const StepOrigin& o = batch.origins[step];
  PushConflict c;
  c.table = o.table;
  c.key_names = o.key_names;
  c.key = o.key;
  c.operation = to_string(o.op);
  c.detail = o.kind == StepOrigin::Kind::guard ? "the row changed on the remote"
                                               : "a row with this key already exists on the remote";
  return c;
}

PushConflict conflict_for(RemoteClient& remote, const PushBatch& batch, size_t step,
                          const std::string& error) {
  const StepOrigin& o = batch.origins[step];
  PushConflict c = conflict_for_unexplained(batch, step);
  if (o.kind == StepOrigin::Kind::guard) {
    c.detail = explain_guard(remote, batch, step);
  } else if (auto unique = explain_unique_clash(remote, o, error)) {
    c.detail = *unique;
    c.force_overrides = false;
  } else if (error.find("UNIQUE") == std::string::npos && error.find("PRIMARY KEY") == std::string::npos) {
    c.detail = error;
  }
  return c;
}

// The rows of a parent guard whose parent is not on the remote (read with the guard's missing_parents
// query; every row of the guard when that read fails), each a conflict naming the row and its parent.
std::vector<PushConflict> explain_missing_parents(RemoteClient& remote, const StepOrigin& o) {
  const ForeignReference& r = *o.reference;
  std::vector<std::vector<Value>> missing;
  bool known = false;
  if (o.missing_parents) {
    auto read = remote.execute(*o.missing_parents, Retry::safe);
    if (read.ok()) {
      known = true;
      missing = std::move(read->rows);
    }
  }
  std::vector<PushConflict> out;
  for (const ReferencingRow& row : o.referencing) {
    if (known && std::find(missing.begin(), missing.end(), row.values) == missing.end()) continue;
    PushConflict c;
    c.table = o.table;
    c.key_names = row.key_names;
    c.key = row.key;
    c.operation = to_string(row.op);
    std::string parent;
    for (size_t i = 0; i < r.parent_columns.size() && i < row.values.size(); ++i)
      parent += fmt::format("{}{}={}", i ? ", " : "", r.parent_columns[i], describe(row.values[i]));
    c.detail =
        fmt::format("references {} row {}, which {} (deleted since your last pull); the row would dangle",
                    r.parent, parent, known ? "the remote no longer has" : "the remote may no longer have");
    c.force_overrides = false;
    out.push_back(std::move(c));
  }
  return out;
}

// After the first conflict stopped a batch: every later step of the push that would conflict too, found by
// running the steps' read-only probes against the remote as it is now (best effort: a probe that cannot run
// reports nothing). Guards among the first kExplained conflicts are explained by reading the remote row.
void add_later_conflicts(RemoteClient& remote, const std::vector<PushBatch>& batches, size_t first_batch,
                         size_t first_step, std::vector<PushConflict>& conflicts) {
  constexpr size_t kExplained = 50, kProbesPerRequest = 500;
  std::vector<std::pair<size_t, size_t>> where;  // (batch, step) of each probe
  std::vector<BatchStep> probes;
  auto flush = [&] {
    if (probes.empty()) return;
    auto r = remote.batch(probes, Retry::safe);
    for (size_t i = 0; r.ok() && i < r->size() && i < where.size(); ++i) {
      const auto& result = (*r)[i].result;
      if (!result || result->rows.empty() || result->rows[0].empty() ||
          result->rows[0][0] != Value::integer(0))
        continue;
      const PushBatch& batch = batches[where[i].first];
      if (batch.origins[where[i].second].kind == StepOrigin::Kind::parent_guard) {
        for (PushConflict& c : explain_missing_parents(remote, batch.origins[where[i].second]))
          conflicts.push_back(std::move(c));
        continue;
      }
      PushConflict c = conflict_for_unexplained(batch, where[i].second);
      if (batch.origins[where[i].second].kind == StepOrigin::Kind::guard && conflicts.size() < kExplained)
        c.detail = explain_guard(remote, batch, where[i].second);
      conflicts.push_back(std::move(c));
    }
    probes.clear();
    where.clear();
  };
  for (size_t bi = first_batch; bi < batches.size(); ++bi) {
    const PushBatch& batch = batches[bi];
    for (size_t si = bi == first_batch ? first_step + 1 : 0; si < batch.origins.size(); ++si) {
      if (!batch.origins[si].probe) continue;
      probes.push_back({*batch.origins[si].probe, std::nullopt});
      where.emplace_back(bi, si);
      if (probes.size() == kProbesPerRequest) flush();
    }
  }
  flush();
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

// Whether the parent columns of `r` are the parent table's PRIMARY KEY or a UNIQUE index (SQLite checks a
// foreign key only then; otherwise it reports "foreign key mismatch").
Result<bool> is_parent_key(db::Database& db, const ForeignReference& r) {
  std::set<std::string> wanted;
  for (const std::string& c : r.parent_columns) wanted.insert(lower_ascii(c));
  std::set<std::string> primary;
  auto pk = TS_TRY(db.prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0"));
  TS_TRY_STATUS(pk.bind(1, Value::text(r.parent)));
  while (TS_TRY(pk.step())) primary.insert(lower_ascii(pk.column_text(0)));
  if (primary == wanted) return true;
  auto indexes = TS_TRY(db.prepare(
      "SELECT il.name, group_concat(lower(ii.name), char(31)), count(*) FROM pragma_index_list(?1) AS il, "
      "pragma_index_info(il.name) AS ii WHERE il.\"unique\" = 1 AND il.partial = 0 GROUP BY il.name"));
  TS_TRY_STATUS(indexes.bind(1, Value::text(r.parent)));
  while (TS_TRY(indexes.step())) {
    if (static_cast<size_t>(indexes.column_int64(2)) != wanted.size()) continue;
    std::set<std::string> columns;
    std::string list = indexes.column_text(1);
    for (size_t pos = 0; pos <= list.size();) {
      size_t end = list.find('\x1f', pos);
      if (end == std::string::npos) end = list.size();
      columns.insert(list.substr(pos, end - pos));
      pos = end + 1;
    }
    if (columns == wanted) return true;
  }
  return false;
}

// The working copy's foreign keys, with the parent's PRIMARY KEY columns filled in where the declaration
// names none. Left out: a parent without such a key or whose table is missing (SQLite cannot check those
// either: "foreign key mismatch"), and references the working copy itself already leaves dangling.
Result<std::vector<ForeignReference>> read_references(const std::string& working) {
  db::Database db = TS_TRY(db::Database::open(working, db::OpenMode::read_only));
  std::vector<ForeignReference> out;
  auto list =
      TS_TRY(db.prepare("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER "
                        "BY id, seq"));
  auto primary_key = TS_TRY(db.prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk"));
  for (db::SchemaObject& o : TS_TRY(db::read_schema(db))) {
    if (o.type != "table") continue;
    // A working copy that already holds dangling references of this table (the application runs without
    // foreign_keys) keeps them knowingly: not guarded.
    std::set<std::string> dangling;
    auto check = db.prepare(fmt::format("PRAGMA foreign_key_check({})", quote_identifier(o.name)));
    if (check.ok())
      while (true) {
        auto step = check->step();
        if (!step.ok() || !*step) break;
        dangling.insert(lower_ascii(check->column_text(2)));
      }
    TS_TRY_STATUS(list.reset());
    TS_TRY_STATUS(list.bind(1, Value::text(o.name)));
    std::map<int64_t, ForeignReference> by_id;
    std::set<int64_t> unnamed;  // declared without parent columns
    while (TS_TRY(list.step())) {
      ForeignReference& r = by_id[list.column_int64(0)];
      r.child = o.name;
      r.parent = list.column_text(1);
      r.columns.push_back(list.column_text(2));
      if (list.column(3).is_null())
        unnamed.insert(list.column_int64(0));
      else
        r.parent_columns.push_back(list.column_text(3));
    }
    for (auto& [id, r] : by_id) {
      if (dangling.count(lower_ascii(r.parent))) continue;
      if (unnamed.count(id)) {
        r.parent_columns.clear();
        TS_TRY_STATUS(primary_key.reset());
        TS_TRY_STATUS(primary_key.bind(1, Value::text(r.parent)));
        while (TS_TRY(primary_key.step())) r.parent_columns.push_back(primary_key.column_text(0));
      }
      if (r.parent_columns.size() != r.columns.size() || !TS_TRY(is_parent_key(db, r))) continue;
      out.push_back(std::move(r));
    }
  }
  return out;
}

// Says which objects differ between the remote's schema now and the replica's (best effort).
PushConflict explain_schema_guard(RemoteClient& remote, const BaseSchema& base) {
  PushConflict c;
  c.table = "(schema)";
  c.operation = "schema";
  c.detail = "the remote's schema changed since your last pull";
  auto r = remote.execute(
      SqlStatement{"SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL UNION ALL SELECT "
                   "'pragma', 'user_version', CAST(user_version AS TEXT) FROM pragma_user_version",
                   {}},
      Retry::safe);
  if (!r.ok()) return c;
  auto text = [](const Value& v) { return v.type() == ValueType::text ? v.as_bytes() : std::string(); };
  std::map<std::string, std::string> now, then;
  for (const auto& row : r->rows) {
    if (row.size() != 3 || db::is_internal_name(text(row[1]))) continue;
    now[text(row[0]) + " " + lower_ascii(text(row[1]))] = text(row[2]);
  }
  for (const SchemaObjectText& o : base.objects) then[o.type + " " + lower_ascii(o.name)] = o.sql;
  then["pragma user_version"] = std::to_string(base.user_version);
  std::string what;
  for (const auto& [name, sql] : now) {
    auto it = then.find(name);
    if (it == then.end())
      what += (what.empty() ? "" : "; ") + name + " was created";
    else if (it->second != sql)
      what += (what.empty() ? "" : "; ") + name + " was changed";
  }
  for (const auto& [name, sql] : then)
    if (!now.count(name)) what += (what.empty() ? "" : "; ") + name + " was dropped";
  if (!what.empty()) c.detail += ": " + printable(what);
  if (what.empty() && !base.dropped.empty()) {
    std::string tables;
    for (const DroppedTableRows& d : base.dropped) tables += (tables.empty() ? "" : ", ") + d.table.name;
    c.detail = fmt::format("the remote changed rows of {} since your last pull, and this push drops it",
                           printable(tables));
  }
  return c;
}

enum class BatchResult { committed, conflict, retry };

}  // namespace

Result<PushReport> SyncContext::push(const PushOptions& options) {
  auto result = push_files(options);
  if (!result.ok()) return explain_damaged_files(m_config, std::move(result).error());
  return result;
}

Result<PushReport> SyncContext::push_files(const PushOptions& options) {
  TS_TRY_STATUS(require_initialized());
  const Config& c = m_config;
  StateLock lock = TS_TRY(StateLock::acquire(c.state_dir));
  RemoteClient* client = nullptr;
  if (!options.dry_run) {
    client = TS_TRY(remote());
    TS_TRY(load_state(c.state_dir));  // a damaged state.json stops the push before anything is sent
  }
  std::vector<std::string> notes;
  TS_TRY_STATUS(recover(notes));
  PushReport report;

  // A previous push whose outcome is unknown: if it landed, pull it in before computing what is left.
  if (!options.dry_run && file_exists(push_marker(c))) {
    std::string id = trim(TS_TRY(read_file(push_marker(c))));
    bool landed = TS_TRY(receipt_exists(*client, id));
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

  ChangesetCollector collector;
  report.changes = TS_TRY(diff_databases(c.replica_path, c.working_path, collector));
  Changeset changeset = collector.take();
  // Held rows are never pushed (sync/held.h); the application may have edited one again: it stays held.
  std::vector<HeldConflict> held = TS_TRY(load_held(c.state_dir));
  if (TS_TRY(refresh_held(c, held))) TS_TRY_STATUS(save_held(c.state_dir, held));
  report.held = static_cast<int64_t>(held.size());
  report.held_skipped = exclude_held(changeset, report.changes, held);
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
  if (auto state = TS_TRY(load_state(c.state_dir))) batch_options.known_receipt = state->remote_receipt;
  batch_options.references = TS_TRY(read_references(c.working_path));
  auto batches = TS_TRY(build_push_batches(changeset, batch_options));
  report.batches = static_cast<int>(batches.size());
  if (options.dry_run) {
    for (const auto& b : batches) report.dry_run_sql += render_batch_sql(b);
    return report;
  }

  TS_TRY_STATUS(save_pending_push(c, batch_options.push_id, changeset));
  crash_point("push.marker-written");
  for (size_t bi = 0; bi < batches.size(); ++bi) {
    const PushBatch& batch = batches[bi];
    std::string id = bi == 0 ? batch_options.push_id : fmt::format("{}.{}", batch_options.push_id, bi + 1);
    BatchResult outcome = BatchResult::retry;
    for (int attempt = 1; outcome == BatchResult::retry; ++attempt) {
      if (cancel_requested()) return Error(ErrorKind::cancelled, "push interrupted");
      auto sent = client->batch(batch.steps, Retry::unsafe);
      if (!sent.ok()) {
        ErrorKind k = sent.error().kind();
        // An answer that does not decode (protocol) came after the server ran the batch: unknown as well.
        bool unknown = k == ErrorKind::unreachable || k == ErrorKind::timeout || k == ErrorKind::server ||
                       k == ErrorKind::protocol;
        if (!unknown) {
          if (bi == 0) clear_pending_push(c);
          return sent.error().context("push");
        }
        // The batch may or may not have committed: its receipt tells.
        auto landed = receipt_exists(*client, id);
        if (!landed.ok())
          return sent.error().context("push (outcome unknown; the next push or pull checks it)");
        if (*landed) {
          outcome = BatchResult::committed;
          break;
        }
        if (attempt >= 3) return sent.error().context("push (not applied)");
        continue;
      }
      const auto& steps = *sent;
      if (steps[static_cast<size_t>(batch.commit_step)].result) {
        outcome = BatchResult::committed;
        break;
      }
      size_t failed = 0;
      while (failed < steps.size() && !steps[failed].error) ++failed;
      if (failed >= steps.size())
        return Error(ErrorKind::protocol, "push: the remote neither committed nor reported an error");
      const std::string& message = *steps[failed].error;
      const StepOrigin& origin = batch.origins[failed];
      if (static_cast<int>(failed) == batch.begin_step) {
        // Another transaction is open on the remote: nothing was applied; wait and try again.
        if (attempt >= 8)
          return Error(ErrorKind::busy, "push: the remote stayed busy with another transaction: " + message);
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
        continue;
      }
      // A guard that fails, or an insert that meets an existing key, is a conflict; any other rejection of a
      // row statement (e.g. "UPDATE of WITHOUT ROWID tables is not supported", a CHECK constraint) is an
      // error.
      if (origin.kind == StepOrigin::Kind::identity_guard) {
        clear_pending_push(c);
        return another_remote_error(c, batch_options.known_receipt).context("push");
      }
      if (origin.kind == StepOrigin::Kind::schema_guard) {
        report.conflicts.push_back(explain_schema_guard(*client, *batch_options.base_schema));
        outcome = BatchResult::conflict;
        break;
      }
      if (origin.kind == StepOrigin::Kind::reference_guard) {
        PushConflict conflict;
        conflict.table = origin.table;
        conflict.operation = "delete";
        conflict.detail = origin.description;
        conflict.force_overrides = false;
        report.conflicts.push_back(std::move(conflict));
        outcome = BatchResult::conflict;
        break;
      }
      if (origin.kind == StepOrigin::Kind::parent_guard) {
        for (PushConflict& conflict : explain_missing_parents(*client, origin))
          report.conflicts.push_back(std::move(conflict));
        add_later_conflicts(*client, batches, bi, failed, report.conflicts);
        outcome = BatchResult::conflict;
        break;
      }
      bool key_exists =
          message.find("UNIQUE") != std::string::npos || message.find("PRIMARY KEY") != std::string::npos;
      if (origin.kind == StepOrigin::Kind::guard || (origin.kind == StepOrigin::Kind::row && key_exists)) {
        report.conflicts.push_back(conflict_for(*client, batch, failed, message));
        add_later_conflicts(*client, batches, bi, failed, report.conflicts);
        outcome = BatchResult::conflict;
        break;
      }
      if (bi == 0) clear_pending_push(c);
      std::string what = origin.description;
      if (what.empty()) {
        std::string key;
        for (size_t i = 0; i < origin.key.size(); ++i) key += (i ? ", " : "") + describe(origin.key[i]);
        what = fmt::format("the {} of {} [{}]", to_string(origin.op), quote_identifier(origin.table), key);
      }
      return Error(ErrorKind::sql, fmt::format("push: the remote rejected {}: {}", what, message));
    }
    if (outcome == BatchResult::conflict) {
      if (bi == 0) clear_pending_push(c);
      return report;
    }
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
