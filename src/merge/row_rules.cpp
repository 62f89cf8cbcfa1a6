// Row rules: the three-way rules per row (docs/conflicts.md, "The rules"): theirs' deletes, updates and
// inserts against ours, columns merged where both sides changed different ones, conflicts reported, held
// rows left as they are (their agreed columns still follow theirs), rows this copy pushed rebased on what it
// pushed.
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

bool Merger::same_columns(const TableDesc& a, const TableDesc& b) {
  if (sqlite3_stricmp(a.name.c_str(), b.name.c_str()) != 0 || a.columns.size() != b.columns.size() ||
      a.keyed_by_rowid() != b.keyed_by_rowid())
    return false;
  for (size_t i = 0; i < a.columns.size(); ++i)
    if (sqlite3_stricmp(a.columns[i].name.c_str(), b.columns[i].name.c_str()) != 0) return false;
  return true;
}

// `r` (base -> theirs) rebased on what this copy pushed for the same key (see MergeOptions::pushed):
// nullopt when theirs is exactly the pushed row, else the change from the pushed row to theirs.
std::optional<RowChange> Merger::rebase_on_pushed(const RowChange& r, const RowChange& pushed) {
  RowChange out = r;
  if (pushed.op == RowOp::remove) {  // the push deleted the row: theirs, if any, was created after it
    if (r.op == RowOp::remove) return std::nullopt;
    out.op = RowOp::insert;
    out.old_values.clear();
    out.changed_columns.clear();
    return out;
  }
  if (r.op == RowOp::remove) {  // deleted on the remote after the push
    out.old_values = pushed.new_values;
    return out;
  }
  if (r.new_values == pushed.new_values) return std::nullopt;
  out.op = RowOp::update;
  out.old_values = pushed.new_values;
  out.changed_columns.clear();
  for (size_t i = 0; i < out.new_values.size() && i < out.old_values.size(); ++i)
    if (out.new_values[i] != out.old_values[i]) out.changed_columns.push_back(static_cast<int>(i));
  return out;
}

Status Merger::merge_table(size_t index) {
  if (skipped(index)) return {};
  const TableChanges& tc = m_delta.tables[index];
  TableWriter& w = *m_writers[index];
  auto pushed = m_pushed_rows.find(index);
  // Theirs' change `r`; with `defer`, a write a UNIQUE value refuses waits in `deferred` (held_clash).
  std::vector<RowChange> deferred;
  auto write = [&](const RowChange& r, const std::optional<Row>& ours, bool defer) -> Status {
    m_defer = defer ? &deferred : nullptr;
    Status done = their_change(w, r, ours);
    m_defer = nullptr;
    return done;
  };
  // Deletes first (they free UNIQUE values), then updates, then inserts. A row this copy pushed is
  // rebased on the pushed values first, which can turn it into another kind of change (rebase_on_pushed).
  for (RowOp op : {RowOp::remove, RowOp::update, RowOp::insert}) {
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* next = TS_TRY(rows.next())) {
      if ((next->op == RowOp::remove) != (op == RowOp::remove)) continue;
      std::optional<RowChange> rebased;
      if (pushed != m_pushed_rows.end()) {
        if (std::optional<RowChange> sent = TS_TRY(pushed->second.find(next->key))) {
          rebased = rebase_on_pushed(*next, *sent);
          if (!rebased) continue;
          next = &*rebased;
        }
      }
      const RowChange& r = *next;
      if (r.op != op) continue;
      auto ours = TS_TRY(read_ours(w, r));
      if (m_options.is_held && m_options.is_held(tc.table.name, r.key)) {
        // A held row still takes theirs' changes to the columns both sides agreed on (ours equals theirs
        // before this change): only what is in dispute waits for `resolve`, so `resolve --ours` never
        // sends back a column a teammate changed meanwhile.
        std::vector<int> kept_out;  // agreed columns a local UNIQUE value keeps out: in dispute from now on
        if (op == RowOp::update && ours) {
          std::vector<int> agreed;
          for (int c : r.changed_columns)
            if (w.present(static_cast<size_t>(c)) && (*ours)[c] == r.old_values[c]) agreed.push_back(c);
          // A UNIQUE value of theirs that another local row holds: that row is held with it
          // (unique_clash.cpp) and this one keeps waiting, its agreed columns in dispute (so that `resolve
          // --ours` decides them, never sends ours back as if the teammate's write had not happened).
          if (!agreed.empty() && TS_TRY(held_clash(w, r, ours, w.update(r.key, agreed, r.new_values)))) {
            kept_out = std::move(agreed);
          } else if (!agreed.empty()) {
            for (int c : agreed) (*ours)[c] = r.new_values[c];
            ++m_report.taken.updates;
          }
        }
        m_report.held_rows.push_back(make_conflict(w, r, "held", ours, std::move(kept_out)));
        continue;
      }
      // A UNIQUE value that a later row of theirs frees (contact 3 gives its address to contact 2): the
      // write waits for the rest of the table (held_clash), then runs again.
      TS_TRY_STATUS(write(r, ours, op != RowOp::remove));
    }
  }
  // The waiting writes run again while any of them succeeds; the last round reports what still clashes.
  for (size_t before = 0; !deferred.empty();) {
    std::vector<RowChange> again = std::exchange(deferred, {});
    bool last = again.size() == before;
    before = again.size();
    for (const RowChange& r : again) TS_TRY_STATUS(write(r, TS_TRY(read_ours(w, r)), !last));
  }
  return {};
}

// The working copy's row at `r`'s key, a column it dropped holding what theirs started from (no local edit).
Result<std::optional<Row>> Merger::read_ours(TableWriter& w, const RowChange& r) {
  auto ours = TS_TRY(w.read(r.key));
  if (ours)
    for (size_t c = 0; c < ours->size(); ++c)
      if (!w.present(c)) (*ours)[c] = r.op == RowOp::insert ? r.new_values[c] : r.old_values[c];
  return ours;
}

Status Merger::their_change(TableWriter& w, const RowChange& r, const std::optional<Row>& ours) {
  switch (r.op) {
    case RowOp::remove:
      return their_delete(w, r, ours);
    case RowOp::update:
      return their_update(w, r, ours);
    case RowOp::insert:
      return their_insert(w, r, ours);
  }
  return {};
}

// A conflict of row `r` as the report lists it.
MergeConflict Merger::make_conflict(const TableWriter& w, const RowChange& r, const char* kind,
                                    const std::optional<Row>& ours, std::vector<int> conflicting) {
  MergeConflict c;
  c.table = w.table().name;
  c.key = r.key;
  c.kind = kind;
  for (const ColumnDesc& col : w.table().columns) c.columns.push_back(col.name);
  c.base = r.old_values;
  if (ours) c.ours = *ours;
  c.theirs = r.new_values;
  c.conflicting_columns = std::move(conflicting);
  return c;
}

// Reports a conflict of row `r` and returns the policy's decision for it; a conflict it stops means that
// nothing of the merge is applied. keep_ours and hold leave ours in the row (a held row is recorded by the
// caller of the merge from MergeReport::conflicts).
ConflictDecision Merger::row_conflict(const TableWriter& w, const RowChange& r, ConflictKind kind,
                                      const std::optional<Row>& ours, std::vector<int> conflicting) {
  m_report.conflicts.push_back(make_conflict(w, r, to_string(kind), ours, std::move(conflicting)));
  ConflictDecision decision = decide(kind);
  if (decision == ConflictDecision::stop) m_stopped = true;
  return decision;
}

Status Merger::their_insert(TableWriter& w, const RowChange& r, const std::optional<Row>& ours) {
  if (!ours) {
    if (TS_TRY(held_clash(w, r, ours, w.insert(r.key, r.new_values)))) return {};
    ++m_report.taken.inserts;
    return {};
  }
  // Identical: one fact, or two events when the table records events and ours did not move (moves off).
  if (*ours == r.new_values && (m_options.on_insert_collision == InsertCollision::move_local ||
                                !TS_TRY(records_events(writer_index(w)))))
    return {};
  if (row_conflict(w, r, ConflictKind::insert_insert, ours) != ConflictDecision::take_theirs) return {};
  std::vector<int> differing;
  for (size_t i = 0; i < ours->size(); ++i)
    if ((*ours)[i] != r.new_values[i]) differing.push_back(static_cast<int>(i));
  TS_TRY_STATUS(w.update(r.key, differing, r.new_values));
  note_discarded(w, r, "insert/insert", w.update_sql(r.key, differing, *ours));
  ++m_report.taken.inserts;
  return {};
}

Status Merger::their_update(TableWriter& w, const RowChange& r, const std::optional<Row>& ours) {
  if (!ours) {  // we deleted the row
    if (row_conflict(w, r, ConflictKind::delete_update, ours) != ConflictDecision::take_theirs) return {};
    TS_TRY_STATUS(w.insert(r.key, r.new_values));
    note_discarded(w, r, "delete/update", w.delete_sql(r.key));
    ++m_report.taken.updates;
    return {};
  }
  if (*ours == r.old_values) {
    if (TS_TRY(held_clash(w, r, ours, w.update(r.key, r.changed_columns, r.new_values)))) return {};
    ++m_report.taken.updates;
    return {};
  }
  if (*ours == r.new_values) return {};
  std::vector<int> take, conflicting;
  for (size_t i = 0; i < ours->size(); ++i) {
    const Value &o = (*ours)[i], &b = r.old_values[i], &t = r.new_values[i];
    if (o == b) {
      if (t != b) take.push_back(static_cast<int>(i));
    } else if (t != b && o != t) {
      conflicting.push_back(static_cast<int>(i));
    }
  }
  if (conflicting.empty()) {
    if (take.empty()) return {};  // every change of theirs is already ours
    if (TS_TRY(held_clash(w, r, ours, w.update(r.key, take, r.new_values)))) return {};
    ++m_report.taken.updates;
    ++m_report.merged_columns;
    return {};
  }
  ConflictDecision decision = row_conflict(w, r, ConflictKind::update_update, ours, conflicting);
  if (decision == ConflictDecision::stop) return {};
  if (decision == ConflictDecision::take_theirs) {
    note_discarded(w, r, "update/update", w.update_sql(r.key, conflicting, *ours));
    take.insert(take.end(), conflicting.begin(), conflicting.end());
    std::sort(take.begin(), take.end());
  }
  if (take.empty()) return {};
  TS_TRY_STATUS(w.update(r.key, take, r.new_values));
  ++m_report.taken.updates;
  return {};
}

Status Merger::their_delete(TableWriter& w, const RowChange& r, const std::optional<Row>& ours) {
  if (!ours) return {};
  if (*ours == r.old_values) {
    TS_TRY_STATUS(w.remove(r.key));
    ++m_report.taken.deletes;
    return {};
  }
  if (row_conflict(w, r, ConflictKind::update_delete, ours) != ConflictDecision::take_theirs) return {};
  TS_TRY_STATUS(w.remove(r.key));
  note_discarded(w, r, "update/delete", w.insert_sql(r.key, *ours));
  ++m_report.taken.deletes;
  return {};
}

// The key (as the delta gives keys) of the row of `table` that `where` (one parameter: `arg`) finds in
// `locate`; nullopt when none.
Result<std::optional<std::vector<Value>>> Merger::row_key(const std::string& table, db::Database& locate,
                                                          const std::string& where, const Value& arg) {
  TableDesc t = TS_TRY(diff::read_table_desc(m_db, "main", table));
  std::string cols = t.keyed_by_rowid() ? t.rowid_expr : std::string();
  if (!t.keyed_by_rowid())
    for (int k : t.key_columns) cols += (cols.empty() ? "" : ", ") + quote_identifier(t.columns[k].name);
  auto find =
      locate.prepare(fmt::format("SELECT {} FROM main.{} WHERE {}", cols, quote_identifier(table), where));
  if (!find.ok()) return std::optional<std::vector<Value>>();
  TS_TRY_STATUS(find->bind(1, arg));
  if (!TS_TRY(find->step())) return std::optional<std::vector<Value>>();
  std::vector<Value> key;
  for (int i = 0; i < find->column_count(); ++i) key.push_back(find->column(i));
  return std::optional<std::vector<Value>>(std::move(key));
}

// Reports the row `key` of `table`, outside the delta's rows, as a conflict of `kind` about `about` (once per
// row): its base, ours and theirs read by key from the three databases, as the merge leaves ours.
Status Merger::report_row(const std::string& table, const std::vector<Value>& key, ConflictKind kind,
                          const std::string& about) {
  for (const MergeConflict& c : m_report.conflicts)
    if (c.key == key && sqlite3_stricmp(c.table.c_str(), table.c_str()) == 0) return {};
  TableDesc t = TS_TRY(diff::read_table_desc(m_db, "main", table));
  MergeConflict c;
  c.table = t.name;
  c.key = key;
  c.kind = to_string(kind);
  c.about = about;
  c.keyed_by_rowid = t.keyed_by_rowid();
  std::string cols, where;
  for (const ColumnDesc& col : t.columns) {
    c.columns.push_back(col.name);
    cols += (cols.empty() ? "" : ", ") + quote_identifier(col.name);
  }
  if (t.keyed_by_rowid()) {
    c.key_names.push_back(t.rowid_alias >= 0 ? t.columns[t.rowid_alias].name : std::string("rowid"));
    where = t.rowid_expr + " = ?1";
  } else {
    for (size_t k = 0; k < t.key_columns.size(); ++k) {
      c.key_names.push_back(t.columns[t.key_columns[k]].name);
      where += fmt::format("{}{} = ?{}", k ? " AND " : "", quote_identifier(c.key_names.back()), k + 1);
    }
  }
  auto read = [&](db::Database& db) -> Result<std::vector<Value>> {
    auto q = db.prepare(fmt::format("SELECT {} FROM main.{} WHERE {}", cols, quote_identifier(table), where));
    if (!q.ok()) return std::vector<Value>();  // no such table (or columns) on that side
    for (size_t i = 0; i < key.size(); ++i) TS_TRY_STATUS(q->bind(static_cast<int>(i) + 1, key[i]));
    std::vector<Value> row;
    if (TS_TRY(q->step()))
      for (int i = 0; i < q->column_count(); ++i) row.push_back(q->column(i));
    return row;
  };
  c.base = TS_TRY(read(*TS_TRY(base_db())));
  c.ours = TS_TRY(read(m_db));
  c.theirs = TS_TRY(read(*TS_TRY(theirs_db())));
  m_report.conflicts.push_back(std::move(c));
  return {};
}

}  // namespace turso_sync::merge
