"""Template context available on every page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def gridgov(request: HttpRequest) -> dict[str, Any]:
    return {
        "BASEMAP_URL": settings.BASEMAP_URL,
        "BASEMAP_ATTRIBUTION": settings.BASEMAP_ATTRIBUTION,
    }
