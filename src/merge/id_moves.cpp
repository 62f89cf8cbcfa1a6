// Id moves: a local row whose auto-assigned integer key collides with a remote insert moves to a fresh key
// above both sides' maximum (and the base's), and the declared foreign-key columns that referenced it follow
// (InsertCollision::move_local). Done before any row of theirs lands.
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

// The largest rowid (or AUTOINCREMENT counter) of `table` in `db`; 0 when empty.
Result<int64_t> Merger::max_rowid(db::Database& db, const TableDesc& table) {
  if (!TS_TRY(object_sql(db, "table", table.name))) return int64_t{0};  // e.g. a base from before it
  auto stmt = TS_TRY(
      db.prepare(fmt::format("SELECT max({}) FROM {}", table.rowid_expr, quote_identifier(table.name))));
  int64_t out = TS_TRY(stmt.step()) ? stmt.column_int64(0) : 0;
  bool has_sequence =
      TS_TRY(db::query_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_sequence'")) != 0;
  if (has_sequence) {
    auto seq = TS_TRY(db.prepare("SELECT max(seq) FROM sqlite_sequence WHERE name = ?1 COLLATE NOCASE"));
    TS_TRY_STATUS(seq.bind(1, Value::text(table.name)));
    if (TS_TRY(seq.step())) out = std::max(out, seq.column_int64(0));
  }
  return out;
}

Result<int64_t> Merger::next_free_key(size_t table_index) {
  auto it = m_next_key.find(table_index);
  if (it == m_next_key.end()) {
    const TableChanges& tc = m_delta.tables[table_index];
    int64_t top = TS_TRY(max_rowid(m_db, tc.table));
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* r = TS_TRY(rows.next()))
      if (r->op == RowOp::insert && r->key.at(0).type() == ValueType::integer)
        top = std::max(top, r->key[0].as_integer());
    if (!m_options.theirs_path.empty())
      top = std::max(top, TS_TRY(max_rowid(*TS_TRY(theirs_db()), tc.table)));
    // Nor a key the base holds: a row moved there would read as an edit of the base's row (an
    // update/delete conflict when both sides deleted it, settled by a policy that may discard it).
    if (!m_options.base_path.empty()) top = std::max(top, TS_TRY(max_rowid(*TS_TRY(base_db()), tc.table)));
    it = m_next_key.emplace(table_index, top).first;
  }
  if (it->second == std::numeric_limits<int64_t>::max())
    return Error(
        ErrorKind::conflict,
        fmt::format("table {}: a local row collides with a remote insert but no larger rowid is free",
                    printable(m_delta.tables[table_index].table.name)));
  return ++it->second;
}

// Moves our row at `from` to a fresh key and makes the foreign-key columns that referenced it follow.
// Returns the tables whose rows were changed by following references.
Result<std::vector<std::string>> Merger::move_row(size_t table_index, int64_t from) {
  const TableDesc& t = m_delta.tables[table_index].table;
  int64_t to = TS_TRY(next_free_key(table_index));
  TS_TRY_STATUS(m_writers[table_index]->move(from, to));
  MovedRow moved{t.name, from, to, {}};
  std::vector<std::string> touched;
  if (t.rowid_alias >= 0) {
    const std::string& alias = t.columns[t.rowid_alias].name;
    for (const ForeignKey& fk : *TS_TRY(foreign_keys())) {
      if (sqlite3_stricmp(fk.parent.c_str(), t.name.c_str()) != 0) continue;
      if (fk.parent_column && sqlite3_stricmp(fk.parent_column->c_str(), alias.c_str()) != 0) continue;
      auto stmt =
          TS_TRY(m_db.prepare(fmt::format("UPDATE {} SET {} = ?1 WHERE {} = ?2", quote_identifier(fk.child),
                                          quote_identifier(fk.column), quote_identifier(fk.column))));
      TS_TRY_STATUS(stmt.bind(1, Value::integer(to)));
      TS_TRY_STATUS(stmt.bind(2, Value::integer(from)));
      auto st = stmt.step();
      if (!st.ok())
        return std::move(st).error().context(fmt::format("update {}.{} after moving {} row {}",
                                                         printable(fk.child), printable(fk.column),
                                                         printable(t.name), from));
      if (sqlite3_changes64(m_db.handle()) > 0) {
        moved.updated_references.push_back(fk.child + "." + fk.column);
        touched.push_back(fk.child);
      }
    }
  }
  m_report.moved.push_back(std::move(moved));
  return touched;
}

// Rows are events or facts (docs/conflicts.md, "Events and facts"): a local row identical to a remote insert
// at the same auto-assigned key is the same fact (the seed rows of one migration run on two copies), unless
// the table records events: it is AUTOINCREMENT (ids never reused: each row is something that happened) or a
// trigger inserts into it (an audit or append-only log): then both rows are kept and ours moves. Triggers
// are set aside during the merge: ours and theirs are read from what was set aside and decided.
Result<bool> Merger::records_events(size_t table_index) {
  if (m_options.redo) return false;
  auto known = m_records_events.find(table_index);
  if (known != m_records_events.end()) return known->second;
  std::vector<std::string> names{m_delta.tables[table_index].table.name};
  if (m_ours_tables[table_index] && !m_ours_tables[table_index]->empty())
    names.push_back(*m_ours_tables[table_index]);
  std::vector<std::string> triggers;
  for (const DerivedObject& d : m_set_aside)
    if (d.type == "trigger") triggers.push_back(d.sql);
  for (const auto& [key, sql] : m_derived_final)
    if (sql) triggers.push_back(*sql);
  bool events = false;
  auto schema =
      TS_TRY(m_db.prepare("SELECT type, name, sql FROM main.sqlite_schema WHERE type IN ('table', 'trigger') "
                          "AND sql IS NOT NULL"));
  while (TS_TRY(schema.step())) {
    std::string type = schema.column_text(0), name = schema.column_text(1), sql = schema.column_text(2);
    if (type == "trigger") {
      triggers.push_back(std::move(sql));
      continue;
    }
    for (const std::string& n : names)
      if (sqlite3_stricmp(n.c_str(), name.c_str()) == 0 && diff::declares_autoincrement(sql)) events = true;
  }
  for (const std::string& sql : triggers)
    for (const std::string& n : names) events = events || diff::trigger_inserts_into(sql, n);
  m_records_events[table_index] = events;
  return events;
}

// Every remote insert whose key holds a different local row in a rowid-keyed table moves that local row.
// Following references changes local rows of other tables, which can make a local row that was identical to
// a remote insert differ from it: those tables are examined again until nothing moves.
Status Merger::move_colliding_rows() {
  std::set<size_t> pending;
  for (size_t i = 0; i < m_delta.tables.size(); ++i)
    if (m_delta.tables[i].table.keyed_by_rowid() && !m_ours_tables[i]) pending.insert(i);
  while (!pending.empty()) {
    std::set<std::string> touched;
    for (size_t i : pending) {
      const TableChanges& tc = m_delta.tables[i];
      auto pushed = m_pushed_rows.find(i);
      RowCursor rows = tc.rows.cursor();
      while (const RowChange* next = TS_TRY(rows.next())) {
        const RowChange& r = *next;
        if (r.op != RowOp::insert) continue;
        // A row this copy pushed is its own, whatever the application wrote to it since.
        if (pushed != m_pushed_rows.end() && TS_TRY(pushed->second.find(r.key))) continue;
        if (m_options.is_held && m_options.is_held(tc.table.name, r.key)) continue;  // held: left as is
        auto ours = TS_TRY(m_writers[i]->read(r.key));
        if (!ours || (*ours == r.new_values && !TS_TRY(records_events(i)))) continue;
        if (r.key.at(0).type() != ValueType::integer) continue;
        for (std::string& child : TS_TRY(move_row(i, r.key[0].as_integer())))
          touched.insert(std::move(child));
      }
    }
    pending.clear();
    for (size_t i = 0; i < m_delta.tables.size(); ++i) {
      const TableDesc& t = m_delta.tables[i].table;
      if (!t.keyed_by_rowid() || m_ours_tables[i]) continue;  // renamed or dropped here: not moved
      for (const std::string& name : touched)
        if (sqlite3_stricmp(name.c_str(), t.name.c_str()) == 0) pending.insert(i);
    }
  }
  return {};
}

}  // namespace turso_sync::merge
