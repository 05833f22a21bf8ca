"""Administrators configure the loop here: categories and their limits, the state table, the calendar.

Cases themselves change only through the services (the timeline must tell every step), so the admin
shows them read-only.
"""

from django.contrib import admin

from . import selectors
from .models import CalendarDay, Case, CaseEvent, CaseState, CaseTransition, Category


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "parent",
        "level",
        "department",
        "sensitive",
        "file_minutes",
        "dispatch_minutes",
        "handle_minutes",
        "verify_minutes",
        "active",
    )
    list_filter = ("level", "sensitive", "active", "parent")
    search_fields = ("code", "name", "name_en")
    list_editable = ("active",)


class TransitionInline(admin.TabularInline):
    model = CaseTransition
    fk_name = "from_state"
    extra = 0


@admin.register(CaseState)
class CaseStateAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "step", "public_name", "order")
    inlines = [TransitionInline]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    """Next year's holidays and adjusted working weekends, once the State Council publishes them."""

    list_display = ("day", "workday", "note")
    list_filter = ("workday",)
    date_hierarchy = "day"


class EventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    can_delete = False
    fields = ("at", "actor_label", "action", "from_state", "to_state", "from_level", "to_level", "comment")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("reference", "category", "state", "level", "supervised", "deadline", "reported_at")
    list_filter = ("state", "level", "supervised", "channel", "category__parent")
    search_fields = ("description", "address", "node_code")
    list_select_related = ("category", "state")
    readonly_fields = [f.name for f in Case._meta.fields if f.name != "id"]
    inlines = [EventInline]
    date_hierarchy = "reported_at"

    def get_queryset(self, request):
        return selectors.visible_cases(request.user, super().get_queryset(request))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
