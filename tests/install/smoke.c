/* Installed-package smoke test (C, pkg-config): init, a local insert, push, pull through libturso_sync.so.
 * usage: smoke_c DIR   (DIR holds a .env naming the remote; the remote has table t(id, v)) */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include <turso_sync.h>

static int step(turso_sync_handle* h, const char* what, int rc) {
  if (rc != TURSO_SYNC_OK) fprintf(stderr, "smoke_c: %s: %d: %s\n", what, rc, turso_sync_errmsg(h));
  return rc == TURSO_SYNC_OK;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  turso_sync_handle* h = NULL;
  sqlite3* db = NULL;
  char* report = NULL;
  int ok = step(h, "open", turso_sync_open(argv[1], &h)) && step(h, "init", turso_sync_init(h, NULL, NULL)) &&
           step(h, "open working copy", turso_sync_open_working_copy(h, &db)) &&
           sqlite3_exec(db, "INSERT INTO t VALUES (2, 'from C')", NULL, NULL, NULL) == SQLITE_OK &&
           step(h, "push", turso_sync_push(h, NULL, &report)) && strstr(report, "\"inserts\":1") != NULL;
  turso_sync_free(report);
  report = NULL;
  ok = ok && step(h, "pull", turso_sync_pull(h, "{\"on_conflict\":\"abort\"}", &report));
  turso_sync_free(report);
  sqlite3_close(db);
  turso_sync_close(h);
  printf("smoke_c (turso_sync %s): %s\n", turso_sync_version(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
