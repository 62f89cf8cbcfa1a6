#!/usr/bin/env bash
# turso-workflow.sh: the original design's entry point, kept as a thin wrapper around the turso-sync binary.
# `turso-workflow.sh <command> [args]` runs `turso-sync <command> [args]` with the same exit code.
#
# The binary is, in order: $TURSO_SYNC_BIN; build/turso-sync next to this script (what `make` builds);
# `turso-sync` on PATH.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: turso-workflow.sh <command> [options]

Commands (each runs `turso-sync <command>`; `turso-workflow.sh <command> --help` for its options):
  init       download the remote into local_replica.db and create working_copy.db from it
  pull       bring in the remote's changes, keeping local changes (three-way merge)
  push       send local changes to the remote in one atomic, conflict-guarded transaction
  sync       pull, then push
  diff       write diff.sql and summarise local changes
  reset      make the working copy equal to the replica (discarded changes are saved first)
  copy       copy the replica to the working copy (only when there are no local changes)
  status     configuration, remote reachability, files, pending changes
  workflow   background sync every --interval seconds (default 300)
  help       show this help

Configuration comes from .env (see env.example, or run ./setup-turso.sh), the environment and
turso-sync.toml. Set TURSO_SYNC_BIN to use a specific turso-sync binary.
EOF
}

find_binary() {
  local script_dir
  if [[ -n "${TURSO_SYNC_BIN:-}" ]]; then
    if [[ ! -f "$TURSO_SYNC_BIN" || ! -x "$TURSO_SYNC_BIN" ]]; then
      echo "turso-workflow.sh: TURSO_SYNC_BIN=$TURSO_SYNC_BIN is not an executable file" >&2
      return 1
    fi
    printf '%s\n' "$TURSO_SYNC_BIN"
    return 0
  fi
  script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
  if [[ -f "$script_dir/build/turso-sync" && -x "$script_dir/build/turso-sync" ]]; then
    printf '%s\n' "$script_dir/build/turso-sync"
    return 0
  fi
  if command -v turso-sync >/dev/null 2>&1; then
    command -v turso-sync
    return 0
  fi
  {
    echo "turso-workflow.sh: the turso-sync binary was not found."
    echo "  Build it: run \`make\` in $script_dir (it creates $script_dir/build/turso-sync),"
    echo "  or put turso-sync on PATH, or set TURSO_SYNC_BIN=/path/to/turso-sync."
  } >&2
  return 1
}

if [[ $# -eq 0 ]]; then
  usage >&2
  exit 2
fi
case "$1" in
  help | -h | --help)
    usage
    exit 0
    ;;
esac

if ! binary=$(find_binary); then
  exit 127
fi
exec "$binary" "$@"
