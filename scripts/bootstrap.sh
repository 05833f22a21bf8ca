#!/usr/bin/env bash
# One-stop set-up for gridgov on Debian/Ubuntu: system packages, virtualenv, private PostGIS and Redis.
# Usage: scripts/bootstrap.sh [packages|venv|db|redis|all|stop-db]   (idempotent: running it twice is harmless)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PGDATA="$ROOT/var/pg"
PGPORT="${GRIDGOV_PGPORT:-54329}"
PGBIN="${GRIDGOV_PGBIN:-/usr/lib/postgresql/15/bin}"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
REDISDIR="$ROOT/var/redis"
REDISPORT="${GRIDGOV_REDISPORT:-63799}"
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 gdal-bin chromium gettext redis-server)

log() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else die "need root (or sudo) to run: $*"; fi
}

ensure_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing system packages (${missing[*]}) and no apt-get: install them by hand"
    log "installing system packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtualenv in .venv"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.requirements.sha"
  local want
  want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing Python requirements"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt
    echo "$want" > "$stamp"
  fi
  # The gridding's numba kernels (the partition's, the cells' shared borders): compiled once into
  # var/numba-cache (~17 s CPU the first time, and after the kernels' source changes), loaded from there
  # in ~0.3 s afterwards; files of kernels since moved or removed are deleted.
  "$VENV/bin/python" -c "from gridgov.gridding.algorithm import compiled, kernel_cache, tessellate; compiled.warm(); tessellate.warm(); kernel_cache.prune([compiled, tessellate])" \
    || log "warning: the gridding kernels did not compile (gridding will try again on first use)"
}

# Run a PostgreSQL binary as the right user: PostgreSQL refuses to run as root.
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_in_use() {
  "$VENV/bin/python" - "$PGPORT" <<'PY'
import socket, sys
s = socket.socket()
# Like PostgreSQL itself: connections of a cluster just stopped linger in TIME_WAIT and must not count.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
PY
}

ensure_db() {
  if [ -n "${DATABASE_URL:-}" ]; then
    log "DATABASE_URL is set: using that database, no private cluster"
    return
  fi
  [ -x "$PGBIN/initdb" ] || die "PostgreSQL 15 binaries not found in $PGBIN (apt-get install postgresql-15 postgresql-15-postgis-3)"
  mkdir -p "$ROOT/var"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "user 'postgres' missing (the postgresql-15 package creates it)"
    runuser -u postgres -- test -x "$ROOT/var" 2>/dev/null \
      || die "user 'postgres' cannot reach $ROOT/var (a parent directory is not traversable, e.g. a mode-700 home); clone the repo elsewhere or chmod o+x the parents"
  fi
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "initialising private PostgreSQL cluster in var/pg"
    rm -rf "$PGDATA"; mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
    pg_as_owner "$PGBIN/initdb" -D "$PGDATA" -U gridgov --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    local sockdir="$PGDATA"
    # The unix socket path must stay under 107 bytes; fall back to TCP only beyond that.
    [ ${#sockdir} -gt 90 ] && sockdir=""
    cat >> "$PGDATA/postgresql.conf" <<CONF
# gridgov private cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sockdir'
shared_buffers = 256MB
work_mem = 32MB
maintenance_work_mem = 256MB
max_connections = 100
CONF
  fi
  # The port lives in postgresql.auto.conf-like override so GRIDGOV_PGPORT can change between runs.
  sed -i "/^port = /d" "$PGDATA/postgresql.conf"; echo "port = $PGPORT" >> "$PGDATA/postgresql.conf"
  # This cluster is also what a street office runs in production (`make run`): it must survive a power
  # cut. Clusters made before kept fsync, full-page writes and synchronous commit off (a crash could
  # corrupt them): those lines go, and a running cluster reloads its configuration below. The test
  # suite turns synchronous commit off for its own sessions only (gridgov.settings.test).
  local durable_fixed=0
  if grep -Eq "^(fsync|synchronous_commit|full_page_writes) = off" "$PGDATA/postgresql.conf"; then
    sed -i -E "/^(fsync|synchronous_commit|full_page_writes) = off/d" "$PGDATA/postgresql.conf"
    durable_fixed=1
    log "private cluster made durable again (fsync, full_page_writes, synchronous_commit back on)"
  fi
  [ "$(id -u)" = 0 ] && chown -R postgres "$PGDATA"

  if "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; then
    if [ -f "$PGDATA/postmaster.pid" ] && kill -0 "$(head -1 "$PGDATA/postmaster.pid")" 2>/dev/null; then
      log "private PostgreSQL already running on 127.0.0.1:$PGPORT"
    else
      die "port $PGPORT is taken by another PostgreSQL, not this project's cluster: set GRIDGOV_PGPORT to a free port"
    fi
  else
    if [ -f "$PGDATA/postmaster.pid" ]; then
      local pid; pid=$(head -1 "$PGDATA/postmaster.pid")
      if ! kill -0 "$pid" 2>/dev/null || ! grep -q postgres "/proc/$pid/comm" 2>/dev/null; then
        log "removing stale postmaster.pid (pid $pid is not a running postgres)"
        rm -f "$PGDATA/postmaster.pid"
      fi
    fi
    if port_in_use; then
      die "port $PGPORT on 127.0.0.1 is taken by another program: set GRIDGOV_PGPORT to a free port"
    fi
    log "starting private PostgreSQL on 127.0.0.1:$PGPORT"
    pg_as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start >/dev/null \
      || { tail -20 "$PGDATA/server.log" >&2; die "PostgreSQL did not start (log above)"; }
  fi
  local psql=("$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U gridgov -v ON_ERROR_STOP=1 -qAt)
  if [ "$durable_fixed" = 1 ]; then
    "${psql[@]}" -d postgres -c "SELECT pg_reload_conf()" >/dev/null
    "${psql[@]}" -d postgres -c "CHECKPOINT"
  fi
  if [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname='gridgov'")" != 1 ]; then
    log "creating database gridgov"
    "${psql[@]}" -d postgres -c "CREATE DATABASE gridgov"
  fi
  # PostGIS is not a trusted extension: create it as the superuser, in template1 too so the
  # test database Django creates already has it.
  "${psql[@]}" -d template1 -c "CREATE EXTENSION IF NOT EXISTS postgis"
  "${psql[@]}" -d gridgov -c "CREATE EXTENSION IF NOT EXISTS postgis"
}

# The Celery broker: a private redis-server on 127.0.0.1:$GRIDGOV_REDISPORT, data under var/redis.
ensure_redis() {
  if [ -n "${GRIDGOV_REDIS_URL:-}" ]; then
    log "GRIDGOV_REDIS_URL is set: using that Redis, no private server"
    return
  fi
  command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
  mkdir -p "$REDISDIR"
  if redis-cli -h 127.0.0.1 -p "$REDISPORT" ping >/dev/null 2>&1; then
    if [ -f "$REDISDIR/redis.pid" ] && kill -0 "$(cat "$REDISDIR/redis.pid")" 2>/dev/null; then
      log "private Redis already running on 127.0.0.1:$REDISPORT"
      return
    fi
    die "port $REDISPORT is taken by another Redis, not this project's: set GRIDGOV_REDISPORT to a free port"
  fi
  log "starting private Redis on 127.0.0.1:$REDISPORT"
  redis-server --port "$REDISPORT" --bind 127.0.0.1 --dir "$REDISDIR" --daemonize yes \
    --pidfile "$REDISDIR/redis.pid" --logfile "$REDISDIR/redis.log" --appendonly yes --save "" >/dev/null
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$REDISPORT" ping >/dev/null 2>&1 && return
    sleep 0.1
  done
  tail -20 "$REDISDIR/redis.log" >&2; die "Redis did not start (log above)"
}

stop_redis() {
  if [ -f "$REDISDIR/redis.pid" ] && kill -0 "$(cat "$REDISDIR/redis.pid")" 2>/dev/null; then
    redis-cli -h 127.0.0.1 -p "$REDISPORT" shutdown nosave >/dev/null 2>&1 || kill "$(cat "$REDISDIR/redis.pid")"
  fi
}

stop_db() {
  stop_redis
  if [ -f "$PGDATA/postmaster.pid" ]; then pg_as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null && log "stopped"; fi
}

case "${1:-all}" in
  packages) ensure_packages ;;
  venv) ensure_venv ;;
  db) ensure_db ;;
  redis) ensure_redis ;;
  stop-db) stop_db ;;
  all) ensure_packages; ensure_venv; ensure_db; ensure_redis ;;
  *) die "unknown step: $1" ;;
esac
