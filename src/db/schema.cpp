#include "db/schema.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/text.h"

namespace turso_sync::db {

bool is_internal_name(std::string_view name) {
  return starts_with_icase(name, "sqlite_") || starts_with_icase(name, "turso_cdc") ||
         starts_with_icase(name, "turso_sync_") || starts_with_icase(name, "libsql_") ||
         starts_with_icase(name, "_litestream");
}

Result<std::vector<SchemaObject>> read_schema(Database& db) {
  auto stmt = TS_TRY(db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL"));
  std::vector<SchemaObject> out;
  while (TS_TRY(stmt.step())) {
    SchemaObject o{stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), stmt.column_text(3)};
    if (is_internal_name(o.name) || is_internal_name(o.tbl_name)) continue;
    out.push_back(std::move(o));
  }
  return out;
}

std::vector<int> TableInfo::stored_columns() const {
  std::vector<int> out;
  for (size_t i = 0; i < columns.size(); ++i)
    if (!columns[i].generated()) out.push_back(static_cast<int>(i));
  return out;
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && starts_with_icase(a, b);
}

Result<bool> is_without_rowid(Database& db, const std::string& table) {
  // Names are case-insensitive in SQLite (the Turso server reports them lower-cased).
  auto stmt = TS_TRY(
      db.prepare("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?1 COLLATE NOCASE"));
  TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
  if (!TS_TRY(stmt.step()))
    return Error(ErrorKind::local_db, fmt::format("table {} not found in {}", table, db.path()));
  return stmt.column_int64(0) != 0;
}

}  // namespace

Result<TableInfo> read_table_info(Database& db, const std::string& table) {
  TableInfo info;
  info.name = table;
  info.without_rowid = TS_TRY(is_without_rowid(db, table));
  auto stmt = TS_TRY(
      db.prepare("SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)"));
  TS_TRY_STATUS(stmt.bind(1, Value::text(table)));
  std::vector<std::pair<int, int>> pk;  // (position, column index)
  while (TS_TRY(stmt.step())) {
    Column c;
    c.name = stmt.column_text(0);
    c.decl_type = stmt.column_text(1);
    c.not_null = stmt.column_int64(2) != 0;
    if (sqlite3_column_type(stmt.handle(), 3) != SQLITE_NULL) c.default_sql = stmt.column_text(3);
    c.pk_position = static_cast<int>(stmt.column_int64(4));
    c.hidden = static_cast<int>(stmt.column_int64(5));
    if (c.pk_position > 0) pk.emplace_back(c.pk_position, static_cast<int>(info.columns.size()));
    info.columns.push_back(std::move(c));
  }
  std::sort(pk.begin(), pk.end());
  for (auto& [pos, idx] : pk) info.key_columns.push_back(idx);

  if (!info.without_rowid) {
    // INTEGER PRIMARY KEY (exactly that type name, single column) makes the column an alias of the rowid.
    if (info.key_columns.size() == 1 && iequals(info.columns[info.key_columns[0]].decl_type, "INTEGER"))
      info.rowid_alias = info.key_columns[0];
    std::vector<std::string> names;
    for (const Column& c : info.columns) names.push_back(c.name);
    info.rowid_expr =
        rowid_expression(names, info.rowid_alias >= 0 ? info.columns[info.rowid_alias].name : std::string());
  }
  return info;
}

std::string rowid_expression(const std::vector<std::string>& column_names, const std::string& alias) {
  for (const char* candidate : {"rowid", "_rowid_", "oid"}) {
    bool shadowed = std::any_of(column_names.begin(), column_names.end(),
                                [&](const std::string& name) { return iequals(name, candidate); });
    if (!shadowed) return candidate;
  }
  return alias.empty() ? std::string() : quote_identifier(alias);
}

Status copy_rows(Database& from, Database& to, const std::string& table) {
  TableInfo info = TS_TRY(read_table_info(from, table));
  std::string cols = info.without_rowid || info.rowid_expr.empty() ? "" : info.rowid_expr;
  for (int i : info.stored_columns())
    cols += (cols.empty() ? "" : ", ") + quote_identifier(info.columns[i].name);
  auto read = TS_TRY(from.prepare(fmt::format("SELECT {} FROM {}", cols, quote_identifier(table))));
  std::string params;
  for (int i = 0; i < read.column_count(); ++i) params += i ? ", ?" : "?";
  auto write = TS_TRY(
      to.prepare(fmt::format("INSERT INTO main.{}({}) VALUES({})", quote_identifier(table), cols, params)));
  while (TS_TRY(read.step())) {
    TS_TRY_STATUS(write.reset());
    for (int i = 0; i < read.column_count(); ++i) TS_TRY_STATUS(write.bind(i + 1, read.column(i)));
    TS_TRY(write.step());
  }
  return {};
}

}  // namespace turso_sync::db
