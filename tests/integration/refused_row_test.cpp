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

}  // namespace
}  // namespace turso_sync::testing
