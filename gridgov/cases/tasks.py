"""Celery task of the escalation sweep (beat runs it every minute)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from . import services, tally


@shared_task(name="gridgov.cases.tasks.sweep")
def sweep() -> dict[str, int]:
    """Move lights, escalate and supervise what is due, then fold the tally's new deltas."""
    result = asdict(services.sweep())
    tally.fold()
    return result
