#!/usr/bin/env bash
# The production web server alone (scripts/serve.sh starts it after Celery; the tests and bench/visits_load.py
# start it as `make run` does). Usage: scripts/web.sh HOST:PORT
#
# GRIDGOV_WEB_SERVER picks the server (both serve gridgov.wsgi, WhiteNoise's static files included):
# - gunicorn (default): scripts/gunicorn.conf.py, every GRIDGOV_WEB_* setting there;
# - granian: a Rust HTTP server (pinned in requirements.txt) running the same WSGI application: HTTP parsing,
#   keep-alive and the hand-over to a Python thread happen in Rust, so a request costs the web process less
#   CPU (a 20-visit sync in bench/visits_load.py: ~0.07-0.08 ms per visit against gunicorn's ~0.09-0.11).
#   Same GRIDGOV_WEB_WORKERS (processes, default 2 x CPUs + 1) and GRIDGOV_WEB_THREADS (threads per
#   process running the application, default 4); GRIDGOV_ACCESS_LOG set to anything turns its access log on
#   (standard output). What gunicorn's configuration does that granian does not: no stuck-worker timeout
#   (GRIDGOV_WEB_TIMEOUT), no recycling after a number of requests, and X-Forwarded-Proto is not believed
#   from a proxy (behind an HTTPS proxy, keep gunicorn).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ADDR="${1:-127.0.0.1:8000}"
case "${GRIDGOV_WEB_SERVER:-gunicorn}" in
  gunicorn)
    exec .venv/bin/gunicorn -c scripts/gunicorn.conf.py --bind "$ADDR"
    ;;
  granian)
    args=(--interface wsgi --no-ws --host "${ADDR%:*}" --port "${ADDR##*:}"
      --workers "${GRIDGOV_WEB_WORKERS:-$((2 * $(nproc) + 1))}"
      --blocking-threads "${GRIDGOV_WEB_THREADS:-4}" --log-level warning)
    [ -n "${GRIDGOV_ACCESS_LOG:-}" ] && args+=(--access-log)
    exec .venv/bin/granian "${args[@]}" gridgov.wsgi:application
    ;;
  *)
    echo "GRIDGOV_WEB_SERVER must be gunicorn or granian, not ${GRIDGOV_WEB_SERVER}" >&2
    exit 2
    ;;
esac
