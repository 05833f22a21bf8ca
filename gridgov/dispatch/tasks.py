"""Celery tasks of the outbox (the worker runs them; beat schedules `deliver_due` every minute)."""

from __future__ import annotations

from celery import shared_task

from . import outbox


@shared_task(name="gridgov.dispatch.tasks.deliver")
def deliver(pk: int) -> str:
    return outbox.deliver(pk)


@shared_task(name="gridgov.dispatch.tasks.deliver_due")
def deliver_due() -> int:
    return outbox.deliver_due()
