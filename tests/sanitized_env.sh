#!/bin/sh
# Runs a test of the sanitized variant (asan.*, tests/CMakeLists.txt) with its settings; what the test
# starts (the CLI, the C API's programs) inherits them. Values already set are kept.
# - Leaks are reported and every UBSan finding prints its stack.
# - The property tests run their first seeds only (two cases each; the team hold property, whose cases are
#   longer, one): the product's variant runs them all.
# - Every change set is spilled to disk (the path large changes take), while the product's variant keeps
#   small ones in memory: each scenario runs both ways.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
export TURSO_SYNC_SCHEMA_CASES="${TURSO_SYNC_SCHEMA_CASES:-2}"
export TURSO_SYNC_CONSTRAINTS_CASES="${TURSO_SYNC_CONSTRAINTS_CASES:-2}"
export TURSO_SYNC_HOLD_CASES="${TURSO_SYNC_HOLD_CASES:-1}"
export TURSO_SYNC_CHANGESET_MEMORY=0
exec "$@"
