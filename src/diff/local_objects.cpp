#include "diff/local_objects.h"

#include <fmt/format.h>

#include <algorithm>

#include "db/schema.h"
#include "diff/sql_text.h"
#include "util/text.h"

namespace turso_sync::diff {

namespace {

// The text of a string literal token without its quotes; other tokens: their name.
std::string unquoted(const Token& t) {
  if (t.kind != TokenKind::string) return token_name(t);
  std::string out;
  std::string_view s = t.text.substr(1, t.text.size() >= 2 ? t.text.size() - 2 : 0);
  for (size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == '\'' && i + 1 < s.size() && s[i + 1] == '\'') ++i;
  }
  return out;
}

// "fts5" for "CREATE VIRTUAL TABLE x USING fts5(...)", lower-cased; "" when not found.
std::string module_of(const std::vector<Token>& t) {
  for (size_t i = 0; i + 1 < t.size(); ++i)
    if (t[i].kind == TokenKind::word && iequals(t[i].text, "USING")) return lower_ascii(token_name(t[i + 1]));
  return "";
}

}  // namespace

bool matches_local_pattern(const std::vector<std::string>& patterns, std::string_view name) {
  std::string lowered = lower_ascii(name);
  for (const std::string& p : patterns)
    if (sqlite3_strglob(lower_ascii(p).c_str(), lowered.c_str()) == 0) return true;
  return false;
}

Result<std::vector<LocalObject>> find_local_objects(db::Database& db, const std::string& schema,
                                                    const std::vector<std::string>& patterns,
                                                    const std::set<std::string>& also) {
  struct Row {
    std::string type, name, tbl_name, sql;
  };
  std::vector<Row> rows;
  {
    auto stmt = TS_TRY(db.prepare(
        fmt::format("SELECT type, name, tbl_name, coalesce(sql, '') FROM {}.sqlite_schema ORDER BY rowid",
                    quote_identifier(schema))));
    while (TS_TRY(stmt.step()))
      rows.push_back({stmt.column_text(0), stmt.column_text(1), stmt.column_text(2), stmt.column_text(3)});
  }
  std::set<std::string> virtual_tables, shadow_tables;
  {
    auto stmt = TS_TRY(
        db.prepare("SELECT name, type FROM pragma_table_list WHERE schema = ?1 AND type IN ('virtual', "
                   "'shadow')"));
    TS_TRY_STATUS(stmt.bind(1, Value::text(schema)));
    while (TS_TRY(stmt.step()))
      (stmt.column_text(1) == "virtual" ? virtual_tables : shadow_tables)
          .insert(lower_ascii(stmt.column_text(0)));
  }

  std::vector<LocalObject> out;
  std::set<std::string> tables;  // local tables, lower-cased (with `also`)
  tables.insert(also.begin(), also.end());
  for (const Row& r : rows) {
    if (r.type != "table" || db::is_internal_name(r.name)) continue;
    std::string key = lower_ascii(r.name);
    std::string why;
    if (virtual_tables.count(key) || starts_with_icase(r.sql, "CREATE VIRTUAL TABLE")) {
      std::string module = module_of(tokenize_sql(r.sql));
      why = module.empty() ? "virtual table" : fmt::format("virtual table ({})", module);
    } else if (shadow_tables.count(key)) {
      why = "shadow table of a virtual table";
      for (const std::string& v : virtual_tables)
        if (key.size() > v.size() && key.compare(0, v.size(), v) == 0 && key[v.size()] == '_')
          why = "shadow table of " + v;
    } else if (matches_local_pattern(patterns, r.name)) {
      why = "TURSO_SYNC_LOCAL_TABLES";
    } else if (also.count(key)) {
      why = "local on the working copy";
    } else {
      continue;
    }
    tables.insert(key);
    out.push_back({r.type, r.name, why});
  }
  // What depends on a local table: its indexes and triggers, and the triggers and views that name one.
  for (const Row& r : rows) {
    if (r.type == "table" || r.sql.empty() || db::is_internal_name(r.name)) continue;
    std::string key = lower_ascii(r.name);
    std::string why;
    if (tables.count(lower_ascii(r.tbl_name)) && r.type != "view") {
      why = fmt::format("on local table {}", r.tbl_name);
    } else if (r.type != "index") {
      for (const std::string& t : tables)
        if (refers_to(r.sql, t)) {
          why = fmt::format("{} local table {}", r.type == "trigger" ? "writes to" : "reads", t);
          break;
        }
    }
    if (why.empty() && also.count(key)) why = "local on the working copy";
    if (!why.empty()) out.push_back({r.type, r.name, why});
  }
  return out;
}

std::set<std::string> local_names(const std::vector<LocalObject>& objects) {
  std::set<std::string> out;
  for (const LocalObject& o : objects) out.insert(lower_ascii(o.name));
  return out;
}

Result<std::vector<LocalObject>> find_local_objects_in(const std::string& path,
                                                       const std::vector<std::string>& patterns) {
  db::Database db = TS_TRY(db::Database::open(path, db::OpenMode::read_only));
  return find_local_objects(db, "main", patterns);
}

Result<std::vector<ContentIndex>> find_content_indexes(db::Database& db) {
  std::vector<ContentIndex> out;
  auto stmt = TS_TRY(db.prepare(
      "SELECT name, sql FROM main.sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%' "
      "ORDER BY rowid"));
  while (TS_TRY(stmt.step())) {
    std::string sql = stmt.column_text(1);
    std::vector<Token> t = tokenize_sql(sql);
    std::string module = module_of(t);
    if (module != "fts4" && module != "fts5") continue;
    for (size_t i = 0; i + 2 < t.size(); ++i) {
      if (t[i].kind != TokenKind::word || !iequals(t[i].text, "content") || t[i + 1].text != "=") continue;
      std::string content = unquoted(t[i + 2]);
      if (!content.empty()) out.push_back({stmt.column_text(0), content});  // '' is contentless: no rebuild
      break;
    }
  }
  return out;
}

Result<std::vector<std::string>> rebuild_content_indexes(db::Database& db,
                                                         const std::set<std::string>& tables) {
  std::vector<std::string> rebuilt;
  for (const ContentIndex& index : TS_TRY(find_content_indexes(db))) {
    if (!tables.count(lower_ascii(index.content))) continue;
    std::string name = quote_identifier(index.name);
    auto st = db.exec(fmt::format("INSERT INTO main.{}({}) VALUES('rebuild')", name, name));
    if (!st.ok()) return st.error().context(fmt::format("rebuild the full-text index {}", index.name));
    rebuilt.push_back(index.name);
  }
  return rebuilt;
}

}  // namespace turso_sync::diff
