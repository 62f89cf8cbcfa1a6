// Helpers shared by the diff tests: build databases, take an exact snapshot of a database (schema and every
// value with its storage class), render a diff to SQL and apply it with the sqlite3 shell or in process.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <bit>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "db/schema.h"
#include "db/sqlite.h"
#include "diff/sql_text.h"
#include "support/test_env.h"
#include "turso_sync/diff.h"
#include "util/text.h"

namespace turso_sync::difftest {

// Every row change of a table, read from its RowList (which may be spilled to disk).
inline std::vector<RowChange> rows_of(const TableChanges& t) {
  std::vector<RowChange> out;
  RowCursor rows = t.rows.cursor();
  while (true) {
    auto next = rows.next();
    EXPECT_TRUE(next.ok()) << next.error().message();
    if (!next.ok() || !*next) break;
    out.push_back(**next);
  }
  return out;
}

inline db::Database open_db(const std::string& path) {
  auto db = db::Database::open(path, db::OpenMode::create);
  EXPECT_TRUE(db.ok()) << (db.ok() ? "" : db.error().message());
  return std::move(db).value();
}

inline void exec(const std::string& path, const std::string& sql) {
  auto db = open_db(path);
  auto st = db.exec(sql);
  ASSERT_TRUE(st.ok()) << st.error().message() << "\nSQL: " << sql;
}

inline std::string value_repr(const Value& v) {
  switch (v.type()) {
    case ValueType::null:
      return "null";
    case ValueType::integer:
      return "i:" + std::to_string(v.as_integer());
    case ValueType::real:
      return "r:" + std::to_string(std::bit_cast<uint64_t>(v.as_real()));
    case ValueType::text:
      return "t:" + to_hex(v.as_bytes());
    case ValueType::blob:
      return "b:" + to_hex(v.as_bytes());
  }
  return "?";
}

// Every user object (normalised SQL), every table's PRAGMA table_xinfo, and every row in key order with each
// value's storage class and exact bytes. Equal snapshots mean equal databases for turso-sync's purposes.
inline std::string snapshot(const std::string& path) {
  auto db = open_db(path);
  std::ostringstream out;
  auto objects = db::read_schema(db);
  EXPECT_TRUE(objects.ok());
  std::vector<db::SchemaObject> sorted = *objects;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (const auto& o : sorted) {
    out << o.type << " " << o.name << " on " << o.tbl_name << ": " << diff::normalize_sql(o.sql) << "\n";
    if (o.type != "table") continue;
    auto xinfo = db.prepare(
        "SELECT cid, name, type, \"notnull\", quote(dflt_value), pk, hidden FROM "
        "pragma_table_xinfo(?1)");
    EXPECT_TRUE(xinfo.ok());
    EXPECT_TRUE(xinfo->bind(1, Value::text(o.name)).ok());
    while (*xinfo->step()) {
      out << "  col";
      for (int i = 0; i < 7; ++i) out << " " << value_repr(xinfo->column(i));
      out << "\n";
    }
    auto info = db::read_table_info(db, o.name);
    EXPECT_TRUE(info.ok());
    // The rowid is data only for tables without a declared key (or with an INTEGER PRIMARY KEY, a column).
    bool rowid_is_data = !info->without_rowid && !info->has_declared_key();
    std::string cols = rowid_is_data ? info->rowid_expr : "";
    std::string order;
    for (int idx : info->stored_columns()) {
      if (!cols.empty()) cols += ", ";
      cols += quote_identifier(info->columns[idx].name);
    }
    for (int k : info->key_columns)
      order += (order.empty() ? "" : ", ") + quote_identifier(info->columns[k].name);
    if (!info->without_rowid) order += (order.empty() ? "" : ", ") + info->rowid_expr;
    auto rows = db.prepare("SELECT " + cols + " FROM " + quote_identifier(o.name) + " ORDER BY " + order);
    EXPECT_TRUE(rows.ok()) << (rows.ok() ? "" : rows.error().message());
    if (!rows.ok()) continue;
    while (*rows->step()) {
      out << "  row";
      for (int i = 0; i < rows->column_count(); ++i) out << " " << value_repr(rows->column(i));
      out << "\n";
    }
  }
  return out.str();
}

// Compares two snapshots, reporting the first line that differs (snapshots can be large).
inline void expect_same_snapshot(const std::string& actual, const std::string& expected,
                                 const std::string& sql) {
  if (actual == expected) return;
  std::istringstream a(actual), e(expected);
  std::string la, le;
  int line = 1;
  while (true) {
    bool ha = static_cast<bool>(std::getline(a, la)), he = static_cast<bool>(std::getline(e, le));
    if (!ha && !he) break;
    if (!ha || !he || la != le) {
      ADD_FAILURE() << "snapshots differ at line " << line
                    << "\n  actual:   " << (ha ? la.substr(0, 300) : "<end>")
                    << "\n  expected: " << (he ? le.substr(0, 300) : "<end>") << "\nSQL (first 4000 bytes):\n"
                    << sql.substr(0, 4000);
      return;
    }
    ++line;
  }
}

// The SQL rendering of the diff from `base` to `target`.
inline std::string diff_sql(const std::string& base, const std::string& target,
                            DiffSummary* summary = nullptr,
                            SqlWriter::Threading threading = SqlWriter::Threading::automatic) {
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* mem = open_memstream(&buf, &size);
  Result<DiffSummary> r = Error(ErrorKind::internal, "not run");
  {
    SqlWriter writer(mem, "test", threading);
    r = diff_databases(base, target, writer);
  }
  std::fclose(mem);
  std::string sql(buf, size);
  std::free(buf);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (summary && r.ok()) *summary = *r;
  return sql;
}

inline void copy_file(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

// Applies `sql` to `db_path` with the real sqlite3 shell; fails the test on any error output.
inline void apply_with_shell(const std::string& db_path, const std::string& sql) {
  auto r = testing::run_command({"sqlite3", "-bail", db_path}, {}, "", sql);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

inline void apply_in_process(const std::string& db_path, const std::string& sql) {
  auto db = open_db(db_path);
  auto st = db.exec(sql);
  EXPECT_TRUE(st.ok()) << st.error().message();
}

}  // namespace turso_sync::difftest
