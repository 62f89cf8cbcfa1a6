#!/usr/bin/env bash
# setup-turso.sh: asks for the Turso database URL and auth token, writes them to ./.env (mode 0600), then checks
# the connection with `turso-workflow.sh status`.
#
# The token is read without echo and is written with shell builtins only: it never appears on a command line
# (visible to every local user through ps), in the output or in the environment of another program.
# Other settings already in .env are kept; the previous file is saved as .env.bak (mode 0600).
set -euo pipefail
umask 077

readonly env_file=.env
readonly backup_file=.env.bak
script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
readonly script_dir

usage() {
  cat <<'EOF'
Usage: setup-turso.sh

Asks for your Turso database URL and auth token and writes them to .env in the current directory
(mode 0600, other settings in an existing .env are kept, the old file is saved as .env.bak), then
checks the connection with `turso-workflow.sh status`.

  URL:   turso db show --url <database>          (libsql://<database>-<org>.turso.io)
  token: turso db tokens create <database>       (input is hidden; empty for a local server)
EOF
}

die() {
  echo "setup-turso.sh: $1" >&2
  exit "${2:-1}"
}

interactive() { [[ -t 0 ]]; }

# Removes leading and trailing whitespace from the variable named $1.
trim_var() {
  local -n value_ref=$1
  value_ref=${value_ref#"${value_ref%%[![:space:]]*}"}
  value_ref=${value_ref%"${value_ref##*[![:space:]]}"}
}

case "${1:-}" in
  "") ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac

echo "Turso set-up: the URL and token go to $PWD/$env_file (readable only by you)."

if [[ -e "$env_file" ]]; then
  printf '%s already exists. Replace its Turso URL and token (other settings are kept, a backup goes to %s)? [y/N] ' \
    "$env_file" "$backup_file" >&2
  answer=""
  IFS= read -r answer || true
  trim_var answer
  case "$answer" in
    y | Y | yes | YES | Yes) ;;
    *)
      echo "$env_file left unchanged."
      exit 1
      ;;
  esac
fi

# The database URL.
url=""
while true; do
  printf 'Turso database URL (libsql://<database>-<org>.turso.io, see: turso db show --url <database>): ' >&2
  if ! IFS= read -r url && [[ -z "$url" ]]; then
    echo >&2
    die "no database URL given" 2
  fi
  trim_var url
  scheme_ok=false
  case "${url,,}" in
    libsql://?* | https://?* | http://?*) scheme_ok=true ;;
  esac
  # The value is not echoed back: what was typed might be the token, pasted into the wrong prompt.
  if [[ "$scheme_ok" != true ]]; then
    problem="the URL must start with libsql://, https:// or http://"
  elif [[ "$url" =~ [[:space:]\'\"\\] ]]; then
    problem="the URL must not contain spaces, quotes or backslashes"
  else
    break
  fi
  if ! interactive; then
    die "$problem" 2
  fi
  echo "setup-turso.sh: $problem; try again." >&2
done

# The token, never echoed.
printf 'Auth token (hidden; see: turso db tokens create <database>; empty for a local server without auth): ' >&2
token=""
if ! IFS= read -r -s token && [[ -z "$token" ]]; then
  echo >&2
  die "no token given (enter an empty line to connect without a token)" 2
fi
echo >&2
trim_var token
if [[ "$token" =~ [[:space:]\'\"\\] ]]; then
  die "the token must not contain spaces, quotes or backslashes; copy it again from \`turso db tokens create\`" 2
fi
if [[ -z "$token" && "${url,,}" == libsql://* ]]; then
  echo "setup-turso.sh: warning: no token; Turso Cloud databases need one (turso db tokens create <database>)." >&2
fi

# Write a new file next to .env and move it into place, so .env is never half-written.
tmp_file=$(mktemp "./.env.XXXXXX")
trap 'rm -f -- "$tmp_file"' EXIT
chmod 600 -- "$tmp_file"
if [[ -e "$env_file" ]]; then
  rm -f -- "$backup_file"
  cp -- "$env_file" "$backup_file"
  chmod 600 -- "$backup_file"
  # Keep every other line of the old file.
  grep -v -E '^[[:space:]]*((export[[:space:]]+)?(TURSO_DATABASE_URL|TURSO_AUTH_TOKEN)[[:space:]]*=|# Written by setup-turso\.sh)' \
    -- "$env_file" >>"$tmp_file" || [[ $? -eq 1 ]]
fi
{
  printf '# Written by setup-turso.sh. Keep this file private (chmod 600 .env) and out of version control.\n'
  printf "TURSO_DATABASE_URL='%s'\n" "$url"
  if [[ -n "$token" ]]; then
    printf "TURSO_AUTH_TOKEN='%s'\n" "$token"
  fi
} >>"$tmp_file"
mv -f -- "$tmp_file" "$env_file"
trap - EXIT
chmod 600 -- "$env_file"
unset token
echo "Wrote $env_file (mode 0600)."

echo "Checking the connection: turso-workflow.sh status"
if "$script_dir/turso-workflow.sh" status; then
  echo "Connected. Next: ./turso-workflow.sh init downloads the database into local_replica.db and working_copy.db."
  exit 0
else
  rc=$?
fi
case "$rc" in
  127) echo "setup-turso.sh: turso-sync is not built yet: run \`make\`, then ./turso-workflow.sh status." >&2 ;;
  4) echo "setup-turso.sh: the remote could not be reached or refused the token: check the URL and token (run ./setup-turso.sh again)." >&2 ;;
  2) echo "setup-turso.sh: turso-sync rejected the configuration (see above); fix $env_file or run ./setup-turso.sh again." >&2 ;;
  *) echo "setup-turso.sh: the connection check failed (exit $rc); see the message above." >&2 ;;
esac
exit "$rc"
