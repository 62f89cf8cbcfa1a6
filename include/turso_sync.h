/* turso_sync.h — the C API of turso-sync (C99; for C programs, OCaml stubs and any FFI).
 *
 * The same operations as the `turso-sync` command, on one configured database, through an opaque handle:
 *
 *   turso_sync_handle* ts = NULL;
 *   int rc = turso_sync_open("/path/to/app", &ts);       // config as `turso-sync` run in that directory
 *   if (rc != TURSO_SYNC_OK) { fprintf(stderr, "%s\n", turso_sync_errmsg(ts)); turso_sync_close(ts); }
 *   char* report = NULL;
 *   rc = turso_sync_pull(ts, "{\"on_conflict\":\"local\"}", &report);
 *   ...  // report: the JSON document `turso-sync --json pull` prints
 *   turso_sync_free(report);
 *   turso_sync_close(ts);
 *
 * Result codes are the CLI's exit codes (README, "Commands"): TURSO_SYNC_OK 0, TURSO_SYNC_ERROR 1,
 * TURSO_SYNC_USAGE 2 (bad argument, bad configuration, or refused because data would be lost),
 * TURSO_SYNC_CONFLICT 3, TURSO_SYNC_UNREACHABLE 4 (remote unreachable, timeout, authentication, server
 * error). A failed call leaves its message on the handle (turso_sync_errmsg): "<what was being done>:
 * <cause>", and its error kind (turso_sync_errkind: busy, timeout, auth, corrupt file, … — which failures are
 * worth a retry).
 *
 * Options are a JSON object (or NULL for the defaults) whose names are the CLI's flags with '_' for '-'
 * (`--on-conflict=local` is {"on_conflict":"local"}); an unknown name, a value of the wrong type or text
 * that is not a JSON object is TURSO_SYNC_USAGE, naming the option. Reports are JSON documents with the
 * fields of the CLI's `--json` output, documented in docs/capi.md. When `report_json` is not NULL,
 * *report_json is always set (unless memory runs out: NULL): to the report, or — when the call failed before
 * producing one — to {"error":{"kind":…,"message":…,"exit_code":…}}. The caller frees it with
 * turso_sync_free.
 *
 * Threads: a handle may be used from any thread, one call at a time. A call made while another call on the
 * same handle is in progress does not wait: it returns TURSO_SYNC_ERROR with "handle busy: …". Different
 * handles are independent. The library never installs signal handlers and never throws: every function
 * catches everything. Background sync (turso_sync_background_*) runs on a thread of its own, with its own
 * connection state; while one of its cycles works on the files, a pull/push/sync/reset/init of the same
 * database (through any handle or process) fails at once with TURSO_SYNC_ERROR "another turso-sync is
 * working on …" — retry after the cycle.
 */
#ifndef TURSO_SYNC_H
#define TURSO_SYNC_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define TURSO_SYNC_API __attribute__((visibility("default")))
#else
#define TURSO_SYNC_API
#endif

#define TURSO_SYNC_OK 0
#define TURSO_SYNC_ERROR 1
#define TURSO_SYNC_USAGE 2
#define TURSO_SYNC_CONFLICT 3
#define TURSO_SYNC_UNREACHABLE 4
/* Only from turso_sync_status with {"check":true} (`status --check`): the last sync failed (5), no
 * successful sync within max_age (6). */
#define TURSO_SYNC_LAST_SYNC_FAILED 5
#define TURSO_SYNC_TOO_OLD 6

/* Error kinds (turso_sync_errkind): what failed, finer than the result code; the library's ErrorKind
 * (include/turso_sync/status.h), whose names are the "kind" of the JSON error documents. Result code of each
 * in brackets. Worth a retry as is, after a pause: BUSY (another process or thread works on the files or the
 * handle), UNREACHABLE, TIMEOUT and SERVER (HTTP 5xx; back off). CONFLICT: pull (merges), then retry.
 * Not worth a retry without a change: USAGE, CONFIG, REFUSED (add "force" if meant), AUTH (fix the
 * token), PROTOCOL (the URL is not a Turso server), SQL, LOCAL_DB (a damaged or unreadable file: see the
 * message; `init` with force rebuilds), IO (disk full, permissions), INTERNAL (a bug: report it).
 * CANCELLED: the operation was interrupted on request. */
#define TURSO_SYNC_KIND_NONE 0   /* the last call succeeded (or its code is not an error: diff's exit_code) */
#define TURSO_SYNC_KIND_USAGE 1  /* [2] bad argument or option */
#define TURSO_SYNC_KIND_CONFIG 2 /* [2] missing or invalid configuration (URL, .env, toml) */
#define TURSO_SYNC_KIND_REFUSED 3     /* [2] would lose data and was not forced; not initialized */
#define TURSO_SYNC_KIND_CONFLICT 4    /* [3] the remote changed rows the local changes depend on */
#define TURSO_SYNC_KIND_UNREACHABLE 5 /* [4] connection refused, DNS or TLS failure */
#define TURSO_SYNC_KIND_TIMEOUT 6     /* [4] the remote did not answer in time */
#define TURSO_SYNC_KIND_AUTH 7        /* [4] HTTP 401/403: the token was refused */
#define TURSO_SYNC_KIND_SERVER 8      /* [4] HTTP 5xx or another unexpected status */
#define TURSO_SYNC_KIND_PROTOCOL 9    /* [4] an answer that cannot be parsed */
#define TURSO_SYNC_KIND_SQL 10        /* [1] the remote or a local database rejected a statement */
#define TURSO_SYNC_KIND_LOCAL_DB 11   /* [1] a local SQLite file is corrupt, missing or read-only */
#define TURSO_SYNC_KIND_BUSY 12       /* [1] locked by another process, or the handle is in use */
#define TURSO_SYNC_KIND_IO 13         /* [1] a filesystem operation failed (e.g. disk full) */
#define TURSO_SYNC_KIND_CANCELLED 14  /* [1] interrupted */
#define TURSO_SYNC_KIND_INTERNAL 15   /* [1] a bug in turso-sync */

/* The opaque handle on one configured database. (Not named `turso_sync`: that is the C++ API's namespace, and
 * a C++ program may include both headers.) */
typedef struct turso_sync_handle turso_sync_handle;
struct sqlite3; /* from <sqlite3.h> */

/* The library's version, "0.1.0". Static storage. */
TURSO_SYNC_API const char* turso_sync_version(void);

/* Opens a handle on the database configured in directory `dir`, exactly as `turso-sync` run there would:
 * process environment > `dir`/.env > `dir`/turso-sync.toml > defaults, with relative paths (working copy,
 * replica, diff file, state dir) taken relative to `dir`. `dir` NULL or "" means the current directory.
 * Contacts nothing: a missing remote URL is reported by the calls that need it.
 * On success returns TURSO_SYNC_OK and stores a new handle in *out. On failure (`dir` is not a directory,
 * bad .env or toml: TURSO_SYNC_USAGE) *out is still set to a handle that carries the message
 * (turso_sync_errmsg) and refuses every other call with it; close it with turso_sync_close. `out` NULL:
 * TURSO_SYNC_USAGE, nothing else. Ownership: the caller owns *out and closes it with turso_sync_close. */
TURSO_SYNC_API int turso_sync_open(const char* dir, turso_sync_handle** out);

/* Like turso_sync_open, but the configuration comes from the JSON object `config_json` instead of the
 * environment and files: {"url":…, "auth_token":…, "replica":…, "working":…, "diff":…, "state_dir":…,
 * "interval":seconds, "dir":base directory for the relative paths (default: the current directory),
 * "ca_cert":…, "allow_insecure_http":bool, "connect_timeout_ms":…, "read_timeout_ms":…,
 * "request_timeout_ms":…, "retry_backoff_ms":…, "local_tables":"drafts, cache_*" (tables that stay on this
 * copy, as TURSO_SYNC_LOCAL_TABLES)}; every key is optional, defaults as in the CLI
 * (working_copy.db, local_replica.db, diff.sql, .turso-sync, 300). Unknown keys or bad JSON:
 * TURSO_SYNC_USAGE. Ownership and failure as turso_sync_open. */
TURSO_SYNC_API int turso_sync_open_config(const char* config_json, turso_sync_handle** out);

/* Closes the handle: stops its background sync (waiting for a cycle in progress to end), frees everything.
 * NULL is a no-op. Must not run concurrently with another call on the same handle (a programmer error);
 * the handle is invalid afterwards. Working-copy connections from turso_sync_open_working_copy stay open
 * (the caller owns them). */
TURSO_SYNC_API void turso_sync_close(turso_sync_handle* handle);

/* The message of the last failed call on `handle` ("" when the last call succeeded), or a fixed message for
 * a NULL handle. The returned string belongs to the library and stays valid in the calling thread until the
 * next turso_sync_errmsg call in that thread. Never fails, may be called while another thread uses the
 * handle. */
TURSO_SYNC_API const char* turso_sync_errmsg(turso_sync_handle* handle);

/* The code of the last call on `handle` (TURSO_SYNC_OK after a success); TURSO_SYNC_USAGE for NULL. */
TURSO_SYNC_API int turso_sync_errcode(turso_sync_handle* handle);

/* The error kind of the last call on `handle` (TURSO_SYNC_KIND_*; TURSO_SYNC_KIND_NONE after a success);
 * TURSO_SYNC_KIND_USAGE for NULL. Like turso_sync_errcode, may be called while another thread uses the
 * handle. */
TURSO_SYNC_API int turso_sync_errkind(turso_sync_handle* handle);

/* The name of an error kind: "none", "usage", …, "internal" (as in the JSON error documents), "unknown"
 * for any other number. Static storage. */
TURSO_SYNC_API const char* turso_sync_errkind_name(int kind);

/* Frees a string returned by this library (report_json). NULL is a no-op. */
TURSO_SYNC_API void turso_sync_free(char* text);

/* The operations. Each takes the handle, options (JSON object text or NULL) and an optional place for the
 * report (see the top of this file; report documents in docs/capi.md), and returns a result code.
 *
 * init: {"force":bool, "from":path}. Downloads the remote into the replica and creates the working copy.
 * Refuses (TURSO_SYNC_USAGE) to replace a working copy that has local changes unless force. "from": first
 * publish that plain SQLite database into the empty remote (`init --from`).
 *
 * pull: {"on_conflict":"abort"|"local"|"remote"|"hold", "on_insert_collision":"move"|"conflict"}. "hold":
 * every other change is applied; each conflicting row keeps the local version and is held (never pushed)
 * until turso_sync_resolve. TURSO_SYNC_CONFLICT when conflicts stopped it (policy abort; nothing applied;
 * listed in the report).
 *
 * push: {"force":bool, "dry_run":bool, "on_conflict":…, "on_insert_collision":…} (the last two for the pull
 * that follows the push). TURSO_SYNC_CONFLICT when the remote changed rows being pushed (nothing applied;
 * run pull first).
 *
 * sync: {"force":bool, "on_conflict":…, "on_insert_collision":…}: pull, then push (when the pull applied).
 *
 * diff: {"exit_code":bool}: writes the diff file (0600) and reports its summary; with exit_code,
 * TURSO_SYNC_ERROR when there are changes (like `diff --exit-code`). Needs no remote.
 *
 * status: {"offline":bool, "check":bool, "max_age":"15m"|seconds}: configuration (token masked), files,
 * state, remote reachability, pending local changes, health. TURSO_SYNC_UNREACHABLE when the remote was
 * checked and is unreachable (report still set). With "check" (`status --check`): the report's "check"
 * ({"exit_code","healthy","reason"}) and the code are the health check's, the first that applies of 4
 * (remote unreachable or token refused), 1 (a local file damaged), TURSO_SYNC_LAST_SYNC_FAILED 5 (the last
 * sync or background cycle failed), TURSO_SYNC_CONFLICT 3 (it stopped on a conflict, or conflicts are held),
 * TURSO_SYNC_TOO_OLD 6 (no successful sync within max_age); else TURSO_SYNC_OK.
 *
 * reset: {"yes":bool} (accepted for symmetry with the CLI; the C API never asks): makes the working copy
 * equal to the replica; the discarded changes are saved to the state dir first.
 *
 * copy: {"force":bool}: copies the replica to the working copy, only when the working copy does not exist
 * or has no local changes (TURSO_SYNC_USAGE otherwise) unless force (the discarded changes are saved to the
 * state dir first). Report {"command":"copy",…} as reset's. Needs no remote.
 *
 * log: {"number":N} (default 20; 0: every entry): the sync history, newest first:
 * {"command":"log","entries":[…]}. Reads only; needs no remote.
 *
 * They block until done (network, files). Thread rules: see the top of this file. Progress is not
 * reported. */
TURSO_SYNC_API int turso_sync_init(turso_sync_handle* handle, const char* options_json, char** report_json);
TURSO_SYNC_API int turso_sync_pull(turso_sync_handle* handle, const char* options_json, char** report_json);
TURSO_SYNC_API int turso_sync_push(turso_sync_handle* handle, const char* options_json, char** report_json);
TURSO_SYNC_API int turso_sync_sync(turso_sync_handle* handle, const char* options_json, char** report_json);
TURSO_SYNC_API int turso_sync_diff(turso_sync_handle* handle, const char* options_json, char** report_json);
TURSO_SYNC_API int turso_sync_status(turso_sync_handle* handle, const char* options_json, char** report_json);
TURSO_SYNC_API int turso_sync_reset(turso_sync_handle* handle, const char* options_json, char** report_json);
TURSO_SYNC_API int turso_sync_copy(turso_sync_handle* handle, const char* options_json, char** report_json);
TURSO_SYNC_API int turso_sync_log(turso_sync_handle* handle, const char* options_json, char** report_json);

/* Held conflicts (docs/conflicts.md), like `turso-sync conflicts` and `turso-sync resolve`.
 *
 * conflicts  options NULL or {}: lists the held rows (table, key, base/ours/theirs, since when) in
 *            {"command":"conflicts","conflicts":[…]}. Needs no remote.
 * resolve    {"take":"ours"|"theirs" (required), "table":"T" (default every table), "keys":["5","a,b"]
 *            (default every key of the table; composite keys joined by commas)}. "ours": the local row is
 *            what the next push sends, guarded against the remote's; "theirs": the remote's newest row is
 *            written into the working copy, the local one saved to <state dir>/discarded-<time>.sql first.
 *            TURSO_SYNC_USAGE when a given table or key holds no conflict. Needs no remote. */
TURSO_SYNC_API int turso_sync_conflicts(turso_sync_handle* handle, const char* options_json,
                                        char** report_json);
TURSO_SYNC_API int turso_sync_resolve(turso_sync_handle* handle, const char* options_json,
                                      char** report_json);

/* The resolved configuration, without contacting anything or reading the databases:
 * {"name":…, "database_url":…, "auth_token":"eyJh…(masked)"|"(none)", "replica":…, "working":…, "diff":…,
 * "state_dir":…, "interval":seconds, "initialized":bool (replica and working copy exist)}. Paths as the
 * library uses them (under the turso_sync_open directory when relative there). *config_json is always set
 * when not NULL (an error document on failure); free it with turso_sync_free. Unlike the operations, it may
 * run while another call on the handle is in progress (the configuration never changes once opened). */
TURSO_SYNC_API int turso_sync_config(turso_sync_handle* handle, char** config_json);

/* Opens the working copy for the application: read-write, WAL journal mode, a 30 s busy timeout (so the
 * application waits, rather than fails, while a pull merges into it). TURSO_SYNC_USAGE when the database is
 * not initialized (the message says to run `turso-sync init` or turso_sync_init). On success *out owns a
 * new connection the caller closes with sqlite3_close; it is independent of the handle (may outlive it, use
 * it from any thread as SQLite allows). On failure *out is NULL. */
TURSO_SYNC_API int turso_sync_open_working_copy(turso_sync_handle* handle, struct sqlite3** out);

/* Background sync in this process: `turso-sync workflow` on a thread of the library. Every `interval`
 * seconds a sync cycle (pull, then push), exponential backoff with jitter after failures, and with
 * push_on_change a cycle soon after the working copy changes. Options: {"interval":seconds (number > 0;
 * default: the configuration's TURSO_SYNC_INTERVAL, 300), "push_on_change":bool, "on_conflict":…,
 * "on_insert_collision":…}. Returns once the first cycle has run, with that cycle's report (the
 * workflow's --json line, docs/capi.md) in *report_json: TURSO_SYNC_OK even when that cycle failed or met a
 * conflict (the loop goes on and retries; see the report's exit_code). Fails when the loop cannot start:
 * not initialized (TURSO_SYNC_USAGE), another workflow already runs for this state dir — in this process or
 * another — (TURSO_SYNC_ERROR, naming its pid), or this handle already has one (TURSO_SYNC_USAGE).
 * Does not use the handle's call lock: foreground calls on the handle stay possible (see the top of the
 * file for what happens while a cycle works on the files). */
TURSO_SYNC_API int turso_sync_background_start(turso_sync_handle* handle, const char* options_json,
                                               char** report_json);

/* Stops the handle's background sync: a cycle in progress runs to its end (nothing is left half done), then
 * the thread exits; returns after it has exited, within about 100 ms when no cycle runs. Only this handle's
 * loop stops: the process-wide cancellation of the library is not used. TURSO_SYNC_USAGE when none runs.
 * *report_json (if not NULL): {"cycles":N,"last":<last cycle report>|null}. */
TURSO_SYNC_API int turso_sync_background_stop(turso_sync_handle* handle, char** report_json);

/* Waits until the background loop has completed a cycle numbered above `after_cycle` (cycles count from 1
 * since turso_sync_background_start), or has ended, or `timeout_ms` (>= 0) has passed; 0 returns at once.
 * Returns TURSO_SYNC_OK when such a cycle completed, TURSO_SYNC_ERROR with "timeout …" otherwise, and
 * TURSO_SYNC_USAGE when no background sync runs. *report_json (if not NULL): {"running":bool,"cycles":N,
 * "last":<last cycle report>|null}. An event to synchronise on (tests, "has my change been pushed?"), not
 * a polling loop; may be called from any thread while another waits. */
TURSO_SYNC_API int turso_sync_background_wait(turso_sync_handle* handle, int after_cycle, int timeout_ms,
                                              char** report_json);

#ifdef __cplusplus
}
#endif

#endif /* TURSO_SYNC_H */
