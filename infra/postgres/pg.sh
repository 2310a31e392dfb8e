#!/usr/bin/env bash
# Installs (apt) and runs a dedicated PostgreSQL cluster for agentbus on 127.0.0.1 for dev and tests.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: infra/postgres/pg.sh COMMAND

  install   apt-get install postgresql when the server binaries are missing
  up        create the cluster once, start it, ensure role and database agentbus, wait until ready
  down      stop the cluster (fast shutdown)
  status    exit 0 when the server answers on 127.0.0.1:PG_PORT, non-zero otherwise
  url       print the SQLAlchemy URL (postgresql+psycopg://agentbus:agentbus@127.0.0.1:PORT/agentbus)

environment:
  PG_PORT         TCP port on 127.0.0.1                                     (default 55432)
  PG_HOME         cluster home: data/, run/ (socket), postgresql.log
                  (default /var/lib/postgresql/agentbus-PORT as root, <cache>/postgres/PORT otherwise)
  PG_BIN          directory holding initdb and pg_ctl (default: newest /usr/lib/postgresql/*/bin)
  PG_START_TIMEOUT seconds to wait for readiness                            (default 60)
  AGENTBUS_CACHE  cache root                                                (default <repo>/.cache)
EOF
}

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
CACHE_DIR="${AGENTBUS_CACHE:-$REPO_ROOT/.cache}/postgres"

PG_PORT="${PG_PORT:-55432}"
START_TIMEOUT="${PG_START_TIMEOUT:-60}"
DB_USER=agentbus
DB_PASSWORD=agentbus
DB_NAME=agentbus

# initdb refuses to run as root, so as root the cluster belongs to the `postgres` system user and
# lives under its home; anyone else owns a cluster in the repo cache.
if [ "$(id -u)" -eq 0 ]; then
  OWNER=postgres
  PG_HOME="${PG_HOME:-/var/lib/postgresql/agentbus-$PG_PORT}"
else
  OWNER="$(id -un)"
  PG_HOME="${PG_HOME:-$CACHE_DIR/$PG_PORT}"
fi
DATA_DIR="$PG_HOME/data"
SOCKET_DIR="$PG_HOME/run"
SERVER_LOG="$PG_HOME/postgresql.log"

LOG_NAME=pg.sh
# shellcheck source=infra/dev/log.sh
source "$REPO_ROOT/infra/dev/log.sh"

die_with_log() { die_showing "$*" "$SERVER_LOG"; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    # From /, because the caller's directory (say a checkout under /root) may be closed to postgres.
    (cd / && runuser -u "$OWNER" -- "$@")
  else
    "$@"
  fi
}

# Serialises up/down so parallel callers never race on initdb or pg_ctl.
take_lock() {
  mkdir -p "$CACHE_DIR"
  exec 9>"$CACHE_DIR/pg-$PG_PORT.lock"
  flock -w 300 9 || die "another pg.sh has held $CACHE_DIR/pg-$PG_PORT.lock for 5 minutes"
}

find_bin_dir() {
  if [ -n "${PG_BIN:-}" ]; then
    echo "$PG_BIN"
    return 0
  fi
  local newest
  newest="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
    sort -V | tail -n 1)"
  if [ -n "$newest" ]; then
    dirname "$newest"
  elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    return 1
  fi
}

server_installed() {
  local bin
  bin="$(find_bin_dir)" && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] && [ -x "$bin/postgres" ] &&
    command -v psql >/dev/null 2>&1 && command -v pg_isready >/dev/null 2>&1
}

cmd_install() {
  if server_installed; then
    return 0
  fi
  "$REPO_ROOT/infra/dev/apt-install.sh" postgresql
  server_installed || die "apt-get installed postgresql but initdb/pg_ctl/psql are still missing"
}

agentbus_login_works() {
  command -v psql >/dev/null 2>&1 &&
    PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=3 psql -X -q -At -w \
      -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d "$DB_NAME" -c 'select 1' >/dev/null 2>&1
}

port_open() {
  ( { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null )
}

cluster_running() {
  [ -f "$DATA_DIR/postmaster.pid" ] && as_owner "$BIN/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1
}

init_cluster() {
  if [ -f "$DATA_DIR/PG_VERSION" ]; then
    return 0
  fi
  log "creating cluster in $DATA_DIR (owner $OWNER)"
  mkdir -p "$PG_HOME"
  chmod 0700 "$PG_HOME"
  [ "$(id -u)" -ne 0 ] || chown "$OWNER:" "$PG_HOME"
  as_owner mkdir -p "$SOCKET_DIR"
  as_owner "$BIN/initdb" -D "$DATA_DIR" -U "$OWNER" -E UTF8 --no-locale \
    --auth-local=peer --auth-host=scram-sha-256 >"$PG_HOME/initdb.log" 2>&1 ||
    die "initdb failed: $(tail -n 20 "$PG_HOME/initdb.log")"
  # Loopback TCP only; the unix socket lives in a private directory (the superuser's only door).
  as_owner tee -a "$DATA_DIR/postgresql.conf" >/dev/null <<EOF

# agentbus (infra/postgres/pg.sh)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCKET_DIR'
unix_socket_permissions = 0700
max_connections = 200
password_encryption = 'scram-sha-256'
EOF
}

wait_ready() {
  local deadline=$((SECONDS + START_TIMEOUT))
  until pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2; do
    [ "$SECONDS" -lt "$deadline" ] || die_with_log "PostgreSQL did not accept connections within ${START_TIMEOUT}s"
    sleep 0.5
  done
}

ensure_role_and_database() {
  # The superuser connects over the private socket with peer authentication; no password needed.
  as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKET_DIR" -p "$PG_PORT" -U "$OWNER" -d postgres >/dev/null <<EOF
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
  ELSE
    ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER' WHERE NOT EXISTS
  (SELECT FROM pg_database WHERE datname = '$DB_NAME')\gexec
EOF
}

cmd_up() {
  take_lock
  if agentbus_login_works; then
    log "already up: 127.0.0.1:$PG_PORT accepts the agentbus login"
    return 0
  fi
  cmd_install
  BIN="$(find_bin_dir)"
  local started=$SECONDS
  if ! cluster_running; then
    if port_open "$PG_PORT"; then
      die "port $PG_PORT on 127.0.0.1 is taken by a server that rejects the agentbus login (set PG_PORT)"
    fi
    init_cluster
    log "starting PostgreSQL ($("$BIN/postgres" --version)) on 127.0.0.1:$PG_PORT"
    # 9>&-: the server must not inherit the lock, or every later pg.sh would wait on it.
    as_owner "$BIN/pg_ctl" start -D "$DATA_DIR" -l "$SERVER_LOG" -w -t "$START_TIMEOUT" \
      >/dev/null 9>&- || die_with_log "pg_ctl could not start the cluster in $DATA_DIR"
  fi
  wait_ready
  ensure_role_and_database
  agentbus_login_works || die_with_log "the cluster runs but the agentbus login still fails"
  log "ready on 127.0.0.1:$PG_PORT ($((SECONDS - started))s)"
}

cmd_down() {
  take_lock
  BIN="$(find_bin_dir)" || {
    log "not running (PostgreSQL is not installed)"
    return 0
  }
  if ! cluster_running; then
    log "not running"
    return 0
  fi
  log "stopping PostgreSQL on 127.0.0.1:$PG_PORT"
  as_owner "$BIN/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t 30 >/dev/null ||
    die_with_log "pg_ctl could not stop the cluster in $DATA_DIR"
  log "stopped"
}

cmd_status() {
  if ! command -v pg_isready >/dev/null 2>&1; then
    echo "not installed"
    return 3
  fi
  if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 2; then
    echo "not running on 127.0.0.1:$PG_PORT"
    return 3
  fi
  if agentbus_login_works; then
    echo "running: $(cmd_url)"
    return 0
  fi
  echo "a server answers on 127.0.0.1:$PG_PORT but rejects the agentbus login (run: infra/postgres/pg.sh up)"
  return 1
}

cmd_url() {
  echo "postgresql+psycopg://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/$DB_NAME"
}

case "${1:-}" in
  install)
    take_lock
    cmd_install
    ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  url) cmd_url ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
