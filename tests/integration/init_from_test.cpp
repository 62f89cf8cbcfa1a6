// `init --from FILE`, migration from plain SQLite (README, "Migration from plain SQLite"): a plain SQLite
// file published into an empty remote as one transaction, then replica and working copy made from it. The
// remote is read through the independent path (hrana_query.py), FILE and the working copy with the plain
// SQLite C API.
#include <gtest/gtest.h>

#include <signal.h>

#include <simdjson.h>

#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

// An application's database as plain SQLite made it: an AUTOINCREMENT table whose counter is above its
// largest id, a table without a key whose rowids have gaps, a WITHOUT ROWID table, an index, a view and a
// trigger, exact REALs, BLOBs, NULLs, unicode and an identifier built to break quoting; user_version 7.
const char* kApp = R"sql(
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, score REAL, pic BLOB);
CREATE TABLE log (msg TEXT, at INTEGER);
CREATE TABLE "odd ""name"";" ("k ey" TEXT PRIMARY KEY, "v'al" ANY) WITHOUT ROWID;
CREATE INDEX log_at ON log (at);
CREATE VIEW names AS SELECT name FROM users;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000)
  INSERT INTO users (name, score, pic) SELECT 'user ' || x || ' ü ✓', x * 0.1, randomblob(x % 50) FROM c;
DELETE FROM users WHERE id > 2990;
INSERT INTO users (name, score, pic) VALUES ('edge', 0.1 + 0.2, NULL);
UPDATE users SET score = -0.0 WHERE id = 7;
UPDATE users SET score = 1.7976931348623157e308, pic = x'' WHERE id = 8;
UPDATE users SET score = 4.9e-324 WHERE id = 9;
DELETE FROM sqlite_sequence; INSERT INTO sqlite_sequence VALUES ('users', 5000);
INSERT INTO log (rowid, msg, at) VALUES (500000, 'x', 5), (3, 'y', NULL), (77, NULL, 1);
INSERT INTO "odd ""name"";" VALUES ('a', 1), ('b', x'00ff'), ('c', 2.5), ('d', NULL), ('ü', 'text');
CREATE TRIGGER users_log AFTER INSERT ON users BEGIN INSERT INTO log (msg, at) VALUES ('new ' || new.name, 1); END;
PRAGMA user_version = 7;
)sql";

const std::vector<std::string> kTableQueries = {
    "SELECT id, name, score, pic FROM users ORDER BY id",
    "SELECT rowid, msg, at FROM log ORDER BY rowid",
    "SELECT \"k ey\", \"v'al\" FROM \"odd \"\"name\"\";\" ORDER BY \"k ey\"",
    "SELECT name, seq FROM sqlite_sequence ORDER BY name",
};

struct Migration {
  LocalServer server;
  TempDir dir;
  std::string app = dir.file("app.db");
  std::vector<std::string> env(const std::string& extra = "") const {
    std::vector<std::string> e{"TURSO_DATABASE_URL=" + server.url(), "TURSO_SYNC_PUSH_PART_BYTES=20000"};
    if (!extra.empty()) e.push_back(extra);
    return e;
  }
  CommandResult run(const std::vector<std::string>& args, const std::string& extra_env = "") const {
    return run_cli(args, env(extra_env), dir.path().string());
  }
  Rows remote(const std::string& sql) const { return remote_rows(server.url(), sql); }
  // The remote, the working copy and the file hold the same rows, counters and user_version.
  void expect_published_exactly() const {
    for (const std::string& q : kTableQueries) {
      SCOPED_TRACE(q);
      Rows expected = local_rows(app, q);
      EXPECT_EQ(remote(q), expected);
      EXPECT_EQ(local_rows(dir.file("working_copy.db"), q), expected);
    }
    EXPECT_EQ(remote("PRAGMA user_version"), (Rows{{I(7)}}));
    EXPECT_EQ(remote("SELECT type, name FROM sqlite_schema WHERE name IN ('log_at', 'names', 'users_log') "
                     "ORDER BY name"),
              (Rows{{T("index"), T("log_at")}, {T("view"), T("names")}, {T("trigger"), T("users_log")}}));
    // No staging table is left behind.
    EXPECT_EQ(
        remote("SELECT name FROM sqlite_schema WHERE name LIKE 'turso\\_sync\\_publish\\_%' ESCAPE '\\' "
               "AND name NOT LIKE '%\\_parts' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"),
        Rows{});
  }
};

int64_t json_int(const std::string& json, const char* object, const char* field) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json).get(doc)) return -1;
  int64_t v = -1;
  if (doc[object][field].get(v)) return -1;
  return v;
}

TEST(InitFrom, PublishesAPlainSqliteFileExactlyInOneTransaction) {
  Migration m;
  ASSERT_TRUE(m.server.started());
  local_exec(m.app, kApp);
  auto r = m.run({"--json", "init", "--from", m.app});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_GT(json_int(r.out, "published", "parts"), 5) << r.out;  // small parts: many of them
  EXPECT_EQ(json_int(r.out, "published", "rows"), 2991 + 3 + 5) << r.out;
  m.expect_published_exactly();
  EXPECT_EQ(m.run({"diff", "--exit-code"}).exit_code, 0);

  // The counter went with the rows: a new user gets an id above it, never a reused one.
  local_exec(m.dir.file("working_copy.db"), "INSERT INTO users (name) VALUES ('after')");
  auto pushed = m.run({"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(m.remote("SELECT id FROM users WHERE name = 'after'"), (Rows{{I(5001)}}));
  EXPECT_EQ(m.remote("SELECT count(*) FROM log WHERE msg = 'new after'"), (Rows{{I(1)}}));
}

TEST(InitFrom, ARemoteThatHoldsAnythingIsRefusedAndNothingChanges) {
  Migration m;
  ASSERT_TRUE(m.server.started());
  local_exec(m.app, kApp);
  remote_exec(m.server.url(), {"CREATE TABLE existing (id INTEGER PRIMARY KEY)"});
  Rows before = m.remote("SELECT type, name, sql FROM sqlite_schema ORDER BY name");
  auto r = m.run({"init", "--from", m.app});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "not empty") && contains(r.err, "table \"existing\"")) << r.err;
  EXPECT_EQ(m.remote("SELECT type, name, sql FROM sqlite_schema ORDER BY name"), before);
  EXPECT_FALSE(fs::exists(m.dir.file("working_copy.db")));
  EXPECT_FALSE(fs::exists(m.dir.file("local_replica.db")));
}

// Killed after the first part, the remote shows nothing of FILE; the next run sends only the missing parts.
// Killed after the apply committed, the next run finds its receipt and only makes the local files.
TEST(InitFrom, AKilledPublishShowsNothingAndTheNextRunFinishesIt) {
  Migration m;
  ASSERT_TRUE(m.server.started());
  local_exec(m.app, kApp);
  auto killed = m.run({"init", "--from", m.app}, "TURSO_SYNC_CRASH_AT=publish.part-sent");
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.out << killed.err;
  EXPECT_EQ(m.remote("SELECT count(*) FROM sqlite_schema WHERE name IN ('users', 'log', 'log_at')"),
            (Rows{{I(0)}}));
  auto resumed = m.run({"--json", "init", "--from", m.app});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  int64_t parts = json_int(resumed.out, "published", "parts");
  EXPECT_EQ(json_int(resumed.out, "published", "parts_sent"), parts - 1) << resumed.out;
  m.expect_published_exactly();

  Migration again;
  ASSERT_TRUE(again.server.started());
  local_exec(again.app, kApp);
  killed = again.run({"init", "--from", again.app}, "TURSO_SYNC_CRASH_AT=publish.applied");
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.out << killed.err;
  auto finished = again.run({"init", "--from", again.app});
  ASSERT_EQ(finished.exit_code, 0) << finished.out << finished.err;
  EXPECT_TRUE(contains(finished.out, "already published")) << finished.out;
  again.expect_published_exactly();
  EXPECT_EQ(again.remote("SELECT count(*) FROM users"), (Rows{{I(2991)}}));
}

// The application's own file as the working copy: published, then kept (no --force needed), clean.
TEST(InitFrom, TheApplicationsOwnFileBecomesTheWorkingCopy) {
  Migration m;
  ASSERT_TRUE(m.server.started());
  local_exec(m.app, kApp);
  Rows users = local_rows(m.app, kTableQueries[0]);
  auto r = run_cli({"init", "--from", m.app}, m.env("WORKING_DB=" + m.app), m.dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(local_rows(m.app, kTableQueries[0]), users);
  EXPECT_EQ(m.remote(kTableQueries[0]), users);
  EXPECT_EQ(run_cli({"diff", "--exit-code"}, m.env("WORKING_DB=" + m.app), m.dir.path().string()).exit_code,
            0);
}

// Virtual tables (full-text search) and the triggers feeding them stay local, each named in a warning; the
// rest is published (the local server has no FTS5 at all). Published from the application's own file, that
// file keeps them, and a push never sends the trigger (alone on the remote it would fail every insert).
TEST(InitFrom, VirtualTablesAndTheirTriggersStayLocal) {
  Migration m;
  ASSERT_TRUE(m.server.started());
  local_exec(m.app,
             "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
             "CREATE VIRTUAL TABLE notes_fts USING fts5 (body, content = 'notes', content_rowid = 'id');"
             "CREATE TRIGGER notes_ai AFTER INSERT ON notes BEGIN "
             "  INSERT INTO notes_fts (rowid, body) VALUES (new.id, new.body); END;"
             "INSERT INTO notes VALUES (1, 'hello'), (2, 'world');");
  std::vector<std::string> env = m.env("WORKING_DB=" + m.app);
  auto r = run_cli({"init", "--from", m.app}, env, m.dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "notes_fts") && contains(r.err, "notes_ai")) << r.err;
  EXPECT_EQ(m.remote("SELECT id, body FROM notes ORDER BY id"),
            (Rows{{I(1), T("hello")}, {I(2), T("world")}}));
  EXPECT_EQ(m.remote("SELECT count(*) FROM sqlite_schema WHERE name LIKE 'notes\\_%' ESCAPE '\\'"),
            (Rows{{I(0)}}));

  local_exec(m.app, "INSERT INTO notes VALUES (3, 'three')");
  EXPECT_EQ(local_rows(m.app, "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'three'"), (Rows{{I(3)}}));
  auto pushed = run_cli({"push"}, env, m.dir.path().string());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(m.remote("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"), (Rows{{I(0)}}));
  remote_exec(m.server.url(), {"INSERT INTO notes VALUES (4, 'four')"});
  EXPECT_EQ(m.remote("SELECT count(*) FROM notes"), (Rows{{I(4)}}));
}

// A large BLOB in bounded memory (docs/changeset.md, "Large values"): a file holding a 50 MB BLOB in a
// middle column, and BLOBs on either side of the 1 MiB line, is published with a peak RSS under 100 MB and
// exactly (lengths and bytes at five places, read on the remote through the independent path). Before, each
// value was read whole, then copied and encoded: 171 MB.
TEST(InitFrom, AFiftyMegabyteBlobIsPublishedUnder100Mb) {
  Migration m;
  ASSERT_TRUE(m.server.started());
  local_exec(
      m.app,
      "CREATE TABLE files (id INTEGER PRIMARY KEY, b BLOB, note TEXT);"
      "INSERT INTO files VALUES (1, randomblob(50 * 1024 * 1024), 'large'), (2, x'00ff', 'small'), "
      "(3, randomblob(1048576), 'just large'), (4, randomblob(1048575), 'just small'), (5, NULL, '');");
  auto r = m.run({"init", "--from", m.app});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(r.max_rss_kib, 100 * 1024) << "peak RSS " << r.max_rss_kib << " KiB";
  const std::string bytes =
      "SELECT id, typeof(b), length(b), hex(substr(b, 1, 16)) || hex(substr(b, 1000000, 16)) || "
      "hex(substr(b, 26214400, 16)) || hex(substr(b, 52428000, 16)) || hex(substr(b, -16)), note FROM files "
      "ORDER BY id";
  Rows expected = local_rows(m.app, bytes);
  EXPECT_EQ(m.remote(bytes), expected);
  EXPECT_EQ(local_rows(m.dir.file("working_copy.db"), bytes), expected);
}

// A large TEXT in bounded memory, as a large BLOB: a file holding a 50 MB TEXT (quotes, backslashes, control
// and multi-byte characters) in a middle column, TEXTs on either side of the 1 MiB line and a small one is
// published with a peak RSS under 100 MB and exactly (types, lengths and bytes at five places, read on the
// remote through the independent path). Before, the value was read whole, then copied and escaped: 181 MB.
TEST(InitFrom, AFiftyMegabyteTextIsPublishedUnder100Mb) {
  Migration m;
  ASSERT_TRUE(m.server.started());
  local_exec(
      m.app,
      "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT, note TEXT);"
      "INSERT INTO docs VALUES (1, '\"é''\\' || char(1, 10) || replace(hex(randomblob(25 * 1024 * 1024)), "
      "'A', 'ü') || '中😀', 'large'), (2, 'it''s small', 'small'), "
      "(3, hex(randomblob(524288)), 'just large'), (4, substr(hex(randomblob(524288)), 2), 'just small'), "
      "(5, NULL, '');");
  auto r = m.run({"init", "--from", m.app});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_LT(r.max_rss_kib, 100 * 1024) << "peak RSS " << r.max_rss_kib << " KiB";
  const std::string bytes =
      "SELECT id, typeof(body), length(CAST(body AS BLOB)), hex(substr(CAST(body AS BLOB), 1, 16)) || "
      "hex(substr(CAST(body AS BLOB), 1000000, 16)) || hex(substr(CAST(body AS BLOB), 26214400, 16)) || "
      "hex(substr(CAST(body AS BLOB), 52428000, 16)) || hex(substr(CAST(body AS BLOB), -16)), note FROM docs "
      "ORDER BY id";
  Rows expected = local_rows(m.app, bytes);
  EXPECT_EQ(m.remote(bytes), expected);
  EXPECT_EQ(local_rows(m.dir.file("working_copy.db"), bytes), expected);
}

}  // namespace
}  // namespace turso_sync::testing
