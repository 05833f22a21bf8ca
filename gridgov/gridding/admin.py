from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from .models import Barrier, GriddingPlan


@admin.register(Barrier)
class BarrierAdmin(LeafletGeoAdmin):
    list_display = ("name", "kind")
    list_filter = ("kind",)
    search_fields = ("name",)


@admin.register(GriddingPlan)
class GriddingPlanAdmin(admin.ModelAdmin):
    """Plans are made and approved on the gridding pages; the admin only shows them."""

    list_display = ("id", "community", "status", "method", "created_at", "approved_at")
    list_filter = ("status", "method")
    readonly_fields = (
        "community",
        "status",
        "method",
        "based_on",
        "created_by",
        "approved_by",
        "approved_at",
        "config",
        "quality",
        "problems",
    )

    def has_add_permission(self, request):
        return False
