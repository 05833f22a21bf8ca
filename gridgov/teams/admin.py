from django.contrib import admin

from gridgov.accounts import scoping
from gridgov.core.admin_base import ScopedGeoAdmin

from .models import Member


@admin.register(Member)
class MemberAdmin(ScopedGeoAdmin):
    scope_selector = staticmethod(scoping.members)
    list_display = ("name", "member_type", "community", "active", "user")
    list_filter = ("member_type", "active")
    search_fields = ("name", "phone")
    autocomplete_fields = ("community", "user")
