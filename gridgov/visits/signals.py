"""Keep the compliance rollups in step with edits made one row at a time (admin, services).

Bulk writers (the ledger import, gridding approval, the demo loader) call `rollups.refresh` or
`recompute.rebuild` themselves: bulk operations send no signals.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from gridgov.geo.models import ResponsibilityArea
from gridgov.households.models import Household
from gridgov.teams.models import Member

from . import recompute, rollups
from .models import VisitPolicy


@receiver(post_save, sender=Household, dispatch_uid="visits.household_saved")
def household_saved(sender: Any, instance: Household, **kwargs: Any) -> None:
    rollups.refresh([instance.pk])


@receiver(post_save, sender=VisitPolicy, dispatch_uid="visits.policy_saved")
@receiver(post_delete, sender=VisitPolicy, dispatch_uid="visits.policy_deleted")
def policy_changed(sender: Any, **kwargs: Any) -> None:
    recompute.rebuild()


@receiver(post_save, sender=ResponsibilityArea, dispatch_uid="visits.area_saved")
def area_saved(sender: Any, instance: ResponsibilityArea, **kwargs: Any) -> None:
    """An area that changed hands: its member's dashboard row and the previous member's (only then)."""
    kept, member = rollups.dashboard_member_of(instance.code)
    if kept and member != instance.member_id:
        rollups.refresh_dashboard([instance.pk])


@receiver(pre_delete, sender=ResponsibilityArea, dispatch_uid="visits.area_deleting")
def area_deleting(sender: Any, instance: ResponsibilityArea, **kwargs: Any) -> None:
    """Before an area goes (its rollup rows with it, its households left without an area): its households
    locked, in id order (before the deletion writes them), new deltas held off and the area's pending ones
    folded (one folded afterwards would write a rollup row of a deleted area; and a fold under way could
    hold a rollup row of the area that the deletion waits for)."""
    ids = list(Household.objects.filter(area=instance).values_list("id", flat=True))
    if ids:
        rollups.lock_households(ids)
    rollups.quiesce([instance.pk])
    instance._visits_households = ids  # (the same object comes to `area_deleted`)


@receiver(post_delete, sender=ResponsibilityArea, dispatch_uid="visits.area_deleted")
def area_deleted(sender: Any, instance: ResponsibilityArea, **kwargs: Any) -> None:
    """An area gone: its households (now without an area) refreshed, so that its nodes lose them; its
    dashboard row, and its member's and nodes' derived again (if it had one)."""
    households = getattr(instance, "_visits_households", [])
    if households:
        rollups.refresh(households)
    kept, member = rollups.dashboard_member_of(instance.code)
    if kept:
        rollups.refresh_dashboard(gone=[(instance.code, member)])


@receiver(pre_delete, sender=Member, dispatch_uid="visits.member_deleting")
def member_deleting(sender: Any, instance: Member, **kwargs: Any) -> None:
    """A member about to go: the areas that lose them (set to no member by the deletion, which sends no
    signal for them), for `member_deleted`."""
    instance._visits_areas = list(instance.areas.values_list("id", flat=True))


@receiver(post_delete, sender=Member, dispatch_uid="visits.member_deleted")
def member_deleted(sender: Any, instance: Member, **kwargs: Any) -> None:
    """A member gone: the dashboard rows of their areas (now without a member), theirs and the row of the
    areas without one derived again."""
    areas = getattr(instance, "_visits_areas", [])
    if areas:
        rollups.refresh_dashboard(areas)
