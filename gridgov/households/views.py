"""Household ledger pages and CSV export, scoped like every other route."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import FloatField, Func, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render

from gridgov.accounts import scoping

from .importers import COLUMNS
from .masking import mask_personal, personal_fields
from .models import Household, KeyGroup


def _filtered(request: HttpRequest) -> QuerySet[Household]:
    qs = scoping.households(
        request.user, Household.objects.select_related("community", "building", "area", "area__member")
    )
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(address__icontains=q) | qs.filter(code__startswith=q)
    kg = request.GET.get("key_group")
    if kg in KeyGroup.values:
        qs = qs.filter(key_groups__contains=[kg])
    return qs.order_by("code")


@login_required
def household_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(_filtered(request), 50).get_page(request.GET.get("page"))
    pii = scoping.scope_of(request.user).pii
    rows = [(h, personal_fields(h, pii=pii)) for h in page]
    return render(
        request,
        "households/list.html",
        {
            "page": page,
            "rows": rows,
            "key_groups": KeyGroup.choices,
            "q": request.GET.get("q", ""),
            "key_group": request.GET.get("key_group", ""),
        },
    )


@login_required
def household_detail(request: HttpRequest, code: str) -> HttpResponse:
    household = get_object_or_404(scoping.households(request.user), code=code)
    pii = scoping.scope_of(request.user).pii
    return render(
        request,
        "households/detail.html",
        {
            "h": household,
            "personal": personal_fields(household, pii=pii),
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


# The export writes the import's columns, so an export can be edited and imported back.
EXPORT_COLUMNS = list(COLUMNS)
# ORM paths of the columns that live on related rows.
EXPORT_VALUES = [
    {"community_code": "community__code", "building_code": "building__code", "area_code": "area__code"}.get(
        c, c
    )
    for c in EXPORT_COLUMNS
]


@login_required
def household_export(request: HttpRequest) -> StreamingHttpResponse:
    """The scoped ledger as CSV (same columns as the import), streamed without building model objects."""
    pii = scoping.scope_of(request.user).pii
    writer = csv.writer(_Echo())
    qs = (
        _filtered(request)
        .annotate(
            lon=Func("point", function="ST_X", output_field=FloatField()),
            lat=Func("point", function="ST_Y", output_field=FloatField()),
        )
        .values_list(*EXPORT_VALUES)
    )

    def rows() -> Iterator[str]:
        yield "\ufeff" + writer.writerow(EXPORT_COLUMNS)  # BOM so Excel opens UTF-8 correctly
        for row in qs.iterator(chunk_size=5000):
            record = dict(zip(EXPORT_COLUMNS, row, strict=True))
            if not pii:
                record.update(mask_personal(record["head_name"], record["phone"], record["id_number"]))
            record["lon"], record["lat"] = f"{record['lon']:.6f}", f"{record['lat']:.6f}"
            record["key_groups"] = ";".join(record["key_groups"])
            record["active"] = int(record["active"])
            yield writer.writerow(["" if v is None else v for v in record.values()])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="households.csv"'
    return response
