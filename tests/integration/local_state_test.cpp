// Damaged local state (issue 12): a state.json that is not what turso-sync wrote, a working copy that is not
// a database, and the modes of the files that hold data. Each is detected and explained, changes nothing on
// either side, and `init --force` recovers without losing what the working copy held.
#include <gtest/gtest.h>

#include "support/tcp_proxy.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

// A remote with 50 emails, a copy initialised from it, and two unpushed local changes in the working copy.
struct EditedCopy {
  EditedCopy() {
    remote_exec(server.url(),
                {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
                 "INSERT INTO emails SELECT value, 'subject ' || value FROM generate_series(1, 50)"});
    env = {"TURSO_DATABASE_URL=" + server.url()};
    EXPECT_EQ(run_cli({"init"}, env, dir.path()).exit_code, 0);
    local_exec(working(),
               "INSERT INTO emails VALUES (500, 'my unpushed email'); "
               "UPDATE emails SET subject = 'my unpushed edit' WHERE id = 7");
  }
  std::string working() const { return dir.file("working_copy.db"); }
  std::string replica() const { return dir.file("local_replica.db"); }
  std::string state() const { return dir.file(".turso-sync/state.json"); }
  void expect_local_changes_kept() const {
    EXPECT_EQ(local_rows(working(), "PRAGMA integrity_check"), (Rows{{T("ok")}}));
    EXPECT_EQ(local_rows(working(), "SELECT subject FROM emails WHERE id IN (7, 500) ORDER BY id"),
              (Rows{{T("my unpushed edit")}, {T("my unpushed email")}}));
  }

  LocalServer server;
  TempDir dir;
  std::vector<std::string> env;
};

TEST(LocalState, ADamagedStateFileIsExplainedAndInitForceRecoversWithTheLocalChanges) {
  EditedCopy team;
  for (const std::string& damage : {std::string("{\"version\":1,\"remote_url\":\"http://127.0"),
                                    std::string(""), std::string("\x01\xff garbage")}) {
    write_text(team.state(), damage);
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"pull"}, {"push"}, {"sync"}, {"status"}, {"workflow", "--once"}}) {
      auto r = run_cli(args, team.env, team.dir.path());
      std::string what = args.front() + " with state.json '" + damage + "': " + r.out + r.err;
      EXPECT_EQ(r.exit_code, 1) << what;
      EXPECT_TRUE(contains(r.err, ".turso-sync/state.json is damaged")) << what;
      EXPECT_TRUE(contains(r.err, "turso-sync init --force")) << what;
    }
    // Nothing was pushed, the working copy still holds its changes, and the damaged file was not rewritten
    // by a command that refused.
    EXPECT_EQ(remote_rows(team.server.url(), "SELECT count(*), max(id) FROM emails"), (Rows{{I(50), I(50)}}));
    team.expect_local_changes_kept();
    EXPECT_EQ(read_text(team.state()), damage);
  }

  auto recovered = run_cli({"init", "--force"}, team.env, team.dir.path());
  ASSERT_EQ(recovered.exit_code, 0) << recovered.err;
  std::string saved = discarded_files_text(team.dir);
  ASSERT_TRUE(contains(saved, "my unpushed email")) << saved;
  local_exec(team.working(), saved);
  auto push = run_cli({"push"}, team.env, team.dir.path());
  ASSERT_EQ(push.exit_code, 0) << push.err;
  EXPECT_EQ(remote_rows(team.server.url(), "SELECT subject FROM emails WHERE id IN (1, 7, 500) ORDER BY id"),
            (Rows{{T("subject 1")}, {T("my unpushed edit")}, {T("my unpushed email")}}));
}

TEST(LocalState, AWorkingCopyThatIsNotADatabaseIsKeptAsideByInitForce) {
  EditedCopy team;
  const std::string not_a_database = "these are my notes, not SQLite\n";
  write_text(team.working(), not_a_database);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"diff"}, {"push"}, {"init"}}) {
    auto r = run_cli(args, team.env, team.dir.path());
    std::string what = args.front() + ": " + r.out + r.err;
    EXPECT_EQ(r.exit_code, args.front() == "init" ? 2 : 1) << what;
    EXPECT_TRUE(contains(r.err, "the working copy working_copy.db is damaged")) << what;
    EXPECT_TRUE(contains(r.err, "turso-sync init --force")) << what;
    EXPECT_EQ(read_text(team.working()), not_a_database) << what;
  }

  // A journal beside it must not meet the new working copy (SQLite would roll it into it). This one is junk,
  // which SQLite itself deletes on opening the file; a valid one is moved aside with it.
  write_text(team.working() + "-journal", "a journal of the damaged file\n");
  auto recovered = run_cli({"init", "--force"}, team.env, team.dir.path());
  ASSERT_EQ(recovered.exit_code, 0) << recovered.out << recovered.err;
  EXPECT_TRUE(contains(recovered.out + recovered.err, "was damaged")) << recovered.out << recovered.err;
  std::string aside;
  for (const auto& e : fs::directory_iterator(team.dir.path())) {
    std::string name = e.path().filename().string();
    if (name.rfind("working_copy.db.damaged-", 0) == 0 && name.find("-journal") == std::string::npos)
      aside = e.path().string();
  }
  ASSERT_FALSE(aside.empty()) << "the damaged working copy was not kept";
  EXPECT_EQ(read_text(aside), not_a_database);
  EXPECT_FALSE(fs::exists(team.working() + "-journal"));
  EXPECT_TRUE(contains(recovered.out + recovered.err, aside.substr(aside.rfind('/') + 1)));
  EXPECT_EQ(local_rows(team.working(), "PRAGMA integrity_check"), (Rows{{T("ok")}}));
  EXPECT_EQ(local_rows(team.working(), "SELECT count(*), max(id) FROM emails"), (Rows{{I(50), I(50)}}));
  auto diff = run_cli({"diff"}, team.env, team.dir.path());
  EXPECT_EQ(diff.exit_code, 0) << diff.err;
}

TEST(LocalState, FilesHoldingDataAreReadableByTheirOwnerOnly) {
  ::umask(022);  // what most shells give: without care, new files are readable by everyone
  for (bool pages : {true, false}) {
    SCOPED_TRACE(pages ? "page path" : "SQL path");
    LocalServer server;
    ASSERT_TRUE(server.started());
    TcpProxy proxy(server.port());
    if (!pages) proxy.answer_not_found("POST /pull-updates");
    remote_exec(server.url(), {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
                               "INSERT INTO emails VALUES (1, 'one')"});
    TempDir dir;
    std::vector<std::string> env{"TURSO_DATABASE_URL=" + proxy.url()};
    ASSERT_EQ(run_cli({"init"}, env, dir.path()).exit_code, 0);
    remote_exec(server.url(), {"INSERT INTO emails VALUES (2, 'two')"});
    local_exec(dir.file("working_copy.db"), "INSERT INTO emails VALUES (3, 'three')");
    auto pushed = run_cli({"push"}, env, dir.path());
    ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
    ASSERT_EQ(run_cli({"diff"}, env, dir.path()).exit_code, 0);
    local_exec(dir.file("working_copy.db"), "DELETE FROM emails WHERE id = 1");
    ASSERT_EQ(run_cli({"reset"}, env, dir.path()).exit_code, 0);
    fs::remove(dir.file("working_copy.db"));
    ASSERT_EQ(run_cli({"copy"}, env, dir.path()).exit_code, 0);
    int files = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir.path())) {
      if (!e.is_regular_file()) continue;
      ++files;
      EXPECT_EQ(mode_of(e.path().string()), 0600u) << e.path();
    }
    EXPECT_GE(files, 6);  // replica, working copy, diff file, state, history, a discarded file
  }
}

// A replica pulled from one database and a URL that now names another (changed on purpose, a typo, a
// database restored to an earlier point): merging would take every row of the replica that the other
// database lacks for a remote deletion. The remote's push receipts are its identity
// (sync/remote_identity.h).
TEST(LocalState, AReplicaOfAnotherDatabaseIsRefusedAndInitForceRecovers) {
  EditedCopy team;
  // A teammate pushes to the team's database: the copy learns its identity at its next pull.
  TempDir mate;
  ASSERT_EQ(run_cli({"init"}, team.env, mate.path()).exit_code, 0);
  local_exec(mate.file("working_copy.db"), "INSERT INTO emails VALUES (600, 'from a teammate')");
  ASSERT_EQ(run_cli({"push"}, team.env, mate.path()).exit_code, 0);
  auto learned = run_cli({"pull"}, team.env, team.dir.path());
  ASSERT_EQ(learned.exit_code, 0) << learned.err;

  LocalServer other;
  ASSERT_TRUE(other.started());
  remote_exec(other.url(),
              {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
               "INSERT INTO emails SELECT value, 'other ' || value FROM generate_series(1, 10)"});
  Rows other_rows = remote_rows(other.url(), "SELECT * FROM emails ORDER BY id");
  std::vector<std::string> other_env{"TURSO_DATABASE_URL=" + other.url()};
  const Rows working_before = local_rows(team.working(), "SELECT * FROM emails ORDER BY id");
  const std::string state_before = read_text(team.state());
  auto expect_refused_everywhere = [&](const std::string& when) {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"pull"},
                                               {"pull", "--on-conflict=remote"},
                                               {"push"},
                                               {"push", "--force"},
                                               {"sync"},
                                               {"workflow", "--once"}}) {
      auto r = run_cli(args, other_env, team.dir.path());
      std::string what = when + ": " + args.front() + ": " + r.out + r.err;
      EXPECT_EQ(r.exit_code, 2) << what;
      EXPECT_TRUE(contains(r.err, other.url() + " is not the database the replica")) << what;
      EXPECT_TRUE(contains(r.err, "turso-sync init --force")) << what;
    }
    // Neither side changed: no row of the other database written, no local row deleted.
    EXPECT_EQ(remote_rows(other.url(), "SELECT * FROM emails ORDER BY id"), other_rows) << when;
    EXPECT_EQ(local_rows(team.working(), "SELECT * FROM emails ORDER BY id"), working_before) << when;
    EXPECT_EQ(read_text(team.state()), state_before) << when;
  };
  expect_refused_everywhere("a database nobody pushed to");
  // The other database has receipts of its own (someone pushed there): still another database.
  TempDir stranger;
  ASSERT_EQ(run_cli({"init"}, other_env, stranger.path()).exit_code, 0);
  local_exec(stranger.file("working_copy.db"), "INSERT INTO emails VALUES (11, 'other 11')");
  ASSERT_EQ(run_cli({"push"}, other_env, stranger.path()).exit_code, 0);
  other_rows = remote_rows(other.url(), "SELECT * FROM emails ORDER BY id");
  expect_refused_everywhere("a database with receipts of its own");

  // The same database through another address (a proxy here) is the same database.
  TcpProxy proxy(team.server.port());
  remote_exec(team.server.url(), {"UPDATE emails SET subject = 'edited remotely' WHERE id = 3"});
  auto via_proxy = run_cli({"sync"}, {"TURSO_DATABASE_URL=" + proxy.url()}, team.dir.path());
  EXPECT_EQ(via_proxy.exit_code, 0) << via_proxy.out << via_proxy.err;
  EXPECT_EQ(remote_rows(team.server.url(), "SELECT subject FROM emails WHERE id IN (3, 7, 500) ORDER BY id"),
            (Rows{{T("edited remotely")}, {T("my unpushed edit")}, {T("my unpushed email")}}));

  // init --force moves the copy to the other database; from then on it is that database's copy.
  local_exec(team.working(), "INSERT INTO emails VALUES (700, 'written before the move')");
  auto moved = run_cli({"init", "--force"}, other_env, team.dir.path());
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  EXPECT_TRUE(contains(discarded_files_text(team.dir), "written before the move"));
  EXPECT_EQ(local_rows(team.working(), "SELECT * FROM emails ORDER BY id"),
            remote_rows(other.url(), "SELECT * FROM emails ORDER BY id"));
  local_exec(team.working(), "INSERT INTO emails VALUES (12, 'mine on the other database')");
  auto pushed = run_cli({"sync"}, other_env, team.dir.path());
  EXPECT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(remote_rows(other.url(), "SELECT count(*) FROM emails"), (Rows{{I(12)}}));
  // And the team's database is now the other one.
  auto back = run_cli({"pull"}, team.env, team.dir.path());
  EXPECT_EQ(back.exit_code, 2) << back.out << back.err;
}

// A remote nobody pushed to through turso-sync has no receipt: whether it is still the replica's database is
// told by what the replica knows of it (sync/remote_lineage.h), before anything is merged.
TEST(LocalState, ARemoteReplacedWithoutReceiptsIsRefusedByWhatTheReplicaKnows) {
  EditedCopy team;
  const Rows working_before = local_rows(team.working(), "SELECT * FROM emails ORDER BY id");
  auto expect_refused = [&](const LocalServer& other, const std::string& why) {
    Rows other_rows = remote_rows(other.url(), "SELECT * FROM emails ORDER BY id");
    for (const char* command : {"pull", "sync", "push"}) {
      auto r = run_cli({command}, {"TURSO_DATABASE_URL=" + other.url()}, team.dir.path());
      std::string what = std::string(command) + ": " + r.out + r.err;
      EXPECT_EQ(r.exit_code, 2) << what;
      EXPECT_TRUE(contains(r.err, other.url() + " does not look like the database the replica")) << what;
      EXPECT_TRUE(contains(r.err, why)) << what;
      EXPECT_TRUE(contains(r.err, "turso-sync init --force")) << what;
    }
    EXPECT_EQ(remote_rows(other.url(), "SELECT * FROM emails ORDER BY id"), other_rows);
    EXPECT_EQ(local_rows(team.working(), "SELECT * FROM emails ORDER BY id"), working_before);
  };

  // Another database of the same schema (the URL pointed elsewhere, or the database recreated): none of
  // the replica's rows is there unchanged. Before, its rows were merged as a teammate's updates.
  LocalServer other;
  ASSERT_TRUE(other.started());
  remote_exec(other.url(),
              {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
               "INSERT INTO emails SELECT value, 'other ' || value FROM generate_series(1, 10)"});
  expect_refused(other, "none of the replica's rows");

  // The team's database moves on (a migration, then a row), through pages and through SQL: the same
  // database, whatever path the pull takes.
  remote_exec(team.server.url(), {"CREATE INDEX emails_subject ON emails (subject)",
                                  "UPDATE emails SET subject = 'edited remotely' WHERE id = 3"});
  auto pulled = run_cli({"pull"}, team.env, team.dir.path());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  TcpProxy sql_only(team.server.port());
  sql_only.answer_not_found("/pull-updates");
  remote_exec(team.server.url(), {"UPDATE emails SET subject = 'edited again' WHERE id = 4"});
  auto over_sql = run_cli({"pull"}, {"TURSO_DATABASE_URL=" + sql_only.url()}, team.dir.path());
  ASSERT_EQ(over_sql.exit_code, 0) << over_sql.out << over_sql.err;
  EXPECT_EQ(local_rows(team.working(), "SELECT subject FROM emails WHERE id IN (3, 4) ORDER BY id"),
            (Rows{{T("edited remotely")}, {T("edited again")}}));
  team.expect_local_changes_kept();
  auto pages = run_cli({"pull"}, team.env, team.dir.path());  // back to a page image of the team's database
  ASSERT_EQ(pages.exit_code, 0) << pages.out << pages.err;

  // The team's database as it was before the migration (restored from a backup): it shares the rows, but
  // its schema version is behind the replica's.
  LocalServer restored;
  ASSERT_TRUE(restored.started());
  remote_exec(restored.url(),
              {"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
               "INSERT INTO emails SELECT value, 'subject ' || value FROM generate_series(1, 50)"});
  const Rows working_now = local_rows(team.working(), "SELECT * FROM emails ORDER BY id");
  auto r = run_cli({"pull"}, {"TURSO_DATABASE_URL=" + restored.url()}, team.dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "schema version went back")) << r.err;
  EXPECT_EQ(local_rows(team.working(), "SELECT * FROM emails ORDER BY id"), working_now);
}

}  // namespace
}  // namespace turso_sync::testing
