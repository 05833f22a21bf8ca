from django.contrib import admin

from gridgov.accounts import scoping

from .models import Visit, VisitPolicy


@admin.register(VisitPolicy)
class VisitPolicyAdmin(admin.ModelAdmin):
    """Administrators edit the policies: they are data, not code."""

    list_display = ("name", "key_group", "period", "visits_per_period", "active")
    list_filter = ("period", "active")


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = ("device_time", "household", "member", "channel", "review", "counted")
    list_filter = ("channel", "review", "counted")
    search_fields = ("household__code", "household__address")
    readonly_fields = [f.name for f in Visit._meta.fields]
    list_select_related = ("household", "member")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(household__in=scoping.households(request.user))

    def has_add_permission(self, request):  # visits come from members' phones
        return False

    def has_delete_permission(self, request, obj=None):
        """A visit is a record of work done: it is never deleted (a leader rejects a wrong one in the
        review queue). Deleting a counted visit here would also leave the compliance rollups counting it."""
        return False
