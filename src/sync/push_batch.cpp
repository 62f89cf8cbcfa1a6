#include "sync/push_batch.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "sync/push_unique.h"
#include "turso_sync/diff.h"
#include "util/text.h"

namespace turso_sync {

namespace {

std::string key_predicate(const TableDesc& t, const std::vector<Value>& key, std::vector<Value>& args,
                          std::vector<std::string>& names, Status& status);

struct Builder {
  const PushBatchOptions& options;
  PushBatchWriter writer;
  // This batch's deletes, per reference of options.references: the referenced values of the deleted rows.
  std::map<size_t, std::vector<Value>> deleted_references;
  // Per reference: the parent keys the changeset writes itself (inserted or updated parent rows). A child of
  // one of them needs no parent guard: the parent's own insert or update is guarded.
  std::vector<ValueTuples> written_parents;
  // This batch's inserted or updated children, per reference, whose parent the changeset does not write.
  std::map<size_t, std::vector<ReferencingRow>> referencing;

  void note_delete(const TableDesc& t, const RowChange& row) {
    for (size_t i = 0; i < options.references.size(); ++i) {
      const ForeignReference& r = options.references[i];
      if (r.columns.size() != 1 || lower_ascii(r.parent) != lower_ascii(t.name)) continue;
      auto c = t.column_indexes(r.parent_columns);
      if (c && c->at(0) < row.old_values.size()) deleted_references[i].push_back(row.old_values[c->at(0)]);
    }
  }

  // Every parent key the changeset writes, per reference (before the rows are added: a parent may be
  // written after its child, in a later table). False when those keys alone exceed one request's bytes:
  // the changeset does not fit one batch (so memory stays bounded by the batch size).
  Result<bool> note_written_parents(const Changeset& cs) {
    written_parents.assign(options.references.size(), {});
    size_t bytes = 0;
    for (size_t i = 0; i < options.references.size(); ++i) {
      const ForeignReference& r = options.references[i];
      for (const TableChanges& tc : cs.tables) {
        if (lower_ascii(tc.table.name) != lower_ascii(r.parent)) continue;
        auto cols = tc.table.column_indexes(r.parent_columns);
        if (!cols) continue;
        RowCursor rows = tc.rows.cursor();
        while (const RowChange* row = TS_TRY(rows.next())) {
          if (row->op == RowOp::remove) continue;
          std::vector<Value> key;
          for (size_t c : *cols) {
            key.push_back(row->new_values.at(c));
            bytes += 8 + (key.back().is_null() || key.back().type() == ValueType::integer ||
                                  key.back().type() == ValueType::real
                              ? 0
                              : key.back().as_bytes().size());
          }
          if (bytes > options.max_batch_bytes) return false;
          written_parents[i].insert(std::move(key));
        }
      }
    }
    return true;
  }

  // An inserted row, or an update of a foreign key's columns: the parent it references must be on the
  // remote (unless the changeset writes that parent itself, or a value is NULL: SQLite checks nothing then).
  void note_child(const TableDesc& t, const RowChange& row) {
    if (row.op == RowOp::remove) return;
    for (size_t i = 0; i < options.references.size(); ++i) {
      const ForeignReference& r = options.references[i];
      if (lower_ascii(r.child) != lower_ascii(t.name)) continue;
      auto cols = t.column_indexes(r.columns);
      if (!cols) continue;
      if (row.op == RowOp::update && std::none_of(cols->begin(), cols->end(), [&](size_t c) {
            return std::find(row.changed_columns.begin(), row.changed_columns.end(), static_cast<int>(c)) !=
                   row.changed_columns.end();
          }))
        continue;
      ReferencingRow child;
      child.op = row.op;
      child.key = row.key;
      bool has_null = false;
      for (size_t c : *cols) {
        child.values.push_back(row.new_values.at(c));
        has_null |= child.values.back().is_null();
      }
      if (has_null || written_parents[i].count(child.values)) continue;
      std::vector<Value> ignored_args;
      Status ignored;
      key_predicate(t, row.key, ignored_args, child.key_names, ignored);
      referencing[i].push_back(std::move(child));
    }
  }

  // One guard per reference: no remote row of the child still references a deleted row.
  Status add_reference_guards() {
    for (auto& [i, values] : deleted_references) {
      const ForeignReference& r = options.references[i];
      std::vector<Value> args;
      std::string list;
      for (const Value& v : values) {
        if (v.is_null()) continue;
        auto p = exact_placeholder(v, args);
        if (!p.ok()) return p.error();
        list += (list.empty() ? "" : ", ") + *p;
      }
      if (list.empty()) continue;
      StepOrigin origin = reference_guard_origin(r);
      add({fmt::format("SELECT json(CASE WHEN NOT EXISTS (SELECT 1 FROM {} WHERE {} IN ({})) THEN '1' ELSE "
                       "'x' END)",
                       quote_identifier(r.child), quote_identifier(r.columns[0]), list),
           std::move(args)},
          origin);
    }
    deleted_references.clear();
    return {};
  }

  // Per reference, up to kParentsPerGuard distinct parent keys per step: the step fails unless each of them
  // is a row of the parent on the remote, compared as SQLite's foreign keys compare (the parent column's
  // affinity and collation apply: `p.c = v.columnN`). VALUES rows carry the keys as bound parameters.
  Status add_parent_guards() {
    for (auto& [i, rows] : referencing) {
      const ForeignReference& r = options.references[i];
      std::map<std::vector<Value>, std::vector<size_t>, ValuesLess> parents;  // key -> rows referencing it
      for (size_t row = 0; row < rows.size(); ++row) parents[rows[row].values].push_back(row);
      auto it = parents.begin();
      while (it != parents.end()) {
        std::vector<Value> args;
        std::string values;
        StepOrigin origin;
        origin.kind = StepOrigin::Kind::parent_guard;
        origin.table = r.child;
        origin.reference = r;
        for (size_t n = 0; n < kParentsPerGuard && it != parents.end(); ++n, ++it) {
          std::string tuple;
          for (const Value& v : it->first) {
            auto p = exact_placeholder(v, args);
            if (!p.ok()) return p.error().context(fmt::format("push table {}", quote_identifier(r.child)));
            tuple += (tuple.empty() ? "" : ", ") + *p;
          }
          values += fmt::format("{}({})", values.empty() ? "" : ", ", tuple);
          for (size_t row : it->second) origin.referencing.push_back(rows[row]);
        }
        std::string match;
        for (size_t c = 0; c < r.parent_columns.size(); ++c)
          match += fmt::format("{}p.{} = v.column{}", c ? " AND " : "", quote_identifier(r.parent_columns[c]),
                               c + 1);
        std::string missing =
            fmt::format("FROM (VALUES {}) AS v WHERE NOT EXISTS (SELECT 1 FROM {} AS p WHERE {})", values,
                        quote_identifier(r.parent), match);
        std::string columns;
        for (size_t c = 0; c < r.columns.size(); ++c)
          columns += fmt::format("{}v.column{}", c ? ", " : "", c + 1);
        origin.probe = SqlStatement{fmt::format("SELECT NOT EXISTS (SELECT 1 {})", missing), args};
        origin.missing_parents = SqlStatement{fmt::format("SELECT {} {}", columns, missing), args};
        origin.description = fmt::format("the parents of {} rows in {}", origin.referencing.size(),
                                         quote_identifier(r.parent));
        add({fmt::format("SELECT json(CASE WHEN NOT EXISTS (SELECT 1 {}) THEN '1' ELSE 'x' END)", missing),
             std::move(args)},
            std::move(origin));
      }
    }
    referencing.clear();
    return {};
  }

  int add(SqlStatement stmt, StepOrigin origin) { return writer.add(std::move(stmt), std::move(origin)); }
  PushBatch& current() { return writer.batch(); }
};

std::string key_predicate(const TableDesc& t, const std::vector<Value>& key, std::vector<Value>& args,
                          std::vector<std::string>& names, Status& status) {
  std::string out;
  auto placeholder = [&](const Value& v) -> std::string {
    auto p = exact_placeholder(v, args);
    if (!p.ok()) {
      status = p.error();
      return "NULL";
    }
    return *p;
  };
  if (t.keyed_by_rowid()) {
    names.push_back(t.rowid_alias >= 0 ? t.columns[static_cast<size_t>(t.rowid_alias)].name : "rowid");
    return fmt::format("{} = {}", t.rowid_expr, placeholder(key.at(0)));
  }
  for (size_t i = 0; i < t.key_columns.size(); ++i) {
    const std::string& name = t.columns[static_cast<size_t>(t.key_columns[i])].name;
    names.push_back(name);
    out += fmt::format("{}{} = {}", i ? " AND " : "", quote_identifier(name), placeholder(key.at(i)));
  }
  return out;
}

// "c" IS NULL, or "c" = ? COLLATE BINARY AND typeof("c") = 'type': exact up to SQL numeric equality.
std::string value_predicate(const std::string& column, const Value& v, std::vector<Value>& args,
                            Status& status) {
  std::string q = quote_identifier(column);
  if (v.is_null()) return q + " IS NULL";
  auto p = exact_placeholder(v, args);
  if (!p.ok()) {
    status = p.error();
    return "0";
  }
  std::string cmp = v.type() == ValueType::text || v.type() == ValueType::blob ? " COLLATE BINARY" : "";
  return fmt::format("({0} = {1}{2} AND typeof({0}) = '{3}')", q, *p, cmp, to_string(v.type()));
}

std::vector<int> all_columns(const TableDesc& t) {
  std::vector<int> out;
  for (size_t i = 0; i < t.columns.size(); ++i) out.push_back(static_cast<int>(i));
  return out;
}

// "the update of "t" [id=5]": names a row statement in errors the remote returns for it.
std::string row_description(const StepOrigin& o) {
  std::string key;
  for (size_t i = 0; i < o.key.size(); ++i)
    key += fmt::format("{}{}={}", i ? ", " : "", i < o.key_names.size() ? o.key_names[i] : "key",
                       describe(o.key[i]));
  return fmt::format("the {} of {} [{}]", to_string(o.op), quote_identifier(o.table), key);
}

}  // namespace

std::vector<std::string> key_names(const TableDesc& t) {
  std::vector<std::string> names;
  if (t.keyed_by_rowid()) {
    names.push_back(t.rowid_alias >= 0 ? t.columns[static_cast<size_t>(t.rowid_alias)].name : "rowid");
    return names;
  }
  for (int k : t.key_columns) names.push_back(t.columns[static_cast<size_t>(k)].name);
  return names;
}

StepOrigin row_origin(const TableDesc& t, const RowChange& row) {
  StepOrigin origin;
  origin.kind = StepOrigin::Kind::row;
  origin.table = t.name;
  origin.op = row.op;
  origin.key = row.key;
  origin.key_names = key_names(t);
  origin.description = row_description(origin);
  if (row.op != RowOp::remove) {
    for (const ColumnDesc& c : t.columns) origin.row_columns.push_back(c.name);
    origin.row_values = row.new_values;
  }
  return origin;
}

StepOrigin row_guard_origin(const TableDesc& t, const RowChange& row) {
  StepOrigin guard = row_origin(t, row);
  guard.kind = StepOrigin::Kind::guard;
  guard.row_columns.clear();
  guard.row_values.clear();
  std::vector<int> guarded = row.op == RowOp::update ? row.changed_columns : all_columns(t);
  for (int c : guarded) {
    guard.guarded_columns.push_back(t.columns[static_cast<size_t>(c)].name);
    guard.expected.push_back(row.old_values.at(static_cast<size_t>(c)));
  }
  return guard;
}

namespace {

Status add_row(Builder& b, const TableDesc& t, const RowChange& row, bool force) {
  Status status;
  std::string table = quote_identifier(t.name);
  StepOrigin origin = row_origin(t, row);

  if (row.op == RowOp::insert || (force && row.op == RowOp::update)) {
    std::vector<Value> args;
    std::string cols, params;
    bool explicit_rowid = t.keyed_by_rowid() && t.rowid_alias < 0;
    if (explicit_rowid) {
      cols = t.rowid_expr;
      auto p = exact_placeholder(row.key.at(0), args);
      if (!p.ok()) return p.error();
      params = *p;
    }
    for (size_t i = 0; i < t.columns.size(); ++i) {
      if (!cols.empty()) {
        cols += ", ";
        params += ", ";
      }
      cols += quote_identifier(t.columns[i].name);
      auto p = exact_placeholder(row.new_values.at(i), args);
      if (!p.ok()) return p.error().context(fmt::format("push table {}", table));
      params += *p;
    }
    if (!force && row.op == RowOp::insert) {
      std::vector<Value> probe_args;
      std::vector<std::string> probe_names;
      std::string where = key_predicate(t, row.key, probe_args, probe_names, status);
      if (!status.ok()) return status.error().context(fmt::format("push table {}", table));
      origin.probe = SqlStatement{fmt::format("SELECT NOT EXISTS (SELECT 1 FROM {} WHERE {})", table, where),
                                  std::move(probe_args)};
    }
    if (!force) {
      b.add({fmt::format("INSERT INTO {} ({}) VALUES ({})", table, cols, params), args}, origin);
      return {};
    }
    // Local wins for this key only: update the row if it exists, insert it if not. Never INSERT OR REPLACE,
    // which deletes any other row that holds one of its UNIQUE values (a teammate's row): such a clash fails
    // the step and refuses the push instead.
    std::vector<Value> update_args;
    std::string set;
    for (size_t i = 0; i < t.columns.size(); ++i) {
      auto p = exact_placeholder(row.new_values.at(i), update_args);
      if (!p.ok()) return p.error().context(fmt::format("push table {}", table));
      set += fmt::format("{}{} = {}", i ? ", " : "", quote_identifier(t.columns[i].name), *p);
    }
    std::vector<std::string> update_names;
    std::string where = key_predicate(t, row.key, update_args, update_names, status);
    if (!status.ok()) return status.error();
    if (!set.empty())
      b.add({fmt::format("UPDATE {} SET {} WHERE {}", table, set, where), update_args}, origin);
    std::vector<std::string> absent_names;
    std::string absent = key_predicate(t, row.key, args, absent_names, status);
    if (!status.ok()) return status.error();
    b.add({fmt::format("INSERT INTO {} ({}) SELECT {} WHERE NOT EXISTS (SELECT 1 FROM {} WHERE {})", table,
                       cols, params, table, absent),
           args},
          origin);
    return {};
  }

  // update or delete
  if (!force) {
    std::vector<Value> args;
    std::vector<std::string> names;
    std::string where = key_predicate(t, row.key, args, names, status);
    StepOrigin guard = row_guard_origin(t, row);
    std::vector<int> guarded = row.op == RowOp::update ? row.changed_columns : all_columns(t);
    for (int c : guarded)
      where += " AND " +
               value_predicate(t.columns[static_cast<size_t>(c)].name, row.old_values.at(c), args, status);
    if (!status.ok()) return status.error().context(fmt::format("push table {}", table));
    guard.probe = SqlStatement{fmt::format("SELECT EXISTS (SELECT 1 FROM {} WHERE {})", table, where), args};
    b.add({fmt::format("SELECT json(CASE WHEN EXISTS (SELECT 1 FROM {} WHERE {}) THEN '1' ELSE 'x' END)",
                       table, where),
           args},
          guard);
  }
  std::vector<Value> args;
  std::vector<std::string> names;
  if (row.op == RowOp::update) {
    std::string set;
    for (int c : row.changed_columns) {
      auto p = exact_placeholder(row.new_values.at(c), args);
      if (!p.ok()) return p.error().context(fmt::format("push table {}", table));
      set += fmt::format("{}{} = {}", set.empty() ? "" : ", ",
                         quote_identifier(t.columns[static_cast<size_t>(c)].name), *p);
    }
    std::string where = key_predicate(t, row.key, args, names, status);
    if (!status.ok()) return status.error();
    b.add({fmt::format("UPDATE {} SET {} WHERE {}", table, set, where), args}, origin);
  } else {
    std::string where = key_predicate(t, row.key, args, names, status);
    if (!status.ok()) return status.error();
    b.add({fmt::format("DELETE FROM {} WHERE {}", table, where), args}, origin);
  }
  return {};
}

// SQL for "`column` is the name of a user object" (our internal `turso_sync_` and SQLite's `sqlite_` prefixes
// excluded, case-insensitively).
std::string user_object_condition(const std::string& column) {
  std::string out;
  for (const char* prefix : {"sqlite_", "turso_cdc", "turso_sync_", "libsql_", "_litestream"})
    out += fmt::format("{}lower(substr({}, 1, {})) <> '{}'", out.empty() ? "" : " AND ", column,
                       std::string(prefix).size(), prefix);
  return out;
}

}  // namespace

std::string schema_guard_condition(const BaseSchema& schema, std::vector<Value>& args) {
  std::string user = fmt::format("sql IS NOT NULL AND {} AND {}", user_object_condition("name"),
                                 user_object_condition("tbl_name"));
  std::string match;
  for (const SchemaObjectText& o : schema.objects) {
    match += fmt::format("{}(type = ? AND lower(name) = lower(?) AND sql = ?)", match.empty() ? "" : " OR ");
    args.push_back(Value::text(o.type));
    args.push_back(Value::text(o.name));
    args.push_back(Value::text(o.sql));
  }
  if (match.empty()) match = "0";
  std::string out = fmt::format(
      "(SELECT count(*) FROM sqlite_schema WHERE {}) = {} AND (SELECT count(*) FROM "
      "sqlite_schema WHERE {} AND ({})) = {}",
      user, schema.objects.size(), user, match, schema.objects.size());
  args.push_back(Value::integer(schema.user_version));
  out += " AND (SELECT user_version FROM pragma_user_version) = ?";
  Status status;  // values come from the replica, which holds only what the remote could store
  for (const DroppedTableRows& d : schema.dropped) {
    std::string table = quote_identifier(d.table.name);
    out += fmt::format(" AND (SELECT count(*) FROM {}) = ?", table);
    args.push_back(Value::integer(d.count));
    if (!d.totals.empty()) {
      out += fmt::format(" AND EXISTS (SELECT 1 FROM ({}) WHERE ", dropped_table_totals_sql(d.table));
      for (size_t i = 0; i < d.totals.size(); ++i)
        out += fmt::format("{}t{} = ?", i ? " AND " : "", i), args.push_back(d.totals[i]);
      out += ")";
    }
    for (const auto& [key, values] : d.rows) {
      std::vector<std::string> names;
      std::string where = key_predicate(d.table, key, args, names, status);
      for (size_t c = 0; c < values.size() && c < d.table.columns.size(); ++c)
        where += (where.empty() ? "" : " AND ") +
                 value_predicate(d.table.columns[c].name, values[c], args, status);
      out += fmt::format(" AND EXISTS (SELECT 1 FROM {} WHERE {})", table, where.empty() ? "1" : where);
    }
  }
  return out;
}

std::string dropped_table_totals_sql(const TableDesc& table) {
  std::string cols = fmt::format(
      "total({}) AS t0", table.keyed_by_rowid() && !table.rowid_expr.empty() ? table.rowid_expr : "0");
  for (size_t i = 0; i < table.columns.size(); ++i)
    cols += fmt::format(", total(length(CAST({} AS BLOB))) AS t{}", quote_identifier(table.columns[i].name),
                        i + 1);
  return fmt::format("SELECT {} FROM {}", cols, quote_identifier(table.name));
}

int PushBatchWriter::add(SqlStatement stmt, StepOrigin origin) {
  int index = static_cast<int>(m_batch.steps.size());
  std::optional<BatchCondition> cond;
  if (index > 0) cond = BatchCondition::ok(index - 1);
  m_batch.approx_bytes += stmt.sql.size() + 64;
  for (const auto& v : stmt.args) m_batch.approx_bytes += v.payload_size() * 4 / 3 + 48;
  m_batch.steps.push_back({std::move(stmt), std::move(cond)});
  m_batch.origins.push_back(std::move(origin));
  return index;
}

void open_push_batch(PushBatchWriter& w, const PushBatchOptions& options) {
  StepOrigin control;
  control.description = "BEGIN IMMEDIATE";
  w.batch().begin_step = w.add({"BEGIN IMMEDIATE", {}}, control);
  control.description = "push receipt";
  w.add({fmt::format("CREATE TABLE IF NOT EXISTS {} (id TEXT PRIMARY KEY, pushed_at TEXT NOT NULL)",
                     kPushReceiptTable),
         {}},
        control);
  w.add({fmt::format("INSERT INTO {} (id, pushed_at) VALUES (?, ?)", kPushReceiptTable),
         {Value::text(options.push_id), Value::text(options.pushed_at)}},
        control);
  if (!options.known_receipt.empty()) {
    StepOrigin guard;
    guard.kind = StepOrigin::Kind::identity_guard;
    guard.description = "identity guard";
    w.add({fmt::format("SELECT json(CASE WHEN EXISTS (SELECT 1 FROM {} WHERE id = ?) THEN '1' ELSE 'x' END)",
                       kPushReceiptTable),
           {Value::text(options.known_receipt)}},
          guard);
  }
  if (options.base_schema && options.guard_schema) {
    StepOrigin guard;
    guard.kind = StepOrigin::Kind::schema_guard;
    guard.description = "schema guard";
    std::vector<Value> args;
    std::string condition = schema_guard_condition(*options.base_schema, args);
    w.add({fmt::format("SELECT json(CASE WHEN {} THEN '1' ELSE 'x' END)", condition), std::move(args)},
          guard);
  }
}

// Triggers are suspended around everything the batch does: the row changes already hold what triggers did,
// and a table rebuild re-parses every trigger of the schema (the Turso server fails to resolve some of them
// then, e.g. quoted mixed-case table names). Suspended: the remote's triggers as the last pull saw them and
// the target's; restored at the end: the target's (which also creates the new and changed ones).
void suspend_triggers_and_change_schema(PushBatchWriter& w, const Changeset& cs,
                                        const PushBatchOptions& options) {
  bool suspend = !cs.tables.empty() || !cs.schema.empty();
  std::vector<std::string> suspended;
  auto add_suspended = [&](const std::string& name) {
    for (const std::string& n : suspended)
      if (lower_ascii(n) == lower_ascii(name)) return;
    suspended.push_back(name);
  };
  if (options.base_schema)
    for (const SchemaObjectText& o : options.base_schema->objects)
      if (o.type == "trigger") add_suspended(o.name);
  for (const auto& trig : cs.triggers) add_suspended(trig.name);
  if (suspend)
    for (const std::string& name : suspended) {
      StepOrigin origin;
      origin.kind = StepOrigin::Kind::trigger;
      origin.description = "suspend trigger " + quote_identifier(name);
      w.add({"DROP TRIGGER IF EXISTS " + quote_identifier(name), {}}, origin);
    }
  for (const auto& change : cs.schema) {
    if (suspend && change.op == SchemaOp::create_trigger) continue;  // restored with the target's triggers
    if (suspend && change.op == SchemaOp::drop_trigger) continue;    // suspended already, not restored
    for (const auto& sql : change.statements) {
      StepOrigin origin;
      origin.kind = StepOrigin::Kind::schema;
      origin.table = change.table;
      origin.description =
          fmt::format("{} {} {}", to_string(change.op), change.object_type, quote_identifier(change.name));
      w.add({sql, {}}, origin);
    }
  }
}

void restore_push_triggers(PushBatchWriter& w, const Changeset& cs) {
  if (cs.tables.empty() && cs.schema.empty()) return;
  for (const auto& trig : cs.triggers) {
    StepOrigin origin;
    origin.kind = StepOrigin::Kind::trigger;
    origin.description = "restore trigger " + quote_identifier(trig.name);
    w.add({trig.sql, {}}, origin);
  }
}

void end_push_batch(PushBatchWriter& w) {
  PushBatch& b = w.batch();
  StepOrigin control;
  control.description = "COMMIT";
  b.commit_step = w.add({"COMMIT", {}}, control);
  control.description = "ROLLBACK";
  b.steps.push_back({{"ROLLBACK", {}},
                     BatchCondition::all({BatchCondition::ok(b.begin_step),
                                          BatchCondition::negate(BatchCondition::ok(b.commit_step))})});
  b.origins.push_back(control);
}

Result<std::optional<PushBatch>> build_push_batch(const Changeset& cs, const PushBatchOptions& options) {
  Builder b{options, {}, {}, {}, {}};
  // Too large for one request: the caller stages it (sync/push_stage.h).
  if (!TS_TRY(b.note_written_parents(cs))) return std::optional<PushBatch>();
  open_push_batch(b.writer, options);
  suspend_triggers_and_change_schema(b.writer, cs, options);
  // Adds one row change; false when the batch would not fit one request.
  auto add = [&](const TableChanges& tc, const RowChange& row) -> Result<bool> {
    // A row's values alone take at least their memory size in a request.
    if (b.current().approx_bytes + RowList::memory_of(row) / 2 > options.max_batch_bytes) return false;
    TS_TRY_STATUS(add_row(b, tc.table, row, options.force));
    if (row.op == RowOp::remove) b.note_delete(tc.table, row);
    b.note_child(tc.table, row);
    ++b.current().row_changes;
    return true;
  };
  for (const auto& tc : cs.tables) {
    if (!tc.table.has_unique_index) {
      RowCursor rows = tc.rows.cursor();
      while (const RowChange* row = TS_TRY(rows.next()))
        if (!TS_TRY(add(tc, *row))) return std::optional<PushBatch>();
      continue;
    }
    // A UNIQUE value may move between rows of this push: deletes free theirs first, then the updates run
    // in an order where a value is freed before it is taken (order_value_moves), then the inserts.
    std::vector<RowChange> updates;
    for (RowOp op : {RowOp::remove, RowOp::update, RowOp::insert}) {
      RowCursor rows = tc.rows.cursor();
      uint64_t held_bytes = 0;
      while (const RowChange* row = TS_TRY(rows.next())) {
        if (row->op != op) continue;
        if (op == RowOp::update) {  // held in memory only as long as they fit one request
          held_bytes += RowList::memory_of(*row) / 2;
          if (b.current().approx_bytes + held_bytes > options.max_batch_bytes)
            return std::optional<PushBatch>();
          updates.push_back(*row);
          continue;
        }
        if (!TS_TRY(add(tc, *row))) return std::optional<PushBatch>();
      }
      if (op != RowOp::update) continue;
      for (size_t i : order_value_moves(updates))
        if (!TS_TRY(add(tc, updates[i]))) return std::optional<PushBatch>();
      updates.clear();
    }
  }
  restore_push_triggers(b.writer, cs);
  TS_TRY_STATUS(b.add_reference_guards());
  TS_TRY_STATUS(b.add_parent_guards());
  if (b.current().approx_bytes > options.max_batch_bytes) return std::optional<PushBatch>();
  end_push_batch(b.writer);
  return std::optional<PushBatch>(b.writer.take());
}

std::string render_batch_sql(const PushBatch& batch) {
  std::string out;
  for (size_t i = 0; i < batch.steps.size(); ++i) {
    const auto& step = batch.steps[i];
    if (static_cast<int>(i) == batch.commit_step + 1) {
      out += "-- ROLLBACK instead of COMMIT when any step fails\n";
      continue;
    }
    std::string sql;
    size_t arg = 0;
    for (char c : step.stmt.sql) {
      if (c == '?' && arg < step.stmt.args.size()) {
        sql += sql_literal(step.stmt.args[arg++]);
      } else {
        sql.push_back(c);
      }
    }
    if (batch.origins[i].kind == StepOrigin::Kind::guard)
      out += "-- guard: the remote row must still be as last pulled\n";
    if (batch.origins[i].kind == StepOrigin::Kind::reference_guard)
      out += "-- guard: no remote row may still reference the deleted rows\n";
    switch (batch.origins[i].kind) {
      case StepOrigin::Kind::parent_guard:
      case StepOrigin::Kind::stage_parent_guard:
        out += "-- guard: every parent the new or changed rows reference must be on the remote\n";
        break;
      case StepOrigin::Kind::stage_guard:
        out += "-- guard: the remote row of every staged update and delete must still be as last pulled\n";
        break;
      case StepOrigin::Kind::stage_parts_guard:
        out += "-- guard: every part of this push must be staged\n";
        break;
      default:
        break;
    }
    out += sql + ";\n";
  }
  return out;
}

StepOrigin reference_guard_origin(const ForeignReference& r) {
  StepOrigin origin;
  origin.kind = StepOrigin::Kind::reference_guard;
  origin.table = r.child;
  origin.description = fmt::format(
      "the remote has rows of {} (added since your last pull) whose {} references a row of {} this push "
      "deletes; pull first (the merge reports them)",
      quote_identifier(r.child), quote_identifier(r.columns[0]), quote_identifier(r.parent));
  return origin;
}

}  // namespace turso_sync
