// Test harness: a real local Turso server per test, a temporary directory, the CLI as a subprocess, and an
// independent way to query the remote (tests/support/hrana_query.py, Python's standard library only).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "turso_sync/value.h"

namespace turso_sync::testing {

namespace fs = std::filesystem;

using Rows = std::vector<std::vector<Value>>;

// Value shorthands for expected rows: {I(1), T("a"), R(0.5), B("\x01"), N()}.
inline Value I(int64_t v) {
  return Value::integer(v);
}
inline Value T(std::string s) {
  return Value::text(std::move(s));
}
inline Value R(double d) {
  return Value::real(d);
}
inline Value B(std::string bytes) {
  return Value::blob(std::move(bytes));
}
inline Value N() {
  return Value::null();
}

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return m_path; }
  std::string file(const std::string& name) const { return (m_path / name).string(); }

 private:
  fs::path m_path;
};

// `tursodb --sync-server` on a free 127.0.0.1 port, serving a fresh database file in its own directory.
// Started by the constructor (fails the test on error), stopped by pid in the destructor.
class LocalServer {
 public:
  // Always started with --experimental-without-rowid; `extra_flags` adds others (e.g.
  // "--experimental-generated-columns").
  explicit LocalServer(std::vector<std::string> extra_flags = {});
  ~LocalServer();
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  const std::string& url() const { return m_url; }
  int port() const { return m_port; }
  pid_t pid() const { return m_pid; }
  bool started() const { return m_pid > 0; }
  void stop();
  // Stops the server and starts it again on the same port and database file (its WAL is kept).
  void restart();

 private:
  // Starts tursodb on `port`; m_pid stays -1 when it did not come up.
  void spawn(int port);
  std::vector<std::string> m_flags;
  TempDir m_dir;
  std::string m_url;
  int m_port = 0;
  pid_t m_pid = -1;
};

// Path of the tursodb binary from the pinned npm package.
std::string tursodb_path();
int free_port();
// A socket listening on a free 127.0.0.1 port (stored in *port); the caller closes it.
int listen_on_free_port(int* port, int backlog);
// A socket connected to 127.0.0.1:port, or -1.
int connect_loopback(int port);
// The whole content of a file ("" when it cannot be read).
std::string read_text(const std::string& path);
// Replaces the file `path` with `text`.
void write_text(const std::string& path, const std::string& text);
// Replaces the file `path` with `content` and gives it the permission bits `mode`; fails the test when chmod
// fails.
void write_file(const std::string& path, const std::string& content, mode_t mode = 0600);
// The permission bits of a file (st_mode & 07777), 0 when it cannot be stat'ed.
unsigned mode_of(const std::string& path);
// Whether `text` contains `part`.
bool contains(const std::string& text, const std::string& part);
// The discarded-changes files (discarded-*.sql) in dir's state dir (.turso-sync/), by name (oldest first);
// none when there is no state dir. A file still being written (its temp file) is not one.
std::vector<std::string> discarded_files(const TempDir& dir);
// The text of every discarded-*.sql file in dir's state dir (.turso-sync/), concatenated.
std::string discarded_files_text(const TempDir& dir);
// Whether the official client (@tursodatabase/sync, the interop tests' teammate) is installed (`make deps`).
bool official_client_installed();

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  long max_rss_kib = 0;  // peak resident set size of the command (wait4's ru_maxrss)
};

// Runs `argv` with the extra environment `env` ("NAME=value"), in directory `cwd`; captures stdout and
// stderr.
CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                          const std::string& cwd = "", const std::string& stdin_data = "");

// Starts the CLI in the background; returns its pid. Wait with wait_exit_code(). Its stdout and stderr go to
// `output_file` when given (else they are discarded).
pid_t spawn_cli(const std::vector<std::string>& args, const std::vector<std::string>& env,
                const std::string& cwd, const std::string& output_file = "");
int wait_exit_code(pid_t pid);
// The seeds of a property test's cases: by default a fixed sequence starting from `base`, so that every run
// (CI's included) tries the same cases and a failure replays exactly; fresh random seeds with
// TURSO_SYNC_RANDOM_SEEDS=1 (`make soak` runs many of them). Print each seed as it is used.
class SeedSequence {
 public:
  explicit SeedSequence(uint64_t base);
  uint64_t next();
  bool random() const { return m_random; }

 private:
  uint64_t m_state;
  bool m_random;
};

// The process's exit code, or -1 (it is then killed) if it did not exit within `limit`.
int exit_within(pid_t pid, std::chrono::milliseconds limit);
// Whether `done()` becomes true within `limit`, checked every `poll` (an event to wait for, not a delay).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(20),
                std::chrono::milliseconds poll = std::chrono::milliseconds(100));

// The test programs' code is compiled once and linked into each variant's test programs (the product's in
// build/tests/, the sanitized one's in build/asan/tests/, tests/CMakeLists.txt): what depends on the variant
// is found at run time.
// The folder of this test program (files built with it: libopen_guard.so).
const std::string& test_program_dir();
// The CLI of this test program's variant, one folder above it (build/turso-sync, build/asan/turso-sync).
const std::string& cli_path();
// Whether this program runs with the sanitizers (the sanitized variant).
bool sanitized();

// Runs the turso-sync CLI of this test program's variant.
CommandResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                      const std::string& cwd = "");
// Runs the CLI with stdout and stderr on a pseudo-terminal, as a user at a terminal would (progress lines
// are drawn only there): everything it wrote is in `out`, terminal control sequences included.
CommandResult run_cli_on_terminal(const std::vector<std::string>& args,
                                  const std::vector<std::string>& env = {}, const std::string& cwd = "");

// Independent remote access: executes `statements` on `url` and returns every result row, each as a JSON
// array of [type, value] pairs (see hrana_query.py). Fails the test if a statement fails.
std::vector<std::string> remote_query(const std::string& url, const std::vector<std::string>& statements);
// Executes statements and asserts success, ignoring rows.
void remote_exec(const std::string& url, const std::vector<std::string>& statements);
// Executes statements through the independent path as a writer on the server would: false (and no test
// failure) when the server refuses one (a UNIQUE value another row holds); the statements after it are not
// run.
bool remote_try_exec(const std::string& url, const std::vector<std::string>& statements);

// Rows of `sql` on the remote through the independent path, as exact Values (REALs parsed by Python's json
// module and re-parsed here; TEXT as the server sent it; BLOBs from base64).
Rows remote_rows(const std::string& url, const std::string& sql);
// Runs `sql` on a local SQLite file as an application would (own connection, 60 s busy timeout); fails the
// test on error.
void local_exec(const std::string& path, const std::string& sql);
// Runs `sql` as an application does, in one transaction (BEGIN IMMEDIATE … COMMIT) with its own `PRAGMA
// foreign_keys` setting: the number of rows the last statement changed, or -1 when SQLite refused it (the
// application's own constraint error: nothing is changed).
int app_exec(const std::string& path, bool foreign_keys, const std::string& sql);
// Runs `sql` on a local SQLite file with the sqlite3 CLI, as an application in another process would; fails
// the test on error.
void local_sql(const std::string& path, const std::string& sql);
// Rows of `sql` on a local SQLite file, read with the plain SQLite C API.
Rows local_rows(const std::string& path, const std::string& sql);
// Renders rows for assertion messages: one line per row, values with their types.
std::string render_rows(const Rows& rows);
// A REAL literal that SQLite reads back bit-exact: %.17g, with ".0" added when that looks like an integer.
std::string sql_real(double d);

}  // namespace turso_sync::testing

namespace turso_sync {
// GoogleTest printer: "real:0.30000000000000004" instead of the bytes of the object.
void PrintTo(const Value& value, std::ostream* os);
}  // namespace turso_sync

namespace turso_sync::testing {}  // namespace turso_sync::testing
