/* Support for tests/capi/inprocess_writers_test.c (see capi_support.h). */
#define _GNU_SOURCE
#include "capi_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double writers_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long writers_env_long(const char* name, long dflt) {
  const char* v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : dflt;
}

double writers_env_double(const char* name, double dflt) {
  const char* v = getenv(name);
  return v && *v ? strtod(v, NULL) : dflt;
}

/* The filler makes rows span more pages, so that cycles see changed pages in the file and in the WAL. */
static const char FILLER[] =
    "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdef";

void writers_payload_of(char* out, size_t n, const char* tag, long long seq) {
  snprintf(out, n, "%s-%lld-%s", tag, seq, FILLER);
}

char* writers_make_dir(void) {
  const char* tmp = getenv("TMPDIR");
  char* path = NULL;
  if (asprintf(&path, "%s/capi_writers.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0) abort();
  if (!mkdtemp(path)) abort();
  return path;
}

void writers_remove_dir(char* dir) {
  char* cmd = NULL;
  if (asprintf(&cmd, "rm -rf '%s'", dir) < 0) abort();
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  free(cmd);
  free(dir);
}

char* writers_path_in(const char* dir, const char* name) {
  char* path = NULL;
  if (asprintf(&path, "%s/%s", dir, name) < 0) abort();
  return path;
}

char* writers_read_text(const char* path) {
  FILE* f = fopen(path, "r");
  char* out = calloc(1, 1);
  size_t n = 0;
  if (!f) return out;
  char buf[65536];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
    out = realloc(out, n + got + 1);
    memcpy(out + n, buf, got);
    n += got;
    out[n] = '\0';
  }
  fclose(f);
  return out;
}

/* The independent path: one SQL statement on the remote through hrana_query.py; its rows, one JSON array per
 * line, or NULL when it failed. The caller frees the result. */
char* capi_remote_sql(const char* url, const char* sql) {
  char* quoted = malloc(strlen(sql) * 4 + 3); /* for the shell: in single quotes, each ' as '\'' */
  char* q = quoted;
  *q++ = '\'';
  for (const char* s = sql; *s; ++s) {
    if (*s == '\'') {
      memcpy(q, "'\\''", 4);
      q += 4;
    } else {
      *q++ = *s;
    }
  }
  *q++ = '\'';
  *q = 0;
  char* cmd = NULL;
  if (asprintf(&cmd, "python3 '%s/tests/support/hrana_query.py' '%s' %s", TURSO_SYNC_SOURCE_DIR, url,
               quoted) < 0)
    abort();
  free(quoted);
  FILE* p = popen(cmd, "r");
  free(cmd);
  if (!p) return NULL;
  size_t cap = 65536, len = 0;
  char* out = malloc(cap);
  size_t n;
  while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
    len += n;
    if (cap - len < 2) out = realloc(out, cap *= 2);
  }
  out[len] = 0;
  if (pclose(p) != 0) {
    fprintf(stderr, "remote SQL failed: %s\n", sql);
    free(out);
    return NULL;
  }
  return out;
}

long writers_json_int_after(const char* text, const char* key) {
  const char* at = text ? strstr(text, key) : NULL;
  return at ? strtol(at + strlen(key), NULL, 10) : -1;
}

void writers_tally_init(struct tally* t, int n, char tags[][16], const long long* committed) {
  memset(t, 0, sizeof *t);
  t->nwriters = n;
  for (int w = 0; w < n; ++w) {
    snprintf(t->tags[w], sizeof t->tags[w], "%s", tags[w]);
    t->committed[w] = committed[w];
    t->count[w] = calloc((size_t)committed[w] + 1, sizeof(int));
  }
}

static void tally_row(struct tally* t, const char* writer, long long seq, const char* payload) {
  t->rows++;
  for (int w = 0; w < t->nwriters; ++w) {
    if (strcmp(writer, t->tags[w]) != 0) continue;
    char expected[160];
    writers_payload_of(expected, sizeof expected, writer, seq);
    if (!payload || strcmp(payload, expected) != 0) t->bad_payload++;
    if (seq >= 1 && seq <= t->committed[w])
      t->count[w][seq]++;
    else
      t->beyond[w]++;
    return;
  }
  t->unknown_writer++;
}

void writers_tally_finish(struct tally* t) {
  for (int w = 0; w < t->nwriters; ++w) {
    char* out = t->first_missing[w];
    size_t used = 0;
    out[0] = 0;
    for (long long s = 1; s <= t->committed[w]; ++s) {
      int c = t->count[w][s];
      if (c == 0) {
        if (t->missing[w] < 8 && used < 120) used += (size_t)snprintf(out + used, 160 - used, " %lld", s);
        t->missing[w]++;
      } else if (c > 1) {
        t->duplicates[w] += c - 1;
      }
    }
    free(t->count[w]);
    t->count[w] = NULL;
  }
}

/* Prints the tally; returns the number of problems. */
int writers_tally_report(const struct tally* t, const char* where) {
  int problems = 0;
  for (int w = 0; w < t->nwriters; ++w) {
    long long found = t->committed[w] - t->missing[w];
    printf(
        "  %s: writer %s: %lld committed, %lld present, %lld missing%s%s%s, %lld duplicated, %lld beyond\n",
        where, t->tags[w], t->committed[w], found, t->missing[w], t->missing[w] ? " (first:" : "",
        t->missing[w] ? t->first_missing[w] : "", t->missing[w] ? ")" : "", t->duplicates[w], t->beyond[w]);
    problems += t->missing[w] > 0 || t->duplicates[w] > 0 || t->beyond[w] > 0;
  }
  if (t->bad_payload || t->unknown_writer) {
    printf("  %s: %lld rows with a wrong payload, %lld of an unknown writer\n", where, t->bad_payload,
           t->unknown_writer);
    problems++;
  }
  return problems;
}

/* Rows of the remote's items, read through the independent path. Lines: [["text", "TAG SEQ PAYLOAD"]]. */
int writers_tally_remote(struct tally* t, const char* url) {
  char* rows = capi_remote_sql(url, "SELECT writer || ' ' || seq || ' ' || payload FROM items");
  if (!rows) return 0;
  for (char* line = rows; line && *line;) {
    char* next = strchr(line, '\n');
    if (next) *next++ = 0;
    const char* start = strstr(line, "\"text\", \"");
    if (start) {
      start += 9;
      char writer[32], payload[200];
      long long seq = 0;
      if (sscanf(start, "%31s %lld %199[^\"]", writer, &seq, payload) == 3)
        tally_row(t, writer, seq, payload);
      else
        t->bad_payload++;
    }
    line = next;
  }
  free(rows);
  return 1;
}

void writers_tally_local(struct tally* t, sqlite3* db) {
  sqlite3_stmt* st = NULL;
  if (sqlite3_prepare_v2(db, "SELECT writer, seq, payload FROM items", -1, &st, NULL) != SQLITE_OK) {
    printf("  local: cannot read items: %s\n", sqlite3_errmsg(db));
    t->bad_payload++;
    return;
  }
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW)
    tally_row(t, (const char*)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
              (const char*)sqlite3_column_text(st, 2));
  if (rc != SQLITE_DONE) {
    printf("  local: reading items failed: %s\n", sqlite3_errmsg(db));
    t->bad_payload++;
  }
  sqlite3_finalize(st);
}

char* writers_query_text(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = NULL;
  char* out = NULL;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
      sqlite3_column_text(st, 0))
    out = strdup((const char*)sqlite3_column_text(st, 0));
  else
    out = strdup(sqlite3_errmsg(db));
  sqlite3_finalize(st);
  return out;
}