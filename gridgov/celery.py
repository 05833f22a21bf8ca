"""The Celery app: the escalation sweep and message delivery run on a worker, scheduled by beat.

.venv/bin/celery -A gridgov worker -B -l info      (make worker)
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.dev")

app = Celery("gridgov")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
