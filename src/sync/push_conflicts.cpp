// Naming the rows a refused push conflicts on: the remote row read to say what differs, the row holding a
// clashing UNIQUE value, the missing parents of a parent guard, and read-only probes that list every other
// conflicting row of the push once the first one stopped the batch.
#include "sync/push_conflicts.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "db/schema.h"
#include "sync/held.h"
#include "util/fs.h"
#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync {

// Explains a failing guard by reading the remote row (best effort: the conflict stands even if this fails).
std::string explain_guard(RemoteClient& remote, const StepOrigin& o) {
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

std::vector<std::string> unique_clash_columns(const std::string& error) {
  const std::string marker = "UNIQUE constraint failed: ";
  auto at = error.find(marker);
  if (at == std::string::npos) return {};
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
  return columns;
}

// A UNIQUE constraint on other columns than the key ("UNIQUE constraint failed: t.email"): names the
// constraint and the remote row that holds the value. nullopt when the clash is on the key itself.
std::optional<std::string> explain_unique_clash(RemoteClient& remote, const StepOrigin& o,
                                                const std::string& error) {
  if (o.row_columns.empty()) return std::nullopt;
  std::vector<std::string> columns = unique_clash_columns(error);
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

PushConflict conflict_for_unexplained(const StepOrigin& o) {
  PushConflict c;
  c.table = o.table;
  c.key_names = o.key_names;
  c.key = o.key;
  c.operation = to_string(o.op);
  c.detail = o.kind == StepOrigin::Kind::guard ? "the row changed on the remote"
                                               : "a row with this key already exists on the remote";
  return c;
}

PushConflict conflict_for(RemoteClient& remote, const StepOrigin& o, const std::string& error) {
  PushConflict c = conflict_for_unexplained(o);
  if (o.kind == StepOrigin::Kind::guard) {
    c.detail = explain_guard(remote, o);
  } else if (auto unique = explain_unique_clash(remote, o, error)) {
    c.detail = *unique;
    c.force_overrides = false;
  } else if (error.find("UNIQUE") == std::string::npos && error.find("PRIMARY KEY") == std::string::npos) {
    c.detail = error;
  }
  return c;
}

PushConflict missing_parent_conflict(const std::string& child, const ForeignReference& r,
                                     const ReferencingRow& row, bool known) {
  PushConflict c;
  c.table = child;
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
    out.push_back(missing_parent_conflict(o.table, r, row, known));
  }
  return out;
}

void add_later_conflicts(RemoteClient& remote, const PushBatch& batch, size_t first_step,
                         std::vector<PushConflict>& conflicts) {
  constexpr size_t kExplained = 50, kProbesPerRequest = 500;
  std::vector<size_t> where;  // step of each probe
  std::vector<BatchStep> probes;
  auto flush = [&] {
    if (probes.empty()) return;
    auto r = remote.batch(probes, Retry::safe);
    for (size_t i = 0; r.ok() && i < r->size() && i < where.size(); ++i) {
      const auto& result = (*r)[i].result;
      if (!result || result->rows.empty() || result->rows[0].empty() ||
          result->rows[0][0] != Value::integer(0))
        continue;
      const StepOrigin& origin = batch.origins[where[i]];
      if (origin.kind == StepOrigin::Kind::parent_guard) {
        for (PushConflict& c : explain_missing_parents(remote, origin)) conflicts.push_back(std::move(c));
        continue;
      }
      PushConflict c = conflict_for_unexplained(origin);
      if (origin.kind == StepOrigin::Kind::guard && conflicts.size() < kExplained)
        c.detail = explain_guard(remote, origin);
      conflicts.push_back(std::move(c));
    }
    probes.clear();
    where.clear();
  };
  for (size_t si = first_step + 1; si < batch.origins.size(); ++si) {
    if (!batch.origins[si].probe) continue;
    probes.push_back({*batch.origins[si].probe, std::nullopt});
    where.push_back(si);
    if (probes.size() == kProbesPerRequest) flush();
  }
  flush();
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

namespace {

// A local row change held as refused, its `conflicting` columns named.
HeldConflict refused_conflict(const TableDesc& t, const RowChange& row, std::vector<int> conflicting) {
  HeldConflict h = held_push_row(t, row, "refused");
  h.conflicting_columns = std::move(conflicting);
  return h;
}

}  // namespace

Result<std::vector<HeldConflict>> rows_the_remote_cannot_take(const Changeset& changeset,
                                                              std::vector<std::string>* why) {
  std::vector<HeldConflict> out;
  for (const TableChanges& tc : changeset.tables) {
    const TableDesc& t = tc.table;
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* row = TS_TRY(rows.next())) {
      if (row->op == RowOp::remove) continue;
      std::optional<size_t> bad;
      for (size_t c = 0; c < row->new_values.size() && !bad; ++c) {
        const Value& v = row->new_values[c];
        if (v.type() == ValueType::text && !TS_TRY(is_valid_utf8_text(v))) bad = c;
      }
      if (!bad) continue;
      why->push_back(
          fmt::format("column {} holds TEXT that is not valid UTF-8, which the remote cannot store "
                      "unchanged (store such bytes as a BLOB)",
                      quote_identifier(t.columns[*bad].name)));
      out.push_back(refused_conflict(t, *row, {static_cast<int>(*bad)}));
    }
  }
  return out;
}

Result<std::vector<HeldConflict>> rows_the_remote_rejected(
    const Changeset& changeset, const std::string& table,
    const std::function<bool(const RowChange&)>& which) {
  std::vector<HeldConflict> out;
  for (const TableChanges& tc : changeset.tables) {
    if (!same_identifier(tc.table.name, table)) continue;
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* row = TS_TRY(rows.next())) {
      if (!which(*row)) continue;
      // The columns the change sets: the changed ones of an update, all of an insert or a delete.
      std::vector<int> columns = row->changed_columns;
      if (row->op != RowOp::update)
        for (size_t c = 0; c < tc.table.columns.size(); ++c) columns.push_back(static_cast<int>(c));
      out.push_back(refused_conflict(tc.table, *row, std::move(columns)));
    }
  }
  return out;
}

}  // namespace turso_sync
