// TableWriter: the merge's reads and writes of one table of the working copy, addressed as the delta
// addresses its rows (rowid or declared key), through local renames; the SQL text of the same statements
// for the discarded-changes script. A constraint failure of a write is a conflict error naming the row.
#pragma once

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "db/blob.h"
#include "db/sqlite.h"
#include "diff/sql_text.h"
#include "turso_sync/changeset.h"
#include "turso_sync/diff.h"
#include "turso_sync/status.h"
#include "turso_sync/value.h"
#include "util/text.h"

namespace turso_sync::merge {

using Row = std::vector<Value>;

// "5", or "(1, 'a')" for a composite key.
inline std::string describe_key(const std::vector<Value>& key) {
  std::string out;
  for (const Value& v : key) out += (out.empty() ? "" : ", ") + describe(v);
  return key.size() == 1 ? out : "(" + out + ")";
}

inline bool is_constraint_error(db::Database& db) {
  return (sqlite3_errcode(db.handle()) & 0xFF) == SQLITE_CONSTRAINT;
}

// Statements on one table of the working copy, addressed the way the delta addresses its rows: by rowid for
// rowid-keyed tables, by the key columns (compared with `=`, so with each column's collation) otherwise.
// `ours_table` is the table's name in the working copy ("" = the delta's; a local RENAME TO gives another);
// `ours_names` (parallel to the delta's columns) names each column there: the same name, the name a local
// RENAME COLUMN gave it, or "" for a column the working copy dropped (never read or written).
class TableWriter {
 public:
  TableWriter(db::Database& db, const TableDesc& table, std::string ours_table = {},
              std::vector<std::string> ours_names = {})
      : m_db(db), m_table(table), m_ours_table(ours_table.empty() ? table.name : std::move(ours_table)) {
    m_name = quote_identifier(m_ours_table);
    for (size_t i = 0; i < table.columns.size(); ++i) {
      const std::string& n = i < ours_names.size() ? ours_names[i] : table.columns[i].name;
      m_columns.push_back(n.empty() ? std::string() : quote_identifier(n));
      m_ours_names.push_back(n);
    }
    m_explicit_rowid = table.keyed_by_rowid() && table.rowid_alias < 0;
    // Large values are read and written in place in tables whose rows the delta addresses by rowid, when the
    // read has room for the mask column (a result set holds at most 2000 columns).
    m_large_bit.assign(table.columns.size(), -1);
    int bits = 0;
    bool room = table.columns.size() < 2000;
    for (size_t i = 0; room && table.keyed_by_rowid() && !table.without_rowid && i < table.columns.size() &&
                       bits < db::k_max_large_columns;
         ++i) {
      if (db::may_hold_large_value(table.columns[i]) && present(i)) m_large_bit[i] = bits++;
    }
  }

  const TableDesc& table() const { return m_table; }
  // Whether the working copy has column `i` of the delta (false: dropped locally).
  bool present(size_t i) const { return !m_columns[i].empty(); }
  // The table's name in the working copy, and the name there of the delta's column `i` ("" dropped).
  const std::string& ours_table() const { return m_ours_table; }
  const std::string& ours_name(size_t i) const { return m_ours_names[i]; }
  // Whether the last failed write was refused by a UNIQUE constraint (another row holds the value).
  bool unique_clash() const { return m_unique_clash; }

  // Checks that the working copy has every column the delta writes, as a stored column.
  Status check_columns() {
    auto stmt = TS_TRY(m_db.prepare("SELECT name, hidden FROM pragma_table_xinfo(?1)"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(m_ours_table)));
    std::vector<std::pair<std::string, int64_t>> ours;
    while (TS_TRY(stmt.step())) ours.emplace_back(stmt.column_text(0), stmt.column_int64(1));
    if (ours.empty())
      return Error(
          ErrorKind::conflict,
          fmt::format("table {}: the remote changed its rows but the working copy no longer has this table",
                      printable(m_table.name)));
    for (size_t i = 0; i < m_table.columns.size(); ++i) {
      const ColumnDesc& c = m_table.columns[i];
      bool key = std::find(m_table.key_columns.begin(), m_table.key_columns.end(), static_cast<int>(i)) !=
                 m_table.key_columns.end();
      if (!present(i) && !key) continue;
      auto it = std::find_if(ours.begin(), ours.end(), [&](const auto& o) {
        return sqlite3_stricmp(o.first.c_str(), m_ours_names[i].c_str()) == 0;
      });
      if (it == ours.end() || it->second == 2 || it->second == 3)
        return Error(
            ErrorKind::conflict,
            fmt::format("table {}: the remote writes column {}, which the working copy's definition of the "
                        "table {}",
                        printable(m_table.name), printable(c.name),
                        it == ours.end() ? "lacks" : "computes (generated column)"));
    }
    if (m_table.keyed_by_rowid() && m_table.rowid_expr.empty())
      return Error(ErrorKind::sql,
                   fmt::format("table {}: columns named rowid, _rowid_ and oid hide the rowid, so "
                               "rows cannot be matched",
                               printable(m_table.name)));
    return {};
  }

  // The working copy's row with this key, or nullopt; a column the working copy dropped reads as NULL.
  Result<std::optional<Row>> read(const std::vector<Value>& key) {
    if (!m_select.handle()) {
      std::string cols, mask;
      for (size_t i = 0; i < m_columns.size(); ++i) {
        const std::string& c = m_columns[i];
        std::string expr = c.empty() ? "NULL" : c;
        if (m_large_bit[i] >= 0) {
          expr = db::large_value_left_out(c);
          mask += (mask.empty() ? "" : " | ") + db::large_value_mask_bits(c, m_large_bit[i]);
        }
        cols += (cols.empty() ? "" : ", ") + expr;
      }
      m_has_mask = !mask.empty();
      if (m_has_mask) cols += ", " + mask;
      m_select =
          TS_TRY(m_db.prepare(fmt::format("SELECT {} FROM {} WHERE {}", cols, m_name, key_condition(1))));
    }
    TS_TRY_STATUS(m_select.reset());
    TS_TRY_STATUS(bind_key(m_select, key, 1));
    if (!TS_TRY(m_select.step())) return std::optional<Row>();
    Row row;
    row.reserve(m_columns.size());
    int64_t mask = m_has_mask ? m_select.column_int64(static_cast<int>(m_columns.size())) : 0;
    for (size_t i = 0; i < m_columns.size(); ++i) {
      std::optional<ValueType> large;
      if (m_large_bit[i] >= 0)
        large = db::left_out_type(mask, m_large_bit[i],
                                  sqlite3_column_type(m_select.handle(), static_cast<int>(i)) == SQLITE_NULL);
      if (large) {
        if (!m_store) m_store = TS_TRY(LargeStore::create("", "large values"));
        row.push_back(TS_TRY(db::read_large(m_db, place(key.at(0).as_integer(), i), *large, m_store)));
      } else {
        row.push_back(m_select.column(static_cast<int>(i)));
      }
    }
    TS_TRY_STATUS(m_select.reset());
    m_last_read.reset();
    if (std::any_of(row.begin(), row.end(), [](const Value& v) { return v.is_large(); }))
      m_last_read = LastRead{key, row};
    return std::optional<Row>(std::move(row));
  }

  Status insert(const std::vector<Value>& key, const Row& values) {
    m_last_read.reset();
    TS_TRY_STATUS(plan_in_place_writes());
    if (!m_insert.handle()) {
      std::string cols = m_explicit_rowid ? m_table.rowid_expr : "";
      std::string params = m_explicit_rowid ? "?" : "";
      for (const std::string& c : m_columns) {
        if (c.empty()) continue;
        cols += (cols.empty() ? "" : ", ") + c;
        params += params.empty() ? "?" : ", ?";
      }
      m_insert = TS_TRY(m_db.prepare(fmt::format("INSERT INTO {}({}) VALUES({})", m_name, cols, params)));
    }
    TS_TRY_STATUS(m_insert.reset());
    int next = 1;
    if (m_explicit_rowid) TS_TRY_STATUS(m_insert.bind(next++, key.at(0)));
    std::vector<int> large;
    for (size_t i = 0; i < values.size(); ++i)
      if (present(i)) TS_TRY_STATUS(bind_value(m_insert, next++, i, values[i], large));
    TS_TRY_STATUS(run(m_insert, "insert", key));
    return write_large(sqlite3_last_insert_rowid(m_db.handle()), large, values);
  }

  // Writes `values[c]` into every column c of `columns` that the working copy has. The large values the row
  // held when read() last read it, in columns this leaves as they are, are written again in place: SQLite
  // rebuilds the whole row, and would otherwise load each of them next to the new row it builds.
  Status update(const std::vector<Value>& key, const std::vector<int>& all_columns, const Row& given) {
    std::vector<int> columns = only_present(all_columns);
    if (columns.empty()) return {};
    TS_TRY_STATUS(plan_in_place_writes());
    std::optional<Row> kept;
    if (m_last_read && m_last_read->key == key) {
      for (size_t c = 0; c < m_columns.size(); ++c) {
        if (!m_last_read->row[c].is_large() || !m_in_place[c] ||
            std::find(columns.begin(), columns.end(), c) != columns.end())
          continue;
        if (!kept) kept = given;
        (*kept)[c] = m_last_read->row[c];
        columns.push_back(static_cast<int>(c));
      }
      std::sort(columns.begin(), columns.end());
    }
    m_last_read.reset();
    const Row& values = kept ? *kept : given;
    auto it = m_updates.find(columns);
    if (it == m_updates.end()) {
      std::string set;
      for (size_t k = 0; k < columns.size(); ++k)
        set += fmt::format("{}{} = ?{}", k ? ", " : "", m_columns[columns[k]], k + 1);
      auto stmt = TS_TRY(m_db.prepare(fmt::format("UPDATE {} SET {} WHERE {}", m_name, set,
                                                  key_condition(static_cast<int>(columns.size()) + 1))));
      it = m_updates.emplace(columns, std::move(stmt)).first;
    }
    db::Statement& stmt = it->second;
    TS_TRY_STATUS(stmt.reset());
    std::vector<int> large;
    for (size_t k = 0; k < columns.size(); ++k)
      TS_TRY_STATUS(bind_value(stmt, static_cast<int>(k + 1), static_cast<size_t>(columns[k]),
                               values[columns[k]], large));
    TS_TRY_STATUS(bind_key(stmt, key, static_cast<int>(columns.size()) + 1));
    TS_TRY_STATUS(run(stmt, "update", key));
    return large.empty() ? Status() : write_large(key.at(0).as_integer(), large, values);
  }

  Status remove(const std::vector<Value>& key) {
    m_last_read.reset();
    if (!m_delete.handle())
      m_delete = TS_TRY(m_db.prepare(fmt::format("DELETE FROM {} WHERE {}", m_name, key_condition(1))));
    TS_TRY_STATUS(m_delete.reset());
    TS_TRY_STATUS(bind_key(m_delete, key, 1));
    return run(m_delete, "delete", key);
  }

  // Gives the row at rowid `from` the rowid `to` (rowid-keyed tables).
  Status move(int64_t from, int64_t to) {
    m_last_read.reset();
    auto stmt = TS_TRY(m_db.prepare(
        fmt::format("UPDATE {} SET {} = ?1 WHERE {} = ?2", m_name, m_table.rowid_expr, m_table.rowid_expr)));
    TS_TRY_STATUS(stmt.bind(1, Value::integer(to)));
    TS_TRY_STATUS(stmt.bind(2, Value::integer(from)));
    return run(stmt, "move", {Value::integer(from)});
  }

  // The same operations as SQL text with literal values, for the discarded-changes script.
  std::string insert_sql(const std::vector<Value>& key, const Row& values) const {
    std::string cols = m_explicit_rowid ? m_table.rowid_expr : "";
    std::string vals = m_explicit_rowid ? sql_literal(key.at(0)) : "";
    for (size_t i = 0; i < m_columns.size(); ++i) {
      if (!present(i)) continue;
      cols += (cols.empty() ? "" : ", ") + m_columns[i];
      vals += (vals.empty() ? "" : ", ") + sql_literal(values[i]);
    }
    return fmt::format("INSERT INTO {}({}) VALUES({});\n", m_name, cols, vals);
  }
  std::string update_sql(const std::vector<Value>& key, const std::vector<int>& columns,
                         const Row& values) const {
    std::string set;
    for (int c : only_present(columns))
      set += (set.empty() ? "" : ", ") + m_columns[c] + " = " + sql_literal(values[c]);
    if (set.empty()) return "";
    return fmt::format("UPDATE {} SET {} WHERE {};\n", m_name, set, key_literal_condition(key));
  }
  std::string delete_sql(const std::vector<Value>& key) const {
    return fmt::format("DELETE FROM {} WHERE {};\n", m_name, key_literal_condition(key));
  }

 private:
  db::BlobPlace place(int64_t rowid, size_t column) const {
    return db::BlobPlace{"main", m_ours_table, m_ours_names[column], rowid};
  }

  // Binds a value; a large value of a column read in place is bound as a placeholder of its size and type
  // and noted in `large`, for write_large() to fill in after the statement ran.
  Status bind_value(db::Statement& stmt, int index, size_t column, const Value& v, std::vector<int>& large) {
    if (!v.is_large() || !m_in_place[column]) return stmt.bind(index, v);
    TS_TRY_STATUS(db::bind_large_placeholder(m_db, stmt.handle(), index, v, column == m_last_stored));
    large.push_back(static_cast<int>(column));
    return {};
  }

  // Which columns take large values as placeholders filled in place (m_in_place), once per writer: those read
  // in place, unless sqlite3_blob_open refuses to write them (a column of an index, any column when an index
  // has an expression) or the row's placeholder would be seen instead of the value (a CHECK constraint: the
  // word anywhere in the table's SQL, to be safe; a generated column). A large value of another column is
  // bound whole, as any value.
  Status plan_in_place_writes() {
    if (!m_in_place.empty()) return {};
    std::vector<bool> in_place(m_columns.size());
    for (size_t c = 0; c < m_columns.size(); ++c) in_place[c] = m_large_bit[c] >= 0;
    if (std::find(in_place.begin(), in_place.end(), true) != in_place.end()) {
      auto sql = TS_TRY(
          m_db.prepare("SELECT lower(sql) FROM main.sqlite_schema WHERE type = 'table' AND name = ?1"));
      TS_TRY_STATUS(sql.bind(1, Value::text(m_ours_table)));
      bool whole = TS_TRY(sql.step()) && sql.column_text(0).find("check") != std::string::npos;
      auto generated = TS_TRY(m_db.prepare("SELECT 1 FROM pragma_table_xinfo(?1) WHERE hidden IN (2, 3)"));
      TS_TRY_STATUS(generated.bind(1, Value::text(m_ours_table)));
      whole = whole || TS_TRY(generated.step());
      auto indexed = TS_TRY(m_db.prepare(
          "SELECT ii.cid, ii.name FROM pragma_index_list(?1) AS il, pragma_index_xinfo(il.name) AS ii "
          "WHERE ii.key"));
      TS_TRY_STATUS(indexed.bind(1, Value::text(m_ours_table)));
      while (!whole && TS_TRY(indexed.step())) {
        whole = indexed.column_int64(0) == -2;  // an expression
        std::string name = indexed.column_text(1);
        for (size_t c = 0; c < m_columns.size(); ++c)
          if (sqlite3_stricmp(name.c_str(), m_ours_names[c].c_str()) == 0) in_place[c] = false;
      }
      if (whole) in_place.assign(m_columns.size(), false);
      // The column stored last in the row: SQLite keeps a zeroblob there unexpanded (db/blob.h).
      auto last = TS_TRY(m_db.prepare(
          "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden NOT IN (1, 2) ORDER BY cid DESC LIMIT 1"));
      TS_TRY_STATUS(last.bind(1, Value::text(m_ours_table)));
      if (TS_TRY(last.step()))
        for (size_t c = 0; c < m_columns.size(); ++c)
          if (sqlite3_stricmp(last.column_text(0).c_str(), m_ours_names[c].c_str()) == 0) m_last_stored = c;
    }
    m_in_place = std::move(in_place);
    return {};
  }

  Status write_large(int64_t rowid, const std::vector<int>& large, const Row& values) {
    for (int c : large)
      TS_TRY_STATUS(db::write_in_place(m_db, place(rowid, static_cast<size_t>(c)), values[c]));
    return {};
  }

  std::vector<int> only_present(const std::vector<int>& columns) const {
    std::vector<int> out;
    for (int c : columns)
      if (present(static_cast<size_t>(c))) out.push_back(c);
    return out;
  }

  std::string key_condition(int first_param) const {
    if (m_table.keyed_by_rowid()) return fmt::format("{} = ?{}", m_table.rowid_expr, first_param);
    std::string out;
    for (size_t k = 0; k < m_table.key_columns.size(); ++k)
      out += fmt::format("{}{} = ?{}", k ? " AND " : "", m_columns[m_table.key_columns[k]],
                         first_param + static_cast<int>(k));
    return out;
  }

  std::string key_literal_condition(const std::vector<Value>& key) const {
    if (m_table.keyed_by_rowid()) return m_table.rowid_expr + " = " + sql_literal(key.at(0));
    std::string out;
    for (size_t k = 0; k < m_table.key_columns.size(); ++k)
      out += (k ? " AND " : "") + m_columns[m_table.key_columns[k]] + " = " + sql_literal(key.at(k));
    return out;
  }

  Status bind_key(db::Statement& stmt, const std::vector<Value>& key, int first_param) {
    size_t expected = m_table.keyed_by_rowid() ? 1 : m_table.key_columns.size();
    if (key.size() != expected)
      return Error(ErrorKind::internal, fmt::format("table {}: a change's key has {} values, expected {}",
                                                    printable(m_table.name), key.size(), expected));
    for (size_t k = 0; k < key.size(); ++k)
      TS_TRY_STATUS(stmt.bind(first_param + static_cast<int>(k), key[k]));
    return {};
  }

  Status run(db::Statement& stmt, const char* what, const std::vector<Value>& key) {
    auto r = stmt.step();
    m_unique_clash = false;
    if (r.ok()) return {};
    std::string where =
        fmt::format("{} row {} of table {}", what, describe_key(key), printable(m_table.name));
    m_unique_clash = sqlite3_extended_errcode(m_db.handle()) == SQLITE_CONSTRAINT_UNIQUE;
    if (is_constraint_error(m_db))
      return Error(
          ErrorKind::conflict,
          fmt::format("{}: the remote's row clashes with a local row ({}); change the local row (e.g. the "
                      "duplicated value) and pull again",
                      where, sqlite3_errmsg(m_db.handle())));
    return r.error().context(where);
  }

  db::Database& m_db;
  const TableDesc& m_table;
  std::string m_ours_table;
  std::string m_name;                     // quoted m_ours_table
  std::vector<std::string> m_columns;     // quoted; "" for a column the working copy dropped
  std::vector<std::string> m_ours_names;  // unquoted, parallel
  bool m_unique_clash = false;
  bool m_explicit_rowid = false;  // inserts name the rowid (no INTEGER PRIMARY KEY column carries it)
  db::Statement m_select, m_insert, m_delete;
  bool m_has_mask = false;              // the read's last column is the mask of its large values
  std::vector<int> m_large_bit;         // per column: its slot in the read's mask, -1 when read whole
  std::shared_ptr<LargeStore> m_store;  // the large values read, created at the first
  struct LastRead {
    std::vector<Value> key;
    Row row;
  };
  std::optional<LastRead> m_last_read;
  size_t m_last_stored = SIZE_MAX;  // index in m_columns of the column stored last in the row, if any
  std::vector<bool> m_in_place;  // per column: large values written as placeholders filled in place  // the
                                 // row read() read last, when it held large values, until a write
  std::map<std::vector<int>, db::Statement> m_updates;  // by the set of columns written
};

}  // namespace turso_sync::merge
