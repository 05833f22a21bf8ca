from django.contrib import admin

from .models import Department, OutboundMessage, RoutingRule


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "district", "active")
    search_fields = ("code", "name")


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """Which department a category goes to where (the most specific area-code prefix wins)."""

    list_display = ("category", "node_prefix", "department", "priority")
    list_filter = ("department", "category__parent")
    search_fields = ("node_prefix", "category__name", "department__name")
    autocomplete_fields = ("category", "department")


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "channel",
        "recipient",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("status", "channel")
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]

    def has_add_permission(self, request):
        return False
