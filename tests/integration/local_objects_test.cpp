// Local objects (issue 19; README "Tables that stay local"): virtual tables with their shadow tables, the
// triggers that write to them, and the tables of TURSO_SYNC_LOCAL_TABLES stay on their copy: never pushed,
// never pulled over, left out of diff; `status` lists them. The rows an FTS index covers do sync, and each
// copy's index follows the rows its copy receives. Before, a pulled note was missing from the puller's
// full-text index, and a table meant to stay local was pushed like any other.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <set>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

// The standard FTS5 recipe: an external-content index of notes, kept by triggers.
constexpr const char* kFtsRecipe =
    "CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes', content_rowid='id');"
    "CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN "
    "  INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body); END;"
    "CREATE TRIGGER notes_ad AFTER DELETE ON notes BEGIN "
    "  INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.id, old.body); END;"
    "CREATE TRIGGER notes_au AFTER UPDATE ON notes BEGIN "
    "  INSERT INTO notes_fts(notes_fts, rowid, body) VALUES ('delete', old.id, old.body);"
    "  INSERT INTO notes_fts(rowid, body) VALUES (new.id, new.body); END;";

Rows matches(const std::string& path, const std::string& word) {
  return local_rows(path, "SELECT rowid FROM notes_fts WHERE notes_fts MATCH '" + word + "' ORDER BY rowid");
}

TEST(LocalObjects, FullTextIndexStaysLocalAndFollowsPulledRows) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"}));
  const std::string& url = team.server.url();
  const TempDir &a = team.a, &b = team.b;
  const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
  local_exec(wa, kFtsRecipe);
  local_exec(wa, "INSERT INTO notes (body) VALUES ('apple from a')");
  local_exec(wb, "INSERT INTO notes (body) VALUES ('banana from b')");  // id 1 too: moved by B's pull

  auto r = run_cli({"push"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_cli({"sync"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run_cli({"pull"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // The remote holds the notes but neither the index, its shadow tables nor its triggers.
  EXPECT_EQ(remote_rows(url, "SELECT id, body FROM notes ORDER BY id"),
            (Rows{{I(1), T("apple from a")}, {I(2), T("banana from b")}}));
  EXPECT_EQ(remote_count(url,
                         "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'notes_fts%' OR type = "
                         "'trigger'"),
            0);
  // Inserts still work on the remote (a trigger pushed alone would fail them), and the teammate's copy got
  // no trigger either.
  remote_exec(url, {"INSERT INTO notes (id, body) VALUES (3, 'cherry from the remote')"});
  r = run_cli({"pull"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(
      local_count(wb, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' OR name LIKE 'notes%'"), 1);
  local_exec(wb, "INSERT INTO notes (body) VALUES ('date from b')");

  // A's index finds what A's copy received: B's note (moved to id 2 by B's pull) and the remote's.
  r = run_cli({"pull"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(matches(wa, "banana"), (Rows{{I(2)}}));
  EXPECT_EQ(matches(wa, "cherry"), (Rows{{I(3)}}));
  EXPECT_EQ(matches(wa, "apple"), (Rows{{I(1)}}));
  local_exec(wa, "INSERT INTO notes_fts(notes_fts) VALUES ('integrity-check')");
  // A remote update and delete reach the index too.
  remote_exec(url, {"UPDATE notes SET body = 'elderberry' WHERE id = 3", "DELETE FROM notes WHERE id = 2"});
  r = run_cli({"pull"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(matches(wa, "banana"), Rows{});
  EXPECT_EQ(matches(wa, "cherry"), Rows{});
  EXPECT_EQ(matches(wa, "elderberry"), (Rows{{I(3)}}));
  local_exec(wa, "INSERT INTO notes_fts(notes_fts) VALUES ('integrity-check')");
  // A's own inserts go through its trigger, and the note is pushed without it.
  local_exec(wa, "INSERT INTO notes (body) VALUES ('fig from a')");
  EXPECT_EQ(matches(wa, "fig").size(), 1u);
  r = run_cli({"sync"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM notes WHERE body = 'fig from a'"), 1);
  expect_no_local_changes(a, url);

  // status lists what stays local, as text and as JSON.
  r = run_cli({"status", "--offline"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Stays local"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("notes_ai"), std::string::npos) << r.out;
  r = run_cli({"--json", "status", "--offline"}, env_for(url), a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  std::set<std::string> listed;
  for (simdjson::dom::element o : doc["local_objects"].get_array())
    listed.insert(std::string(o["name"].get_string().value()));
  for (const char* name : {"notes_fts", "notes_fts_data", "notes_ai", "notes_ad", "notes_au"})
    EXPECT_TRUE(listed.count(name)) << name << " not listed: " << r.out;
  EXPECT_FALSE(listed.count("notes")) << r.out;
}

// Tables named by TURSO_SYNC_LOCAL_TABLES (a name and a glob) are never sent, and a remote table of the same
// name never overwrites the local one; turso-sync.toml's local_tables does the same per database.
TEST(LocalObjects, LocalTablesByNameAndGlobAreNeverSentNorOverwritten) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(url, {"CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"});
  TempDir a, b;
  std::vector<std::string> env_a = env_for(url);
  env_a.push_back("TURSO_SYNC_LOCAL_TABLES=drafts, cache_*");
  auto r = run_cli({"init"}, env_a, a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string wa = a.file("working_copy.db");
  local_exec(wa,
             "CREATE TABLE drafts (id INTEGER PRIMARY KEY, text TEXT);"
             "CREATE TABLE cache_pages (url TEXT PRIMARY KEY, body BLOB);"
             "CREATE INDEX drafts_text ON drafts (text);"
             "CREATE TRIGGER notes_draft AFTER INSERT ON notes BEGIN "
             "  INSERT INTO drafts (text) VALUES ('saved ' || new.body); END;"
             "INSERT INTO drafts VALUES (1, 'mine');"
             "INSERT INTO cache_pages VALUES ('u', x'00ff');"
             "INSERT INTO notes (body) VALUES ('shared')");
  r = run_cli({"diff", "--stat"}, env_a, a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out.find("drafts"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("cache_pages"), std::string::npos) << r.out;
  r = run_cli({"push"}, env_a, a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_rows(url, "SELECT id, body FROM notes"), (Rows{{I(1), T("shared")}}));
  EXPECT_EQ(remote_count(url,
                         "SELECT count(*) FROM sqlite_schema WHERE name IN ('drafts', 'cache_pages', "
                         "'drafts_text', 'notes_draft')"),
            0);

  // A teammate creates a table of the same name on the remote: A's own stays as it is, through pulls and
  // pushes, and the remote's is left alone.
  remote_exec(url,
              {"CREATE TABLE drafts (id INTEGER PRIMARY KEY, owner TEXT, text TEXT)",
               "INSERT INTO drafts VALUES (1, 'bob', 'theirs')", "INSERT INTO notes (body) VALUES ('x')"});
  r = run_cli({"sync"}, env_a, a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(local_rows(wa, "SELECT * FROM drafts ORDER BY id"),
            (Rows{{I(1), T("mine")}, {I(2), T("saved shared")}}));
  EXPECT_EQ(local_rows(wa, "SELECT * FROM cache_pages"), (Rows{{T("u"), B(std::string("\0\xff", 2))}}));
  EXPECT_EQ(local_count(wa, "SELECT count(*) FROM notes"), 2);
  local_exec(wa, "UPDATE drafts SET text = 'mine, edited' WHERE id = 1");
  r = run_cli({"sync"}, env_a, a.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_rows(url, "SELECT * FROM drafts"), (Rows{{I(1), T("bob"), T("theirs")}}));
  EXPECT_EQ(local_rows(wa, "SELECT text FROM drafts WHERE id = 1"), (Rows{{T("mine, edited")}}));
  r = run_cli({"diff", "--exit-code"}, env_a, a.path().string());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;

  // turso-sync.toml: local_tables as an array, for copy B.
  {
    std::ofstream toml(b.file("turso-sync.toml"));
    toml << "local_tables = [\"scratch_*\"]\n";
  }
  r = run_cli({"init"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string wb = b.file("working_copy.db");
  local_exec(wb, "CREATE TABLE scratch_1 (v); INSERT INTO scratch_1 VALUES (42)");
  r = run_cli({"push"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM sqlite_schema WHERE name = 'scratch_1'"), 0);
  r = run_cli({"--json", "status", "--offline"}, env_for(url), b.path().string());
  EXPECT_NE(r.out.find("\"scratch_1\""), std::string::npos) << r.out;
}

}  // namespace
}  // namespace turso_sync::testing
