#!/usr/bin/env bash
# A PostgreSQL primary and a streaming replica on 127.0.0.1, for the failover test (issue 13).
#
#   scripts/pg-replica.sh up            start the pair (reused if already a primary + replica)
#   scripts/pg-replica.sh down          stop both and delete their data directories
#   scripts/pg-replica.sh stop-primary  crash the primary (pg_ctl stop -m immediate)
#   scripts/pg-replica.sh promote       promote the replica: it becomes the primary
#   scripts/pg-replica.sh rejoin        rebuild the stopped server as a replica of the primary
#   scripts/pg-replica.sh status        which server is what
#   scripts/pg-replica.sh check         exit 0 if a primary and its replica are running
#   scripts/pg-replica.sh url           the one database URL naming both servers
#
# Servers "a" (port 25431) and "b" (port 25432) are `postgres` processes of this script's own
# (never the system cluster), run as the postgres OS user, with data directories under
# $SESSIONWARD_PG_REPLICA_DIR (default /var/tmp/sessionward-pg). The replica is made with
# `pg_basebackup -R` (streaming replication). Trust authentication, loopback only.
#
# Replication is synchronous while a replica is attached (synchronous_standby_names = '*',
# synchronous_commit = on: a commit returns once the replica has it on disk), so a promoted
# replica has every commit the clients were answered. A primary without a replica (after a
# promotion, until `rejoin`) commits alone. This is what failover managers such as Patroni do in
# their synchronous mode; with asynchronous replication the last commits before a crash can be
# lost (docs/scaling.md says what that means for sessions).
#
# The URL lists both hosts with target_session_attrs=read-write: libpq tries them in order and
# keeps the one that accepts writes, whichever that is after a failover.
set -euo pipefail

BASE="${SESSIONWARD_PG_REPLICA_DIR:-/var/tmp/sessionward-pg}"
DATABASE="${SESSIONWARD_PG_REPLICA_DATABASE:-sessionward_test}"
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
declare -A PORT=([a]=25431 [b]=25432)

log() { printf '[pg-replica] %s\n' "$*" >&2; }

as_postgres() { runuser -u postgres -- "$@"; }

running() { as_postgres "$BIN/pg_ctl" -D "$BASE/$1" status >/dev/null 2>&1; }

# "primary", "replica", or "" when the server does not answer.
role() {
  local answer
  answer="$(psql -h 127.0.0.1 -p "${PORT[$1]}" -U postgres -d postgres -tAc \
    'SELECT pg_is_in_recovery()' 2>/dev/null || true)"
  case "$answer" in
    f) echo primary ;;
    t) echo replica ;;
    *) echo "" ;;
  esac
}

primary() {  # the name of the server that is primary now, or nothing
  local s
  for s in a b; do [[ $(role "$s") == primary ]] && echo "$s" && return 0; done
  return 0
}

other() { [[ $1 == a ]] && echo b || echo a; }

start_server() {
  as_postgres "$BIN/pg_ctl" -D "$BASE/$1" -l "$BASE/$1.log" -w -t 60 start >/dev/null
}

stop_server() {  # stop_server NAME [MODE]
  if running "$1"; then
    as_postgres "$BIN/pg_ctl" -D "$BASE/$1" -m "${2:-fast}" -w -t 60 stop >/dev/null
  fi
}

configure() {  # the settings of either role (a replica copies them, then gets its own port)
  cat >>"$BASE/$1/postgresql.conf" <<EOF
port = ${PORT[$1]}
listen_addresses = '127.0.0.1'
unix_socket_directories = '$BASE'
wal_level = replica
max_wal_senders = 5
hot_standby = on
shared_buffers = 32MB
fsync = off
full_page_writes = off
synchronous_commit = on
EOF
}

make_replica() {  # make_replica NAME PRIMARY: a fresh copy of PRIMARY that streams from it
  rm -rf "${BASE:?}/$1"
  as_postgres pg_basebackup -h 127.0.0.1 -p "${PORT[$2]}" -U postgres -D "$BASE/$1" -R -X stream \
    -c fast
  # The copy has the primary's settings; the last `port` line wins.
  echo "port = ${PORT[$1]}" >>"$BASE/$1/postgresql.conf"
  # The copy carries the primary's ALTER SYSTEM settings: as a replica, and as the primary it may
  # become, it waits for no standby of its own until one is attached.
  echo "synchronous_standby_names = ''" >>"$BASE/$1/postgresql.auto.conf"
  start_server "$1"
  wait_role "$1" replica
  wait_streaming "$2"
  sql "$2" "ALTER SYSTEM SET synchronous_standby_names = '*'"
  sql "$2" "SELECT pg_reload_conf()" >/dev/null
}

sql() {  # sql NAME STATEMENT: run one statement on a server
  psql -h 127.0.0.1 -p "${PORT[$1]}" -U postgres -d postgres -tAqc "$2"
}

wait_streaming() {  # wait_streaming PRIMARY: until a replica streams from it
  for _ in $(seq 240); do
    [[ $(sql "$1" "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") -gt 0 ]] \
      && return 0
    sleep 0.25
  done
  log "no replica streams from $1 after 60 s"
  return 1
}

wait_role() {  # wait_role NAME ROLE: up to 60 s
  for _ in $(seq 240); do
    [[ $(role "$1") == "$2" ]] && return 0
    sleep 0.25
  done
  log "server $1 is not $2 after 60 s; the end of its log:"
  tail -n 20 "$BASE/$1.log" >&2 || true
  return 1
}

healthy() {
  local p
  p="$(primary)"
  [[ -n $p && $(role "$(other "$p")") == replica ]]
}

cmd_down() {
  local s
  for s in a b; do
    if [[ -d $BASE/$s ]]; then stop_server "$s" immediate || true; fi
  done
  rm -rf "$BASE"
}

cmd_up() {
  if healthy; then
    log "already up (primary $(primary)): reusing it"
  else
    log "starting a fresh pair in $BASE"
    cmd_down
    mkdir -p "$BASE"
    chown postgres:postgres "$BASE"
    as_postgres "$BIN/initdb" -D "$BASE/a" -U postgres --auth=trust >/dev/null
    configure a
    start_server a
    wait_role a primary
    make_replica b a
  fi
  local p
  p="$(primary)"
  [[ -n $(sql "$p" "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'") ]] \
    || sql "$p" "CREATE DATABASE \"$DATABASE\""
  cmd_status
}

cmd_stop_primary() {
  local p
  p="$(primary)"
  [[ -n $p ]] || { log "no primary is running"; return 1; }
  stop_server "$p" immediate
  log "primary $p stopped (immediate: as after a crash)"
}

cmd_promote() {
  local s
  for s in a b; do
    if [[ $(role "$s") == replica ]]; then
      as_postgres "$BIN/pg_ctl" -D "$BASE/$s" -w -t 60 promote >/dev/null
      wait_role "$s" primary
      sql "$s" "ALTER SYSTEM SET synchronous_standby_names = ''"
      sql "$s" "SELECT pg_reload_conf()" >/dev/null
      log "server $s promoted"
      return 0
    fi
  done
  log "no replica to promote"
  return 1
}

cmd_rejoin() {
  local p
  p="$(primary)"
  [[ -n $p ]] || { log "no primary to rejoin"; return 1; }
  stop_server "$(other "$p")" immediate
  make_replica "$(other "$p")" "$p"
  log "server $(other "$p") is a replica of $p again"
}

cmd_status() {
  local s
  for s in a b; do
    printf 'server %s 127.0.0.1:%s role=%s\n' "$s" "${PORT[$s]}" "$(role "$s")"
  done
}

cmd_url() {
  echo "postgresql://postgres@/$DATABASE?host=127.0.0.1:${PORT[a]}&host=127.0.0.1:${PORT[b]}&target_session_attrs=read-write&connect_timeout=2"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  stop-primary) cmd_stop_primary ;;
  promote) cmd_promote ;;
  rejoin) cmd_rejoin ;;
  status) cmd_status ;;
  check) healthy ;;
  url) cmd_url ;;
  *) echo "usage: $0 up|down|stop-primary|promote|rejoin|status|check|url" >&2; exit 2 ;;
esac
