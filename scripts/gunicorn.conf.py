"""gunicorn settings for `make run` (scripts/serve.sh). Everything can be changed from the environment:

- GRIDGOV_WEB_WORKERS: worker processes (default 2 × CPUs + 1, CPUs this process may run on);
- GRIDGOV_WEB_THREADS: threads per worker (default 4): a phone on a slow network uploading a photo
  holds a thread, not a whole worker;
- GRIDGOV_WEB_TIMEOUT: seconds before a stuck worker is restarted (default 60);
- GRIDGOV_ACCESS_LOG: a file for the access log, or "-" for standard output (default: none).

Static files are served by WhiteNoise inside Django (collected into STATIC_ROOT by serve.sh); uploaded
photos (MEDIA_ROOT) are not served at all except through gridgov's scoped views.
"""

from __future__ import annotations

import gc
import os


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


wsgi_app = "gridgov.wsgi:application"
# The application (Django, the URLconf and every view: gridgov/wsgi.py) is loaded once in the master and
# the workers are forked from it, so that a worker starts warm, also one that replaces another after
# `max_requests` during a burst. No database or Redis connection is opened while loading (both are made
# per worker, on first use). New code needs a restart of the master, not a HUP.
preload_app = True


def when_ready(server: object) -> None:
    """In the master, once the application is loaded and before any worker is forked: move every object
    made so far out of the garbage collector's reach (`gc.freeze`). A worker's collections then scan only
    what requests made, not the ~180,000 objects of the loaded application (the collector's share of a
    20-visit sync request: 0.33 ms of CPU before, 0.05 after), and no longer writes to pages shared with
    the master."""
    gc.freeze()


workers = int(os.environ.get("GRIDGOV_WEB_WORKERS") or 2 * _cpus() + 1)
worker_class = "gthread"
threads = int(os.environ.get("GRIDGOV_WEB_THREADS") or 4)
timeout = int(os.environ.get("GRIDGOV_WEB_TIMEOUT") or 60)
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (a slow leak never grows without bound); the jitter staggers restarts.
max_requests = 10_000
max_requests_jitter = 1_000
accesslog = os.environ.get("GRIDGOV_ACCESS_LOG") or None
errorlog = "-"
# X-Forwarded-* only from the intranet's reverse proxy, when there is one (as for the rate limits).
forwarded_allow_ips = (
    "*" if os.environ.get("GRIDGOV_TRUSTED_PROXY", "").lower() in {"1", "true", "yes", "on"} else "127.0.0.1"
)
