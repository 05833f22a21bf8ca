"""Celery task folding the visit rollups' pending deltas (beat runs it every minute)."""

from __future__ import annotations

from celery import shared_task

from . import rollups


@shared_task(name="gridgov.visits.tasks.fold_rollups")
def fold_rollups() -> int:
    """Fold the pending rollup deltas into the area and node rollups; returns the delta rows folded."""
    return rollups.fold()
