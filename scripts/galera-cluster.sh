#!/usr/bin/env bash
# A 3-node MariaDB Galera cluster on 127.0.0.1 for tests: three extra mariadbd
# processes that this script starts itself (never through systemd or the system
# service). It never reads /etc/mysql/my.cnf and never touches the system MariaDB
# on 3306: every node has its own my.cnf (--defaults-file), datadir, socket, pid
# file, log and ports.
#
# Usage: scripts/galera-cluster.sh COMMAND
#   up              start the cluster (idempotent); bootstraps after a full stop or crash
#   down [--clean]  stop all nodes (SIGTERM, then SIGKILL after GALERA_STOP_TIMEOUT);
#                   --clean also removes the data
#   kill N          SIGKILL node N's mariadbd (a crash)
#   start N         restart node N so that it rejoins the running cluster (IST), wait for Synced
#   status          per node: pid, wsrep_local_state_comment, wsrep_cluster_size
#   urls            the three SQLAlchemy URLs, comma-separated (SESSIONWARD_TEST_GALERA_URLS)
#
# Environment (defaults):
#   GALERA_DIR=/tmp/sessionward-galera    node N lives in $GALERA_DIR/nodeN
#   GALERA_BASE_PORT=33061                SQL ports 33061..33063
#   GALERA_GCOMM_BASE_PORT=45671          group communication ports 45671..45673
#   GALERA_IST_BASE_PORT=45681            IST receive ports 45681..45683
#   GALERA_SST_BASE_PORT=45691            rsync SST receive ports 45691..45693
#   GALERA_DB=sessionward_test            database created on the cluster
#   GALERA_TIMEOUT=120                    seconds to wait for Synced
#   GALERA_STOP_TIMEOUT=60                seconds to wait for a node to stop before SIGKILL
#   GALERA_USER=mysql                     OS user the servers run as
#   GALERA_PROVIDER_OPTIONS=              extra wsrep_provider_options, e.g.
#       "evs.keepalive_period=PT0.5S;evs.suspect_timeout=PT2S;evs.inactive_timeout=PT4S;evs.install_timeout=PT3S"
#       (after a node crashes, writes on the others stall until it is declared dead:
#       about 6 s with the defaults); written to my.cnf on 'up' and 'start'
set -euo pipefail

GALERA_DIR=${GALERA_DIR:-/tmp/sessionward-galera}
GALERA_BASE_PORT=${GALERA_BASE_PORT:-33061}
GALERA_GCOMM_BASE_PORT=${GALERA_GCOMM_BASE_PORT:-45671}
GALERA_IST_BASE_PORT=${GALERA_IST_BASE_PORT:-45681}
GALERA_SST_BASE_PORT=${GALERA_SST_BASE_PORT:-45691}
GALERA_DB=${GALERA_DB:-sessionward_test}
GALERA_TIMEOUT=${GALERA_TIMEOUT:-120}
GALERA_STOP_TIMEOUT=${GALERA_STOP_TIMEOUT:-60}
# The servers run as the mysql OS user (the package creates it): rsync SST does not work
# as root, because rsync's daemon then drops to 'nobody' and cannot write the datadir.
GALERA_USER=${GALERA_USER:-mysql}
NODES=(1 2 3)
HOST=127.0.0.1
MARIADBD=/usr/sbin/mariadbd

log() { printf '[galera] %s\n' "$*" >&2; }
die() { printf '[galera] ERROR: %s\n' "$*" >&2; exit 1; }

node_dir() { echo "$GALERA_DIR/node$1"; }
node_cnf() { echo "$GALERA_DIR/node$1/my.cnf"; }
node_data() { echo "$GALERA_DIR/node$1/data"; }
node_log() { echo "$GALERA_DIR/node$1/mariadbd.log"; }
node_port() { echo $((GALERA_BASE_PORT + $1 - 1)); }
gcomm_port() { echo $((GALERA_GCOMM_BASE_PORT + $1 - 1)); }
cluster_address() {
  local n addrs=()
  for n in "${NODES[@]}"; do addrs+=("$HOST:$(gcomm_port "$n")"); done
  local IFS=,
  echo "gcomm://${addrs[*]}"
}

check_node_arg() {
  [[ ${1:-} =~ ^[123]$ ]] || die "node number must be 1, 2 or 3 (got '${1:-}')"
}

# --- packages --------------------------------------------------------------------------
ensure_packages() {
  local pkgs=()
  [[ -x $MARIADBD ]] && command -v mariadb-install-db >/dev/null || pkgs+=(mariadb-server)
  [[ -x /usr/bin/wsrep_sst_rsync ]] || pkgs+=(mariadb-server)
  command -v mariadb >/dev/null || pkgs+=(mariadb-client)
  find_provider >/dev/null 2>&1 || pkgs+=(galera-4)
  command -v rsync >/dev/null || pkgs+=(rsync)
  # the rsync SST script needs ss (or lsof) and ps
  command -v ss >/dev/null || command -v lsof >/dev/null || pkgs+=(iproute2)
  command -v ps >/dev/null || pkgs+=(procps)
  if ((${#pkgs[@]})); then
    mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
    log "installing ${pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  fi
  find_provider >/dev/null || die "libgalera_smm.so not found after installing galera-4"
}

find_provider() {
  local p
  for p in /usr/lib/galera/libgalera_smm.so /usr/lib/libgalera_smm.so; do
    [[ -f $p ]] && { echo "$p"; return 0; }
  done
  p=$(dpkg -L galera-4 2>/dev/null | grep -m1 '/libgalera_smm\.so$' || true)
  [[ -n $p && -f $p ]] && { echo "$p"; return 0; }
  return 1
}

# --- processes -------------------------------------------------------------------------
# pid_running PID: the process exists and is not a zombie (a killed server stays a zombie
# for a second or two until whoever inherited it reaps it)
pid_running() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $st && $st != Z ]]
}

# The pid of node N's mariadbd, or nothing. A pid only counts when its command line names
# this node's my.cnf, so a stale pid file can never point us at another process (such as
# the system MariaDB).
node_pid() {
  local cnf pid f
  cnf=$(node_cnf "$1")
  pid=$(cat "$(node_dir "$1")/mariadbd.pid" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && pid_running "$pid" && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "--defaults-file=$cnf "; then
    echo "$pid"; return 0
  fi
  # no usable pid file (still starting, or gone): look for a process with that argument
  while read -r f; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    pid_running "$pid" && { echo "$pid"; return 0; }
  done < <(grep -lzxF -- "--defaults-file=$cnf" /proc/[0-9]*/cmdline 2>/dev/null || true)
  return 0
}

alive() { [[ -n $(node_pid "$1") ]]; }

sql() {  # sql N STATEMENT: run on node N as root over TCP, tab-separated, no headers
  mariadb --no-defaults -uroot -h"$HOST" -P"$(node_port "$1")" --connect-timeout=2 -NBe "$2"
}

status_var() {  # status_var N NAME: value of a global status variable, empty if unreachable
  sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | cut -f2 || true
}

node_state() { status_var "$1" wsrep_local_state_comment; }
node_size() { status_var "$1" wsrep_cluster_size; }
node_primary() { [[ $(status_var "$1" wsrep_cluster_status) == Primary ]]; }

show_logs() {
  local n
  for n in "${NODES[@]}"; do
    [[ -f $(node_log "$n") ]] || continue
    printf '\n----- node%s: tail of %s -----\n' "$n" "$(node_log "$n")" >&2
    tail -n 40 "$(node_log "$n")" >&2
  done
}

# wait_synced N [SIZE]: wait until node N is Synced (and, with SIZE, the cluster has SIZE nodes)
wait_synced() {
  local n=$1 size=${2:-} deadline=$((SECONDS + GALERA_TIMEOUT)) state cur
  while ((SECONDS < deadline)); do
    if ! alive "$n"; then
      log "node$n's mariadbd exited"
      show_logs; exit 1
    fi
    state=$(node_state "$n")
    if [[ $state == Synced ]]; then
      cur=$(node_size "$n")
      [[ -z $size || $cur == "$size" ]] && return 0
    fi
    sleep 0.5
  done
  log "timed out after ${GALERA_TIMEOUT}s waiting for node$n (state='${state:-}', size='${cur:-}')"
  show_logs; exit 1
}

# wait_all_synced: wait until every node is Synced in a cluster of all nodes; fail as soon
# as any node's mariadbd exits
wait_all_synced() {
  local deadline=$((SECONDS + GALERA_TIMEOUT)) n ok
  while ((SECONDS < deadline)); do
    ok=1
    for n in "${NODES[@]}"; do
      if ! alive "$n"; then
        log "node$n's mariadbd exited"
        show_logs; exit 1
      fi
      if [[ $ok == 1 ]] && ! [[ $(node_state "$n") == Synced && $(node_size "$n") == "${#NODES[@]}" ]]; then
        ok=0
      fi
    done
    ((ok)) && return 0
    sleep 0.5
  done
  log "timed out after ${GALERA_TIMEOUT}s waiting for all nodes to be Synced"
  cmd_status >&2 || true
  show_logs; exit 1
}

# --- grastate.dat ----------------------------------------------------------------------
grastate() { echo "$(node_data "$1")/grastate.dat"; }

grastate_seqno() {  # seqno in grastate.dat; -1 after a crash; empty if there is none
  sed -n 's/^seqno:[[:space:]]*//p' "$(grastate "$1")" 2>/dev/null || true
}

set_safe_to_bootstrap() {
  local f; f=$(grastate "$1")
  [[ -f $f ]] || return 0
  sed -i "s/^safe_to_bootstrap:.*/safe_to_bootstrap: $2/" "$f"
}

# The node's last committed seqno, in SEQNO (not printed: RECOVERED_POS must survive, so
# no subshell): from grastate.dat after a clean shutdown, otherwise (seqno -1 after a
# crash) from InnoDB through mariadbd --wsrep-recover, as mysqld_safe and galera_recovery
# do; then RECOVERED_POS[N] is uuid:seqno, to be passed as --wsrep_start_position.
declare -A RECOVERED_POS=()
SEQNO=
node_seqno() {
  local n=$1 pos
  SEQNO=-2
  [[ -f $(node_data "$n")/ibdata1 ]] || return 0  # no data at all
  SEQNO=-1
  [[ -f $(grastate "$n") ]] || return 0  # initialised, never started with wsrep
  SEQNO=$(grastate_seqno "$n")
  [[ -n $SEQNO && $SEQNO != -1 ]] && return 0
  SEQNO=-1
  pos=$(recover_position "$n")
  if [[ $pos =~ ^[0-9a-f-]+:(-?[0-9]+)$ ]]; then
    RECOVERED_POS[$n]=$pos
    SEQNO=${BASH_REMATCH[1]}
  fi
}

recover_position() {  # prints uuid:seqno recovered from InnoDB, or nothing
  local n=$1 rlog
  rlog="$(node_dir "$n")/wsrep-recover.log"
  "$MARIADBD" --defaults-file="$(node_cnf "$n")" --wsrep-recover --log-error="$rlog" \
    --pid-file="$(node_dir "$n")/recover.pid" >/dev/null 2>&1 || true
  grep -a 'WSREP: Recovered position:' "$rlog" 2>/dev/null | tail -n1 |
    sed 's/.*WSREP: Recovered position:[[:space:]]*//' || true
}

# --- setup -----------------------------------------------------------------------------
write_cnf() {
  local n=$1 dir provider port
  dir=$(node_dir "$n")
  port=$(node_port "$n")
  provider=$(find_provider)
  mkdir -p "$dir/tmp" "$(node_data "$n")"
  cat >"$(node_cnf "$n")" <<EOF
# written by scripts/galera-cluster.sh; node $n of the sessionward test cluster
[mysqld]
user=$GALERA_USER
datadir=$(node_data "$n")
tmpdir=$dir/tmp
socket=$dir/mariadbd.sock
pid-file=$dir/mariadbd.pid
log-error=$(node_log "$n")
port=$port
bind-address=$HOST
skip-name-resolve
performance_schema=OFF
innodb_buffer_pool_size=64M
innodb_log_file_size=48M
innodb_flush_log_at_trx_commit=2
key_buffer_size=8M
aria_pagecache_buffer_size=8M
max_connections=300
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider=$provider
wsrep_cluster_name=sessionward_test
wsrep_cluster_address=$(cluster_address)
wsrep_node_name=node$n
wsrep_node_address=$HOST
wsrep_node_incoming_address=$HOST:$port
wsrep_sst_method=rsync
wsrep_sst_receive_address=$HOST:$((GALERA_SST_BASE_PORT + n - 1))
wsrep_provider_options="gmcast.listen_addr=tcp://$HOST:$(gcomm_port "$n");ist.recv_addr=$HOST:$((GALERA_IST_BASE_PORT + n - 1));gcache.size=64M;gcache.dir=$(node_data "$n")${GALERA_PROVIDER_OPTIONS:+;$GALERA_PROVIDER_OPTIONS}"

[client]
port=$port
socket=$dir/mariadbd.sock
EOF
  chown "$GALERA_USER:" "$dir" "$dir/tmp" "$(node_data "$n")"
}

init_node() {  # a fresh datadir with root@localhost/127.0.0.1 and an empty password
  local n=$1 data
  data=$(node_data "$n")
  [[ -d $data/mysql ]] && return 0
  log "node$n: initialising $data"
  mkdir -p "$data"
  mariadb-install-db --no-defaults --user="$GALERA_USER" --datadir="$data" \
    --auth-root-authentication-method=normal --skip-test-db \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=48M \
    >"$(node_dir "$n")/install-db.log" 2>&1 ||
    { cat "$(node_dir "$n")/install-db.log" >&2; die "mariadb-install-db failed for node$n"; }
}

launch() {  # launch N [extra mariadbd options...]: start node N's mariadbd in the background
  local n=$1; shift
  local dir; dir=$(node_dir "$n")
  rm -f "$dir/mariadbd.pid"
  log "node$n: starting mariadbd on $HOST:$(node_port "$n")${*:+ ($*)}"
  # setsid + nohup: the server outlives this script and its terminal
  setsid nohup "$MARIADBD" --defaults-file="$(node_cnf "$n")" "$@" \
    >>"$dir/console.log" 2>&1 </dev/null &
  disown 2>/dev/null || true
  for _ in $(seq 50); do alive "$n" && return 0; sleep 0.1; done
  log "node$n's mariadbd exited during startup"; show_logs; exit 1
}

# start_joiner N: start node N so that it joins the running cluster (IST when it can)
start_joiner() {
  local n=$1 opts=() pos
  if [[ -n ${RECOVERED_POS[$n]:-} ]]; then
    opts+=("--wsrep_start_position=${RECOVERED_POS[$n]}")
  elif [[ -f $(grastate "$n") && $(grastate_seqno "$n") == -1 ]]; then
    # after a crash grastate.dat says seqno -1: recover the position from InnoDB so the
    # donor can send the missing write sets (IST) instead of a full copy (SST)
    pos=$(recover_position "$n")
    [[ -n $pos ]] && opts+=("--wsrep_start_position=$pos")
  fi
  set_safe_to_bootstrap "$n" 0
  launch "$n" "${opts[@]}"
}

primary_node() {  # a running node that is Synced in the Primary component, or nothing
  local n
  for n in "${NODES[@]}"; do
    if alive "$n" && node_primary "$n" && [[ $(node_state "$n") == Synced ]]; then
      echo "$n"; return 0
    fi
  done
  return 0
}

cluster_ok() {
  local n
  for n in "${NODES[@]}"; do
    alive "$n" || return 1
    [[ $(node_state "$n") == Synced && $(node_size "$n") == "${#NODES[@]}" ]] || return 1
  done
}

# --- commands --------------------------------------------------------------------------
cmd_up() {
  if cluster_ok; then
    log "cluster already up: ${#NODES[@]} nodes Synced"
    cmd_urls
    return 0
  fi
  ensure_packages
  mkdir -p "$GALERA_DIR"
  local n
  for n in "${NODES[@]}"; do write_cnf "$n"; done

  # Nodes that are still starting (e.g. an earlier 'up' or 'start' still running SST/IST):
  # give them a moment to settle before deciding anything.
  for n in "${NODES[@]}"; do
    if alive "$n" && [[ -z $(node_state "$n") ]]; then
      log "node$n is running but not answering yet; waiting"
      local t=$((SECONDS + GALERA_TIMEOUT))
      while ((SECONDS < t)) && alive "$n" && [[ -z $(node_state "$n") ]]; do sleep 0.5; done
    fi
  done

  local prim; prim=$(primary_node)
  if [[ -z $prim ]]; then
    local running=() best=0 best_seqno=-3 seqno
    for n in "${NODES[@]}"; do alive "$n" && running+=("$n"); done
    if ((${#running[@]})); then
      # some nodes run but none is in a Primary component (quorum lost): make the most
      # advanced running node primary again
      for n in "${running[@]}"; do
        seqno=$(status_var "$n" wsrep_last_committed)
        if [[ -n $seqno ]] && ((seqno > best_seqno)); then best=$n; best_seqno=$seqno; fi
      done
      ((best)) || die "nodes ${running[*]} run but none answers; try 'down' and 'up'"
      log "no Primary component; re-bootstrapping it on running node$best (pc.bootstrap)"
      sql "$best" "SET GLOBAL wsrep_provider_options='pc.bootstrap=YES'"
      wait_synced "$best"
    else
      # nothing runs: bootstrap a new cluster from the most advanced node (node 1 on a
      # fresh setup, after 'down', or on a tie); after a crash, grastate.dat has
      # safe_to_bootstrap: 0 and seqno -1, so the position comes from --wsrep-recover
      [[ -d $(node_data 1)/mysql ]] || init_node 1
      local safe
      for n in "${NODES[@]}"; do
        node_seqno "$n"; seqno=$SEQNO
        safe=$(sed -n 's/^safe_to_bootstrap:[[:space:]]*//p' "$(grastate "$n")" 2>/dev/null || true)
        if ((seqno > best_seqno)) || { ((seqno == best_seqno)) && [[ $safe == 1 ]]; }; then
          best=$n; best_seqno=$seqno
        fi
      done
      ((best)) || best=1
      log "bootstrapping the cluster from node$best (seqno $best_seqno)"
      set_safe_to_bootstrap "$best" 1
      local opts=(--wsrep-new-cluster)
      [[ -n ${RECOVERED_POS[$best]:-} ]] && opts+=("--wsrep_start_position=${RECOVERED_POS[$best]}")
      launch "$best" "${opts[@]}"
      wait_synced "$best"
    fi
  else
    log "node$prim is Synced in the Primary component; starting the missing nodes as joiners"
  fi

  for n in "${NODES[@]}"; do
    if ! alive "$n"; then
      # a node without data gets everything by SST (rsync) from a donor
      mkdir -p "$(node_data "$n")"
      start_joiner "$n"
      # one joiner at a time: two nodes joining at once made gcomm reconnect for ~5 s
      wait_synced "$n"
    fi
  done
  wait_all_synced

  prim=$(primary_node)
  sql "$prim" "CREATE DATABASE IF NOT EXISTS \`$GALERA_DB\`"
  log "cluster up: ${#NODES[@]} nodes Synced; database $GALERA_DB"
  cmd_urls
}

stop_node() {  # stop_node N: SIGTERM, wait, SIGKILL after GALERA_STOP_TIMEOUT
  local n=$1 pid deadline
  pid=$(node_pid "$n")
  [[ -n $pid ]] || return 0
  log "node$n: stopping mariadbd (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + GALERA_STOP_TIMEOUT))
  while pid_running "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if pid_running "$pid"; then
    log "node$n did not stop within ${GALERA_STOP_TIMEOUT}s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while pid_running "$pid"; do sleep 0.1; done
  fi
}

cmd_down() {
  local clean=0 n
  [[ ${1:-} == --clean ]] && clean=1
  # one at a time, node 1 last: a clean shutdown leaves node 1 safe_to_bootstrap: 1
  for n in 3 2 1; do stop_node "$n"; done
  if ((clean)); then
    log "removing $GALERA_DIR"
    rm -rf "$GALERA_DIR"
  fi
  log "cluster down"
}

cmd_kill() {
  check_node_arg "${1:-}"
  local n=$1 pid
  pid=$(node_pid "$n")
  [[ -n $pid ]] || { log "node$n is not running"; return 0; }
  log "node$n: SIGKILL mariadbd (pid $pid)"
  kill -KILL "$pid"
  while pid_running "$pid"; do sleep 0.05; done
}

# wait_evicted N: right after a crash the others still count node N as a member until
# they declare it dead (evs.suspect_timeout, ~5-6 s); a new incarnation that joins before
# that makes gcomm churn for ~15-20 s, so wait for the eviction first
wait_evicted() {
  local n=$1 m prim nrunning=0 deadline=$((SECONDS + GALERA_TIMEOUT)) said=0
  prim=$(primary_node)
  for m in "${NODES[@]}"; do alive "$m" && nrunning=$((nrunning + 1)); done
  while ((SECONDS < deadline)); do
    [[ $(node_size "$prim") -le $nrunning ]] && return 0
    ((said)) || { log "waiting until the cluster has dropped node$n's previous incarnation"; said=1; }
    sleep 0.3
  done
  log "node$n still counted as a member after ${GALERA_TIMEOUT}s; starting anyway"
}

cmd_start() {
  check_node_arg "${1:-}"
  local n=$1 logf offset=-1
  logf=$(node_log "$n")
  if alive "$n"; then
    log "node$n is already running"
  else
    [[ -f $(node_cnf "$n") ]] || die "node$n was never set up; run 'up'"
    [[ -n $(primary_node) ]] || die "no running node is Synced in a Primary component to join; run 'up'"
    ensure_packages
    wait_evicted "$n"
    write_cnf "$n"
    offset=$(stat -c %s "$logf" 2>/dev/null || echo 0)
    start_joiner "$n"
  fi
  local m size=${#NODES[@]}
  for m in "${NODES[@]}"; do alive "$m" || size=; done
  wait_synced "$n" ${size:+"$size"}
  local how="was running"
  if ((offset < 0)); then :
  elif tail -c +$((offset + 1)) "$logf" 2>/dev/null | grep -aq 'IST received'; then
    how="rejoined by IST"
  elif tail -c +$((offset + 1)) "$logf" 2>/dev/null | grep -aqE 'SST (succeeded|received)|SST complete'; then
    how="rejoined by full SST"
  fi
  log "node$n Synced, cluster size $(node_size "$n") ($how)"
}

cmd_status() {
  local n pid state size rc=0
  for n in "${NODES[@]}"; do
    pid=$(node_pid "$n")
    if [[ -n $pid ]]; then
      state=$(node_state "$n"); size=$(node_size "$n")
      printf 'node%s port=%s pid=%s alive state=%s size=%s\n' "$n" "$(node_port "$n")" "$pid" \
        "${state:-unreachable}" "${size:--}"
      [[ $state == Synced ]] || rc=1
    else
      printf 'node%s port=%s pid=- down\n' "$n" "$(node_port "$n")"
      rc=1
    fi
  done
  return $rc
}

cmd_urls() {
  local n urls=()
  for n in "${NODES[@]}"; do urls+=("mysql://root@$HOST:$(node_port "$n")/$GALERA_DB"); done
  local IFS=,
  echo "${urls[*]}"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down "${2:-}" ;;
  kill) cmd_kill "${2:-}" ;;
  start) cmd_start "${2:-}" ;;
  status) cmd_status ;;
  urls) cmd_urls ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
