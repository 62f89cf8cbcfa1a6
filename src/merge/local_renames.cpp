// Local renames and drops: columns and tables the working copy renamed or dropped while the remote changed
// rows. A delta table that no schema change of this merge touches has the base's columns, and the working
// copy may have renamed or dropped some of them since. Theirs' values follow a local rename. A column dropped
// locally takes theirs' changes of it along (the push drops the column on the remote too), so a remote
// update of it, or a remote insert with a value other than NULL or the column's DEFAULT, is a conflict:
// on_conflict == remote takes theirs' definition of the table back (ours saved in the discarded-changes
// script), local keeps the drop.
//
// Likewise a table the working copy renamed (RENAME TO: a table of ours that the base lacks, with the
// base table's meaning) receives theirs' rows under its new name; one it dropped makes theirs' inserts and
// updates of it a conflict (remote: the table is taken back with theirs' rows; local: they are ignored).
// Taking theirs' objects that name a table renamed or changed here undoes the local change (ours saved).
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

// Taking theirs' view, trigger or index that names a table the working copy renamed, dropped or changed
// (say a column renamed or dropped): the table gets its name back, or the remote's table comes back
// (ours saved in the discarded-changes script). Whether any did.
Result<bool> Merger::undo_local_renames_for(const std::string& sql) {
  db::Database* base = TS_TRY(base_db());
  db::Database* theirs = TS_TRY(theirs_db());
  bool any = false;
  auto stmt =
      TS_TRY(base->prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND sql IS NOT NULL"));
  while (TS_TRY(stmt.step())) {
    std::string table = stmt.column_text(0);
    if (!diff::refers_to(sql, table)) continue;
    if (TS_TRY(object_sql(m_db, "table", table))) {
      std::string ours = TS_TRY(object_meaning(m_db, "table", table));
      std::string theirs_meaning = TS_TRY(object_meaning(*theirs, "table", table));
      if (theirs_meaning.empty() || ours == theirs_meaning) continue;
      TS_TRY_STATUS(adopt_table(table, SchemaOp::rebuild_table));
      any = true;
      continue;
    }
    std::string renamed = TS_TRY(local_rename_of(table));
    if (renamed.empty()) {  // dropped here: the remote's table comes back with its rows
      auto theirs_sql = TS_TRY(object_sql(*theirs, "table", table));
      if (!theirs_sql) continue;
      TS_TRY_STATUS(m_db.exec(*theirs_sql));
      TS_TRY_STATUS(db::copy_rows(*theirs, m_db, table));
      m_discarded += fmt::format("-- you dropped table {} (the remote's objects use it)\nDROP TABLE {};\n",
                                 printable(table), quote_identifier(table));
      any = true;
      continue;
    }
    TS_TRY_STATUS(m_db.exec(
        fmt::format("ALTER TABLE main.{} RENAME TO {}", quote_identifier(renamed), quote_identifier(table))));
    m_discarded += fmt::format(
        "-- your rename of table {} (the remote's objects use its old name)\nALTER "
        "TABLE {} RENAME TO {};\n",
        printable(table), quote_identifier(table), quote_identifier(renamed));
    any = true;
  }
  return any;
}

Status Merger::map_local_columns() {
  m_column_maps.assign(m_delta.tables.size(), {});
  m_ours_tables.assign(m_delta.tables.size(), std::nullopt);
  if (m_options.base_path.empty()) return {};
  std::vector<std::string> conflicts;
  for (size_t i = 0; i < m_delta.tables.size(); ++i) {
    const TableChanges& tc = m_delta.tables[i];
    const std::string& name = tc.table.name;
    bool touched = std::any_of(m_delta.schema.begin(), m_delta.schema.end(), [&](const SchemaChange& c) {
      return c.object_type == "table" && sqlite3_stricmp(c.name.c_str(), name.c_str()) == 0;
    });
    db::Database* base = TS_TRY(base_db());
    if (touched || !TS_TRY(object_sql(*base, "table", name))) continue;
    if (!TS_TRY(object_sql(m_db, "table", name))) {
      TS_TRY_STATUS(map_missing_table(i, conflicts));
      continue;
    }
    TableDesc b = TS_TRY(diff::read_table_desc(*base, "main", name));
    TableDesc o = TS_TRY(diff::read_table_desc(m_db, "main", name));
    std::vector<std::string> from = diff::column_sources(b.columns, o.columns);
    std::vector<std::string> names;
    std::vector<size_t> dropped;
    bool identity = true;
    for (size_t c = 0; c < tc.table.columns.size(); ++c) {
      const std::string& theirs_name = tc.table.columns[c].name;
      std::string ours_name;
      for (size_t j = 0; j < o.columns.size(); ++j)
        if (sqlite3_stricmp(from[j].c_str(), theirs_name.c_str()) == 0) ours_name = o.columns[j].name;
      bool in_base = std::any_of(b.columns.begin(), b.columns.end(), [&](const ColumnDesc& col) {
        return sqlite3_stricmp(col.name.c_str(), theirs_name.c_str()) == 0;
      });
      if (ours_name.empty() && !in_base) ours_name = theirs_name;  // unknown here: check_columns says so
      if (ours_name.empty()) dropped.push_back(c);
      identity &= sqlite3_stricmp(ours_name.c_str(), theirs_name.c_str()) == 0;
      names.push_back(std::move(ours_name));
    }
    if (identity) continue;
    std::string changed = dropped.empty() ? "" : TS_TRY(remote_writes_of(tc, b, dropped));
    // keep_ours keeps the drop (the remote's values of the column go with it when the drop is pushed); hold
    // keeps the table as the working copy has it, held as a whole: neither side's change of it goes out.
    ConflictDecision decision =
        changed.empty() ? ConflictDecision::keep_ours : decide(ConflictKind::dropped_column);
    if (decision == ConflictDecision::take_theirs) {
      TS_TRY_STATUS(adopt_table(name, SchemaOp::rebuild_table));
      continue;  // ours now has theirs' columns
    }
    std::vector<std::string> cols;
    for (size_t c : dropped) cols.push_back(tc.table.columns[c].name);
    if (decision == ConflictDecision::hold) {
      hold_whole_table(name, ConflictKind::dropped_column,
                       fmt::format("the working copy dropped column(s) {} which the remote changed ({})",
                                   join_names(cols), changed));
      m_ours_tables[i] = "";  // its rows wait for `resolve`
      continue;
    }
    if (decision == ConflictDecision::stop) {
      conflicts.push_back(
          fmt::format("table {}: the working copy dropped column(s) {} which the remote "
                      "changed ({})",
                      printable(name), join_names(cols), changed));
    }
    m_column_maps[i] = std::move(names);
  }
  if (conflicts.empty()) return {};
  std::string list;
  for (const std::string& line : conflicts) list += "\n  " + line;
  return Error(ErrorKind::conflict,
               fmt::format("merge into working copy {}: schema conflict; nothing was changed:{}\nAdd the "
                           "column(s) back (or undo the drop), or pull with --on-conflict=remote to take the "
                           "remote's table (yours is saved) or --on-conflict=local to keep the drop, then "
                           "pull again",
                           m_db.path(), list));
}

// The working copy's new name for the base's `table` when a local RENAME TO changed it, else "": the one
// table of ours that the base lacks with the same meaning, or else the one whose columns all continue the
// base table's (same count, each the same or renamed; see diff::column_sources).
Result<std::string> Merger::local_rename_of(const std::string& table) {
  db::Database* base = TS_TRY(base_db());
  if (!TS_TRY(object_sql(*base, "table", table)) || TS_TRY(object_sql(m_db, "table", table)))
    return std::string();
  std::string meaning = TS_TRY(diff::read_table_meaning(*base, "main", table)).text();
  TableDesc b = TS_TRY(diff::read_table_desc(*base, "main", table));
  std::vector<std::string> same, continued;
  auto stmt = TS_TRY(m_db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND sql IS NOT NULL"));
  while (TS_TRY(stmt.step())) {
    std::string n = stmt.column_text(0);
    if (TS_TRY(object_sql(*base, "table", n))) continue;
    if (TS_TRY(diff::read_table_meaning(m_db, "main", n)).text() == meaning) same.push_back(n);
    TableDesc o = TS_TRY(diff::read_table_desc(m_db, "main", n));
    std::vector<std::string> from = diff::column_sources(b.columns, o.columns);
    if (o.columns.size() == b.columns.size() && o.without_rowid == b.without_rowid &&
        std::none_of(from.begin(), from.end(), [](const std::string& f) { return f.empty(); }))
      continued.push_back(n);
  }
  if (same.size() == 1) return same[0];
  return same.empty() && continued.size() == 1 ? continued[0] : std::string();
}

// A delta table of the base that the working copy no longer has under that name (see map_local_columns).
Status Merger::map_missing_table(size_t i, std::vector<std::string>& conflicts) {
  const TableChanges& tc = m_delta.tables[i];
  std::string renamed = TS_TRY(local_rename_of(tc.table.name));
  if (!renamed.empty()) {
    m_ours_tables[i] = renamed;
    db::Database* base = TS_TRY(base_db());
    TableDesc b = TS_TRY(diff::read_table_desc(*base, "main", tc.table.name));
    TableDesc o = TS_TRY(diff::read_table_desc(m_db, "main", renamed));
    std::vector<std::string> from = diff::column_sources(b.columns, o.columns);
    for (const ColumnDesc& c : tc.table.columns) {
      std::string name = c.name;  // unknown to the base: check_columns says so
      for (size_t j = 0; j < o.columns.size(); ++j)
        if (sqlite3_stricmp(from[j].c_str(), c.name.c_str()) == 0) name = o.columns[j].name;
      m_column_maps[i].push_back(name);
    }
    return {};
  }
  size_t count = 0;
  std::vector<std::string> keys;
  RowCursor rows = tc.rows.cursor();
  while (const RowChange* r = TS_TRY(rows.next())) {
    if (r->op == RowOp::remove) continue;
    if (++count <= 5) keys.push_back(describe_key(r->key));
  }
  ConflictDecision decision = count == 0 ? ConflictDecision::keep_ours : decide(ConflictKind::dropped_column);
  if (decision == ConflictDecision::take_theirs) return adopt_table(tc.table.name, SchemaOp::create_table);
  m_ours_tables[i] = "";  // skipped: only deletes of it, or kept dropped (keep_ours), or a conflict below
  if (decision == ConflictDecision::keep_ours) return {};
  std::string list;
  for (size_t k = 0; k < keys.size(); ++k) list += (k ? ", " : "") + keys[k];
  std::string what =
      fmt::format("the working copy dropped it, and the remote changed its rows ({} row{}: {}{})", count,
                  count == 1 ? "" : "s", list, count > keys.size() ? ", …" : "");
  // Held as a whole: it stays dropped here, the drop is not pushed, until `resolve`.
  if (decision == ConflictDecision::hold)
    hold_whole_table(tc.table.name, ConflictKind::dropped_column, std::move(what));
  else
    conflicts.push_back(fmt::format("table {}: {}", printable(tc.table.name), what));
  return {};
}

// Whether the rows of delta table `i` are left out (a table the working copy dropped).
bool Merger::skipped(size_t i) const {
  return i < m_ours_tables.size() && m_ours_tables[i] && m_ours_tables[i]->empty();
}

bool Merger::held_whole(const std::string& table) const {
  return m_held_tables.count(lower_ascii(table)) != 0 || (m_options.is_held && m_options.is_held(table, {}));
}

void Merger::hold_whole_table(const std::string& table, ConflictKind kind, std::string what) {
  if (!m_held_tables.insert(lower_ascii(table)).second) return;
  MergeConflict held;
  held.table = table;
  held.kind = to_string(kind);
  held.about = std::move(what);
  m_report.conflicts.push_back(std::move(held));
}

// The delta's rows that write one of `columns` (indexes into the delta's columns): updates that change it,
// inserts with a value other than NULL and the base column's DEFAULT. "" when none, else a short list.
Result<std::string> Merger::remote_writes_of(const TableChanges& tc, const TableDesc& base,
                                             const std::vector<size_t>& columns) {
  std::vector<Value> defaults;
  for (size_t c : columns) {
    Value d = Value::null();
    for (const ColumnDesc& col : base.columns) {
      if (sqlite3_stricmp(col.name.c_str(), tc.table.columns[c].name.c_str()) != 0 || !col.default_sql)
        continue;
      auto eval = m_db.prepare("SELECT " + *col.default_sql);
      if (eval.ok() && TS_TRY(eval->step())) d = eval->column(0);
    }
    defaults.push_back(std::move(d));
  }
  std::vector<std::string> keys;
  size_t count = 0;
  RowCursor rows = tc.rows.cursor();
  while (const RowChange* r = TS_TRY(rows.next())) {
    bool writes = false;
    for (size_t k = 0; k < columns.size(); ++k) {
      size_t c = columns[k];
      if (r->op == RowOp::insert)
        writes |= !r->new_values[c].is_null() && r->new_values[c] != defaults[k];
      else if (r->op == RowOp::update)
        writes |= r->old_values[c] != r->new_values[c];
    }
    if (!writes) continue;
    if (++count <= 5) keys.push_back(describe_key(r->key));
  }
  if (count == 0) return std::string();
  std::string out = fmt::format("{} row{}: ", count, count == 1 ? "" : "s");
  for (size_t k = 0; k < keys.size(); ++k) out += (k ? ", " : "") + keys[k];
  return count > keys.size() ? out + ", …" : out;
}

}  // namespace turso_sync::merge
