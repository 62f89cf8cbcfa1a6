#!/usr/bin/env bash
# Each email is sent exactly once across copies, none lost (issue 20). Two copies (A, B) run `serve` with a
# shared send log while, for ONCE_SECONDS (default 40), copy C runs `schedule` + `sync` back to back and the
# official client (@tursodatabase/sync, tests/support/teammate.mjs; its rows get negative ids, a range of
# their own — it pushes inserts as upserts — that the others' new ids, max(id) + 1, never reach) adds emails too. Then it waits — for the event, the send log holding every
# email, bounded by 120 s — and checks: every uid in the log exactly once, every email sent on the remote.
# Run by `dune test` (alias runtest) with the executable as argument.
set -euo pipefail
app="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
root="${TURSO_SYNC_SOURCE_DIR:-}"
if [[ -z $root ]]; then
  root="$PWD"
  while [[ ! -x $root/scripts/local-turso-server ]]; do
    [[ $root != / ]] || { echo "once: repository root not found" >&2; exit 1; }
    root="$(dirname "$root")"
  done
fi
seconds="${ONCE_SECONDS:-40}"
work="$(mktemp -d "${TMPDIR:-/tmp}/email_once.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$root/scripts/local-turso-server" stop --dir "$work/server" || true
  rm -rf "$work"
}
trap cleanup EXIT
url="$("$root/scripts/local-turso-server" start --dir "$work/server")"

fail() {
  echo "FAIL: $*" >&2
  for d in a b; do echo "--- serve $d" >&2; tail -n 30 "$work/$d.out" >&2 || true; done
  exit 1
}
remote() { python3 "$root/tests/support/hrana_query.py" "$url" "$1"; }
mkdir -p "$work/a" "$work/b" "$work/c"
for d in a b c; do printf 'TURSO_DATABASE_URL=%s\n' "$url" >"$work/$d/.env"; done
C() { (cd "$work/c" && exec "$app" "$@"); }
past=$(($(date +%s) - 60))
teammate=""
if [[ -f $root/node_modules/@tursodatabase/sync/package.json ]] && command -v node >/dev/null; then
  teammate="$root/tests/support/teammate.mjs"
else
  echo "once: node_modules/@tursodatabase/sync missing: without the official client"
fi

echo "== C creates the table; A and B init and serve"
C init >/dev/null
C schedule --to first@example.com --subject first --at "$past" >>"$work/expected"
C sync >/dev/null
send_log="$work/sent.log"
: >"$send_log"
for d in a b; do
  (cd "$work/$d" && "$app" init >/dev/null)
  : >"$work/$d.out"
  (cd "$work/$d" && exec "$app" serve --interval 0.5 --send-log "$send_log") >>"$work/$d.out" 2>&1 &
  pids+=($!)
done
for d in a b; do
  timeout 60 grep -q -m1 "^serving" <(tail -n +1 -f "$work/$d.out") || fail "serve $d did not start"
done

echo "== for ${seconds} s: C schedules and syncs, the official client adds emails"
end=$((SECONDS + seconds))
n=0
client=0
while ((SECONDS < end)); do
  n=$((n + 1))
  C schedule --to "c$n@example.com" --subject "from C $n" --at "$past" >>"$work/expected"
  C sync >/dev/null || true  # a conflict or a busy moment: the next round syncs again
  if [[ -n $teammate ]] && ((n % 5 == 0)); then
    uid="node$(printf '%012d' "$n")"
    node "$teammate" "$work/teammate.db" "$url" pull \
      "exec:INSERT INTO emails (id, recipient, subject, send_at, sent, uid) VALUES (-$n, 'n$n@example.com', 'from the client $n', $past, 0, '$uid')" \
      push >/dev/null && echo "$uid" >>"$work/expected" && client=$((client + 1))
  fi
done
for _ in 1 2 3 4 5; do C sync >/dev/null && break; done
expected=$(sort -u "$work/expected" | wc -l)
[[ $expected == $(wc -l <"$work/expected") ]] || fail "schedule printed a uid twice"
[[ -z $teammate ]] || ((client > 0)) || fail "the official client added no email"
echo "$expected emails scheduled ($client by the official client); waiting for every one to be sent"

sent_all() { [[ $(cut -f1 "$send_log" | sort -u | wc -l) -ge $expected ]]; }
deadline=$((SECONDS + 120))
while ! sent_all; do
  ((SECONDS < deadline)) || break
  # The event: a line appended to the send log (inotify is not assumed; the file is small).
  timeout 1 tail -n 0 -f "$send_log" | head -n 1 >/dev/null || true
done
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || fail "a serve exited with $?"; done
pids=()

dupes=$(cut -f1 "$send_log" | sort | uniq -d)
[[ -z $dupes ]] || fail "sent more than once: $dupes"
missing=$(comm -23 <(sort -u "$work/expected") <(cut -f1 "$send_log" | sort -u))
[[ -z $missing ]] || fail "never sent: $missing"
extra=$(comm -13 <(sort -u "$work/expected") <(cut -f1 "$send_log" | sort -u))
[[ -z $extra ]] || fail "sent but never scheduled: $extra"
by_a=$(grep -c "$(cat "$work/a/.email_scheduler_copy")" "$send_log" || true)
by_b=$(grep -c "$(cat "$work/b/.email_scheduler_copy")" "$send_log" || true)
echo "sent: $expected emails once each (A $by_a, B $by_b)"

# Both copies push what they marked sent; the remote then holds every email, each sent.
for d in a b; do
  for _ in 1 2 3 4 5; do (cd "$work/$d" && "$app" sync >/dev/null) && break; done
done
[[ $(remote "SELECT count(*) FROM emails" | tr -d '[]" ') == "integer,$expected" ]] || fail "the remote lacks emails"
[[ $(remote "SELECT count(*) FROM emails WHERE sent = 0" | tr -d '[]" ') == "integer,0" ]] ||
  fail "emails not sent on the remote: $(remote 'SELECT uid, claimed_by FROM emails WHERE sent = 0')"
echo "email_scheduler once: all passed"
