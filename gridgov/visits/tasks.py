"""Celery tasks of the visit rollups: the fold of the pending deltas (beat runs it every minute) and the
vacuum of the dashboard rows it updated, a step of its own run later."""

from __future__ import annotations

from celery import shared_task

from . import rollups

# Seconds between a fold that moved deltas and the vacuum of the dashboard rows it updated. VACUUM marks a
# page all-visible only when no transaction still open took its snapshot before the fold committed; under
# sync traffic a batch that started before the fold is almost always still open milliseconds later, so a
# vacuum run straight after the fold leaves the pages as they were. Half the beat's minute: every batch
# open at the fold has ended by then, and the vacuum falls between two folds.
VACUUM_DELAY = 30


@shared_task(name="gridgov.visits.tasks.fold_rollups")
def fold_rollups() -> int:
    """Fold the pending rollup deltas into the area and node rollups; returns the delta rows folded. After
    a fold that moved deltas, the vacuum of the dashboard rows it updated is queued to run `VACUUM_DELAY`
    seconds later (`vacuum_dashboard_rows`), so that worst-first pages read their index only."""
    folded = rollups.fold()
    if folded:
        vacuum_dashboard_rows.apply_async(countdown=VACUUM_DELAY)
    return folded


@shared_task(name="gridgov.visits.tasks.vacuum_dashboard_rows", ignore_result=True)
def vacuum_dashboard_rows() -> None:
    """Vacuum the dashboard rows (`rollups.vacuum_dashboard`): queued by a fold that moved deltas."""
    rollups.vacuum_dashboard()
