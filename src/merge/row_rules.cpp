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
      auto ours = TS_TRY(w.read(r.key));
      if (ours)  // a column the working copy dropped holds what theirs started from: no local edit
        for (size_t c = 0; c < ours->size(); ++c)
          if (!w.present(c)) (*ours)[c] = op == RowOp::insert ? r.new_values[c] : r.old_values[c];
      if (m_options.is_held && m_options.is_held(tc.table.name, r.key)) {
        // A held row still takes theirs' changes to the columns both sides agreed on (ours equals theirs
        // before this change): only what is in dispute waits for `resolve`, so `resolve --ours` never
        // sends back a column a teammate changed meanwhile.
        if (op == RowOp::update && ours) {
          std::vector<int> agreed;
          for (int c : r.changed_columns)
            if (w.present(static_cast<size_t>(c)) && (*ours)[c] == r.old_values[c]) agreed.push_back(c);
          if (!agreed.empty()) {
            TS_TRY_STATUS(w.update(r.key, agreed, r.new_values));
            for (int c : agreed) (*ours)[c] = r.new_values[c];
            ++m_report.taken.updates;
          }
        }
        add_conflict(w, r, "held", ours);  // recorded, then moved to held_rows
        m_report.held_rows.push_back(std::move(m_report.conflicts.back()));
        m_report.conflicts.pop_back();
        continue;
      }
      switch (op) {
        case RowOp::remove:
          TS_TRY_STATUS(their_delete(w, r, ours));
          break;
        case RowOp::update:
          TS_TRY_STATUS(their_update(w, r, ours));
          break;
        case RowOp::insert:
          TS_TRY_STATUS(their_insert(w, r, ours));
          break;
      }
    }
  }
  return {};
}

void Merger::add_conflict(const TableWriter& w, const RowChange& r, const char* kind,
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
  m_report.conflicts.push_back(std::move(c));
}

Status Merger::their_insert(TableWriter& w, const RowChange& r, const std::optional<Row>& ours) {
  if (!ours) {
    TS_TRY_STATUS(w.insert(r.key, r.new_values));
    ++m_report.taken.inserts;
    return {};
  }
  if (*ours == r.new_values) return {};
  add_conflict(w, r, "insert/insert", ours);
  if (!take_theirs()) return {};
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
    add_conflict(w, r, "delete/update", ours);
    if (!take_theirs()) return {};
    TS_TRY_STATUS(w.insert(r.key, r.new_values));
    note_discarded(w, r, "delete/update", w.delete_sql(r.key));
    ++m_report.taken.updates;
    return {};
  }
  if (*ours == r.old_values) {
    TS_TRY_STATUS(w.update(r.key, r.changed_columns, r.new_values));
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
    TS_TRY_STATUS(w.update(r.key, take, r.new_values));
    ++m_report.taken.updates;
    ++m_report.merged_columns;
    return {};
  }
  add_conflict(w, r, "update/update", ours, conflicting);
  if (m_options.on_conflict == ConflictPolicy::abort) return {};
  if (take_theirs()) {
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
  add_conflict(w, r, "update/delete", ours);
  if (!take_theirs()) return {};
  TS_TRY_STATUS(w.remove(r.key));
  note_discarded(w, r, "update/delete", w.insert_sql(r.key, *ours));
  ++m_report.taken.deletes;
  return {};
}

}  // namespace turso_sync::merge
