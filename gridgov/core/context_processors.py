"""Template context available on every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def gridgov(request: HttpRequest) -> dict[str, Any]:
    return {
        "BASEMAP_URL": settings.BASEMAP_URL,
        "BASEMAP_ATTRIBUTION": settings.BASEMAP_ATTRIBUTION,
        "UNREAD": SimpleLazyObject(lambda: _unread(request)),
    }


def _unread(request: HttpRequest) -> int:
    """Unread notices of the signed-in user (counted only when a template shows it; partial index)."""
    from gridgov.dispatch.models import Notification

    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return 0
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
