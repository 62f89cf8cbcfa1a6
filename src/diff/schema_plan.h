// Reading both schemas and planning the schema part of a diff: which objects are created, dropped, altered or
// rebuilt, in which order, and for every target table where its "base rows" come from (the row diff compares
// the base *after* the schema changes with the target).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "db/sqlite.h"
#include "diff/local_objects.h"
#include "turso_sync/changeset.h"

namespace turso_sync::diff {

// The connection the engine works on: the target is `main`, the base is attached as `base`; projections of
// rebuilt tables live in `temp`.
inline constexpr const char* k_base_schema = "base";
inline constexpr const char* k_target_schema = "main";

// A user object of one database's sqlite_schema.
struct ObjectDef {
  std::string type;  // table, index, view, trigger
  std::string name;
  std::string tbl_name;
  std::string sql;
  std::string normalized;  // normalize_sql(sql)
};

// One column of a table as SQLite understands it (see TableMeaning).
struct ColumnMeaning {
  std::string name;  // as declared (compared case-insensitively)
  std::string type;  // the declared type, upper-cased, without size arguments (`VARCHAR(12)` -> `VARCHAR`)
  bool not_null = false;
  std::string default_sql;  // the DEFAULT expression, normalised; "" when none
  int pk_position = 0;
  int hidden = 0;         // PRAGMA table_xinfo: 0 stored, 2/3 generated
  std::string collation;  // "BINARY", "NOCASE", "RTRIM", ...
  bool autoincrement = false;
};

// What a table definition means, whatever its text: its columns, foreign keys, UNIQUE and PRIMARY KEY
// constraints, CHECK constraints, WITHOUT ROWID and STRICT, read through SQLite's own pragmas (CHECK
// expressions, which no pragma reports, from the SQL). Two definitions with the same meaning accept and hold
// the same rows. The Turso server rewrites a table's SQL after ALTER TABLE (moves inline REFERENCES to table
// constraints, reorders column constraints, lower-cases names), so schemas are compared by meaning, never by
// text. The table's own name is not part of it.
struct TableMeaning {
  bool exists = false;
  std::vector<ColumnMeaning> columns;    // declaration order
  std::vector<std::string> constraints;  // canonical text of each, sorted
  bool without_rowid = false;
  bool strict = false;
  // Canonical text: equal for two tables exactly when their meanings are equal.
  std::string text() const;
};

// `table` (case-insensitive) of `schema` on `db`; exists == false when there is no such table.
Result<TableMeaning> read_table_meaning(db::Database& db, const std::string& schema,
                                        const std::string& table);

// The description of `table` in `schema` (columns that hold data, key kind, rowid alias, key collations).
Result<TableDesc> read_table_desc(db::Database& db, const std::string& schema, const std::string& table);

// For each column of `to`, the column of `from` whose values it continues: the column of the same name
// (case-insensitively), else the column of `from` at the same position with the same declared type whose name
// `to` lacks (what ALTER TABLE RENAME COLUMN gives; a dropped and an added column sit at different positions
// unless the dropped one was the last); "" for a new column.
std::vector<std::string> column_sources(const std::vector<ColumnDesc>& from,
                                        const std::vector<ColumnDesc>& to);

// Where the row diff of one target table finds the base rows.
enum class BaseRows {
  none,           // new table, or a rebuild whose rows cannot be copied: every target row is an insert
  same_table,     // the base table has the same definition
  added_columns,  // the base table lacks the appended columns: their values are `constants`
  projection,     // a rebuilt table: the base rows copied into the new definition, in a temp table
};

struct TablePlan {
  TableDesc target;  // the table in the target (column order of every row change)
  BaseRows base_rows = BaseRows::none;
  std::string base_table;       // qualified name of the base side ("base"."t" or temp."...")
  std::string base_rowid_expr;  // the base side's rowid expression (rowid-keyed tables)
  std::string base_schema;      // base_table's schema and name, unquoted (for sqlite3_blob_open)
  std::string base_name;
  // Per target column: the value every base row has for it (added columns), or nullopt when read from the
  // base.
  std::vector<std::optional<Value>> constants;
  // Per target column: true when the base value cannot be predicted (a rebuild's new column with a volatile
  // DEFAULT), so it always counts as changed.
  std::vector<bool> always_changed;
};

// What stays local (diff/local_objects.h): table name patterns (TURSO_SYNC_LOCAL_TABLES) and the lower-cased
// names of the working copy's local objects, when it is neither side of the diff (a pull's delta).
struct LocalFilter {
  std::vector<std::string> patterns;
  std::set<std::string> names;
};

struct SchemaPlan {
  std::vector<SchemaChange> changes;  // in execution order
  std::vector<TablePlan> tables;      // target tables whose rows are diffed, in target schema order
  std::vector<TriggerDef> triggers;   // every trigger of the target
  std::vector<std::string> warnings;
  std::vector<LocalObject> local_objects;  // the target's local objects, left out of the plan
};

// Compares the schemas of `base` and `main` on `db` (inside the caller's read transaction). Creates temp
// tables (projections of rebuilt tables, probes of added columns).
Result<SchemaPlan> plan_schema(db::Database& db, const LocalFilter& local);

}  // namespace turso_sync::diff
