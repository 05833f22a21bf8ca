"""Celery task folding the visit rollups' pending deltas (beat runs it every minute)."""

from __future__ import annotations

from celery import shared_task

from . import rollups


@shared_task(name="gridgov.visits.tasks.fold_rollups")
def fold_rollups() -> int:
    """Fold the pending rollup deltas into the area and node rollups; returns the delta rows folded. After
    a fold that moved deltas, the dashboard rows it updated are vacuumed (`rollups.vacuum_dashboard`), so
    that worst-first pages read their index only."""
    folded = rollups.fold()
    if folded:
        rollups.vacuum_dashboard()
    return folded
