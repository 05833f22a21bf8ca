"""Keep the compliance rollups in step with edits made one row at a time (admin, services).

Bulk writers (the ledger import, the demo loader) call `rollups.refresh` or `recompute.rebuild`
themselves. A deletion of many rows (an admin's bulk delete, a grid and its areas) sends a signal per row:
the receivers collect what changed and its last row does the upkeep, once (`_deletion`); inside a
`batched()` block (a gridding approval saving and deleting areas) they collect, and the upkeep is done
once when the block ends, in the same transaction.

Lock order (README, Visits): households (id order) → the delta table (→ the fold's lock) → area rows. An
area's row is written (its member or code changed, or deleted) only once this transaction holds the locks
before it: the households whose state the change touches, then the delta table (`area_saving`,
`area_deleting`, `member_deleting`); the fold and a batch take them in the same order (the fold's foreign
key checks take key-share locks on area rows after the delta table's).
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.dispatch import receiver

from gridgov.geo.models import CODE_LENGTHS, ResponsibilityArea
from gridgov.households.models import Household
from gridgov.teams.models import Member

from . import recompute, rollups
from .models import VisitPolicy

GRID_LENGTH = CODE_LENGTHS["grid"]


@dataclass
class Batch:
    """What the receivers collected in a `batched()` block: households to refresh, areas whose dashboard
    rows to derive again, (code, member) of areas gone; `quiesced`: this transaction holds the delta
    table (taken once); `locked`: households it has locked (in one statement, id order)."""

    households: set[int] = field(default_factory=set)
    areas: set[int] = field(default_factory=set)
    gone: list[tuple[str, int | None]] = field(default_factory=list)
    quiesced: bool = False
    locked: set[int] = field(default_factory=set)
    connection_id: int = 0
    pending: set[tuple[str, int]] = field(default_factory=set)  # (a deletion's) rows signalled, not gone

    def prepare(self, households: Iterable[int]) -> None:
        """Lock these households (id order, those not locked yet), then hold the delta table: call before
        writing rows of areas or members in the block. Households locked after the delta table would
        break the lock order: a batch holding one of them would wait for the table while this waited for
        the household."""
        new = set(households) - self.locked
        if new:
            if self.quiesced:
                raise RuntimeError("households locked after the delta table: call prepare() first")
            rollups.lock_households(new)
            self.locked |= new
        if not self.quiesced:
            rollups.quiesce()
            self.quiesced = True


_state = threading.local()


def current() -> Batch | None:
    """The batch of the `batched()` block this thread (its database connection) is in, if any."""
    batch = getattr(_state, "batch", None)
    return batch if batch is not None and batch.connection_id == id(connection.connection) else None


@contextmanager
def batched() -> Iterator[Batch]:
    """A block (one transaction) in which the receivers collect what changed; when it ends without an
    error, the households collected are refreshed and the dashboard rows derived again, once (the same as
    one receiver would do per row: exact). Nested blocks join the outer one."""
    outer = current()
    if outer is not None:
        yield outer
        return
    with transaction.atomic():
        batch = Batch(connection_id=id(connection.connection))
        _state.batch = batch
        try:
            yield batch
        finally:
            _state.batch = None
        flush(batch)


def flush(batch: Batch) -> None:
    """The upkeep collected: households refreshed (their areas' and nodes' rows derived again) and the
    dashboard rows of the areas collected and of the areas gone, in one `rollups.refresh`."""
    households = sorted(set(Household.objects.filter(id__in=batch.households).values_list("id", flat=True)))
    if households or batch.areas or batch.gone:
        rollups.refresh(households, areas=batch.areas, gone=batch.gone)


def _deletion(instance: Any) -> tuple[Batch, bool]:
    """The batch a row being deleted belongs to, and whether it is the deletion's own: that of the
    `batched()` block around it, else one for the deletion (Django's `Collector.delete`, in its own atomic
    block, the innermost when it signals): it sends `pre_delete` for every row before it deletes any and
    `post_delete` after, so the rows signalled and not gone yet are known, and the last `post_delete`
    does the upkeep of them all, once, in the deletion's transaction."""
    outer = current()
    if outer is not None:
        return outer, False
    block = connection.atomic_blocks[-1]
    batch = getattr(block, "_visits_batch", None)
    if batch is None:
        batch = Batch(connection_id=id(connection.connection))
        block._visits_batch = batch
    return batch, True


def _deleted(instance: Any) -> None:
    """A row of a deletion gone: the last one does the deletion's upkeep (see `_deletion`)."""
    if current() is not None:
        return
    block = connection.atomic_blocks[-1]
    batch = getattr(block, "_visits_batch", None)
    if batch is None:
        return
    batch.pending.discard((instance._meta.label, instance.pk))
    if not batch.pending:
        del block._visits_batch
        flush(batch)


@receiver(post_save, sender=Household, dispatch_uid="visits.household_saved")
def household_saved(sender: Any, instance: Household, **kwargs: Any) -> None:
    batch = current()
    if batch is not None:
        batch.households.add(instance.pk)
        return
    rollups.refresh([instance.pk])


@receiver(post_save, sender=VisitPolicy, dispatch_uid="visits.policy_saved")
@receiver(post_delete, sender=VisitPolicy, dispatch_uid="visits.policy_deleted")
def policy_changed(sender: Any, **kwargs: Any) -> None:
    recompute.rebuild()


def _households_of(areas: Iterable[int]) -> list[int]:
    return list(Household.objects.filter(area__in=list(areas)).values_list("id", flat=True))


@receiver(pre_save, sender=ResponsibilityArea, dispatch_uid="visits.area_saving")
def area_saving(sender: Any, instance: ResponsibilityArea, raw: bool = False, **kwargs: Any) -> None:
    """Before an existing area's row is written: its code and member as they are (for `area_saved`); when
    either changes, the locks before its row taken first: its households (a new code moves them in the
    node rows: they are refreshed) and the delta table, with the pending deltas folded."""
    if raw or instance.pk is None:
        return
    before = ResponsibilityArea.objects.filter(pk=instance.pk).values_list("code", "member_id").first()
    instance._visits_before = before
    if before is None or before == (instance.code, instance.member_id) or not connection.in_atomic_block:
        return  # (a save in autocommit: its row's update is a transaction of its own, holding no lock)
    households = _households_of([instance.pk]) if before[0] != instance.code else []
    batch = current()
    if batch is not None:
        batch.prepare(households)
        return
    if households:
        rollups.lock_households(households)
    rollups.quiesce()


@receiver(post_save, sender=ResponsibilityArea, dispatch_uid="visits.area_saved")
def area_saved(sender: Any, instance: ResponsibilityArea, **kwargs: Any) -> None:
    """An area that changed hands or code: its dashboard rows (under its code before and now), its members'
    (before and now) and its nodes' derived again; when its code moves it to another grid, its households
    refreshed too (the node rows above it)."""
    before = instance.__dict__.pop("_visits_before", None)
    if before is None or before == (instance.code, instance.member_id):
        return
    code, _member = before
    kept, member = rollups.dashboard_member_of(code)
    gone = [(code, member)] if kept and code != instance.code else []
    moved = code[:GRID_LENGTH] != instance.code[:GRID_LENGTH]
    households = _households_of([instance.pk]) if moved else []
    batch = current()
    if batch is not None:
        batch.households.update(households)
        batch.areas.add(instance.pk)
        batch.gone += gone
        return
    if households:
        rollups.refresh(households, areas=[instance.pk], gone=gone)
    elif kept:
        rollups.refresh_dashboard([instance.pk], gone=gone)


def _areas_under(origin: Any) -> list[int] | None:
    """The areas a deletion started from `origin` (an area, a grid, a community…, or a queryset of them)
    deletes: all under the origin's codes. None: not known (another origin)."""
    if isinstance(origin, QuerySet):
        model, codes = origin.model, None
    else:
        model, codes = type(origin), [getattr(origin, "code", None)]
    if getattr(model, "level", "") not in CODE_LENGTHS:
        return None
    if codes is None:
        codes = list(origin.values_list("code", flat=True))
    if not codes or None in codes:
        return None
    under = reduce(operator.or_, (Q(code__startswith=code) for code in codes))
    return sorted(ResponsibilityArea.objects.filter(under).values_list("id", flat=True))


@receiver(pre_delete, sender=ResponsibilityArea, dispatch_uid="visits.area_deleting")
def area_deleting(sender: Any, instance: ResponsibilityArea, origin: Any = None, **kwargs: Any) -> None:
    """Before an area goes (its rollup rows with it, its households left without an area): the households
    locked, in id order, before the deletion writes them, then new deltas held off and the pending ones
    folded (one folded afterwards would write a rollup row of a deleted area; and a fold under way could
    hold a rollup row of the area that the deletion waits for). The first area of a deletion of several
    (a queryset, a grid) locks the households of every area under the deletion's origin, before the delta
    table. Its households are refreshed when the deletion ends (`_deletion`)."""
    batch, own = _deletion(instance)
    ids = _households_of([instance.pk])
    if not batch.quiesced:
        ids_all = _households_of({instance.pk, *(_areas_under(origin) or [])})
        batch.prepare(ids_all)
    batch.prepare(ids)  # (locked already; else an error, not a deadlock)
    batch.households.update(ids)
    if own:
        batch.pending.add((instance._meta.label, instance.pk))


@receiver(post_delete, sender=ResponsibilityArea, dispatch_uid="visits.area_deleted")
def area_deleted(sender: Any, instance: ResponsibilityArea, **kwargs: Any) -> None:
    """An area gone: its dashboard row, and its member's and nodes' derived again when the deletion ends
    (if it had one), with its households (now without an area: its nodes lose them)."""
    kept, member = rollups.dashboard_member_of(instance.code)
    batch = current() or getattr(connection.atomic_blocks[-1], "_visits_batch", None)
    if batch is not None and kept:
        batch.gone.append((instance.code, member))
    _deleted(instance)


@receiver(pre_delete, sender=Member, dispatch_uid="visits.member_deleting")
def member_deleting(sender: Any, instance: Member, **kwargs: Any) -> None:
    """A member about to go: the areas that lose them (set to no member by the deletion, which sends no
    signal for them): the delta table held before the deletion writes their rows; their dashboard rows,
    the member's and the row of the areas without one derived again when the deletion ends."""
    areas = list(instance.areas.values_list("id", flat=True))
    batch, own = _deletion(instance)
    if areas:
        batch.prepare(())
        batch.areas.update(areas)
    if own:
        batch.pending.add((instance._meta.label, instance.pk))


@receiver(post_delete, sender=Member, dispatch_uid="visits.member_deleted")
def member_deleted(sender: Any, instance: Member, **kwargs: Any) -> None:
    _deleted(instance)
