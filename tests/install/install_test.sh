#!/usr/bin/env bash
# Installed-package test: `cmake --install BUILD_DIR` into a temporary prefix, then builds small programs
# against the INSTALLED files only — a C program with pkg-config (libturso_sync.so), a C++ program with
# find_package(turso_sync) (the static library, C++ API) — and runs init/push/pull against the local server
# that tests/capi/with_server.sh started (TURSO_TEST_URL). The remote is checked with hrana_query.py.
#   install_test.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
url="${TURSO_TEST_URL:?run through tests/capi/with_server.sh}"
work="$(mktemp -d "${TMPDIR:-/tmp}/install_test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
remote() { python3 "$root/tests/support/hrana_query.py" "$url" "$@"; }

prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "install"; }
for f in include/turso_sync.h include/turso_sync/sync.h lib/libturso_sync.a lib/pkgconfig/turso_sync.pc \
         lib/cmake/turso_sync/turso_syncConfig.cmake bin/turso-sync; do
  [[ -e $prefix/$f ]] || fail "not installed: $f"
done
[[ -e $prefix/lib/libturso_sync.so ]] || fail "not installed: lib/libturso_sync.so"
# The shared library exports the C API and nothing else.
others="$(nm -D --defined-only "$prefix/lib/libturso_sync.so" | awk '{print $3}' | grep -v '^turso_sync_' || true)"
[[ -z $others ]] || fail "libturso_sync.so exports more than the C API: $others"

echo "== C with pkg-config"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cflags="$(pkg-config --cflags turso_sync sqlite3)"
libs="$(pkg-config --libs turso_sync sqlite3)"
[[ $cflags == *"$prefix/include"* || $cflags == *"/include"* ]] || fail "pkg-config --cflags: $cflags"
cc -std=c99 -Wall -Werror $cflags "$here/smoke.c" -o "$work/smoke_c" $libs -Wl,-rpath,"$prefix/lib"
ldd "$work/smoke_c" >"$work/ldd.txt"
grep -q "$prefix/lib/libturso_sync.so" "$work/ldd.txt" || fail "smoke_c does not use the installed library: $(cat "$work/ldd.txt")"
remote "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" "INSERT INTO t VALUES (1, 'remote')" >/dev/null
mkdir "$work/app"
printf 'TURSO_DATABASE_URL=%s\n' "$url" >"$work/app/.env"
"$work/smoke_c" "$work/app"
remote "SELECT v FROM t WHERE id = 2" | grep -q "from C" || fail "the C program's push is not on the remote"

echo "== C++ with find_package(turso_sync)"
cmake -S "$here" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  >"$work/configure.log" || { cat "$work/configure.log"; fail "configure against the installed package"; }
cmake --build "$work/cmake-build" -j 2 >"$work/build.log" || { cat "$work/build.log"; fail "build"; }
remote "INSERT INTO t VALUES (3, 'remote again')" >/dev/null
"$work/cmake-build/smoke_cpp" "$work/app" "$url"
[[ $(sqlite3 "$work/app/working_copy.db" "SELECT v FROM t WHERE id = 3") == "remote again" ]] ||
  fail "the C++ program's pull did not reach the working copy"
echo "installed-package test: all passed"
