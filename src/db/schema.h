// Reading a local database's schema: the user objects of sqlite_schema and each table's columns and key.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "db/sqlite.h"

namespace turso_sync::db {

// Tables of SQLite itself and of other sync tools are never synced:
// sqlite_%, turso_cdc%, turso_sync_%, libsql_%, _litestream%.
bool is_internal_name(std::string_view name);

struct SchemaObject {
  std::string type;  // table, index, view, trigger
  std::string name;
  std::string tbl_name;
  std::string sql;
};

// The user objects (internal ones and automatic indexes excluded), in sqlite_schema order.
Result<std::vector<SchemaObject>> read_schema(Database& db);

struct Column {
  std::string name;
  std::string decl_type;
  bool not_null = false;
  std::optional<std::string> default_sql;  // the DEFAULT expression as written
  int pk_position = 0;                     // 1-based position in the PRIMARY KEY, 0 when not part of it
  int hidden = 0;  // PRAGMA table_xinfo: 0 normal, 2 virtual generated, 3 stored generated
  bool generated() const { return hidden == 2 || hidden == 3; }
};

struct TableInfo {
  std::string name;
  std::vector<Column> columns;  // all columns, generated ones included, in declaration order
  bool without_rowid = false;
  // For rowid tables: an expression naming the rowid that no column shadows ("rowid", "_rowid_", "oid", or
  // the INTEGER PRIMARY KEY column quoted). Empty when the table has no addressable rowid.
  std::string rowid_expr;
  int rowid_alias = -1;          // index in `columns` of the INTEGER PRIMARY KEY column, -1 if none
  std::vector<int> key_columns;  // WITHOUT ROWID: primary key columns in key order; rowid tables: declared PK
  bool has_declared_key() const { return !key_columns.empty(); }

  // Indexes in `columns` of the columns that hold data (generated columns excluded).
  std::vector<int> stored_columns() const;
};

Result<TableInfo> read_table_info(Database& db, const std::string& table);

// Every row of `table` in `from` (rowids kept) into the empty table of the same name and columns in `to`'s
// main schema, a row at a time.
Status copy_rows(Database& from, Database& to, const std::string& table);

// The expression naming the rowid of a rowid table whose columns are `column_names`: the first of "rowid",
// "_rowid_" and "oid" that no column shadows (names compared case-insensitively), else the INTEGER PRIMARY
// KEY column `alias` quoted; "" when all three are shadowed and `alias` is empty (no addressable rowid).
// TableInfo::rowid_expr, and every statement that addresses a row by its rowid, use this one rule.
std::string rowid_expression(const std::vector<std::string>& column_names, const std::string& alias = "");

}  // namespace turso_sync::db
