// `turso-sync init` against a real local server; the replica is compared with the remote through the
// independent query path (hrana_query.py), value by value with types.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

void expect_same_rows(const std::string& url, const std::string& local_path, const std::string& sql) {
  auto remote = remote_rows(url, sql);
  auto local = local_rows(local_path, sql);
  EXPECT_EQ(remote, local) << sql << "\nremote:\n" << render_rows(remote) << "local:\n" << render_rows(local);
}

// Objects of every kind, with odd identifiers and edge values. -0.0 sits in a column without REAL affinity:
// SQLite itself stores integral REALs of REAL-affinity columns as integers, so no SQLite file can hold -0.0
// there (the value reads back as 0.0); in other columns it keeps its sign bit.
const std::vector<std::string> kMixedSchema = {
    "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT, send_at REAL, "
    "body BLOB, sent INTEGER DEFAULT 0)",
    "INSERT INTO emails VALUES (1, 'a@example.org', 'héllo ✓', 0.30000000000000004, x'00ff10', 0), "
    "(2, 'b@example.org', NULL, 0.0, NULL, 1), (7, 'c@example.org', 'it''s \"q\"', 5e-324, x'', 0), "
    "(9223372036854775807, 'max@example.org', '', 1e308, NULL, -9223372036854775808)",
    "CREATE TABLE kv (k TEXT, n INTEGER, v, PRIMARY KEY (k, n)) WITHOUT ROWID",
    "INSERT INTO kv VALUES ('a', 1, 'x'), ('a', 2, 2.2250738585072014e-308), ('b', -5, NULL), ('', 0, "
    "x'01'), ('neg zero', 0, -0.0)",
    "CREATE TABLE log (at TEXT, message TEXT)",
    "INSERT INTO log VALUES ('t1', 'first'), ('t1', 'first'), (NULL, 'dup rows')",
    "CREATE TABLE \"odd \"\"name\"\" ü\" (\"select\" INTEGER PRIMARY KEY, \"a b\" TEXT, \"x\"\"y\" REAL)",
    "INSERT INTO \"odd \"\"name\"\" ü\" VALUES (1, 'space', 1.5), (2, 'quote', -2.25)",
    "CREATE INDEX emails_due ON emails (send_at, sent)",
    "CREATE VIEW pending AS SELECT id, recipient FROM emails WHERE sent = 0",
    "CREATE TRIGGER emails_touch AFTER UPDATE ON emails BEGIN INSERT INTO log VALUES (NEW.id, 'updated'); "
    "END",
};

TEST(Init, CopiesEveryKindOfObjectExactly) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), kMixedSchema);
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("4 tables"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("\"log\" has no PRIMARY KEY"), std::string::npos) << r.err;

  std::string replica = dir.file("local_replica.db");
  expect_same_rows(server.url(), replica, "SELECT * FROM emails ORDER BY id");
  expect_same_rows(server.url(), replica, "SELECT * FROM kv ORDER BY k, n");
  expect_same_rows(server.url(), replica, "SELECT rowid, * FROM log ORDER BY rowid");
  expect_same_rows(server.url(), replica, "SELECT * FROM \"odd \"\"name\"\" ü\" ORDER BY 1");
  expect_same_rows(server.url(), replica, "SELECT * FROM pending ORDER BY id");
  // Same schema objects (names and kinds); the SQL text is the server's own normal form.
  expect_same_rows(
      server.url(), replica,
      "SELECT type, name, tbl_name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name");
  // The working copy starts equal to the replica, and the trigger works there.
  std::string working = dir.file("working_copy.db");
  EXPECT_EQ(local_rows(working, "SELECT * FROM emails ORDER BY id"),
            local_rows(replica, "SELECT * FROM emails ORDER BY id"));
  EXPECT_EQ(local_rows(working, "SELECT type, name FROM sqlite_schema ORDER BY name"),
            local_rows(replica, "SELECT type, name FROM sqlite_schema ORDER BY name"));
  auto integrity = local_rows(replica, "PRAGMA integrity_check");
  ASSERT_EQ(integrity.size(), 1u);
  EXPECT_EQ(integrity[0][0], Value::text("ok"));
  // State dir records the remote and the time of the pull; no temp files left behind.
  std::string state = read_text(dir.file(".turso-sync/state.json"));
  EXPECT_NE(state.find(server.url()), std::string::npos) << state;
  EXPECT_NE(state.find("\"last_pull_at\":\"20"), std::string::npos) << state;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
}

TEST(Init, PagesLargeTablesAndKeepsInfinityAndNulBytes) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  // Wide rows force several pages per table (the page target is ~2 MB).
  remote_exec(server.url(),
              {"CREATE TABLE big (id INTEGER PRIMARY KEY, pad BLOB, r REAL, t TEXT)",
               "INSERT INTO big VALUES (1, randomblob(60000), 9e999, 'a'), (2, NULL, -9e999, 'b')",
               "CREATE TABLE wr (a TEXT, b BLOB, pad BLOB, PRIMARY KEY (a, b)) WITHOUT ROWID"});
  for (int i = 0; i < 6; ++i) {
    remote_exec(server.url(), {"INSERT INTO big (pad, r, t) SELECT randomblob(60000), random() / 7.0, "
                               "'x' || char(0) || 'y' FROM big LIMIT 40"});
  }
  remote_exec(server.url(),
              {"INSERT INTO wr SELECT 'k' || (id % 3), CAST(id AS BLOB), randomblob(50000) FROM big"});
  TempDir dir;
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::string replica = dir.file("local_replica.db");
  auto count = local_rows(replica, "SELECT count(*) FROM big");
  ASSERT_EQ(count.size(), 1u);
  EXPECT_GT(count[0][0].as_integer(), 100);
  // JSON cannot carry infinities (the independent path sees null): compare them as text.
  expect_same_rows(server.url(), replica,
                   "SELECT id, hex(pad), CASE WHEN r IN (9e999, -9e999) THEN 'inf' || sign(r) ELSE r END, t, "
                   "length(CAST(t AS BLOB)) FROM big ORDER BY id");
  expect_same_rows(server.url(), replica, "SELECT a, hex(b), hex(pad) FROM wr ORDER BY a, b");
  auto inf = local_rows(replica, "SELECT r FROM big WHERE id <= 2 ORDER BY id");
  ASSERT_EQ(inf.size(), 2u);
  EXPECT_EQ(inf[0][0], Value::real(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(inf[1][0], Value::real(-std::numeric_limits<double>::infinity()));
}

TEST(Init, RefusesExistingWorkingCopyAndChangesNothing) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE t (id INTEGER PRIMARY KEY, x)", "INSERT INTO t VALUES (1, 'remote')"});
  TempDir dir;
  std::string working = dir.file("working_copy.db");
  {
    std::ofstream out(working, std::ios::binary);
    out << "my precious local data";
  }
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(working), "my precious local data");
  EXPECT_FALSE(fs::exists(dir.file("local_replica.db")));
}

TEST(Init, ForceReplacesWorkingCopyInPlace) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE t (id INTEGER PRIMARY KEY, x)", "INSERT INTO t VALUES (1, 'remote')"});
  TempDir dir;
  ASSERT_EQ(run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path()).exit_code, 0);
  std::string working = dir.file("working_copy.db");
  auto inode_before = fs::status(working).permissions();
  auto edited = run_command({"sqlite3", working, "INSERT INTO t VALUES (2, 'local')"});
  ASSERT_EQ(edited.exit_code, 0) << edited.err;
  remote_exec(server.url(), {"INSERT INTO t VALUES (3, 'remote too')"});
  auto r = run_cli({"init", "--force"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("replaced"), std::string::npos) << r.out;
  EXPECT_EQ(local_rows(working, "SELECT id, x FROM t ORDER BY id"),
            (std::vector<std::vector<Value>>{{Value::integer(1), Value::text("remote")},
                                             {Value::integer(3), Value::text("remote too")}}));
  EXPECT_EQ(fs::status(working).permissions(), inode_before);
  // The discarded local change was saved first, and the file restores it.
  std::string saved;
  for (const auto& e : fs::directory_iterator(dir.file(".turso-sync")))
    if (e.path().filename().string().rfind("discarded-", 0) == 0) saved = e.path().string();
  ASSERT_FALSE(saved.empty()) << r.out;
  EXPECT_EQ(fs::status(saved).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto restored = run_command({"sqlite3", working, ".read " + saved});
  ASSERT_EQ(restored.exit_code, 0) << restored.err;
  EXPECT_EQ(local_rows(working, "SELECT x FROM t WHERE id = 2"),
            (std::vector<std::vector<Value>>{{Value::text("local")}}));
}

TEST(Init, AgainWithoutLocalChangesNeedsNoForce) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE t (id INTEGER PRIMARY KEY, x)", "INSERT INTO t VALUES (1, 'one')"});
  TempDir dir;
  ASSERT_EQ(run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path()).exit_code, 0);
  remote_exec(server.url(), {"INSERT INTO t VALUES (2, 'two')"});
  auto again = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT count(*) FROM t"),
            (std::vector<std::vector<Value>>{{Value::integer(2)}}));
  auto edited = run_command({"sqlite3", dir.file("working_copy.db"), "UPDATE t SET x = 'mine' WHERE id = 1"});
  ASSERT_EQ(edited.exit_code, 0);
  auto refused = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_EQ(local_rows(dir.file("working_copy.db"), "SELECT x FROM t WHERE id = 1"),
            (std::vector<std::vector<Value>>{{Value::text("mine")}}));
}

// The page bootstrap's request: init sends it first and downloads the whole image through it.
constexpr const char* kPageRequest = "POST /pull-updates";

void seed_rows(const std::string& url, int doublings, int blob_bytes) {
  std::vector<std::string> setup = {
      "CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)",
      "INSERT INTO t (pad) VALUES (randomblob(" + std::to_string(blob_bytes) + "))"};
  for (int i = 0; i < doublings; ++i)
    setup.push_back("INSERT INTO t (pad) SELECT randomblob(" + std::to_string(blob_bytes) + ") FROM t");
  remote_exec(url, setup);
}

// The download is held in flight (the proxy keeps the page request waiting), so the signal provably arrives
// while init is running, on a fast machine as on a loaded one.
TEST(Init, InterruptLeavesEveryFileAsItWas) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  seed_rows(server.url(), 8, 2000);  // 256 rows, a few pages of download
  TcpProxy proxy{server.port()};
  proxy.arm_once(TcpProxy::Fault::hold, kPageRequest);
  TempDir dir;
  pid_t pid = spawn_cli({"init"}, {"TURSO_DATABASE_URL=" + proxy.url()}, dir.path());
  ASSERT_TRUE(proxy.wait_until_held()) << "init never asked for pages";
  kill(pid, SIGINT);
  int code = wait_exit_code(pid);
  EXPECT_EQ(code, 1) << "interrupted init should stop cleanly with exit 1";
  EXPECT_FALSE(fs::exists(dir.file("local_replica.db")));
  EXPECT_FALSE(fs::exists(dir.file("working_copy.db")));
  for (const auto& e : fs::recursive_directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();
}

TEST(Init, StaleTempFilesOfAKilledRunAreCleanedUp) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  seed_rows(server.url(), 8, 2000);
  TcpProxy proxy{server.port()};
  proxy.arm_once(TcpProxy::Fault::hold, kPageRequest);
  TempDir dir;
  pid_t pid = spawn_cli({"init"}, {"TURSO_DATABASE_URL=" + proxy.url()}, dir.path());
  ASSERT_TRUE(proxy.wait_until_held()) << "init never asked for pages";
  kill(pid, SIGKILL);
  wait_exit_code(pid);
  EXPECT_FALSE(fs::exists(dir.file("working_copy.db")));
  auto r = run_cli({"init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_rows(server.url(), dir.file("local_replica.db"), "SELECT count(*), sum(length(pad)) FROM t");
  for (const auto& e : fs::recursive_directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "left behind: " << e.path();
}

TEST(Init, SlowTwoHundredThousandRowsWithBoundedMemory) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  // 2^18 = 262144 rows by doubling, then trimmed to 200000 (the server has no recursive CTEs).
  std::vector<std::string> setup = {
      "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT, send_at REAL, "
      "body BLOB)",
      "INSERT INTO emails (recipient, subject, send_at, body) VALUES ('someone@example.org', 'subject', 1.5, "
      "x'00')"};
  for (int i = 0; i < 18; ++i)
    setup.push_back(
        "INSERT INTO emails (recipient, subject, send_at, body) SELECT 'user' || abs(random() % 100000) || "
        "'@example.org', 'Subject ' || hex(randomblob(8)), random() / 3.0, randomblob(16) FROM emails");
  setup.push_back("DELETE FROM emails WHERE id > 200000");
  remote_exec(server.url(), setup);
  TempDir dir;
  auto r = run_cli({"--json", "init"}, {"TURSO_DATABASE_URL=" + server.url()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"rows\":200000"), std::string::npos) << r.out;
  std::string replica = dir.file("local_replica.db");
  const std::string aggregate =
      "SELECT count(*), sum(id), sum(length(recipient)), count(DISTINCT send_at), hex(max(body)) FROM emails";
  expect_same_rows(server.url(), replica, aggregate);
  expect_same_rows(server.url(), replica, "SELECT * FROM emails WHERE id % 997 = 0 ORDER BY id");
  std::printf("[ metric ] init of 200000 rows: peak RSS %ld KiB; %s\n", r.max_rss_kib, r.out.c_str());
  EXPECT_LT(r.max_rss_kib, 100 * 1024) << "peak RSS of turso-sync init";
}

}  // namespace
}  // namespace turso_sync::testing
