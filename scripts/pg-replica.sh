#!/usr/bin/env bash
# A PostgreSQL primary and a streaming replica on 127.0.0.1 for failover tests: two extra
# clusters run with pg_ctl as the postgres OS user, never through the system service.
# The system cluster (15/main on 5432) is not touched.
#
# Usage: scripts/pg-replica.sh COMMAND
#   up              primary + streaming replica (idempotent); if the replica was promoted,
#                   'up' rebuilds the pair with the original roles (the promoted copy's
#                   data is discarded)
#   down [--clean]  fast stop of both; --clean also removes the data
#   stop-primary    immediate stop of the primary (a crash, as far as clients can tell)
#   promote         promote the replica and wait until it accepts writes
#   status          per server: running?, in recovery?, replication state
#   url             the multi-host SQLAlchemy URL (SESSIONWARD_TEST_POSTGRES_FAILOVER_URL)
#
# Environment (defaults):
#   PG_REPLICA_DIR=/tmp/sessionward-pgrepl   data under primary/ and replica/
#   PG_PRIMARY_PORT=54331  PG_REPLICA_PORT=54332
#   PG_DB=sessionward_test
#   PG_BIN=/usr/lib/postgresql/15/bin         (newest installed version if 15 is absent)
#   PG_TIMEOUT=60                            seconds to wait for streaming / promotion
set -euo pipefail

PG_REPLICA_DIR=${PG_REPLICA_DIR:-/tmp/sessionward-pgrepl}
[[ $PG_REPLICA_DIR == /* ]] || PG_REPLICA_DIR=$PWD/$PG_REPLICA_DIR
PG_PRIMARY_PORT=${PG_PRIMARY_PORT:-54331}
PG_REPLICA_PORT=${PG_REPLICA_PORT:-54332}
PG_DB=${PG_DB:-sessionward_test}
PG_TIMEOUT=${PG_TIMEOUT:-60}
HOST=127.0.0.1
PRIMARY=$PG_REPLICA_DIR/primary
REPLICA=$PG_REPLICA_DIR/replica

# the postgres user may not be able to read the caller's working directory
cd /

log() { printf '[pg-replica] %s\n' "$*" >&2; }
die() { printf '[pg-replica] ERROR: %s\n' "$*" >&2; exit 1; }

find_bin() {
  if [[ -n ${PG_BIN:-} ]]; then echo "$PG_BIN"; return; fi
  if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then echo /usr/lib/postgresql/15/bin; return; fi
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n1 || true)
  echo "$d"
}

ensure_packages() {
  local bin; bin=$(find_bin)
  if [[ -z $bin || ! -x $bin/pg_ctl || ! -x $bin/pg_basebackup ]]; then
    log "installing postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  id postgres >/dev/null 2>&1 || die "no postgres OS user (the postgresql package creates it)"
}

BIN=$(find_bin)
as_pg() { runuser -u postgres -- "$@"; }
pg_ctl() { as_pg "$BIN/pg_ctl" "$@"; }

psql_at() {  # psql_at PORT SQL [DB]: one value per line, no headers
  PGCONNECT_TIMEOUT=3 "$BIN/psql" -X -h "$HOST" -p "$1" -U postgres -d "${3:-postgres}" -tAqc "$2"
}

running() { [[ -f $1/postmaster.pid ]] && pg_ctl status -D "$1" >/dev/null 2>&1; }
ready() { "$BIN/pg_isready" -q -h "$HOST" -p "$1" -t 2; }

is_standby() { [[ -f $1/standby.signal ]]; }

# --- setup -----------------------------------------------------------------------------
init_primary() {
  log "initdb $PRIMARY"
  mkdir -p "$PG_REPLICA_DIR"
  chown postgres: "$PG_REPLICA_DIR"
  chmod 700 "$PG_REPLICA_DIR"
  as_pg "$BIN/initdb" -D "$PRIMARY" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$PG_REPLICA_DIR/initdb.log" 2>&1 || { cat "$PG_REPLICA_DIR/initdb.log" >&2; die "initdb failed"; }
  # initdb's pg_hba.conf with --auth=trust already allows host and replication
  # connections from 127.0.0.1/32 and ::1 without a password
  as_pg tee -a "$PRIMARY/postgresql.conf" >/dev/null <<EOF

# written by scripts/pg-replica.sh
listen_addresses = '$HOST'
port = $PG_PRIMARY_PORT
unix_socket_directories = '$PG_REPLICA_DIR'
wal_level = replica
max_wal_senders = 5
wal_keep_size = 128MB
hot_standby = on
# the replica retries a lost primary every second (default 5 s)
wal_retrieve_retry_interval = 1s
max_connections = 100
shared_buffers = 32MB
fsync = off
logging_collector = off
EOF
}

start_server() {  # start_server DIR PORT NAME
  local dir=$1 port=$2 name=$3
  if running "$dir"; then return 0; fi
  log "$name: starting on $HOST:$port"
  pg_ctl start -D "$dir" -l "$PG_REPLICA_DIR/$name.log" -w -t "$PG_TIMEOUT" -o "-p $port" >/dev/null ||
    { tail -n 30 "$PG_REPLICA_DIR/$name.log" >&2; die "$name did not start"; }
}

make_replica() {
  log "pg_basebackup $HOST:$PG_PRIMARY_PORT -> $REPLICA"
  rm -rf "$REPLICA"
  as_pg "$BIN/pg_basebackup" -h "$HOST" -p "$PG_PRIMARY_PORT" -U postgres -D "$REPLICA" \
    -R -X stream -c fast >"$PG_REPLICA_DIR/basebackup.log" 2>&1 ||
    { cat "$PG_REPLICA_DIR/basebackup.log" >&2; die "pg_basebackup failed"; }
  # -R wrote standby.signal and primary_conninfo; the copied postgresql.conf says the
  # primary's port, so override it (postgresql.auto.conf wins)
  echo "port = $PG_REPLICA_PORT" | as_pg tee -a "$REPLICA/postgresql.auto.conf" >/dev/null
}

wait_streaming() {
  local deadline=$((SECONDS + PG_TIMEOUT)) senders receiver
  while ((SECONDS < deadline)); do
    senders=$(psql_at "$PG_PRIMARY_PORT" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null || true)
    receiver=$(psql_at "$PG_REPLICA_PORT" "SELECT pg_is_in_recovery()::text || ',' || coalesce((SELECT status FROM pg_stat_wal_receiver), 'none')" 2>/dev/null || true)
    if [[ ${senders:-0} -ge 1 && $receiver == true,streaming ]]; then return 0; fi
    sleep 0.3
  done
  log "timed out after ${PG_TIMEOUT}s waiting for streaming (primary senders='${senders:-}', replica='${receiver:-}')"
  tail -n 20 "$PG_REPLICA_DIR/primary.log" "$PG_REPLICA_DIR/replica.log" >&2 || true
  exit 1
}

# --- commands --------------------------------------------------------------------------
cmd_up() {
  ensure_packages
  BIN=$(find_bin)
  if [[ ! -f $PRIMARY/PG_VERSION ]]; then
    rm -rf "$PRIMARY" "$REPLICA"
    init_primary
  fi
  if [[ -d $REPLICA ]] && ! is_standby "$REPLICA"; then
    # the replica was promoted: the pair has diverged; rebuild it with the original roles
    log "the replica was promoted earlier; rebuilding it from the primary"
    running "$REPLICA" && pg_ctl stop -D "$REPLICA" -m fast -w >/dev/null
    rm -rf "$REPLICA"
  fi
  start_server "$PRIMARY" "$PG_PRIMARY_PORT" primary
  if [[ $(psql_at "$PG_PRIMARY_PORT" "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") != 1 ]]; then
    psql_at "$PG_PRIMARY_PORT" "CREATE DATABASE \"$PG_DB\"" >/dev/null
  fi
  [[ -f $REPLICA/PG_VERSION ]] || make_replica
  start_server "$REPLICA" "$PG_REPLICA_PORT" replica
  wait_streaming
  log "primary $HOST:$PG_PRIMARY_PORT streaming to replica $HOST:$PG_REPLICA_PORT; database $PG_DB"
  cmd_url
}

stop_server() {  # stop_server DIR NAME MODE
  local dir=$1 name=$2 mode=$3
  running "$dir" || return 0
  log "$name: stopping (-m $mode)"
  pg_ctl stop -D "$dir" -m "$mode" -w -t "$PG_TIMEOUT" >/dev/null ||
    { log "$name: -m $mode failed; -m immediate"; pg_ctl stop -D "$dir" -m immediate -w >/dev/null; }
}

cmd_down() {
  stop_server "$PRIMARY" primary fast
  stop_server "$REPLICA" replica fast
  if [[ ${1:-} == --clean ]]; then
    log "removing $PG_REPLICA_DIR"
    rm -rf "$PG_REPLICA_DIR"
  fi
  log "down"
}

cmd_stop_primary() {
  running "$PRIMARY" || { log "primary is not running"; return 0; }
  stop_server "$PRIMARY" primary immediate
}

cmd_promote() {
  [[ -f $REPLICA/PG_VERSION ]] || die "no replica; run 'up'"
  running "$REPLICA" || start_server "$REPLICA" "$PG_REPLICA_PORT" replica
  if is_standby "$REPLICA"; then
    log "replica: promoting"
    pg_ctl promote -D "$REPLICA" -w -t "$PG_TIMEOUT" >/dev/null
  else
    log "replica already promoted"
  fi
  # accepts writes: out of recovery and can assign a transaction id
  local deadline=$((SECONDS + PG_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ $(psql_at "$PG_REPLICA_PORT" "SELECT NOT pg_is_in_recovery() AND pg_current_xact_id() IS NOT NULL" "$PG_DB" 2>/dev/null || true) == t ]]; then
      log "replica $HOST:$PG_REPLICA_PORT accepts writes"
      return 0
    fi
    sleep 0.2
  done
  die "replica did not accept writes within ${PG_TIMEOUT}s"
}

cmd_status() {
  local dir port name rc=0 info
  for name in primary replica; do
    if [[ $name == primary ]]; then dir=$PRIMARY port=$PG_PRIMARY_PORT; else dir=$REPLICA port=$PG_REPLICA_PORT; fi
    if running "$dir" && ready "$port"; then
      info=$(psql_at "$port" "SELECT CASE WHEN pg_is_in_recovery() THEN 'standby, receiver ' || coalesce((SELECT status FROM pg_stat_wal_receiver), 'none') ELSE 'read-write, ' || (SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming') || ' streaming replica(s)' END" 2>/dev/null || echo unreachable)
      printf '%s port=%s running %s\n' "$name" "$port" "$info"
    else
      printf '%s port=%s down\n' "$name" "$port"
      rc=1
    fi
  done
  return $rc
}

cmd_url() {
  echo "postgresql://postgres@/$PG_DB?host=$HOST:$PG_PRIMARY_PORT&host=$HOST:$PG_REPLICA_PORT&target_session_attrs=read-write"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down "${2:-}" ;;
  stop-primary) cmd_stop_primary ;;
  promote) cmd_promote ;;
  status) cmd_status ;;
  url) cmd_url ;;
  *) usage ;;
esac
