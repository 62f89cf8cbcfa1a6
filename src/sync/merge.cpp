// The three-way merge of a pull (contract in merge.h, rules for users in docs/conflicts.md).
//
// Order inside the one transaction: the working copy's views and triggers set aside; schema changes of the
// delta (tables and indexes; views and triggers only decided); colliding local rows moved (before any row of
// theirs lands, so that the foreign-key columns that follow a moved row are only ours); then per table
// deletes, updates and inserts (deletes first free UNIQUE values); views and triggers created in their merged
// versions.
#include "sync/merge.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "db/schema.h"
#include "diff/schema_plan.h"
#include "diff/sql_text.h"
#include "sync/sequences.h"
#include "turso_sync/diff.h"
#include "util/text.h"

namespace turso_sync {

namespace {

using Row = std::vector<Value>;

std::string describe_key(const std::vector<Value>& key) {
  std::string out;
  for (const Value& v : key) out += (out.empty() ? "" : ", ") + describe(v);
  return key.size() == 1 ? out : "(" + out + ")";
}

bool is_constraint_error(db::Database& db) {
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
  }

  const TableDesc& table() const { return m_table; }
  // Whether the working copy has column `i` of the delta (false: dropped locally).
  bool present(size_t i) const { return !m_columns[i].empty(); }

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
      std::string cols;
      for (const std::string& c : m_columns) cols += (cols.empty() ? "" : ", ") + (c.empty() ? "NULL" : c);
      m_select =
          TS_TRY(m_db.prepare(fmt::format("SELECT {} FROM {} WHERE {}", cols, m_name, key_condition(1))));
    }
    TS_TRY_STATUS(m_select.reset());
    TS_TRY_STATUS(bind_key(m_select, key, 1));
    if (!TS_TRY(m_select.step())) return std::optional<Row>();
    Row row;
    row.reserve(m_columns.size());
    for (size_t i = 0; i < m_columns.size(); ++i) row.push_back(m_select.column(static_cast<int>(i)));
    TS_TRY_STATUS(m_select.reset());
    return std::optional<Row>(std::move(row));
  }

  Status insert(const std::vector<Value>& key, const Row& values) {
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
    for (size_t i = 0; i < values.size(); ++i)
      if (present(i)) TS_TRY_STATUS(m_insert.bind(next++, values[i]));
    return run(m_insert, "insert", key);
  }

  // Writes `values[c]` into every column c of `columns` that the working copy has.
  Status update(const std::vector<Value>& key, const std::vector<int>& all_columns, const Row& values) {
    std::vector<int> columns = only_present(all_columns);
    if (columns.empty()) return {};
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
    for (size_t k = 0; k < columns.size(); ++k)
      TS_TRY_STATUS(stmt.bind(static_cast<int>(k + 1), values[columns[k]]));
    TS_TRY_STATUS(bind_key(stmt, key, static_cast<int>(columns.size()) + 1));
    return run(stmt, "update", key);
  }

  Status remove(const std::vector<Value>& key) {
    if (!m_delete.handle())
      m_delete = TS_TRY(m_db.prepare(fmt::format("DELETE FROM {} WHERE {}", m_name, key_condition(1))));
    TS_TRY_STATUS(m_delete.reset());
    TS_TRY_STATUS(bind_key(m_delete, key, 1));
    return run(m_delete, "delete", key);
  }

  // Gives the row at rowid `from` the rowid `to` (rowid-keyed tables).
  Status move(int64_t from, int64_t to) {
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
    if (r.ok()) return {};
    std::string where =
        fmt::format("{} row {} of table {}", what, describe_key(key), printable(m_table.name));
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
  bool m_explicit_rowid = false;          // inserts name the rowid (no INTEGER PRIMARY KEY column carries it)
  db::Statement m_select, m_insert, m_delete;
  std::map<std::vector<int>, db::Statement> m_updates;  // by the set of columns written
};

// A declared single-column FOREIGN KEY of the working copy.
struct ForeignKey {
  std::string child;
  std::string column;
  std::string parent;
  std::optional<std::string> parent_column;  // nullopt: the parent's PRIMARY KEY
};

// A view or trigger of the working copy, set aside during the merge.
struct DerivedObject {
  std::string type;  // "view" or "trigger"
  std::string name;
  std::string sql;
  bool theirs = false;  // the remote's version (a decision of this merge), not the working copy's
  std::string table;    // the table (or view) it belongs to, when set aside from the working copy
};

// Turns foreign-key enforcement off for the merge and back on afterwards (it cannot change inside a
// transaction).
class ForeignKeysOff {
 public:
  explicit ForeignKeysOff(db::Database& db) : m_db(db) {}
  ForeignKeysOff(const ForeignKeysOff&) = delete;
  ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;
  ~ForeignKeysOff() {
    if (m_was_on) sqlite3_exec(m_db.handle(), "PRAGMA foreign_keys = ON", nullptr, nullptr, nullptr);
  }
  Status engage() {
    m_was_on = TS_TRY(db::query_int(m_db, "PRAGMA foreign_keys")) != 0;
    if (m_was_on) TS_TRY_STATUS(m_db.exec("PRAGMA foreign_keys = OFF"));
    return {};
  }

 private:
  db::Database& m_db;
  bool m_was_on = false;
};

// The rows of one table that this copy pushed (MergeOptions::pushed), found by key: a sorted index of key
// hashes (16 bytes a row), the rows themselves read from their RowList (which may be spilled to disk).
class PushedRows {
 public:
  explicit PushedRows(const RowList& rows) : m_rows(&rows) {}

  Status index() {
    m_index.reserve(m_rows->size());
    RowCursor rows = m_rows->cursor();
    while (const RowChange* r = TS_TRY(rows.next())) m_index.emplace_back(hash(r->key), rows.index());
    std::sort(m_index.begin(), m_index.end());
    return {};
  }

  // The pushed row change of `key`, nullopt when the push did not change that key.
  Result<std::optional<RowChange>> find(const std::vector<Value>& key) const {
    uint64_t h = hash(key);
    auto it = std::lower_bound(m_index.begin(), m_index.end(), std::make_pair(h, size_t{0}));
    for (; it != m_index.end() && it->first == h; ++it) {
      RowChange r = TS_TRY(m_rows->at(it->second));
      if (r.key == key) return std::optional<RowChange>(std::move(r));
    }
    return std::optional<RowChange>();
  }

 private:
  static uint64_t hash(const std::vector<Value>& key) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over each value's type and bytes
    auto mix = [&h](const void* p, size_t n) {
      for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ull;
    };
    for (const Value& v : key) {
      auto type = static_cast<unsigned char>(v.type());
      mix(&type, 1);
      if (v.type() == ValueType::integer) {
        int64_t i = v.as_integer();
        mix(&i, sizeof i);
      } else if (v.type() == ValueType::real) {
        double d = v.as_real();
        mix(&d, sizeof d);
      } else if (v.type() != ValueType::null) {
        mix(v.as_bytes().data(), v.as_bytes().size());
      }
    }
    return h;
  }

  const RowList* m_rows;
  std::vector<std::pair<uint64_t, size_t>> m_index;  // (key hash, row index), sorted
};

class Merger {
 public:
  Merger(db::Database& ours, const Changeset& delta, const MergeOptions& options)
      : m_db(ours), m_delta(delta), m_options(options) {
    if (!options.pushed) return;
    for (const SchemaChange& c : options.pushed->schema)
      m_pushed_objects.insert(schema_object_key(c.object_type, c.name));
  }

  Result<MergeReport> run() {
    if (!sqlite3_get_autocommit(m_db.handle()))
      return Error(ErrorKind::internal,
                   fmt::format("merge into working copy {}: the connection is already inside a "
                               "transaction",
                               m_db.path()));
    if (m_delta.empty()) {  // nothing to merge: do not wait for the application's lock
      m_report.applied = true;
      return std::move(m_report);
    }
    if (m_options.pushed)
      for (size_t i = 0; i < m_delta.tables.size(); ++i)
        for (const TableChanges& tc : m_options.pushed->tables)
          if (same_columns(m_delta.tables[i].table, tc.table)) {
            PushedRows& rows = m_pushed_rows.emplace(i, PushedRows(tc.rows)).first->second;
            TS_TRY_STATUS(rows.index());
          }
    ForeignKeysOff fk_off(m_db);
    TS_TRY_STATUS(fk_off.engage());
    auto begun = db::Transaction::begin(m_db, db::Transaction::Kind::immediate);
    if (!begun.ok()) return locked_or(std::move(begun).error());
    db::Transaction tx = std::move(begun).value();
    auto merged = apply(tx);
    if (!merged.ok() && merged.error().kind() == ErrorKind::busy) return locked_or(std::move(merged).error());
    return merged;
  }

 private:
  // Everything after BEGIN; `tx` rolls back on every path that does not commit.
  Result<MergeReport> apply(db::Transaction& tx) {
    // Views and triggers hold no rows: they are set aside for the whole merge (a table rebuild re-checks
    // every view and trigger, and the merge's writes must not fire triggers) and created again at the end.
    std::vector<DerivedObject> derived = TS_TRY(suspend_derived());
    TS_TRY_STATUS(apply_schema());
    if (!m_delta.tables.empty()) {
      TS_TRY_STATUS(map_local_columns());
      for (size_t i = 0; i < m_delta.tables.size(); ++i) {
        m_writers.push_back(std::make_unique<TableWriter>(m_db, m_delta.tables[i].table,
                                                          m_ours_tables[i].value_or(""), m_column_maps[i]));
        if (!skipped(i)) TS_TRY_STATUS(m_writers.back()->check_columns());
      }
      if (m_options.on_insert_collision == InsertCollision::move_local) TS_TRY_STATUS(move_colliding_rows());
      auto fk_tables = TS_TRY(foreign_key_tables());
      auto dangling_before = TS_TRY(dangling_references(fk_tables));
      for (size_t i = 0; i < m_delta.tables.size(); ++i) TS_TRY_STATUS(merge_table(i));
      if (m_report.conflicts.empty() || m_options.on_conflict != ConflictPolicy::abort)
        TS_TRY_STATUS(settle_dangling_references(fk_tables, dangling_before));
    }

    if (!m_report.conflicts.empty() && m_options.on_conflict == ConflictPolicy::abort) {
      m_report.applied = false;
      return std::move(m_report);  // `tx` rolls back everything, schema changes and moves included
    }
    TS_TRY_STATUS(carry_counters());
    TS_TRY_STATUS(restore_derived(derived));
    m_report.applied = true;
    if (!m_discarded.empty())
      m_report.discarded_sql =
          "-- Local values replaced by the remote's during a pull (--on-conflict=remote).\n"
          "-- Running this on the working copy puts them back (the next push sends them); its triggers\n"
          "-- fire as for any other change.\n"
          "BEGIN;\n" +
          m_discarded + "COMMIT;\n";
    if (m_options.before_commit) TS_TRY_STATUS(m_options.before_commit(m_report));
    TS_TRY_STATUS(tx.commit());
    return std::move(m_report);
  }

  // The AUTOINCREMENT counters of the tables the delta touched (or whose rows moved) follow theirs and the
  // moved rows (sync/sequences.h).
  Status carry_counters() {
    std::vector<std::string> tables;
    for (size_t i = 0; i < m_delta.tables.size(); ++i)
      if (!skipped(i) && m_delta.tables[i].table.keyed_by_rowid())
        tables.push_back(m_ours_tables.size() > i && m_ours_tables[i] ? *m_ours_tables[i]
                                                                      : m_delta.tables[i].table.name);
    db::Database* theirs = m_options.theirs_path.empty() ? nullptr : TS_TRY(theirs_db());
    return carry_autoincrement_counters(m_db, theirs, tables);
  }

  Error locked_or(Error e) const {
    if (e.kind() != ErrorKind::busy) return e.context(fmt::format("merge into working copy {}", m_db.path()));
    return Error(
        ErrorKind::busy,
        fmt::format("merge into working copy {}: the file stayed locked by another connection (the "
                    "application holds a write transaction?) for the whole busy timeout; nothing was "
                    "changed. Retry when the application is idle",
                    m_db.path()));
  }

  // Whether the working copy already holds this schema change's result (a merge that is redone, or the same
  // change made locally): its statements are then skipped, as a row already equal to theirs is.
  Result<bool> schema_already_applied(const SchemaChange& c) {
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
  Status check_no_local_rows_lost(const SchemaChange& c) {
    bool discards = c.op == SchemaOp::drop_table || (c.op == SchemaOp::rebuild_table && !c.copy_rows);
    if (!discards || m_options.base_path.empty()) return {};
    if (!m_base) {
      auto opened = db::Database::open(m_options.base_path, db::OpenMode::read_only);
      if (!opened.ok()) return std::move(opened).error().context("read the replica (the merge's base)");
      m_base = std::make_unique<db::Database>(std::move(opened).value());
    }
    if (TS_TRY(same_rows(c.name))) return {};
    if (take_theirs()) {
      m_discarded +=
          TS_TRY(dump_table_sql(m_db, c.name, c.op == SchemaOp::drop_table ? "dropped" : "rebuilt"));
      return {};
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
  Result<bool> same_rows(const std::string& table) {
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

  // Without the base and theirs files (unit tests of rows only): the delta's statements, skipping those whose
  // result the working copy already holds.
  Status apply_schema_two_way() {
    for (const SchemaChange& c : m_delta.schema) {
      if (derived_type(c.object_type)) {
        if (c.reason != SchemaReason::dependent)
          set_derived(c.object_type, c.name,
                      c.new_sql.empty() ? std::nullopt : std::optional<std::string>(c.new_sql));
        continue;
      }
      if (TS_TRY(schema_already_applied(c))) continue;
      TS_TRY_STATUS(check_no_local_rows_lost(c));
      for (const std::string& sql : c.statements) {
        auto st = m_db.exec(sql);
        if (st.ok()) continue;
        if (st.error().kind() != ErrorKind::sql)
          return st.error().context(
              fmt::format("merge into working copy: apply {} {}", to_string(c.op), printable(c.name)));
        return Error(
            ErrorKind::conflict,
            fmt::format("merge into working copy {}: the remote's schema change ({} of {} {}) cannot be "
                        "applied: {}. The working copy changed the same object locally; nothing was "
                        "changed. Undo the local schema change (or make it the same as the remote's) and "
                        "pull again",
                        m_db.path(), to_string(c.op), c.object_type, printable(c.name),
                        st.error().message()));
      }
    }
    return {};
  }

  // --- schema: a three-way merge per object ---------------------------------------------------------------
  //
  // Every object the delta touches (table, index, view, trigger, user_version) is looked up by type and name
  // (case-insensitively) in the base, theirs and ours, and compared by meaning (tables: TableMeaning; other
  // objects: normalised SQL; user_version: its value). ours == theirs: nothing to do (the same migration on
  // both sides is one migration); ours == base: the remote's change is applied to ours (a rebuild copies
  // ours' rows, so local row edits follow renames); an object this copy just pushed: theirs is taken (the
  // server's form of it); otherwise a conflict, settled only by on_conflict == remote (theirs taken, ours
  // saved in the discarded-changes script). Objects that depend on a rebuilt table follow its decision, and
  // the working copy's own indexes and triggers on a table the merge rebuilds are recreated after it.

  enum class Action { apply, skip, adopt, conflict, dependent };
  struct Decision {
    Action action = Action::skip;
    std::string ours, base, theirs;  // meanings; "" = absent
  };

  static std::string object_key(const std::string& type, const std::string& name) {
    return schema_object_key(type, name);
  }

  Result<db::Database*> side(const std::string& path, std::unique_ptr<db::Database>& slot, const char* what) {
    if (!slot) {
      auto opened = db::Database::open(path, db::OpenMode::read_only);
      if (!opened.ok()) return std::move(opened).error().context(fmt::format("read {}", what));
      slot = std::make_unique<db::Database>(std::move(opened).value());
    }
    return slot.get();
  }
  Result<db::Database*> base_db() {
    return side(m_options.base_path, m_base, "the replica (the merge's base)");
  }
  Result<db::Database*> theirs_db() { return side(m_options.theirs_path, m_theirs, "the new replica"); }

  static Result<std::optional<std::string>> object_sql(db::Database& db, const std::string& type,
                                                       const std::string& name) {
    auto stmt = TS_TRY(db.prepare(
        "SELECT sql FROM sqlite_schema WHERE type = ?1 AND name = ?2 COLLATE NOCASE AND sql IS NOT NULL"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(type)));
    TS_TRY_STATUS(stmt.bind(2, Value::text(name)));
    if (!TS_TRY(stmt.step())) return std::optional<std::string>();
    return std::optional<std::string>(stmt.column_text(0));
  }

  static Result<std::string> object_meaning(db::Database& db, const std::string& type,
                                            const std::string& name) {
    if (type == "pragma") return std::to_string(TS_TRY(db::query_int(db, "PRAGMA main.user_version")));
    if (type == "table") return TS_TRY(diff::read_table_meaning(db, "main", name)).text();
    auto sql = TS_TRY(object_sql(db, type, name));
    if (!sql) return std::string();
    std::string n = diff::normalize_sql(*sql);
    if (type == "index")  // the server lower-cases names in what it rewrites; an index holds no text values
      for (char& c : n)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return n;
  }

  // The working copy's meaning of an object, views and triggers as they were before the merge set them aside.
  Result<std::string> ours_meaning(const std::string& type, const std::string& name) {
    if (!derived_type(type)) return object_meaning(m_db, type, name);
    auto it = m_derived_ours.find(object_key(type, name));
    return it == m_derived_ours.end() ? std::string() : diff::normalize_sql(it->second);
  }

  static std::string describe_object(const SchemaChange& c) {
    if (c.object_type == "pragma") return "PRAGMA user_version";
    return fmt::format("{} {}", c.object_type, printable(c.name));
  }

  static std::string describe_state(const std::string& meaning, const char* changed) {
    return meaning.empty() ? "dropped it" : changed;
  }

  Status apply_schema() {
    if (m_delta.schema.empty()) return {};
    if (m_options.base_path.empty() || m_options.theirs_path.empty()) return apply_schema_two_way();
    db::Database* base = TS_TRY(base_db());
    db::Database* theirs = TS_TRY(theirs_db());
    std::map<std::string, Decision> decisions;
    std::vector<std::string> conflicts;
    for (const SchemaChange& c : m_delta.schema) {
      std::string key = object_key(c.object_type, c.name);
      if (decisions.count(key)) continue;
      Decision d;
      d.ours = TS_TRY(ours_meaning(c.object_type, c.name));
      d.base = TS_TRY(object_meaning(*base, c.object_type, c.name));
      d.theirs = TS_TRY(object_meaning(*theirs, c.object_type, c.name));
      if (c.reason == SchemaReason::dependent)
        d.action = Action::dependent;
      else if (d.ours == d.theirs)
        d.action = Action::skip;
      else if (d.ours == d.base)
        d.action = Action::apply;
      else if (m_pushed_objects.count(key) || m_options.on_conflict == ConflictPolicy::remote)
        d.action = Action::adopt;
      else
        d.action = Action::conflict;
      if (d.action == Action::conflict) {
        std::string theirs_did = d.base.empty() ? "created it" : describe_state(d.theirs, "changed it");
        std::string ours_did =
            d.base.empty() ? "created it differently" : describe_state(d.ours, "changed it");
        std::string lost = c.object_type == "table" && !d.ours.empty() && !d.theirs.empty()
                               ? TS_TRY(local_additions_lost(c.name, *base, *theirs))
                               : std::string();
        conflicts.push_back(fmt::format("{}: the remote {} and the working copy {}{}", describe_object(c),
                                        theirs_did, ours_did, lost));
      }
      decisions.emplace(key, std::move(d));
    }
    // Objects that are dropped and created again because what they depend on is replaced: they follow the
    // decision for it, unless the working copy changed them (then its version is kept, like its own objects).
    auto replaced = [&](const std::string& table) {
      auto it = decisions.find(object_key("table", table));
      return it != decisions.end() &&
             (it->second.action == Action::apply || it->second.action == Action::adopt);
    };
    for (const SchemaChange& c : m_delta.schema) {
      Decision& d = decisions[object_key(c.object_type, c.name)];
      if (d.action != Action::dependent) continue;
      bool follows = replaced(c.table);
      if (c.object_type == "view") {
        const std::string& sql = c.new_sql.empty() ? c.old_sql : c.new_sql;
        for (const auto& [key, other] : decisions)
          if ((other.action == Action::apply || other.action == Action::adopt) &&
              diff::refers_to(sql, key.substr(key.find(':') + 1)))
            follows = true;
      }
      d.action = follows && d.ours == d.base ? Action::apply : Action::skip;
    }
    for (const SchemaChange& c : m_delta.schema) {
      if (c.op != SchemaOp::rebuild_table || decisions[object_key("table", c.name)].action != Action::apply)
        continue;
      if (!c.dropped_columns.empty()) {
        std::string lost = TS_TRY(local_edits_of(c.name, c.dropped_columns));
        if (!lost.empty() && m_options.on_conflict != ConflictPolicy::remote)
          conflicts.push_back(
              fmt::format("table {}: the remote dropped column(s) {} which the working copy "
                          "changed ({})",
                          printable(c.name), join_names(c.dropped_columns), lost));
        else if (!lost.empty())
          m_discarded +=
              TS_TRY(dump_table_sql(m_db, c.name, "dropped columns " + join_names(c.dropped_columns)));
      }
    }
    if (!conflicts.empty()) {
      std::string list;
      for (const std::string& line : conflicts) list += "\n  " + line;
      return Error(
          ErrorKind::conflict,
          fmt::format("merge into working copy {}: schema conflict; nothing was changed:{}\nMake the "
                      "working copy's definition the same as the remote's (or undo your schema "
                      "change), or pull with --on-conflict=remote to take the remote's (yours is "
                      "saved), then pull again",
                      m_db.path(), list));
    }

    std::set<std::string> adopted;
    for (const SchemaChange& c : m_delta.schema) {
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
      if (c.op == SchemaOp::create_index && take_theirs() && c.statements.size() == 1) {
        // Theirs' new index on a column the working copy renamed or dropped: theirs' table comes back.
        Status first = m_db.exec(c.statements[0]);
        if (first.ok()) continue;
        if (first.error().kind() == ErrorKind::sql) TS_TRY(undo_local_renames_for(c.new_sql));
        TS_TRY_STATUS(exec_schema_statements(c, c.statements));
        continue;
      }
      TS_TRY_STATUS(check_no_local_rows_lost(c));
      bool rebuilds = c.op == SchemaOp::rebuild_table;
      auto own = rebuilds ? TS_TRY(own_objects_on(c.name, decisions)) : std::vector<OwnObject>{};
      TS_TRY_STATUS(exec_schema_statements(c, c.statements));
      TS_TRY_STATUS(restore_own_objects(c.name, own));
    }
    return {};
  }

  // Lower-cased column names of `table` in `db`, in declaration order (none when it has no such table).
  static Result<std::vector<std::string>> column_names(db::Database& db, const std::string& table) {
    std::vector<std::string> out;
    auto stmt = TS_TRY(db.prepare("SELECT lower(name) FROM pragma_table_xinfo(?1) ORDER BY cid"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
    while (TS_TRY(stmt.step())) out.push_back(stmt.column_text(0));
    return out;
  }

  // For a table both sides changed: the working copy's own additions the remote's definition has no place
  // for (columns it added that theirs lacks, and its indexes and triggers on the table that use them), as
  // "; taking the remote's would drop your column due and index notes_due (saved), and leave your trigger
  // notes_due_log naming a column that is gone"; "" when none.
  Result<std::string> local_additions_lost(const std::string& table, db::Database& base,
                                           db::Database& theirs) {
    std::vector<std::string> ours_cols = TS_TRY(column_names(m_db, table));
    std::vector<std::string> base_cols = TS_TRY(column_names(base, table));
    std::vector<std::string> theirs_cols = TS_TRY(column_names(theirs, table));
    auto has = [](const std::vector<std::string>& v, const std::string& n) {
      return std::find(v.begin(), v.end(), n) != v.end();
    };
    std::vector<std::string> lost;
    for (const std::string& col : ours_cols)
      if (!has(base_cols, col) && !has(theirs_cols, col)) lost.push_back(col);
    if (lost.empty()) return std::string();
    auto uses_lost = [&](const std::string& sql) {
      return std::any_of(lost.begin(), lost.end(),
                         [&](const std::string& col) { return diff::refers_to(sql, col); });
    };
    std::string indexes_lost, triggers_broken;
    auto indexes = TS_TRY(
        m_db.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 COLLATE "
                     "NOCASE AND sql IS NOT NULL ORDER BY name"));
    TS_TRY_STATUS(indexes.bind(1, Value::text(table)));
    while (TS_TRY(indexes.step()))
      if (uses_lost(indexes.column_text(1)))
        indexes_lost += (indexes_lost.empty() ? "" : ", ") + printable(indexes.column_text(0));
    for (const DerivedObject& o : m_set_aside)
      if (o.type == "trigger" && sqlite3_stricmp(o.table.c_str(), table.c_str()) == 0 && uses_lost(o.sql))
        triggers_broken += (triggers_broken.empty() ? "" : ", ") + printable(o.name);
    std::string out = fmt::format("; taking the remote's would drop your column{} {}",
                                  lost.size() == 1 ? "" : "s", join_names(lost));
    if (!indexes_lost.empty()) out += " and index " + indexes_lost + " on it (saved)";
    if (!triggers_broken.empty())
      out += ", and leave your trigger " + triggers_broken + " naming a column that is gone";
    return out;
  }

  static std::string join_names(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ", ") + printable(n);
    return out;
  }

  Status exec_schema_statements(const SchemaChange& c, const std::vector<std::string>& statements) {
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

  // The working copy's indexes on `table` that no decision of this merge handles: they are recreated after
  // the table is rebuilt (DROP TABLE takes them along; views and triggers are set aside for the whole merge).
  struct OwnObject {
    std::string type, name, sql;
  };
  Result<std::vector<OwnObject>> own_objects_on(const std::string& table,
                                                const std::map<std::string, Decision>& decisions) {
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

  Status restore_own_objects(const std::string& table, const std::vector<OwnObject>& own) {
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

  // Rows of `table` where the working copy's values of `columns` differ from the base's (local edits, and
  // local inserts with a non-NULL value there): "" when none, else a short list of keys.
  Result<std::string> local_edits_of(const std::string& table, const std::vector<std::string>& columns) {
    db::Database* base = TS_TRY(base_db());
    db::TableInfo info = TS_TRY(db::read_table_info(m_db, table));
    std::string key;
    if (info.without_rowid) {
      for (int k : info.key_columns)
        key += (key.empty() ? "" : ", ") + quote_identifier(info.columns[k].name);
    } else {
      if (info.rowid_expr.empty()) return std::string();
      key = info.rowid_expr;
    }
    std::string cols, where;
    for (const std::string& c : columns) cols += ", " + quote_identifier(c);
    int nkey = info.without_rowid ? static_cast<int>(info.key_columns.size()) : 1;
    for (int i = 0; i < nkey; ++i) {
      std::string name = info.without_rowid ? quote_identifier(info.columns[info.key_columns[i]].name) : key;
      where += fmt::format("{}{} = ?{}", i ? " AND " : "", name, i + 1);
    }
    auto ours = TS_TRY(m_db.prepare(fmt::format("SELECT {}{} FROM {}", key, cols, quote_identifier(table))));
    auto lookup =
        base->prepare(fmt::format("SELECT 1{} FROM {} WHERE {}", cols, quote_identifier(table), where));
    if (!lookup.ok()) return std::string();  // the base has no such table or columns: nothing to compare
    db::Statement b = std::move(lookup).value();
    // A local insert loses nothing when its value is NULL or the column's DEFAULT.
    std::vector<Value> defaults;
    for (const std::string& c : columns) {
      Value d = Value::null();
      for (const db::Column& col : info.columns) {
        if (sqlite3_stricmp(col.name.c_str(), c.c_str()) != 0 || !col.default_sql) continue;
        auto eval = m_db.prepare("SELECT " + *col.default_sql);
        if (eval.ok() && TS_TRY(eval->step())) d = eval->column(0);
      }
      defaults.push_back(std::move(d));
    }
    std::vector<std::string> keys;
    size_t count = 0;
    while (TS_TRY(ours.step())) {
      std::vector<Value> k;
      for (int i = 0; i < nkey; ++i) k.push_back(ours.column(i));
      TS_TRY_STATUS(b.reset());
      for (int i = 0; i < nkey; ++i) TS_TRY_STATUS(b.bind(i + 1, k[static_cast<size_t>(i)]));
      bool found = TS_TRY(b.step());
      bool differs = false;
      for (int i = nkey; i < ours.column_count(); ++i)
        differs |=
            found ? ours.column(i) != b.column(i - nkey + 1)
                  : !ours.column(i).is_null() && ours.column(i) != defaults[static_cast<size_t>(i - nkey)];
      if (!differs) continue;
      if (++count <= 5) keys.push_back(describe_key(k));
    }
    if (count == 0) return std::string();
    std::string out = fmt::format("{} row{}: ", count, count == 1 ? "" : "s");
    for (size_t i = 0; i < keys.size(); ++i) out += (i ? ", " : "") + keys[i];
    return count > keys.size() ? out + ", …" : out;
  }

  // SQL that keeps a table's rows as they are in `db`, in a table named turso_sync_discarded_<name> (never
  // synced), for the discarded-changes script.
  static Result<std::string> dump_table_sql(db::Database& db, const std::string& table,
                                            const std::string& why) {
    auto sql = TS_TRY(object_sql(db, "table", table));
    if (!sql) return std::string();
    std::string kept = quote_identifier("turso_sync_discarded_" + table);
    std::string out = fmt::format("-- table {}: your version, replaced by the remote's ({}); kept as {}\n",
                                  printable(table), why, printable(kept));
    out += "DROP TABLE IF EXISTS " + kept + ";\n" + diff::rename_created(*sql, kept) + ";\n";
    auto rows = TS_TRY(db.prepare(fmt::format("SELECT * FROM {}", quote_identifier(table))));
    while (TS_TRY(rows.step())) {
      std::string values;
      for (int i = 0; i < rows.column_count(); ++i) values += (i ? ", " : "") + sql_literal(rows.column(i));
      out += fmt::format("INSERT INTO {} VALUES({});\n", kept, values);
    }
    return out;
  }

  // Takes theirs' version of the object into the working copy, keeping what can be kept (a table's rows, by
  // column name) and saving ours in the discarded-changes script unless this copy pushed it itself.
  Status adopt(const SchemaChange& c, const Decision& d) {
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
      return copy_rows_from(*theirs, c.name);
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
      statements.push_back(fmt::format("INSERT INTO {}({}) SELECT {} FROM main.{}", tmp, cols, cols,
                                       quote_identifier(c.name)));
    statements.push_back("DROP TABLE main." + quote_identifier(c.name));
    statements.push_back(fmt::format("ALTER TABLE {} RENAME TO {}", tmp, quote_identifier(c.name)));
    TS_TRY_STATUS(exec_schema_statements(c, statements));
    bool rowids_kept =
        copy_rowid || (t.rowid_alias >= 0 &&
                       cols.find(quote_identifier(t.columns[t.rowid_alias].name)) != std::string::npos);
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
  Status adopt_table(const std::string& table, SchemaOp op) {
    SchemaChange c;
    c.object_type = "table";
    c.op = op;
    c.name = table;
    return adopt(c, Decision{});
  }

  // Every row of `table` in `from` into the working copy's (empty) table of the same name.
  Status copy_rows_from(db::Database& from, const std::string& table) {
    db::TableInfo info = TS_TRY(db::read_table_info(from, table));
    std::string cols = info.without_rowid || info.rowid_expr.empty() ? "" : info.rowid_expr;
    for (int i : info.stored_columns())
      cols += (cols.empty() ? "" : ", ") + quote_identifier(info.columns[i].name);
    auto read = TS_TRY(from.prepare(fmt::format("SELECT {} FROM {}", cols, quote_identifier(table))));
    std::string params;
    for (int i = 0; i < read.column_count(); ++i) params += i ? ", ?" : "?";
    auto write = TS_TRY(m_db.prepare(
        fmt::format("INSERT INTO main.{}({}) VALUES({})", quote_identifier(table), cols, params)));
    while (TS_TRY(read.step())) {
      TS_TRY_STATUS(write.reset());
      for (int i = 0; i < read.column_count(); ++i) TS_TRY_STATUS(write.bind(i + 1, read.column(i)));
      TS_TRY(write.step());
    }
    return {};
  }

  // After ours was rebuilt into theirs' definition of `table`: the columns ours lacked get theirs' values,
  // matched by key, so that taking theirs' table does not reset them (the next push would send the reset).
  Status fill_from_theirs(db::Database& theirs, const std::string& table, const db::TableInfo& o,
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

  // --- views and triggers -------------------------------------------------------------------------------

  static bool derived_type(const std::string& type) { return type == "view" || type == "trigger"; }

  // The merged version of a view or trigger: theirs' SQL, or nullopt when the merge drops it.
  void set_derived(const std::string& type, const std::string& name, std::optional<std::string> sql) {
    std::string key = object_key(type, name);
    if (!m_derived_final.count(key)) m_derived_order.push_back({type, name});
    m_derived_final[key] = std::move(sql);
  }

  // Drops every view and trigger of the working copy, returning them in schema order.
  Result<std::vector<DerivedObject>> suspend_derived() {
    std::vector<DerivedObject> out;
    {
      auto stmt = TS_TRY(m_db.prepare(
          "SELECT type, name, sql, tbl_name FROM sqlite_schema WHERE type IN ('view', 'trigger') AND sql IS "
          "NOT NULL ORDER BY type = 'view', rowid"));  // triggers first: one may be INSTEAD OF a view
      while (TS_TRY(stmt.step()))
        out.push_back(
            {stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), false, stmt.column_text(3)});
    }
    m_set_aside = out;
    for (const DerivedObject& o : out) {
      m_derived_ours[object_key(o.type, o.name)] = o.sql;
      // A view that the application's own changes already broke is not the merge's to judge.
      if (o.type == "view" && !m_db.prepare(view_check_sql(o.name)).ok())
        m_broken_views.insert(object_key(o.type, o.name));
      auto st = m_db.exec(
          fmt::format("DROP {} main.{}", o.type == "view" ? "VIEW" : "TRIGGER", quote_identifier(o.name)));
      if (!st.ok()) return st.error().context(fmt::format("set aside {} {}", o.type, printable(o.name)));
    }
    std::reverse(out.begin(), out.end());  // views first when creating
    return out;
  }

  // Creates the merged views and triggers: the working copy's, except those a decision of this merge replaced
  // or dropped, then the remote's new ones; views first. A view of ours that no longer fits the merged tables
  // (it names a column the remote renamed or dropped) is a conflict, settled by on_conflict == remote
  // (theirs' version, if any, taken; ours saved).
  Status restore_derived(const std::vector<DerivedObject>& saved) {
    std::vector<DerivedObject> final;
    std::set<std::string> seen;
    for (const DerivedObject& o : saved) {
      std::string key = object_key(o.type, o.name);
      seen.insert(key);
      auto it = m_derived_final.find(key);
      if (it == m_derived_final.end())
        final.push_back(o);
      else if (it->second)
        final.push_back({o.type, o.name, *it->second, true});
    }
    for (const auto& [type, name] : m_derived_order) {
      std::string key = object_key(type, name);
      const auto& sql = m_derived_final[key];
      if (!seen.count(key) && sql) final.push_back({type, name, *sql, true});
    }
    std::stable_partition(final.begin(), final.end(),
                          [](const DerivedObject& o) { return o.type == "view"; });
    for (const DerivedObject& o : final) {
      Status st = create_derived(o);
      if (!st.ok() && o.theirs && take_theirs() && TS_TRY(undo_local_renames_for(o.sql)))
        st = create_derived(o);
      if (st.ok()) continue;
      if (o.theirs || st.error().kind() != ErrorKind::sql)
        return Error(ErrorKind::conflict,
                     fmt::format("merge into working copy {}: the remote's {} {} cannot be created in the "
                                 "working copy ({}); nothing was changed. Undo the local schema change it "
                                 "depends on and pull again",
                                 m_db.path(), o.type, printable(o.name), st.error().message()));
      if (!take_theirs())
        return Error(
            ErrorKind::conflict,
            fmt::format("merge into working copy {}: schema conflict; nothing was changed:\n  {} {}: "
                        "the working copy's version no longer fits the remote's tables ({})\nChange "
                        "or drop it (or pull with --on-conflict=remote to take the remote's; yours "
                        "is saved), then pull again",
                        m_db.path(), o.type, printable(o.name), st.error().message()));
      m_discarded += fmt::format("-- your {} {} (it no longer fits the remote's tables)\n{};\n", o.type,
                                 printable(o.name), o.sql);
      db::Database* theirs = TS_TRY(theirs_db());
      auto theirs_sql = TS_TRY(object_sql(*theirs, o.type, o.name));
      if (!theirs_sql) continue;
      Status again = create_derived({o.type, o.name, *theirs_sql, true});
      if (!again.ok())
        return again.error().context(fmt::format("merge into working copy {}: create the remote's {} {}",
                                                 m_db.path(), o.type, printable(o.name)));
    }
    return {};
  }

  // Taking theirs' view, trigger or index that names a table the working copy renamed, dropped or changed
  // (say a column renamed or dropped): the table gets its name back, or the remote's table comes back
  // (ours saved in the discarded-changes script). Whether any did.
  Result<bool> undo_local_renames_for(const std::string& sql) {
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
        TS_TRY_STATUS(copy_rows_from(*theirs, table));
        m_discarded += fmt::format("-- you dropped table {} (the remote's objects use it)\nDROP TABLE {};\n",
                                   printable(table), quote_identifier(table));
        any = true;
        continue;
      }
      TS_TRY_STATUS(m_db.exec(fmt::format("ALTER TABLE main.{} RENAME TO {}", quote_identifier(renamed),
                                          quote_identifier(table))));
      m_discarded += fmt::format(
          "-- your rename of table {} (the remote's objects use its old name)\nALTER "
          "TABLE {} RENAME TO {};\n",
          printable(table), quote_identifier(table), quote_identifier(renamed));
      any = true;
    }
    return any;
  }

  // Creates a view or trigger; a view is also compiled, so that one naming a missing column fails here.
  static std::string view_check_sql(const std::string& view) {
    return fmt::format("SELECT * FROM main.{} LIMIT 0", quote_identifier(view));
  }

  // Not judged: a view the working copy had already broken, or one of theirs that the remote holds broken.
  Status create_derived(const DerivedObject& o) {
    TS_TRY_STATUS(m_db.exec(o.sql));
    if (o.type != "view" || m_broken_views.count(object_key(o.type, o.name))) return {};
    if (o.theirs && !m_options.theirs_path.empty() &&
        !TS_TRY(theirs_db())->prepare(view_check_sql(o.name)).ok())
      return {};
    auto check = m_db.prepare(view_check_sql(o.name));
    if (check.ok()) return {};
    Error e = std::move(check).error();
    TS_TRY_STATUS(m_db.exec("DROP VIEW main." + quote_identifier(o.name)));
    return e;
  }

  // --- columns the working copy renamed or dropped while the remote changed rows -------------------------
  //
  // A delta table that no schema change of this merge touches has the base's columns, and the working copy
  // may have renamed or dropped some of them since. Theirs' values follow a local rename. A column dropped
  // locally takes theirs' changes of it along (the push drops the column on the remote too), so a remote
  // update of it, or a remote insert with a value other than NULL or the column's DEFAULT, is a conflict:
  // on_conflict == remote takes theirs' definition of the table back (ours saved in the discarded-changes
  // script), local keeps the drop.
  //
  // Likewise a table the working copy renamed (RENAME TO: a table of ours that the base lacks, with the
  // base table's meaning) receives theirs' rows under its new name; one it dropped makes theirs' inserts and
  // updates of it a conflict (remote: the table is taken back with theirs' rows; local: they are ignored).
  Status map_local_columns() {
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
      if (!changed.empty() && take_theirs()) {
        TS_TRY_STATUS(adopt_table(name, SchemaOp::rebuild_table));
        continue;  // ours now has theirs' columns
      }
      if (!changed.empty() && m_options.on_conflict == ConflictPolicy::abort) {
        std::vector<std::string> cols;
        for (size_t c : dropped) cols.push_back(tc.table.columns[c].name);
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
    return Error(
        ErrorKind::conflict,
        fmt::format("merge into working copy {}: schema conflict; nothing was changed:{}\nAdd the "
                    "column(s) back (or undo the drop), or pull with --on-conflict=remote to take the "
                    "remote's table (yours is saved) or --on-conflict=local to keep the drop, then "
                    "pull again",
                    m_db.path(), list));
  }

  // The working copy's new name for the base's `table` when a local RENAME TO changed it, else "": the one
  // table of ours that the base lacks with the same meaning, or else the one whose columns all continue the
  // base table's (same count, each the same or renamed; see diff::column_sources).
  Result<std::string> local_rename_of(const std::string& table) {
    db::Database* base = TS_TRY(base_db());
    if (!TS_TRY(object_sql(*base, "table", table)) || TS_TRY(object_sql(m_db, "table", table)))
      return std::string();
    std::string meaning = TS_TRY(diff::read_table_meaning(*base, "main", table)).text();
    TableDesc b = TS_TRY(diff::read_table_desc(*base, "main", table));
    std::vector<std::string> same, continued;
    auto stmt =
        TS_TRY(m_db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND sql IS NOT NULL"));
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
  Status map_missing_table(size_t i, std::vector<std::string>& conflicts) {
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
    if (count > 0 && take_theirs()) {
      return adopt_table(tc.table.name, SchemaOp::create_table);
    }
    m_ours_tables[i] = "";  // skipped: only deletes of it, or kept dropped (local), or a conflict below
    if (count == 0 || m_options.on_conflict == ConflictPolicy::local) return {};
    std::string list;
    for (size_t k = 0; k < keys.size(); ++k) list += (k ? ", " : "") + keys[k];
    conflicts.push_back(fmt::format(
        "table {}: the working copy dropped it, and the remote changed its rows "
        "({} row{}: {}{})",
        printable(tc.table.name), count, count == 1 ? "" : "s", list, count > keys.size() ? ", …" : ""));
    return {};
  }

  // Whether the rows of delta table `i` are left out (a table the working copy dropped).
  bool skipped(size_t i) const {
    return i < m_ours_tables.size() && m_ours_tables[i] && m_ours_tables[i]->empty();
  }

  // The delta's rows that write one of `columns` (indexes into the delta's columns): updates that change it,
  // inserts with a value other than NULL and the base column's DEFAULT. "" when none, else a short list.
  Result<std::string> remote_writes_of(const TableChanges& tc, const TableDesc& base,
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

  // --- foreign keys -------------------------------------------------------------------------------------
  //
  // A merge never leaves a foreign key dangling that was intact on both sides: a local delete of a parent
  // (ON DELETE CASCADE included) against a remote new child, or a remote delete of a parent against a local
  // child. PRAGMA foreign_key_check on the tables the delta touches (and their children), before and after
  // the rows; each new dangling reference is a conflict. --on-conflict=remote takes the remote's side (its
  // parent row comes back, or our child goes), local ours (their child goes, or the parent as last pulled
  // comes back); what goes is saved in the discarded-changes script.

  struct Dangling {
    std::string child;
    int64_t rowid = 0;
    int64_t fk = 0;
    bool operator<(const Dangling& o) const {
      return std::tie(child, rowid, fk) < std::tie(o.child, o.rowid, o.fk);
    }
  };

  // The child tables whose references the merge can break.
  Result<std::vector<std::string>> foreign_key_tables() {
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
  Result<std::set<Dangling>> dangling_references(const std::vector<std::string>& tables) {
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
        found.insert({lower_ascii(stmt->column_text(0)),
                      stmt->column(1).is_null() ? -1 : stmt->column_int64(1), stmt->column_int64(3)});
      }
      if (checked) out.insert(found.begin(), found.end());
    }
    return out;
  }

  // Settling can break references further away: a parent brought back may reference a grandparent that
  // ours deleted too (ON DELETE CASCADE deletes down a chain), and a child deleted may have children of its
  // own. Those rows (m_follow) are checked in the next round wherever their table is, whatever the before
  // state (they are new by construction); until nothing more is settled.
  Status settle_dangling_references(const std::vector<std::string>& tables,
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
    return Error(
        ErrorKind::conflict,
        fmt::format("merge into working copy {}: the merge would leave foreign keys dangling; nothing "
                    "was changed:{}\nSettle it with `pull --on-conflict=remote` (the remote's side "
                    "wins) or `--on-conflict=local` (yours wins; what is dropped is saved)",
                    m_db.path(), list));
  }

  // Settles one dangling reference by the policy (sets `settled`), or returns the conflict line.
  Result<std::string> settle_dangling(const Dangling& d, bool& settled) {
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
    if (m_options.on_conflict == ConflictPolicy::abort)
      return fmt::format("{}: references {} row {} = {}, which {}", row, printable(parent), printable(key),
                         printable(sql_literal(value)), who);
    bool bring_parent_back = theirs_has_parent == take_theirs();
    if (bring_parent_back && TS_TRY(parent_row(m_db))) {
      // Another reference to the same parent, settled earlier in this round, brought it back already.
    } else if (bring_parent_back) {
      db::Database& from_db = theirs_has_parent ? *theirs : *base;
      if (!TS_TRY(parent_row(from_db)))
        return fmt::format("{}: references {} row {} = {}, which is gone on both sides", row,
                           printable(parent), printable(key), printable(sql_literal(value)));
      TS_TRY_STATUS(copy_row(from_db, parent, key, value));
      if (sqlite3_changes(m_db.handle()) > 0)
        m_follow.insert({lower_ascii(parent), sqlite3_last_insert_rowid(m_db.handle())});
      m_discarded += fmt::format(
          "-- {} row {} = {} came back (a row of {} references it)\nDELETE FROM {} WHERE {} = {};\n",
          printable(parent), printable(key), printable(sql_literal(value)), printable(d.child),
          quote_identifier(parent), key, sql_literal(value));
    } else if (TS_TRY(restore_reference(take_theirs() ? *theirs : *base, d, from, parent, value, row))) {
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
    settled = true;
    return std::string();
  }

  // How the working copy's child row `d` is found on another side: by rowid, or by the declared key where the
  // rowid is not the key. nullopt for a WITHOUT ROWID table or a row that is gone.
  struct ChildKey {
    std::vector<std::string> names;  // quoted
    std::vector<Value> values;
    std::string where;  // names = ?1 AND …
  };
  Result<std::optional<ChildKey>> child_key(const Dangling& d) {
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
    auto stmt = TS_TRY(m_db.prepare(
        fmt::format("SELECT {} FROM main.{} WHERE rowid = ?1", cols, quote_identifier(d.child))));
    TS_TRY_STATUS(stmt.bind(1, Value::integer(d.rowid)));
    if (!TS_TRY(stmt.step())) return std::optional<ChildKey>();
    for (int i = 0; i < stmt.column_count(); ++i) k.values.push_back(stmt.column(i));
    return std::optional<ChildKey>(std::move(k));
  }

  // The value of `column` that `side` holds for the working copy's child row `d`; nullopt when `side` lacks
  // that row (or its table or column).
  Result<std::optional<Value>> reference_in(db::Database& side, const Dangling& d,
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
  Result<bool> restore_reference(db::Database& winner, const Dangling& d, const std::string& column,
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
    TS_TRY(write.step());
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
  Status follow_children_of(const std::string& table, int64_t rowid) {
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
  Status copy_row(db::Database& from, const std::string& table, const std::string& key, const Value& value) {
    db::TableInfo o = TS_TRY(db::read_table_info(m_db, table));
    db::TableInfo f = TS_TRY(db::read_table_info(from, table));
    std::vector<std::string> cols;
    for (int i : o.stored_columns())
      for (int j : f.stored_columns())
        if (sqlite3_stricmp(o.columns[i].name.c_str(), f.columns[j].name.c_str()) == 0)
          cols.push_back(quote_identifier(o.columns[i].name));
    bool rowid =
        !o.without_rowid && o.rowid_alias < 0 && !o.rowid_expr.empty() && o.rowid_expr == f.rowid_expr;
    if (rowid) cols.insert(cols.begin(), o.rowid_expr);
    std::string list, params;
    for (size_t i = 0; i < cols.size(); ++i) {
      list += (i ? ", " : "") + cols[i];
      params += i ? ", ?" : "?";
    }
    auto read = TS_TRY(from.prepare(
        fmt::format("SELECT {} FROM main.{} WHERE {} = ?1", list, quote_identifier(table), key)));
    TS_TRY_STATUS(read.bind(1, value));
    if (!TS_TRY(read.step())) return {};
    auto write = TS_TRY(m_db.prepare(
        fmt::format("INSERT INTO main.{}({}) VALUES({})", quote_identifier(table), list, params)));
    for (int i = 0; i < read.column_count(); ++i) TS_TRY_STATUS(write.bind(i + 1, read.column(i)));
    TS_TRY(write.step());
    return {};
  }

  // --- moving local rows out of the way of remote inserts
  // ---------------------------------------------------

  Result<const std::vector<ForeignKey>*> foreign_keys() {
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
    auto stmt = TS_TRY(
        m_db.prepare("SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY "
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

  // The largest rowid (or AUTOINCREMENT counter) of `table` in `db`; 0 when empty.
  static Result<int64_t> max_rowid(db::Database& db, const TableDesc& table) {
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

  Result<int64_t> next_free_key(size_t table_index) {
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
  Result<std::vector<std::string>> move_row(size_t table_index, int64_t from) {
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

  // Every remote insert whose key holds a different local row in a rowid-keyed table moves that local row.
  // Following references changes local rows of other tables, which can make a local row that was identical to
  // a remote insert differ from it: those tables are examined again until nothing moves.
  Status move_colliding_rows() {
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
          if (!ours || *ours == r.new_values) continue;
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

  // --- the three-way rules --------------------------------------------------------------------------------

  static bool same_columns(const TableDesc& a, const TableDesc& b) {
    if (sqlite3_stricmp(a.name.c_str(), b.name.c_str()) != 0 || a.columns.size() != b.columns.size() ||
        a.keyed_by_rowid() != b.keyed_by_rowid())
      return false;
    for (size_t i = 0; i < a.columns.size(); ++i)
      if (sqlite3_stricmp(a.columns[i].name.c_str(), b.columns[i].name.c_str()) != 0) return false;
    return true;
  }

  // `r` (base -> theirs) rebased on what this copy pushed for the same key (see MergeOptions::pushed):
  // nullopt when theirs is exactly the pushed row, else the change from the pushed row to theirs.
  static std::optional<RowChange> rebase_on_pushed(const RowChange& r, const RowChange& pushed) {
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

  Status merge_table(size_t index) {
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

  bool take_theirs() const { return m_options.on_conflict == ConflictPolicy::remote; }

  void add_conflict(const TableWriter& w, const RowChange& r, const char* kind,
                    const std::optional<Row>& ours, std::vector<int> conflicting = {}) {
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

  void note_discarded(const TableWriter& w, const RowChange& r, const char* kind, const std::string& sql) {
    m_discarded += fmt::format("-- {} key {} ({})\n", printable(quote_identifier(w.table().name)),
                               printable(describe_key(r.key)), kind);
    m_discarded += sql;
  }

  Status their_insert(TableWriter& w, const RowChange& r, const std::optional<Row>& ours) {
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

  Status their_update(TableWriter& w, const RowChange& r, const std::optional<Row>& ours) {
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

  Status their_delete(TableWriter& w, const RowChange& r, const std::optional<Row>& ours) {
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

  db::Database& m_db;
  const Changeset& m_delta;
  const MergeOptions& m_options;
  MergeReport m_report;
  std::string m_discarded;
  std::vector<std::unique_ptr<TableWriter>> m_writers;  // parallel to m_delta.tables
  std::optional<std::vector<ForeignKey>> m_foreign_keys;
  std::map<size_t, int64_t> m_next_key;  // per table index: the last key handed to a moved row
  std::unique_ptr<db::Database> m_theirs;
  std::unique_ptr<db::Database> m_base;
  std::set<std::string> m_pushed_objects;              // schema_object_key of what the push sent
  std::set<std::pair<std::string, int64_t>> m_follow;  // rows (lower-cased table, rowid) a settlement touched
  std::map<std::string, std::string> m_derived_ours;   // views and triggers set aside: key -> ours' SQL
  std::vector<DerivedObject> m_set_aside;              // the same, with their tables
  std::set<std::string> m_broken_views;                // those already failing to compile before the merge
  // The views and triggers whose merged version is not ours': key -> theirs' SQL (nullopt: dropped), and
  // the order in which they were decided.
  std::map<std::string, std::optional<std::string>> m_derived_final;
  std::vector<std::pair<std::string, std::string>> m_derived_order;
  std::vector<std::vector<std::string>> m_column_maps;  // per delta table: TableWriter's ours_names
  // Per delta table: its name in the working copy when a local RENAME TO changed it, "" when the working
  // copy dropped it (its rows are skipped), nullopt otherwise.
  std::vector<std::optional<std::string>> m_ours_tables;
  // Per delta table index: the rows of the same table this copy pushed.
  std::map<size_t, PushedRows> m_pushed_rows;
};

}  // namespace

std::string schema_object_key(const std::string& type, const std::string& name) {
  std::string key = type + ":";
  for (char c : name) key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  return key;
}

Result<MergeReport> merge_into_working_copy(db::Database& ours, const Changeset& delta,
                                            const MergeOptions& options) {
  Merger merger(ours, delta, options);
  return merger.run();
}

}  // namespace turso_sync
