// UNIQUE clashes (docs/conflicts.md, "Things pull cannot merge"): a row the merge writes needs a value that
// a UNIQUE index of the working copy gives to another row. Which rows hold the value, and what the policy's
// decision for ConflictKind::unique does with theirs' row: `hold` holds it and the local rows holding the
// value; every other policy stops.
#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "diff/schema_plan.h"
#include "diff/sql_text.h"
#include "merge/merger.h"
#include "util/text.h"

namespace turso_sync::merge {

// The rows of `db`'s `table` other than `own_key` that hold, under one of the working copy's UNIQUE indexes
// of `table` (plain columns, compared with the index's collation), the values `value_of` gives for a row
// about to be written (nullopt or NULL for a column: that index cannot clash). Keys as report_row takes
// them. `db` may be another side than the working copy: a side that lacks the table or a column has no
// holder.
Result<std::vector<Merger::UniqueHolder>> Merger::unique_holders(db::Database& db, const std::string& table,
                                                                 const ValueOf& value_of,
                                                                 const std::vector<Value>& own_key) {
  TableDesc t = TS_TRY(diff::read_table_desc(m_db, "main", table));
  std::string key_cols = t.keyed_by_rowid() ? t.rowid_expr : std::string();
  std::vector<std::string> key_names;
  if (t.keyed_by_rowid()) {
    key_names.push_back(t.rowid_alias >= 0 ? t.columns[t.rowid_alias].name : std::string("rowid"));
  } else {
    for (int k : t.key_columns) {
      key_cols += (key_cols.empty() ? "" : ", ") + quote_identifier(t.columns[k].name);
      key_names.push_back(t.columns[k].name);
    }
  }
  auto indexes = TS_TRY(
      m_db.prepare(fmt::format("SELECT name FROM pragma_index_list({}) WHERE \"unique\" AND origin <> 'pk'",
                               sql_literal(Value::text(table)))));
  std::vector<std::string> names;
  while (TS_TRY(indexes.step())) names.push_back(indexes.column_text(0));
  std::vector<UniqueHolder> out;
  for (const std::string& index : names) {
    auto cols = TS_TRY(m_db.prepare(
        fmt::format("SELECT cid, name, coll FROM pragma_index_xinfo({}) WHERE key ORDER BY seqno",
                    sql_literal(Value::text(index)))));
    std::string where, held;
    std::vector<Value> args;
    bool usable = true;
    while (TS_TRY(cols.step())) {
      if (cols.column_int64(0) < 0) {  // an expression or the rowid: not compared here
        usable = false;
        continue;
      }
      std::string name = cols.column_text(1);
      std::optional<Value> v = value_of(name);
      if (!v || v->is_null()) {
        usable = false;
        continue;
      }
      args.push_back(*v);
      where += fmt::format("{}{} = ?{} COLLATE {}", where.empty() ? "" : " AND ", quote_identifier(name),
                           args.size(), quote_identifier(cols.column_text(2)));
      held += fmt::format("{}{}={}", held.empty() ? "" : ", ", printable(name), printable(sql_literal(*v)));
    }
    if (!usable || where.empty()) continue;
    auto clashing =
        db.prepare(fmt::format("SELECT {} FROM main.{} WHERE {}", key_cols, quote_identifier(table), where));
    if (!clashing.ok()) {
      if (&db == &m_db) return std::move(clashing).error();
      continue;
    }
    TS_TRY_STATUS(clashing->bind_all(args));
    while (TS_TRY(clashing->step())) {
      UniqueHolder h;
      for (int i = 0; i < clashing->column_count(); ++i) h.key.push_back(clashing->column(i));
      if (h.key == own_key) continue;
      for (size_t i = 0; i < h.key.size() && i < key_names.size(); ++i)
        h.row += fmt::format("{}{} = {}", i ? ", " : "", printable(key_names[i]),
                             printable(sql_literal(h.key[i])));
      h.values = held;
      out.push_back(std::move(h));
    }
  }
  return out;
}

// A write of theirs' row `r` that a UNIQUE constraint refused (a local row holds the value under another
// key): when the policy holds such a conflict, theirs' row and the local rows it clashes with are held (the
// working copy keeps ours; none of them is pushed) and true is returned; otherwise the write's error.
Result<bool> Merger::held_clash(TableWriter& w, const RowChange& r, const std::optional<Row>& ours,
                                Status written) {
  if (written.ok()) return false;
  if (m_defer && w.unique_clash()) {  // it may fit once the rest of the table is written (merge_table)
    m_defer->push_back(r);
    return true;
  }
  if (!w.unique_clash() || decide(ConflictKind::unique) != ConflictDecision::hold)
    return std::move(written).error();
  auto value_of = [&](const std::string& name) -> std::optional<Value> {
    for (size_t i = 0; i < w.table().columns.size(); ++i)
      if (w.present(i) && sqlite3_stricmp(w.ours_name(i).c_str(), name.c_str()) == 0) return r.new_values[i];
    return std::nullopt;
  };
  std::string about = "a UNIQUE value of the remote's row " + describe_key(r.key) + ", held here by";
  std::vector<UniqueHolder> holders = TS_TRY(unique_holders(m_db, w.ours_table(), value_of, r.key));
  for (const UniqueHolder& h : holders) about += fmt::format(" row {} ({})", h.row, h.values);
  for (const UniqueHolder& h : holders)
    TS_TRY_STATUS(report_row(w.ours_table(), h.key, ConflictKind::unique, about));
  MergeConflict theirs_row = make_conflict(w, r, to_string(ConflictKind::unique), ours);
  theirs_row.about = std::move(about);
  m_report.conflicts.push_back(std::move(theirs_row));
  return true;
}

// A parent row that has to come back into the working copy from `from` (theirs or the base, `key` = `value`
// there) to keep the reference `why` describes intact, refused by a UNIQUE constraint: another row of the
// working copy holds one of its values. Neither side can be taken without changing or deleting that row,
// a row under another key, which is what the decision for ConflictKind::unique refuses under every policy
// (`remote` and `local` stop; `hold` cannot hold it either: the reference would be left dangling in the
// working copy). So the merge stops, naming the rows and the value, and nothing is changed.
Error Merger::parent_cannot_come_back(db::Database& from, const std::string& parent, const std::string& key,
                                      const Value& value, const std::string& why) {
  bool yours = false;
  auto holders = [&]() -> Result<std::string> {
    auto read = TS_TRY(
        from.prepare(fmt::format("SELECT * FROM main.{} WHERE {} = ?1", quote_identifier(parent), key)));
    TS_TRY_STATUS(read.bind(1, value));
    std::map<std::string, Value> values;  // by lower-cased column name
    if (TS_TRY(read.step()))
      for (int i = 0; i < read.column_count(); ++i)
        values.emplace(lower_ascii(read.column_name(i)), read.column(i));
    ValueOf value_of = [&](const std::string& column) -> std::optional<Value> {
      auto it = values.find(lower_ascii(column));
      return it == values.end() ? std::nullopt : std::optional<Value>(it->second);
    };
    std::vector<UniqueHolder> remote = TS_TRY(unique_holders(*TS_TRY(theirs_db()), parent, value_of, {}));
    std::string out;
    for (const UniqueHolder& h : TS_TRY(unique_holders(m_db, parent, value_of, {}))) {
      bool theirs = std::any_of(remote.begin(), remote.end(), [&](const UniqueHolder& t) {
        return t.key == h.key && t.values == h.values;
      });
      yours = yours || !theirs;
      out += fmt::format("{}{} row {} holds {}", out.empty() ? "" : "; ", theirs ? "the remote's" : "your",
                         h.row, h.values);
    }
    return out;
  }();
  std::string held =
      holders.ok() && !holders->empty() ? *holders : "another row holds one of its UNIQUE values";
  return Error(
      ErrorKind::conflict,
      fmt::format("merge into working copy {}: {}; it cannot come back: {} (UNIQUE); nothing was changed. "
                  "{}",
                  m_db.path(), why, held,
                  yours ? "Change your row's value and pull again"
                        : fmt::format("Point your row at another {} row, or take the remote's side "
                                      "(`--on-conflict=remote`: your row goes, saved), and pull again",
                                      printable(parent))));
}

}  // namespace turso_sync::merge
