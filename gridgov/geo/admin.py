from django.contrib import admin

from gridgov.accounts import scoping
from gridgov.core.admin_base import BatchedDeletes, ScopedGeoAdmin

from .models import Building, Community, District, Grid, ResponsibilityArea, Street


class NodeAdmin(BatchedDeletes, ScopedGeoAdmin):
    scope_selector = staticmethod(scoping.visible_nodes)
    list_display = ("code", "name", "name_en", "synthetic")
    search_fields = ("code", "name", "name_en")
    list_filter = ("synthetic",)


admin.site.register(District, NodeAdmin)


@admin.register(Street)
class StreetAdmin(NodeAdmin):
    list_select_related = ("district",)
    autocomplete_fields = ("district",)


@admin.register(Community)
class CommunityAdmin(NodeAdmin):
    list_display = ("code", "name", "street", "gridded_at", "synthetic")
    autocomplete_fields = ("street",)


@admin.register(Grid)
class GridAdmin(NodeAdmin):
    list_display = ("code", "name", "community", "leader")
    autocomplete_fields = ("community", "leader")


@admin.register(ResponsibilityArea)
class AreaAdmin(NodeAdmin):
    list_display = ("code", "name", "grid", "member")
    autocomplete_fields = ("grid", "member")


@admin.register(Building)
class BuildingAdmin(ScopedGeoAdmin):
    scope_selector = staticmethod(scoping.buildings)
    list_display = ("code", "address", "community", "floors", "units", "synthetic")
    search_fields = ("code", "address", "name")
    autocomplete_fields = ("community",)
