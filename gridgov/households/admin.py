from typing import Any

from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from gridgov.accounts import scoping
from gridgov.core.admin_base import ScopedGeoAdmin

from .models import Household


@admin.register(Household)
class HouseholdAdmin(ScopedGeoAdmin):
    scope_selector = staticmethod(scoping.households)
    list_display = ("code", "address", "community", "area", "residents", "occupancy", "active")
    list_filter = ("occupancy", "active", "synthetic")
    search_fields = ("code", "address")
    autocomplete_fields = ("community", "building", "area")
    list_select_related = ("community", "area")

    # Deletions send no signal the rollups follow (a bulk delete would refresh once per household): the
    # households leave the visit compliance rollups first, in the same transaction.
    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        from gridgov.visits import rollups

        with transaction.atomic():
            rollups.forget([obj.pk])
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        from gridgov.visits import rollups

        with transaction.atomic():
            rollups.forget(queryset.values_list("id", flat=True))
            super().delete_queryset(request, queryset)
