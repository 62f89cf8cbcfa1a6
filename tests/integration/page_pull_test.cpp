// The page pull path (`POST /pull-updates`) against a real local server: bootstrap, incremental pulls over
// every kind of remote change, and every way the server can make pages unusable (a WAL checkpoint, truncated
// or garbled answers, no endpoint). After each pull the replica passes integrity_check and equals the remote,
// read through the independent path (hrana_query.py); local edits in the working copy survive.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "support/sync_checks.h"
#include "support/tcp_proxy.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

// The pull's JSON report, after asserting success.
std::string pull_json(const Copy& copy) {
  auto r = copy.run({"--json", "pull"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return r.out;
}

// A number field of a flat JSON text ("bytes_received":123).
int64_t json_number(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + key.size() + 3));
}

// Rows in a canonical order (by their rendering), whatever the table's key.
Rows sorted(Rows rows) {
  std::sort(rows.begin(), rows.end(), [](const std::vector<Value>& x, const std::vector<Value>& y) {
    return render_rows({x}) < render_rows({y});
  });
  return rows;
}

// The replica equals the remote: the schema (every object, its SQL text) and every row of every user table.
void expect_replica_is_remote(const std::string& url, const std::string& replica) {
  expect_integrity_ok(replica);
  const std::string schema =
      "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name";
  auto remote_schema = remote_rows(url, schema);
  EXPECT_EQ(remote_schema, local_rows(replica, schema)) << render_rows(remote_schema);
  auto tables =
      remote_rows(url,
                  "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                  "AND name NOT LIKE 'turso_sync_%' ORDER BY name");
  for (const auto& t : tables) {
    std::string name = t[0].as_bytes();
    std::string sql = "SELECT * FROM \"" + name + "\"";
    auto remote = sorted(remote_rows(url, sql));
    auto local = sorted(local_rows(replica, sql));
    EXPECT_EQ(remote.size(), local.size()) << sql;
    EXPECT_TRUE(remote == local) << sql << "\nremote:\n"
                                 << render_rows(remote).substr(0, 2000) << "local:\n"
                                 << render_rows(local).substr(0, 2000);
  }
}

std::string file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

TEST(PagePull, BootstrapThenIncrementalPullsStayExact) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(
      server.url(),
      {"CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT, at REAL)",
       "INSERT INTO emails VALUES (1, 'a@x', 'one', 1.5), (2, 'b@x', 'two', 0.1), (3, 'c@x', NULL, -0.5)",
       "CREATE TABLE kv (k TEXT, n INTEGER, v, PRIMARY KEY (k, n)) WITHOUT ROWID",
       "INSERT INTO kv VALUES ('a', 1, 'x'), ('b', 2, x'00ff')",
       "CREATE TABLE old (id INTEGER PRIMARY KEY, x)", "INSERT INTO old VALUES (1, 'gone soon')",
       "CREATE TABLE mine (id INTEGER PRIMARY KEY, note TEXT)"});
  Copy copy{TempDir(), server.url()};
  auto init = copy.run({"--json", "init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_TRUE(contains(init.out, "\"protocol\":\"pages\"")) << init.out;
  EXPECT_TRUE(contains(init.out, "\"tables\":4")) << init.out;
  EXPECT_TRUE(contains(init.out, "\"rows\":6")) << init.out;
  EXPECT_TRUE(contains(copy.state(), "\"protocol\":\"pages\"")) << copy.state();
  expect_replica_is_remote(server.url(), copy.replica());
  // A local edit that every pull must keep.
  local_exec(copy.wc(), "INSERT INTO mine VALUES (1, 'local only')");

  const std::vector<std::vector<std::string>> steps = {
      {"INSERT INTO emails VALUES (4, 'd@x', 'four', 4.0), (5, 'e@x', 'five', 5.0)"},
      {"UPDATE emails SET subject = 'ONE', at = 0.30000000000000004 WHERE id = 1",
       // The server can only insert into a WITHOUT ROWID table.
       "INSERT INTO kv VALUES ('a', 2, 'y')"},
      {"DELETE FROM emails WHERE id IN (2, 3)"},
      {"ALTER TABLE emails ADD COLUMN sent INTEGER DEFAULT 0",
       "CREATE INDEX emails_due ON emails (at, sent)"},
      {"DROP TABLE old", "CREATE TABLE fresh (id INTEGER PRIMARY KEY, body BLOB)",
       "INSERT INTO fresh VALUES (1, x'0102')"},
      // Rows that spill to overflow pages, then a change inside one of them.
      {"INSERT INTO fresh SELECT id + 10, randomblob(20000) FROM emails",
       "INSERT INTO emails (recipient, subject) VALUES ('long@x', hex(randomblob(6000)))"},
      {"UPDATE fresh SET body = randomblob(30000) WHERE id = 11", "DELETE FROM fresh WHERE id = 14"},
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    remote_exec(server.url(), steps[i]);
    std::string out = pull_json(copy);
    EXPECT_TRUE(contains(out, "\"protocol\":\"pages\"")) << out;
    EXPECT_TRUE(contains(out, "\"protocol_reason\":\"incremental page pull\"")) << out;
    EXPECT_TRUE(contains(out, "\"up_to_date\":false")) << out;
    expect_replica_is_remote(server.url(), copy.replica());
    expect_integrity_ok(copy.wc());
    EXPECT_EQ(local_rows(copy.wc(), "SELECT * FROM mine"), (Rows{{I(1), T("local only")}}));
    // The working copy has the remote's rows too.
    EXPECT_EQ(local_rows(copy.wc(), "SELECT * FROM emails ORDER BY id"),
              remote_rows(server.url(), "SELECT * FROM emails ORDER BY id"));
  }
  EXPECT_TRUE(local_rows(copy.wc(), "SELECT name FROM sqlite_schema WHERE name = 'old'").empty());

  // Nothing new: up to date after one small request; no file rewritten.
  std::string replica_before = file_identity(copy.replica());
  std::string working_before = file_identity(copy.wc());
  std::string out = pull_json(copy);
  EXPECT_TRUE(contains(out, "\"up_to_date\":true")) << out;
  EXPECT_TRUE(contains(out, "\"protocol\":\"pages\"")) << out;
  EXPECT_LE(json_number(out, "requests"), 2) << out;
  EXPECT_LT(json_number(out, "bytes_received"), 20 * 1024) << out;
  EXPECT_EQ(file_identity(copy.replica()), replica_before);
  EXPECT_EQ(file_identity(copy.wc()), working_before);

  auto status = copy.run({"--json", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_TRUE(contains(status.out, "\"pull_path\":\"pages\"")) << status.out;
  EXPECT_TRUE(contains(status.out, "\"pull_path_reason\":\"incremental page pull\"")) << status.out;
  std::string history = read_text(copy.dir.file(".turso-sync/history.jsonl"));
  EXPECT_TRUE(contains(history, "\"pull_path\":\"pages\"")) << history;
  EXPECT_FALSE(contains(history, "\"pull_path\":\"sql\"")) << history;
}

std::string inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? std::to_string(st.st_ino) : "missing";
}

// A remote table `t` of 2^doublings rows of 3000 bytes each: a row per leaf page.
void seed_padded_rows(const std::string& url, int doublings) {
  remote_exec(url, {"CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT, pad BLOB)",
                    "INSERT INTO t (x, pad) VALUES ('a', randomblob(3000))"});
  for (int i = 0; i < doublings; ++i)
    remote_exec(url, {"INSERT INTO t (x, pad) SELECT x, randomblob(3000) FROM t"});
}

// An incremental pull writes its image into the spare (the replica before the last pull) instead of copying
// the whole replica: the two files take turns, so the replica's inode alternates; a spare that changed since
// it was recorded is never used (a full copy instead); every result stays exact.
TEST(PagePull, IncrementalPullsRecycleTheSpareImageAndStayExact) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  seed_padded_rows(server.url(), 6);
  Copy copy{TempDir(), server.url()};
  ASSERT_EQ(copy.run({"init"}).exit_code, 0);
  const std::string spare = copy.dir.file(".turso-sync/replica.spare");
  std::string first = inode_of(copy.replica());
  // init leaves a spare too (a copy), so the first pull writes only pages as well.
  ASSERT_TRUE(fs::exists(spare));
  EXPECT_NE(inode_of(spare), first);
  EXPECT_EQ(read_text(spare), read_text(copy.replica()));
  std::string made_by_init = inode_of(spare);

  remote_exec(server.url(), {"UPDATE t SET x = 'b' WHERE id = 3"});
  pull_json(copy);
  expect_replica_is_remote(server.url(), copy.replica());
  std::string second = inode_of(copy.replica());
  EXPECT_EQ(second, made_by_init);
  EXPECT_EQ(inode_of(spare), first) << "the replica before the pull is kept as the spare";

  // The next pulls reuse the spare: the replica's inode alternates, whatever the change (rows, pages added
  // past the end, pages freed).
  const std::vector<std::string> changes = {
      "UPDATE t SET x = 'c' WHERE id = 40",
      "INSERT INTO t (x, pad) SELECT 'new', randomblob(3000) FROM t WHERE id < 20",
      "DELETE FROM t WHERE id IN (3, 33, 63)", "UPDATE t SET pad = NULL WHERE id < 10"};
  for (const std::string& change : changes) {
    SCOPED_TRACE(change);
    remote_exec(server.url(), {change});
    std::string before = inode_of(copy.replica());
    std::string spare_before = inode_of(spare);
    pull_json(copy);
    expect_replica_is_remote(server.url(), copy.replica());
    EXPECT_EQ(inode_of(copy.replica()), spare_before) << "the image was written into the spare";
    EXPECT_EQ(inode_of(spare), before);
    EXPECT_EQ(local_rows(copy.wc(), "SELECT id, x, hex(pad) FROM t ORDER BY id"),
              remote_rows(server.url(), "SELECT id, x, hex(pad) FROM t ORDER BY id"));
  }

  // A pull that rewrote most pages keeps no spare (copying the replica is as cheap); the next pull copies,
  // and the one after reuses a spare again.
  remote_exec(server.url(), {"UPDATE t SET x = 'everywhere', pad = randomblob(2900)"});
  pull_json(copy);
  expect_replica_is_remote(server.url(), copy.replica());
  EXPECT_FALSE(fs::exists(spare));
  for (int i = 0; i < 2; ++i) {
    remote_exec(server.url(), {"UPDATE t SET x = 'again " + std::to_string(i) + "' WHERE id = 2"});
    std::string spare_before = inode_of(spare);
    pull_json(copy);
    expect_replica_is_remote(server.url(), copy.replica());
    if (i == 1) {
      EXPECT_EQ(inode_of(copy.replica()), spare_before);
    }
  }

  // A spare written by anything else since it was recorded is not used: a full copy, still exact.
  {
    std::FILE* f = std::fopen(spare.c_str(), "r+b");
    ASSERT_NE(f, nullptr);
    std::fseek(f, 4096 * 2, SEEK_SET);
    std::fputs("not the replica's bytes", f);
    std::fseek(f, 0, SEEK_END);  // and a page more: changed whatever the clock's granularity
    std::fputs(std::string(4096, 'x').c_str(), f);
    std::fclose(f);
  }
  std::string spare_inode = inode_of(spare);
  remote_exec(server.url(), {"UPDATE t SET x = 'after a tampered spare' WHERE id = 1"});
  pull_json(copy);
  expect_replica_is_remote(server.url(), copy.replica());
  EXPECT_NE(inode_of(copy.replica()), spare_inode);
  EXPECT_EQ(local_rows(copy.wc(), "SELECT x FROM t WHERE id = 1"), (Rows{{T("after a tampered spare")}}));
}

// init does not write its spare to disk (it is a cache, and its write-back would delay init): its record
// names the boot, and after a reboot, when the spare may have lost the bytes the OS never wrote while its
// inode, size and mtime (the fingerprint) still match, the pull copies the replica instead.
TEST(PagePull, ASpareInitLeftInThePageCacheIsUsedOnlyInTheBootThatWroteIt) {
  const std::string boot = read_text("/proc/sys/kernel/random/boot_id");
  if (boot.size() < 36) GTEST_SKIP() << "no boot id on this system: init fsyncs its spare";
  LocalServer server;
  ASSERT_TRUE(server.started());
  seed_padded_rows(server.url(), 5);
  Copy copy{TempDir(), server.url()};
  ASSERT_EQ(copy.run({"init"}).exit_code, 0);
  const std::string spare = copy.dir.file(".turso-sync/replica.spare");
  const std::string record = copy.dir.file(".turso-sync/replica.spare.json");
  const std::string this_boot = "\"boot_id\":\"" + boot.substr(0, 36) + "\"";
  std::string text = read_text(record);
  ASSERT_NE(text.find(this_boot), std::string::npos) << text;

  // A reboot that lost a page of the spare (a leaf the next pull does not rewrite): zeros where the OS never
  // wrote, the fingerprint unchanged. Used, it would make a damaged replica that the pull does not notice.
  struct stat before {};
  ASSERT_EQ(::stat(spare.c_str(), &before), 0);
  std::string bytes = read_text(spare);
  ASSERT_GT(bytes.size(), 6u * 4096);
  bytes.replace(5 * 4096, 4096, std::string(4096, '\0'));
  write_text(spare, bytes);
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, spare.c_str(), times, 0), 0);
  write_text(record, text.replace(text.find(this_boot), this_boot.size(),
                                  "\"boot_id\":\"00000000-0000-0000-0000-000000000000\""));

  std::string spare_inode = inode_of(spare);
  remote_exec(server.url(), {"UPDATE t SET x = 'after a reboot' WHERE id = 1"});
  pull_json(copy);
  expect_replica_is_remote(server.url(), copy.replica());
  EXPECT_NE(inode_of(copy.replica()), spare_inode) << "the spare of another boot was used";
  EXPECT_EQ(local_rows(copy.wc(), "SELECT count(*), max(x) FROM t"),
            remote_rows(server.url(), "SELECT count(*), max(x) FROM t"));
  // The spare that pull kept is the old replica, on disk since it was made: its record names no boot.
  EXPECT_EQ(read_text(record).find("boot_id"), std::string::npos);
}

// After a checkpoint the server's revision restarts and it serves only the pages written since: the pull
// must notice (revision backwards, or the quiet case: the new WAL already past the stored revision) and fall
// back to the SQL path with exact results.
TEST(PagePull, ServerCheckpointBetweenPullsFallsBackToSqlExactly) {
  for (bool quiet_case : {false, true}) {
    SCOPED_TRACE(quiet_case ? "new WAL past the stored revision" : "revision moved backwards");
    LocalServer server;
    ASSERT_TRUE(server.started());
    remote_exec(server.url(),
                {"CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)", "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
                 "CREATE TABLE u (id INTEGER PRIMARY KEY)"});
    Copy copy{TempDir(), server.url()};
    ASSERT_EQ(copy.run({"init"}).exit_code, 0);
    ASSERT_TRUE(contains(copy.state(), "\"protocol\":\"pages\"")) << copy.state();
    local_exec(copy.wc(), "INSERT INTO u VALUES (100)");
    remote_exec(server.url(), {"PRAGMA wal_checkpoint(TRUNCATE)"});
    std::vector<std::string> writes = {"UPDATE t SET x = 'A' WHERE id = 1"};
    if (quiet_case)  // more frames than the stored revision, so the revision does not move backwards
      for (int i = 0; i < 12; ++i)
        writes.push_back("INSERT INTO t (x) VALUES ('w" + std::to_string(i) + "')");
    remote_exec(server.url(), writes);
    std::string out = pull_json(copy);
    EXPECT_TRUE(contains(out, "\"protocol\":\"sql\"")) << out;
    EXPECT_TRUE(contains(out, "pages not available")) << out;
    expect_replica_is_remote(server.url(), copy.replica());
    EXPECT_EQ(local_rows(copy.wc(), "SELECT * FROM t ORDER BY id"),
              remote_rows(server.url(), "SELECT * FROM t ORDER BY id"));
    EXPECT_EQ(local_rows(copy.wc(), "SELECT * FROM u"), (Rows{{I(100)}}));
    auto status = copy.run({"--json", "status"});
    EXPECT_TRUE(contains(status.out, "\"pull_path\":\"sql\"")) << status.out;
    EXPECT_TRUE(contains(status.out, "incomplete image")) << status.out;
    // And the SQL path goes on working; one request for page 1 tells the image is still partial.
    remote_exec(server.url(), {"DELETE FROM t WHERE id = 2"});
    out = pull_json(copy);
    EXPECT_TRUE(contains(out, "\"protocol\":\"sql\"")) << out;
    EXPECT_TRUE(contains(out, "page 1 is not in the server's WAL")) << out;
    expect_replica_is_remote(server.url(), copy.replica());
  }
}

TEST(PagePull, TruncatedOrGarbledPageAnswersAreNeverWritten) {
  for (auto fault : {TcpProxy::Fault::truncate_response, TcpProxy::Fault::garble_response}) {
    SCOPED_TRACE(fault == TcpProxy::Fault::truncate_response ? "truncated" : "garbled");
    LocalServer server;
    ASSERT_TRUE(server.started());
    remote_exec(server.url(), {"CREATE TABLE t (id INTEGER PRIMARY KEY, pad BLOB)",
                               "INSERT INTO t VALUES (1, randomblob(9000)), (2, randomblob(9000))"});
    TcpProxy proxy{server.port()};
    Copy copy{TempDir(), proxy.url()};
    // Bootstrap: the page answer is broken, init takes the SQL path.
    proxy.arm_once(fault, "POST /pull-updates");
    auto init = copy.run({"--json", "init"});
    ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
    EXPECT_TRUE(proxy.armed_fault_fired());
    EXPECT_TRUE(contains(init.out, "\"protocol\":\"sql\"")) << init.out;
    expect_replica_is_remote(server.url(), copy.replica());
    // The next pull bootstraps by pages (the replica was made by SQL).
    remote_exec(server.url(), {"INSERT INTO t VALUES (3, randomblob(9000))"});
    std::string out = pull_json(copy);
    EXPECT_TRUE(contains(out, "\"protocol\":\"pages\"")) << out;
    EXPECT_TRUE(contains(out, "page bootstrap")) << out;
    expect_replica_is_remote(server.url(), copy.replica());
    // Incremental: the changed pages arrive broken; the pull re-bootstraps by pages.
    remote_exec(server.url(), {"UPDATE t SET pad = randomblob(100) WHERE id = 1"});
    proxy.arm_once(fault, "POST /pull-updates");
    out = pull_json(copy);
    EXPECT_TRUE(proxy.armed_fault_fired());
    EXPECT_TRUE(contains(out, "\"protocol\":\"pages\"")) << out;
    EXPECT_TRUE(contains(out, "incremental page pull not possible")) << out;
    expect_replica_is_remote(server.url(), copy.replica());
    EXPECT_EQ(local_rows(copy.wc(), "SELECT id, hex(pad) FROM t ORDER BY id"),
              remote_rows(server.url(), "SELECT id, hex(pad) FROM t ORDER BY id"));
    for (const auto& e : fs::directory_iterator(copy.dir.path()))
      EXPECT_FALSE(contains(e.path().filename().string(), ".tmp-")) << e.path();
  }
}

// A page answer whose framing is intact but one page is damaged (its header byte inverted): the image's
// structural check refuses it, init takes the SQL path and says why, and the next pull bootstraps by pages.
TEST(PagePull, ADamagedPageInAWellFormedAnswerIsRefusedByTheImageCheck) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  std::vector<std::string> seed = {"CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
                                   "INSERT INTO t (v) VALUES ('a row of some length')"};
  for (int i = 0; i < 11; ++i) seed.push_back("INSERT INTO t (v) SELECT v || id FROM t");
  remote_exec(server.url(), seed);
  TcpProxy proxy{server.port()};
  Copy copy{TempDir(), proxy.url()};
  proxy.arm_once(TcpProxy::Fault::damage_last_page, "POST /pull-updates");
  auto init = copy.run({"--json", "init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_TRUE(proxy.armed_fault_fired());
  EXPECT_TRUE(contains(init.out, "\"protocol\":\"sql\"")) << init.out;
  EXPECT_TRUE(contains(init.out, "not a sound database")) << init.out;
  expect_replica_is_remote(server.url(), copy.replica());
  remote_exec(server.url(), {"INSERT INTO t (v) VALUES ('one more')"});
  std::string out = pull_json(copy);
  EXPECT_TRUE(contains(out, "page bootstrap")) << out;
  expect_replica_is_remote(server.url(), copy.replica());
  EXPECT_EQ(local_rows(copy.wc(), "SELECT count(*) FROM t"),
            remote_rows(server.url(), "SELECT count(*) FROM t"));
}

TEST(PagePull, ServerWithoutPageEndpointKeepsTheSqlPath) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE t (id INTEGER PRIMARY KEY, x)", "INSERT INTO t VALUES (1, 'a')"});
  TcpProxy proxy{server.port()};
  proxy.answer_not_found("POST /pull-updates");
  Copy copy{TempDir(), proxy.url()};
  auto init = copy.run({"--json", "init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  EXPECT_TRUE(contains(init.out, "\"protocol\":\"sql\"")) << init.out;
  EXPECT_TRUE(contains(init.out, "HTTP 404")) << init.out;
  local_exec(copy.wc(), "INSERT INTO t VALUES (10, 'mine')");
  remote_exec(server.url(), {"INSERT INTO t VALUES (2, 'b')"});
  std::string out = pull_json(copy);
  EXPECT_TRUE(contains(out, "\"protocol\":\"sql\"")) << out;
  expect_replica_is_remote(server.url(), copy.replica());
  EXPECT_EQ(local_rows(copy.wc(), "SELECT * FROM t ORDER BY id"),
            (Rows{{I(1), T("a")}, {I(2), T("b")}, {I(10), T("mine")}}));
  auto status = copy.run({"status"});
  EXPECT_TRUE(contains(status.out, "HTTP 404")) << status.out;
}

// The server lower-cases names in its sqlite_schema; a working copy made from its pages carries SQLite's own
// names, so that the application's DROP TABLE (which matches sqlite_schema by exact text) leaves nothing
// behind, as on a working copy made by the SQL path.
TEST(PagePull, MixedCaseNamesOfAPageImageAreSQLitesInTheWorkingCopy) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(), {"CREATE TABLE \"T1 Accounts\" (id INTEGER PRIMARY KEY, email TEXT UNIQUE)",
                             "CREATE TABLE \"Items\" (id INTEGER PRIMARY KEY, owner INTEGER)",
                             "CREATE INDEX \"Ix Owner\" ON \"Items\" (owner)",
                             "INSERT INTO \"T1 Accounts\" VALUES (1, 'a@x')"});
  Copy copy{TempDir(), server.url()};
  auto init = copy.run({"--json", "init"});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  ASSERT_TRUE(contains(init.out, "\"protocol\":\"pages\"")) << init.out;
  EXPECT_EQ(local_rows(copy.wc(), "SELECT type, name, tbl_name FROM sqlite_schema ORDER BY rowid"),
            (Rows{{T("table"), T("T1 Accounts"), T("T1 Accounts")},
                  {T("index"), T("sqlite_autoindex_T1 Accounts_1"), T("T1 Accounts")},
                  {T("table"), T("Items"), T("Items")},
                  {T("index"), T("Ix Owner"), T("Items")}}));
  expect_integrity_ok(copy.wc());
  local_exec(copy.wc(), "DROP TABLE \"Items\"");
  EXPECT_EQ(local_rows(copy.wc(), "SELECT count(*) FROM sqlite_schema WHERE tbl_name LIKE 'items'"),
            (Rows{{I(0)}}))
      << "DROP TABLE left stale schema rows";
  expect_integrity_ok(copy.wc());
}

// A server restart keeps its WAL and its revision: pulls stay incremental and exact.
TEST(PagePull, ServerRestartKeepsIncrementalPullsExact) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)", "INSERT INTO t VALUES (1, 'a')"});
  Copy copy{TempDir(), server.url()};
  ASSERT_EQ(copy.run({"init"}).exit_code, 0);
  remote_exec(server.url(), {"INSERT INTO t VALUES (2, 'b')"});
  server.restart();
  ASSERT_TRUE(server.started());
  std::string out = pull_json(copy);
  EXPECT_TRUE(contains(out, "\"protocol_reason\":\"incremental page pull\"")) << out;
  expect_replica_is_remote(server.url(), copy.replica());
  server.restart();
  ASSERT_TRUE(server.started());
  out = pull_json(copy);
  EXPECT_TRUE(contains(out, "\"up_to_date\":true")) << out;
  remote_exec(server.url(), {"UPDATE t SET x = 'B' WHERE id = 2"});
  out = pull_json(copy);
  EXPECT_TRUE(contains(out, "\"protocol_reason\":\"incremental page pull\"")) << out;
  expect_replica_is_remote(server.url(), copy.replica());
  EXPECT_EQ(local_rows(copy.wc(), "SELECT * FROM t ORDER BY id"), (Rows{{I(1), T("a")}, {I(2), T("B")}}));
}

// A pull killed while its page request is in flight (held by the proxy, so the kill provably lands mid-pull)
// leaves both files sound; the next pull finishes and nothing is lost.
TEST(PagePull, KilledIncrementalPullIsFinishedByTheNextOne) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(server.url(),
              {"CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)", "INSERT INTO t VALUES (1, 'a')"});
  TcpProxy proxy{server.port()};
  Copy copy{TempDir(), proxy.url()};
  ASSERT_EQ(copy.run({"init"}).exit_code, 0);
  local_exec(copy.wc(), "INSERT INTO t VALUES (50, 'mine')");
  remote_exec(server.url(), {"INSERT INTO t VALUES (2, 'b')", "UPDATE t SET x = 'A' WHERE id = 1"});
  proxy.arm_once(TcpProxy::Fault::hold, "POST /pull-updates");
  pid_t pid = spawn_cli({"pull"}, {"TURSO_DATABASE_URL=" + proxy.url()}, copy.dir.path().string());
  ASSERT_TRUE(proxy.wait_until_held()) << "pull never asked for pages";
  kill(pid, SIGKILL);
  wait_exit_code(pid);
  expect_integrity_ok(copy.replica());
  expect_integrity_ok(copy.wc());
  EXPECT_EQ(local_rows(copy.wc(), "SELECT * FROM t ORDER BY id"), (Rows{{I(1), T("a")}, {I(50), T("mine")}}));
  std::string out = pull_json(copy);
  EXPECT_TRUE(contains(out, "\"protocol\":\"pages\"")) << out;
  expect_replica_is_remote(server.url(), copy.replica());
  EXPECT_EQ(local_rows(copy.wc(), "SELECT * FROM t ORDER BY id"),
            (Rows{{I(1), T("A")}, {I(2), T("b")}, {I(50), T("mine")}}));
  // The push of the local row goes through, and the copy is in line afterwards.
  auto pushed = copy.run({"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  expect_replica_is_remote(server.url(), copy.replica());
  EXPECT_EQ(copy.run({"diff", "--exit-code"}).exit_code, 0);
}

// Loose bytes-on-the-wire bound (the exact goals live in `make bench`): a 10-row pull on a remote of a few
// MB moves less than 10% of it.
TEST(PagePull, TenRowPullMovesAFractionOfTheRemote) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  std::vector<std::string> setup = {"CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, pad BLOB)",
                                    "INSERT INTO t (n, pad) VALUES (0, randomblob(1000))"};
  for (int i = 0; i < 12; ++i) setup.push_back("INSERT INTO t (n, pad) SELECT n, randomblob(1000) FROM t");
  remote_exec(server.url(), setup);  // 4096 rows, ~4.5 MB
  Copy copy{TempDir(), server.url()};
  ASSERT_EQ(copy.run({"init"}).exit_code, 0);
  auto replica_size = fs::file_size(copy.replica());
  ASSERT_GT(replica_size, 4u << 20);
  remote_exec(server.url(), {"UPDATE t SET n = n + 1 WHERE id % 400 = 7"});  // 10 rows
  std::string out = pull_json(copy);
  EXPECT_TRUE(contains(out, "\"protocol\":\"pages\"")) << out;
  int64_t bytes = json_number(out, "bytes_received");
  EXPECT_GT(bytes, 0) << out;
  EXPECT_LT(static_cast<uint64_t>(bytes), replica_size / 10) << out;
  std::printf("[ metric ] 10-row pull: %lld bytes on a %llu-byte remote\n", static_cast<long long>(bytes),
              static_cast<unsigned long long>(replica_size));
  expect_replica_is_remote(server.url(), copy.replica());
}

}  // namespace
}  // namespace turso_sync::testing
