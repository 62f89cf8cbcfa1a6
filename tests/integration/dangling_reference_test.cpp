// References under hold (issue 18; docs/conflicts.md, "Foreign keys: a merge never leaves one dangling"): a
// push never leaves a reference dangling on the remote, whatever the application's `foreign_keys`, and a
// reference that only a held row's change would break holds the row that would break it, so the rest keeps
// syncing. The remote is read through the independent path.
// - A reference the remote itself holds dangling (a teammate deleted a parent with foreign keys off) is not
//   the merge's to settle: a copy with no local change pulls it as it is and pushes nothing back. Before, its
//   workflow cycle brought the parent back and pushed it, undoing the teammate's delete.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

TEST(DanglingOnTheRemote, ACopyWithNoLocalChangePullsItAsItIsAndPushesNothingBack) {
  LocalServer server;
  ASSERT_TRUE(server.started());
  const std::string& url = server.url();
  remote_exec(url,
              {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)",
               "CREATE TABLE emails (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id), "
               "subject TEXT)",
               "INSERT INTO contacts VALUES (1, 'a@x'), (2, 'b@x')",
               "INSERT INTO emails VALUES (10, 1, 'hello'), (11, 2, 'hi')"});
  TempDir b;
  auto r = run_cli({"init"}, env_for(url), b.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // A teammate's application, foreign keys off (SQLite's default), deletes contact 1 and leaves its email.
  remote_exec(url, {"DELETE FROM contacts WHERE id = 1"});
  for (const char* policy : {"hold", "local"}) {
    SCOPED_TRACE(policy);
    r = run_cli({"workflow", "--once", std::string("--on-conflict=") + policy}, env_for(url),
                b.path().string());
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(remote_rows(url, "SELECT id FROM contacts ORDER BY id"), (Rows{{I(2)}}));
    EXPECT_EQ(remote_count(url, "SELECT count(*) FROM sqlite_schema WHERE name = 'turso_sync_pushes'"), 0)
        << "nothing was pushed";
    expect_same(url, b.file("working_copy.db"), "SELECT * FROM contacts ORDER BY id");
    expect_same(url, b.file("working_copy.db"), "SELECT * FROM emails ORDER BY id");
    EXPECT_EQ(discarded_files_text(b), "");
  }
}

// Case 1 of issue 18: a teammate deletes a contact while our application schedules an email to it. Under
// hold (workflow's default) the email and the contact are held: nothing of them is pushed (the teammate's
// delete stays on the remote), `conflicts` lists them, `status --check` fails, and every other change syncs
// both ways; `resolve --theirs` ends with theirs (our email saved), `--ours` sends ours. Under abort: exit 3,
// nothing applied. Before, the unattended cycle brought the contact back and pushed it, nothing held.
TEST(DanglingReference, UnderHoldTheChildAndItsParentAreHeldWhileEverythingElseSyncs) {
  for (const std::string side : {"--theirs", "--ours"}) {
    SCOPED_TRACE(side);
    Team team;
    ASSERT_NO_FATAL_FAILURE(team.start(
        {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)",
         "CREATE TABLE emails (id INTEGER PRIMARY KEY, contact_id INTEGER REFERENCES contacts(id), "
         "subject TEXT)",
         "INSERT INTO contacts VALUES (1, 'a@x'), (2, 'b@x')"}));
    const std::string& url = team.server.url();
    const TempDir &a = team.a, &b = team.b;
    auto run = [&](const TempDir& dir, const std::vector<std::string>& args) { return team.run(dir, args); };
    const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
    local_exec(wa, "DELETE FROM contacts WHERE id = 1; UPDATE contacts SET email = 'b2@x' WHERE id = 2");
    auto r = run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(wb, "INSERT INTO emails VALUES (10, 1, 'to one'); INSERT INTO contacts VALUES (3, 'c@x')");

    r = run(b, {"pull"});  // abort: nothing applied
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    EXPECT_EQ(local_rows(wb, "SELECT id, email FROM contacts ORDER BY id"),
              (Rows{{I(1), T("a@x")}, {I(2), T("b@x")}, {I(3), T("c@x")}}));

    std::string log = r.out + r.err;
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
      log += r.out + r.err;
    }
    r.out = log;
    // Everything else went both ways; the contact stays deleted on the remote and the email is not there.
    EXPECT_EQ(remote_rows(url, "SELECT id, email FROM contacts ORDER BY id"),
              (Rows{{I(2), T("b2@x")}, {I(3), T("c@x")}}))
        << r.out << r.err;
    EXPECT_EQ(remote_count(url, "SELECT count(*) FROM emails"), 0);
    EXPECT_EQ(local_rows(wb, "SELECT id, email FROM contacts ORDER BY id"),
              (Rows{{I(1), T("a@x")}, {I(2), T("b2@x")}, {I(3), T("c@x")}}));
    EXPECT_EQ(local_rows(wb, "SELECT id, contact_id FROM emails"), (Rows{{I(10), I(1)}}));
    r = run(b, {"--json", "conflicts"});
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
    ASSERT_EQ(doc["conflicts"].get_array().size(), 2u) << r.out;
    for (auto c : doc["conflicts"].get_array())
      EXPECT_EQ(std::string(c["kind"].get_string().value()), "dangling reference") << r.out;
    EXPECT_EQ(run(b, {"status", "--check", "--offline"}).exit_code, 3);

    r = run(b, {"resolve", side});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(run(b, {"status", "--check", "--offline"}).exit_code, 0);
    if (side == "--theirs") {
      EXPECT_EQ(remote_rows(url, "SELECT id FROM contacts ORDER BY id"), (Rows{{I(2)}, {I(3)}}));
      EXPECT_EQ(local_rows(wb, "SELECT count(*) FROM emails"), (Rows{{I(0)}}));
      EXPECT_NE(discarded_files_text(b).find("to one"), std::string::npos) << discarded_files_text(b);
    } else {
      EXPECT_EQ(remote_rows(url, "SELECT id FROM contacts ORDER BY id"), (Rows{{I(1)}, {I(2)}, {I(3)}}));
      EXPECT_EQ(remote_rows(url, "SELECT id, contact_id FROM emails"), (Rows{{I(10), I(1)}}));
    }
    expect_same(url, wb, "SELECT * FROM contacts ORDER BY id");
    expect_same(url, wb, "SELECT * FROM emails ORDER BY id");
  }
}

// Case 2 of issue 18, the push side: a teammate's application runs with foreign keys off (SQLite's default)
// and deletes a contact, leaving its email, or writes an email to a contact that exists nowhere. Its push
// must not leave those references dangling on the remote: a plain push is refused (exit 3, nothing applied,
// saying what to do), a workflow cycle holds the rows (kind `dangling reference`) and syncs everything else.
// A copy with no local change then pushes nothing. Before, the push sent the delete and the email as they
// were: the remote's email pointed at nothing.
TEST(DanglingReference, APushOfAnApplicationWithForeignKeysOffNeverLeavesOneDanglingOnTheRemote) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)",
       "CREATE TABLE emails (id INTEGER PRIMARY KEY, subject TEXT, contact_id INTEGER, FOREIGN KEY "
       "(contact_id) REFERENCES contacts (id))",
       "INSERT INTO contacts VALUES (1, 'a@x'), (2, 'b@x')",
       "INSERT INTO emails VALUES (10, 'hello', 1), (11, 'hi', 2)"}));
  const std::string& url = team.server.url();
  const TempDir &a = team.a, &b = team.b;
  auto run = [&](const TempDir& dir, const std::vector<std::string>& args) { return team.run(dir, args); };
  const std::string wa = a.file("working_copy.db"), wb = b.file("working_copy.db");
  const char* kDanglingEmails =
      "SELECT count(*) FROM emails WHERE contact_id IS NOT NULL AND contact_id NOT IN (SELECT id FROM "
      "contacts)";
  local_exec(wa,
             "PRAGMA foreign_keys = OFF; DELETE FROM contacts WHERE id = 1; INSERT INTO emails VALUES (12, "
             "'to nobody', 99); UPDATE contacts SET email = 'b2@x' WHERE id = 2");

  auto r = run(a, {"push"});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("dangling"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(remote_rows(url, "SELECT id, email FROM contacts ORDER BY id"),
            (Rows{{I(1), T("a@x")}, {I(2), T("b@x")}}));
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM emails"), 2);

  for (int cycle = 0; cycle < 2; ++cycle) {
    r = run(a, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // The other change went out; the contact stays on the remote, the email to nobody is not there.
  EXPECT_EQ(remote_rows(url, "SELECT id, email FROM contacts ORDER BY id"),
            (Rows{{I(1), T("a@x")}, {I(2), T("b2@x")}}));
  EXPECT_EQ(remote_rows(url, "SELECT id FROM emails ORDER BY id"), (Rows{{I(10)}, {I(11)}}));
  EXPECT_EQ(remote_count(url, kDanglingEmails), 0);
  r = run(a, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.out).get(doc), simdjson::SUCCESS) << r.out;
  ASSERT_EQ(doc["conflicts"].get_array().size(), 2u) << r.out;
  for (auto c : doc["conflicts"].get_array())
    EXPECT_EQ(std::string(c["kind"].get_string().value()), "dangling reference") << r.out;
  EXPECT_EQ(run(a, {"status", "--check", "--offline"}).exit_code, 3);

  // A copy with no local change pulls and pushes nothing back.
  int64_t receipts = remote_count(url, "SELECT count(*) FROM turso_sync_pushes");
  r = run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(remote_count(url, "SELECT count(*) FROM turso_sync_pushes"), receipts) << r.out;
  expect_same(url, wb, "SELECT * FROM contacts ORDER BY id");
  expect_same(url, wb, "SELECT * FROM emails ORDER BY id");
  EXPECT_EQ(discarded_files_text(b), "");

  // --theirs ends with theirs: the contact is back, the email to nobody is saved and gone.
  r = run(a, {"resolve", "--theirs"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = run(a, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(run(a, {"status", "--check", "--offline"}).exit_code, 0);
  EXPECT_NE(discarded_files_text(a).find("to nobody"), std::string::npos) << discarded_files_text(a);
  expect_same(url, wa, "SELECT * FROM contacts ORDER BY id");
  expect_same(url, wa, "SELECT * FROM emails ORDER BY id");
  EXPECT_EQ(remote_count(url, kDanglingEmails), 0);
}

// Found by TeamHoldProperty (seed 2407524333024596706): A deletes contact 1 and pushes while B edits it; B's
// cycle holds B's row (update/delete), and B's application then writes an email to contact 1, which B still
// has but the remote does not. Under hold the email is held too (kind `dangling reference`) and everything
// else of B's is pushed; `resolve --ours` then sends contact 1 back with the email in one push. Before, the
// remote's parent guard refused every push of B (exit 3, "the remote changed 1 row being pushed").
TEST(DanglingReference, UnderHoldAChildOfAHeldRowTheRemoteDeletedIsHeldAndTheRestIsPushed) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)",
                                      "CREATE TABLE emails (id INTEGER PRIMARY KEY, contact_id INTEGER "
                                      "REFERENCES contacts(id), subject TEXT)",
                                      "INSERT INTO contacts VALUES (1, 'a@x'), (2, 'b@x')"}));
  const TempDir &a = team.a, &b = team.b;
  const char* kDanglingEmails =
      "SELECT count(*) FROM emails WHERE contact_id IS NOT NULL AND contact_id NOT IN (SELECT id FROM "
      "contacts)";
  local_exec(team.wc(a), "DELETE FROM contacts WHERE id = 1");
  auto r = team.run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(team.wc(b), "UPDATE contacts SET email = 'a2@x' WHERE id = 1");
  r = team.run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  local_exec(
      team.wc(b),
      "PRAGMA foreign_keys = ON; INSERT INTO emails VALUES (5, 1, 'to a'); UPDATE contacts SET email = "
      "'b2@x' WHERE id = 2");
  for (int cycle = 0; cycle < 2; ++cycle) {
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  EXPECT_EQ(team.remote("SELECT id, email FROM contacts ORDER BY id"), (Rows{{I(2), T("b2@x")}}));
  EXPECT_EQ(team.remote("SELECT count(*) FROM emails"), (Rows{{I(0)}}));
  r = team.run(b, {"--json", "conflicts"});
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parse(parser, r.out);
  std::vector<std::string> kinds;
  for (auto c : doc["conflicts"].get_array()) kinds.emplace_back(c["kind"].get_string().value());
  std::sort(kinds.begin(), kinds.end());
  EXPECT_EQ(kinds, (std::vector<std::string>{"dangling reference", "update/delete"})) << r.out;

  r = team.run(b, {"resolve", "--ours"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = team.run(b, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
  EXPECT_EQ(team.remote("SELECT id, email FROM contacts ORDER BY id"),
            (Rows{{I(1), T("a2@x")}, {I(2), T("b2@x")}}));
  EXPECT_EQ(team.remote("SELECT id, contact_id, subject FROM emails"), (Rows{{I(5), I(1), T("to a")}}));
  EXPECT_EQ(team.remote(kDanglingEmails), (Rows{{I(0)}}));
  r = team.run(a, {"workflow", "--once"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same(team.server.url(), team.wc(a), "SELECT * FROM emails ORDER BY id");
}

// Found by TeamHoldProperty (seed 7496828399641269155): A edits email 10 and pushes while B deletes it; B's
// cycle holds the email (delete/update), so the remote keeps it, pointing at contact 2. B's application then
// deletes contact 2 (its own email to it is gone). Under hold the contact's delete is held too (kind
// `dangling reference`) and everything else of B's is pushed; `resolve --ours` then sends both deletes in one
// push. Before, the remote's child guard refused every push of B (exit 3, "the remote changed 1 row being
// pushed"): nothing of B's reached the remote.
TEST(DanglingReference, UnderHoldADeleteOfAParentAHeldRowStillReferencesOnTheRemoteIsHeldToo) {
  for (const bool foreign_keys : {false, true}) {
    SCOPED_TRACE(foreign_keys ? "foreign_keys on" : "foreign_keys off");
    Team team;
    ASSERT_NO_FATAL_FAILURE(team.start({"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT)",
                                        "CREATE TABLE emails (id INTEGER PRIMARY KEY, contact_id INTEGER "
                                        "REFERENCES contacts(id), subject TEXT)",
                                        "INSERT INTO contacts VALUES (1, 'a@x'), (2, 'b@x')",
                                        "INSERT INTO emails VALUES (10, 2, 'hello')"}));
    const TempDir &a = team.a, &b = team.b;
    local_exec(team.wc(a), "UPDATE emails SET subject = 'edited' WHERE id = 10");
    auto r = team.run(a, {"push"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(team.wc(b), "DELETE FROM emails WHERE id = 10");
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    local_exec(team.wc(b),
               std::string(foreign_keys ? "PRAGMA foreign_keys = ON; " : "") +
                   "DELETE FROM contacts WHERE id = 2; UPDATE contacts SET email = 'a2@x' WHERE id = 1");
    for (int cycle = 0; cycle < 2; ++cycle) {
      r = team.run(b, {"workflow", "--once"});
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
    EXPECT_EQ(team.remote("SELECT id, email FROM contacts ORDER BY id"),
              (Rows{{I(1), T("a2@x")}, {I(2), T("b@x")}}));
    EXPECT_EQ(team.remote("SELECT id, contact_id, subject FROM emails"), (Rows{{I(10), I(2), T("edited")}}));
    r = team.run(b, {"--json", "conflicts"});
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parse(parser, r.out);
    std::vector<std::string> kinds;
    for (auto c : doc["conflicts"].get_array()) kinds.emplace_back(c["kind"].get_string().value());
    std::sort(kinds.begin(), kinds.end());
    EXPECT_EQ(kinds, (std::vector<std::string>{"dangling reference", "delete/update"})) << r.out;
    EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 3);

    r = team.run(b, {"resolve", "--ours"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    r = team.run(b, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(team.run(b, {"status", "--check", "--offline"}).exit_code, 0);
    EXPECT_EQ(team.remote("SELECT id FROM contacts ORDER BY id"), (Rows{{I(1)}}));
    EXPECT_EQ(team.remote("SELECT count(*) FROM emails"), (Rows{{I(0)}}));
    r = team.run(a, {"workflow", "--once"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_same(team.server.url(), team.wc(a), "SELECT * FROM contacts ORDER BY id");
    expect_same(team.server.url(), team.wc(a), "SELECT * FROM emails ORDER BY id");
  }
}

}  // namespace
}  // namespace turso_sync::testing
