/* Support for the C API test programs (tests/capi/): the CHECK macros (each program defines `g_failures`),
 * SQL on the remote through the independent path (tests/support/hrana_query.py), and for
 * inprocess_writers_test.c: environment and clock helpers, the payload each writer
 * writes for a row, a temporary application directory (make / remove / paths in it, read a file), SQL on the
 * remote through the independent path (tests/support/hrana_query.py), a look-up in a JSON report, and the
 * tally of the rows found per writer (in the working copy or on the remote) against what each committed.
 * C99 with GNU extensions (asprintf, mkdtemp, popen); TURSO_SYNC_SOURCE_DIR names the source tree. */
#ifndef TURSO_SYNC_TESTS_CAPI_SUPPORT_H
#define TURSO_SYNC_TESTS_CAPI_SUPPORT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "turso_sync.h"

/* Failed checks of the program, counted by CHECK and CHECK_RC. */
extern int g_failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      g_failures++;                                                            \
    }                                                                          \
  } while (0)

#define CHECK_RC(expr, expected, handle)                                                          \
  do {                                                                                            \
    int rc_ = (expr);                                                                             \
    if (rc_ != (expected)) {                                                                      \
      fprintf(stderr, "%s:%d: %s returned %d, expected %d: %s\n", __FILE__, __LINE__, #expr, rc_, \
              (expected), turso_sync_errmsg(handle));                                             \
      g_failures++;                                                                               \
    }                                                                                             \
  } while (0)

/* Whether `part` occurs in `text` (both may be NULL: then not). */
static inline int contains(const char* text, const char* part) {
  return text && part && strstr(text, part) != NULL;
}

#define CHECK_CONTAINS(text, part)                                                                        \
  do {                                                                                                    \
    const char* t_ = (text);                                                                              \
    if (!contains(t_, (part))) {                                                                          \
      fprintf(stderr, "%s:%d: expected \"%s\" in: %s\n", __FILE__, __LINE__, (part), t_ ? t_ : "(null)"); \
      g_failures++;                                                                                       \
    }                                                                                                     \
  } while (0)

enum { MAX_WRITERS = 8 }; /* writer threads and processes in all */

/* Monotonic clock, in seconds. */
double writers_now_s(void);
/* The environment variable `name` as a number, or `dflt` when unset or empty. */
long writers_env_long(const char* name, long dflt);
double writers_env_double(const char* name, double dflt);

/* The payload of row `seq` of writer `tag` (fits in 160 bytes). */
void writers_payload_of(char* out, size_t n, const char* tag, long long seq);

/* A fresh directory under $TMPDIR (or /tmp); the caller frees it, or passes it to writers_remove_dir. */
char* writers_make_dir(void);
/* Removes the directory and everything in it, and frees `dir`. */
void writers_remove_dir(char* dir);
/* "dir/name", to free. */
char* writers_path_in(const char* dir, const char* name);
/* The contents of a file (empty when it cannot be read), to free. */
char* writers_read_text(const char* path);

/* The independent path: one SQL statement on the remote at `url` through hrana_query.py; its rows, one JSON
 * array per line, or NULL when it failed. The caller frees the result. */
char* capi_remote_sql(const char* url, const char* sql);
/* The integer after `key` in `text`, or -1. */
long writers_json_int_after(const char* text, const char* key);
/* The first column of the first row of `sql`, or the error message; to free. */
char* writers_query_text(sqlite3* db, const char* sql);

/* Where each writer's rows were found: count[w][seq] for seq 1..committed, plus rows beyond. */
struct tally {
  int nwriters;
  char tags[MAX_WRITERS][16];
  long long committed[MAX_WRITERS];
  int* count[MAX_WRITERS];
  long long missing[MAX_WRITERS], duplicates[MAX_WRITERS], beyond[MAX_WRITERS];
  long long bad_payload, unknown_writer, rows;
  char first_missing[MAX_WRITERS][160];
};

void writers_tally_init(struct tally* t, int n, char tags[][16], const long long* committed);
/* Counts the missing and duplicated rows; frees the counts. */
void writers_tally_finish(struct tally* t);
/* Prints the tally; returns the number of problems. */
int writers_tally_report(const struct tally* t, const char* where);
/* Rows of the remote's items, read through the independent path; 0 when they could not be read. */
int writers_tally_remote(struct tally* t, const char* url);
/* Rows of the working copy's items, through `db`. */
void writers_tally_local(struct tally* t, sqlite3* db);

#endif
