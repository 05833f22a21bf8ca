"""Run the escalation sweep once (the Celery beat schedule runs it every minute)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gridgov.cases.services import sweep


class Command(BaseCommand):
    help = "Escalate or supervise every open issue whose step deadline has passed."

    def handle(self, *args: Any, **opts: Any) -> None:
        r = sweep()
        self.stdout.write(f"escalated {r.escalated}, referred {r.referred}, supervised {r.supervised}")
