// What the schema property test (tests/integration/schema_property_test.cpp) generates and compares with:
// SQL text for names that carry a logical id ("t3 it's" -> 3), values and rows as canonical text, a local
// file's schema read for generating migrations and edits, and the schema and rows "by meaning", read the same
// way from every side (a working copy, a replica, the remote) through the query each is given.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "support/test_env.h"
#include "util/text.h"

namespace turso_sync::testing {

// --- SQL text

// TURSO_SYNC_SCHEMA_PLAIN_NAMES is set: lower-case names, written without quotes.
bool plain_names();
// `name` as an SQL identifier: bare when plain_names() and it needs no quotes, quoted otherwise.
std::string qi(const std::string& name);
// `s` as an SQL string literal.
std::string sq(const std::string& s);
// The logical id of a name: "t3 it's" -> 3 with prefix 't'; -1 when the name carries none.
int lid_of(const std::string& name, char prefix);
// A value as canonical text (REALs with 17 digits, text quoted, blobs as X'..'); rows as one line each.
std::string canon_value(const Value& v);
std::string canon_rows(const Rows& rows);
// Rows of `sql` on a local file without failing the test (nullopt on error: a table renamed meanwhile, ...).
std::optional<Rows> try_local_rows(const std::string& path, const std::string& sql);
// Runs a script on a local file the way an application's migration would: one transaction, foreign keys off,
// stopping at the first error (which rolls everything back). Returns the sqlite3 shell's result.
CommandResult try_local_script(const std::string& path, const std::string& sql);

// --- a database's schema, read the same way from every side

struct Column {
  std::string name, type;
  bool not_null = false, has_default = false, pk = false, unique = false;
  std::string fk_parent;  // the referenced table when the column is a single-column foreign key
};
struct Table {
  std::string name, sql;
  std::vector<Column> columns;
  int lid = -1;
};
struct Object {
  std::string type, name, tbl_name, sql;
};
struct Schema {
  std::vector<Table> tables;   // user tables carrying a logical id (not `log`)
  std::vector<Object> others;  // indexes (named), views, triggers
  int64_t user_version = 0;
  const Table* table_by_lid(int lid) const {
    for (const Table& t : tables)
      if (t.lid == lid) return &t;
    return nullptr;
  }
};

// Reads the schema of a local file (the working copy) for generating migrations and edits; nullopt when a
// query fails.
std::optional<Schema> read_local_schema(const std::string& path);

// `table`'s columns: lower(name), upper(type), notnull, dflt_value, pk, hidden. Through PRAGMA table_xinfo:
// the server's pragma_table_xinfo() function fails on names holding '"'.
template <typename Query>
Rows table_columns(Query query, const std::string& table) {
  Rows out;
  for (auto row : query("PRAGMA table_xinfo(" + qi(table) + ")")) {
    row.erase(row.begin());  // cid
    if (row[0].type() == ValueType::text) row[0] = Value::text(lower_ascii(row[0].as_bytes()));
    if (row[1].type() == ValueType::text) {
      std::string t = row[1].as_bytes();
      for (char& c : t)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      row[1] = Value::text(t);
    }
    out.push_back(std::move(row));
  }
  return out;
}

// The schema by meaning, as one text, from any side: `query` runs SQL there.
template <typename Query>
std::string schema_meaning(Query query) {
  std::ostringstream out;
  out << "user_version " << canon_rows(query("PRAGMA user_version"));
  Rows objects = query(
      "SELECT type, lower(name), lower(tbl_name) FROM sqlite_schema WHERE name NOT LIKE 'sqlite%' AND name "
      "NOT "
      "LIKE 'turso%' AND name NOT LIKE 'libsql%' AND name NOT LIKE '_litestream%' ORDER BY 1, 2");
  for (const auto& o : objects) {
    out << o[0].as_bytes() << " " << sq(o[1].as_bytes()) << " on " << sq(o[2].as_bytes()) << "\n";
    if (o[0].as_bytes() == "table")
      out << canon_rows(table_columns(query, o[1].as_bytes()));
    else if (o[0].as_bytes() == "view")  // a view whose table was renamed under it fails here
      out << "rows " << canon_rows(query("SELECT count(*) FROM " + qi(o[1].as_bytes())));
    else if (o[0].as_bytes() ==
             "index")  // by its SQL (the server's pragma_index_info fails on names with '"')
      for (const auto& row : query("SELECT sql FROM sqlite_schema WHERE type = 'index' AND lower(name) = " +
                                   sq(o[1].as_bytes())))
        if (row[0].type() == ValueType::text) {
          std::string canon;
          for (char c : lower_ascii(row[0].as_bytes()))
            if (c != ' ' && c != '"' && c != '\n' && c != '\t') canon += c;
          out << canon << "\n";
        }
  }
  return out.str();
}

// Every table's rows (by id), as one text.
template <typename Query>
std::string rows_meaning(Query query) {
  std::ostringstream out;
  Rows tables = query(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite%' AND name NOT LIKE "
      "'turso%' AND name NOT LIKE 'libsql%' AND name NOT LIKE '_litestream%' ORDER BY lower(name)");
  for (const auto& t : tables) {
    out << "table " << sq(lower_ascii(t[0].as_bytes())) << "\n"
        << canon_rows(query("SELECT * FROM " + qi(t[0].as_bytes()) + " ORDER BY id"));
  }
  return out.str();
}

// The lines of `a` missing from `b` (-) and of `b` missing from `a` (+), within their table's section.
std::string line_diff(const std::string& a, const std::string& b);

}  // namespace turso_sync::testing
