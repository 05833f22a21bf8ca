"""The production server (`make run`: scripts/web.sh, gunicorn with scripts/gunicorn.conf.py or granian)
serves the static files and the API, and never the uploaded photos."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


@pytest.fixture(params=["gunicorn", "granian"])
def production_server(request, tmp_path, django_db_blocker):
    media = tmp_path / "media"
    (media / "visits").mkdir(parents=True)
    (media / "visits" / "secret.jpg").write_bytes(b"\xff\xd8\xff a household's front door")
    db = connection.settings_dict
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "gridgov.settings.prod",
        "GRIDGOV_SECRET_KEY": "test-only",
        "GRIDGOV_ALLOWED_HOSTS": "127.0.0.1",
        "GRIDGOV_STATIC_ROOT": str(tmp_path / "static"),
        "GRIDGOV_MEDIA_ROOT": str(media),
        "GRIDGOV_WEB_WORKERS": "1",
        "GRIDGOV_WEB_THREADS": "2",
        "GRIDGOV_WEB_SERVER": request.param,
        "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    manage = [sys.executable, str(ROOT / "manage.py"), "collectstatic", "--noinput", "-v", "0"]
    subprocess.run(manage, env=env, cwd=ROOT, check=True)
    port = free_port()
    cmd = [str(ROOT / "scripts" / "web.sh"), f"127.0.0.1:{port}"]
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if server.poll() is not None:
                    pytest.fail(f"{request.param} exited: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_production_server_serves_static_files_and_the_api_but_no_uploads(production_server):
    leaflet = Path(__import__("leaflet").__file__).parent / "static" / "leaflet" / "leaflet.js"
    status, body, _type = fetch(f"{production_server}{settings.STATIC_URL}leaflet/leaflet.js")
    assert (status, body) == (200, leaflet.read_bytes())

    status, body, kind = fetch(f"{production_server}/api/v1/visits/mine/")
    assert status in (401, 403) and kind.startswith("application/json")

    for path in ("media/visits/secret.jpg", "static/../media/visits/secret.jpg", "visits/secret.jpg"):
        status, body, _type = fetch(f"{production_server}/{path}")
        assert status == 404, path
        assert b"front door" not in body


def test_the_application_is_loaded_whole_before_any_request_and_without_connections():
    """gunicorn loads the application once in its master (`preload_app`) and forks the workers from it: the
    URLconf and the views must be imported then (not in each worker's first request), and nothing may open
    a database connection that the forked workers would share; the loaded objects are frozen out of the
    garbage collector's scans before the workers are forked (and by the module itself, which is how granian's
    workers, each loading it, get that)."""
    code = (
        "import sys, gridgov.wsgi\n"
        "from django.db import connections\n"
        "assert 'gridgov.visits.apis' in sys.modules and 'rest_framework.views' in sys.modules\n"
        "assert all(c.connection is None for c in connections.all())\n"
        "import gc\n"
        "assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()  # by the module (granian's workers)\n"
        "conf = {}\n"
        f"exec(open({str(ROOT / 'scripts' / 'gunicorn.conf.py')!r}).read(), conf)\n"
        "assert conf['preload_app'] is True\n"
        "conf['when_ready'](None)\n"
        "assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()\n"
    )
    env = os.environ | {"DJANGO_SETTINGS_MODULE": "gridgov.settings.prod", "GRIDGOV_SECRET_KEY": "test-only"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
