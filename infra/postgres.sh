#!/usr/bin/env bash
# Runs the project's own PostgreSQL cluster on 127.0.0.1 for development and
# tests, with Debian's PostgreSQL binaries (installed with apt-get if missing).
# It never touches Debian's own cluster (15/main on 5432).
#
#   infra/postgres.sh start    initdb once, start, create role+database, print the DSN
#   infra/postgres.sh stop     pg_ctl stop -m fast
#   infra/postgres.sh status   "running" (exit 0) or "not running" (exit 1)
#
# Environment (see infra/README.md):
#   PG_PORT=55432   REGISTERVARD_STATE=<repo>/.state   PG_DATA_DIR=$REGISTERVARD_STATE/postgres
#
# Authentication: unix socket = trust (admin work as the postgres superuser);
# TCP on 127.0.0.1 = scram-sha-256, so the app logs in with the password like
# anywhere else: registervard / registervard.
set -euo pipefail

INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$INFRA_DIR")
PORT=${PG_PORT:-55432}
APP_USER=registervard
APP_PASSWORD=registervard
APP_DB=registervard

die() { echo "postgres.sh: $*" >&2; exit 1; }

# --- binaries -------------------------------------------------------------

# Debian's server binaries live in /usr/lib/postgresql/<major>/bin (not on PATH).
find_bin() {
  local want=${1:-} d best=
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x $d/pg_ctl && -x $d/initdb && -x $d/postgres ]] || continue
    if [[ -n $want ]]; then
      [[ $d == "/usr/lib/postgresql/$want/bin" ]] && best=$d
    elif [[ -z $best ]] || (( ${d//[^0-9]/} > ${best//[^0-9]/} )); then
      best=$d
    fi
  done
  echo "$best"
}

ensure_installed() {
  [[ -n $(find_bin) ]] && id postgres >/dev/null 2>&1 && return 0
  [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1 ||
    die "PostgreSQL server binaries are missing; install Debian's 'postgresql' package"
  echo "postgres.sh: installing PostgreSQL with apt-get ..." >&2
  apt-get update -qq >&2
  # Debian may create and start its own cluster on 5432; we leave it alone.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  [[ -n $(find_bin) ]] || die "apt-get installed postgresql but no /usr/lib/postgresql/*/bin/pg_ctl found"
}

# Run a command as the postgres OS user (the server refuses to run as root),
# from / so it never warns about an unreadable working directory.
as_pg() {
  # fd 9 (start's lock) must not leak into the long-lived server.
  if [[ $(id -u) == 0 ]]; then
    (cd / && runuser -u postgres -- "$@" 9>&-)
  else
    (cd / && "$@" 9>&-)
  fi
}

# --- locations ------------------------------------------------------------

init_paths() {
  STATE=${REGISTERVARD_STATE:-$REPO_ROOT/.state}
  mkdir -p "$STATE"
  STATE=$(cd "$STATE" && pwd)
  DATA=${PG_DATA_DIR:-$STATE/postgres}
  mkdir -p "$(dirname "$DATA")"
  DATA=$(cd "$(dirname "$DATA")" && pwd)/$(basename "$DATA")
  # The postgres user must be able to reach the data dir. If some parent is not
  # searchable for it (a repo under /root, say), use a dir under /var/tmp named
  # after the wanted path instead of changing permissions of the parents.
  if [[ $(id -u) == 0 ]] && ! runuser -u postgres -- test -x "$(dirname "$DATA")" 2>/dev/null; then
    local wanted=$DATA
    DATA=/var/tmp/registervard-pg-$PORT-$(echo -n "$wanted" | sha256sum | cut -c1-8)
    NOTE="postgres.sh: note: the postgres user cannot reach $(dirname "$wanted"); data dir is $DATA"
  fi
  # Unix socket next to the data (sun_path is limited to 107 bytes).
  SOCKDIR=$DATA
  if (( ${#SOCKDIR} + 16 > 100 )); then
    SOCKDIR=/tmp/registervard-pg-$PORT
  fi
  LOGFILE=$DATA/server.log
}

# --- probes ---------------------------------------------------------------

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

is_running() {
  [[ -f $DATA/PG_VERSION ]] || return 1
  local bin
  bin=$(find_bin "$(cat "$DATA/PG_VERSION")")
  [[ -n $bin ]] || return 1
  as_pg "$bin/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

# Port of the running postmaster (line 4 of postmaster.pid).
running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null || true; }

dsn() { echo "postgresql+psycopg://$APP_USER:$APP_PASSWORD@127.0.0.1:$1/$APP_DB"; }

# --- commands -------------------------------------------------------------

write_hba() {
  cat >"$DATA/pg_hba.conf" <<'EOF'
# Written by infra/postgres.sh on every start; edits are overwritten.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
EOF
  chown postgres:postgres "$DATA/pg_hba.conf" 2>/dev/null || true
  chmod 600 "$DATA/pg_hba.conf"
}

init_once() {
  [[ -f $DATA/PG_VERSION ]] && return 0
  mkdir -p "$DATA"
  [[ -z $(ls -A "$DATA") ]] || die "$DATA is not empty and is not a PostgreSQL data dir; remove it or set PG_DATA_DIR"
  [[ $(id -u) != 0 ]] || chown postgres:postgres "$DATA"
  chmod 700 "$DATA"
  local locale=C
  locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$' && locale=C.UTF-8
  local out
  if ! out=$(as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
        --locale="$locale" --no-instructions 2>&1); then
    echo "$out" >&2
    die "initdb failed for $DATA"
  fi
}

ensure_app_db() {
  as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres -d postgres >/dev/null <<EOF
SET client_min_messages = warning;
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$APP_USER') THEN
    CREATE ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  ELSE
    ALTER ROLE $APP_USER LOGIN CREATEDB PASSWORD '$APP_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $APP_DB OWNER $APP_USER'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$APP_DB')\gexec
EOF
}

start() {
  ensure_installed
  init_paths
  [[ -z ${NOTE:-} ]] || echo "$NOTE" >&2
  mkdir -p "$DATA"
  exec 9>"$(dirname "$DATA")/.postgres-$PORT.lock"
  flock 9
  if is_running; then
    BIN=$(find_bin "$(cat "$DATA/PG_VERSION")")
    local rport
    rport=$(running_port)
    if [[ -n $rport && $rport != "$PORT" ]]; then
      die "PostgreSQL from $DATA is already running on port $rport, not $PORT; run 'infra/postgres.sh stop' first"
    fi
    ensure_app_db
    echo "PostgreSQL is already running: $(dsn "$PORT")"
    return 0
  fi
  if port_open "$PORT"; then
    die "port $PORT on 127.0.0.1 is already in use by another process; set PG_PORT to a free port"
  fi
  if [[ -f $DATA/PG_VERSION ]]; then
    BIN=$(find_bin "$(cat "$DATA/PG_VERSION")")
    [[ -n $BIN ]] || die "$DATA was made by PostgreSQL $(cat "$DATA/PG_VERSION"), whose binaries are not installed"
  else
    BIN=$(find_bin)
  fi
  init_once
  write_hba
  if [[ $SOCKDIR != "$DATA" ]]; then
    mkdir -p "$SOCKDIR"
    [[ $(id -u) != 0 ]] || chown postgres:postgres "$SOCKDIR"
    chmod 700 "$SOCKDIR"
  fi
  local opts="-c port=$PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='$SOCKDIR'"
  if ! as_pg "$BIN/pg_ctl" start -D "$DATA" -l "$LOGFILE" -w -t 60 -s -o "$opts" >/dev/null 2>&1; then
    if [[ -f $LOGFILE ]]; then
      echo "--- last 30 lines of $LOGFILE ---" >&2
      tail -n 30 "$LOGFILE" >&2
    fi
    die "PostgreSQL did not start (data: $DATA, port $PORT)"
  fi
  ensure_app_db
  echo "PostgreSQL is up: $(dsn "$PORT")"
}

stop() {
  [[ -n $(find_bin) ]] || { echo "PostgreSQL is not running"; return 0; }
  init_paths
  if ! is_running; then
    echo "PostgreSQL is not running"
    return 0
  fi
  BIN=$(find_bin "$(cat "$DATA/PG_VERSION")")
  as_pg "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 60 -s
  echo "PostgreSQL stopped"
}

status() {
  if [[ -n $(find_bin) ]]; then
    init_paths
    if is_running; then
      echo "PostgreSQL is running: $(dsn "$(running_port)") (data: $DATA)"
      return 0
    fi
  fi
  echo "PostgreSQL is not running"
  return 1
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
