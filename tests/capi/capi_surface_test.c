/* C API tests of the surface beyond the operations (tests/capi/capi_test.c has those): the error kind on the
 * handle (turso_sync_errkind), the health check (status with "check"), copy and log.
 *
 * Run by tests/capi/with_server.sh (a fresh `tursodb --sync-server`, its URL in TURSO_TEST_URL). A small
 * HTTP server of this file answers every request with one fixed status (401, 503), for the kinds a real
 * server does not produce on demand.
 *
 * usage: capi_surface_test [SCENARIO]   (no argument: every scenario)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capi_support.h"
#include "turso_sync.h"

int g_failures = 0;
static const char* g_url = NULL;

#define CHECK_KIND(handle, expected)                                                            \
  do {                                                                                          \
    int k_ = turso_sync_errkind(handle);                                                        \
    if (k_ != (expected)) {                                                                     \
      fprintf(stderr, "%s:%d: errkind %d (%s), expected %d (%s): %s\n", __FILE__, __LINE__, k_, \
              turso_sync_errkind_name(k_), (expected), turso_sync_errkind_name(expected),       \
              turso_sync_errmsg(handle));                                                       \
      g_failures++;                                                                             \
    }                                                                                           \
  } while (0)

/* ---- helpers ---------------------------------------------------------------------------------------- */

/* A directory configured like a user's app directory: .env naming the remote. */
static char* app_dir(void) {
  char* dir = writers_make_dir();
  char* env = writers_path_in(dir, ".env");
  FILE* f = fopen(env, "w");
  if (!f) abort();
  fprintf(f, "TURSO_DATABASE_URL=%s\n", g_url);
  fclose(f);
  free(env);
  return dir;
}

static turso_sync_handle* open_app(const char* dir) {
  turso_sync_handle* h = NULL;
  CHECK_RC(turso_sync_open(dir, &h), TURSO_SYNC_OK, h);
  return h;
}

static void remote_ok(const char* sql) {
  char* rows = capi_remote_sql(g_url, sql);
  CHECK(rows != NULL);
  free(rows);
}

/* Runs SQL on the working copy through a connection from turso_sync_open_working_copy. */
static void local_exec(turso_sync_handle* h, const char* sql) {
  sqlite3* db = NULL;
  CHECK_RC(turso_sync_open_working_copy(h, &db), TURSO_SYNC_OK, h);
  if (!db) return;
  char* err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "local SQL failed: %s: %s\n", sql, err);
    sqlite3_free(err);
    g_failures++;
  }
  sqlite3_close(db);
}

/* A loopback HTTP server answering every request with `status`, until stopped. */
struct fixed_server {
  int listener;
  int port;
  const char* status; /* "401 Unauthorized" */
  pthread_t thread;
};

static void* serve_fixed(void* arg) {
  struct fixed_server* s = arg;
  for (;;) {
    int conn = accept(s->listener, NULL, NULL);
    if (conn < 0) return NULL; /* the listener was shut down */
    char buf[8192];
    ssize_t got = read(conn, buf, sizeof buf); /* the request's head (enough for the answer) */
    (void)got;
    char answer[256];
    int n = snprintf(answer, sizeof answer, "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                     s->status);
    if (write(conn, answer, (size_t)n) != n) fprintf(stderr, "fixed server: short write\n");
    close(conn);
  }
}

static int listen_loopback(int* port) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  CHECK(bind(listener, (struct sockaddr*)&addr, sizeof addr) == 0);
  CHECK(listen(listener, 16) == 0);
  CHECK(getsockname(listener, (struct sockaddr*)&addr, &len) == 0);
  *port = ntohs(addr.sin_port);
  return listener;
}

static void fixed_start(struct fixed_server* s, const char* status) {
  s->status = status;
  s->listener = listen_loopback(&s->port);
  CHECK(pthread_create(&s->thread, NULL, serve_fixed, s) == 0);
}

static void fixed_stop(struct fixed_server* s) {
  shutdown(s->listener, SHUT_RDWR);
  pthread_join(s->thread, NULL);
  close(s->listener);
}

/* A handle on `url` (no .env), with short timeouts and retries. */
static turso_sync_handle* open_url(const char* url, const char* dir) {
  char config[512];
  snprintf(config, sizeof config,
           "{\"url\":\"%s\",\"dir\":\"%s\",\"connect_timeout_ms\":2000,\"read_timeout_ms\":1500,"
           "\"request_timeout_ms\":3000,\"retry_backoff_ms\":1}",
           url, dir);
  turso_sync_handle* h = NULL;
  CHECK_RC(turso_sync_open_config(config, &h), TURSO_SYNC_OK, h);
  return h;
}

/* ---- scenarios -------------------------------------------------------------------------------------- */

/* The remote's failures keep code 4 and say which they are: nothing listening, a token refused, a server
 * error, a server that never answers. */
static void test_errkind_remote(void) {
  char* dir = writers_make_dir();
  char* report = NULL;
  char url[128];

  int port = 0;
  int closed = listen_loopback(&port);
  close(closed); /* nothing listens there now */
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  turso_sync_handle* h = open_url(url, dir);
  CHECK_RC(turso_sync_init(h, NULL, &report), TURSO_SYNC_UNREACHABLE, h);
  CHECK_KIND(h, TURSO_SYNC_KIND_UNREACHABLE);
  CHECK_CONTAINS(report, "\"kind\":\"unreachable\"");
  turso_sync_free(report);
  turso_sync_close(h);

  struct fixed_server s;
  fixed_start(&s, "401 Unauthorized");
  snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port);
  h = open_url(url, dir);
  CHECK_RC(turso_sync_init(h, NULL, NULL), TURSO_SYNC_UNREACHABLE, h);
  CHECK_KIND(h, TURSO_SYNC_KIND_AUTH);
  turso_sync_close(h);
  fixed_stop(&s);

  fixed_start(&s, "503 Service Unavailable");
  snprintf(url, sizeof url, "http://127.0.0.1:%d", s.port);
  h = open_url(url, dir);
  CHECK_RC(turso_sync_init(h, NULL, NULL), TURSO_SYNC_UNREACHABLE, h);
  CHECK_KIND(h, TURSO_SYNC_KIND_SERVER);
  turso_sync_close(h);
  fixed_stop(&s);

  /* Accepted by the kernel (the backlog), never answered. */
  int silent = listen_loopback(&port);
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  h = open_url(url, dir);
  CHECK_RC(turso_sync_init(h, NULL, NULL), TURSO_SYNC_UNREACHABLE, h);
  CHECK_KIND(h, TURSO_SYNC_KIND_TIMEOUT);
  turso_sync_close(h);
  close(silent);
  writers_remove_dir(dir);
}

/* The local failures keep their codes and say which they are. */
static void test_errkind_local(void) {
  remote_ok("CREATE TABLE kinds (id INTEGER PRIMARY KEY, body TEXT)");
  char* dir_a = app_dir();
  char* dir_b = app_dir();
  turso_sync_handle* a = open_app(dir_a);
  turso_sync_handle* b = open_app(dir_b);
  CHECK_KIND(a, TURSO_SYNC_KIND_NONE);
  CHECK_KIND(NULL, TURSO_SYNC_KIND_USAGE);
  CHECK(strcmp(turso_sync_errkind_name(TURSO_SYNC_KIND_BUSY), "busy") == 0);
  CHECK(strcmp(turso_sync_errkind_name(TURSO_SYNC_KIND_NONE), "none") == 0);
  CHECK(strcmp(turso_sync_errkind_name(99), "unknown") == 0);

  /* Not initialized: refused (code 2). */
  CHECK_RC(turso_sync_pull(a, NULL, NULL), TURSO_SYNC_USAGE, a);
  CHECK_KIND(a, TURSO_SYNC_KIND_REFUSED);
  /* Bad options: usage (code 2). */
  CHECK_RC(turso_sync_pull(a, "{\"on_conflict\":\"mine\"}", NULL), TURSO_SYNC_USAGE, a);
  CHECK_KIND(a, TURSO_SYNC_KIND_USAGE);
  CHECK_CONTAINS(turso_sync_errmsg(a), "on_conflict");

  CHECK_RC(turso_sync_init(a, NULL, NULL), TURSO_SYNC_OK, a);
  CHECK_KIND(a, TURSO_SYNC_KIND_NONE);
  CHECK_RC(turso_sync_init(b, NULL, NULL), TURSO_SYNC_OK, b);

  /* Another process (here: another open file of this one) holds the state dir's lock: busy (code 1). */
  char* lock_path = writers_path_in(dir_a, ".turso-sync/lock");
  int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
  CHECK_RC(turso_sync_pull(a, NULL, NULL), TURSO_SYNC_ERROR, a);
  CHECK_KIND(a, TURSO_SYNC_KIND_BUSY);
  CHECK_CONTAINS(turso_sync_errmsg(a), "another turso-sync");
  close(fd);
  free(lock_path);

  /* A conflict (code 3) is kind conflict. */
  local_exec(a, "INSERT INTO kinds VALUES (1, 'from A')");
  CHECK_RC(turso_sync_push(a, NULL, NULL), TURSO_SYNC_OK, a);
  CHECK_KIND(a, TURSO_SYNC_KIND_NONE);
  local_exec(b, "INSERT INTO kinds VALUES (1, 'from B')");
  CHECK_RC(turso_sync_push(b, NULL, NULL), TURSO_SYNC_CONFLICT, b);
  CHECK_KIND(b, TURSO_SYNC_KIND_CONFLICT);
  CHECK_RC(turso_sync_pull(b, "{\"on_insert_collision\":\"conflict\"}", NULL), TURSO_SYNC_CONFLICT, b);
  CHECK_KIND(b, TURSO_SYNC_KIND_CONFLICT);

  /* A damaged working copy: local_db (code 1). */
  char* working = writers_path_in(dir_b, "working_copy.db");
  FILE* f = fopen(working, "w");
  CHECK(f != NULL);
  if (f) {
    fputs("this is not a database, it is text written over one", f);
    fclose(f);
  }
  CHECK_RC(turso_sync_diff(b, NULL, NULL), TURSO_SYNC_ERROR, b);
  CHECK_KIND(b, TURSO_SYNC_KIND_LOCAL_DB);
  free(working);

  turso_sync_close(a);
  turso_sync_close(b);
  writers_remove_dir(dir_a);
  writers_remove_dir(dir_b);
}

/* Occurrences of `part` in `text`. */
static int count_of(const char* text, const char* part) {
  int n = 0;
  for (const char* p = text ? strstr(text, part) : NULL; p; p = strstr(p + 1, part)) n++;
  return n;
}

static void write_text(const char* dir, const char* name, const char* text) {
  char* path = writers_path_in(dir, name);
  FILE* f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
  free(path);
}

/* status with "check" is `status --check`: its codes, its reason on the handle and in the report. */
static void test_health(void) {
  remote_ok("CREATE TABLE health (id INTEGER PRIMARY KEY, body TEXT)");
  char* dir_a = app_dir();
  char* dir_b = app_dir();
  turso_sync_handle* a = open_app(dir_a);
  turso_sync_handle* b = open_app(dir_b);
  char* report = NULL;
  CHECK_RC(turso_sync_init(a, NULL, NULL), TURSO_SYNC_OK, a);
  CHECK_RC(turso_sync_init(b, NULL, NULL), TURSO_SYNC_OK, b);

  CHECK_RC(turso_sync_status(a, "{\"check\":true,\"max_age\":\"1d\"}", &report), TURSO_SYNC_OK, a);
  CHECK_CONTAINS(report, "\"check\":{\"exit_code\":0,\"healthy\":true,\"reason\":\"healthy\"}");
  turso_sync_free(report);
  CHECK_RC(turso_sync_status(a, "{\"offline\":true}", &report), TURSO_SYNC_OK, a);
  CHECK(!contains(report, "\"check\""));
  turso_sync_free(report);
  CHECK_RC(turso_sync_status(a, "{\"check\":true,\"max_age\":\"soon\"}", NULL), TURSO_SYNC_USAGE, a);
  CHECK_KIND(a, TURSO_SYNC_KIND_USAGE);
  CHECK_CONTAINS(turso_sync_errmsg(a), "max_age");

  /* A push stopped by a conflict: 3, until a sync settles it. */
  local_exec(a, "INSERT INTO health VALUES (1, 'from A')");
  CHECK_RC(turso_sync_push(a, NULL, NULL), TURSO_SYNC_OK, a);
  local_exec(b, "INSERT INTO health VALUES (1, 'from B')");
  CHECK_RC(turso_sync_push(b, NULL, NULL), TURSO_SYNC_CONFLICT, b);
  CHECK_RC(turso_sync_status(b, "{\"offline\":true,\"check\":true}", &report), TURSO_SYNC_CONFLICT, b);
  CHECK_KIND(b, TURSO_SYNC_KIND_CONFLICT);
  CHECK_CONTAINS(report, "\"healthy\":false");
  CHECK_CONTAINS(turso_sync_errmsg(b), "stopped on 1 conflict");
  turso_sync_free(report);
  CHECK_RC(turso_sync_sync(b, "{\"on_conflict\":\"local\"}", NULL), TURSO_SYNC_OK, b);
  CHECK_RC(turso_sync_status(b, "{\"offline\":true,\"check\":true}", NULL), TURSO_SYNC_OK, b);

  /* The last sync failed (the remote unreachable through another handle on the same files): 5. */
  int port = 0;
  close(listen_loopback(&port));
  char url[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
  turso_sync_handle* down = open_url(url, dir_b);
  CHECK_RC(turso_sync_pull(down, NULL, NULL), TURSO_SYNC_UNREACHABLE, down);
  turso_sync_close(down);
  CHECK_RC(turso_sync_status(b, "{\"offline\":true,\"check\":true}", NULL), TURSO_SYNC_LAST_SYNC_FAILED, b);
  CHECK_CONTAINS(turso_sync_errmsg(b), "the last sync failed");

  /* The last success is older than max_age: 6; 0 without max_age. */
  char* old = app_dir();
  char* state_dir = writers_path_in(old, ".turso-sync");
  CHECK(mkdir(state_dir, 0700) == 0);
  free(state_dir);
  write_text(
      old, ".turso-sync/history.jsonl",
      "{\"time\":\"2020-01-01T00:00:00Z\",\"operation\":\"sync\",\"trigger\":\"cli\",\"result\":\"ok\","
      "\"exit_code\":0}\n");
  turso_sync_handle* o = open_app(old);
  CHECK_RC(turso_sync_status(o, "{\"offline\":true,\"check\":true,\"max_age\":86400}", NULL),
           TURSO_SYNC_TOO_OLD, o);
  CHECK_CONTAINS(turso_sync_errmsg(o), "2020-01-01T00:00:00Z");
  CHECK_RC(turso_sync_status(o, "{\"offline\":true,\"check\":true}", NULL), TURSO_SYNC_OK, o);
  turso_sync_close(o);
  writers_remove_dir(old);

  turso_sync_close(a);
  turso_sync_close(b);
  writers_remove_dir(dir_a);
  writers_remove_dir(dir_b);
}

/* copy is `turso-sync copy`; log is `turso-sync log`. */
static void test_copy_log(void) {
  remote_ok("CREATE TABLE copies (id INTEGER PRIMARY KEY, body TEXT)");
  remote_ok("INSERT INTO copies VALUES (1, 'remote')");
  char* dir = app_dir();
  turso_sync_handle* h = open_app(dir);
  char* report = NULL;
  CHECK_RC(turso_sync_init(h, NULL, NULL), TURSO_SYNC_OK, h);
  CHECK_RC(turso_sync_pull(h, NULL, NULL), TURSO_SYNC_OK, h);
  local_exec(h, "INSERT INTO copies VALUES (2, 'local')");

  CHECK_RC(turso_sync_copy(h, NULL, &report), TURSO_SYNC_USAGE, h);
  CHECK_KIND(h, TURSO_SYNC_KIND_REFUSED);
  turso_sync_free(report);
  CHECK_RC(turso_sync_copy(h, "{\"force\":true}", &report), TURSO_SYNC_OK, h);
  CHECK_CONTAINS(report, "\"command\":\"copy\"");
  CHECK_CONTAINS(report, "discarded-");
  turso_sync_free(report);
  sqlite3* db = NULL;
  CHECK_RC(turso_sync_open_working_copy(h, &db), TURSO_SYNC_OK, h);
  if (db) {
    char* rows = writers_query_text(db, "SELECT group_concat(body) FROM copies");
    CHECK(strcmp(rows, "remote") == 0);
    free(rows);
    sqlite3_close(db);
  }
  CHECK_RC(turso_sync_copy(h, "{\"forse\":true}", NULL), TURSO_SYNC_USAGE, h);

  CHECK_RC(turso_sync_log(h, "{\"number\":2}", &report), TURSO_SYNC_OK, h);
  CHECK_CONTAINS(report, "{\"command\":\"log\",\"entries\":[{\"time\":");
  CHECK(count_of(report, "\"operation\":") == 2);
  const char* first = report ? strstr(report, "\"operation\":") : NULL;
  CHECK_CONTAINS(first, "\"operation\":\"copy\""); /* newest first */
  turso_sync_free(report);
  CHECK_RC(turso_sync_reset(h, NULL, NULL), TURSO_SYNC_OK, h);
  local_exec(h, "INSERT INTO copies VALUES (3, 'synced')");
  CHECK_RC(turso_sync_sync(h, NULL, NULL), TURSO_SYNC_OK, h);
  /* Every operation leaves its line, init and reset included, as the CLI's do; a sync leaves one line (not
     one per pull and push inside it), with what it pushed. */
  CHECK_RC(turso_sync_log(h, NULL, &report), TURSO_SYNC_OK, h);
  CHECK(count_of(report, "\"operation\":\"pull\"") == 1);
  CHECK(count_of(report, "\"operation\":\"push\"") == 0);
  CHECK(count_of(report, "\"operation\":\"sync\",\"trigger\":\"capi\",\"result\":\"ok\"") == 1);
  CHECK_CONTAINS(report, "\"pushed\":{\"inserts\":1,");
  CHECK(count_of(report, "\"operation\":\"init\",\"trigger\":\"capi\",\"result\":\"ok\"") == 1);
  CHECK(count_of(report, "\"operation\":\"reset\",\"trigger\":\"capi\"") == 1);
  CHECK(count_of(report, "\"operation\":\"copy\",\"trigger\":\"capi\"") == 2); /* refused, then forced */
  turso_sync_free(report);
  CHECK_RC(turso_sync_log(h, "{\"number\":-1}", NULL), TURSO_SYNC_USAGE, h);
  CHECK_CONTAINS(turso_sync_errmsg(h), "number");

  turso_sync_close(h);
  writers_remove_dir(dir);
}

/* A push of chosen rows: only they go; with one row that says "mine", a compare-and-set through the
   remote — two copies claim the same job, one push applies, the other is refused (code 3). */
static void test_push_only(void) {
  remote_ok("CREATE TABLE jobs (id INTEGER PRIMARY KEY, claimed_by TEXT)");
  remote_ok("INSERT INTO jobs VALUES (1, NULL)");
  char* dir_a = app_dir();
  char* dir_b = app_dir();
  turso_sync_handle* a = open_app(dir_a);
  turso_sync_handle* b = open_app(dir_b);
  char* report = NULL;
  CHECK_RC(turso_sync_init(a, NULL, NULL), TURSO_SYNC_OK, a);
  CHECK_RC(turso_sync_init(b, NULL, NULL), TURSO_SYNC_OK, b);
  local_exec(a, "UPDATE jobs SET claimed_by = 'a' WHERE id = 1; INSERT INTO jobs VALUES (2, 'a-later')");
  local_exec(b, "UPDATE jobs SET claimed_by = 'b' WHERE id = 1");

  CHECK_RC(turso_sync_push(a, "{\"table\":\"jobs\",\"keys\":[\"1\"]}", &report), TURSO_SYNC_OK, a);
  CHECK_CONTAINS(report, "\"updates\":1");
  turso_sync_free(report);
  char* rows = capi_remote_sql(g_url, "SELECT group_concat(id || ':' || claimed_by) FROM jobs");
  CHECK_CONTAINS(rows, "1:a");
  CHECK(rows && !contains(rows, "a-later")); /* row 2 stayed local */
  free(rows);

  CHECK_RC(turso_sync_push(b, "{\"table\":\"jobs\",\"keys\":[\"1\"]}", &report), TURSO_SYNC_CONFLICT, b);
  CHECK_KIND(b, TURSO_SYNC_KIND_CONFLICT);
  CHECK_CONTAINS(report, "\"conflicts\":[{\"table\":\"jobs\"");
  turso_sync_free(report);
  rows = capi_remote_sql(g_url, "SELECT claimed_by FROM jobs WHERE id = 1");
  CHECK_CONTAINS(rows, "\"a\"");
  free(rows);

  CHECK_RC(turso_sync_push(a, "{\"table\":\"jobs\"}", NULL), TURSO_SYNC_USAGE, a);
  CHECK_CONTAINS(turso_sync_errmsg(a), "'table' and 'keys'");
  CHECK_RC(turso_sync_push(a, NULL, NULL), TURSO_SYNC_OK, a); /* the rest goes with a plain push */
  rows = capi_remote_sql(g_url, "SELECT count(*) FROM jobs");
  CHECK_CONTAINS(rows, "\"2\"");
  free(rows);
  turso_sync_close(a);
  turso_sync_close(b);
  writers_remove_dir(dir_a);
  writers_remove_dir(dir_b);
}

int main(int argc, char** argv) {
  g_url = getenv("TURSO_TEST_URL");
  if (!g_url) {
    fprintf(stderr, "capi_surface_test: TURSO_TEST_URL is not set (run through tests/capi/with_server.sh)\n");
    return 2;
  }
  struct {
    const char* name;
    void (*run)(void);
  } tests[] = {{"errkind_remote", test_errkind_remote},
               {"errkind_local", test_errkind_local},
               {"push_only", test_push_only},
               {"health", test_health},
               {"copy_log", test_copy_log}};
  int ran = 0;
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; ++i) {
    if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
    int before = g_failures;
    tests[i].run();
    printf("%s %s\n", g_failures == before ? "ok  " : "FAIL", tests[i].name);
    ran++;
  }
  if (!ran) {
    fprintf(stderr, "capi_surface_test: no scenario named %s\n", argv[1]);
    return 2;
  }
  printf("turso_sync %s: %d failure(s)\n", turso_sync_version(), g_failures);
  return g_failures ? 1 : 0;
}
