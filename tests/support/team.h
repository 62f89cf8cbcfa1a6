// Teammates of the integration tests: working copies, each in its own directory, `turso-sync init`ed from
// one real local server (test_env.h) and driven through the CLI.
#pragma once

#include <string>
#include <vector>

#include "support/test_env.h"

namespace turso_sync::testing {

// One server and two teammates' directories, A and B; start() makes each a working copy of the server.
struct Team {
  LocalServer server;
  TempDir a, b;

  // The environment of a command against the server (TURSO_DATABASE_URL).
  std::vector<std::string> env() const;
  // The CLI with `args`, run in `dir` against the server.
  CommandResult run(const TempDir& dir, const std::vector<std::string>& args) const;
  // `args` in `dir`, killed with SIGKILL at the named crash point (src/util/crash_point.h).
  CommandResult run_crashing(const TempDir& dir, const std::vector<std::string>& args,
                             const std::string& point) const;
  std::string wc(const TempDir& dir) const { return dir.file("working_copy.db"); }
  std::string replica(const TempDir& dir) const { return dir.file("local_replica.db"); }
  // Rows of `sql` on the remote (the independent path) / on the working copy of `dir`.
  Rows remote(const std::string& sql) const;
  Rows rows(const TempDir& dir, const std::string& sql) const;

  // Remote SQL (none when empty), then `turso-sync init` in both copies; fails the test on error.
  void start(const std::vector<std::string>& remote_sql);
  // `turso-sync init` in both copies against `url` (the server's, or a proxy's in front of it).
  void init_both(const std::string& url);
  // `diff --exit-code`: 0 when the working copy of `dir` equals its replica.
  int diff_exit(const TempDir& dir) const;
};

// The team on a `notes` table (id INTEGER PRIMARY KEY, title TEXT, body TEXT) of three rows (the held
// conflict tests).
struct NotesTeam : Team {
  // Remote: the table with rows 1 'base', 2 'two', 3 'three'; then `init` in both copies.
  void start();
  // A changes row 1's title and pushes; B changes the same title differently: B's next pull meets a conflict.
  // Both also make unrelated edits (A: insert 10; B: body of row 2, insert 20).
  void make_conflict();
};
// Row 1 of NotesTeam's table.
inline constexpr const char* kRow1 = "SELECT id, title, body FROM notes WHERE id = 1";

// The team with the schema of each side (the schema migration tests).
struct SchemaTeam : Team {
  // Column names of `table`, lower-cased, in declaration order: on the remote / in the working copy of `dir`.
  std::vector<std::string> remote_columns(const std::string& table) const;
  std::vector<std::string> columns(const TempDir& dir, const std::string& table) const;
  // The SQL of a schema object on the remote / in the working copy of `dir` ("" when there is none).
  std::string remote_sql(const std::string& name) const;
  std::string local_sql_of(const TempDir& dir, const std::string& name) const;
};

// One working copy in its own directory, against `url` (a server's, or a proxy's in front of it).
struct Copy {
  TempDir dir;
  std::string url;

  // The CLI with `args`, run in the copy's directory against `url`.
  CommandResult run(const std::vector<std::string>& args) const;
  std::string wc() const { return dir.file("working_copy.db"); }
  std::string replica() const { return dir.file("local_replica.db"); }
  // The text of the copy's .turso-sync/state.json.
  std::string state() const { return read_text(dir.file(".turso-sync/state.json")); }
};

}  // namespace turso_sync::testing
