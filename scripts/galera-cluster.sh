#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on 127.0.0.1, for the tests and the benchmark (issue 13).
#
#   scripts/galera-cluster.sh up        start it (reused if already running and synced)
#   scripts/galera-cluster.sh down      stop every node and delete the data directories
#   scripts/galera-cluster.sh kill N    SIGKILL node N (a crash: no clean shutdown)
#   scripts/galera-cluster.sh start N   start node N again; it rejoins (IST) and syncs
#   scripts/galera-cluster.sh status    each node's state
#   scripts/galera-cluster.sh check     exit 0 if all three nodes are up and synced
#   scripts/galera-cluster.sh urls      the three database URLs, comma-separated
#
# Each node is a `mariadbd` process of this script's own (never the system service), with its own
# data directory under $SESSIONWARD_GALERA_DIR (default /var/tmp/sessionward-galera/nodeN), SQL
# port 2306N, group communication port 2467N, IST port 2468N and rsync SST port 2469N (all below
# Linux's ephemeral range, 32768-60999: a port in it may be taken by any outgoing connection, and
# then a restarted node cannot listen for its state transfer). Node 1
# bootstraps the cluster (--wsrep-new-cluster); nodes 2 and 3 join it. `up` waits until every node
# reports wsrep_local_state_comment = Synced and the cluster has three members.
#
# The group-communication timeouts are shortened (suspect a silent node after 2 s, evict it after
# 4 s; defaults 5 s and 15 s) so that a killed node stalls the survivors' writes for seconds, not
# a quarter of a minute: see docs/scaling.md for what was measured.
set -euo pipefail

BASE="${SESSIONWARD_GALERA_DIR:-/var/tmp/sessionward-galera}"
DATABASE="${SESSIONWARD_GALERA_DATABASE:-sessionward_test}"
PROVIDER=/usr/lib/galera/libgalera_smm.so
NODES=(1 2 3)
GCOMM="gcomm://127.0.0.1:24671,127.0.0.1:24672,127.0.0.1:24673"
# SESSIONWARD_GALERA_EVS replaces these (set it empty for Galera's defaults).
EVS_DEFAULT="evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.keepalive_period=PT0.5S"
EVS_DEFAULT="$EVS_DEFAULT;evs.inactive_check_period=PT0.5S;evs.install_timeout=PT4S"
EVS="${SESSIONWARD_GALERA_EVS-$EVS_DEFAULT}"

sql_port() { echo $((23060 + $1)); }
dir() { echo "$BASE/node$1"; }

log() { printf '[galera] %s\n' "$*" >&2; }

client() {  # client N ARGS...: the mariadb client on node N, as root, over TCP
  local n=$1
  shift
  mariadb --no-defaults -uroot -h127.0.0.1 -P"$(sql_port "$n")" --connect-timeout=2 "$@"
}

variable() {  # variable N NAME: a status variable of node N (empty when it does not answer)
  client "$1" -N -B -e "SHOW STATUS LIKE '$2'" 2>/dev/null | awk '{print $2}' || true
}

pid_of() {  # the node's mariadbd pid, if it is running
  local file
  file="$(dir "$1")/process.pid"
  if [[ -s $file ]] && kill -0 "$(cat "$file")" 2>/dev/null; then
    cat "$file"
  fi
}

ensure_packages() {
  local missing=()
  [[ -e $PROVIDER ]] || missing+=(galera-4)
  command -v rsync >/dev/null 2>&1 || missing+=(rsync)
  command -v mariadb-install-db >/dev/null 2>&1 || missing+=(mariadb-server)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

write_config() {
  local n=$1 d
  d="$(dir "$n")"
  cat >"$d/my.cnf" <<EOF
[mariadbd]
datadir=$d/data
socket=$d/mariadbd.sock
pid-file=$d/mariadbd.pid
log-error=$d/error.log
bind-address=127.0.0.1
port=$(sql_port "$n")
user=mysql
skip-name-resolve
performance_schema=OFF
innodb_buffer_pool_size=128M
innodb_log_file_size=64M
innodb_flush_log_at_trx_commit=2
max_connections=400
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider=$PROVIDER
wsrep_cluster_name=sessionward
wsrep_cluster_address=$GCOMM
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1:$((24670 + n))
wsrep_node_incoming_address=127.0.0.1:$(sql_port "$n")
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$((24690 + n))
wsrep_slave_threads=2
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$((24670 + n));ist.recv_addr=127.0.0.1:$((24680 + n));gcache.size=128M${EVS:+;$EVS}"
EOF
}

init_node() {
  local n=$1 d
  d="$(dir "$n")"
  mkdir -p "$d"
  write_config "$n"
  # The server runs as mysql (started by root, it drops to that user): the rsync daemon of a
  # state transfer, started by the server, would otherwise run as nobody and be refused.
  chown mysql:mysql "$d"
  mariadb-install-db --defaults-file="$d/my.cnf" --user=mysql --skip-test-db \
    --auth-root-authentication-method=normal >"$d/install.log" 2>&1 \
    || { cat "$d/install.log" >&2; return 1; }
}

launch() {  # launch N [EXTRA-OPTIONS...]: start node N's mariadbd in the background
  local n=$1 d
  shift
  d="$(dir "$n")"
  # A session of its own, so that a Ctrl-C of whoever started it does not reach the server
  # (setsid execs mariadbd in place: $! is the server's pid).
  setsid mariadbd --defaults-file="$d/my.cnf" "$@" >>"$d/stdout.log" 2>&1 </dev/null &
  echo $! >"$d/process.pid"
}

wait_synced() {  # wait_synced N [SECONDS]: fails at once if the server exits
  local n=$1 seconds=${2:-120} state=""
  for _ in $(seq $((seconds * 4))); do
    state="$(variable "$n" wsrep_local_state_comment)"
    [[ $state == Synced ]] && return 0
    if [[ -z $(pid_of "$n") ]]; then
      log "node $n exited; the end of its log:"
      tail -n 30 "$(dir "$n")/error.log" >&2 || true
      return 1
    fi
    sleep 0.25
  done
  log "node $n is not Synced after ${seconds}s (state: '${state}'); the end of its log:"
  tail -n 30 "$(dir "$n")/error.log" >&2 || true
  return 1
}

healthy() {  # every node synced, in one cluster of three
  local n
  for n in "${NODES[@]}"; do
    [[ $(variable "$n" wsrep_local_state_comment) == Synced ]] || return 1
    [[ $(variable "$n" wsrep_cluster_size) == 3 ]] || return 1
  done
}

stop_node() {  # a clean shutdown, then SIGKILL if it takes more than 30 s
  local n=$1 pid
  pid="$(pid_of "$n")"
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
  local n
  # Nodes 3 and 2 first, node 1 last: the last to leave can bootstrap again (not needed here).
  for n in 3 2 1; do stop_node "$n"; done
  rm -rf "$BASE"
}

cmd_up() {
  ensure_packages
  if healthy 2>/dev/null; then
    log "already up and synced: reusing it"
  else
    log "starting a fresh cluster in $BASE"
    cmd_down  # stray nodes of an earlier run, and stale data directories
    local n
    for n in "${NODES[@]}"; do init_node "$n"; done
    launch 1 --wsrep-new-cluster
    wait_synced 1
    for n in 2 3; do
      launch "$n"
      wait_synced "$n"
    done
    healthy || { log "the cluster did not form"; cmd_status; return 1; }
  fi
  client 1 -e "CREATE DATABASE IF NOT EXISTS \`$DATABASE\`"
  cmd_status
}

cmd_kill() {
  local n=$1 pid
  pid="$(pid_of "$n")"
  [[ -n $pid ]] || { log "node $n is not running"; return 1; }
  kill -KILL "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  log "node $n (pid $pid) killed"
}

cmd_start() {
  local n=$1
  if [[ -n $(pid_of "$n") ]]; then
    log "node $n is running already"
  else
    # After a crash grastate.dat says seqno -1: without the position recovered from InnoDB the
    # node would ask for a full copy (SST) instead of the missed writesets (IST). This is what
    # systemd's galera_recovery does before each start.
    local d position
    d="$(dir "$n")"
    position=""
    if grep -q '^seqno: *-1' "$d/data/grastate.dat" 2>/dev/null; then
      rm -f "$d/recover.log"
      mariadbd --defaults-file="$d/my.cnf" --wsrep-recover --log-error="$d/recover.log" \
        >/dev/null 2>&1 || true
      position="$(sed -n 's/.*WSREP: Recovered position: *//p' "$d/recover.log" | tail -n 1)"
      log "node $n: recovered position ${position:-(none)}"
    fi
    if [[ -n $position ]]; then
      launch "$n" --wsrep-start-position="$position"
    else
      launch "$n"
    fi
  fi
  wait_synced "$n"
  log "node $n synced"
}

cmd_status() {
  local n
  for n in "${NODES[@]}"; do
    printf 'node%s 127.0.0.1:%s pid=%s state=%s cluster_size=%s\n' "$n" "$(sql_port "$n")" \
      "$(pid_of "$n" || true)" "$(variable "$n" wsrep_local_state_comment)" \
      "$(variable "$n" wsrep_cluster_size)"
  done
}

cmd_urls() {
  local n urls=()
  for n in "${NODES[@]}"; do urls+=("mysql://root@127.0.0.1:$(sql_port "$n")/$DATABASE"); done
  (IFS=,; echo "${urls[*]}")
}

node_arg() {
  [[ ${1:-} =~ ^[123]$ ]] || { echo "usage: $0 $2 1|2|3" >&2; exit 2; }
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  kill) node_arg "${2:-}" kill; cmd_kill "$2" ;;
  start) node_arg "${2:-}" start; cmd_start "$2" ;;
  status) cmd_status ;;
  check) healthy 2>/dev/null ;;
  urls) cmd_urls ;;
  *) echo "usage: $0 up|down|kill N|start N|status|check|urls" >&2; exit 2 ;;
esac
