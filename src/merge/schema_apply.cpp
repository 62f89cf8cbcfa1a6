// Schema merge, the application of the decisions (schema_decision.cpp): the delta's statements for objects
// taken as they are, theirs' version adopted in place of ours (a table rebuilt keeping rows by column name,
// ours saved), the working copy's own indexes recreated after a rebuild, and the refusal to drop or rebuild a
// table whose local rows would be lost.
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "db/schema.h"
#include "diff/schema_plan.h"
#include "diff/sql_text.h"
#include "merge/merger.h"
#include "util/text.h"

namespace turso_sync::merge {

// Whether the working copy already holds this schema change's result (a merge that is redone, or the same
// change made locally): its statements are then skipped, as a row already equal to theirs is.
Result<bool> Merger::schema_already_applied(const SchemaChange& c) {
  auto stmt =
      TS_TRY(m_db.prepare("SELECT type, sql FROM sqlite_schema WHERE name = ?1 COLLATE NOCASE AND sql IS "
                          "NOT NULL"));
  TS_TRY_STATUS(stmt.bind(1, Value::text(c.name)));
  bool found = TS_TRY(stmt.step()) && stmt.column_text(0) == c.object_type;
  switch (c.op) {
    case SchemaOp::drop_table:
    case SchemaOp::drop_index:
    case SchemaOp::drop_view:
    case SchemaOp::drop_trigger:
      return !found;
    default:
      return found && diff::normalize_sql(stmt.column_text(1)) == diff::normalize_sql(c.new_sql);
  }
}

// A schema change that discards a table's rows (the remote dropped the table, or rebuilt it in a way that
// cannot keep rows) may only run when the working copy's rows of that table equal the base's: otherwise
// local changes would vanish silently. Checked when MergeOptions::base_path is given.
// Under hold, a table the remote dropped (or rebuilt without its rows) while the working copy has local
// changes in it is kept as it is and held as a whole (hold_whole_table): the change is not applied here, and
// push leaves the table out until `resolve` (sync/held.h). Returns whether it is held.
Result<bool> Merger::check_no_local_rows_lost(const SchemaChange& c) {
  bool discards = c.op == SchemaOp::drop_table || (c.op == SchemaOp::rebuild_table && !c.copy_rows);
  if (!discards || m_options.base_path.empty()) return false;
  if (!m_base) {
    auto opened = db::Database::open(m_options.base_path, db::OpenMode::read_only);
    if (!opened.ok()) return std::move(opened).error().context("read the replica (the merge's base)");
    m_base = std::make_unique<db::Database>(std::move(opened).value());
  }
  if (TS_TRY(same_rows(c.name))) return false;
  if (decide(ConflictKind::schema) == ConflictDecision::take_theirs) {
    m_discarded += TS_TRY(dump_table_sql(m_db, c.name, c.op == SchemaOp::drop_table ? "dropped" : "rebuilt"));
    return false;
  }
  if (c.op == SchemaOp::drop_table && decide(ConflictKind::dropped_column) == ConflictDecision::hold) {
    hold_whole_table(c.name, ConflictKind::dropped_column,
                     "the remote dropped the table, which the working copy changed");
    return true;
  }
  if (c.op == SchemaOp::rebuild_table && decide(ConflictKind::schema) == ConflictDecision::hold) {
    hold_whole_table(c.name, ConflictKind::schema,
                     "the remote rebuilt the table in a way that cannot keep its rows, which the "
                     "working copy changed");
    return true;
  }
  return Error(
      ErrorKind::conflict,
      fmt::format("merge into working copy {}: the remote {} table {}{}, but the working copy has local "
                  "changes in it that would be lost; nothing was changed. Save what you need from it, "
                  "undo those changes (or run `turso-sync reset`), then pull again",
                  m_db.path(), c.op == SchemaOp::drop_table ? "dropped" : "rebuilt", printable(c.name),
                  c.op == SchemaOp::drop_table ? "" : " in a way that cannot keep its rows"));
}

// Whether `table` holds exactly the same rows (rowids included) in the working copy and in the base.
Result<bool> Merger::same_rows(const std::string& table) {
  auto ours_count = TS_TRY(
      m_db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE"));
  TS_TRY_STATUS(ours_count.bind(1, Value::text(table)));
  if (!TS_TRY(ours_count.step()) || ours_count.column_int64(0) == 0) return true;  // nothing to lose
  db::TableInfo info = TS_TRY(db::read_table_info(m_db, table));
  std::string order;
  if (info.without_rowid) {
    for (int k : info.key_columns)
      order += (order.empty() ? "" : ", ") + quote_identifier(info.columns[k].name);
  } else {
    if (info.rowid_expr.empty()) return true;  // no way to pair rows; the rebuild's own checks apply
    order = info.rowid_expr;
  }
  std::string sql = fmt::format("SELECT {}* FROM {} ORDER BY {}", info.without_rowid ? "" : order + ", ",
                                quote_identifier(table), order);
  auto a = TS_TRY(m_db.prepare(sql));
  auto b_prepared = m_base->prepare(sql);
  if (!b_prepared.ok()) return !TS_TRY(a.step());  // the base has no such table (or another shape)
  db::Statement b = std::move(b_prepared).value();
  if (a.column_count() != b.column_count()) return false;
  while (true) {
    bool ra = TS_TRY(a.step()), rb = TS_TRY(b.step());
    if (ra != rb) return false;
    if (!ra) return true;
    for (int i = 0; i < a.column_count(); ++i)
      if (a.column(i) != b.column(i)) return false;
  }
}

Status Merger::apply_schema() {
  if (m_delta.schema.empty()) return {};
  if (m_options.base_path.empty() || m_options.theirs_path.empty())
    return Error(ErrorKind::internal,
                 fmt::format("merge into working copy {}: the delta changes the schema, but the base and "
                             "the new replica were not given",
                             m_db.path()));
  db::Database* base = TS_TRY(base_db());
  db::Database* theirs = TS_TRY(theirs_db());
  std::vector<std::string> conflicts;
  std::string saved;
  std::map<std::string, Decision> decisions = TS_TRY(decide_schema(*base, *theirs, conflicts, saved));
  if (!conflicts.empty()) {
    std::string list;
    for (const std::string& line : conflicts) list += "\n  " + line;
    return Error(ErrorKind::conflict,
                 fmt::format("merge into working copy {}: schema conflict; nothing was changed:{}\nMake the "
                             "working copy's definition the same as the remote's (or undo your schema "
                             "change), or pull with --on-conflict=remote to take the remote's (yours is "
                             "saved), then pull again",
                             m_db.path(), list));
  }

  m_discarded += saved;

  std::set<std::string> adopted;
  for (const SchemaChange& c : m_delta.schema) {
    if (held_whole(c.table) || held_whole(c.name)) continue;  // held here, after its decision
    std::string key = object_key(c.object_type, c.name);
    const Decision& d = decisions[key];
    if (d.action == Action::skip) continue;
    if (d.action == Action::adopt) {
      if (adopted.insert(key).second) TS_TRY_STATUS(adopt(c, d));
      continue;
    }
    if (derived_type(c.object_type)) {  // created with the others at the end of the merge
      if (c.reason != SchemaReason::dependent)
        set_derived(c.object_type, c.name, TS_TRY(object_sql(*theirs, c.object_type, c.name)));
      continue;
    }
    // An index that the working copy already holds as theirs (recreated with its rebuilt table): done.
    if (c.object_type == "index" && TS_TRY(object_meaning(m_db, "index", c.name)) == d.theirs) continue;
    if (c.op == SchemaOp::create_index && decide(ConflictKind::schema) == ConflictDecision::take_theirs &&
        c.statements.size() == 1) {
      // Theirs' new index on a column the working copy renamed or dropped: theirs' table comes back.
      Status first = m_db.exec(c.statements[0]);
      if (first.ok()) continue;
      if (first.error().kind() == ErrorKind::sql) TS_TRY(undo_local_renames_for(c.new_sql));
      TS_TRY_STATUS(exec_schema_statements(c, c.statements));
      continue;
    }
    if (TS_TRY(check_no_local_rows_lost(c))) continue;  // held: the table stays as it is
    bool rebuilds = c.op == SchemaOp::rebuild_table;
    auto own = rebuilds ? TS_TRY(own_objects_on(c.name, decisions)) : std::vector<OwnObject>{};
    TS_TRY_STATUS(exec_schema_statements(c, c.statements));
    TS_TRY_STATUS(restore_own_objects(c.name, own));
  }
  return {};
}

Status Merger::exec_schema_statements(const SchemaChange& c, const std::vector<std::string>& statements) {
  for (const std::string& sql : statements) {
    auto st = m_db.exec(sql);
    if (st.ok()) continue;
    if (st.error().kind() != ErrorKind::sql)
      return st.error().context(
          fmt::format("merge into working copy: apply {} {}", to_string(c.op), printable(c.name)));
    return Error(ErrorKind::conflict,
                 fmt::format("merge into working copy {}: the remote's schema change ({} of {}) cannot be "
                             "applied: {}; nothing was changed. Undo the local schema change (or make it "
                             "the same as the remote's) and pull again",
                             m_db.path(), to_string(c.op), describe_object(c), st.error().message()));
  }
  return {};
}

Result<std::vector<Merger::OwnObject>> Merger::own_objects_on(
    const std::string& table, const std::map<std::string, Decision>& decisions) {
  std::vector<OwnObject> out;
  auto stmt =
      TS_TRY(m_db.prepare("SELECT type, name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = "
                          "?1 COLLATE NOCASE AND sql IS NOT NULL"));
  TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
  while (TS_TRY(stmt.step())) {
    OwnObject o{stmt.column_text(0), stmt.column_text(1), stmt.column_text(2)};
    auto it = decisions.find(object_key(o.type, o.name));
    if (it != decisions.end() && it->second.action != Action::skip) continue;
    out.push_back(std::move(o));
  }
  return out;
}

Status Merger::restore_own_objects(const std::string& table, const std::vector<OwnObject>& own) {
  for (const OwnObject& o : own) {
    if (TS_TRY(object_sql(m_db, o.type, o.name))) continue;
    auto st = m_db.exec(o.sql);
    if (!st.ok())
      return Error(
          ErrorKind::conflict,
          fmt::format("merge into working copy {}: your {} {} on table {} does not fit the remote's "
                      "new definition of the table ({}); nothing was changed. Drop or change it "
                      "and pull again",
                      m_db.path(), o.type, printable(o.name), printable(table), st.error().message()));
  }
  return {};
}

// Takes theirs' version of the object into the working copy, keeping what can be kept (a table's rows, by
// column name) and saving ours in the discarded-changes script unless this copy pushed it itself.
Status Merger::adopt(const SchemaChange& c, const Decision& d) {
  db::Database* theirs = TS_TRY(theirs_db());
  bool pushed = m_pushed_objects.count(object_key(c.object_type, c.name)) != 0;
  if (c.object_type == "pragma") {
    TS_TRY_STATUS(m_db.exec(fmt::format("PRAGMA main.user_version = {}", d.theirs)));
    if (!pushed) m_discarded += fmt::format("PRAGMA user_version = {};\n", d.ours);
    return {};
  }
  auto ours_sql = TS_TRY(object_sql(m_db, c.object_type, c.name));
  auto theirs_sql = TS_TRY(object_sql(*theirs, c.object_type, c.name));
  if (c.object_type == "table" && !ours_sql && theirs_sql && !m_options.base_path.empty()) {
    // Our RENAME TO is undone: the table gets the remote's name back and becomes the remote's below.
    std::string renamed = TS_TRY(local_rename_of(c.name));
    if (!renamed.empty()) {
      TS_TRY_STATUS(
          exec_schema_statements(c, {fmt::format("ALTER TABLE main.{} RENAME TO {}",
                                                 quote_identifier(renamed), quote_identifier(c.name))}));
      if (!pushed)
        m_discarded += fmt::format(
            "-- your rename of table {} (the remote changed the table)\nALTER TABLE {} "
            "RENAME TO {};\n",
            printable(c.name), quote_identifier(c.name), quote_identifier(renamed));
      ours_sql = TS_TRY(object_sql(m_db, "table", c.name));
    }
  }
  bool derived = derived_type(c.object_type);
  if (derived) {
    auto saved = m_derived_ours.find(object_key(c.object_type, c.name));
    ours_sql = saved == m_derived_ours.end() ? std::nullopt : std::optional<std::string>(saved->second);
  }
  if (!ours_sql && theirs_sql && !pushed)  // our drop is undone: running this drops it again
    m_discarded +=
        fmt::format("-- you dropped {}; the remote's is taken back\nDROP {} {};\n", describe_object(c),
                    c.object_type == "table"   ? "TABLE"
                    : c.object_type == "index" ? "INDEX"
                    : c.object_type == "view"  ? "VIEW"
                                               : "TRIGGER",
                    quote_identifier(c.name));
  if (derived) {
    if (ours_sql && !pushed)
      m_discarded +=
          fmt::format("-- your {} (replaced by the remote's)\n{};\n", describe_object(c), *ours_sql);
    set_derived(c.object_type, c.name, theirs_sql);
    return {};
  }
  if (c.object_type != "table") {
    if (ours_sql && !pushed)
      m_discarded +=
          fmt::format("-- your {} (replaced by the remote's)\n{};\n", describe_object(c), *ours_sql);
    if (ours_sql) TS_TRY_STATUS(exec_schema_statements(c, {"DROP INDEX main." + quote_identifier(c.name)}));
    if (theirs_sql) TS_TRY_STATUS(exec_schema_statements(c, {*theirs_sql}));
    return {};
  }
  if (ours_sql && !pushed) m_discarded += TS_TRY(dump_table_sql(m_db, c.name, "its definition"));
  if (!theirs_sql) return exec_schema_statements(c, {"DROP TABLE main." + quote_identifier(c.name)});
  if (!ours_sql) {
    TS_TRY_STATUS(exec_schema_statements(c, {*theirs_sql}));
    return db::copy_rows(*theirs, m_db, c.name);
  }
  // Rebuild ours into theirs' definition, copying the columns both have (by name) and the rowids.
  db::TableInfo o = TS_TRY(db::read_table_info(m_db, c.name));
  db::TableInfo t = TS_TRY(db::read_table_info(*theirs, c.name));
  std::string cols;
  for (int i : t.stored_columns())
    for (int j : o.stored_columns())
      if (sqlite3_stricmp(t.columns[i].name.c_str(), o.columns[j].name.c_str()) == 0)
        cols += (cols.empty() ? "" : ", ") + quote_identifier(t.columns[i].name);
  bool copy_rowid = !o.without_rowid && !t.without_rowid && o.rowid_alias < 0 && t.rowid_alias < 0 &&
                    !o.rowid_expr.empty() && o.rowid_expr == t.rowid_expr;
  if (copy_rowid) cols = o.rowid_expr + (cols.empty() ? "" : ", " + cols);
  std::string tmp = quote_identifier("turso_sync_new_" + c.name);
  std::vector<OwnObject> own = TS_TRY(own_objects_on(c.name, {}));
  std::vector<std::string> statements{diff::rename_created(*theirs_sql, tmp)};
  if (!cols.empty())
    statements.push_back(
        fmt::format("INSERT INTO {}({}) SELECT {} FROM main.{}", tmp, cols, cols, quote_identifier(c.name)));
  statements.push_back("DROP TABLE main." + quote_identifier(c.name));
  statements.push_back(fmt::format("ALTER TABLE {} RENAME TO {}", tmp, quote_identifier(c.name)));
  TS_TRY_STATUS(exec_schema_statements(c, statements));
  bool rowids_kept =
      copy_rowid ||
      (t.rowid_alias >= 0 && cols.find(quote_identifier(t.columns[t.rowid_alias].name)) != std::string::npos);
  TS_TRY_STATUS(fill_from_theirs(*theirs, c.name, o, t, rowids_kept));
  // Theirs' indexes on it come from the delta when they changed; the unchanged ones are ours.
  for (const OwnObject& obj : own) {
    if (TS_TRY(object_sql(m_db, obj.type, obj.name))) continue;
    if (!m_db.exec(obj.sql).ok() && !pushed)
      m_discarded += fmt::format("-- your {} {} no longer fits table {}\n{};\n", obj.type,
                                 printable(obj.name), printable(c.name), obj.sql);
  }
  return {};
}

// Theirs' definition and rows of `table` replace ours (saved), outside the delta's schema changes; `op`
// names the step in errors.
Status Merger::adopt_table(const std::string& table, SchemaOp op) {
  SchemaChange c;
  c.object_type = "table";
  c.op = op;
  c.name = table;
  return adopt(c, Decision{});
}

// After ours was rebuilt into theirs' definition of `table`: the columns ours lacked get theirs' values,
// matched by key, so that taking theirs' table does not reset them (the next push would send the reset).
Status Merger::fill_from_theirs(db::Database& theirs, const std::string& table, const db::TableInfo& o,
                                const db::TableInfo& t, bool rowids_kept) {
  auto ours_has = [&](const std::string& name) {
    return std::any_of(o.columns.begin(), o.columns.end(), [&](const db::Column& c) {
      return sqlite3_stricmp(c.name.c_str(), name.c_str()) == 0;
    });
  };
  std::vector<std::string> missing, key;
  for (int i : t.stored_columns())
    if (!ours_has(t.columns[i].name)) missing.push_back(quote_identifier(t.columns[i].name));
  if (missing.empty()) return {};
  if (t.without_rowid) {
    for (int k : t.key_columns) {
      if (!ours_has(t.columns[k].name)) return {};  // the rows cannot be paired
      key.push_back(quote_identifier(t.columns[k].name));
    }
  } else {
    if (!rowids_kept || t.rowid_expr.empty()) return {};
    key.push_back(t.rowid_expr);
  }
  std::string select, set, where;
  for (size_t i = 0; i < key.size(); ++i) select += (i ? ", " : "") + key[i];
  for (size_t i = 0; i < missing.size(); ++i) {
    select += ", " + missing[i];
    set += fmt::format("{}{} = ?{}", i ? ", " : "", missing[i], i + 1);
  }
  for (size_t i = 0; i < key.size(); ++i)
    where += fmt::format("{}{} = ?{}", i ? " AND " : "", key[i], missing.size() + i + 1);
  auto read = TS_TRY(theirs.prepare(fmt::format("SELECT {} FROM {}", select, quote_identifier(table))));
  auto write = TS_TRY(
      m_db.prepare(fmt::format("UPDATE main.{} SET {} WHERE {}", quote_identifier(table), set, where)));
  while (TS_TRY(read.step())) {
    TS_TRY_STATUS(write.reset());
    for (size_t i = 0; i < missing.size(); ++i)
      TS_TRY_STATUS(write.bind(static_cast<int>(i + 1), read.column(static_cast<int>(key.size() + i))));
    for (size_t i = 0; i < key.size(); ++i)
      TS_TRY_STATUS(write.bind(static_cast<int>(missing.size() + i + 1), read.column(static_cast<int>(i))));
    TS_TRY(write.step());
  }
  return {};
}

}  // namespace turso_sync::merge
