"""Admin base class: Leaflet map widgets (local assets) and querysets from the scoping layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from leaflet.admin import LeafletGeoAdmin


class ScopedGeoAdmin(LeafletGeoAdmin):
    """Every admin list and change page goes through the same selector as pages and API."""

    scope_selector: Callable[[Any, QuerySet], QuerySet] | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        selector = type(self).scope_selector
        return selector(request.user, qs) if selector else qs
