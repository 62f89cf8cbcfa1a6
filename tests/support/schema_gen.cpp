#include "support/schema_gen.h"

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <regex>
#include <set>

namespace turso_sync::testing {
namespace {

const char* kObjectsSql =
    "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite%' "
    "AND name NOT LIKE 'turso%' AND name NOT LIKE 'libsql%' AND name NOT LIKE '_litestream%' ORDER BY rowid";

}  // namespace

bool plain_names() {
  static const bool plain = std::getenv("TURSO_SYNC_SCHEMA_PLAIN_NAMES") != nullptr;
  return plain;
}

std::string qi(const std::string& name) {
  if (plain_names() && std::regex_match(name, std::regex("[a-z_][a-z0-9_]*"))) return name;
  return quote_identifier(name);
}

std::string sq(const std::string& s) {
  return quote_literal(s);
}

int lid_of(const std::string& name, char prefix) {
  if (name.size() < 2 || (name[0] != prefix && name[0] != prefix - 'a' + 'A')) return -1;
  size_t i = 1;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
  if (i == 1) return -1;
  if (i < name.size() && name[i] != ' ' && name[i] != '_') return -1;
  return std::atoi(name.substr(1, i - 1).c_str());
}

std::string canon_value(const Value& v) {
  switch (v.type()) {
    case ValueType::null:
      return "NULL";
    case ValueType::integer:
      return std::to_string(v.as_integer());
    case ValueType::real: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", v.as_real());
      return std::string("r") + buf;
    }
    case ValueType::text:
      return sq(v.as_bytes());
    default:
      return "X'" + to_hex(v.as_bytes()) + "'";
  }
}

std::string canon_rows(const Rows& rows) {
  std::string out;
  for (const auto& row : rows) {
    for (const auto& v : row) out += canon_value(v) + "|";
    out += "\n";
  }
  return out;
}

std::optional<Rows> try_local_rows(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return std::nullopt;
  }
  sqlite3_busy_timeout(db, 60000);
  sqlite3_stmt* stmt = nullptr;
  std::optional<Rows> out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
    Rows rows;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<Value> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        switch (sqlite3_column_type(stmt, i)) {
          case SQLITE_INTEGER:
            row.push_back(I(sqlite3_column_int64(stmt, i)));
            break;
          case SQLITE_FLOAT:
            row.push_back(R(sqlite3_column_double(stmt, i)));
            break;
          case SQLITE_TEXT:
            row.push_back(T(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                                        static_cast<size_t>(sqlite3_column_bytes(stmt, i)))));
            break;
          case SQLITE_BLOB: {
            const char* p = static_cast<const char*>(sqlite3_column_blob(stmt, i));
            row.push_back(B(std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, i)))));
            break;
          }
          default:
            row.push_back(N());
        }
      }
      rows.push_back(std::move(row));
    }
    if (rc == SQLITE_DONE) out = std::move(rows);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

CommandResult try_local_script(const std::string& path, const std::string& sql) {
  return run_command({"sqlite3", "-bail", path}, {}, "",
                     "PRAGMA foreign_keys=OFF;\nBEGIN;\n" + sql + "\nCOMMIT;\n");
}

std::optional<Schema> read_local_schema(const std::string& path) {
  auto objects = try_local_rows(path, kObjectsSql);
  auto uv = try_local_rows(path, "PRAGMA user_version");
  if (!objects || !uv || uv->empty()) return std::nullopt;
  Schema s;
  s.user_version = (*uv)[0][0].as_integer();
  for (const auto& row : *objects) {
    Object o{row[0].as_bytes(), row[1].as_bytes(), row[2].as_bytes(), row[3].as_bytes()};
    if (o.type != "table") {
      s.others.push_back(std::move(o));
      continue;
    }
    Table t;
    t.name = o.name;
    t.sql = o.sql;
    t.lid = lid_of(o.name, 't');
    if (t.lid < 0) continue;
    auto cols = try_local_rows(path,
                               "SELECT name, type, \"notnull\", dflt_value IS NOT NULL, pk FROM "
                               "pragma_table_xinfo(" +
                                   sq(t.name) + ") ORDER BY cid");
    auto uniq = try_local_rows(path, "SELECT ii.name FROM pragma_index_list(" + sq(t.name) +
                                         ") AS il, pragma_index_info(il.name) AS ii WHERE il.\"unique\" = 1");
    auto fks =
        try_local_rows(path, "SELECT \"from\", \"table\" FROM pragma_foreign_key_list(" + sq(t.name) + ")");
    if (!cols || !uniq || !fks) return std::nullopt;
    for (const auto& c : *cols) {
      Column col;
      col.name = c[0].as_bytes();
      col.type = c[1].as_bytes();
      col.not_null = c[2].as_integer() != 0;
      col.has_default = c[3].as_integer() != 0;
      col.pk = c[4].as_integer() != 0;
      for (const auto& u : *uniq)
        if (u[0].type() == ValueType::text && lower_ascii(u[0].as_bytes()) == lower_ascii(col.name))
          col.unique = true;
      for (const auto& f : *fks)
        if (lower_ascii(f[0].as_bytes()) == lower_ascii(col.name)) col.fk_parent = f[1].as_bytes();
      t.columns.push_back(std::move(col));
    }
    s.tables.push_back(std::move(t));
  }
  return s;
}

std::string line_diff(const std::string& a, const std::string& b) {
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string section, line;
    while (std::getline(in, line)) {
      if (line.rfind("table ", 0) == 0 || line.rfind("index ", 0) == 0 || line.rfind("view ", 0) == 0 ||
          line.rfind("trigger ", 0) == 0 || line.rfind("user_version", 0) == 0)
        section = line;
      out.push_back(line == section ? line : section + " :: " + line);
    }
    return out;
  };
  std::vector<std::string> la = lines(a), lb = lines(b);
  std::multiset<std::string> sa(la.begin(), la.end()), sb(lb.begin(), lb.end());
  std::string out;
  for (const auto& l : la)
    if (!sb.count(l)) out += "- " + l + "\n";
  for (const auto& l : lb)
    if (!sa.count(l)) out += "+ " + l + "\n";
  if (out.empty()) out = "(the same lines in another order)\n";
  return out.size() > 4000 ? out.substr(0, 4000) + "...\n" : out;
}

}  // namespace turso_sync::testing
