#!/usr/bin/env bash
# Install (if missing) and start/stop the real backing services the drseek
# test suite uses, all bound to 127.0.0.1:
#
#   primary   MariaDB primary             127.0.0.1:3306
#   replica   MariaDB replica of primary  127.0.0.1:3307 (GTID, slave_pos)
#   redis     Redis, no persistence       127.0.0.1:6379
#   ferretdb  FerretDB 1.24 (SQLite)      127.0.0.1:27017 (MongoDB wire)
#
# `start` with no SERVICE also installs Debian's nginx (not started here: the
# multi-instance tests start their own through scripts/nginx.sh).
#
# Usage: scripts/services.sh start|stop|status [SERVICE...]
#        scripts/services.sh env      # eval "$(scripts/services.sh env)"
#        scripts/services.sh prune    # drop databases earlier test/bench runs left
#
# No SERVICE means all of them. start/stop are idempotent; start waits until
# each service accepts connections, stop waits until the process has exited.
# All state (data, sockets, pid files, logs) lives under
# ${DRSEEK_SERVICES_DIR:-<repo>/.drseek/services}.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
STATE_DIR="${DRSEEK_SERVICES_DIR:-$REPO_DIR/.drseek/services}"

ALL_SERVICES=(primary replica redis ferretdb)
FERRETDB_VERSION="v1.24.2"
FERRETDB_MODULE="github.com/FerretDB/FerretDB"
WAIT_TIMEOUT="${DRSEEK_SERVICES_TIMEOUT:-30}"   # seconds, readiness and stop

APP_USER=drseek
APP_PASSWORD=drseek
REPL_USER=drseek_repl
REPL_PASSWORD=drseek_repl

log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

usage() {
  cat >&2 <<'EOF'
usage: scripts/services.sh start|stop|status [SERVICE...]
       scripts/services.sh env
       scripts/services.sh prune
SERVICE: primary replica redis ferretdb (none = all)
EOF
  exit 2
}

print_env() {
  cat <<'EOF'
export DRSEEK_TEST_DATABASE_URL=mysql://drseek:drseek@127.0.0.1:3306
export DRSEEK_TEST_REPLICA_URL=mysql://drseek:drseek@127.0.0.1:3307
export DRSEEK_TEST_REDIS_URL=redis://127.0.0.1:6379
export DRSEEK_TEST_MONGODB_URL=mongodb://127.0.0.1:27017
EOF
}

service_port() {
  case "$1" in
    primary) echo 3306 ;;
    replica) echo 3307 ;;
    redis) echo 6379 ;;
    ferretdb) echo 27017 ;;
    *) die "unknown service '$1' (expected: ${ALL_SERVICES[*]})" ;;
  esac
}

svc_dir() { echo "$STATE_DIR/$1"; }
pid_file() { echo "$STATE_DIR/$1/pid"; }
log_file() { echo "$STATE_DIR/$1/$1.log"; }
mysql_sock() { echo "$STATE_DIR/$1/mysqld.sock"; }

# ---------------------------------------------------------------- processes

# True if PID is a live (non-zombie) process. PID 1 on some machines does not
# reap orphans, so a killed service can linger as a zombie.
pid_alive() {
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [ "$state" != "Z" ] && [ "$state" != "X" ]
}

# Prints the pid of the service if it is running (pid file + live process
# whose executable is the one we launched), else returns 1.
service_pid() {
  local svc="$1" f pid exe want
  f="$(pid_file "$svc")"
  [ -f "$f" ] || return 1
  { read -r pid; read -r want; } <"$f" || true
  pid_alive "${pid:-}" || return 1
  if [ -n "${want:-}" ]; then
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null || true)"
    exe="${exe% (deleted)}"
    [ -z "$exe" ] || [ "$exe" = "$want" ] || return 1
  fi
  echo "$pid"
}

is_running() { service_pid "$1" >/dev/null; }

# A connect can hang (full backlog of a stuck listener), hence the timeout.
# shellcheck disable=SC2016 # $1 expands in the inner bash
port_connect() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }
port_open() { port_connect "$1"; }
# In use = accepts connections, or a connect hangs (on loopback a port with
# no listener refuses at once).
port_in_use() { local rc=0; port_connect "$1" || rc=$?; [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; }

log_tail() {
  local f
  f="$(log_file "$1")"
  if [ -f "$f" ]; then
    echo "services: ---- last lines of $f ----" >&2
    tail -n 40 "$f" >&2 || true
    echo "services: ----" >&2
  fi
}

# Launch a command detached from the caller (own session, no inherited
# stdio or lock fd) and record its pid and executable.
launch() {
  local svc="$1"; shift
  local bin; bin="$(readlink -f "$(command -v "$1")")"
  local lf; lf="$(log_file "$svc")"
  echo "=== $(date '+%F %T') starting: $*" >>"$lf"
  setsid "$@" </dev/null >>"$lf" 2>&1 9>&- &
  local pid=$!
  printf '%s\n%s\n' "$pid" "$bin" >"$(pid_file "$svc")"
}

# wait_ready SERVICE CHECK-FUNCTION...: poll until the check succeeds.
wait_ready() {
  local svc="$1"; shift
  local deadline=$((SECONDS + WAIT_TIMEOUT))
  while :; do
    # Right after launch the pid may still be the shell/setsid about to exec
    # the server, so only check that the launched process is alive here.
    if ! pid_alive "$(head -n 1 "$(pid_file "$svc")" 2>/dev/null)"; then
      log_tail "$svc"
      die "$svc exited during startup (see log above)"
    fi
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log_tail "$svc"
      die "$svc did not accept connections on 127.0.0.1:$(service_port "$svc") within ${WAIT_TIMEOUT}s"
    fi
    sleep 0.1
  done
}

# Fail loudly if something that is not our service holds the port. The
# Debian packages may start their own mariadb/redis instance: stop those.
ensure_port_free() {
  local svc="$1" port; port="$(service_port "$svc")"
  port_in_use "$port" || return 0
  case "$svc" in
    primary|replica) stop_packaged_service mariadb ;;
    redis) stop_packaged_service redis-server ;;
  esac
  local i
  for i in 1 2 3 4 5 6 7 8 9 10; do port_in_use "$port" || return 0; sleep 0.3; done
  ss -ltnp "sport = :$port" >&2 2>/dev/null || true
  die "port 127.0.0.1:$port is already in use by another process; cannot start $svc"
}

stop_packaged_service() {
  local name="$1"
  if command -v service >/dev/null 2>&1; then
    service "$name" stop >/dev/null 2>&1 || true
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl stop "$name" >/dev/null 2>&1 || true
    systemctl disable "$name" >/dev/null 2>&1 || true
  fi
}

stop_service() {
  local svc="$1" pid
  if ! pid="$(service_pid "$svc")"; then
    rm -f "$(pid_file "$svc")"
    log "$svc already stopped"
    return 0
  fi
  log "stopping $svc (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + WAIT_TIMEOUT))
  while pid_alive "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "$svc did not exit within ${WAIT_TIMEOUT}s after SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while pid_alive "$pid"; do
        [ "$SECONDS" -lt "$deadline" ] || die "$svc (pid $pid) would not die"
        sleep 0.1
      done
      break
    fi
    sleep 0.05
  done
  rm -f "$(pid_file "$svc")"
  log "$svc stopped"
}

# ---------------------------------------------------------------- installs

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install $* by hand"
  [ "$(id -u)" -eq 0 ] || die "need root to apt-get install $*"
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_mariadb() {
  command -v mariadbd >/dev/null 2>&1 && command -v mariadb-install-db >/dev/null 2>&1 \
    && command -v mariadb >/dev/null 2>&1 && return 0
  apt_install mariadb-server mariadb-client
  # Our own instances use 3306/3307: the package's instance must not run.
  stop_packaged_service mariadb
  command -v mariadbd >/dev/null 2>&1 || die "mariadbd still missing after install"
}

ensure_redis() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  apt_install redis-server redis-tools
  stop_packaged_service redis-server
  command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after install"
}

ensure_nginx() {
  command -v nginx >/dev/null 2>&1 && return 0
  [ -x /usr/sbin/nginx ] && return 0
  apt_install nginx
  # Tests start their own nginx on loopback ports; the package's must not run.
  stop_packaged_service nginx
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || die "nginx still missing after install"
}

FERRETDB_BIN=""
ferretdb_works() { "$1" --version >/dev/null 2>&1; }

ensure_ferretdb() {
  [ -n "$FERRETDB_BIN" ] && return 0
  local cand gobin=""
  if command -v go >/dev/null 2>&1; then gobin="$(go env GOPATH)/bin"; fi
  for cand in "$(command -v ferretdb 2>/dev/null || true)" "${gobin:+$gobin/ferretdb}"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && ferretdb_works "$cand"; then
      FERRETDB_BIN="$cand"; return 0
    fi
  done
  command -v go >/dev/null 2>&1 || die "ferretdb not found and go is not installed"
  # `go install $FERRETDB_MODULE/cmd/ferretdb@$FERRETDB_VERSION` builds a binary
  # that panics at startup ("Invalid build/version/version.txt file content"),
  # because the module zip lacks the generated build/version/version.txt. So
  # build the same module version from its source with that file written.
  log "building ferretdb $FERRETDB_VERSION with go (takes a few minutes the first time)"
  local src tmp
  src="$(go mod download -json "$FERRETDB_MODULE@$FERRETDB_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  { [ -n "$src" ] && [ -d "$src" ]; } || die "go mod download $FERRETDB_MODULE@$FERRETDB_VERSION failed"
  tmp="$(mktemp -d)"
  cp -r "$src/." "$tmp/"
  chmod -R u+w "$tmp"
  echo "$FERRETDB_VERSION" >"$tmp/build/version/version.txt"
  mkdir -p "$gobin"
  if ! (cd "$tmp" && go build -o "$gobin/ferretdb" ./cmd/ferretdb) >&2; then
    chmod -R u+w "$tmp"; rm -rf "$tmp"
    die "go build of ferretdb failed"
  fi
  chmod -R u+w "$tmp"; rm -rf "$tmp"
  ferretdb_works "$gobin/ferretdb" || die "built ferretdb does not run: $("$gobin/ferretdb" --version 2>&1 | head -n 3)"
  FERRETDB_BIN="$gobin/ferretdb"
}

# ---------------------------------------------------------------- mariadb

mysql_root() { # mysql_root SERVICE [mariadb args...]
  local svc="$1"; shift
  mariadb --no-defaults --protocol=socket -S "$(mysql_sock "$svc")" -u "$(id -un)" --connect-timeout=3 \
    --batch "$@"
}

mysql_alive() {
  timeout 3 mariadb-admin --no-defaults --protocol=socket -S "$(mysql_sock "$1")" -u "$(id -un)" \
    --connect-timeout=1 ping && port_open "$(service_port "$1")"
}

init_mariadb_datadir() {
  local svc="$1" dir; dir="$(svc_dir "$svc")"
  [ -d "$dir/data/mysql" ] && return 0
  log "initialising $svc datadir"
  rm -rf "$dir/data"
  mkdir -p "$dir/data"
  local user_args=()
  [ "$(id -u)" -eq 0 ] && user_args=(--user=root)
  if ! mariadb-install-db --no-defaults "${user_args[@]}" --datadir="$dir/data" \
      --auth-root-authentication-method=socket --skip-test-db --skip-name-resolve \
      >>"$(log_file "$svc")" 2>&1; then
    log_tail "$svc"
    rm -rf "$dir/data"
    die "mariadb-install-db failed for $svc"
  fi
}

start_mariadb() {
  local svc="$1" id port dir
  port="$(service_port "$svc")"; dir="$(svc_dir "$svc")"
  case "$svc" in primary) id=1 ;; replica) id=2 ;; esac
  init_mariadb_datadir "$svc"
  local args=(--no-defaults --log-basename="$svc"
    --datadir="$dir/data" --socket="$(mysql_sock "$svc")"
    --pid-file="$dir/mysqld.pid" --port="$port" --bind-address=127.0.0.1
    --server-id="$id" --character-set-server=utf8mb4
    --collation-server=utf8mb4_unicode_ci --skip-name-resolve
    --max-connections=1000 --innodb-buffer-pool-size=128M
    --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --sync-binlog=0
    --log-bin="$svc-bin" --binlog-format=ROW
    --relay-log="$svc-relay-bin" --slave-net-timeout=10)
  [ "$(id -u)" -eq 0 ] && args+=(--user=root)
  launch "$svc" mariadbd "${args[@]}"
}

bootstrap_primary() {
  local marker; marker="$(svc_dir primary)/bootstrapped"
  [ -f "$marker" ] && return 0
  log "creating users and database on primary"
  # Runs with the binary log on, so all of it replicates to the replica.
  mysql_root primary <<EOF
CREATE USER IF NOT EXISTS '$APP_USER'@'127.0.0.1' IDENTIFIED BY '$APP_PASSWORD';
CREATE USER IF NOT EXISTS '$APP_USER'@'localhost' IDENTIFIED BY '$APP_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$APP_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$APP_USER'@'localhost' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS '$REPL_USER'@'127.0.0.1' IDENTIFIED BY '$REPL_PASSWORD';
GRANT REPLICATION SLAVE ON *.* TO '$REPL_USER'@'127.0.0.1';
CREATE DATABASE IF NOT EXISTS drseek;
EOF
  touch "$marker"
}

configure_replica() {
  local configured
  configured="$(mysql_root replica -e "SHOW SLAVE STATUS" | wc -l)"
  if [ "$configured" -eq 0 ]; then
    log "configuring replication primary -> replica"
    mysql_root replica <<EOF
CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3306,
  MASTER_USER='$REPL_USER', MASTER_PASSWORD='$REPL_PASSWORD',
  MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;
START SLAVE;
EOF
  else
    mysql_root replica -e "START SLAVE" 2>/dev/null || true
  fi
}

replica_field() { # value of one SHOW SLAVE STATUS field
  mysql_root replica --vertical -e "SHOW SLAVE STATUS" 2>/dev/null \
    | sed -n "s/^ *$1: //p"
}

replication_running() {
  [ "$(replica_field Slave_IO_Running)" = "Yes" ] && [ "$(replica_field Slave_SQL_Running)" = "Yes" ]
}

wait_replication() {
  if ! is_running primary; then
    log "primary is not running: replica will connect when it starts"
    return 0
  fi
  local deadline=$((SECONDS + WAIT_TIMEOUT))
  until replication_running; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      mysql_root replica --vertical -e "SHOW SLAVE STATUS" >&2 || true
      die "replication did not start within ${WAIT_TIMEOUT}s"
    fi
    sleep 0.1
  done
}

# ---------------------------------------------------------------- redis / ferretdb

start_redis() {
  local dir; dir="$(svc_dir redis)"
  launch redis redis-server --port 6379 --bind 127.0.0.1 --protected-mode yes \
    --save '' --appendonly no --daemonize no --dir "$dir" --logfile '' \
    --databases 16
}

redis_alive() { [ "$(timeout 3 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

start_ferretdb() {
  local dir; dir="$(svc_dir ferretdb)"
  mkdir -p "$dir/data"
  launch ferretdb "$FERRETDB_BIN" --handler=sqlite --sqlite-url="file:$dir/data/" \
    --listen-addr=127.0.0.1:27017 --state-dir="$dir" --telemetry=disable \
    --debug-addr=- --log-level=info
}

ferretdb_alive() { port_open 27017; }

# ---------------------------------------------------------------- commands

# Phase 1 (launch) for every service, then phase 2 (wait) for every service,
# so that the slow parts overlap.
cmd_start() {
  local svc todo=()
  for svc in "$@"; do
    case "$svc" in
      primary|replica) ensure_mariadb ;;
      redis) ensure_redis ;;
      ferretdb) ensure_ferretdb ;;
    esac
  done
  for svc in "$@"; do
    mkdir -p "$(svc_dir "$svc")"
    if is_running "$svc"; then
      log "$svc already running (pid $(service_pid "$svc"))"
      continue
    fi
    ensure_port_free "$svc"
    todo+=("$svc")
  done
  [ "${#todo[@]}" -gt 0 ] || return 0
  local pids=() rc=0
  # Initialise MariaDB datadirs in parallel (the slowest step from scratch).
  for svc in "${todo[@]}"; do
    case "$svc" in
      primary|replica) init_mariadb_datadir "$svc" & pids+=($!) ;;
    esac
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
  [ "$rc" -eq 0 ] || die "MariaDB datadir initialisation failed"
  for svc in "${todo[@]}"; do
    log "starting $svc on 127.0.0.1:$(service_port "$svc")"
    case "$svc" in
      primary|replica) start_mariadb "$svc" ;;
      redis) start_redis ;;
      ferretdb) start_ferretdb ;;
    esac
  done
  for svc in "${todo[@]}"; do
    case "$svc" in
      primary) wait_ready primary mysql_alive primary; bootstrap_primary ;;
      replica) wait_ready replica mysql_alive replica ;;
      redis) wait_ready redis redis_alive ;;
      ferretdb) wait_ready ferretdb ferretdb_alive ;;
    esac
    log "$svc ready on 127.0.0.1:$(service_port "$svc") (pid $(service_pid "$svc"))"
  done
  # Replication needs the primary's users, so configure it last.
  for svc in "$@"; do
    if [ "$svc" = replica ] || { [ "$svc" = primary ] && is_running replica; }; then
      configure_replica; wait_replication; break
    fi
  done
}

cmd_stop() {
  # Reverse canonical order: the replica goes down before its primary.
  local i svc
  for ((i = ${#ALL_SERVICES[@]} - 1; i >= 0; i--)); do
    for svc in "$@"; do
      if [ "$svc" = "${ALL_SERVICES[$i]}" ]; then stop_service "$svc"; break; fi
    done
  done
}

# Databases earlier test and bench runs created (each test makes its own):
# drseek_t_*, drseek_bench_*, drseek_chat_*. Not for concurrent runs.
PRUNE_LIKE="schema_name LIKE 'drseek\\_t\\_%' OR schema_name LIKE 'drseek\\_bench\\_%' OR schema_name LIKE 'drseek\\_chat\\_%'"

cmd_prune() {
  local sql n
  if is_running primary; then
    # Dropped on the primary, replicated to the replica.
    sql="$(mysql_root primary -N -e "SELECT CONCAT('DROP DATABASE \`', schema_name, '\`;') FROM information_schema.schemata WHERE ($PRUNE_LIKE) AND schema_name NOT LIKE '%\\_stale'")"
    n="$(printf '%s' "$sql" | grep -c . || true)"
    [ -z "$sql" ] || printf '%s\n' "$sql" | mysql_root primary
    log "primary: dropped $n leftover databases"
  fi
  if is_running replica; then
    # Stale-replica tests create *_stale databases on the replica alone.
    sql="$(mysql_root replica -N -e "SELECT CONCAT('DROP DATABASE \`', schema_name, '\`;') FROM information_schema.schemata WHERE ($PRUNE_LIKE) AND schema_name LIKE '%\\_stale'")"
    n="$(printf '%s' "$sql" | grep -c . || true)"
    [ -z "$sql" ] || printf '%s\n' "$sql" | mysql_root replica
    log "replica: dropped $n leftover databases"
  fi
  # FerretDB (SQLite handler) keeps one file per database: stop it, delete, start.
  local dir files was_running=0
  dir="$(svc_dir ferretdb)/data"
  files="$(find "$dir" -maxdepth 1 \( -name 'drseek_t_*' -o -name 'drseek_bench_*' -o -name 'drseek_chat_*' \) 2>/dev/null | wc -l)"
  if [ "$files" -gt 0 ]; then
    if is_running ferretdb; then was_running=1; stop_service ferretdb; fi
    find "$dir" -maxdepth 1 \( -name 'drseek_t_*' -o -name 'drseek_bench_*' -o -name 'drseek_chat_*' \) -delete
    log "ferretdb: deleted $files leftover database files"
    if [ "$was_running" -eq 1 ]; then cmd_start ferretdb; fi
  fi
}

cmd_status() {
  local svc rc=0 pid port extra
  for svc in "$@"; do
    port="$(service_port "$svc")"
    if pid="$(service_pid "$svc")"; then
      extra=""
      if [ "$svc" = replica ]; then
        extra=", replication IO=$(replica_field Slave_IO_Running) SQL=$(replica_field Slave_SQL_Running)"
      fi
      echo "$svc: running (pid $pid, 127.0.0.1:$port$extra)"
    else
      echo "$svc: stopped (127.0.0.1:$port)"
      rc=1
    fi
  done
  return "$rc"
}

main() {
  [ $# -ge 1 ] || usage
  local cmd="$1"; shift
  case "$cmd" in
    env) print_env; return 0 ;;
    start|stop|status|prune) ;;
    -h|--help|help) usage ;;
    *) usage ;;
  esac
  local services=("$@") svc all=0
  [ ${#services[@]} -gt 0 ] || { services=("${ALL_SERVICES[@]}"); all=1; }
  for svc in "${services[@]}"; do service_port "$svc" >/dev/null; done

  mkdir -p "$STATE_DIR"
  STATE_DIR="$(cd "$STATE_DIR" && pwd)"

  if [ "$cmd" = status ]; then
    cmd_status "${services[@]}"
    return
  fi
  # Serialise concurrent start/stop calls (tests may run in parallel).
  exec 9>"$STATE_DIR/.lock"
  flock -w 300 9 || die "could not lock $STATE_DIR/.lock"
  if [ "$cmd" = start ]; then
    # Keep the canonical order so the primary comes up before the replica.
    local ordered=() s
    for s in "${ALL_SERVICES[@]}"; do
      for svc in "${services[@]}"; do [ "$svc" = "$s" ] && { ordered+=("$s"); break; }; done
    done
    cmd_start "${ordered[@]}"
    if [ "$all" -eq 1 ]; then ensure_nginx; fi
  elif [ "$cmd" = prune ]; then
    cmd_prune
  else
    cmd_stop "${services[@]}"
  fi
}

main "$@"
