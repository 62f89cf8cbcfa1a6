#include "support/team.h"

#include <gtest/gtest.h>

namespace turso_sync::testing {

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

CommandResult Copy::run(const std::vector<std::string>& args) const {
  return run_cli(args, {"TURSO_DATABASE_URL=" + url}, dir.path().string());
}

}  // namespace turso_sync::testing
