#!/usr/bin/env bash
# Serve gridgov: a Celery worker with beat in the background (stopped with the server), then Django.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
mkdir -p var/log var/run
.venv/bin/celery -A gridgov worker -B -l info --concurrency 2 \
  --schedule var/run/celerybeat-schedule --pidfile var/run/celery.pid --logfile var/log/celery.log &
WORKER=$!
trap 'kill $WORKER 2>/dev/null; wait $WORKER 2>/dev/null || true' EXIT INT TERM
echo "[serve] Celery worker + beat (pid $WORKER), log in var/log/celery.log" >&2
.venv/bin/python manage.py runserver "${1:-127.0.0.1:8000}"
