#!/usr/bin/env bash
# End-to-end test of the example: two copies of email_scheduler (A and B, each in its own directory with a
# .env naming the same local Turso server) schedule, sync, mark sent; the remote is checked independently
# (tests/support/hrana_query.py). Run by `dune test` (alias runtest) with the executable as argument.
set -euo pipefail
app="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
root="${TURSO_SYNC_SOURCE_DIR:-}"
if [[ -z $root ]]; then
  root="$PWD"
  while [[ ! -x $root/scripts/local-turso-server ]]; do
    [[ $root != / ]] || { echo "e2e: repository root not found" >&2; exit 1; }
    root="$(dirname "$root")"
  done
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/email_e2e.XXXXXX")"
serve_pid=""
cleanup() {
  [[ -z $serve_pid ]] || kill "$serve_pid" 2>/dev/null || true
  "$root/scripts/local-turso-server" stop --dir "$work/server" || true
  rm -rf "$work"
}
trap cleanup EXIT
url="$("$root/scripts/local-turso-server" start --dir "$work/server")"

fail() { echo "FAIL: $*" >&2; exit 1; }
remote() { python3 "$root/tests/support/hrana_query.py" "$url" "$1"; }
mkdir -p "$work/a" "$work/b"
for d in a b; do printf 'TURSO_DATABASE_URL=%s\n' "$url" >"$work/$d/.env"; done
A() { (cd "$work/a" && exec "$app" "$@"); }
B() { (cd "$work/b" && exec "$app" "$@"); }
past=$(($(date +%s) - 60))

echo "== A: init (empty remote), schedule (creates the schema), sync"
out="$(A list 2>&1)" && fail "list before init succeeded"
grep -q "not initialized: run \`./turso-workflow.sh init\`" <<<"$out" || fail "list before init: $out"
A init
id1="$(A schedule --to alice@example.com --subject "Quarterly report" --at "$past")"
[[ $id1 =~ ^[0-9a-f]{16}$ ]] || fail "schedule printed $id1, not a uid"
A schedule --to bob@example.com --subject "Later" --at 2099-01-01T09:00:00Z >/dev/null
A schedule --to x@example.com --subject bad --at "tomorrow" 2>/dev/null && fail "bad --at accepted"
A sync
remote "SELECT subject FROM emails WHERE uid = '$id1'" | grep -q "Quarterly report" || fail "A's email is not on the remote"

echo "== B: init, due lists A's email, mark-sent, sync"
B init
B due | grep -q "Quarterly report" || fail "B's due does not list A's email"
B due | grep -q "Later" && fail "a future email is listed as due"
B mark-sent "$id1"
B mark-sent "$id1" 2>/dev/null && fail "marking twice succeeded"
B sync
[[ $(remote "SELECT sent FROM emails WHERE uid = '$id1'") == '[["integer", "1"]]' ]] || fail "sent not on the remote"

echo "== A: sync, sees it sent"
A sync
A list | grep "Quarterly report" | grep -q "	sent	" || fail "A does not see the email sent"

echo "== A and B schedule at once (same new id), sync: both survive"
A schedule --to carol@example.com --subject "From A" --at "$past" >"$work/a.id" &
B schedule --to dave@example.com --subject "From B" --at "$past" >"$work/b.id" &
wait
a_id="$(A list | grep "From A" | cut -f1)"
b_id="$(B list | grep "From B" | cut -f1)"
[[ $a_id == "$b_id" ]] || fail "expected the same id on both sides ($a_id, $b_id)"
A sync
B sync | tee "$work/b.sync" | grep -q "local id $b_id moved to" || fail "B's row was not moved"
# The uid schedule printed still names B's email; the old id now names A's.
B mark-sent "$(cat "$work/b.id")" >/dev/null
B list | grep "From B" | grep -q "	sent	" || fail "mark-sent by uid after the move missed B's email"
B list | grep "From A" | grep -q "	pending	" || fail "mark-sent by uid after the move marked A's email"
B sync >/dev/null
A sync
for who in A B; do
  $who list | grep -q "From A" || fail "$who lacks A's email"
  $who list | grep -q "From B" || fail "$who lacks B's email"
done
[[ $(remote "SELECT count(*) FROM emails" | tr -d '[]" ') == integer,4 ]] || fail "remote should hold 4 emails"

echo "== B serves with background sync; A schedules; B sends it without a manual sync"
# The file exists before anyone follows it: the subshell below opens it only once it runs, and on a loaded
# machine `tail -f` of a missing file gives up at once ("serve did not start" with nothing wrong).
: >"$work/serve.out"
(cd "$work/b" && exec "$app" serve --interval 0.5) >>"$work/serve.out" 2>&1 &
serve_pid=$!
timeout 60 grep -q -m1 "^serving" <(tail -n +1 -f "$work/serve.out") || fail "serve did not start: $(cat "$work/serve.out")"
id3="$(A schedule --to erin@example.com --subject "Picked up in the background" --at "$(date +%s)")"
A sync
timeout 60 grep -q -m1 "^sent $id3 " <(tail -n +1 -f "$work/serve.out") || fail "serve did not send $id3: $(cat "$work/serve.out")"
kill -TERM "$serve_pid"
wait "$serve_pid" || fail "serve exited with $?"
serve_pid=""
grep -q "^stopped" "$work/serve.out" || fail "serve did not stop cleanly"
B sync
[[ $(remote "SELECT sent FROM emails WHERE uid = '$id3'") == '[["integer", "1"]]' ]] || fail "the background send is not on the remote"
echo "email_scheduler e2e: all passed"
