// Checks shared by the fault, crash and held-conflict tests: the CLI's JSON output, integrity, counts and row
// comparisons between the remote and local files, a large remote to interrupt operations on, SIGKILL at a
// moment, and the temp files a killed process leaves behind.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <simdjson.h>

#include "support/test_env.h"

namespace turso_sync::testing {

std::vector<std::string> env_for(const std::string& url);

// The root of a JSON document printed by the CLI, parsed by `parser` (which owns it); fails the test when the
// text is not JSON.
simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& text);

// The strings of a JSON array (as the CLI's --json prints values: SQL literals), "null" for a non-string.
std::vector<std::string> json_strings(simdjson::dom::element array);

// The single integer `sql` returns on a local file / on the remote (through the independent path); -1 when
// it returns something else.
int64_t local_count(const std::string& path, const std::string& sql);
int64_t remote_count(const std::string& url, const std::string& sql);

// `PRAGMA integrity_check` answers "ok" on the local SQLite file `path`.
void expect_integrity_ok(const std::string& path);
// `sql` returns the same rows on the remote and on the local file.
void expect_same(const std::string& url, const std::string& local_path, const std::string& sql);
// `sql` returns the same rows on two local files; on failure the message shows the counts and the first row
// that differs (not every row: the tables may be large).
void expect_same_local(const std::string& path_a, const std::string& path_b, const std::string& sql);
// `diff --exit-code` finds no local change in `dir`.
void expect_no_local_changes(const TempDir& dir, const std::string& url);
// Neither a working copy nor a replica exists in `dir` (a command that failed before creating them).
void expect_no_files(const TempDir& dir);

// A remote big enough (a few MB) that a pull or push takes a moment: table emails (id INTEGER PRIMARY KEY,
// recipient TEXT, subject TEXT, score REAL, pad BLOB) with 2^doublings rows of recipient 'seed', built by
// `INSERT … SELECT` doubling. Its REALs are dyadic (id / 8.0): tursodb 0.6.0 parses some JSON float arguments
// inexactly (see the convergence test), which is not what the tests using it are about.
void make_big_remote(const std::string& url, int doublings = 14);
// A remote of table items (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, body TEXT, score REAL) with 1024 seed
// rows (ids 1..1024, owner 'seed'), for the staged push tests.
void make_items_remote(const std::string& url);
// An aggregate over every column of make_big_remote's table.
inline constexpr const char* kRowsChecksum =
    "SELECT count(*), sum(id), total(length(subject)), total(score), sum(length(pad)), "
    "sum(recipient = 'seed') FROM emails";

// Staged pushes (docs/protocol.md, "Push: staged"): what identifies the final batch of a push in a request
// (the parts never write the push receipt), and the staging tables plus part receipts of any push left on the
// remote.
inline constexpr const char* kFinalBatch = "INSERT INTO turso_sync_pushes";
int64_t staging_left(const std::string& url);

// Timed kills. The wait is the kill moment itself, not a hope that something has happened by then: the
// tests that use them assert only what must hold wherever the kill lands (before the command starts, in any
// of its steps, or after it finished), so a faster or slower machine changes which step is hit, never the
// result.
// The exit code of a process stopped by SIGKILL.
inline constexpr int kKilled = 128 + SIGKILL;
// The seed of a test's kill moments: TURSO_SYNC_KILL_SEED when set, else a fresh random seed.
uint64_t kill_seed();
// Sleeps `ms`, then SIGKILLs `pid` and reaps it.
void kill_after(pid_t pid, int ms);
// SIGKILLs the child `pid` at `when` (at once if that has passed) and reaps it. Returns its exit code: 0 or
// another code when it had finished by then, 128 + SIGKILL when the kill stopped it.
int kill_at(pid_t pid, std::chrono::steady_clock::time_point when);

// The files under `dir` (recursively) named like a turso-sync temp file, "<name>.tmp-<pid>[…]", whose process
// no longer runs.
std::vector<std::string> temp_files_of_dead_processes(const fs::path& dir);

}  // namespace turso_sync::testing
