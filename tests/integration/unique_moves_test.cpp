// A push in which a UNIQUE value moves between rows (docs/conflicts.md, "Push: UNIQUE clashes"): the
// application gives contact 2's address to contact 1 and contact 2 a new one, or deletes a contact and adds
// it again under a lower id. The remote must take the push as one, whatever the keys' order. Before, the
// statements ran in key order, the remote refused the batch on "UNIQUE constraint failed", and every push and
// workflow cycle of that copy stopped (exit 3, "the remote changed 1 row being pushed"). Found by
// TeamHoldProperty (seed 6343995694729158712). The remote is read through the independent path.
#include <gtest/gtest.h>

#include "support/sync_checks.h"
#include "support/team.h"
#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

TEST(UniqueMoves, APushThatMovesAValueBetweenRowsLandsWhateverTheKeysOrder) {
  Team team;
  ASSERT_NO_FATAL_FAILURE(team.start(
      {"CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE, name TEXT)",
       "INSERT INTO contacts VALUES (2, 'm1@x', 'one'), (3, 'm2@x', 'two'), (5, 'gone@x', 'five'), (7, "
       "'seven@x', 'seven')"}));
  const TempDir& a = team.a;
  local_exec(
      team.wc(a),
      "UPDATE contacts SET email = 'M5@x' WHERE id = 3; UPDATE contacts SET email = 'M2@x' WHERE id = 2; "
      "DELETE FROM contacts WHERE id = 5; INSERT INTO contacts VALUES (4, 'gone@x', 'again'); UPDATE "
      "contacts SET name = 'seven!' WHERE id = 7");
  auto r = team.run(a, {"push"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(team.remote("SELECT id, email, name FROM contacts ORDER BY id"),
            (Rows{{I(2), T("M2@x"), T("one")},
                  {I(3), T("M5@x"), T("two")},
                  {I(4), T("gone@x"), T("again")},
                  {I(7), T("seven@x"), T("seven!")}}));
  expect_same(team.server.url(), team.wc(a), "SELECT * FROM contacts ORDER BY id");
  r = team.run(team.b, {"pull"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same(team.server.url(), team.wc(team.b), "SELECT * FROM contacts ORDER BY id");
}

}  // namespace
}  // namespace turso_sync::testing
