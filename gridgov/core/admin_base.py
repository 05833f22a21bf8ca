"""Admin base class: Leaflet map widgets (local assets) and querysets from the scoping layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest
from leaflet.admin import LeafletGeoAdmin


class ScopedGeoAdmin(LeafletGeoAdmin):
    """Every admin list and change page goes through the same selector as pages and API."""

    scope_selector: Callable[[Any, QuerySet], QuerySet] | None = None

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        selector = type(self).scope_selector
        return selector(request.user, qs) if selector else qs


class BatchedDeletes:
    """Admin deletions whose rows the visit rollups follow (members, areas, a grid with its areas): the
    upkeep of every row deleted collected and done once, in the deletion's transaction
    (`visits.signals.batched`), not once per row."""

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        from gridgov.visits.signals import batched

        with batched():
            super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        from gridgov.visits.signals import batched

        with batched() as batch:
            if getattr(queryset.model, "level", "") == "area":
                # every household of the areas locked first (id order), then the delta table
                from gridgov.households.models import Household

                batch.prepare(Household.objects.filter(area__in=queryset).values_list("id", flat=True))
            super().delete_queryset(request, queryset)  # type: ignore[misc]
