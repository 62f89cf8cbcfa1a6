#include "support/team.h"

#include <gtest/gtest.h>

namespace turso_sync::testing {
namespace {

// Column names of a table, lower-cased, in declaration order.
const char* kColumnsSql = "SELECT lower(name) FROM pragma_table_xinfo('%s') ORDER BY cid";
std::string columns_sql(const std::string& table) {
  std::string sql = kColumnsSql;
  return sql.replace(sql.find("%s"), 2, table);
}
std::vector<std::string> names_of(const Rows& rows) {
  std::vector<std::string> out;
  for (const auto& row : rows) out.push_back(row.at(0).as_bytes());
  return out;
}

}  // namespace

std::vector<std::string> Team::env() const {
  return {"TURSO_DATABASE_URL=" + server.url()};
}

CommandResult Team::run(const TempDir& dir, const std::vector<std::string>& args) const {
  return run_cli(args, env(), dir.path().string());
}

CommandResult Team::run_crashing(const TempDir& dir, const std::vector<std::string>& args,
                                 const std::string& point) const {
  std::vector<std::string> e = env();
  e.push_back("TURSO_SYNC_CRASH_AT=" + point);
  return run_cli(args, e, dir.path().string());
}

Rows Team::remote(const std::string& sql) const {
  return remote_rows(server.url(), sql);
}

Rows Team::rows(const TempDir& dir, const std::string& sql) const {
  return local_rows(wc(dir), sql);
}

void Team::start(const std::vector<std::string>& remote_sql) {
  ASSERT_TRUE(server.started());
  if (!remote_sql.empty()) remote_exec(server.url(), remote_sql);
  init_both(server.url());
}

void Team::init_both(const std::string& url) {
  for (const TempDir* dir : {&a, &b}) {
    auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + url}, dir->path().string());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
}

int Team::diff_exit(const TempDir& dir) const {
  return run(dir, {"diff", "--exit-code"}).exit_code;
}

void NotesTeam::start() {
  Team::start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, body TEXT)",
               "INSERT INTO notes VALUES (1, 'base', 'b1'), (2, 'two', 'b2'), (3, 'three', 'b3')"});
}

void NotesTeam::make_conflict() {
  local_exec(wc(a), "UPDATE notes SET title = 'A' WHERE id = 1; INSERT INTO notes VALUES (10, 'a-new', 'x')");
  auto r = run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(wc(b),
             "UPDATE notes SET title = 'B' WHERE id = 1; UPDATE notes SET body = 'b-body' WHERE id = 2; "
             "INSERT INTO notes VALUES (20, 'b-new', 'y')");
}

std::vector<std::string> SchemaTeam::remote_columns(const std::string& table) const {
  return names_of(remote(columns_sql(table)));
}

std::vector<std::string> SchemaTeam::columns(const TempDir& dir, const std::string& table) const {
  return names_of(rows(dir, columns_sql(table)));
}

std::string SchemaTeam::remote_sql(const std::string& name) const {
  Rows r = remote("SELECT sql FROM sqlite_schema WHERE lower(name) = lower('" + name + "')");
  return r.empty() || r[0][0].type() != ValueType::text ? "" : r[0][0].as_bytes();
}

std::string SchemaTeam::local_sql_of(const TempDir& dir, const std::string& name) const {
  Rows r = rows(dir, "SELECT sql FROM sqlite_schema WHERE lower(name) = lower('" + name + "')");
  return r.empty() || r[0][0].type() != ValueType::text ? "" : r[0][0].as_bytes();
}

CommandResult Copy::run(const std::vector<std::string>& args) const {
  return run_cli(args, {"TURSO_DATABASE_URL=" + url}, dir.path().string());
}

}  // namespace turso_sync::testing
