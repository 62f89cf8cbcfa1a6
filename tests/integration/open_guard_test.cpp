// The library never opens a database file behind SQLite (src/db/file_reader.h): every command runs
// with tests/support/open_guard.c preloaded, which logs each open of the working copy, the replica or their
// -wal/-shm/-journal by code other than libsqlite3. Closing such a descriptor would drop every SQLite lock
// the process holds on the file, the application's own included (an application syncing in-process lost
// committed rows that way).
#include <gtest/gtest.h>

#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

// Built beside the product's test programs only (tests/CMakeLists.txt).
std::string guard_library() {
  return test_program_dir() + "/libopen_guard.so";
}

struct Guarded {
  LocalServer server;
  TempDir dir;
  std::string log = dir.file("open_guard.log");

  std::string wc() const { return dir.file("working_copy.db"); }
  std::string replica() const { return dir.file("local_replica.db"); }
  std::vector<std::string> env() const {
    std::vector<std::string> env{"TURSO_DATABASE_URL=" + server.url()};
    env.push_back("LD_PRELOAD=" + guard_library());
    env.push_back("TURSO_SYNC_OPEN_GUARD_FILES=" + wc() + ":" + replica());
    env.push_back("TURSO_SYNC_OPEN_GUARD_LOG=" + log);
    return env;
  }
  CommandResult run(const std::vector<std::string>& args) const {
    return run_cli(args, env(), dir.path().string());
  }
};

// The guard itself: a program that opens the working copy directly is caught (so a clean log below means
// something).
TEST(OpenGuard, CatchesAProgramReadingTheWorkingCopyDirectly) {
  if (sanitized()) GTEST_SKIP() << "LD_PRELOAD cannot come before the sanitizer runtime";
  Guarded g;
  ASSERT_TRUE(g.server.started());
  local_exec(g.wc(), "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)");
  auto r = run_command({"cat", g.wc()}, g.env());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_text(g.log).find(g.wc()), std::string::npos) << read_text(g.log);
}

// Every command, on a working copy in WAL mode (as applications keep it) with local edits and remote
// changes, on the page path (bootstrap, incremental with and without the spare) and the SQL path.
TEST(OpenGuard, NoCommandOpensADatabaseFileOutsideSqlite) {
  if (sanitized()) GTEST_SKIP() << "LD_PRELOAD cannot come before the sanitizer runtime";
  Guarded g;
  ASSERT_TRUE(g.server.started());
  remote_exec(g.server.url(), {"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
                               "INSERT INTO notes VALUES (1, 'one'), (2, 'two')"});
  auto step = [&](const std::vector<std::string>& args, int expected_exit = 0) {
    auto r = g.run(args);
    EXPECT_EQ(r.exit_code, expected_exit) << args[0] << "\n" << r.out << r.err;
    EXPECT_EQ(read_text(g.log), "") << "after `turso-sync " << args[0] << "`";
  };
  step({"init"});
  local_exec(g.wc(), "PRAGMA journal_mode = WAL; INSERT INTO notes VALUES (3, 'three')");
  step({"status"});
  step({"diff"});
  step({"push"});
  remote_exec(g.server.url(), {"UPDATE notes SET body = 'uno' WHERE id = 1"});
  local_exec(g.wc(), "UPDATE notes SET body = 'dos' WHERE id = 2");
  step({"pull"});
  step({"sync"});
  remote_exec(g.server.url(), {"INSERT INTO notes VALUES (4, 'four')"});
  step({"workflow", "--once"});
  local_exec(g.wc(), "DELETE FROM notes WHERE id = 4");
  step({"reset", "--yes"});
  step({"copy", "--force"});
  // A checkpoint on the server makes its pages unavailable: the SQL path.
  remote_exec(g.server.url(), {"PRAGMA wal_checkpoint(TRUNCATE)", "INSERT INTO notes VALUES (5, 'five')"});
  step({"pull"});
  step({"init", "--force"});
  EXPECT_EQ(
      local_rows(g.wc(), "SELECT id, body FROM notes ORDER BY id"),
      (Rows{{I(1), T("uno")}, {I(2), T("dos")}, {I(3), T("three")}, {I(4), T("four")}, {I(5), T("five")}}));
}

}  // namespace
}  // namespace turso_sync::testing
