from django.contrib import admin

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
