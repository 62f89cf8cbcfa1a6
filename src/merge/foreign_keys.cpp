// Foreign keys: a merge never leaves a foreign key dangling that was intact on both sides: a local delete of
// a parent (ON DELETE CASCADE included) against a remote new child, or a remote delete of a parent against a
// local child. PRAGMA foreign_key_check on the tables the delta touches (and their children), before and
// after the rows; each new dangling reference is a conflict. --on-conflict=remote takes the remote's side
// (its parent row comes back, or our child goes), local ours (their child goes, or the parent as last
// pulled comes back); what goes is saved in the discarded-changes script. Also the working copy's declared
// foreign keys, which id moves follow.
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

// The child tables whose references the merge can break.
Result<std::vector<std::string>> Merger::foreign_key_tables() {
  std::set<std::string> delta;
  for (const TableChanges& tc : m_delta.tables) delta.insert(lower_ascii(tc.table.name));
  std::set<std::string> out;
  for (const ForeignKey& fk : *TS_TRY(foreign_keys()))
    if (delta.count(lower_ascii(fk.child)) || delta.count(lower_ascii(fk.parent))) out.insert(fk.child);
  // Composite keys are not in foreign_keys(): look at every delta table's own list too.
  for (const TableChanges& tc : m_delta.tables)
    if (TS_TRY(object_sql(m_db, "table", tc.table.name)) &&
        TS_TRY(db::query_int(m_db, fmt::format("SELECT count(*) FROM pragma_foreign_key_list({})",
                                               sql_literal(Value::text(tc.table.name))))) > 0)
      out.insert(tc.table.name);
  return std::vector<std::string>(out.begin(), out.end());
}

// A table whose foreign key SQLite cannot check ("foreign key mismatch": the parent columns are not a key)
// is left out, as SQLite's own enforcement leaves it.
Result<std::set<Merger::Dangling>> Merger::dangling_references(const std::vector<std::string>& tables) {
  std::set<Dangling> out;
  for (const std::string& t : tables) {
    if (!TS_TRY(object_sql(m_db, "table", t))) continue;
    auto stmt = m_db.prepare(fmt::format("PRAGMA main.foreign_key_check({})", quote_identifier(t)));
    if (!stmt.ok()) continue;
    std::set<Dangling> found;
    bool checked = true;
    for (;;) {
      auto step = stmt->step();
      if (!step.ok()) {
        checked = false;
        break;
      }
      if (!*step) break;
      found.insert({lower_ascii(stmt->column_text(0)), stmt->column(1).is_null() ? -1 : stmt->column_int64(1),
                    stmt->column_int64(3)});
    }
    if (checked) out.insert(found.begin(), found.end());
  }
  return out;
}

// Settling can break references further away: a parent brought back may reference a grandparent that
// ours deleted too (ON DELETE CASCADE deletes down a chain), and a child deleted may have children of its
// own. Those rows (m_follow) are checked in the next round wherever their table is, whatever the before
// state (they are new by construction); until nothing more is settled.
Status Merger::settle_dangling_references(const std::vector<std::string>& tables,
                                          const std::set<Dangling>& before) {
  std::vector<std::string> conflicts;
  const std::set<std::string> merged(tables.begin(), tables.end());
  for (int round = 0; round < 64; ++round) {
    std::set<std::string> checked = merged;
    for (const auto& [table, rowid] : m_follow) checked.insert(table);
    std::set<Dangling> now =
        TS_TRY(dangling_references(std::vector<std::string>(checked.begin(), checked.end())));
    bool settled_any = false;
    for (const Dangling& d : now) {
      bool followed = m_follow.count({d.child, d.rowid}) != 0;
      if (!followed && (before.count(d) || !merged.count(d.child))) continue;
      std::string line = TS_TRY(settle_dangling(d, settled_any));
      if (!line.empty()) conflicts.push_back(line);
    }
    if (!conflicts.empty() || !settled_any) break;
  }
  if (conflicts.empty()) return {};
  std::string list;
  for (size_t i = 0; i < conflicts.size() && i < 20; ++i) list += "\n  " + conflicts[i];
  if (conflicts.size() > 20) list += fmt::format("\n  … and {} more", conflicts.size() - 20);
  return Error(ErrorKind::conflict,
               fmt::format("merge into working copy {}: the merge would leave foreign keys dangling; nothing "
                           "was changed:{}\nSettle it with `pull --on-conflict=remote` (the remote's side "
                           "wins) or `--on-conflict=local` (yours wins; what is dropped is saved)",
                           m_db.path(), list));
}

// Settles one dangling reference by the policy (sets `settled`), or returns the conflict line.
Result<std::string> Merger::settle_dangling(const Dangling& d, bool& settled) {
  std::string child = quote_identifier(d.child);
  auto fk = TS_TRY(m_db.prepare(fmt::format(
      "SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list({}) WHERE id = ?1 ORDER BY seq",
      sql_literal(Value::text(d.child)))));
  TS_TRY_STATUS(fk.bind(1, Value::integer(d.fk)));
  std::string parent, from;
  std::optional<std::string> to;
  int parts = 0;
  while (TS_TRY(fk.step())) {
    ++parts;
    parent = fk.column_text(0);
    from = fk.column_text(1);
    if (!fk.column(2).is_null()) to = fk.column_text(2);
  }
  std::string where_child = d.rowid >= 0 ? fmt::format("rowid = {}", d.rowid) : "0";
  auto value_stmt = TS_TRY(m_db.prepare(
      fmt::format("SELECT {} FROM main.{} WHERE {}", quote_identifier(from), child, where_child)));
  Value value = TS_TRY(value_stmt.step()) ? value_stmt.column(0) : Value::null();
  std::string row = fmt::format("table {} row {} ({} = {})", printable(d.child), d.rowid, printable(from),
                                printable(sql_literal(value)));
  if (parts != 1 || d.rowid < 0)
    return fmt::format("{}: references a {} row that is gone", row, printable(parent));
  std::string key = to ? quote_identifier(*to) : std::string("rowid");
  if (m_options.theirs_path.empty() || m_options.base_path.empty())
    return fmt::format("{}: references a {} row that is gone", row, printable(parent));
  db::Database* theirs = TS_TRY(theirs_db());
  db::Database* base = TS_TRY(base_db());
  auto parent_row = [&](db::Database& db) -> Result<bool> {
    auto q = db.prepare(fmt::format("SELECT 1 FROM main.{} WHERE {} = ?1", quote_identifier(parent), key));
    if (!q.ok()) return false;
    TS_TRY_STATUS(q->bind(1, value));
    return TS_TRY(q->step());
  };
  bool theirs_has_parent = TS_TRY(parent_row(*theirs));
  // The remote itself holds this reference dangling (its child row refers to the same missing parent: a
  // teammate deleted the parent with foreign keys off): the merge only reproduces the remote's state, it
  // breaks nothing; bringing the parent back would undo the teammate's delete on the next push.
  if (!theirs_has_parent && TS_TRY(reference_in(*theirs, d, from)) == std::optional<Value>(value))
    return std::string();
  std::string who = theirs_has_parent ? "you deleted" : "the remote deleted";
  ConflictDecision decision = decide(ConflictKind::dangling);
  if (decision == ConflictDecision::stop)
    return fmt::format("{}: references {} row {} = {}, which {}", row, printable(parent), printable(key),
                       printable(sql_literal(value)), who);
  // hold: the working copy is settled as keep_ours settles it, nothing is saved as discarded, and the
  // parent and the child are both held (never pushed) until `resolve`: --theirs writes the remote's rows of
  // both, --ours lifts the holds and the next push sends ours.
  bool take_theirs = decision == ConflictDecision::take_theirs;
  bool hold = decision == ConflictDecision::hold;
  size_t discarded_before = m_discarded.size();
  std::optional<std::vector<Value>> held_child;
  if (hold) held_child = TS_TRY(row_key(d.child, m_db, "rowid = ?1", Value::integer(d.rowid)));
  bool bring_parent_back = theirs_has_parent == take_theirs;
  if (bring_parent_back && TS_TRY(parent_row(m_db))) {
    // Another reference to the same parent, settled earlier in this round, brought it back already.
  } else if (bring_parent_back) {
    db::Database& from_db = theirs_has_parent ? *theirs : *base;
    if (!TS_TRY(parent_row(from_db)))
      return fmt::format("{}: references {} row {} = {}, which is gone on both sides", row, printable(parent),
                         printable(key), printable(sql_literal(value)));
    if (!TS_TRY(copy_row(from_db, parent, key, value)))
      return parent_cannot_come_back(
          from_db, parent, key, value,
          fmt::format("{}: references {} row {} = {}, which {}", row, printable(parent), printable(key),
                      printable(sql_literal(value)), who));
    if (sqlite3_changes(m_db.handle()) > 0)
      m_follow.insert({lower_ascii(parent), sqlite3_last_insert_rowid(m_db.handle())});
    m_discarded += fmt::format(
        "-- {} row {} = {} came back (a row of {} references it)\nDELETE FROM {} WHERE {} = {};\n",
        printable(parent), printable(key), printable(sql_literal(value)), printable(d.child),
        quote_identifier(parent), key, sql_literal(value));
  } else if (TS_TRY(restore_reference(take_theirs ? *theirs : *base, d, from, parent, value, row))) {
    // A row the winning side has too (only its reference changed here): its reference is back.
  } else {
    auto dump = TS_TRY(m_db.prepare(fmt::format("SELECT * FROM main.{} WHERE {}", child, where_child)));
    if (TS_TRY(dump.step())) {
      std::string values;
      for (int i = 0; i < dump.column_count(); ++i) values += (i ? ", " : "") + sql_literal(dump.column(i));
      m_discarded += fmt::format("-- {} (its {} row is gone)\nINSERT INTO {} VALUES({});\n", row,
                                 printable(parent), child, values);
    }
    TS_TRY_STATUS(follow_children_of(d.child, d.rowid));
    TS_TRY_STATUS(m_db.exec(fmt::format("DELETE FROM main.{} WHERE {}", child, where_child)));
  }
  if (hold) {
    m_discarded.resize(discarded_before);
    std::string where_parent = key + " = ?1";
    auto parent_key = TS_TRY(row_key(parent, m_db, where_parent, value));
    if (!parent_key) parent_key = TS_TRY(row_key(parent, *theirs, where_parent, value));
    std::string about = fmt::format("{} references {} row {} = {}, which {}", row, printable(parent),
                                    printable(key), printable(sql_literal(value)), who);
    if (parent_key) TS_TRY_STATUS(report_row(parent, *parent_key, ConflictKind::dangling, about));
    if (held_child) TS_TRY_STATUS(report_row(d.child, *held_child, ConflictKind::dangling, about));
  }
  settled = true;
  return std::string();
}

Result<std::optional<Merger::ChildKey>> Merger::child_key(const Dangling& d) {
  db::TableInfo info = TS_TRY(db::read_table_info(m_db, d.child));
  if (info.without_rowid || info.rowid_expr.empty()) return std::optional<ChildKey>();
  ChildKey k;
  if (info.has_declared_key() && info.rowid_alias < 0)
    for (int c : info.key_columns) k.names.push_back(quote_identifier(info.columns[c].name));
  else
    k.names.push_back("rowid");
  std::string cols;
  for (size_t i = 0; i < k.names.size(); ++i) {
    cols += (i ? ", " : "") + k.names[i];
    k.where += fmt::format("{}{} = ?{}", i ? " AND " : "", k.names[i], i + 1);
  }
  auto stmt = TS_TRY(
      m_db.prepare(fmt::format("SELECT {} FROM main.{} WHERE rowid = ?1", cols, quote_identifier(d.child))));
  TS_TRY_STATUS(stmt.bind(1, Value::integer(d.rowid)));
  if (!TS_TRY(stmt.step())) return std::optional<ChildKey>();
  for (int i = 0; i < stmt.column_count(); ++i) k.values.push_back(stmt.column(i));
  return std::optional<ChildKey>(std::move(k));
}

// The value of `column` that `side` holds for the working copy's child row `d`; nullopt when `side` lacks
// that row (or its table or column).
Result<std::optional<Value>> Merger::reference_in(db::Database& side, const Dangling& d,
                                                  const std::string& column) {
  std::optional<ChildKey> key = TS_TRY(child_key(d));
  if (!key) return std::optional<Value>();
  auto read = side.prepare(fmt::format("SELECT {} FROM main.{} WHERE {}", quote_identifier(column),
                                       quote_identifier(d.child), key->where));
  if (!read.ok()) return std::optional<Value>();
  for (size_t i = 0; i < key->values.size(); ++i)
    TS_TRY_STATUS(read->bind(static_cast<int>(i) + 1, key->values[i]));
  if (!TS_TRY(read->step())) return std::optional<Value>();
  return std::optional<Value>(read->column(0));
}

// The dangling child row `d` goes only if it is new: a row that `winner` (the side the policy takes:
// theirs, or the base for ours) also has, with another reference in `column`, gets that reference back
// instead, and keeps every other column (deleting it would make the next push delete a row the team has;
// issue: an UPDATE re-pointing a child to a parent the remote deleted, settled with --on-conflict=remote,
// deleted the child on the remote). The value replaced is saved. Returns whether the row was restored.
Result<bool> Merger::restore_reference(db::Database& winner, const Dangling& d, const std::string& column,
                                       const std::string& parent, const Value& ours, const std::string& row) {
  std::optional<Value> winners = TS_TRY(reference_in(winner, d, column));
  if (!winners || *winners == ours) return false;
  Value reference = std::move(*winners);
  std::optional<ChildKey> key = TS_TRY(child_key(d));
  if (!key) return false;
  std::string child = quote_identifier(d.child);
  auto write = TS_TRY(m_db.prepare(
      fmt::format("UPDATE main.{} SET {} = ?1 WHERE rowid = ?2", child, quote_identifier(column))));
  TS_TRY_STATUS(write.bind(1, reference));
  TS_TRY_STATUS(write.bind(2, Value::integer(d.rowid)));
  if (auto written = write.step(); !written.ok()) {
    if (sqlite3_extended_errcode(m_db.handle()) != SQLITE_CONSTRAINT_UNIQUE)
      return std::move(written).error();
    return Error(
        ErrorKind::conflict,
        fmt::format("merge into working copy {}: {}: its {} row is gone, and its {} cannot go back to {}: "
                    "another row of {} holds that value (UNIQUE); nothing was changed. Change that row's "
                    "value and pull again",
                    m_db.path(), row, printable(parent), printable(column), printable(sql_literal(reference)),
                    printable(d.child)));
  }
  m_follow.insert({d.child, d.rowid});
  std::string saved_where;
  for (size_t i = 0; i < key->values.size(); ++i)
    saved_where += fmt::format("{}{} = {}", i ? " AND " : "", key->names[i], sql_literal(key->values[i]));
  m_discarded +=
      fmt::format("-- {} (its {} row is gone; {} is back to {})\nUPDATE {} SET {} = {} WHERE {};\n", row,
                  printable(parent), printable(column), printable(sql_literal(reference)), child,
                  quote_identifier(column), sql_literal(ours), saved_where);
  return true;
}

// Adds to m_follow the rows that reference row `rowid` of `table` (single-column foreign keys), before the
// row is deleted.
Status Merger::follow_children_of(const std::string& table, int64_t rowid) {
  for (const ForeignKey& fk : *TS_TRY(foreign_keys())) {
    if (sqlite3_stricmp(fk.parent.c_str(), table.c_str()) != 0) continue;
    std::string referenced = fk.parent_column ? quote_identifier(*fk.parent_column) : std::string();
    if (referenced.empty()) {
      auto pk = TS_TRY(m_db.prepare(fmt::format("SELECT name FROM pragma_table_info({}) WHERE pk > 0",
                                                sql_literal(Value::text(table)))));
      std::vector<std::string> names;
      while (TS_TRY(pk.step())) names.push_back(pk.column_text(0));
      referenced = names.size() == 1 ? quote_identifier(names[0]) : std::string("rowid");
    }
    auto children = m_db.prepare(fmt::format(
        "SELECT c.rowid FROM main.{} AS c, main.{} AS p WHERE p.rowid = ?1 AND c.{} = p.{}",
        quote_identifier(fk.child), quote_identifier(table), quote_identifier(fk.column), referenced));
    if (!children.ok()) continue;  // e.g. a WITHOUT ROWID child: no rowid to follow (as before)
    TS_TRY_STATUS(children->bind(1, Value::integer(rowid)));
    while (TS_TRY(children->step())) m_follow.insert({lower_ascii(fk.child), children->column_int64(0)});
  }
  return {};
}

// The row of `table` whose `key` is `value` in `from`, inserted into the working copy (columns both have).
// False when a UNIQUE constraint refused it: another row of the working copy holds one of its values
// (nothing written).
Result<bool> Merger::copy_row(db::Database& from, const std::string& table, const std::string& key,
                              const Value& value) {
  db::TableInfo o = TS_TRY(db::read_table_info(m_db, table));
  db::TableInfo f = TS_TRY(db::read_table_info(from, table));
  std::vector<std::string> cols;
  for (int i : o.stored_columns())
    for (int j : f.stored_columns())
      if (sqlite3_stricmp(o.columns[i].name.c_str(), f.columns[j].name.c_str()) == 0)
        cols.push_back(quote_identifier(o.columns[i].name));
  bool rowid = !o.without_rowid && o.rowid_alias < 0 && !o.rowid_expr.empty() && o.rowid_expr == f.rowid_expr;
  if (rowid) cols.insert(cols.begin(), o.rowid_expr);
  std::string list, params;
  for (size_t i = 0; i < cols.size(); ++i) {
    list += (i ? ", " : "") + cols[i];
    params += i ? ", ?" : "?";
  }
  auto read = TS_TRY(
      from.prepare(fmt::format("SELECT {} FROM main.{} WHERE {} = ?1", list, quote_identifier(table), key)));
  TS_TRY_STATUS(read.bind(1, value));
  if (!TS_TRY(read.step())) return true;
  auto write = TS_TRY(
      m_db.prepare(fmt::format("INSERT INTO main.{}({}) VALUES({})", quote_identifier(table), list, params)));
  for (int i = 0; i < read.column_count(); ++i) TS_TRY_STATUS(write.bind(i + 1, read.column(i)));
  auto written = write.step();
  if (written.ok()) return true;
  if (sqlite3_extended_errcode(m_db.handle()) == SQLITE_CONSTRAINT_UNIQUE) return false;
  return std::move(written).error();
}

Result<const std::vector<ForeignKey>*> Merger::foreign_keys() {
  if (m_foreign_keys) return &*m_foreign_keys;
  std::vector<ForeignKey> out;
  std::vector<std::string> tables;
  {
    auto stmt = TS_TRY(m_db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'"));
    while (TS_TRY(stmt.step())) {
      std::string name = stmt.column_text(0);
      if (!db::is_internal_name(name)) tables.push_back(std::move(name));
    }
  }
  auto stmt =
      TS_TRY(m_db.prepare("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY "
                          "id, seq"));
  for (const std::string& child : tables) {
    TS_TRY_STATUS(stmt.reset());
    TS_TRY_STATUS(stmt.bind(1, Value::text(child)));
    std::map<int64_t, std::vector<ForeignKey>> by_id;
    while (TS_TRY(stmt.step())) {
      ForeignKey fk{child, stmt.column_text(2), stmt.column_text(1), std::nullopt};
      if (sqlite3_column_type(stmt.handle(), 3) != SQLITE_NULL) fk.parent_column = stmt.column_text(3);
      by_id[stmt.column_int64(0)].push_back(std::move(fk));
    }
    // A composite key cannot reference a single INTEGER PRIMARY KEY column.
    for (auto& [id, parts] : by_id)
      if (parts.size() == 1) out.push_back(std::move(parts[0]));
  }
  m_foreign_keys = std::move(out);
  return &*m_foreign_keys;
}

}  // namespace turso_sync::merge
