// pull against a real local server, played by two teammates (two working copies, each `turso-sync init`ed
// from the same server): the three-way merge of theirs into ours, same-column and update/delete conflicts
// under each --on-conflict policy (abort, local, remote with its restoring file), and rows whose
// auto-assigned ids collide moved with their children. Every scenario reads "remote SQL, local SQL, command,
// expected rows / conflicts / exit code"; the remote is checked through the independent path
// (hrana_query.py), the working copies with the plain SQLite C API.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

const std::vector<std::string> kContacts = {
    "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT, email TEXT, phone TEXT)",
    "INSERT INTO contacts VALUES (1, 'Ann', 'ann@x', '111'), (2, 'Bob', 'bob@x', '222'), "
    "(3, 'Cid', 'cid@x', '333'), (4, 'Dee', 'dee@x', '444')",
};
const char* kAllContacts = "SELECT id, name, email, phone FROM contacts ORDER BY id";

// ---------------------------------------------------------------------------------------------------------------
// pull, three-way

TEST(PushPull, PullTakesTheirsAndMergesColumns) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kContacts));
  // Ours: row 2's phone, row 4's phone (the same change as theirs), a new row.
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a),
                                    "UPDATE contacts SET phone = '222-ours' WHERE id = 2;"
                                    "UPDATE contacts SET phone = '444-new' WHERE id = 4;"
                                    "INSERT INTO contacts VALUES (6, 'Ours', 'ours@x', NULL);"));
  // Theirs: row 1 (ours == base), row 2's email (another column), row 3 deleted, row 4 as ours, a new row.
  remote_exec(team.server.url(),
              {"UPDATE contacts SET name = 'Ann B' WHERE id = 1",
               "UPDATE contacts SET email = 'bob@new' WHERE id = 2", "DELETE FROM contacts WHERE id = 3",
               "UPDATE contacts SET phone = '444-new' WHERE id = 4",
               "INSERT INTO contacts VALUES (5, 'Eve', 'eve@x', '555')"});
  auto r = team.run(team.a, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "pulled:")) << r.out;
  EXPECT_TRUE(contains(r.out, "1 rows merged column by column")) << r.out;
  const Rows merged = {{I(1), T("Ann B"), T("ann@x"), T("111")},
                       {I(2), T("Bob"), T("bob@new"), T("222-ours")},
                       {I(4), T("Dee"), T("dee@x"), T("444-new")},
                       {I(5), T("Eve"), T("eve@x"), T("555")},
                       {I(6), T("Ours"), T("ours@x"), N()}};
  EXPECT_EQ(team.rows(team.a, kAllContacts), merged) << render_rows(team.rows(team.a, kAllContacts));

  // What is left to push is exactly ours: row 2's phone and row 6.
  auto dry = team.run(team.a, {"push", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_TRUE(contains(dry.out, "'222-ours'")) << dry.out;
  EXPECT_TRUE(contains(dry.out, "'ours@x'")) << dry.out;
  EXPECT_FALSE(contains(dry.out, "bob@new")) << dry.out;
  EXPECT_FALSE(contains(dry.out, "444-new")) << dry.out;
  ASSERT_EQ(team.run(team.a, {"push"}).exit_code, 0);
  EXPECT_EQ(team.remote(kAllContacts), merged) << render_rows(team.remote(kAllContacts));
}

// Ours and theirs change row 1's email differently; each also changes another row.
void same_column_conflict(Team& team, const TempDir& dir) {
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(dir),
                                    "UPDATE contacts SET email = 'ours@x' WHERE id = 1;"
                                    "UPDATE contacts SET phone = '222-ours' WHERE id = 2;"));
  remote_exec(team.server.url(), {"UPDATE contacts SET email = 'theirs@x' WHERE id = 1",
                                  "UPDATE contacts SET name = 'Cid B' WHERE id = 3"});
}

TEST(PushPull, PullSameColumnConflictAbortsAndChangesNothing) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kContacts));
  ASSERT_NO_FATAL_FAILURE(same_column_conflict(team, team.a));
  std::string wc_before = read_text(team.wc(team.a));
  std::string replica_before = read_text(team.replica(team.a));

  auto r = team.run(team.a, {"pull"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "pull stopped: 1 conflict with the remote; nothing was applied.")) << r.err;
  EXPECT_TRUE(contains(r.err, "contacts [1] update/update")) << r.err;
  EXPECT_TRUE(contains(r.err, "base:   email='ann@x'")) << r.err;
  EXPECT_TRUE(contains(r.err, "ours:   email='ours@x'")) << r.err;
  EXPECT_TRUE(contains(r.err, "theirs: email='theirs@x'")) << r.err;
  EXPECT_TRUE(contains(r.err, "--on-conflict=local")) << r.err;
  EXPECT_EQ(read_text(team.wc(team.a)), wc_before) << "the working copy must be byte-identical";
  EXPECT_EQ(read_text(team.replica(team.a)), replica_before) << "the replica must not move";

  // The same through --json.
  auto j = team.run(team.a, {"--json", "pull"});
  EXPECT_EQ(j.exit_code, 3) << j.out << j.err;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(j.out).get(doc), simdjson::SUCCESS) << j.out;
  EXPECT_EQ(doc["command"].get_string().value(), "pull");
  simdjson::dom::element pull = doc["pull"];
  EXPECT_FALSE(pull["applied"].get_bool().value());
  simdjson::dom::array conflicts = pull["conflicts"].get_array();
  ASSERT_EQ(conflicts.size(), 1u) << j.out;
  simdjson::dom::element c = conflicts.at(0);
  EXPECT_EQ(c["table"].get_string().value(), "contacts");
  EXPECT_EQ(c["kind"].get_string().value(), "update/update");
  EXPECT_EQ(c["key"].at(0).get_string().value(), "1");
  EXPECT_EQ(c["columns"].at(2).get_string().value(), "email");
  EXPECT_EQ(c["conflicting_columns"].at(0).get_int64().value(), 2);
  EXPECT_EQ(c["base"].at(2).get_string().value(), "'ann@x'");
  EXPECT_EQ(c["ours"].at(2).get_string().value(), "'ours@x'");
  EXPECT_EQ(c["theirs"].at(2).get_string().value(), "'theirs@x'");
  for (const char* key : {"up_to_date", "taken", "merged_rows", "moved", "discarded_path", "notes"})
    EXPECT_EQ(pull[key].error(), simdjson::SUCCESS) << "missing key " << key << " in " << j.out;
  EXPECT_EQ(read_text(team.wc(team.a)), wc_before);
}

TEST(PushPull, PullOnConflictLocalKeepsOursAndNextPushSendsIt) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kContacts));
  ASSERT_NO_FATAL_FAILURE(same_column_conflict(team, team.a));
  auto r = team.run(team.a, {"pull", "--on-conflict=local"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "1 conflict settled by policy")) << r.out;
  const Rows expected = {{I(1), T("Ann"), T("ours@x"), T("111")},
                         {I(2), T("Bob"), T("bob@x"), T("222-ours")},
                         {I(3), T("Cid B"), T("cid@x"), T("333")},
                         {I(4), T("Dee"), T("dee@x"), T("444")}};
  EXPECT_EQ(team.rows(team.a, kAllContacts), expected) << render_rows(team.rows(team.a, kAllContacts));
  EXPECT_TRUE(discarded_files(team.a).empty());

  auto pushed = team.run(team.a, {"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(team.remote(kAllContacts), expected) << render_rows(team.remote(kAllContacts));
  EXPECT_EQ(team.diff_exit(team.a), 0);
}

TEST(PushPull, PullOnConflictRemoteSavesOursToARestoringFile) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kContacts));
  ASSERT_NO_FATAL_FAILURE(same_column_conflict(team, team.a));
  auto r = team.run(team.a, {"pull", "--on-conflict=remote"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "1 conflict settled by policy")) << r.out;
  EXPECT_TRUE(contains(r.out, "saved to")) << r.out;
  EXPECT_EQ(team.rows(team.a, kAllContacts), (Rows{{I(1), T("Ann"), T("theirs@x"), T("111")},
                                                   {I(2), T("Bob"), T("bob@x"), T("222-ours")},
                                                   {I(3), T("Cid B"), T("cid@x"), T("333")},
                                                   {I(4), T("Dee"), T("dee@x"), T("444")}}));
  EXPECT_EQ(team.diff_exit(team.a), 1) << "row 2's phone is still a local change";

  auto files = discarded_files(team.a);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_TRUE(contains(r.out, files[0].substr(files[0].rfind('/') + 1))) << r.out;
  EXPECT_EQ(mode_of(files[0]), 0600u) << files[0];
  // Running it puts ours back: what --on-conflict=local would have given.
  auto restored = run_command({"sqlite3", team.wc(team.a)}, {}, "", read_text(files[0]));
  ASSERT_EQ(restored.exit_code, 0) << restored.err << read_text(files[0]);
  EXPECT_EQ(team.rows(team.a, "SELECT email FROM contacts WHERE id = 1"), (Rows{{T("ours@x")}}));
  ASSERT_EQ(team.run(team.a, {"push"}).exit_code, 0);
  EXPECT_EQ(team.remote("SELECT email, phone FROM contacts WHERE id IN (1, 2) ORDER BY id"),
            (Rows{{T("ours@x"), T("111")}, {T("bob@x"), T("222-ours")}}));
}

TEST(PushPull, PullUpdateDeleteConflictsBothWaysUnderEachPolicy) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(kContacts));
  // Both copies make the same local changes: update row 1, delete row 2. The remote does the opposite.
  const std::string ours =
      "UPDATE contacts SET phone = '111-ours' WHERE id = 1; DELETE FROM contacts WHERE id = 2;";
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.a), ours));
  ASSERT_NO_FATAL_FAILURE(local_sql(team.wc(team.b), ours));
  remote_exec(team.server.url(),
              {"DELETE FROM contacts WHERE id = 1", "UPDATE contacts SET phone = '222-theirs' WHERE id = 2"});

  std::string wc_before = read_text(team.wc(team.a));
  auto r = team.run(team.a, {"pull"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "2 conflicts")) << r.err;
  EXPECT_TRUE(contains(r.err, "contacts [1] update/delete")) << r.err;
  EXPECT_TRUE(contains(r.err, "contacts [2] delete/update")) << r.err;
  EXPECT_EQ(read_text(team.wc(team.a)), wc_before);

  // A keeps its own: row 1 updated, row 2 deleted; the push sends both.
  auto local = team.run(team.a, {"pull", "--on-conflict=local"});
  ASSERT_EQ(local.exit_code, 0) << local.out << local.err;
  const Rows a_rows = {{I(1), T("Ann"), T("ann@x"), T("111-ours")},
                       {I(3), T("Cid"), T("cid@x"), T("333")},
                       {I(4), T("Dee"), T("dee@x"), T("444")}};
  EXPECT_EQ(team.rows(team.a, kAllContacts), a_rows) << render_rows(team.rows(team.a, kAllContacts));

  // B takes theirs: row 1 gone, row 2 back with their phone; the discarded file restores B's version.
  auto remote = team.run(team.b, {"pull", "--on-conflict=remote"});
  ASSERT_EQ(remote.exit_code, 0) << remote.out << remote.err;
  const Rows theirs = {{I(2), T("Bob"), T("bob@x"), T("222-theirs")},
                       {I(3), T("Cid"), T("cid@x"), T("333")},
                       {I(4), T("Dee"), T("dee@x"), T("444")}};
  EXPECT_EQ(team.rows(team.b, kAllContacts), theirs) << render_rows(team.rows(team.b, kAllContacts));
  EXPECT_EQ(team.diff_exit(team.b), 0);
  auto files = discarded_files(team.b);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(mode_of(files[0]), 0600u);
  auto restored = run_command({"sqlite3", team.wc(team.b)}, {}, "", read_text(files[0]));
  ASSERT_EQ(restored.exit_code, 0) << restored.err << read_text(files[0]);
  EXPECT_EQ(team.rows(team.b, kAllContacts), a_rows) << render_rows(team.rows(team.b, kAllContacts));

  auto pushed = team.run(team.a, {"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(team.remote(kAllContacts), a_rows) << render_rows(team.remote(kAllContacts));
}

// ---------------------------------------------------------------------------------------------------------------
// colliding auto-assigned ids

TEST(PushPull, CollidingAutoIdsMoveOurRowAndItsChildren) {
  Team team;
  std::string seed = "INSERT INTO emails (id, recipient, subject) VALUES ";
  for (int i = 1; i <= 100; ++i) {
    std::string n = std::to_string(i);
    seed += (i > 1 ? ", (" : "(") + n + ", 'user" + n + "@x', 'seed " + n + "')";
  }
  ASSERT_NO_FATAL_FAILURE(team.start({
      "CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT)",
      seed,
      "CREATE TABLE attachments (id INTEGER PRIMARY KEY, email_id INTEGER NOT NULL, name TEXT, "
      "FOREIGN KEY(email_id) REFERENCES emails(id))",
      "INSERT INTO attachments VALUES (1, 100, 'seed.pdf')",
  }));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.a), "INSERT INTO emails (recipient, subject) VALUES ('a@x', 'from A')"));
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.b),
                "INSERT INTO emails (recipient, subject) VALUES ('b@x', 'from B');"
                "INSERT INTO attachments (email_id, name) VALUES (last_insert_rowid(), 'b.pdf');"));
  const char* recent = "SELECT id, recipient, subject FROM emails WHERE id > 100 ORDER BY id";
  const char* attachments = "SELECT id, email_id, name FROM attachments ORDER BY id";
  ASSERT_EQ(team.rows(team.a, recent), (Rows{{I(101), T("a@x"), T("from A")}}));
  ASSERT_EQ(team.rows(team.b, recent), (Rows{{I(101), T("b@x"), T("from B")}}));
  ASSERT_EQ(team.rows(team.b, attachments),
            (Rows{{I(1), I(100), T("seed.pdf")}, {I(2), I(101), T("b.pdf")}}));

  ASSERT_EQ(team.run(team.a, {"push"}).exit_code, 0);

  // Asked to treat it as a conflict: nothing changes.
  std::string wc_before = read_text(team.wc(team.b));
  auto refused = team.run(team.b, {"pull", "--on-insert-collision=conflict"});
  EXPECT_EQ(refused.exit_code, 3) << refused.out << refused.err;
  EXPECT_TRUE(contains(refused.err, "emails [101] insert/insert")) << refused.err;
  EXPECT_EQ(read_text(team.wc(team.b)), wc_before);

  // By default our row moves above both sides' maximum and the child follows.
  auto r = team.run(team.b, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "emails: local id 101 moved to 102 (attachments.email_id updated)")) << r.out;
  const Rows both = {{I(101), T("a@x"), T("from A")}, {I(102), T("b@x"), T("from B")}};
  const Rows children = {{I(1), I(100), T("seed.pdf")}, {I(2), I(102), T("b.pdf")}};
  EXPECT_EQ(team.rows(team.b, recent), both) << render_rows(team.rows(team.b, recent));
  EXPECT_EQ(team.rows(team.b, attachments), children) << render_rows(team.rows(team.b, attachments));

  auto pushed = team.run(team.b, {"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(team.remote(recent), both) << render_rows(team.remote(recent));
  EXPECT_EQ(team.remote(attachments), children) << render_rows(team.remote(attachments));
  EXPECT_EQ(team.remote("SELECT count(*) FROM emails"), (Rows{{I(102)}}));

  ASSERT_EQ(team.run(team.a, {"pull"}).exit_code, 0);
  EXPECT_EQ(team.rows(team.a, recent), both);
  EXPECT_EQ(team.rows(team.a, attachments), children);
}

// Both sides deleted the last row (id 3) and added a row under the free id 2: ours moves above every id
// either side *or the base* holds. Moved to 3, it would read as an edit of the base's deleted row 3, an
// update/delete conflict that --on-conflict=remote settles by discarding it (found by the convergence test,
// seed 10124701661133395869).
TEST(PushPull, CollidingRowNeverMovesOntoAnIdOfTheBase) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT)",
                                      "INSERT INTO emails VALUES (1, 'one'), (3, 'three')"}));
  remote_exec(team.server.url(),
              {"DELETE FROM emails WHERE id = 3", "INSERT INTO emails VALUES (2, 'theirs')"});
  ASSERT_NO_FATAL_FAILURE(
      local_sql(team.wc(team.b), "DELETE FROM emails WHERE id = 3; INSERT INTO emails VALUES (2, 'ours')"));

  auto r = team.run(team.b, {"pull", "--on-conflict=remote"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "emails: local id 2 moved to 4")) << r.out;
  EXPECT_TRUE(discarded_files(team.b).empty()) << r.out;
  const Rows merged = {{I(1), T("one")}, {I(2), T("theirs")}, {I(4), T("ours")}};
  EXPECT_EQ(team.rows(team.b, "SELECT id, subject FROM emails ORDER BY id"), merged);
  auto pushed = team.run(team.b, {"push"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  EXPECT_EQ(team.remote("SELECT id, subject FROM emails ORDER BY id"), merged);
}

}  // namespace
}  // namespace turso_sync::testing
