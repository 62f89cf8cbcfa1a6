// The push's foreign keys: the references it guards on the remote, and the row changes that would leave one
// dangling by themselves (push_references.h).
#include "sync/push_references.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "db/schema.h"
#include "db/sqlite.h"
#include "sync/held.h"
#include "util/fs.h"
#include "util/text.h"

namespace turso_sync {

namespace {

// `a = ?1 AND b = ?2` over `columns`, prefixed with `alias.` when given.
std::string match_columns(const std::vector<std::string>& columns) {
  std::string out;
  for (size_t i = 0; i < columns.size(); ++i)
    out += fmt::format("{}{} = ?{}", i ? " AND " : "", quote_identifier(columns[i]), i + 1);
  return out;
}

// "contact_id = 1" or "(org, num) = ('a', 2)".
std::string show_reference(const std::vector<std::string>& columns, const std::vector<Value>& values) {
  if (columns.size() == 1) return fmt::format("{} = {}", columns[0], describe(values.at(0)));
  std::string names, shown;
  for (size_t i = 0; i < columns.size(); ++i) {
    names += (i ? ", " : "") + columns[i];
    shown += (i ? ", " : "") + describe(values.at(i));
  }
  return fmt::format("({}) = ({})", names, shown);
}

// The values a row change writes into a reference's columns `cols` (indexes into the row), when it writes
// them (an insert, or an update that changes one of them) and none is NULL; else nullopt.
std::optional<std::vector<Value>> written_reference(const RowChange& row, const std::vector<size_t>& cols) {
  if (row.op == RowOp::remove) return std::nullopt;
  auto changed = [&](size_t c) {
    return std::find(row.changed_columns.begin(), row.changed_columns.end(), static_cast<int>(c)) !=
           row.changed_columns.end();
  };
  if (row.op == RowOp::update && std::none_of(cols.begin(), cols.end(), changed)) return std::nullopt;
  std::vector<Value> values;
  for (size_t c : cols) values.push_back(row.new_values.at(c));
  if (std::any_of(values.begin(), values.end(), [](const Value& v) { return v.is_null(); }))
    return std::nullopt;
  return values;
}

// The parent key values `cols` (indexes into the row) that a row change takes away: a delete's, or an
// update's old ones when it changes one of them; nullopt when it takes none (or one is NULL).
std::optional<std::vector<Value>> removed_parent_key(const RowChange& row, const std::vector<size_t>& cols) {
  if (row.op == RowOp::insert) return std::nullopt;
  if (row.op == RowOp::update && std::none_of(cols.begin(), cols.end(), [&](size_t c) {
        return std::find(row.changed_columns.begin(), row.changed_columns.end(), static_cast<int>(c)) !=
               row.changed_columns.end();
      }))
    return std::nullopt;
  std::vector<Value> values;
  for (size_t c : cols) values.push_back(row.old_values.at(c));
  if (std::any_of(values.begin(), values.end(), [](const Value& v) { return v.is_null(); }))
    return std::nullopt;
  return values;
}

// Row change `row` of `t` as a LocalDangling: held as kind "dangling reference", `details` joined.
LocalDangling dangling_change(const TableDesc& t, const RowChange& row,
                              const std::vector<std::string>& details) {
  LocalDangling d;
  d.row = held_push_row(t, row, to_string(ConflictKind::dangling));
  d.operation = to_string(row.op);
  for (const std::string& detail : details) d.detail += (d.detail.empty() ? "" : "; ") + detail;
  return d;
}

// Whether the working copy holds a row of `r.parent` with the given parent key values.
Result<bool> parent_exists(db::Database& db, const ForeignReference& r, const std::vector<Value>& values) {
  auto st = TS_TRY(db.prepare(fmt::format("SELECT EXISTS (SELECT 1 FROM {} WHERE {})",
                                          quote_identifier(r.parent), match_columns(r.parent_columns))));
  TS_TRY_STATUS(st.bind_all(values));
  TS_TRY(st.step());
  return st.column_int64(0) != 0;
}

Result<int64_t> count_children(db::Database& db, const ForeignReference& r,
                               const std::vector<Value>& values) {
  auto st = TS_TRY(db.prepare(
      fmt::format("SELECT count(*) FROM {} WHERE {}", quote_identifier(r.child), match_columns(r.columns))));
  TS_TRY_STATUS(st.bind_all(values));
  TS_TRY(st.step());
  return st.column_int64(0);
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

}  // namespace

Result<std::vector<ForeignReference>> read_references(const std::string& working) {
  db::Database db = TS_TRY(db::Database::open(working, db::OpenMode::read_only));
  std::vector<ForeignReference> out;
  auto list =
      TS_TRY(db.prepare("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER "
                        "BY id, seq"));
  auto primary_key = TS_TRY(db.prepare("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk"));
  for (db::SchemaObject& o : TS_TRY(db::read_schema(db))) {
    if (o.type != "table") continue;
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

Result<std::vector<LocalDangling>> find_local_dangling(const Config& config, const Changeset& changeset,
                                                       const std::vector<ForeignReference>& references) {
  std::vector<LocalDangling> out;
  if (references.empty()) return out;
  db::Database db = TS_TRY(db::Database::open(config.working_path, db::OpenMode::read_only));
  for (const TableChanges& tc : changeset.tables) {
    const TableDesc& t = tc.table;
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* row = TS_TRY(rows.next())) {
      std::vector<std::string> details;
      for (const ForeignReference& r : references) {
        // A deleted parent that rows of the working copy still reference.
        if (row->op == RowOp::remove && same_identifier(r.parent, t.name)) {
          auto cols = t.column_indexes(r.parent_columns);
          if (!cols) continue;
          std::vector<Value> values;
          for (size_t c : *cols) values.push_back(row->old_values.at(c));
          if (std::any_of(values.begin(), values.end(), [](const Value& v) { return v.is_null(); })) continue;
          if (TS_TRY(parent_exists(db, r, values))) continue;  // another row holds the key values now
          int64_t children = TS_TRY(count_children(db, r, values));
          if (children == 0) continue;
          details.push_back(fmt::format("{} row{} of {} ({}) still reference{} it in your working copy",
                                        children, children == 1 ? "" : "s", r.child,
                                        show_reference(r.columns, values), children == 1 ? "s" : ""));
        }
        // A written child whose parent the working copy does not have.
        if (row->op != RowOp::remove && same_identifier(r.child, t.name)) {
          auto cols = t.column_indexes(r.columns);
          if (!cols) continue;
          std::optional<std::vector<Value>> values = written_reference(*row, *cols);
          if (!values || TS_TRY(parent_exists(db, r, *values))) continue;
          details.push_back(fmt::format("references {} row {}, which your working copy does not have",
                                        r.parent, show_reference(r.parent_columns, *values)));
        }
      }
      if (details.empty()) continue;
      details.push_back("the remote would be left with a dangling reference");
      out.push_back(dangling_change(t, *row, details));
    }
  }
  return out;
}

Result<std::vector<LocalDangling>> find_parents_the_remote_lacks(
    const Config& config, const Changeset& changeset, const std::vector<ForeignReference>& references) {
  std::vector<LocalDangling> out;
  if (references.empty()) return out;
  db::Database replica = TS_TRY(db::Database::open(config.replica_path, db::OpenMode::read_only));
  // The parent keys a child of the push references and the replica lacks: (reference, values), with the row.
  struct Missing {
    const ForeignReference* reference;
    std::vector<Value> values;
    LocalDangling row;
  };
  std::vector<Missing> missing;
  for (const TableChanges& tc : changeset.tables) {
    const TableDesc& t = tc.table;
    for (const ForeignReference& r : references) {
      if (!same_identifier(r.child, t.name)) continue;
      auto cols = t.column_indexes(r.columns);
      if (!cols) continue;
      auto probe = replica.prepare(fmt::format("SELECT EXISTS (SELECT 1 FROM {} WHERE {})",
                                               quote_identifier(r.parent), match_columns(r.parent_columns)));
      if (!probe.ok()) continue;  // the replica's parent differs: the server's guard decides
      RowCursor rows = tc.rows.cursor();
      while (const RowChange* row = TS_TRY(rows.next())) {
        std::optional<std::vector<Value>> referenced = written_reference(*row, *cols);
        if (!referenced) continue;
        const std::vector<Value>& values = *referenced;
        TS_TRY_STATUS(probe->reset());
        TS_TRY_STATUS(probe->bind_all(values));
        TS_TRY(probe->step());
        if (probe->column_int64(0) != 0) continue;
        LocalDangling d = dangling_change(
            t, *row,
            {fmt::format("references {} row {}, which the remote does not have (your change of it is held)",
                         r.parent, show_reference(r.parent_columns, values))});
        missing.push_back({&r, std::move(values), std::move(d)});
      }
    }
  }
  if (missing.empty()) return out;
  // A parent this push inserts, or moves to those key values, reaches the remote in the same batch.
  for (const TableChanges& tc : changeset.tables) {
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* row = TS_TRY(rows.next())) {
      if (row->op == RowOp::remove) continue;
      missing.erase(std::remove_if(missing.begin(), missing.end(),
                                   [&](const Missing& m) {
                                     if (!same_identifier(m.reference->parent, tc.table.name)) return false;
                                     auto cols = tc.table.column_indexes(m.reference->parent_columns);
                                     if (!cols) return false;
                                     for (size_t i = 0; i < cols->size(); ++i)
                                       if (row->new_values.at((*cols)[i]) != m.values[i]) return false;
                                     return true;
                                   }),
                    missing.end());
    }
  }
  for (Missing& m : missing) {
    auto same = std::find_if(out.begin(), out.end(), [&](const LocalDangling& d) {
      return same_identifier(d.row.table, m.row.row.table) && d.row.key == m.row.row.key;
    });
    if (same == out.end()) out.push_back(std::move(m.row));
  }
  return out;
}

Result<std::vector<LocalDangling>> find_parents_held_rows_reference(
    const Config& config, const Changeset& changeset, const std::vector<ForeignReference>& references,
    const std::vector<HeldConflict>& held) {
  std::vector<LocalDangling> out;
  if (references.empty() || held.empty()) return out;
  db::Database db = TS_TRY(db::Database::open(config.working_path, db::OpenMode::read_only));
  for (const TableChanges& tc : changeset.tables) {
    const TableDesc& t = tc.table;
    RowCursor rows = tc.rows.cursor();
    while (const RowChange* row = TS_TRY(rows.next())) {
      std::vector<std::string> details;
      for (const ForeignReference& r : references) {
        if (!same_identifier(r.parent, t.name)) continue;
        auto cols = t.column_indexes(r.parent_columns);
        if (!cols) continue;
        std::optional<std::vector<Value>> key = removed_parent_key(*row, *cols);
        if (!key || TS_TRY(parent_exists(db, r, *key))) continue;  // another row holds the key values now
        for (const HeldConflict& h : held) {
          if (!same_identifier(h.table, r.child) || h.theirs.empty()) continue;
          bool refers = true;
          for (size_t i = 0; refers && i < r.columns.size(); ++i) {
            auto at = std::find_if(h.columns.begin(), h.columns.end(),
                                   [&](const std::string& c) { return same_identifier(c, r.columns[i]); });
            refers = at != h.columns.end() &&
                     h.theirs.at(static_cast<size_t>(at - h.columns.begin())) == (*key)[i];
          }
          if (refers)
            details.push_back(fmt::format("the remote's row {} {} ({}) still references it and is held",
                                          r.child, printable(key_as_text(h.key)),
                                          show_reference(r.columns, *key)));
        }
      }
      if (details.empty()) continue;
      out.push_back(dangling_change(t, *row, details));
    }
  }
  return out;
}

}  // namespace turso_sync
