// The changeset: the single currency between modules. The diff engine (and the page-pull delta)
// produces it; the SQL renderer, the summary/JSON printers, the remote push batch builder and the three-way
// pull applier consume it. The model is specified once, in docs/changeset.md; this header is its C++ form.
//
// A changeset turns a *base* database into a *target* database:
//   1. schema changes, in an order where every statement's dependencies exist (apply them first, in order);
//   2. row changes, grouped per table, each table's rows in key order.
// Row changes describe rows as they are *after* the schema changes: for a table that gained a column, the
// base row's value of that column is the column's default; for a rebuilt table, the base row as copied into
// the new definition (with its type affinity applied).
//
// Two ways to receive one: stream it through a ChangeSink (the diff engine calls it as it goes, so a rewrite
// of a million rows never sits in memory), or collect it with ChangesetCollector into a Changeset.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "turso_sync/status.h"
#include "turso_sync/value.h"

namespace turso_sync {

// How rows of a table are identified.
enum class KeyKind {
  rowid,  // a rowid table whose INTEGER PRIMARY KEY is an alias of the rowid (TableDesc::rowid_alias): the
          // key is the rowid. Also a rowid table whose declared key holds NULLs (SQLite allows that for keys
          // other than INTEGER PRIMARY KEY), with a warning.
  primary_key,  // a WITHOUT ROWID table, or a rowid table with another declared PRIMARY KEY: the key is the
                // PRIMARY KEY columns, in key order (the rowid of such a table is not data: VACUUM may
                // renumber it)
  none,  // a rowid table with no declared key: the key is the rowid, with a warning (VACUUM may renumber
         // rowids of such tables, which would pair unrelated rows)
};
const char* to_string(KeyKind kind);

struct ColumnDesc {
  std::string name;
  std::string decl_type;  // as declared ("" when none)
  bool not_null = false;
  std::optional<std::string> default_sql;  // the DEFAULT expression as written, nullopt when none
  int pk_position = 0;  // 1-based position in the declared PRIMARY KEY, 0 when not part of it
};

// A table as the row changes see it: the target definition (for a dropped table, no rows are reported).
struct TableDesc {
  std::string name;
  // The columns that hold data, in declaration order; generated columns are left out (they are computed).
  // Every RowChange value vector follows this order.
  std::vector<ColumnDesc> columns;
  KeyKind key_kind = KeyKind::none;
  bool without_rowid = false;
  // Rowid tables: index in `columns` of the INTEGER PRIMARY KEY column (an alias of the rowid), -1 when none.
  int rowid_alias = -1;
  // Rowid tables: an expression that names the rowid ("rowid", "_rowid_", "oid" or the quoted alias column).
  std::string rowid_expr;
  // Indexes in `columns` of the declared PRIMARY KEY, in key order (empty when none). For
  // KeyKind::primary_key these are the key; otherwise they are informational (the key is the rowid).
  std::vector<int> key_columns;
  // KeyKind::primary_key: the collation of each key column ("BINARY", "NOCASE", "RTRIM"), same order.
  std::vector<std::string> key_collations;

  // Whether a UNIQUE index or constraint other than the key exists: replaying row changes in key order can
  // then collide transiently (a value moves from a deleted row to another), so consumers apply deletes first.
  bool has_unique_index = false;

  bool keyed_by_rowid() const { return key_kind != KeyKind::primary_key; }
  // Index in `columns` of the column `name` (ASCII case-insensitively, as SQLite compares identifiers);
  // nullopt when there is none.
  std::optional<size_t> column_index(std::string_view column) const;
  // The indexes of `names`, in their order; nullopt when one of them is not a column.
  std::optional<std::vector<size_t>> column_indexes(const std::vector<std::string>& names) const;
};

enum class RowOp { insert, update, remove };
const char* to_string(RowOp op);

struct RowChange {
  RowOp op = RowOp::insert;
  // The row's identity in the base (for update/remove) or in the target (for insert):
  // keyed_by_rowid(): exactly one INTEGER value, the rowid; primary_key: the key column values, in key order.
  // An update never changes the rowid; it may change a primary-key column only to a value that is equal under
  // the column's collation (e.g. 'a' -> 'A' with NOCASE), in which case the key holds the base value.
  std::vector<Value> key;
  // update/remove: every column of the base row (after the schema changes), in TableDesc::columns order.
  // insert: empty.
  std::vector<Value> old_values;
  // insert/update: every column of the target row. remove: empty.
  std::vector<Value> new_values;
  // update: ascending indexes of the columns whose values differ exactly (type and bytes; REAL bit for bit).
  // insert and remove: empty.
  std::vector<int> changed_columns;
};

enum class SchemaOp {
  create_table,
  drop_table,
  add_column,     // ALTER TABLE ... ADD COLUMN: the target is the base plus appended columns
  rebuild_table,  // any other table change: SQLite's table-rebuild procedure (new table, copy, drop, rename)
  create_index,
  drop_index,
  create_view,
  drop_view,
  create_trigger,
  drop_trigger,
  user_version,  // PRAGMA user_version changed (object_type "pragma", name "user_version"; old_sql and
                 // new_sql hold the two numbers)
};
const char* to_string(SchemaOp op);

// Why an object is dropped and created again although its own definition did not change.
enum class SchemaReason {
  added,      // new in the target
  removed,    // absent from the target
  changed,    // its definition differs
  dependent,  // unchanged, but it depends on a table or view that is rebuilt, dropped or recreated
};
const char* to_string(SchemaReason reason);

struct SchemaChange {
  SchemaOp op = SchemaOp::create_table;
  SchemaReason reason = SchemaReason::added;
  std::string object_type;  // "table", "index", "view", "trigger"
  std::string name;         // the object's name
  std::string table;        // the table (or view, for INSTEAD OF triggers) it belongs to; == name for tables
  std::string old_sql;      // the base definition (drops, rebuilds, add_column); "" otherwise
  std::string new_sql;      // the target definition (creates, rebuilds, add_column); "" otherwise
  // add_column: the column definitions appended, as written in the target ("c INTEGER NOT NULL DEFAULT 0").
  std::vector<std::string> added_columns;
  // rebuild_table: the columns whose values are copied from the old table (common to both definitions), and
  // whether rows are copied at all (false when the copy would violate the new definition, e.g. a new NOT
  // NULL; then every target row is an insert).
  std::vector<std::string> copied_columns;
  bool copy_rows = true;
  // rebuild_table with copy_rows: base columns carried under a new name (old name, new name), and base
  // columns whose values the rebuild does not carry (dropped). A merge that applies the rebuild to a working
  // copy refuses it when that working copy changed values of a dropped column (they would be lost).
  std::vector<std::pair<std::string, std::string>> renamed_columns;
  std::vector<std::string> dropped_columns;
  // The SQL statements that perform the change, in order, without trailing semicolons. Executing the
  // statements of every schema change in order turns the base schema into the target schema. They do not
  // touch connection state (no PRAGMA); see docs/changeset.md for foreign keys.
  std::vector<std::string> statements;
};

// A trigger of the target. Triggers fire on row changes, so a consumer that replays row changes (the SQL
// script, the remote push) drops every target trigger before the first row change and creates it again after
// the last: the row changes already contain every effect the triggers had on the target.
struct TriggerDef {
  std::string name;
  std::string table;
  std::string sql;
};

// Row-change counts for one table.
struct TableCounts {
  int64_t inserts = 0;
  int64_t updates = 0;
  int64_t deletes = 0;
  int64_t total() const { return inserts + updates + deletes; }
};

// Receives a changeset as it is produced. Calls come in this order:
//   schema(all schema changes, all target triggers) once; then for each table of the target that holds data,
//   table_begin, row for each changed row in key order, table_end; then finish.
// Any error returned stops the producer, which returns that error. Values passed by reference are valid only
// during the call.
class ChangeSink {
 public:
  virtual ~ChangeSink() = default;
  virtual Status schema(const std::vector<SchemaChange>& changes,
                        const std::vector<TriggerDef>& triggers) = 0;
  virtual Status table_begin(const TableDesc& table) = 0;
  virtual Status row(const TableDesc& table, const RowChange& change) = 0;
  virtual Status table_end(const TableDesc& table, const TableCounts& counts) = 0;
  // `warnings`: things the user should know (tables without a key, objects that were skipped).
  virtual Status finish(const std::vector<std::string>& warnings) = 0;
};

class RowCursor;

// The row changes of one table, in key order. Kept in memory while small; once spilled, every row lives in
// an anonymous temporary file of ours (removed by the system when the list is gone, even after a crash) and
// is read back one at a time, so a changeset of any size costs 8 bytes of memory per row (its offset) and
// a buffer. ChangesetCollector spills past a memory budget. Move-only. Read with cursor() or at().
class RowList {
 public:
  RowList();
  ~RowList();
  RowList(RowList&&) noexcept;
  RowList& operator=(RowList&&) noexcept;
  RowList(const RowList&) = delete;
  RowList& operator=(const RowList&) = delete;

  size_t size() const;
  bool empty() const { return size() == 0; }
  bool spilled() const;
  // The bytes the rows take in memory (an estimate; 0 once spilled, beyond the offsets).
  size_t memory_bytes() const;

  // Appends a row (after the last, in key order). Errors: ErrorKind::io when the spill file cannot be
  // written.
  Status push_back(RowChange change);
  // The same from a row the caller keeps: no copy once spilled.
  Status append(const RowChange& change);
  // The memory a row takes held in a list that is not spilled (an estimate).
  static size_t memory_of(const RowChange& change);
  // Moves every row to an anonymous temporary file in `dir` ("" = $TMPDIR, else /tmp); later rows go there
  // too. Errors: ErrorKind::io.
  Status spill(const std::string& dir);
  // The row at `index` (< size()), decoded.
  Result<RowChange> at(size_t index) const;
  // Reads the rows in order.
  RowCursor cursor() const;
  // Keeps only the rows for which `keep` is true, in order.
  Status retain(const std::function<bool(const RowChange&)>& keep);

 private:
  friend class RowCursor;
  struct Spill;
  Status read_file(uint64_t offset, size_t size, std::string& buffer) const;
  Status decode(size_t index, const char* chunk, uint64_t chunk_start, RowChange& out) const;
  Status decode_from_file(size_t index, RowChange& out) const;
  std::vector<RowChange> m_rows;  // while not spilled
  size_t m_memory = 0;
  std::unique_ptr<Spill> m_spill;
};

// Reads a RowList front to back: `while (const RowChange* r = TS_TRY(cursor.next())) ...`.
class RowCursor {
 public:
  explicit RowCursor(const RowList& list) : m_list(&list) {}
  // The next row, or nullptr after the last. Valid until the next call.
  Result<const RowChange*> next();
  // The index of the row next() returned last.
  size_t index() const { return m_index - 1; }

 private:
  const RowList* m_list;
  size_t m_index = 0;
  RowChange m_row;
  std::string m_buffer;  // spilled: the file's bytes from m_buffer_start
  uint64_t m_buffer_start = 0;
};

struct TableChanges {
  TableDesc table;
  TableCounts counts;
  RowList rows;  // in key order
};

// A whole changeset in memory.
struct Changeset {
  std::vector<SchemaChange> schema;
  std::vector<TriggerDef> triggers;  // every trigger of the target (see TriggerDef)
  std::vector<TableChanges> tables;  // only tables with at least one row change
  std::vector<std::string> warnings;

  bool empty() const { return schema.empty() && tables.empty(); }
  // Sends the changeset to `sink` in the order a producer would.
  Status replay(ChangeSink& sink) const;
};

// A ChangeSink that keeps the changeset, for callers that read it more than once (the push, the three-way
// merge). Rows past `memory_budget` bytes in memory (over all tables) are spilled to temporary files in
// `spill_dir` (RowList), so memory stays bounded at any size. The default budget is 16 MiB, or
// TURSO_SYNC_CHANGESET_MEMORY bytes when set (0: every row spilled; for tests).
class ChangesetCollector final : public ChangeSink {
 public:
  explicit ChangesetCollector(std::string spill_dir = "");
  ChangesetCollector(std::string spill_dir, size_t memory_budget);
  Status schema(const std::vector<SchemaChange>& changes, const std::vector<TriggerDef>& triggers) override;
  Status table_begin(const TableDesc& table) override;
  Status row(const TableDesc& table, const RowChange& change) override;
  Status table_end(const TableDesc& table, const TableCounts& counts) override;
  Status finish(const std::vector<std::string>& warnings) override;

  const Changeset& changeset() const { return m_changeset; }
  Changeset take() { return std::move(m_changeset); }

 private:
  std::string m_spill_dir;
  size_t m_budget;
  size_t m_memory = 0;  // of the tables already collected
  Changeset m_changeset;
  std::optional<TableChanges> m_current;
};

// Forwards every call to each of several sinks in turn (e.g. the SQL writer and a collector).
class TeeSink final : public ChangeSink {
 public:
  explicit TeeSink(std::vector<ChangeSink*> sinks) : m_sinks(std::move(sinks)) {}
  Status schema(const std::vector<SchemaChange>& changes, const std::vector<TriggerDef>& triggers) override;
  Status table_begin(const TableDesc& table) override;
  Status row(const TableDesc& table, const RowChange& change) override;
  Status table_end(const TableDesc& table, const TableCounts& counts) override;
  Status finish(const std::vector<std::string>& warnings) override;

 private:
  std::vector<ChangeSink*> m_sinks;
};

}  // namespace turso_sync
