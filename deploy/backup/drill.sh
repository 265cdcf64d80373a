#!/usr/bin/env bash
# Point-in-time recovery drill, with the tool CloudNativePG's Barman Cloud plugin runs (barman-cloud)
# against a local S3 stand-in (moto_server), on a throwaway PostgreSQL of its own:
#   1. archive WAL continuously to S3; 2. take a base backup, write rows, note a time T;
#   3. write more rows and drop a table; 4. restore to T into a new data directory on another port;
#   5. prove the rows before T are there and the later ones are not (and the dropped table is back);
#   6. print `BENCH backup_drill restored=true rpo_s=... rto_s=...`.
# On the way it also checks the weekly/monthly archives (deploy/helm/mirage/files/archive_keeper.py):
# the first backup is kept as an archive and survives a retention run that deletes a later one.
# Never touches the shared dev cluster (:15432): its own data directories, ports and S3.
#
# rpo_s: how long the last commit before the disaster took to reach the archive, i.e. how much
#        committed work a lost server would take with it (bounded by archive_timeout).
# rto_s: from the start of the restore until the restored server is promoted and answers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG_BIN="${MIRAGE_DRILL_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
ARCHIVE_TIMEOUT_S="${MIRAGE_DRILL_ARCHIVE_TIMEOUT_S:-2}"
export AWS_ACCESS_KEY_ID=drill AWS_SECRET_ACCESS_KEY=drill-secret AWS_DEFAULT_REGION=us-east-1
BUCKET=s3://mirage-drill
SERVER=source

log() { printf '[backup-drill] %s\n' "$*" >&2; }
die() { printf '[backup-drill] FAILED: %s\n' "$*" >&2; exit 1; }

[ -x "$PG_BIN/pg_ctl" ] || die "PostgreSQL binaries not found (apt-get install postgresql, or set MIRAGE_DRILL_PG_BIN)"
VENV="$("$ROOT/deploy/tools/tool.sh" barman)" || die "could not install barman-cloud and moto (deploy/tools/tool.sh barman)"

as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# PostgreSQL runs as `postgres` when we are root: everything it touches (data, sockets, the
# barman-cloud it calls from archive_command) must be reachable by that user. A checkout under a
# private directory (/root/...) is not, so the drill then works under /var/tmp instead.
DRILL="${MIRAGE_DRILL_DIR:-$ROOT/.local/backup-drill}"
mkdir -p "$DRILL"
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$DRILL"; then
  DRILL="/var/tmp/mirage-backup-drill"
  log "postgres cannot reach the checkout; working under $DRILL"
fi

cleanup() {
  local status=$?
  for data in "$DRILL/source" "$DRILL/restore"; do
    [ -f "$data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  done
  [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null || true
  [ "$status" -eq 0 ] || log "logs are in $DRILL/logs"
}
trap cleanup EXIT

# Leftovers of an earlier run (servers first, then files); the barman copy is kept.
for data in "$DRILL/source" "$DRILL/restore"; do
  [ -f "$data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
done
rm -rf "$DRILL/source" "$DRILL/restore" "$DRILL/run" "$DRILL/logs" "$DRILL/s3"
mkdir -p "$DRILL/run" "$DRILL/logs" "$DRILL/bin" "$DRILL/s3"

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
S3_PORT="$(free_port)"; SOURCE_PORT="$(free_port)"; RESTORE_PORT="$(free_port)"
for port in "$S3_PORT" "$SOURCE_PORT" "$RESTORE_PORT"; do
  case "$port" in 15432 | 16379 | 19092) die "refusing the shared stack's port $port" ;; esac
done
ENDPOINT="http://127.0.0.1:$S3_PORT"

# barman-cloud for the postgres user: a copy of the venv's packages, run by the venv's interpreter
# (outside the checkout: Debian's /usr/bin/python3.11, or wherever python3.11 lives).
PY="$(readlink -f "$VENV/bin/python")"
PY_ENV=""
if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$PY"; then
  # The venv's interpreter lives where postgres cannot go (pyenv under /root, say): use Debian's
  # python3.11 if there is one, else a copy of the interpreter's own installation.
  if [ -x /usr/bin/python3.11 ] && runuser -u postgres -- /usr/bin/python3.11 -c 'import ssl' 2>/dev/null; then
    PY=/usr/bin/python3.11
  else
    BASE="$("$PY" -c 'import sys; print(sys.base_prefix)')"
    COPY="$DRILL/python"
    if [ ! -f "$COPY/.source" ] || [ "$(cat "$COPY/.source")" != "$BASE" ]; then
      log "copying the interpreter at $BASE for the postgres user"
      rm -rf "$COPY"; mkdir -p "$COPY/bin" "$COPY/lib"
      cp -a "$BASE/bin/python3.11" "$COPY/bin/"
      find "$BASE/lib" -maxdepth 1 -name 'libpython3*' -exec cp -a {} "$COPY/lib/" \;
      (cd "$BASE/lib" && tar --exclude=python3.11/test --exclude=python3.11/site-packages \
        --exclude='__pycache__' -cf - python3.11) | tar -xf - -C "$COPY/lib"
      echo "$BASE" >"$COPY/.source"
    fi
    PY="$COPY/bin/python3.11"
    PY_ENV="PYTHONHOME=\"$COPY\" LD_LIBRARY_PATH=\"$COPY/lib\""
  fi
  log "barman-cloud runs on $PY"
fi
SITE="$DRILL/barman-site"
if [ ! -f "$SITE/.source" ] || [ "$(cat "$SITE/.source")" != "$VENV" ]; then
  rm -rf "$SITE"; cp -a "$VENV/lib/python3.11/site-packages" "$SITE"; echo "$VENV" >"$SITE/.source"
fi
for tool in cloud_walarchive:wal-archive cloud_walrestore:wal-restore cloud_backup:backup cloud_restore:restore \
  cloud_backup_list:backup-list cloud_backup_keep:backup-keep cloud_backup_delete:backup-delete; do
  cat >"$DRILL/bin/barman-cloud-${tool#*:}" <<EOF
#!/bin/sh
export $PY_ENV PYTHONPATH="$SITE" AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY AWS_DEFAULT_REGION=$AWS_DEFAULT_REGION
exec "$PY" -c 'import sys; from barman.clients.${tool%%:*} import main; sys.exit(main())' "\$@"
EOF
  chmod 755 "$DRILL/bin/barman-cloud-${tool#*:}"
done
[ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$DRILL"
chmod 755 "$DRILL"

log "S3 stand-in (moto_server) on 127.0.0.1:$S3_PORT"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$DRILL/logs/moto.log" 2>&1 &
MOTO_PID=$!
"$VENV/bin/python" - "$ENDPOINT" <<'EOF' || die "moto_server did not answer"
import sys, time, boto3
deadline = time.monotonic() + 30
while True:
    try:
        boto3.client("s3", endpoint_url=sys.argv[1]).create_bucket(Bucket="mirage-drill")
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
EOF

psql_at() { as_pg "$PG_BIN/psql" -h "$DRILL/run" -p "$1" -U postgres -d drill -v ON_ERROR_STOP=1 -qtAX -c "$2"; }

log "source cluster on 127.0.0.1:$SOURCE_PORT, archiving WAL to $BUCKET"
as_pg "$PG_BIN/initdb" -D "$DRILL/source" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$DRILL/logs/initdb.log"
cat >>"$DRILL/source/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $SOURCE_PORT
unix_socket_directories = '$DRILL/run'
wal_level = replica
archive_mode = on
archive_command = '$DRILL/bin/barman-cloud-wal-archive --endpoint-url $ENDPOINT $BUCKET $SERVER %p'
archive_timeout = ${ARCHIVE_TIMEOUT_S}s
EOF
as_pg "$PG_BIN/pg_ctl" -D "$DRILL/source" -l "$DRILL/logs/source.log" -w start >/dev/null
as_pg "$PG_BIN/psql" -h "$DRILL/run" -p "$SOURCE_PORT" -U postgres -qc "CREATE DATABASE drill"
psql_at "$SOURCE_PORT" "
  CREATE TABLE messages (id int PRIMARY KEY, batch text NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp());
  CREATE TABLE contacts (id int PRIMARY KEY, name text NOT NULL);
  INSERT INTO contacts SELECT g, 'contact ' || g FROM generate_series(1, 50) g;
  INSERT INTO messages (id, batch) SELECT g, 'before-backup' FROM generate_series(1, 1000) g;"

# An immediate checkpoint: a spread one (the default) makes a small drill wait minutes.
take_backup() {
  as_pg "$DRILL/bin/barman-cloud-backup" --immediate-checkpoint --endpoint-url "$ENDPOINT" -h "$DRILL/run" \
    -p "$SOURCE_PORT" -U postgres "$BUCKET" "$SERVER" >>"$DRILL/logs/backup.log" 2>&1 \
    || { cat "$DRILL/logs/backup.log" >&2; die "barman-cloud-backup failed"; }
}
backup_ids() {
  as_pg "$DRILL/bin/barman-cloud-backup-list" --endpoint-url "$ENDPOINT" --format json "$BUCKET" "$SERVER" \
    | "$PY" -c 'import json, sys; print(" ".join(b["backup_id"] for b in json.load(sys.stdin)["backups_list"]))'
}

log "base backup"
take_backup
BACKUP_ID="$(backup_ids)"
log "backup $BACKUP_ID taken"

# Weekly/monthly archives (the chart's CronJob runs the same script): the first backup of the
# week and month is kept as an archive, later ones are not, and retention then spares it.
KEEPER=("$PY" "$ROOT/deploy/helm/mirage/files/archive_keeper.py" --bin-dir "$DRILL/bin" --endpoint-url "$ENDPOINT"
  --weeks 8 --months 12 "$BUCKET" "$SERVER")
"${KEEPER[@]}" >"$DRILL/logs/keeper.log" 2>&1 || { cat "$DRILL/logs/keeper.log" >&2; die "archive_keeper failed"; }
grep -q "^keep $BACKUP_ID (monthly archive)" "$DRILL/logs/keeper.log" || die "the first backup was not archived: $(cat "$DRILL/logs/keeper.log")"
psql_at "$SOURCE_PORT" "INSERT INTO messages (id, batch) SELECT g, 'before-t' FROM generate_series(1001, 1200) g"
take_backup
psql_at "$SOURCE_PORT" "INSERT INTO messages (id, batch) SELECT g, 'before-t' FROM generate_series(1201, 1300) g"
take_backup
read -r -a BACKUPS <<<"$(backup_ids)"
[ "${#BACKUPS[@]}" -eq 3 ] || die "expected 3 backups, found: ${BACKUPS[*]}"
"${KEEPER[@]}" >>"$DRILL/logs/keeper.log" 2>&1 || { cat "$DRILL/logs/keeper.log" >&2; die "archive_keeper failed"; }
tail -n1 "$DRILL/logs/keeper.log" | grep -q "^1 archives among 3 backups" || die "keeper: $(tail -n1 "$DRILL/logs/keeper.log")"

psql_at "$SOURCE_PORT" "INSERT INTO messages (id, batch) SELECT g, 'before-t' FROM generate_series(1301, 1500) g"
TARGET="$(psql_at "$SOURCE_PORT" "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")"
log "T = $TARGET"
# A clear gap, so nothing after T shares T's instant.
sleep 1

psql_at "$SOURCE_PORT" "INSERT INTO messages (id, batch) SELECT g, 'after-t' FROM generate_series(1501, 2000) g"
psql_at "$SOURCE_PORT" "DROP TABLE contacts"
LAST_WAL="$(psql_at "$SOURCE_PORT" "SELECT pg_walfile_name(pg_current_wal_lsn())")"
LAST_COMMIT_EPOCH="$(psql_at "$SOURCE_PORT" "SELECT extract(epoch FROM clock_timestamp())")"
# No pg_switch_wal(): archive_timeout alone must ship the last commits, as it would in production.
deadline=$((SECONDS + 60))
until [ "$(psql_at "$SOURCE_PORT" "SELECT coalesce(last_archived_wal >= '$LAST_WAL', false) FROM pg_stat_archiver")" = t ]; do
  [ "$SECONDS" -lt "$deadline" ] || die "WAL $LAST_WAL was not archived within 60 s (see $DRILL/logs/source.log)"
  sleep 0.1
done
ARCHIVED_EPOCH="$(psql_at "$SOURCE_PORT" "SELECT extract(epoch FROM last_archived_time) FROM pg_stat_archiver")"
RPO_S="$("$PY" -c "print(f'{max(0.0, $ARCHIVED_EPOCH - $LAST_COMMIT_EPOCH):.1f}')")"
log "last commit archived after ${RPO_S}s; disaster: the source server is lost"
as_pg "$PG_BIN/pg_ctl" -D "$DRILL/source" -m immediate -w stop >/dev/null

log "restoring $BACKUP_ID to T into a new data directory on 127.0.0.1:$RESTORE_PORT"
RESTORE_STARTED="$(date +%s.%N)"
as_pg "$DRILL/bin/barman-cloud-restore" --endpoint-url "$ENDPOINT" "$BUCKET" "$SERVER" "$BACKUP_ID" "$DRILL/restore" \
  >"$DRILL/logs/restore.log" 2>&1 || { cat "$DRILL/logs/restore.log" >&2; die "barman-cloud-restore failed"; }
chmod 700 "$DRILL/restore"
cat >>"$DRILL/restore/postgresql.conf" <<EOF
port = $RESTORE_PORT
archive_mode = off
restore_command = '$DRILL/bin/barman-cloud-wal-restore --endpoint-url $ENDPOINT $BUCKET $SERVER %f %p'
recovery_target_time = '$TARGET'
recovery_target_action = 'promote'
EOF
as_pg touch "$DRILL/restore/recovery.signal"
as_pg "$PG_BIN/pg_ctl" -D "$DRILL/restore" -l "$DRILL/logs/restore-server.log" -w -t 120 start >/dev/null \
  || { tail -n 30 "$DRILL/logs/restore-server.log" >&2; die "the restored server did not start"; }
deadline=$((SECONDS + 120))
until [ "$(psql_at "$RESTORE_PORT" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; do
  [ "$SECONDS" -lt "$deadline" ] || die "the restored server never left recovery (see $DRILL/logs/restore-server.log)"
  sleep 0.1
done
RTO_S="$("$PY" -c "import time; print(f'{time.time() - $RESTORE_STARTED:.1f}')")"

counts="$(psql_at "$RESTORE_PORT" "SELECT string_agg(batch || '=' || n, ' ' ORDER BY batch) FROM (SELECT batch, count(*) n FROM messages GROUP BY batch) s")"
contacts="$(psql_at "$RESTORE_PORT" "SELECT count(*) FROM contacts" 2>&1 || true)"
log "restored: $counts; contacts=$contacts"
[ "$counts" = "before-backup=1000 before-t=500" ] || die "expected before-backup=1000 before-t=500 and no after-t rows, got: $counts"
[ "$contacts" = "50" ] || die "the table dropped after T should be back with 50 rows, got: $contacts"
# The restored server is a new timeline: it must accept writes.
psql_at "$RESTORE_PORT" "INSERT INTO messages (id, batch) VALUES (3001, 'after-restore')"

# Retention after the restore (it removes the WAL the restore above replayed): with one backup
# of redundancy, the un-archived middle backup goes, the archived first one stays.
as_pg "$DRILL/bin/barman-cloud-backup-delete" --endpoint-url "$ENDPOINT" --retention-policy "REDUNDANCY 1" \
  "$BUCKET" "$SERVER" >"$DRILL/logs/retention.log" 2>&1 || { cat "$DRILL/logs/retention.log" >&2; die "retention failed"; }
remaining="$(backup_ids)"
[ "$remaining" = "${BACKUPS[0]} ${BACKUPS[2]}" ] || die "after retention expected ${BACKUPS[0]} ${BACKUPS[2]}, found: $remaining"
log "retention deleted ${BACKUPS[1]} and kept the archive ${BACKUPS[0]}"

echo "BENCH backup_drill restored=true rpo_s=$RPO_S rto_s=$RTO_S target=${TARGET// /T} backup_id=$BACKUP_ID"
