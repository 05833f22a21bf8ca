"""Report forms (staff and residents): field checks only; the services decide everything else."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib.gis.geos import Point
from django.utils.translation import gettext_lazy as _

from gridgov.core.errors import GridgovError
from gridgov.core.names import display_name

from .models import Category, Channel

PHONE = r"^\+?[0-9 -]{5,20}$"
# Where a service's error field is shown on the form.
FIELD_OF = {"location": "lon", "channel": "channel"}


def category_choices() -> list[tuple[str, Any]]:
    """Leaf categories grouped by their parent (what a report may be filed under)."""
    rows = list(Category.objects.filter(active=True).select_related("parent").order_by("order", "code"))
    parents = {c.parent_id for c in rows if c.parent_id}
    groups: dict[Any, list[tuple[str, str]]] = {}
    order: list[Any] = []
    for c in rows:
        if c.pk in parents:
            continue
        key = c.parent
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((c.code, display_name(c)))
    out: list[tuple[str, Any]] = [("", _("Choose a category"))]
    for parent in order:
        if parent is None:
            out.extend(groups[parent])
        else:
            out.append((display_name(parent), groups[parent]))
    return out


class ReportForm(forms.Form):
    """What a resident fills in on the public page."""

    uuid = forms.UUIDField(widget=forms.HiddenInput)
    category = forms.ChoiceField(label=_("Category"))
    description = forms.CharField(
        label=_("What is the problem?"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )
    lon = forms.FloatField(
        label=_("Longitude"),
        min_value=-180,
        max_value=180,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        error_messages={"required": _("Click the map or enter the coordinates.")},
    )
    lat = forms.FloatField(
        label=_("Latitude"),
        min_value=-90,
        max_value=90,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        error_messages={"required": _("Click the map or enter the coordinates.")},
    )
    address = forms.CharField(label=_("Address or landmark"), max_length=200, required=False)
    reporter_name = forms.CharField(label=_("Your name"), max_length=60, required=False)
    reporter_phone = forms.RegexField(
        label=_("Phone"),
        regex=PHONE,
        max_length=30,
        required=False,
        error_messages={"invalid": _("Digits only, 5 to 20 of them.")},
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    reporter_email = forms.EmailField(label=_("E-mail"), required=False)
    share_contact = forms.BooleanField(
        label=_("The department handling it may see my name and contact"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices()
        if not self.is_bound and "uuid" not in self.initial:
            self.initial["uuid"] = uuid.uuid4()

    def point(self) -> Point:
        return Point(self.cleaned_data["lon"], self.cleaned_data["lat"], srid=4326)

    def report_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of services.case_report that come from this form."""
        d = self.cleaned_data
        return {
            "category": d["category"],
            "description": d["description"],
            "location": self.point(),
            "uuid": d["uuid"],
            "address": d["address"],
            "reporter_name": d["reporter_name"],
            "reporter_phone": d["reporter_phone"],
            "reporter_email": d["reporter_email"],
            "share_contact": d["share_contact"],
        }

    def add_service_error(self, exc: GridgovError) -> None:
        """Show a service's error next to its field (or above the form)."""
        field = exc.params.get("field") or ""
        field = FIELD_OF.get(field, field)
        visible = field in self.fields and not self.fields[field].widget.is_hidden
        self.add_error(field if visible else None, exc.message)


class StaffReportForm(ReportForm):
    """What staff fill in: the same, plus the channel it came through (a hotline call, a patrol…)."""

    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[(c.value, c.label) for c in (Channel.PATROL, Channel.HOTLINE, Channel.DEPARTMENT)],
    )
    reporter_name = forms.CharField(label=_("Reporter's name"), max_length=60, required=False)
    share_contact = forms.BooleanField(
        label=_("The reporter agrees that departments see the contact"), required=False
    )
    description = forms.CharField(
        label=_("Description"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )

    field_order = [
        "uuid",
        "category",
        "description",
        "lon",
        "lat",
        "address",
        "channel",
        "reporter_name",
        "reporter_phone",
        "reporter_email",
        "share_contact",
    ]

    def report_kwargs(self) -> dict[str, Any]:
        kwargs = super().report_kwargs()
        kwargs["channel"] = self.cleaned_data["channel"]
        return kwargs
