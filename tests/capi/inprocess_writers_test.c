/* In-process background sync while the application writes from several processes (issue 17).
 *
 * The application syncs in-process (turso_sync_background_start, a cycle every 100 ms) and keeps its own
 * SQLite connections open on the working copy, writing rows from threads; a second process of the same
 * application (this program re-executed with --writer; two by default) writes rows into the same working copy
 * with its own connections, opening and closing them as a short-lived process of the application would (and,
 * optionally, checkpointing). POSIX advisory locks belong to the process: a library that opens and closes the
 * working copy (or its -wal) with its own descriptor drops the application's locks, and the second process
 * then believes it is alone: on closing its last connection it checkpoints and deletes the WAL under the
 * application (WAL mode), or rolls back a "hot" journal of a transaction in progress (rollback-journal
 * mode). Committed rows are lost and later cycles find the working copy damaged.
 *
 * After the writers and the background sync stop and a final sync ran, the checks go through a second
 * path: the remote is read with tests/support/hrana_query.py (raw /v2/pipeline), the working copy with a
 * fresh SQLite connection. Every committed row of every writer must be on the remote exactly once with its
 * content, the working copy must pass PRAGMA integrity_check and hold them too, and no cycle in the sync
 * history may have failed on a damaged working copy.
 *
 * Run by tests/capi/with_server.sh (TURSO_TEST_URL).
 *
 *   inprocess_writers_test wal|delete       the scenario: working copy in WAL or rollback-journal mode
 *   inprocess_writers_test --writer DB TAG PROGRESS_FILE     (internal: the second process)
 *
 * Environment (all optional):
 *   TURSO_TEST_WRITERS_SECONDS   how long the writers write (load, not synchronisation), default 30
 *   TURSO_TEST_APP_WRITERS       writer threads in the application process, default 1
 *   TURSO_TEST_PROC_WRITERS      writer processes, default 2
 *   TURSO_TEST_CHECKPOINT_EVERY  a writer process runs PRAGMA wal_checkpoint(TRUNCATE) every N of its rows
 *                                (WAL mode; 0 = never), default 200
 *   TURSO_TEST_PROC_GAP_US       a writer process's pause between closing a connection and opening the next
 *                                (it holds nothing on the file meanwhile, like a short-lived process of the
 *                                application between two runs), default 20000
 *   TURSO_TEST_SYNC_INTERVAL     background sync interval in seconds, default 0.1
 *   TURSO_TEST_WRITE_PAUSE_US    pause between two commits of one writer (keeps the load modest), and between
 *                                two rows of one transaction of the application, default 2000
 *   TURSO_TEST_APP_TXN_ROWS      rows per transaction of the application's writer threads, default 4
 *   TURSO_TEST_KEEP_DIR          set: a failed run keeps its application directory (printed) for a
 * post-mortem
 *
 * The defaults were chosen on the binary before the fix: WAL mode lost thousands of rows in every run (two
 * writer processes, each holding nothing between its connections, so that one of them finds itself alone);
 * rollback-journal mode lost rows or met I/O errors in every run (transactions of several rows keep a journal
 * open for the other processes to find "hot").
 *
 * Nothing here depends on the machine's speed: the run ends when the duration has passed AND every writer
 * has committed at least MIN_ROWS rows AND at least MIN_CYCLES background cycles completed meanwhile (events,
 * waited for with turso_sync_background_wait); what is checked afterwards holds for any interleaving.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capi_support.h"
#include "turso_sync.h"

extern char** environ;

enum { MIN_ROWS = 20, MIN_CYCLES = 5, GRACE_SECONDS = 120 };

int g_failures = 0;
static const char* g_url = NULL;

static int is_busy(int rc) {
  rc &= 0xff;
  return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* ---- what a writer did (shared with the parent through a small file for the writer processes) --------- */

struct progress {
  long long committed; /* rows 1..committed of this writer are committed */
  long long busy;      /* inserts that failed with SQLITE_BUSY/LOCKED (retried) */
  long long errors;    /* other failures (a damaged file, I/O errors) */
  long long opens;     /* connections opened */
  long long checkpoints;
  int finished; /* the writer stopped (asked to, or after too many errors) */
  char last_error[256];
};

/* One row, committed on its own. 0 when committed, else the SQLite result code (message in `err`). */
static int insert_row(sqlite3* db, const char* tag, long long seq, char* err, size_t errlen) {
  char payload[160];
  writers_payload_of(payload, sizeof payload, tag, seq);
  sqlite3_stmt* st = NULL;
  int rc =
      sqlite3_prepare_v2(db, "INSERT INTO items (writer, seq, payload) VALUES (?1, ?2, ?3)", -1, &st, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, tag, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_text(st, 3, payload, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK) snprintf(err, errlen, "insert %s/%lld: %s (%d)", tag, seq, sqlite3_errmsg(db), rc);
  sqlite3_finalize(st);
  return rc;
}

static void note_error(struct progress* p, int rc, const char* msg) {
  if (is_busy(rc)) {
    p->busy++;
  } else {
    p->errors++;
    size_t n = strlen(msg);
    if (n >= sizeof p->last_error) n = sizeof p->last_error - 1;
    memcpy(p->last_error, msg, n);
    p->last_error[n] = 0;
  }
}

/* ---- the second process ------------------------------------------------------------------------------ */

static volatile sig_atomic_t g_child_stop = 0;
static void on_term(int sig) {
  (void)sig;
  g_child_stop = 1;
}

static void save_progress(int fd, const struct progress* p) {
  if (pwrite(fd, p, sizeof *p, 0) != (ssize_t)sizeof *p) _exit(5);
}

/* Writes rows tag/1, tag/2, ... until SIGTERM, each committed on its own, through connections it opens and
 * closes every few rows (a short-lived process of the application: closing the last connection of a process
 * checkpoints and deletes the WAL when no other process holds the file). Its progress is in PROGRESS_FILE. */
static int writer_process(const char* path, const char* tag, const char* progress_path) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  int fd = open(progress_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return 4;
  long checkpoint_every = writers_env_long("TURSO_TEST_CHECKPOINT_EVERY", 200);
  long pause_us = writers_env_long("TURSO_TEST_WRITE_PAUSE_US", 2000);
  long gap_us = writers_env_long("TURSO_TEST_PROC_GAP_US", 20000);
  struct progress p;
  memset(&p, 0, sizeof p);
  save_progress(fd, &p);
  unsigned seed = (unsigned)getpid();
  char err[512];
  while (!g_child_stop && p.errors < 100) {
    sqlite3* db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    p.opens++;
    if (rc != SQLITE_OK) {
      snprintf(err, sizeof err, "open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
      note_error(&p, rc, err);
      save_progress(fd, &p);
      sqlite3_close(db);
      /* A pause before trying again (the error is counted and fails the test): no check waits on it. */
      usleep(10000);
      continue;
    }
    sqlite3_busy_timeout(db, 30000);
    int rows = 1 + (int)(rand_r(&seed) % 8);
    for (int i = 0; i < rows && !g_child_stop && p.errors < 100; ++i) {
      rc = insert_row(db, tag, p.committed + 1, err, sizeof err);
      if (rc == SQLITE_OK) {
        p.committed++;
        if (checkpoint_every > 0 && p.committed % checkpoint_every == 0) {
          /* What an application's auto-checkpoint does, made complete: a no-op in rollback-journal mode. */
          rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
          if (rc == SQLITE_OK)
            p.checkpoints++;
          else if (!is_busy(rc)) {
            snprintf(err, sizeof err, "checkpoint: %s (%d)", sqlite3_errmsg(db), rc);
            note_error(&p, rc, err);
          }
        }
      } else {
        note_error(&p, rc, err);
      }
      save_progress(fd, &p);
      /* Pacing of the load (TURSO_TEST_WRITE_PAUSE_US): what is checked holds for any interleaving. */
      if (pause_us > 0) usleep((useconds_t)pause_us);
    }
    rc = sqlite3_close(db);
    if (rc != SQLITE_OK) {
      snprintf(err, sizeof err, "close: %d", rc);
      note_error(&p, rc, err);
    }
    /* Until the next invocation: meanwhile this process holds no connection (nor lock) on the file. */
    /* The gap between two connections, as a short-lived process of the application: load, not a wait. */
    if (gap_us > 0 && !g_child_stop) usleep((useconds_t)gap_us);
  }
  p.finished = 1;
  save_progress(fd, &p);
  close(fd);
  return 0;
}

/* ---- the application's writer threads ---------------------------------------------------------------- */

struct app_writer {
  sqlite3* db; /* the application's connection (turso_sync_open_working_copy), open for the whole run */
  char tag[16];
  pthread_t thread;
  pthread_mutex_t lock;
  struct progress p;
};

static volatile int g_app_stop = 0;

/* Runs `sql` on the writer's connection; 0 or the SQLite result code (message in `err`). */
static int exec_sql(sqlite3* db, const char* sql, char* err, size_t errlen) {
  int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK) snprintf(err, errlen, "%s: %s (%d)", sql, sqlite3_errmsg(db), rc);
  return rc;
}

/* Transactions of `rows_per_txn` rows (BEGIN IMMEDIATE, the rows with a pause between them: the application
 * works inside its transaction, COMMIT); the rows count as committed once COMMIT succeeded. A failed
 * transaction is rolled back and its rows written again. */
static void* app_writer_main(void* arg) {
  struct app_writer* w = arg;
  long pause_us = writers_env_long("TURSO_TEST_WRITE_PAUSE_US", 2000);
  long rows_per_txn = writers_env_long("TURSO_TEST_APP_TXN_ROWS", 4);
  if (rows_per_txn < 1) rows_per_txn = 1;
  char err[512];
  for (;;) {
    pthread_mutex_lock(&w->lock);
    int stop = __atomic_load_n(&g_app_stop, __ATOMIC_SEQ_CST) || w->p.errors >= 100;
    long long next = w->p.committed + 1;
    pthread_mutex_unlock(&w->lock);
    if (stop) break;
    int rc = exec_sql(w->db, "BEGIN IMMEDIATE", err, sizeof err);
    for (long k = 0; rc == SQLITE_OK && k < rows_per_txn; ++k) {
      /* Pacing of the load, inside the transaction: any interleaving is checked the same way. */
      if (k > 0 && pause_us > 0) usleep((useconds_t)pause_us);
      rc = insert_row(w->db, w->tag, next + k, err, sizeof err);
    }
    if (rc == SQLITE_OK) rc = exec_sql(w->db, "COMMIT", err, sizeof err);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(w->db)) sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_lock(&w->lock);
    if (rc == SQLITE_OK)
      w->p.committed = next + rows_per_txn - 1;
    else
      note_error(&w->p, rc, err);
    pthread_mutex_unlock(&w->lock);
    /* Pacing of the load between transactions. */
    if (pause_us > 0) usleep((useconds_t)pause_us);
  }
  pthread_mutex_lock(&w->lock);
  w->p.finished = 1;
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

struct child {
  pid_t pid;
  char tag[16];
  char* progress_path;
  int exited;
  int status;
};

static void read_child_progress(struct child* c, struct progress* p) {
  memset(p, 0, sizeof *p);
  int fd = open(c->progress_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (pread(fd, p, sizeof *p, 0) != (ssize_t)sizeof *p) memset(p, 0, sizeof *p);
  close(fd);
}

/* ---- the scenario -------------------------------------------------------------------------------------- */

static void scenario(const char* mode, const char* self) {
  int rollback_journal = strcmp(mode, "delete") == 0;
  double seconds = writers_env_double("TURSO_TEST_WRITERS_SECONDS", 30);
  int napp = (int)writers_env_long("TURSO_TEST_APP_WRITERS", 1);
  int nproc = (int)writers_env_long("TURSO_TEST_PROC_WRITERS", 2);
  double interval = writers_env_double("TURSO_TEST_SYNC_INTERVAL", 0.1);
  if (napp < 0 || nproc < 0 || napp + nproc < 1 || napp + nproc > MAX_WRITERS) {
    fprintf(stderr, "writers: 1..%d in all\n", MAX_WRITERS);
    g_failures++;
    return;
  }
  printf(
      "mode %s: %.0f s, %d application writer thread(s), %d writer process(es), sync every %g s, "
      "checkpoint every %ld rows in the writer processes\n",
      mode, seconds, napp, nproc, interval, writers_env_long("TURSO_TEST_CHECKPOINT_EVERY", 200));
  fflush(stdout);
  double t_start = writers_now_s();

  char* created = capi_remote_sql(
      g_url,
      "CREATE TABLE items (id INTEGER PRIMARY KEY, writer TEXT NOT NULL, seq INTEGER NOT NULL, "
      "payload TEXT NOT NULL)");
  CHECK(created != NULL);
  free(created);

  char* dir = writers_make_dir();
  char* env_path = writers_path_in(dir, ".env");
  FILE* env = fopen(env_path, "w");
  if (!env) abort();
  fprintf(env, "TURSO_DATABASE_URL=%s\n", g_url);
  fclose(env);
  free(env_path);
  char* working = writers_path_in(dir, "working_copy.db");

  turso_sync_handle* h = NULL;
  CHECK_RC(turso_sync_open(dir, &h), TURSO_SYNC_OK, h);
  CHECK_RC(turso_sync_init(h, NULL, NULL), TURSO_SYNC_OK, h);

  /* The application's connections: one that stays idle between reads (it keeps its lock on the file, as
   * an application's pool does) and one per writer thread. */
  sqlite3* reader = NULL;
  CHECK_RC(turso_sync_open_working_copy(h, &reader), TURSO_SYNC_OK, h);
  if (!reader) {
    turso_sync_close(h);
    writers_remove_dir(dir);
    free(working);
    return;
  }
  if (rollback_journal) {
    char* jm = writers_query_text(reader, "PRAGMA journal_mode=DELETE");
    CHECK(strcmp(jm, "delete") == 0);
    free(jm);
  }
  struct app_writer apps[MAX_WRITERS];
  memset(apps, 0, sizeof apps);
  for (int i = 0; i < napp; ++i) {
    snprintf(apps[i].tag, sizeof apps[i].tag, "app%d", i);
    pthread_mutex_init(&apps[i].lock, NULL);
    if (rollback_journal) {
      /* Not turso_sync_open_working_copy: it would switch the file back to WAL. */
      CHECK(sqlite3_open_v2(working, &apps[i].db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) ==
            SQLITE_OK);
      sqlite3_busy_timeout(apps[i].db, 30000);
    } else {
      CHECK_RC(turso_sync_open_working_copy(h, &apps[i].db), TURSO_SYNC_OK, h);
    }
  }
  char* jm = writers_query_text(reader, "PRAGMA journal_mode");
  printf("working copy journal mode: %s\n", jm);
  CHECK(strcmp(jm, rollback_journal ? "delete" : "wal") == 0);
  free(jm);

  char* report = NULL;
  char options[64];
  snprintf(options, sizeof options, "{\"interval\":%g}", interval);
  CHECK_RC(turso_sync_background_start(h, options, &report), TURSO_SYNC_OK, h);
  turso_sync_free(report);
  report = NULL;

  /* The writers. */
  struct child children[MAX_WRITERS];
  memset(children, 0, sizeof children);
  for (int i = 0; i < nproc; ++i) {
    struct child* c = &children[i];
    snprintf(c->tag, sizeof c->tag, "proc%d", i);
    c->progress_path = writers_path_in(dir, c->tag);
    char* argv[] = {(char*)self, "--writer", working, c->tag, c->progress_path, NULL};
    int rc = posix_spawn(&c->pid, self, NULL, NULL, argv, environ);
    if (rc != 0) {
      fprintf(stderr, "posix_spawn %s: %s\n", self, strerror(rc));
      g_failures++;
      c->pid = 0;
      c->exited = 1;
    }
  }
  for (int i = 0; i < napp; ++i) CHECK(pthread_create(&apps[i].thread, NULL, app_writer_main, &apps[i]) == 0);
  double t_writing = writers_now_s();

  /* Load for `seconds`, and until every writer has committed MIN_ROWS and MIN_CYCLES cycles completed. */
  long cycles0 = -1, cycles = 0;
  double last_print = t_writing;
  int reads = 0, read_errors = 0;
  const char* ended_because = "duration";
  for (;;) {
    CHECK(turso_sync_background_wait(h, (int)cycles, 100, &report) != TURSO_SYNC_USAGE);
    long c = writers_json_int_after(report, "\"cycles\":");
    turso_sync_free(report);
    report = NULL;
    if (c >= 0) cycles = c;
    if (cycles0 < 0) cycles0 = cycles;
    /* The application also reads, through its long-lived connection. */
    char* n = writers_query_text(reader, "SELECT count(*) FROM items");
    reads++;
    if (strspn(n, "0123456789") != strlen(n) || !*n) {
      if (read_errors++ < 5) fprintf(stderr, "application read failed: %s\n", n);
    }
    free(n);

    int all_min = 1, someone_stopped = 0;
    long long total = 0;
    for (int i = 0; i < napp; ++i) {
      pthread_mutex_lock(&apps[i].lock);
      all_min &= apps[i].p.committed >= MIN_ROWS;
      someone_stopped |= apps[i].p.finished;
      total += apps[i].p.committed;
      pthread_mutex_unlock(&apps[i].lock);
    }
    for (int i = 0; i < nproc; ++i) {
      struct child* ch = &children[i];
      if (!ch->exited && ch->pid > 0 && waitpid(ch->pid, &ch->status, WNOHANG) == ch->pid) ch->exited = 1;
      struct progress p;
      read_child_progress(ch, &p);
      all_min &= p.committed >= MIN_ROWS;
      someone_stopped |= ch->exited || p.finished;
      total += p.committed;
    }
    double t = writers_now_s();
    if (t - last_print >= 5) {
      printf("  %.0f s: %lld rows committed, %ld cycles\n", t - t_writing, total, cycles - cycles0);
      fflush(stdout);
      last_print = t;
    }
    double elapsed = t - t_writing;
    if (elapsed < seconds) continue;
    if (all_min && cycles - cycles0 >= MIN_CYCLES) break;
    if (someone_stopped) {
      ended_because = "a writer stopped";
      break;
    }
    if (elapsed > seconds + GRACE_SECONDS) {
      ended_because = "no progress";
      fprintf(stderr, "after %.0f s: writers below %d rows or fewer than %d cycles (%ld)\n", elapsed,
              MIN_ROWS, MIN_CYCLES, cycles - cycles0);
      g_failures++;
      break;
    }
  }
  double t_stop = writers_now_s();

  /* Stop the writers, then the background sync; a final sync sends what is left. */
  __atomic_store_n(&g_app_stop, 1, __ATOMIC_SEQ_CST);
  for (int i = 0; i < napp; ++i) pthread_join(apps[i].thread, NULL);
  for (int i = 0; i < nproc; ++i) {
    struct child* c = &children[i];
    if (!c->exited && c->pid > 0) {
      kill(c->pid, SIGTERM);
      if (waitpid(c->pid, &c->status, 0) == c->pid) c->exited = 1;
    }
  }
  CHECK_RC(turso_sync_background_stop(h, &report), TURSO_SYNC_OK, h);
  long total_cycles = writers_json_int_after(report, "\"cycles\":");
  turso_sync_free(report);
  report = NULL;
  int final_rc = turso_sync_sync(h, NULL, &report);
  if (final_rc != TURSO_SYNC_OK) {
    fprintf(stderr, "final sync: %d: %s\n  report: %.600s\n", final_rc, turso_sync_errmsg(h),
            report ? report : "(none)");
    g_failures++;
  }
  turso_sync_free(report);
  report = NULL;
  double t_synced = writers_now_s();

  /* What each writer committed. */
  char tags[MAX_WRITERS][16];
  long long committed[MAX_WRITERS];
  int nw = 0;
  long long writer_errors = 0, writer_busy = 0;
  for (int i = 0; i < napp; ++i, ++nw) {
    snprintf(tags[nw], sizeof tags[nw], "%s", apps[i].tag);
    committed[nw] = apps[i].p.committed;
    writer_errors += apps[i].p.errors;
    writer_busy += apps[i].p.busy;
    if (apps[i].p.errors)
      printf("  writer %s: %lld errors, last: %s\n", apps[i].tag, apps[i].p.errors, apps[i].p.last_error);
  }
  for (int i = 0; i < nproc; ++i, ++nw) {
    struct child* c = &children[i];
    struct progress p;
    read_child_progress(c, &p);
    snprintf(tags[nw], sizeof tags[nw], "%s", c->tag);
    committed[nw] = p.committed;
    writer_errors += p.errors;
    writer_busy += p.busy;
    printf("  writer %s: %lld connections opened, %lld checkpoints\n", c->tag, p.opens, p.checkpoints);
    if (p.errors) printf("  writer %s: %lld errors, last: %s\n", c->tag, p.errors, p.last_error);
    if (!c->exited || !WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0) {
      fprintf(stderr, "writer process %s did not exit cleanly (status %d)\n", c->tag, c->status);
      g_failures++;
    }
  }
  if (writer_errors) {
    fprintf(stderr, "the writers met %lld errors (a damaged working copy?)\n", writer_errors);
    g_failures++;
  }
  if (read_errors) {
    fprintf(stderr, "%d of %d application reads failed\n", read_errors, reads);
    g_failures++;
  }

  for (int i = 0; i < napp; ++i) {
    sqlite3_close(apps[i].db);
    pthread_mutex_destroy(&apps[i].lock);
  }
  sqlite3_close(reader);

  /* The sync history: no cycle may have found the working copy damaged. */
  char* history_path = writers_path_in(dir, ".turso-sync/history.jsonl");
  char* history = writers_read_text(history_path);
  free(history_path);
  int lines = 0, failed = 0, damaged = 0, shown = 0;
  for (char* line = history; line && *line;) {
    char* next = strchr(line, '\n');
    if (next) *next++ = 0;
    lines++;
    if (strstr(line, "\"result\":\"error\"")) {
      failed++;
      int is_damage = strstr(line, "damaged") || strstr(line, "malformed") || strstr(line, "corrupt") ||
                      strstr(line, "disk image");
      damaged += is_damage;
      const char* e = strstr(line, "\"error\":");
      if (shown < 5) {
        printf("  failed cycle: %.400s\n", e ? e : line);
        shown++;
      }
    }
    line = next;
  }
  free(history);

  /* The working copy, through a fresh connection. */
  sqlite3* check = NULL;
  struct tally local;
  writers_tally_init(&local, nw, tags, committed);
  char* integrity = NULL;
  if (sqlite3_open_v2(working, &check, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_busy_timeout(check, 30000);
    integrity = writers_query_text(check, "PRAGMA integrity_check");
    writers_tally_local(&local, check);
  } else {
    integrity = strdup(sqlite3_errmsg(check));
  }
  sqlite3_close(check);
  writers_tally_finish(&local);

  /* The remote, through the independent path. */
  struct tally remote;
  writers_tally_init(&remote, nw, tags, committed);
  int remote_read = writers_tally_remote(&remote, g_url);
  writers_tally_finish(&remote);
  double t_end = writers_now_s();

  char integrity_line[512];
  snprintf(integrity_line, sizeof integrity_line, "%s", integrity ? integrity : "?");
  for (char* c = integrity_line; *c; ++c)
    if (*c == '\n') *c = ' ';
  long long all_committed = 0, all_missing = 0, all_missing_local = 0;
  for (int w = 0; w < nw; ++w) {
    all_committed += committed[w];
    all_missing += remote.missing[w];
    all_missing_local += local.missing[w];
  }
  printf(
      "mode %s: ended by %s; %lld rows committed (%lld busy retries); %ld background cycles, %d history "
      "lines, %d failed cycles, %d on a damaged file; integrity_check: %.300s\n",
      mode, ended_because, all_committed, writer_busy, total_cycles, lines, failed, damaged, integrity_line);
  int local_problems = writers_tally_report(&local, "working copy");
  int remote_problems = remote_read ? writers_tally_report(&remote, "remote") : 1;
  printf("mode %s: %lld of %lld committed rows missing on the remote, %lld missing in the working copy\n",
         mode, all_missing, all_committed, all_missing_local);
  printf("timings: set-up %.1f s, writing %.1f s, stop + final sync %.1f s, checks %.1f s, total %.1f s\n",
         t_writing - t_start, t_stop - t_writing, t_synced - t_stop, t_end - t_synced, t_end - t_start);

  CHECK(integrity && strcmp(integrity, "ok") == 0);
  CHECK(damaged == 0);
  CHECK(local_problems == 0);
  CHECK(remote_read);
  CHECK(remote_problems == 0);
  if (failed && !damaged) printf("note: %d cycles failed for other reasons (listed above)\n", failed);
  free(integrity);

  for (int i = 0; i < nproc; ++i) free(children[i].progress_path);
  turso_sync_close(h);
  free(working);
  if (g_failures && getenv("TURSO_TEST_KEEP_DIR")) {
    printf("kept %s\n", dir);
    free(dir);
  } else {
    writers_remove_dir(dir);
  }
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "--writer") == 0) return writer_process(argv[2], argv[3], argv[4]);
  if (argc != 2 || (strcmp(argv[1], "wal") != 0 && strcmp(argv[1], "delete") != 0)) {
    fprintf(stderr, "usage: inprocess_writers_test wal|delete\n");
    return 2;
  }
  g_url = getenv("TURSO_TEST_URL");
  if (!g_url) {
    fprintf(stderr,
            "inprocess_writers_test: TURSO_TEST_URL is not set (run through tests/capi/with_server.sh)\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    perror("readlink /proc/self/exe");
    return 2;
  }
  self[n] = 0;
  scenario(argv[1], self);
  printf("%s inprocess_writers %s\n", g_failures ? "FAIL" : "ok  ", argv[1]);
  printf("turso_sync %s: %d failure(s)\n", turso_sync_version(), g_failures);
  return g_failures ? 1 : 0;
}
