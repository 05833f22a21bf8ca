#!/usr/bin/env bash
# Serve gridgov: a Celery worker with beat in the background (stopped with the server), then the web server:
# scripts/web.sh (gunicorn with scripts/gunicorn.conf.py, or granian with GRIDGOV_WEB_SERVER=granian; static
# files collected into STATIC_ROOT and served by WhiteNoise),
# or Django's runserver (auto-reload, development only) when GRIDGOV_DEV_SERVER=1.
# Usage: scripts/serve.sh [HOST:PORT]   (default 127.0.0.1:8000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ADDR="${1:-127.0.0.1:8000}"
mkdir -p var/log var/run
.venv/bin/celery -A gridgov worker -B -l info --concurrency 2 \
  --schedule var/run/celerybeat-schedule --pidfile var/run/celery.pid --logfile var/log/celery.log &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null || true' EXIT INT TERM
echo "[serve] Celery worker + beat (pid $WORKER), log in var/log/celery.log" >&2
case "${GRIDGOV_DEV_SERVER:-0}" in
  1 | true | yes | on)
    echo "[serve] development server (runserver) on $ADDR" >&2
    .venv/bin/python manage.py runserver "$ADDR"
    ;;
  *)
    .venv/bin/python manage.py collectstatic --noinput -v 0
    echo "[serve] ${GRIDGOV_WEB_SERVER:-gunicorn} on $ADDR (settings ${DJANGO_SETTINGS_MODULE:-gridgov.settings.prod})" >&2
    scripts/web.sh "$ADDR"
    ;;
esac
