// A column one side dropped while the other wrote into it (issue 18, kind `dropped column`;
// docs/conflicts.md, "What each policy does with each kind"). Under hold the table is held as a whole: the
// working copy keeps it as it has it, neither side's change of it goes out or comes in, everything else syncs
// both ways, and `status --check` fails until `resolve`: `--theirs` makes the table the remote's (ours saved
// in the discarded file), `--ours` pushes ours over it (the remote's saved first). Before, the remote's drop
// stopped every cycle (exit 3, nothing synced), and a local drop was pushed over the teammate's writes, which
// were lost without a trace. The remote is read through the independent path.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const std::vector<std::string> kNotesAndOther = {
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT, tag TEXT)",
    "CREATE TABLE other (id INTEGER PRIMARY KEY, v TEXT)",
    "INSERT INTO notes VALUES (1, 'one', 't1'), (2, 'two', 't2')"};

// The one held conflict of `dir`: the whole `table` (no key), of `kind`, its `about` naming `about`.
void expect_table_held(const Team& team, const TempDir& dir, const std::string& kind = "dropped column",
                       const std::string& about = "tag", const std::string& table = "notes") {
  auto r = team.run(dir, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parse(parser, r.out);
  ASSERT_EQ(doc["conflicts"].get_array().size(), 1u) << r.out;
  simdjson::dom::element c = doc["conflicts"].at(0);
  EXPECT_EQ(std::string(c["table"].get_string().value()), table) << r.out;
  EXPECT_EQ(std::string(c["kind"].get_string().value()), kind) << r.out;
  EXPECT_EQ(c["key"].get_array().size(), 0u) << r.out;
  EXPECT_NE(std::string(c["about"].get_string().value()).find(about), std::string::npos) << r.out;
  EXPECT_EQ(team.run(dir, {"status", "--check", "--offline"}).exit_code, 3);
}

TEST(HeldTable, AColumnTheRemoteDroppedWhileYouWroteItHoldsTheTableWhileEverythingElseSyncs) {
  for (const std::string side : {"--theirs", "--ours"}) {
    SCOPED_TRACE(side);
    Team team;
    ASSERT_NO_FATAL_FAILURE(team.start(kNotesAndOther));
    const TempDir &a = team.a, &b = team.b;
    const std::string url = team.server.url();
    local_exec(team.wc(a), "ALTER TABLE notes DROP COLUMN tag; INSERT INTO other VALUES (1, 'from A')");
    auto r = team.run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(team.wc(b),
               "UPDATE notes SET tag = 'mine' WHERE id = 1; INSERT INTO other VALUES (2, 'from B')");
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = team.run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
      // A's later edit of the held table waits for the resolve on B.
      if (cycle == 0) {
        local_exec(team.wc(a), "UPDATE notes SET title = 'two by A' WHERE id = 2");
        ASSERT_EQ(team.run(a, {"push"}).exit_code, 0);
      }
    }
    EXPECT_EQ(team.remote("SELECT id, v FROM other ORDER BY id"),
              (Rows{{I(1), T("from A")}, {I(2), T("from B")}}));
    expect_same(url, team.wc(b), "SELECT * FROM other ORDER BY id");
    EXPECT_EQ(team.remote("SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'tag'"),
              (Rows{{I(0)}}));
    EXPECT_EQ(team.rows(b, "SELECT id, title, tag FROM notes ORDER BY id"),
              (Rows{{I(1), T("one"), T("mine")}, {I(2), T("two"), T("t2")}}));
    ASSERT_NO_FATAL_FAILURE(expect_table_held(team, b));

    r = team.run(b, {"resolve", side});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
    EXPECT_EQ(team.diff_exit(b), 0);
    if (side == "--theirs") {
      EXPECT_EQ(team.remote("SELECT id, title FROM notes ORDER BY id"),
                (Rows{{I(1), T("one")}, {I(2), T("two by A")}}));
      EXPECT_NE(discarded_files_text(b).find("'mine'"), std::string::npos) << discarded_files_text(b);
    } else {
      EXPECT_EQ(team.remote("SELECT id, title, tag FROM notes ORDER BY id"),
                (Rows{{I(1), T("one"), T("mine")}, {I(2), T("two"), T("t2")}}));
      EXPECT_NE(discarded_files_text(b).find("'two by A'"), std::string::npos) << discarded_files_text(b);
    }
    expect_same(url, team.wc(b), "SELECT * FROM notes ORDER BY id");
    r = team.run(a, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_same(url, team.wc(a), "SELECT * FROM notes ORDER BY id");
  }
}

TEST(HeldTable, AColumnYouDroppedWhileTheRemoteWroteItHoldsTheTableWhileEverythingElseSyncs) {
  for (const std::string side : {"--theirs", "--ours"}) {
    SCOPED_TRACE(side);
    Team team;
    ASSERT_NO_FATAL_FAILURE(team.start(kNotesAndOther));
    const TempDir &a = team.a, &b = team.b;
    const std::string url = team.server.url();
    local_exec(team.wc(a),
               "UPDATE notes SET tag = 'theirs' WHERE id = 1; INSERT INTO other VALUES (1, 'from A')");
    auto r = team.run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(team.wc(b), "ALTER TABLE notes DROP COLUMN tag; INSERT INTO other VALUES (2, 'from B')");
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = team.run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    EXPECT_EQ(team.remote("SELECT id, v FROM other ORDER BY id"),
              (Rows{{I(1), T("from A")}, {I(2), T("from B")}}));
    expect_same(url, team.wc(b), "SELECT * FROM other ORDER BY id");
    // The teammate's write is still on the remote; B's table is as B has it.
    EXPECT_EQ(team.remote("SELECT id, tag FROM notes ORDER BY id"),
              (Rows{{I(1), T("theirs")}, {I(2), T("t2")}}));
    EXPECT_EQ(team.rows(b, "SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'tag'"),
              (Rows{{I(0)}}));
    ASSERT_NO_FATAL_FAILURE(expect_table_held(team, b));

    r = team.run(b, {"resolve", side});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
    EXPECT_EQ(team.diff_exit(b), 0);
    if (side == "--theirs") {
      EXPECT_EQ(team.rows(b, "SELECT id, tag FROM notes ORDER BY id"),
                (Rows{{I(1), T("theirs")}, {I(2), T("t2")}}));
    } else {
      EXPECT_EQ(team.remote("SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'tag'"),
                (Rows{{I(0)}}));
      EXPECT_NE(discarded_files_text(b).find("'theirs'"), std::string::npos) << discarded_files_text(b);
    }
    expect_same(url, team.wc(b), "SELECT * FROM notes ORDER BY id");
    r = team.run(a, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_same(url, team.wc(a), "SELECT * FROM notes ORDER BY id");
  }
}

TEST(HeldTable, ATableBothSidesMigratedDifferentlyIsHeldWhileEverythingElseSyncs) {
  for (const std::string side : {"--theirs", "--ours"}) {
    SCOPED_TRACE(side);
    Team team;
    ASSERT_NO_FATAL_FAILURE(team.start(kNotesAndOther));
    const TempDir &a = team.a, &b = team.b;
    const std::string url = team.server.url();
    local_exec(team.wc(a),
               "ALTER TABLE notes ADD COLUMN colour TEXT; UPDATE notes SET colour = 'red' WHERE id = 1");
    auto r = team.run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(
        team.wc(b),
        "ALTER TABLE notes ADD COLUMN size INTEGER; UPDATE notes SET size = 7 WHERE id = 2; INSERT INTO "
        "other VALUES (2, 'from B')");
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = team.run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    EXPECT_EQ(team.remote("SELECT id, v FROM other ORDER BY id"), (Rows{{I(2), T("from B")}}));
    EXPECT_EQ(team.remote("SELECT id, colour FROM notes ORDER BY id"), (Rows{{I(1), T("red")}, {I(2), N()}}));
    EXPECT_EQ(team.rows(b, "SELECT id, size FROM notes ORDER BY id"), (Rows{{I(1), N()}, {I(2), I(7)}}));
    ASSERT_NO_FATAL_FAILURE(expect_table_held(team, b, "schema", "notes"));

    r = team.run(b, {"resolve", side});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
    EXPECT_EQ(team.diff_exit(b), 0);
    if (side == "--theirs") {
      EXPECT_EQ(team.rows(b, "SELECT id, colour FROM notes ORDER BY id"),
                (Rows{{I(1), T("red")}, {I(2), N()}}));
      EXPECT_NE(discarded_files_text(b).find("7"), std::string::npos) << discarded_files_text(b);
    } else {
      EXPECT_EQ(team.remote("SELECT id, size FROM notes ORDER BY id"), (Rows{{I(1), N()}, {I(2), I(7)}}));
      EXPECT_NE(discarded_files_text(b).find("'red'"), std::string::npos) << discarded_files_text(b);
    }
    expect_same(url, team.wc(b), "SELECT * FROM notes ORDER BY id");
    r = team.run(a, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_same(url, team.wc(a), "SELECT * FROM notes ORDER BY id");
  }
}

// A view both sides changed differently is held as a whole (kind `schema`): B keeps its view, the rows of
// the table it reads still sync both ways; `resolve --theirs` takes A's view, `--ours` publishes B's.
TEST(HeldTable, AViewBothSidesChangedDifferentlyIsHeldWhileItsTableSyncs) {
  for (const std::string side : {"--theirs", "--ours"}) {
    SCOPED_TRACE(side);
    Team team;
    std::vector<std::string> schema = kNotesAndOther;
    schema.push_back("CREATE VIEW titles AS SELECT id, title FROM notes");
    ASSERT_NO_FATAL_FAILURE(team.start(schema));
    const TempDir &a = team.a, &b = team.b;
    const std::string url = team.server.url();
    local_exec(team.wc(a),
               "DROP VIEW titles; CREATE VIEW titles AS SELECT id, upper(title) AS title FROM notes");
    auto r = team.run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(
        team.wc(b),
        "DROP VIEW titles; CREATE VIEW titles AS SELECT id, title || '!' AS title FROM notes; UPDATE notes "
        "SET title = 'one by B' WHERE id = 1");
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = team.run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    EXPECT_EQ(team.remote("SELECT title FROM notes WHERE id = 1"), (Rows{{T("one by B")}}));
    EXPECT_EQ(team.remote("SELECT title FROM titles WHERE id = 1"), (Rows{{T("ONE BY B")}}));
    EXPECT_EQ(team.rows(b, "SELECT title FROM titles WHERE id = 1"), (Rows{{T("one by B!")}}));
    ASSERT_NO_FATAL_FAILURE(expect_table_held(team, b, "schema", "titles", "titles"));

    r = team.run(b, {"resolve", side});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
    EXPECT_EQ(team.diff_exit(b), 0);
    const char* expected = side == "--theirs" ? "ONE BY B" : "one by B!";
    EXPECT_EQ(team.rows(b, "SELECT title FROM titles WHERE id = 1"), (Rows{{T(expected)}}));
    EXPECT_EQ(team.remote("SELECT title FROM titles WHERE id = 1"), (Rows{{T(expected)}}));
  }
}

// B drops a table whose rows A changes meanwhile: under hold the table is held as a whole (kind `dropped
// column`): it stays dropped on B, the drop is not pushed, everything else syncs. `resolve --theirs` brings
// A's table back on B; `--ours` drops it on the remote (A's rows saved in B's discarded file). Before, every
// cycle of B stopped with exit 3.
TEST(HeldTable, ATableYouDroppedWhileTheRemoteChangedItsRowsIsHeldWhileEverythingElseSyncs) {
  for (const std::string side : {"--theirs", "--ours"}) {
    SCOPED_TRACE(side);
    Team team;
    ASSERT_NO_FATAL_FAILURE(team.start(kNotesAndOther));
    const TempDir &a = team.a, &b = team.b;
    const std::string url = team.server.url();
    local_exec(team.wc(a), "UPDATE notes SET title = 'one by A' WHERE id = 1");
    auto r = team.run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(team.wc(b), "DROP TABLE notes; INSERT INTO other VALUES (2, 'from B')");
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = team.run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    EXPECT_EQ(team.remote("SELECT id, v FROM other ORDER BY id"), (Rows{{I(2), T("from B")}}));
    EXPECT_EQ(team.remote("SELECT title FROM notes WHERE id = 1"), (Rows{{T("one by A")}}));
    EXPECT_EQ(team.rows(b, "SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"), (Rows{{I(0)}}));
    ASSERT_NO_FATAL_FAILURE(expect_table_held(team, b, "dropped column", "dropped it"));

    r = team.run(b, {"resolve", side});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
    EXPECT_EQ(team.diff_exit(b), 0);
    if (side == "--theirs") {
      EXPECT_EQ(team.rows(b, "SELECT title FROM notes WHERE id = 1"), (Rows{{T("one by A")}}));
      expect_same(url, team.wc(b), "SELECT * FROM notes ORDER BY id");
    } else {
      EXPECT_EQ(team.remote("SELECT count(*) FROM sqlite_schema WHERE name = 'notes'"), (Rows{{I(0)}}));
      EXPECT_NE(discarded_files_text(b).find("'one by A'"), std::string::npos) << discarded_files_text(b);
    }
  }
}

}  // namespace
}  // namespace turso_sync::testing
