// A teammate using the official Turso sync client (@tursodatabase/sync, through tests/support/teammate.mjs)
// on the same local server as turso-sync: turso-sync pulls the teammate's pushes exactly, and the teammate's
// pulls see turso-sync's pushes.
#include <gtest/gtest.h>

#include <simdjson.h>

#include <string>
#include <vector>

#include "support/test_env.h"

namespace turso_sync::testing {
namespace {

// Runs teammate.mjs with its own database file; returns its stdout (one JSON line per query step).
std::string teammate(const std::string& db, const std::string& url, const std::vector<std::string>& steps) {
  std::vector<std::string> argv{"/usr/bin/node",
                                std::string(TURSO_SYNC_SOURCE_DIR "/tests/support/teammate.mjs"), db, url};
  argv.insert(argv.end(), steps.begin(), steps.end());
  auto r = run_command(argv);
  EXPECT_EQ(r.exit_code, 0) << "teammate failed: " << r.err;
  return r.out;
}

// The teammate's query output (a JSON array of objects) as rows of Values, columns in `columns` order.
// Integers and floats keep their JSON kind (the client prints integers without a decimal point).
Rows teammate_rows(const std::string& json_line, const std::vector<std::string>& columns) {
  Rows out;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json_line).get(doc) != simdjson::SUCCESS) {
    ADD_FAILURE() << "bad teammate output: " << json_line;
    return out;
  }
  for (simdjson::dom::element row : doc.get_array()) {
    std::vector<Value> values;
    for (const auto& column : columns) {
      simdjson::dom::element v = row[column];
      switch (v.type()) {
        case simdjson::dom::element_type::INT64:
          values.push_back(I(v.get_int64().value()));
          break;
        case simdjson::dom::element_type::UINT64:
          values.push_back(I(static_cast<int64_t>(v.get_uint64().value())));
          break;
        case simdjson::dom::element_type::DOUBLE:
          values.push_back(R(v.get_double().value()));
          break;
        case simdjson::dom::element_type::STRING:
          values.push_back(T(std::string(v.get_string().value())));
          break;
        case simdjson::dom::element_type::NULL_VALUE:
          values.push_back(N());
          break;
        default:
          ADD_FAILURE() << "unexpected value for " << column << " in " << json_line;
          values.push_back(N());
      }
    }
    out.push_back(std::move(values));
  }
  return out;
}

TEST(Interop, OfficialClientAndTursoSyncSeeEachOthersChanges) {
  if (!official_client_installed())
    GTEST_SKIP() << "node_modules/@tursodatabase/sync is missing (run `make deps`)";
  LocalServer server;
  ASSERT_TRUE(server.started());
  remote_exec(
      server.url(),
      {"CREATE TABLE emails (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT, send_at REAL, "
       "body BLOB)",
       "INSERT INTO emails VALUES (1, 'a@x', 'one', 1.5, x'01'), (2, 'b@x', 'two', NULL, NULL), "
       "(3, 'c@x', 'three', 3.5, x'03')"});
  TempDir ours, theirs;
  std::vector<std::string> env{"TURSO_DATABASE_URL=" + server.url()};
  auto init = run_cli({"init"}, env, ours.path().string());
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  std::string wc = ours.file("working_copy.db");
  std::string team_db = theirs.file("teammate.db");

  // The teammate inserts, updates and deletes, and pushes. (REALs are computed, not written as literals: the
  // Turso engine parses some decimal literals one ulp off, e.g. 1e-300 becomes 9.999999999999999e-301.)
  teammate(team_db, server.url(),
           {"exec:INSERT INTO emails VALUES (4, 'd@x', 'héllo ✓ 日本', 0.1 + 0.2, x'00ff00')",
            "exec:UPDATE emails SET subject = 'it''s changed', send_at = 1.0 / 3 WHERE id = 1",
            "exec:DELETE FROM emails WHERE id = 2", "push"});
  const char* all = "SELECT id, recipient, subject, send_at, body FROM emails ORDER BY id";
  const Rows after_teammate = {
      {I(1), T("a@x"), T("it's changed"), R(1.0 / 3), B("\x01")},
      {I(3), T("c@x"), T("three"), R(3.5), B("\x03")},
      {I(4), T("d@x"), T("héllo ✓ 日本"), R(0.1 + 0.2), B(std::string("\0\xff\0", 3))}};
  ASSERT_EQ(remote_rows(server.url(), all), after_teammate) << render_rows(remote_rows(server.url(), all));

  // turso-sync pulls them exactly, and sees no local change afterwards (the client's own tables are ignored).
  auto pulled = run_cli({"pull"}, env, ours.path().string());
  ASSERT_EQ(pulled.exit_code, 0) << pulled.out << pulled.err;
  EXPECT_EQ(local_rows(wc, all), after_teammate) << render_rows(local_rows(wc, all));
  EXPECT_EQ(run_cli({"diff", "--exit-code"}, env, ours.path().string()).exit_code, 0);

  // turso-sync pushes; the teammate pulls and sees them.
  auto edited = run_command({"sqlite3", wc,
                             "INSERT INTO emails VALUES (5, 'e@x', 'from turso-sync', 2.25, x'0102');"
                             "UPDATE emails SET send_at = 0.7 WHERE id = 4;"
                             "DELETE FROM emails WHERE id = 3;"});
  ASSERT_EQ(edited.exit_code, 0) << edited.err;
  auto pushed = run_cli({"push"}, env, ours.path().string());
  ASSERT_EQ(pushed.exit_code, 0) << pushed.out << pushed.err;
  const Rows after_push = {{I(1), T("a@x"), T("it's changed"), R(1.0 / 3), B("\x01")},
                           {I(4), T("d@x"), T("héllo ✓ 日本"), R(0.7), B(std::string("\0\xff\0", 3))},
                           {I(5), T("e@x"), T("from turso-sync"), R(2.25), B("\x01\x02")}};
  EXPECT_EQ(remote_rows(server.url(), all), after_push) << render_rows(remote_rows(server.url(), all));

  std::string out = teammate(team_db, server.url(),
                             {"pull",
                              "query:SELECT id, recipient, subject, send_at, hex(body) AS body, "
                              "typeof(send_at) AS t FROM emails ORDER BY id"});
  Rows seen = teammate_rows(out, {"id", "recipient", "subject", "send_at", "body", "t"});
  const Rows expected = {{I(1), T("a@x"), T("it's changed"), R(1.0 / 3), T("01"), T("real")},
                         {I(4), T("d@x"), T("héllo ✓ 日本"), R(0.7), T("00FF00"), T("real")},
                         {I(5), T("e@x"), T("from turso-sync"), R(2.25), T("0102"), T("real")}};
  EXPECT_EQ(seen, expected) << out;

  // And the other way round once more, on a row turso-sync wrote: no lost update in either direction.
  teammate(team_db, server.url(), {"exec:UPDATE emails SET subject = 'seen by both' WHERE id = 5", "push"});
  ASSERT_EQ(run_cli({"pull"}, env, ours.path().string()).exit_code, 0);
  EXPECT_EQ(local_rows(wc, "SELECT subject, send_at FROM emails WHERE id = 5"),
            (Rows{{T("seen by both"), R(2.25)}}));
  EXPECT_EQ(run_cli({"diff", "--exit-code"}, env, ours.path().string()).exit_code, 0);
}

}  // namespace
}  // namespace turso_sync::testing
