"""One integration test through a real Celery worker on the private Redis (started by `make test`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from gridgov.cases import services
from gridgov.cases.models import Level
from gridgov.celery import app

from .conftest import IN_A

ROOT = Path(__file__).resolve().parents[2]
REDIS_PORT = int(os.environ.get("GRIDGOV_REDISPORT", "63799"))
BROKER = f"redis://127.0.0.1:{REDIS_PORT}/7"  # a database of its own: a dev worker never takes these


def redis_up() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", REDIS_PORT)) == 0


@pytest.mark.django_db(transaction=True)
def test_the_sweep_runs_on_a_real_worker(world) -> None:
    if not redis_up():
        pytest.fail(
            f"Redis is not running on 127.0.0.1:{REDIS_PORT}: `make test` (scripts/bootstrap.sh redis)"
        )
    past = timezone.now() - timedelta(days=30)
    case, _ = services.case_report(
        category="env-garbage", description="垃圾", location=IN_A, channel="hotline", now=past
    )
    case = services.file_case(case, actor=world.users["leader_a"], now=past)
    assert case.sweep_at < timezone.now() and case.level == Level.GRID

    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gridgov.settings.test",
        "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "GRIDGOV_REDIS_URL": BROKER,
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "gridgov", "worker", "--pool", "solo", "-l", "warning",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        sender = app.conf.task_always_eager
        app.conf.task_always_eager = False
        with app.connection_for_write(BROKER) as conn:
            app.send_task("gridgov.cases.tasks.sweep", connection=conn)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            case.refresh_from_db()
            if case.level != Level.GRID:
                break
            assert worker.poll() is None, worker.stdout.read().decode(errors="replace")
            time.sleep(0.3)
        assert case.level == Level.COMMUNITY and case.supervised
        assert case.events.last().action == "auto_escalate"
    finally:
        app.conf.task_always_eager = sender
        worker.terminate()
        worker.wait(timeout=20)
    assert settings.CELERY_TASK_ALWAYS_EAGER  # the suite's own setting is back untouched
