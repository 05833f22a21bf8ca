"""Celery task of the escalation sweep (beat runs it every minute)."""

from __future__ import annotations

from dataclasses import asdict

from celery import shared_task

from . import services


@shared_task(name="gridgov.cases.tasks.sweep")
def sweep() -> dict[str, int]:
    return asdict(services.sweep())
