/* An LD_PRELOAD library that records every open of a guarded database file by code other than SQLite.
 *
 * POSIX advisory locks belong to the process: a descriptor of a database file opened and closed outside
 * SQLite drops every lock the process holds on it, an application's own connections' included
 * (src/db/file_reader.h). The library under test must never do that. Loaded into a turso-sync process, this
 * wraps open/open64/openat/openat64/fopen/fopen64/creat: after a successful call whose caller is not in
 * libsqlite3 (dladdr of the return address), it compares the opened file's device and inode with those of
 * the guarded files, and appends one line per match to the log:
 *
 *   TURSO_SYNC_OPEN_GUARD_FILES  colon-separated database paths; each one's -wal, -shm and -journal are
 *                                guarded too (compared by inode, so hard links and other spellings count)
 *   TURSO_SYNC_OPEN_GUARD_LOG    the log file: "<path opened>\t<caller object>\t<caller symbol>\n"
 *
 * Used by tests/integration/open_guard_test.cpp. Not for sanitizer builds (ASan must come first). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char* const suffixes[] = {"", "-wal", "-shm", "-journal"};

static int is_sqlite(const void* caller) {
  Dl_info info;
  return dladdr(caller, &info) && info.dli_fname && strstr(info.dli_fname, "libsqlite3") != NULL;
}

static int is_guarded(int fd) {
  const char* files = getenv("TURSO_SYNC_OPEN_GUARD_FILES");
  struct stat opened;
  if (!files || fd < 0 || fstat(fd, &opened) != 0) return 0;
  char path[4096];
  for (const char* p = files; *p;) {
    const char* end = strchr(p, ':');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; ++i) {
      struct stat guarded;
      if (n + strlen(suffixes[i]) + 1 > sizeof path) continue;
      memcpy(path, p, n);
      strcpy(path + n, suffixes[i]);
      if (stat(path, &guarded) == 0 && guarded.st_dev == opened.st_dev && guarded.st_ino == opened.st_ino)
        return 1;
    }
    if (!end) break;
    p = end + 1;
  }
  return 0;
}

/* Appends the line with raw system calls: the wrappers below must not be re-entered. */
static void record(const char* opened, const void* caller) {
  const char* log = getenv("TURSO_SYNC_OPEN_GUARD_LOG");
  if (!log) return;
  Dl_info info;
  const char* object = "?";
  const char* symbol = "?";
  if (dladdr(caller, &info)) {
    if (info.dli_fname) object = info.dli_fname;
    if (info.dli_sname) symbol = info.dli_sname;
  }
  char line[8192];
  int n = snprintf(line, sizeof line, "%s\t%s\t%s\n", opened, object, symbol);
  if (n <= 0) return;
  if ((size_t)n >= sizeof line) n = sizeof line - 1;
  long fd = syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  (void)!syscall(SYS_write, fd, line, (size_t)n);
  syscall(SYS_close, fd);
}

static void check(int fd, const char* path, const void* caller) {
  if (fd >= 0 && !is_sqlite(caller) && is_guarded(fd)) record(path, caller);
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

typedef int (*open_fn)(const char*, int, ...);
typedef int (*openat_fn)(int, const char*, int, ...);
typedef FILE* (*fopen_fn)(const char*, const char*);

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL("open", open_fn)(path, flags, mode);
  check(fd, path, __builtin_return_address(0));
  return fd;
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL("open64", open_fn)(path, flags, mode);
  check(fd, path, __builtin_return_address(0));
  return fd;
}

int openat(int dir, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL("openat", openat_fn)(dir, path, flags, mode);
  check(fd, path, __builtin_return_address(0));
  return fd;
}

int openat64(int dir, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  int fd = REAL("openat64", openat_fn)(dir, path, flags, mode);
  check(fd, path, __builtin_return_address(0));
  return fd;
}

int creat(const char* path, mode_t mode) {
  int fd = REAL("open", open_fn)(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
  check(fd, path, __builtin_return_address(0));
  return fd;
}

FILE* fopen(const char* path, const char* how) {
  FILE* f = REAL("fopen", fopen_fn)(path, how);
  if (f) check(fileno(f), path, __builtin_return_address(0));
  return f;
}

FILE* fopen64(const char* path, const char* how) {
  FILE* f = REAL("fopen64", fopen_fn)(path, how);
  if (f) check(fileno(f), path, __builtin_return_address(0));
  return f;
}
