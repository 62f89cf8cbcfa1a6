// A row the server cannot take is refused alone (issue 19 case 6; docs/conflicts.md "Rows the remote cannot
// take"): TEXT that is not valid UTF-8 cannot travel as JSON unchanged and the server would replace its
// bytes. The push leaves that row out, names it by table and key, holds it like a conflict, and pushes the
// rest; once the application fixes the row, `resolve --ours` and a push send it. Before, the whole push
// failed with an error naming the value, and every later push of anything failed the same way.
#include <gtest/gtest.h>

#include "support/sync_checks.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

TEST(RefusedRow, InvalidUtf8RowIsHeldAloneAndTheRestIsPushed) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(
      url, {"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
            "CREATE TABLE tags (name TEXT PRIMARY KEY, n INTEGER)", "INSERT INTO notes VALUES (1, 'one')"});
  TempDir a;
  auto r = run_cli({"init"}, env_for(url), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string wa = a.file("working_copy.db");
  local_exec(wa,
             "INSERT INTO notes VALUES (2, CAST(x'ff41' AS TEXT)), (3, 'three');"
             "UPDATE notes SET body = 'one edited' WHERE id = 1;"
             "INSERT INTO tags VALUES ('t', 1), ('bad', 2);");
  local_exec(wa, "UPDATE tags SET n = CAST(x'c328' AS TEXT) WHERE name = 'bad'");
  r = run_cli({"push"}, env_for(url), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("notes 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tags bad"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("UTF-8"), std::string::npos) << r.err;
  EXPECT_EQ(remote_rows(url, "SELECT * FROM notes ORDER BY id"),
            (Rows{{I(1), T("one edited")}, {I(3), T("three")}}));
  EXPECT_EQ(remote_rows(url, "SELECT * FROM tags ORDER BY name"), (Rows{{T("t"), I(1)}}));
  // Held like a conflict: listed, kept as the application wrote it, never pushed until resolved.
  r = run_cli({"conflicts"}, env_for(url), a.path());
  EXPECT_NE(r.out.find("refused"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(local_rows(wa, "SELECT hex(body) FROM notes WHERE id = 2"), (Rows{{T("FF41")}}));
  r = run_cli({"status", "--check"}, env_for(url), a.path());
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  r = run_cli({"push"}, env_for(url), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM notes"), 2);

  // The application fixes the rows; resolve --ours lifts the holds; the next push sends them.
  local_exec(wa, "UPDATE notes SET body = 'two' WHERE id = 2; UPDATE tags SET n = 2 WHERE name = 'bad'");
  r = run_cli({"resolve", "--ours"}, env_for(url), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_cli({"push"}, env_for(url), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same(url, wa, "SELECT * FROM notes ORDER BY id");
  expect_same(url, wa, "SELECT * FROM tags ORDER BY name");
  expect_no_local_changes(a, url);
}

// A row statement the server rejects is refused alone too (issue 19 case 6): the local server runs no UPDATE
// or DELETE of a WITHOUT ROWID table. That row is held, named with the server's words, and the rest of the
// push goes, then every later push. Before, the whole push failed ("the remote rejected the update of "kv"
// ['a']: ...; nothing was applied"), and so did every later push of anything.
TEST(RefusedRow, ARowStatementTheServerRejectsIsHeldAloneAndTheRestIsPushed) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(
      url, {"CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)", "INSERT INTO kv VALUES ('a', 'one')"});
  TempDir a;
  auto r = run_cli({"init"}, env_for(url), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string wa = a.file("working_copy.db");
  local_exec(wa,
             "UPDATE kv SET v = 'edited' WHERE k = 'a'; INSERT INTO kv VALUES ('b', 'two');"
             "INSERT INTO notes VALUES (1, 'first');");
  r = run_cli({"--json", "push"}, env_for(url), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "\"refused_rows\":[\"kv a: the remote rejected its update: ")) << r.out;
  EXPECT_EQ(remote_rows(url, "SELECT k, v FROM kv ORDER BY k"),
            (Rows{{T("a"), T("one")}, {T("b"), T("two")}}));
  EXPECT_EQ(remote_rows(url, "SELECT * FROM notes"), (Rows{{I(1), T("first")}}));
  // Held like a conflict: listed, kept as the application wrote it, never sent until resolved.
  r = run_cli({"conflicts"}, env_for(url), a.path());
  EXPECT_TRUE(contains(r.out, "refused")) << r.out << r.err;
  EXPECT_EQ(local_rows(wa, "SELECT v FROM kv WHERE k = 'a'"), (Rows{{T("edited")}}));
  EXPECT_EQ(run_cli({"status", "--check"}, env_for(url), a.path()).exit_code, 3);
  local_exec(wa, "INSERT INTO notes VALUES (2, 'second')");
  r = run_cli({"push"}, env_for(url), a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM notes"), 2);
  EXPECT_EQ(remote_rows(url, "SELECT v FROM kv WHERE k = 'a'"), (Rows{{T("one")}}));
}

// The same in a staged push (a change set larger than one request): the final batch moves every staged row
// of a table and kind with one statement, so the rows of the rejected statement (here every update of the
// WITHOUT ROWID table) are held together, the staging is dropped and the push runs again: the rest lands.
TEST(RefusedRow, AStagedStatementTheServerRejectsHoldsItsRowsAndTheRestIsPushed) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(url, {"CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID",
                    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
                    "INSERT INTO kv VALUES ('a', 'one'), ('b', 'two'), ('c', 'three')"});
  TempDir a;
  std::vector<std::string> env = env_for(url);
  env.push_back("TURSO_SYNC_PUSH_PART_BYTES=2000");  // staged: parts of a few rows
  auto r = run_cli({"init"}, env, a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string wa = a.file("working_copy.db");
  local_exec(wa,
             "UPDATE kv SET v = v || ' edited' WHERE k IN ('a', 'c'); INSERT INTO kv VALUES ('d', 'four');"
             "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200) "
             "INSERT INTO notes SELECT x, 'note ' || x FROM n;");
  r = run_cli({"--json", "push"}, env, a.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "\"staged_parts\":") && !contains(r.out, "\"staged_parts\":0")) << r.out;
  EXPECT_TRUE(contains(r.out, "kv a: the remote rejected its update: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "kv c: the remote rejected its update: ")) << r.out;
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM notes"), 200);
  EXPECT_EQ(remote_rows(url, "SELECT k, v FROM kv ORDER BY k"),
            (Rows{{T("a"), T("one")}, {T("b"), T("two")}, {T("c"), T("three")}, {T("d"), T("four")}}));
  EXPECT_TRUE(remote_rows(url, "SELECT name FROM sqlite_schema WHERE name LIKE 'turso_sync_stage%'").empty());
  EXPECT_EQ(local_rows(wa, "SELECT v FROM kv WHERE k = 'c'"), (Rows{{T("three edited")}}));
  r = run_cli({"conflicts"}, env, a.path());
  EXPECT_TRUE(contains(r.out, "refused")) << r.out << r.err;
}

}  // namespace
}  // namespace turso_sync::testing
