#!/usr/bin/env bash
# Local infrastructure for Mirage without Docker: Apache Kafka 4 (KRaft, jars from
# Maven Central), PostgreSQL and Redis (Debian packages), data under .local/.
#
#   deploy/local/stack.sh up       install what is missing, start what is not running, wait
#   deploy/local/stack.sh down     stop everything this script started
#   deploy/local/stack.sh status   one line per service
#
# `up` is idempotent: a running service is left alone, a dead one is restarted.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="${MIRAGE_LOCAL_DIR:-$ROOT/.local}"
KAFKA_PORT="${MIRAGE_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${MIRAGE_KAFKA_CONTROLLER_PORT:-19093}"
# The port clients are told to reconnect to; differs from KAFKA_PORT only when a proxy sits in
# front of the broker (the chaos suite injects faults on that link).
KAFKA_ADVERTISED_PORT="${MIRAGE_KAFKA_ADVERTISED_PORT:-$KAFKA_PORT}"
PG_PORT="${MIRAGE_PG_PORT:-15432}"
REDIS_PORT="${MIRAGE_REDIS_PORT:-16379}"
PG_USER="mirage"
PG_PASSWORD="mirage"
PG_DATABASE="mirage"
KAFKA_HEAP="${MIRAGE_KAFKA_HEAP:-768m}"
# Generous: a broker that was killed recovers its logs before it listens (a process that
# dies is noticed at once, so this only bounds a server that hangs).
WAIT_SECONDS="${MIRAGE_STACK_WAIT_SECONDS:-300}"

KAFKA_SRC="$ROOT/deploy/local/kafka"
KAFKA_DIR="$LOCAL_DIR/kafka"
PG_DIR="$LOCAL_DIR/postgres"  # may move out of a private checkout: see pg_locate
REDIS_DIR="$LOCAL_DIR/redis"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it yourself or run as root)"; fi
}

apt_install() {
  log "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq >/dev/null 2>&1 || as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # description, command...
  local what="$1"; shift
  local deadline=$((SECONDS + WAIT_SECONDS)) next_note=$((SECONDS + 30))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not become ready within ${WAIT_SECONDS}s"
    if [ "$SECONDS" -ge "$next_note" ]; then
      log "still waiting for $what ($((deadline - SECONDS))s left)"; next_note=$((SECONDS + 30))
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return 0; }
  done
  return 1
}

pg_run() { # run a PostgreSQL binary as the owner of the data directory
  # From /: the postgres user may not be allowed into the current directory (a private checkout).
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_ready() { pg_run "$(pg_bin)/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

# As root, PostgreSQL runs as `postgres`, which must be able to reach its data directory. A
# checkout in a private directory (`/root/mirage`, mode 700: the usual place on a rented
# server) is out of its reach, so the cluster then lives in /var/lib/mirage/ instead, one
# directory per checkout; `.local/postgres.dir` records where (status, down and tools read it).
pg_locate() {
  local recorded="$LOCAL_DIR/postgres.dir"
  if [ -n "${MIRAGE_PG_DIR:-}" ]; then PG_DIR="$MIRAGE_PG_DIR"
  elif [ -f "$recorded" ]; then PG_DIR="$(cat "$recorded")"
  elif [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1 && ! pg_run test -x "$LOCAL_DIR" 2>/dev/null; then
    PG_DIR="/var/lib/mirage/postgres-$(printf '%s' "$LOCAL_DIR" | sha256sum | cut -c1-12)"
    log "postgres cannot reach $LOCAL_DIR (a private directory): its cluster goes to $PG_DIR"
  fi
  echo "$PG_DIR" >"$recorded"
}

pg_up() {
  pg_bin >/dev/null || apt_install postgresql postgresql-contrib
  local bin; bin="$(pg_bin)"
  pg_locate
  mkdir -p "$PG_DIR"
  if [ "$(id -u)" -eq 0 ] && ! pg_run test -x "$PG_DIR" 2>/dev/null; then
    chown postgres:postgres "$PG_DIR"
    pg_run test -x "$PG_DIR" 2>/dev/null \
      || die "the postgres user cannot reach $PG_DIR: give it access to every directory above it, or set MIRAGE_PG_DIR to a directory it can reach"
  fi
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    log "initialising PostgreSQL cluster in $PG_DIR/data"
    mkdir -p "$PG_DIR/data" "$PG_DIR/run"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$PG_DIR"
    local out
    if ! out="$(pg_run "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 2>&1)"; then
      printf '%s\n' "$out" | tail -n 5 >&2
      rm -rf "$PG_DIR/data"
      die "initdb failed in $PG_DIR/data (see above); fix it, or set MIRAGE_PG_DIR to a directory the postgres user can write, then run again"
    fi
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR/run'
max_connections = 400
shared_buffers = 256MB
EOF
    printf 'host all all 127.0.0.1/32 scram-sha-256\nlocal all all trust\n' >"$PG_DIR/data/pg_hba.conf"
  fi
  if pg_ready && [ ! -f "$PG_DIR/data/postmaster.pid" ]; then
    die "port $PG_PORT answers as PostgreSQL, but not this checkout's server ($PG_DIR): stop it or set MIRAGE_PG_PORT"
  fi
  if pg_ready; then log "PostgreSQL already running on 127.0.0.1:$PG_PORT"; else
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$PG_DIR"
    pg_run "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t "$WAIT_SECONDS" start >/dev/null \
      || { tail -n 20 "$PG_DIR/postgres.log" >&2; die "PostgreSQL failed to start"; }
  fi
  wait_for "PostgreSQL" pg_ready
  local psql=("$bin/psql" -h "$PG_DIR/run" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$(pg_run "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'")" != "1" ]; then
    pg_run "${psql[@]}" -c "CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD'" >/dev/null
  fi
  if [ "$(pg_run "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'")" != "1" ]; then
    pg_run "${psql[@]}" -c "CREATE DATABASE $PG_DATABASE OWNER $PG_USER" >/dev/null
  fi
}

pg_down() {
  local bin; bin="$(pg_bin 2>/dev/null)" || return 0
  [ -f "$LOCAL_DIR/postgres.dir" ] && PG_DIR="$(cat "$LOCAL_DIR/postgres.dir")"
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    log "stopping PostgreSQL"
    pg_run "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

# --------------------------------------------------------------------- Redis
redis_ready() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

redis_up() {
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$REDIS_DIR"
  if redis_ready; then log "Redis already running on 127.0.0.1:$REDIS_PORT"; return 0; fi
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes
  wait_for "Redis" redis_ready
}

redis_down() {
  if redis_ready; then
    log "stopping Redis"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
}

# --------------------------------------------------------------------- Kafka
kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_SRC/pom.xml"; }

kafka_jars() {
  local stamp; stamp="$(sha256sum "$KAFKA_SRC/pom.xml" | cut -c1-16)"
  if [ -f "$KAFKA_DIR/libs/.resolved-$stamp" ]; then return 0; fi
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  log "resolving Apache Kafka $(kafka_version) jars from Maven Central"
  rm -rf "$KAFKA_DIR/libs"
  mkdir -p "$KAFKA_DIR/libs"
  mvn -q -B -Dstyle.color=never -f "$KAFKA_SRC/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_DIR/libs" -DincludeScope=runtime \
    || die "could not resolve Kafka jars with mvn"
  touch "$KAFKA_DIR/libs/.resolved-$stamp"
}

kafka_java() {
  java -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_DIR/logs" -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2.xml" \
    -cp "$KAFKA_DIR/libs/*" "$@"
}

kafka_started() {
  port_open "$KAFKA_PORT" && [ -f "$KAFKA_DIR/logs/server.log" ] \
    && grep -q "Kafka Server started" "$KAFKA_DIR/logs/server.log"
}

kafka_up() {
  kafka_jars
  mkdir -p "$KAFKA_DIR/logs"
  sed -e "s#@KAFKA_PORT@#$KAFKA_PORT#g" -e "s#@CONTROLLER_PORT@#$KAFKA_CONTROLLER_PORT#g" \
      -e "s#@DATA_DIR@#$KAFKA_DIR/data#g" "$KAFKA_SRC/server.properties.template" >"$KAFKA_DIR/server.properties"
  if [ "$KAFKA_ADVERTISED_PORT" != "$KAFKA_PORT" ]; then
    sed -i "s#^advertised.listeners=.*#advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_ADVERTISED_PORT#" \
      "$KAFKA_DIR/server.properties"
  fi
  if pid_alive "$KAFKA_DIR/kafka.pid" && port_open "$KAFKA_PORT"; then
    log "Kafka already running on 127.0.0.1:$KAFKA_PORT"; return 0
  fi
  if port_open "$KAFKA_PORT"; then die "port $KAFKA_PORT is taken by a process this script did not start"; fi
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    log "formatting KRaft storage in $KAFKA_DIR/data"
    local cluster_id; cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
    kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" \
      -c "$KAFKA_DIR/server.properties" >/dev/null
  fi
  log "starting Apache Kafka $(kafka_version) (KRaft) on 127.0.0.1:$KAFKA_PORT"
  # A fresh log for every start, so "started" below is about this process.
  [ -f "$KAFKA_DIR/logs/server.log" ] && mv -f "$KAFKA_DIR/logs/server.log" "$KAFKA_DIR/logs/server.log.previous"
  rm -f "$KAFKA_DIR"/logs/server.log.[0-9]*
  # setsid: the broker outlives the shell that started it and ignores its signals.
  setsid nohup java -Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_DIR/logs" -Dlog4j2.configurationFile="$KAFKA_SRC/log4j2.xml" \
    -cp "$KAFKA_DIR/libs/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >"$KAFKA_DIR/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$KAFKA_DIR/kafka.pid"
  wait_for "Kafka" kafka_started_or_dead
  pid_alive "$KAFKA_DIR/kafka.pid" || { tail -n 30 "$KAFKA_DIR/logs/stdout.log" "$KAFKA_DIR/logs/server.log" >&2 2>/dev/null; die "Kafka exited during start-up"; }
  # The version the broker itself reported at start-up (the log rolls over later).
  local reported; reported="$(sed -n 's/.*Kafka version: \([^ ]*\).*/\1/p' "$KAFKA_DIR/logs/server.log" | head -n 1)"
  echo "${reported:-$(kafka_version)}" >"$KAFKA_DIR/VERSION"
}

kafka_started_or_dead() { kafka_started || ! pid_alive "$KAFKA_DIR/kafka.pid"; }

kafka_down() {
  if pid_alive "$KAFKA_DIR/kafka.pid"; then
    log "stopping Kafka"
    local pid; pid="$(cat "$KAFKA_DIR/kafka.pid")"
    kill "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$KAFKA_DIR/kafka.pid"
}

# -------------------------------------------------------------------- status
status() {
  [ -f "$LOCAL_DIR/postgres.dir" ] && PG_DIR="$(cat "$LOCAL_DIR/postgres.dir")"
  if kafka_started; then echo "kafka     up    127.0.0.1:$KAFKA_PORT (Apache Kafka $(kafka_version), KRaft)"; else echo "kafka     down"; fi
  if pg_bin >/dev/null && pg_ready; then echo "postgres  up    127.0.0.1:$PG_PORT"; else echo "postgres  down"; fi
  if command -v redis-cli >/dev/null && redis_ready; then echo "redis     up    127.0.0.1:$REDIS_PORT"; else echo "redis     down"; fi
}

env_lines() {
  [ -f "$LOCAL_DIR/postgres.dir" ] && PG_DIR="$(cat "$LOCAL_DIR/postgres.dir")"
  cat <<EOF
MIRAGE_PG_DATA=$PG_DIR/data
MIRAGE_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
MIRAGE_POSTGRES_DSN=postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE
MIRAGE_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
EOF
}

case "${1:-}" in
  up)
    mkdir -p "$LOCAL_DIR"
    # PostgreSQL first (seconds): a failure there stops everything before the rest is started.
    pg_up
    # Then Redis and Kafka side by side; Kafka is the slow one.
    redis_up & redis_job=$!
    kafka_up & kafka_job=$!
    failed=""
    wait "$redis_job" || failed="Redis"
    wait "$kafka_job" || failed="${failed:+$failed and }Kafka"
    [ -z "$failed" ] || die "$failed did not come up (the reason is above); fix it and run again"
    status
    ;;
  down) kafka_down; redis_down; pg_down ;;
  status) status ;;
  env) env_lines ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
