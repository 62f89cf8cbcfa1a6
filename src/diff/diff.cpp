// The diff engine: schema plan (schema_plan.cpp), then per table a merge join of two cursors in key order
// that compares raw column values straight from SQLite (no copy unless the row changed).
#include "turso_sync/diff.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "db/blob.h"
#include "db/sqlite.h"
#include "diff/page_scan.h"
#include "diff/schema_plan.h"
#include "diff/sql_text.h"
#include "util/text.h"

namespace turso_sync {

namespace {

using diff::BaseRows;
using diff::TablePlan;

enum class Collation { binary, nocase, rtrim };

Result<Collation> collation_for(const std::string& name, const std::string& table) {
  if (diff::iequals(name, "BINARY")) return Collation::binary;
  if (diff::iequals(name, "NOCASE")) return Collation::nocase;
  if (diff::iequals(name, "RTRIM")) return Collation::rtrim;
  return Error(ErrorKind::sql,
               fmt::format("table {}: primary key collation {} is not supported", table, name));
}

int compare_bytes(const unsigned char* a, size_t na, const unsigned char* b, size_t nb, Collation coll) {
  if (coll == Collation::rtrim) {
    while (na > 0 && a[na - 1] == ' ') --na;
    while (nb > 0 && b[nb - 1] == ' ') --nb;
  }
  size_t n = std::min(na, nb);
  int c = 0;
  if (coll == Collation::nocase) {
    for (size_t i = 0; i < n && c == 0; ++i) {
      int x = a[i] < 0x80 ? std::tolower(a[i]) : a[i];
      int y = b[i] < 0x80 ? std::tolower(b[i]) : b[i];
      c = x - y;
    }
  } else if (n > 0) {
    c = std::memcmp(a, b, n);
  }
  if (c != 0) return c < 0 ? -1 : 1;
  return na < nb ? -1 : (na > nb ? 1 : 0);
}

int class_rank(int type) {
  switch (type) {
    case SQLITE_NULL:
      return 0;
    case SQLITE_INTEGER:
    case SQLITE_FLOAT:
      return 1;
    case SQLITE_TEXT:
      return 2;
    default:
      return 3;
  }
}

// Exact integer/real comparison (no precision loss beyond 2^53).
int compare_int_real(int64_t i, double r) {
  if (r >= 9223372036854775808.0) return -1;
  if (r < -9223372036854775808.0) return 1;
  double truncated = std::trunc(r);
  auto ri = static_cast<int64_t>(truncated);
  if (i != ri) return i < ri ? -1 : 1;
  if (r > truncated) return -1;
  if (r < truncated) return 1;
  return 0;
}

// SQLite's ORDER BY order of two values; numerically equal INTEGER and REAL compare equal.
// (Values are read through sqlite3_column_value(): one call per column instead of one per property.)
int compare_values(sqlite3_value* a, sqlite3_value* b, Collation coll) {
  int ta = sqlite3_value_type(a), tb = sqlite3_value_type(b);
  int ra = class_rank(ta), rb = class_rank(tb);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return 0;
    case 1: {
      if (ta == SQLITE_INTEGER && tb == SQLITE_INTEGER) {
        int64_t x = sqlite3_value_int64(a), y = sqlite3_value_int64(b);
        return x < y ? -1 : (x > y ? 1 : 0);
      }
      if (ta == SQLITE_FLOAT && tb == SQLITE_FLOAT) {
        double x = sqlite3_value_double(a), y = sqlite3_value_double(b);
        return x < y ? -1 : (x > y ? 1 : 0);
      }
      if (ta == SQLITE_INTEGER) return compare_int_real(sqlite3_value_int64(a), sqlite3_value_double(b));
      return -compare_int_real(sqlite3_value_int64(b), sqlite3_value_double(a));
    }
    case 2: {
      const auto* pa = sqlite3_value_text(a);
      size_t na = static_cast<size_t>(sqlite3_value_bytes(a));
      const auto* pb = sqlite3_value_text(b);
      size_t nb = static_cast<size_t>(sqlite3_value_bytes(b));
      return compare_bytes(pa, na, pb, nb, coll);
    }
    default: {
      const auto* pa = static_cast<const unsigned char*>(sqlite3_value_blob(a));
      size_t na = static_cast<size_t>(sqlite3_value_bytes(a));
      const auto* pb = static_cast<const unsigned char*>(sqlite3_value_blob(b));
      size_t nb = static_cast<size_t>(sqlite3_value_bytes(b));
      return compare_bytes(pa, na, pb, nb, Collation::binary);
    }
  }
}

// Exact equality: same storage class and same bytes (REAL bit for bit).
bool same_value(sqlite3_value* a, sqlite3_value* b) {
  int ta = sqlite3_value_type(a);
  if (ta != sqlite3_value_type(b)) return false;
  switch (ta) {
    case SQLITE_NULL:
      return true;
    case SQLITE_INTEGER:
      return sqlite3_value_int64(a) == sqlite3_value_int64(b);
    case SQLITE_FLOAT:
      return std::bit_cast<uint64_t>(sqlite3_value_double(a)) ==
             std::bit_cast<uint64_t>(sqlite3_value_double(b));
    case SQLITE_TEXT: {
      const auto* pa = sqlite3_value_text(a);
      const auto* pb = sqlite3_value_text(b);
      int na = sqlite3_value_bytes(a), nb = sqlite3_value_bytes(b);
      return na == nb && (na == 0 || std::memcmp(pa, pb, static_cast<size_t>(na)) == 0);
    }
    default: {
      const void* pa = sqlite3_value_blob(a);
      const void* pb = sqlite3_value_blob(b);
      int na = sqlite3_value_bytes(a), nb = sqlite3_value_bytes(b);
      return na == nb && (na == 0 || std::memcmp(pa, pb, static_cast<size_t>(na)) == 0);
    }
  }
}

// Reads `v` into `out`, reusing the buffer `out` may already hold.
void read_value(sqlite3_value* v, Value& out) {
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
      out = Value::integer(sqlite3_value_int64(v));
      break;
    case SQLITE_FLOAT:
      out = Value::real(sqlite3_value_double(v));
      break;
    case SQLITE_TEXT: {
      const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(v));
      out.assign_bytes(ValueType::text, p ? p : "", static_cast<size_t>(sqlite3_value_bytes(v)));
      break;
    }
    case SQLITE_BLOB: {
      const auto* p = static_cast<const char*>(sqlite3_value_blob(v));
      out.assign_bytes(ValueType::blob, p ? p : "", static_cast<size_t>(sqlite3_value_bytes(v)));
      break;
    }
    default:
      out = Value::null();
  }
}

// SQLite's default SQLITE_MAX_COLUMN: the most columns of a table, and of a result set.
constexpr size_t kMaxResultColumns = 2000;

// Where a cursor's rowid is read: column `column` of its row, or column 0 of a key cursor of its own.
struct KeySource {
  sqlite3_stmt* stmt = nullptr;
  int column = 0;
};

// Compares one table: base side (plan.base_rows) against the target table, in key order.
class TableDiff {
 public:
  TableDiff(db::Database& db, const TablePlan& plan, ChangeSink& sink, const std::string& spill_dir,
            std::shared_ptr<LargeStore>& store)
      : m_db(db), m_plan(plan), m_sink(sink), m_table(plan.target), m_spill_dir(spill_dir), m_store(store) {}

  // Settles how rows are matched. A rowid table's declared key may hold NULLs (several rows can then share a
  // NULL key): such a table is matched by rowid instead, with a warning.
  Status prepare(std::vector<std::string>* warnings) {
    if (m_table.key_kind != KeyKind::primary_key || m_table.without_rowid) return {};
    std::string cond;
    for (int k : m_table.key_columns) {
      if (m_table.columns[k].not_null) continue;
      cond += (cond.empty() ? "" : " OR ") + quote_identifier(m_table.columns[k].name) + " IS NULL";
    }
    if (cond.empty()) return {};
    bool nulls =
        TS_TRY(has_row(quote_identifier(diff::k_target_schema) + "." + quote_identifier(m_table.name), cond));
    if (!nulls && m_plan.base_rows != BaseRows::none) nulls = TS_TRY(has_row(m_plan.base_table, cond));
    if (nulls && !m_table.rowid_expr.empty() && !m_plan.base_rowid_expr.empty()) {
      m_table.key_kind = KeyKind::rowid;
      warnings->push_back(
          fmt::format("table {}: its PRIMARY KEY holds NULLs, so rows are matched by rowid", m_table.name));
    }
    return {};
  }

  const TableDesc& table() const { return m_table; }
  int64_t rows_read() const { return m_rows_read; }

  // Restricts the comparison of a rowid-keyed table to these rowid ranges (the page-level fast path).
  void set_ranges(diff::DirtyRanges ranges) {
    m_ranges = std::move(ranges.ranges);
    m_ranges_overflow = ranges.overflow;
  }
  // The table's rows are known to be the same on both sides (its pages are byte-identical): compare nothing.
  void set_identical() { m_identical = true; }

  Result<TableCounts> run() {
    const TableDesc& t = m_table;
    size_t ncols = t.columns.size();
    bool by_rowid = t.keyed_by_rowid();
    if (by_rowid && t.rowid_expr.empty())
      return Error(ErrorKind::sql,
                   fmt::format("table {}: columns named rowid, _rowid_ and oid hide the rowid, so "
                               "rows cannot be matched",
                               t.name));
    if (m_identical) return m_counts;
    std::vector<Collation> colls;
    for (const std::string& c : t.key_collations) colls.push_back(TS_TRY(collation_for(c, t.name)));
    m_colls = colls;

    // Target cursor: [rowid,] every column. Base cursor: [rowid,] every column not given as a constant.
    // A result set holds at most SQLITE_MAX_COLUMN (2000) columns, as a table does: the rowid is read from
    // its alias column when both sides have it, else, for a table too wide for one more column, by a cursor
    // of its own in the same order (both read the same transaction, so they step in lockstep).
    bool alias_key = by_rowid && t.rowid_alias >= 0 && !m_plan.constants[t.rowid_alias] &&
                     (m_plan.base_rows == BaseRows::none || m_plan.base_rowid_expr == t.rowid_expr);
    bool key_cursors = by_rowid && !alias_key && ncols + 1 > kMaxResultColumns;
    bool rowid_prefix = by_rowid && !alias_key && !key_cursors;
    std::string order;
    for (size_t k = 0; !by_rowid && k < t.key_columns.size(); ++k) {
      if (k) order += ", ";
      order += fmt::format("{} COLLATE {}", quote_identifier(t.columns[t.key_columns[k]].name),
                           quote_identifier(t.key_collations[k]));
    }
    std::string target_cols, base_cols;
    m_offset = rowid_prefix ? 1 : 0;
    m_base_index.assign(ncols, -1);
    TS_TRY_STATUS(plan_large_values());
    bool ranged = by_rowid && m_ranges.has_value();
    const std::string target_from = quote_identifier(diff::k_target_schema) + "." + quote_identifier(t.name);
    bool has_base = m_plan.base_rows != BaseRows::none;
    // The target cursor sizes each TEXT itself (SQLite loads a large one, and keeps the memory of the largest
    // until the cursor ends); the base cursor, stepping beside it, must not load one too: the base's large
    // TEXTs are found by a pass of their own, ended before the cursors start (db/blob.h).
    std::vector<std::string> base_texts;
    if (!m_large_columns.empty() && has_base)
      base_texts = m_base_overflow
                       ? TS_TRY(find_large_texts(m_plan.base_table, m_plan.base_rowid_expr, ranged))
                       : std::vector<std::string>(m_large_columns.size(), "()");
    int next = m_offset;
    for (size_t i = 0; i < ncols; ++i) {
      std::string q = quote_identifier(t.columns[i].name);
      // A large value is read as NULL; the mask says which and its type (compared and copied in place).
      int slot = m_large_bit[i];
      target_cols += (target_cols.empty() ? "" : ", ") + (slot < 0 ? q : db::large_value_left_out(q));
      if (!m_plan.constants[i]) {
        base_cols +=
            (base_cols.empty() ? "" : ", ") +
            (slot < 0 || !has_base ? q
                                   : db::large_value_left_out(q, m_plan.base_rowid_expr, base_texts[slot]));
        m_base_index[i] = next++;
      }
    }
    if (!m_large_columns.empty()) {
      std::string mask;
      for (size_t j = 0; j < m_large_columns.size(); ++j) {
        std::string q = quote_identifier(t.columns[m_large_columns[j]].name);
        mask += (j ? " | " : "") + db::large_value_mask_bits(q, static_cast<int>(j));
      }
      m_target_extra = static_cast<int>(ncols) + m_offset;
      m_base_extra = next;
      target_cols += ", " + mask + (by_rowid ? "" : ", " + t.rowid_expr);
      base_cols += ", " + mask + (by_rowid ? "" : ", " + m_plan.base_rowid_expr);
    }
    auto query = [&](const std::string& from, const std::string& rowid_expr, std::string cols) {
      if (rowid_prefix) cols = rowid_expr + (cols.empty() ? "" : ", " + cols);
      if (cols.empty()) cols = "NULL";
      if (!by_rowid) return fmt::format("SELECT {} FROM {} ORDER BY {}", cols, from, order);
      std::string where = ranged ? fmt::format(" WHERE {} BETWEEN ?1 AND ?2", rowid_expr) : "";
      return fmt::format("SELECT {} FROM {}{} ORDER BY {}", cols, from, where, rowid_expr);
    };
    auto target_stmt = TS_TRY(m_db.prepare(query(target_from, t.rowid_expr, target_cols)));
    db::Statement base_stmt;
    if (has_base)
      base_stmt = TS_TRY(m_db.prepare(query(m_plan.base_table, m_plan.base_rowid_expr, base_cols)));
    db::Statement target_keys, base_keys;
    m_target_key = KeySource{};
    m_base_key = KeySource{};
    if (alias_key) {
      m_target_key.column = m_offset + t.rowid_alias;
      m_base_key.column = m_base_index[t.rowid_alias];
    } else if (key_cursors) {
      target_keys =
          TS_TRY(m_db.prepare(query(quote_identifier(diff::k_target_schema) + "." + quote_identifier(t.name),
                                    t.rowid_expr, t.rowid_expr)));
      m_target_key.stmt = target_keys.handle();
      if (has_base) {
        base_keys =
            TS_TRY(m_db.prepare(query(m_plan.base_table, m_plan.base_rowid_expr, m_plan.base_rowid_expr)));
        m_base_key.stmt = base_keys.handle();
      }
    }
    if (!ranged) {
      TS_TRY_STATUS(merge(has_base ? base_stmt.handle() : nullptr, target_stmt.handle()));
      return m_counts;
    }
    // Fast path: only the rowid ranges the page comparison could not rule out.
    for (const diff::RowidRange& r : *m_ranges) {
      for (db::Statement* st : {&target_stmt, &base_stmt, &target_keys, &base_keys}) {
        if (!st->handle()) continue;
        TS_TRY_STATUS(st->reset());
        TS_TRY_STATUS(st->bind(1, Value::integer(r.lo)));
        TS_TRY_STATUS(st->bind(2, Value::integer(r.hi)));
      }
      TS_TRY_STATUS(merge(has_base ? base_stmt.handle() : nullptr, target_stmt.handle()));
    }
    return m_counts;
  }

 private:
  // The merge join of two cursors in key order: `a` on the base side (nullptr: no base rows), `b` on the
  // target.
  Status merge(sqlite3_stmt* a, sqlite3_stmt* b) {
    bool more_a = a && TS_TRY(step(a, m_base_key));
    bool more_b = TS_TRY(step(b, m_target_key));
    while (more_a || more_b) {
      int c = !more_a ? 1 : (!more_b ? -1 : compare_keys(a, b));
      if (c < 0) {
        TS_TRY_STATUS(emit_remove(a));
        more_a = TS_TRY(step(a, m_base_key));
      } else if (c > 0) {
        TS_TRY_STATUS(emit_insert(b));
        more_b = TS_TRY(step(b, m_target_key));
      } else {
        TS_TRY_STATUS(compare_rows(a, b));
        more_a = TS_TRY(step(a, m_base_key));
        more_b = TS_TRY(step(b, m_target_key));
      }
    }
    return {};
  }

  // A row cursor and, for a table too wide to read its rowid with its columns, its key cursor.
  Result<bool> step(sqlite3_stmt* s, const KeySource& key) {
    bool row = TS_TRY(step(s));
    if (!key.stmt) return row;
    int rc = sqlite3_step(key.stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
      return m_db.last_error(fmt::format("read table {}", m_table.name));
    if ((rc == SQLITE_ROW) != row)
      return Error(ErrorKind::internal,
                   fmt::format("read table {}: the rowid cursor and the row cursor disagree", m_table.name));
    return row;
  }

  int64_t rowid_of(sqlite3_stmt* s, const KeySource& key) const {
    return key.stmt ? sqlite3_column_int64(key.stmt, 0) : sqlite3_column_int64(s, key.column);
  }

  Result<bool> has_row(const std::string& from, const std::string& cond) {
    auto stmt = TS_TRY(m_db.prepare(fmt::format("SELECT 1 FROM {} WHERE {} LIMIT 1", from, cond)));
    return stmt.step();
  }

  Result<bool> step(sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      ++m_rows_read;
      return true;
    }
    if (rc == SQLITE_DONE) return false;
    return m_db.last_error(fmt::format("read table {}", m_table.name));
  }

  int compare_keys(sqlite3_stmt* a, sqlite3_stmt* b) const {
    const TableDesc& t = m_table;
    if (t.keyed_by_rowid()) {
      int64_t x = rowid_of(a, m_base_key), y = rowid_of(b, m_target_key);
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    for (size_t k = 0; k < t.key_columns.size(); ++k) {
      int col = t.key_columns[k];
      int c = compare_values(sqlite3_column_value(a, m_base_index[col]),
                             sqlite3_column_value(b, m_offset + col), m_colls[k]);
      if (c != 0) return c;
    }
    return 0;
  }

  static Value column_value(sqlite3_stmt* s, int index) {
    Value v;
    read_value(sqlite3_column_value(s, index), v);
    return v;
  }

  // The row change being built; reused from row to row so its vectors keep their capacity.
  Status read_base_row(sqlite3_stmt* a, std::vector<Value>* out) {
    out->resize(m_table.columns.size());
    for (size_t i = 0; i < m_table.columns.size(); ++i) {
      if (m_plan.constants[i])
        (*out)[i] = *m_plan.constants[i];
      else if (auto type = large_type(a, true, i))
        TS_TRY_STATUS(read_large(a, true, i, *type, (*out)[i]));
      else
        read_value(sqlite3_column_value(a, m_base_index[i]), (*out)[i]);
    }
    return {};
  }

  Status read_target_row(sqlite3_stmt* b, std::vector<Value>* out) {
    out->resize(m_table.columns.size());
    for (size_t i = 0; i < m_table.columns.size(); ++i) {
      if (auto type = large_type(b, false, i))
        TS_TRY_STATUS(read_large(b, false, i, *type, (*out)[i]));
      else
        read_value(sqlite3_column_value(b, m_offset + static_cast<int>(i)), (*out)[i]);
    }
    return {};
  }

  void read_key(sqlite3_stmt* s, const KeySource& source, const std::vector<Value>& row,
                std::vector<Value>* key) const {
    key->clear();
    if (m_table.keyed_by_rowid()) {
      key->push_back(Value::integer(rowid_of(s, source)));
      return;
    }
    for (int col : m_table.key_columns) key->push_back(row[col]);
  }

  Status emit_remove(sqlite3_stmt* a) {
    RowChange& ch = m_change;
    ch.op = RowOp::remove;
    TS_TRY_STATUS(read_base_row(a, &ch.old_values));
    ch.new_values.clear();
    ch.changed_columns.clear();
    read_key(a, m_base_key, ch.old_values, &ch.key);
    ++m_counts.deletes;
    return m_sink.row(m_table, ch);
  }

  Status emit_insert(sqlite3_stmt* b) {
    RowChange& ch = m_change;
    ch.op = RowOp::insert;
    ch.old_values.clear();
    TS_TRY_STATUS(read_target_row(b, &ch.new_values));
    ch.changed_columns.clear();
    read_key(b, m_target_key, ch.new_values, &ch.key);
    ++m_counts.inserts;
    return m_sink.row(m_table, ch);
  }

  Status compare_rows(sqlite3_stmt* a, sqlite3_stmt* b) {
    size_t n = m_table.columns.size();
    RowChange& ch = m_change;
    ch.changed_columns.clear();
    for (size_t i = 0; i < n; ++i) {
      int ib = m_offset + static_cast<int>(i);
      bool same;
      if (m_plan.always_changed[i]) {
        same = false;
      } else if (m_plan.constants[i]) {
        same = column_value(b, ib) == *m_plan.constants[i];
      } else if (auto la = large_type(a, true, i), lb = large_type(b, false, i); la || lb) {
        same = la == lb && TS_TRY(db::same_in_place(m_db, place(a, true, i), place(b, false, i)));
      } else {
        same = same_value(sqlite3_column_value(a, m_base_index[i]), sqlite3_column_value(b, ib));
      }
      if (!same) ch.changed_columns.push_back(static_cast<int>(i));
    }
    if (ch.changed_columns.empty()) return {};
    ch.op = RowOp::update;
    TS_TRY_STATUS(read_base_row(a, &ch.old_values));
    TS_TRY_STATUS(read_target_row(b, &ch.new_values));
    read_key(a, m_base_key, ch.old_values, &ch.key);
    ++m_counts.updates;
    return m_sink.row(m_table, ch);
  }

  // Which columns may hold large values read in place: those that may hold a BLOB or a TEXT (BLOB or TEXT
  // affinity), not in the key, read from both sides, of a rowid table with room in its cursors for the mask
  // (and the rowid) and at most k_max_large_columns of them. The others are read whole, as any value.
  // A table that has no overflow page on either side holds no large value: its cursors read every column as
  // is, with no mask and no pass over the base (a full rewrite costs what it did before large values). When
  // only ranges of rows are read (the page fast path), the leaves of the ranges tell the same.
  Status plan_large_values() {
    const TableDesc& t = m_table;
    m_large_columns.clear();
    m_large_bit.assign(t.columns.size(), -1);
    m_base_overflow = false;
    if (t.rowid_expr.empty() || t.without_rowid) return {};
    if (m_plan.base_rows != BaseRows::none && (m_plan.base_rowid_expr.empty() || m_plan.base_name.empty()))
      return {};
    if (t.columns.size() + 3 > 2000) return {};
    for (size_t i = 0; i < t.columns.size() && m_large_columns.size() < db::k_max_large_columns; ++i) {
      const ColumnDesc& c = t.columns[i];
      if (!db::may_hold_large_value(c) || m_plan.constants[i] || m_plan.always_changed[i]) continue;
      m_large_bit[i] = static_cast<int>(m_large_columns.size());
      m_large_columns.push_back(static_cast<int>(i));
    }
    if (m_large_columns.empty()) return {};
    m_base_overflow = m_plan.base_rows != BaseRows::none;
    if (m_ranges) {
      // The leaves of the ranges, read by the page scan, tell whether any of their rows spills (dbstat
      // would walk the whole table).
      if (!m_ranges_overflow) {
        m_large_columns.clear();
        m_large_bit.assign(t.columns.size(), -1);
      }
      return {};
    }
    m_base_overflow = m_base_overflow && TS_TRY(has_overflow_page(m_plan.base_schema, m_plan.base_name));
    if (!m_base_overflow && !TS_TRY(has_overflow_page(diff::k_target_schema, t.name))) {
      m_large_columns.clear();
      m_large_bit.assign(t.columns.size(), -1);
    }
    return {};
  }

  // Whether `table` of `schema` has an overflow page (dbstat walks its pages, not its rows): a value of
  // k_large_value_bytes or more fills hundreds of them.
  Result<bool> has_overflow_page(const std::string& schema, const std::string& table) {
    auto st =
        TS_TRY(m_db.prepare("SELECT 1 FROM dbstat(?1) WHERE name = ?2 AND pagetype = 'overflow' LIMIT 1"));
    TS_TRY_STATUS(st.bind(1, Value::text(schema)));
    TS_TRY_STATUS(st.bind(2, Value::text(table)));
    return TS_TRY(st.step());
  }

  // The rowids of the rows of `from` whose column in slot j holds a TEXT of k_large_value_bytes or more, as
  // SQL lists, one per slot (within the ranges when `ranged`): found by a pass of their own, which ends
  // before the row cursors start, so that they never load such a value (db/blob.h, large_value_left_out).
  Result<std::vector<std::string>> find_large_texts(const std::string& from, const std::string& rowid_expr,
                                                    bool ranged) {
    std::string mask;
    for (size_t j = 0; j < m_large_columns.size(); ++j)
      mask +=
          (j ? " | " : "") +
          db::large_text_bit(quote_identifier(m_table.columns[m_large_columns[j]].name), static_cast<int>(j));
    auto stmt =
        TS_TRY(m_db.prepare(fmt::format("SELECT {}, {} FROM {}{}", rowid_expr, mask, from,
                                        ranged ? " WHERE " + rowid_expr + " BETWEEN ?1 AND ?2" : "")));
    std::vector<std::string> lists(m_large_columns.size());
    auto scan = [&]() -> Status {
      while (TS_TRY(stmt.step())) {
        int64_t bits = stmt.column_int64(1);
        for (size_t j = 0; bits && j < lists.size(); ++j)
          if ((bits >> j) & 1)
            lists[j] += (lists[j].empty() ? "" : ", ") + std::to_string(stmt.column_int64(0));
      }
      return {};
    };
    if (!ranged) TS_TRY_STATUS(scan());
    for (size_t r = 0; ranged && r < m_ranges->size(); ++r) {
      TS_TRY_STATUS(stmt.reset());
      TS_TRY_STATUS(stmt.bind(1, Value::integer((*m_ranges)[r].lo)));
      TS_TRY_STATUS(stmt.bind(2, Value::integer((*m_ranges)[r].hi)));
      TS_TRY_STATUS(scan());
    }
    for (std::string& list : lists) list = "(" + list + ")";
    return lists;
  }

  // The type of the large value a row's column holds, read in place; nullopt when it was read as is.
  std::optional<ValueType> large_type(sqlite3_stmt* s, bool base, size_t column) const {
    if (m_large_bit[column] < 0) return std::nullopt;
    int64_t mask = sqlite3_column_int64(s, base ? m_base_extra : m_target_extra);
    int index = base ? m_base_index[column] : m_offset + static_cast<int>(column);
    return db::left_out_type(mask, m_large_bit[column], sqlite3_column_type(s, index) == SQLITE_NULL);
  }

  db::BlobPlace place(sqlite3_stmt* s, bool base, size_t column) const {
    int64_t rowid = m_table.keyed_by_rowid()
                        ? rowid_of(s, base ? m_base_key : m_target_key)
                        : sqlite3_column_int64(s, (base ? m_base_extra : m_target_extra) + 1);
    const std::string& name = m_table.columns[column].name;
    if (base) return db::BlobPlace{m_plan.base_schema, m_plan.base_name, name, rowid};
    return db::BlobPlace{diff::k_target_schema, m_table.name, name, rowid};
  }

  // The large value at a row's column, copied into the diff's store.
  Status read_large(sqlite3_stmt* s, bool base, size_t column, ValueType type, Value& out) {
    if (!m_store) m_store = TS_TRY(LargeStore::create(m_spill_dir, "large values"));
    out = TS_TRY(db::read_large(m_db, place(s, base, column), type, m_store));
    return {};
  }

  db::Database& m_db;
  const TablePlan& m_plan;
  ChangeSink& m_sink;
  TableDesc m_table;
  const std::string& m_spill_dir;
  std::shared_ptr<LargeStore>& m_store;  // created at the first large value
  std::vector<int> m_large_columns;      // slot j of the mask: column m_large_columns[j]
  bool m_base_overflow = false;          // the base table has an overflow page (it may hold a large value)
  std::vector<int> m_large_bit;          // per column: its slot in the mask, -1 when read whole
  int m_target_extra = -1, m_base_extra = -1;  // index of the mask in each cursor (then the rowid)
  std::optional<std::vector<diff::RowidRange>> m_ranges;
  bool m_ranges_overflow = true;  // a row in m_ranges may spill to overflow pages (diff::DirtyRanges)
  bool m_identical = false;
  std::vector<Collation> m_colls;
  std::vector<int> m_base_index;  // per target column: index in the base cursor, -1 for constants
  int m_offset = 0;               // index of the first column in the target cursor
  KeySource m_base_key, m_target_key;
  RowChange m_change;
  TableCounts m_counts;
  int64_t m_rows_read = 0;
};

// Records what the summary needs while forwarding everything to the caller's sink.
class SummarySink final : public ChangeSink {
 public:
  SummarySink(ChangeSink& next, DiffSummary& summary) : m_next(next), m_summary(summary) {}
  Status schema(const std::vector<SchemaChange>& changes, const std::vector<TriggerDef>& triggers) override {
    m_summary.schema = changes;
    return m_next.schema(changes, triggers);
  }
  Status table_begin(const TableDesc& table) override { return m_next.table_begin(table); }
  Status row(const TableDesc& table, const RowChange& change) override { return m_next.row(table, change); }
  Status table_end(const TableDesc& table, const TableCounts& counts) override {
    return m_next.table_end(table, counts);
  }
  Status finish(const std::vector<std::string>& warnings) override {
    m_summary.warnings = warnings;
    return m_next.finish(warnings);
  }

 private:
  ChangeSink& m_next;
  DiffSummary& m_summary;
};

Result<uint32_t> root_page(db::Database& db, const std::string& schema, const std::string& table) {
  auto stmt = TS_TRY(db.prepare(
      fmt::format("SELECT rootpage FROM {}.sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
                  quote_identifier(schema))));
  TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
  if (!TS_TRY(stmt.step())) return 0u;
  return static_cast<uint32_t>(stmt.column_int64(0));
}

// The rowid ranges worth comparing, or nullopt to compare the whole table.
Result<std::optional<diff::DirtyRanges>> fast_ranges(db::Database& db, const TablePlan& tp,
                                                     diff::PageFile& base, diff::PageFile& target) {
  uint32_t base_root = TS_TRY(root_page(db, diff::k_base_schema, tp.target.name));
  uint32_t target_root = TS_TRY(root_page(db, diff::k_target_schema, tp.target.name));
  if (base_root == 0 || target_root == 0) return std::optional<diff::DirtyRanges>();
  auto ranges = diff::dirty_rowid_ranges(base, base_root, target, target_root);
  // A WAL restarted while the pages were read (possible when the snapshot needs no WAL frame) makes the reads
  // unreliable: compare everything instead.
  if (base.wal_restarted() || target.wal_restarted()) return std::optional<diff::DirtyRanges>();
  return ranges;
}

// With a page pull's hint (DiffOptions::changed_pages): whether the table's rows cannot differ (its tree has
// no changed page), else the rowid ranges to compare when it is keyed by rowid.
Status apply_change_hint(db::Database& db, const TablePlan& tp, diff::PageFile& base, diff::PageFile& target,
                         const std::vector<uint32_t>& changed, TableDiff& table_diff) {
  uint32_t base_root = TS_TRY(root_page(db, diff::k_base_schema, tp.target.name));
  uint32_t target_root = TS_TRY(root_page(db, diff::k_target_schema, tp.target.name));
  if (base_root == 0 || target_root == 0) return {};
  if (table_diff.table().keyed_by_rowid()) {
    auto ranges = diff::dirty_rowid_ranges_hinted(base, base_root, target, target_root, changed);
    if (ranges) table_diff.set_ranges(std::move(*ranges));
    return {};
  }
  auto differ = diff::tree_may_differ(base, base_root, target, target_root, changed);
  if (differ && !*differ) table_diff.set_identical();
  return {};
}

bool touches_table(const SchemaChange& c) {
  return c.op == SchemaOp::create_table || c.op == SchemaOp::drop_table || c.op == SchemaOp::add_column ||
         c.op == SchemaOp::rebuild_table;
}

}  // namespace

Result<DiffSummary> diff_databases(const std::string& base_path, const std::string& target_path,
                                   ChangeSink& sink, const DiffOptions& options) {
  std::error_code ec;
  for (const std::string* p : {&base_path, &target_path})
    if (!std::filesystem::is_regular_file(*p, ec))
      return Error(ErrorKind::local_db, fmt::format("diff: {} does not exist or is not a file", *p));
  // The target is `main`: opened read-write only so that WAL files can be used; nothing is written to it.
  auto db = TS_TRY(db::Database::open(target_path, db::OpenMode::read_write));
  {
    auto attach = TS_TRY(db.prepare("ATTACH DATABASE ?1 AS base"));
    TS_TRY_STATUS(attach.bind(1, Value::text(base_path)));
    TS_TRY(attach.step());
  }
  // Plain reads through a bounded page cache, not memory-mapped files: a mapping counts every page touched
  // in the resident set (a full compare of two 140 MB files showed 296 MB peak RSS mapped, 34 MB without)
  // and measured no faster (2.1 s mapped, 2.0 s read, 1M rows, every row changed).
  TS_TRY_STATUS(
      db.exec("PRAGMA foreign_keys = OFF; PRAGMA temp_store = FILE; "
              "PRAGMA main.cache_size = -8192; PRAGMA base.cache_size = -8192; "
              "PRAGMA main.mmap_size = 0; PRAGMA base.mmap_size = 0"));
  // A first read of each file makes SQLite open its WAL; the page readers of the fast path (page_scan.h) read
  // through the connection's own file handles, and take the committed WAL state before the snapshot.
  TS_TRY(db::query_int(db, "SELECT count(*) FROM main.sqlite_schema"));
  TS_TRY(db::query_int(db, "SELECT count(*) FROM base.sqlite_schema"));
  auto base_pages = TS_TRY(diff::PageFile::open(db, diff::k_base_schema));
  auto target_pages = TS_TRY(diff::PageFile::open(db, diff::k_target_schema));
  diff::WalState base_before = TS_TRY(base_pages->load_wal());
  diff::WalState target_before = TS_TRY(target_pages->load_wal());
  // One read transaction over both files: a consistent snapshot, held until the end.
  auto txn = TS_TRY(db::Transaction::begin(db));
  TS_TRY(db::query_int(db, "SELECT count(*) FROM main.sqlite_schema"));
  TS_TRY(db::query_int(db, "SELECT count(*) FROM base.sqlite_schema"));
  // The snapshot was taken between the two WAL readings: when no commit happened in between, the pages
  // (database file + WAL frames up to the last commit) are exactly the snapshot's.
  bool fast = options.page_fast_path && TS_TRY(base_pages->load_wal()) == base_before &&
              TS_TRY(target_pages->load_wal()) == target_before;
  bool hinted = fast && options.changed_pages &&
                diff::change_hint_usable(*base_pages, *target_pages, *options.changed_pages);

  DiffSummary summary;
  SummarySink tee(sink, summary);
  diff::LocalFilter local{options.local_tables, {}};
  for (const std::string& name : options.local_names) local.names.insert(lower_ascii(name));
  auto plan_result = diff::plan_schema(db, local);
  if (!plan_result.ok()) return plan_result.error().context("diff: compare schemas");
  diff::SchemaPlan plan = std::move(plan_result).value();
  TS_TRY_STATUS(tee.schema(plan.changes, plan.triggers));

  std::vector<TableSummary> tables;
  std::shared_ptr<LargeStore> large_store;  // the large values of the reported rows
  for (const TablePlan& tp : plan.tables) {
    TableSummary ts;
    ts.name = tp.target.name;
    for (const SchemaChange& c : plan.changes)
      if (touches_table(c) && diff::iequals(c.table, ts.name)) ts.schema_ops.push_back(c.op);
    TableDiff table_diff(db, tp, tee, options.spill_dir, large_store);
    if (options.rows) {
      TS_TRY_STATUS(table_diff.prepare(&plan.warnings));
      if (hinted && tp.base_rows == BaseRows::same_table && ts.schema_ops.empty()) {
        TS_TRY_STATUS(
            apply_change_hint(db, tp, *base_pages, *target_pages, *options.changed_pages, table_diff));
      } else if (fast && tp.base_rows == BaseRows::same_table && table_diff.table().keyed_by_rowid()) {
        auto ranges = TS_TRY(fast_ranges(db, tp, *base_pages, *target_pages));
        if (ranges) table_diff.set_ranges(std::move(*ranges));
      }
      TS_TRY_STATUS(tee.table_begin(table_diff.table()));
      auto counts = table_diff.run();
      if (!counts.ok()) return counts.error().context(fmt::format("diff: table {}", tp.target.name));
      ts.counts = *counts;
      TS_TRY_STATUS(tee.table_end(table_diff.table(), ts.counts));
    }
    ts.key_kind = table_diff.table().key_kind;
    summary.rows_read += table_diff.rows_read();
    summary.totals.inserts += ts.counts.inserts;
    summary.totals.updates += ts.counts.updates;
    summary.totals.deletes += ts.counts.deletes;
    if (ts.counts.total() > 0 || !ts.schema_ops.empty()) tables.push_back(std::move(ts));
  }
  for (const SchemaChange& c : plan.changes) {
    if (c.op != SchemaOp::drop_table) continue;
    TableSummary ts;
    ts.name = c.name;
    ts.schema_ops.push_back(c.op);
    tables.push_back(std::move(ts));
  }
  summary.tables = std::move(tables);
  summary.local_objects = std::move(plan.local_objects);
  TS_TRY_STATUS(tee.finish(plan.warnings));
  return summary;
}

}  // namespace turso_sync
