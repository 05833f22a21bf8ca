from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import ApiKey


def _show_once(request: HttpRequest, key: ApiKey, raw: str) -> None:
    message = gettext(
        "The API key of {name} is {key} — copy it now: it is stored only as a hash and not shown again."
    )
    messages.warning(request, message.format(name=key.name, key=raw))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "active", "created_at", "last_used_at")
    list_filter = ("active",)
    search_fields = ("name", "prefix")
    fields = ("name", "active", "note", "prefix", "created_by", "created_at", "last_used_at")
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at")
    actions = ["replace_key"]

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        raw = None
        if not change:
            raw = obj.new_key()
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if raw:
            _show_once(request, obj, raw)

    @admin.action(description=_("Replace the key (the old one stops working)"))
    def replace_key(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            raw = key.new_key()
            key.save(update_fields=["prefix", "key_hash"])
            _show_once(request, key, raw)
