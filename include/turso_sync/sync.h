// The sync operations on one configured database (README "Commands"; docs/operations.md): a SyncContext
// bundles the configuration, the remote client and the local files. Every operation returns a report or an
// Error (see status.h); none throws.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "turso_sync/changeset.h"
#include "turso_sync/config.h"
#include "turso_sync/conflict.h"
#include "turso_sync/diff.h"
#include "turso_sync/history.h"
#include "turso_sync/remote.h"
#include "turso_sync/status.h"

namespace turso_sync {

// Progress of long operations, for a progress line on a terminal. Called from the calling thread.
struct Progress {
  // "pages", "schema", "rows", "indexes", "working copy", "upload", "apply" (init --from); "push" (a part of
  // the push is being sent), "push apply" (the staged parts are being applied); "connecting", "waiting" (a
  // request waits for the server: `server`, `waited_ms`; told about once a second after the first second)
  std::string phase;
  std::string table;        // current table, when copying rows
  int64_t rows_done = 0;    // rows copied so far, all tables (push: rows in the parts sent or being sent)
  int64_t rows_total = -1;  // -1 when unknown
  uint64_t bytes_received = 0;
  int64_t pages_done = 0;    // page bootstrap: pages received so far
  int64_t pages_total = -1;  // -1 when unknown
  int64_t parts_done = 0;    // push: parts sent so far (staged push)
  int64_t parts_total = -1;  // push: 1 for a push in one request; staged: an estimate (-1 when unknown)
  uint64_t bytes_sent = 0;   // push: request bytes sent so far
  std::string server;        // connecting, waiting: scheme://host[:port]
  int64_t waited_ms = 0;     // connecting, waiting: for how long
};
using ProgressCallback = std::function<void(const Progress&)>;

struct InitOptions {
  // Replace an existing working copy (its content is replaced in place, through SQLite, by the replica's).
  bool force = false;
  // Migration from plain SQLite (`init --from FILE`): first publish the database FILE into the remote, which
  // must hold no user object (ErrorKind::refused otherwise, naming what it holds, nothing changed), as one
  // transaction; resumable after a crash (run it again). FILE may be the working copy itself.
  std::string from;
  ProgressCallback progress;
};

// What `init --from` published.
struct PublishReport {
  int64_t tables = 0;
  int64_t rows = 0;
  int64_t other_objects = 0;       // indexes, views, triggers
  int64_t parts = 0;               // parts of the upload
  int64_t parts_sent = 0;          // of them, sent by this run (the others had arrived before a crash)
  bool already_published = false;  // the publish had committed before this run (found by its receipt)
  std::vector<std::string> warnings;
};

struct InitReport {
  int64_t tables = 0;
  int64_t rows = 0;
  int64_t other_objects = 0;  // indexes, views, triggers
  uint64_t bytes_received = 0;
  int64_t requests = 0;
  std::string protocol;         // "pages" (byte image of the remote's pages) or "sql" (SQL snapshot)
  std::string protocol_reason;  // why that path (e.g. "pages not available: incomplete image: 4 of 8 pages")
  std::chrono::milliseconds elapsed{0};
  bool working_copy_replaced =
      false;                   // an existing working copy was overwritten (--force, or it had no changes)
  std::string discarded_path;  // --force: where the discarded local changes were saved
  std::vector<std::string> warnings;       // e.g. a table without a primary key
  std::optional<PublishReport> published;  // init --from
};

struct FileInfo {
  std::string path;
  bool exists = false;
  uint64_t size = 0;      // main file
  uint64_t wal_size = 0;  // -wal file, if any
};

// The diff options that leave this copy's local objects out (Config::local_tables; virtual tables and what
// depends on them always): every diff of the working copy against the replica uses them.
DiffOptions local_diff_options(const Config& config);

struct StatusReport {
  // Configuration (the token only masked).
  std::string database_url;
  std::string remote_http_url;  // resolved endpoint, empty if the URL is invalid
  std::string token_masked;
  std::map<std::string, std::string> sources;  // variable -> where it came from
  std::vector<std::string> config_files;
  std::vector<std::string> warnings;
  // Files.
  FileInfo replica, working_copy;
  std::string state_dir;
  bool initialized = false;  // replica and working copy both exist
  // From the state dir.
  std::string protocol, last_pull_at, last_push_at, remote_revision;
  std::string pull_path_reason;  // why the last pull took the path in `protocol`
  int64_t workflow_pid = 0;      // a running `workflow` for this state dir (-1: running, pid unknown), else 0
  // Remote.
  bool remote_checked = false;
  bool remote_reachable = false;
  double round_trip_ms = 0;
  std::string remote_error;
  std::string remote_error_detail;  // Error::detail of remote_error (-v)
  int remote_exit_code = 0;         // exit code the error maps to, 0 when reachable
  // How `--pull-on-change` follows this remote, measured by one /pull-updates request that may be held for
  // a second: "long-poll" (the server holds a request until it has something new), "poll" (it answers at
  // once: polled every second), "" when not measured (not reachable, an SQL pull, or the remote had changes).
  std::string remote_follow;
  std::optional<ErrorKind> remote_error_kind;
  // Local changes waiting to be pushed (working copy vs replica), when initialized.
  std::optional<DiffSummary> pending;
  std::string pending_error;  // why `pending` could not be computed
  int pending_exit_code =
      0;  // exit code of `pending_error` when a local file is damaged or unreadable, else 0
  std::optional<ErrorKind> pending_error_kind;  // with pending_exit_code
  // Held conflicts, recent operations, last error, workflow cycles (history.h); `health_error` when the
  // state dir's files could not be read.
  HealthReport health;
  std::string health_error;
  std::optional<HealthCheck> check;  // StatusOptions::check
};

struct StatusOptions {
  bool check_remote = true;
  ProgressCallback progress;  // told while the reachability check waits for the server
  // Also evaluate the health check (`status --check`, evaluate_health below) into StatusReport::check.
  bool check = false;
  std::optional<std::chrono::seconds> max_age;  // with check: the oldest acceptable last successful sync
};

// What a check of the remote's revision found (SyncContext::remote_changed).
struct RemoteChange {
  enum class State { unchanged, changed, unknown };
  State state = State::unknown;       // unknown: the replica is not a page image (only a pull can tell)
  std::chrono::milliseconds took{0};  // how long the server took to answer
  // A server that answers "nothing new" only after at least half the wait holds requests (long polling).
  bool held(std::chrono::milliseconds wait) const { return state == State::unchanged && took * 2 >= wait; }
};
// The health check of `status --check` (docs/operations.md, "Health checks"), on a status report: the first
// that applies of 4 (remote unreachable or token refused), 1 (a local file damaged or unreadable), 5 (the
// last sync operation or workflow cycle failed), 3 (it stopped on a conflict, or conflicts are held), 6 (no
// successful sync within `max_age`); else 0 "healthy". The one implementation, for the CLI, the C API and
// the bindings.
HealthCheck evaluate_health(const StatusReport& report, std::optional<std::chrono::seconds> max_age,
                            std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The exit code of `status`: the check's when it was evaluated, else the remote's error's, else the local
// files' (0 when neither failed).
int exit_code_of(const StatusReport& report);

struct PullOptions {
  ConflictPolicy on_conflict = ConflictPolicy::abort;
  InsertCollision on_insert_collision = InsertCollision::move_local;
  ProgressCallback progress;
  // Set by push for its own trailing pull: the changeset it has just applied to the remote. The remote's
  // form of those schema objects and rows is the base of the merge for them (never reported as a conflict);
  // a value the application wrote while the push ran stays a local change. Must outlive the call.
  const Changeset* pushed = nullptr;
};

struct PullReport {
  bool up_to_date = false;     // the remote had nothing new
  bool applied = false;        // false when conflicts stopped it (policy abort): nothing changed
  DiffSummary remote_changes;  // what changed on the remote since the last pull
  std::vector<MergeConflict> conflicts;
  std::vector<MovedRow> moved;
  TableCounts taken;           // remote changes written into the working copy
  int64_t merged_rows = 0;     // rows where both sides changed different columns
  std::string discarded_path;  // policy remote: where the overridden local values were saved
  uint64_t bytes_received = 0;
  int64_t requests = 0;
  std::string protocol;            // "pages" or "sql": how the replica was brought up to date
  std::string protocol_reason;     // why that path
  uint64_t pages_received = 0;     // page path: pages that arrived
  std::vector<std::string> notes;  // recovery actions taken, e.g. "finished an interrupted pull"
  // Held conflicts (ConflictPolicy::hold) in the state dir after this pull, new ones included; with policy
  // hold, `conflicts` lists the rows this pull held.
  int64_t held = 0;
};

// A local change the remote no longer allows: the remote row is not in the state the change was based on.
struct PushConflict {
  std::string table;
  std::vector<std::string> key_names;
  std::vector<Value> key;
  std::string operation;  // insert, update, delete
  std::string detail;     // what differs, e.g. "subject is 'B' on the remote, expected 'A'"
  // false: a constraint that `push --force` does not override either (a UNIQUE value another row holds, a
  // foreign key another row would leave dangling)
  bool force_overrides = true;
  // true: no change of the remote's is involved; the push's own rows would leave a reference dangling (the
  // application runs with foreign_keys off). Fix the working copy's rows; a pull changes nothing.
  bool local = false;
};

// Rows chosen by table and key (keys as `resolve` takes them: "5", "a,b" for a composite key).
struct RowSelection {
  std::string table;
  std::vector<std::string> keys;
};

struct PushOptions {
  bool force = false;    // local wins: unguarded upserts and deletes
  bool dry_run = false;  // build the batch, send nothing
  // Push only the local changes of these rows (and the pending schema changes, which they may need); every
  // other local change stays local, for a later push. Guarded like any push: a chosen row the remote changed
  // since the last pull refuses the push (PushReport::conflicts, exit 3) and nothing is applied. With one
  // row whose local change records "I take this", that is a compare-and-set through the remote: a claim
  // (docs/capi.md, "Doing work once across copies").
  std::optional<RowSelection> only;
  PullOptions pull;           // for the pull that follows a successful push
  ProgressCallback progress;  // the push's own progress: parts sent, the final batch, waits for the server
};

struct PushReport {
  bool nothing_to_push = false;
  bool already_applied = false;  // an earlier push whose answer was lost had landed; not sent again
  DiffSummary changes;           // what was (or would be) pushed
  int batches = 0;               // atomic batches that apply it: 1 (a push is one transaction)
  int staged_parts = 0;          // a change set too large for one request: parts staged before that batch
  std::string dry_run_sql;
  std::vector<PushConflict> conflicts;  // non-empty: nothing was applied (exit 3)
  std::optional<PullReport> pull;       // the pull after a successful push
  int64_t held = 0;                     // held conflicts in the state dir (never pushed until resolved)
  int64_t held_skipped = 0;             // local row changes left out of this push because their row is held
  int64_t held_new = 0;  // rows this push held itself (policy hold: a reference they would leave dangling,
                         // or a UNIQUE value a held row keeps on the remote)
  int64_t held_new_unique = 0;  // of those, the rows held for a UNIQUE value
  // Rows the remote cannot take (TEXT that is not valid UTF-8, found before sending; a row statement the
  // remote rejected, e.g. an UPDATE of a WITHOUT ROWID table on a server without them): each left out alone
  // and held (kind "refused", `turso-sync conflicts`), the rest pushed; one line each: "table key: why".
  std::vector<std::string> refused_rows;
};

// The exit code of an operation's outcome (README, "Commands"), decided here once for the CLI, the C API, the
// workflow loop and the history: 3 when conflicts stopped it (nothing applied), else 0. A failed operation's
// code is exit_code_for(error.kind()) (status.h); a status's is exit_code_of(StatusReport) below.
int exit_code_of(const PullReport& report);  // 3 when the pull did not apply (policy abort met conflicts)
// 3 when the remote refused the push (its rows changed meanwhile) or the pull after it stopped on conflicts.
int exit_code_of(const PushReport& report);

// Pull, then push (when the pull applied): both sides in line, what a workflow cycle runs.
struct SyncOptions {
  bool force = false;  // the push: local wins (PushOptions::force)
  PullOptions pull;    // the pull, and the pull that ends the push; its progress is the push's too
  // The history line's trigger gets ":<why>" (a workflow cycle: start, interval, change, remote, retry).
  std::string why;
  // Called once the outcome is known, just before the history line is written (error: nullptr on success),
  // for the caller's own fields of the line (a workflow cycle's number, failures in a row, next cycle).
  std::function<void(HistoryEntry& entry, const Error* error)> complete_history;
};

struct SyncReport {
  PullReport pull;
  std::optional<PushReport> push;  // set when the pull applied (exit_code_of(pull) == 0)
};

// 3 when the pull stopped on conflicts or the push was refused (or its trailing pull stopped), else 0.
int exit_code_of(const SyncReport& report);

// Who started an operation: the `trigger` of its history line. cli: the CLI, and a C++ program's default;
// capi: a call of the C API; workflow: a cycle of `turso-sync workflow`; background: a cycle of the C API's
// background sync.
enum class Trigger { cli, capi, workflow, background };
const char* to_string(Trigger trigger);  // "cli", "capi", "workflow", "capi:background"

struct ResetOptions {};
struct ResetReport {
  DiffSummary discarded;       // the local changes that were undone
  std::string discarded_path;  // where they were saved as SQL ("" when there were none)
};

struct CopyOptions {
  bool force = false;  // replace a working copy that has local changes (they are saved first)
};

// When `error` comes from a damaged local file (ErrorKind::local_db), an error naming which file is damaged
// (the replica or the working copy, each checked on its own with PRAGMA quick_check) and what to do; else
// `error` unchanged. SyncContext's operations do this themselves; for callers that read the files directly
// (the diff engine).
Error explain_damaged_files(const Config& config, Error error);

class SyncContext {
 public:
  // Validates nothing remote yet: commands that need the remote fail later with a clear error if it is not
  // configured. `transport` is for tests (fault injection); nullptr = make_transport()'s (remote.h).
  static Result<std::unique_ptr<SyncContext>> open(Config config,
                                                   std::unique_ptr<HttpTransport> transport = nullptr);

  const Config& config() const { return m_config; }

  // Each of init, pull, push (not a dry run), sync, reset, copy and resolve appends its own line to the
  // history (history.h), success or failure, with this trigger (default Trigger::cli). Best effort: a line
  // that cannot be written never fails the operation; history_error() says why it was not written (none
  // after a line was written).
  void set_trigger(Trigger trigger) { m_trigger = trigger; }
  Trigger trigger() const { return m_trigger; }
  const std::optional<Error>& history_error() const { return m_history_error; }

  // Downloads the remote into the replica (atomically: temp file, fsync, rename) and creates the working copy
  // from it. ErrorKind::refused when the working copy exists with local changes (or without a replica to
  // tell) and !options.force (nothing is changed then); with force, the discarded changes are saved first.
  Result<InitReport> init(const InitOptions& options);

  // Configuration, files, state and (optionally) a round trip to the remote. Errors only for local failures;
  // an unreachable remote is reported inside the StatusReport.
  Result<StatusReport> status(const StatusOptions& options);

  // Brings the replica to the remote's current state and merges the remote's changes into the working copy
  // (three-way, per row and column). Conflicts under ConflictPolicy::abort are reported, not errors.
  Result<PullReport> pull(const PullOptions& options);

  // Applies local changes to the remote in one guarded atomic batch, then pulls.
  Result<PushReport> push(const PushOptions& options);

  // Pull, then (when the pull applied) push: one history line "sync" for both. An error of either is
  // returned (a pull that applied stays applied when the push then fails).
  Result<SyncReport> sync(const SyncOptions& options);

  // Makes the working copy equal to the replica, in place; the discarded changes are saved first.
  Result<ResetReport> reset(const ResetOptions& options);

  // Copies the replica to the working copy: only when it does not exist or has no local changes, unless
  // force.
  Result<ResetReport> copy(const CopyOptions& options);

  // The held conflicts (ConflictPolicy::hold), with ours and theirs as the working copy and the replica have
  // them now. Reads only.
  Result<std::vector<HeldConflict>> conflicts();

  // Settles held conflicts (all, one table, or given keys; docs/conflicts.md). Resolution::ours: the local
  // row is what the next push sends, guarded against theirs (the replica's row now). Resolution::theirs: the
  // replica's row now (the remote's newest version) is written into the working copy, the local row saved to
  // .turso-sync/discarded-<time>.sql first. ErrorKind::usage when a given table or key holds no conflict.
  Result<ResolveReport> resolve(const ResolveOptions& options);

  // Whether the remote has a revision newer than the replica's (workflow `--pull-on-change`): one small
  // `/pull-updates` request (at most one page comes back), which a server that long-polls holds up to
  // `wait` while it has nothing new. Errors: the remote's (unreachable, timeout, ...), local ones reading the
  // state dir.
  Result<RemoteChange> remote_changed(std::chrono::milliseconds wait);
  // The sync history (history.jsonl), newest first: the newest `limit` entries (0 = all). Reads only.
  Result<std::vector<HistoryEntry>> log(size_t limit) const;

  // Local changes: the working copy compared with the replica (summary only).
  Result<DiffSummary> local_changes();

  // Opens the working copy for the application: read-write, WAL journal mode, a 30 s busy timeout (also for
  // the switch to WAL while a pull writes). The caller owns the handle and closes it with sqlite3_close.
  // ErrorKind::refused when not initialized ("run `turso-sync init`").
  Result<sqlite3*> open_working_copy();

  // The remote traffic of this context so far (zero before the first request).
  TransferStats transfer_stats() const { return m_remote ? m_remote->stats() : TransferStats(); }

  // ErrorKind::refused unless the replica and the working copy exist ("run `turso-sync init`").
  Status require_initialized() const;

  ~SyncContext();

 private:
  SyncContext(Config config, std::unique_ptr<HttpTransport> transport);
  Result<RemoteClient*> remote();
  // The client, telling `progress` (when set) what its requests wait for from now on.
  Result<RemoteClient*> remote(const ProgressCallback& progress);
  // Finishes work a killed run left behind (see docs/operations.md, state dir): an interrupted pull is
  // redone, a push whose answer was lost is looked up on the remote.
  Status recover(std::vector<std::string>& notes);
  Result<PullReport> pull_locked(const PullOptions& options);
  // The operations; the public ones add explain_damaged_files() to their errors.
  Result<PullReport> pull_files(const PullOptions& options);
  Result<PushReport> push_files(const PushOptions& options);
  // One push under the lock: the change set computed, sent, pulled. A row statement the remote rejects is
  // held when `may_hold_rejected` (sync/push_conflicts.h, refused_row) and `run_again` set: nothing was
  // applied, and the push must be computed again without that row.
  Result<PushReport> push_attempt(const PushOptions& options, bool may_hold_rejected, bool& run_again);
  Result<ResetReport> reset_files(const ResetOptions& options);
  Result<ResetReport> copy_files(const CopyOptions& options);
  Result<InitReport> init_files(const InitOptions& options);
  Result<ResolveReport> resolve_files(const ResolveOptions& options);
  // The history line of an operation starting now, with this context's trigger (and ":<why>").
  HistoryEntry begin_history(const char* operation, const std::string& why = "") const;
  // Ends the line (duration, traffic) and appends it; sets history_error().
  void write_history(HistoryEntry& entry);

  Config m_config;
  std::unique_ptr<HttpTransport> m_transport;  // consumed when the client is created
  std::unique_ptr<RemoteClient> m_remote;
  Trigger m_trigger = Trigger::cli;
  std::optional<Error> m_history_error;
};

}  // namespace turso_sync
