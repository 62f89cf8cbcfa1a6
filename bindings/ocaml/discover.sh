#!/bin/sh
# Writes the C flags of the stubs and the link flags of libturso_sync.so for dune (called by src/dune).
#   discover.sh WORKSPACE_ROOT C_FLAGS_OUT LIBRARY_FLAGS_OUT
# The header comes from TURSO_SYNC_INCLUDE_DIR, else the repository's include/; the library from
# TURSO_SYNC_BUILD_DIR (the CMake build directory holding libturso_sync.so), else the repository's build/.
set -eu
ws="$1"
root=""
for candidate in "$ws/../.." "$ws/../../../.."; do
  if [ -f "$candidate/include/turso_sync.h" ]; then root="$(cd "$candidate" && pwd)"; break; fi
done
include="${TURSO_SYNC_INCLUDE_DIR:-$root/include}"
build="${TURSO_SYNC_BUILD_DIR:-$root/build}"
case "$build" in /*) ;; *) build="$(cd "$build" && pwd)" ;; esac
if [ ! -f "$include/turso_sync.h" ]; then
  echo "turso_integration: turso_sync.h not found; set TURSO_SYNC_INCLUDE_DIR" >&2; exit 1
fi
if [ ! -e "$build/libturso_sync.so" ]; then
  echo "turso_integration: $build/libturso_sync.so not found: build it first (make build), or set TURSO_SYNC_BUILD_DIR" >&2
  exit 1
fi
printf '(-I%s)\n' "$include" > "$2"
printf '(-L%s -Wl,-rpath,%s -lturso_sync)\n' "$build" "$build" > "$3"
