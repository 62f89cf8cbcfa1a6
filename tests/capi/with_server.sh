#!/usr/bin/env bash
# Runs a command against a fresh local Turso server: starts `tursodb --sync-server` on a free 127.0.0.1 port
# (scripts/local-turso-server, in a temporary directory), exports its URL as TURSO_TEST_URL, runs the
# command, then stops the server by its pid. Exit status: the command's.
#
#   tests/capi/with_server.sh COMMAND [ARG...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/with_server.XXXXXX")"
cleanup() {
  "$root/scripts/local-turso-server" stop --dir "$work" || true
  rm -rf "$work"
}
trap cleanup EXIT
TURSO_TEST_URL="$("$root/scripts/local-turso-server" start --dir "$work")"
export TURSO_TEST_URL
status=0
"$@" || status=$?
exit "$status"
