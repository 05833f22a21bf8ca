from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from gridgov.accounts import scoping
from gridgov.core.admin_base import ScopedGeoAdmin

from .models import Building, Community, District, Grid, ResponsibilityArea, Street

PARENT = {"street": "district", "community": "street", "grid": "community", "area": "grid"}
CHILDREN = {"district": "streets", "street": "communities", "community": "grids", "grid": "areas"}


class NodeForm(forms.ModelForm):
    """A node's code starts with its parent's and cannot change while nodes below carry it: the database
    refuses both (`households` migrations 0002, 0004); said here as the code's error, not a server error."""

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        node, code = self.instance, data.get("code")
        parent = data.get(PARENT.get(node.level, ""))
        if code and parent is not None and not code.startswith(parent.code):
            self.add_error(
                "code",
                ValidationError(
                    _("The code must start with the code of its parent, %(parent)s."),
                    params={"parent": parent},
                ),
            )
        if code and node.pk and node.level in CHILDREN:
            old = type(node).objects.filter(pk=node.pk).values_list("code", flat=True).first()
            below = getattr(node, CHILDREN[node.level]).exclude(code__startswith=code).count() if old else 0
            if old != code and below:
                self.add_error(
                    "code",
                    ValidationError(
                        _("%(count)d nodes below carry the code %(old)s: it cannot change while they do."),
                        params={"count": below, "old": old},
                    ),
                )
        return data


class NodeAdmin(ScopedGeoAdmin):
    form = NodeForm
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
