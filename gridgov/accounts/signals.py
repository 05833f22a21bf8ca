"""Keep the cached session user (gridgov.accounts.backends) in step with the database.

A user's cached copy carries their member record, so saving or deleting either drops it. A member
record moved to another account drops the copies of both accounts. Each drop happens at once and
again after the transaction commits: a request that read the old row while the change was being made
cannot leave it cached past the commit.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from gridgov.teams.models import Member

from .backends import forget_user


def _forget(*user_ids: Any) -> None:
    ids = {i for i in user_ids if i is not None}
    for user_id in ids:
        forget_user(user_id)
    if ids:
        transaction.on_commit(lambda: [forget_user(i) for i in ids])


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="gridgov-forget-user-saved")
@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="gridgov-forget-user-deleted")
def user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    _forget(instance.pk)


@receiver(pre_save, sender=Member, dispatch_uid="gridgov-member-previous-user")
def member_previous_user(sender: Any, instance: Member, **kwargs: Any) -> None:
    """Remember which account the member record belonged to before this save."""
    previous = None
    if instance.pk is not None and not kwargs.get("raw"):
        previous = Member.objects.filter(pk=instance.pk).values_list("user_id", flat=True).first()
    instance._gridgov_previous_user_id = previous  # type: ignore[attr-defined]


@receiver(post_save, sender=Member, dispatch_uid="gridgov-forget-member-saved")
@receiver(post_delete, sender=Member, dispatch_uid="gridgov-forget-member-deleted")
def member_changed(sender: Any, instance: Member, **kwargs: Any) -> None:
    _forget(instance.user_id, getattr(instance, "_gridgov_previous_user_id", None))
