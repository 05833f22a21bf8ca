"""Upload page for administrators: boundaries and household ledgers, same services as the commands."""

from __future__ import annotations

from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from gridgov.core.errors import GridgovError, ImportRejected, ImportReport, Problem
from gridgov.households.importers import SUFFIXES as HOUSEHOLD_SUFFIXES
from gridgov.households.importers import import_households

from .importers import AUTO, MODELS, import_boundaries
from .importers import SUFFIXES as BOUNDARY_SUFFIXES
from .models import LEVELS

BOUNDARIES = "boundaries"
HOUSEHOLDS = "households"
MAX_PROBLEMS_SHOWN = 500  # a broken 40,000-row ledger must not produce a 40,000-row page


def _level_choices() -> list[tuple[str, Any]]:
    return [(lvl, MODELS[lvl]._meta.verbose_name) for lvl in LEVELS] + [
        (AUTO, _("by code length (several levels in one file)"))
    ]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What to import"),
        choices=[(BOUNDARIES, _("Boundaries")), (HOUSEHOLDS, _("Household ledger"))],
        widget=forms.RadioSelect,
        initial=BOUNDARIES,
    )
    file = forms.FileField(
        label=_("File"),
        help_text=_("Boundaries: GeoJSON, zipped Shapefile (.zip) or GeoPackage. Households: CSV or XLSX."),
    )
    level = forms.ChoiceField(label=_("Level"), choices=_level_choices, initial="community", required=False)
    code_field = forms.CharField(label=_("Code attribute"), initial="code", max_length=64, required=False)
    name_field = forms.CharField(label=_("Name attribute"), initial="name", max_length=64, required=False)
    name_en_field = forms.CharField(label=_("English name attribute"), max_length=64, required=False)
    gcj02 = forms.BooleanField(
        label=_("Coordinates are GCJ-02 (AutoNavi/Gaode, Tencent maps)"), required=False
    )
    srid = forms.IntegerField(
        label=_("EPSG code"),
        min_value=1,
        max_value=999_999,
        required=False,
        help_text=_("Only needed when the file has no coordinate system, e.g. 4490 for CGCS2000."),
    )
    dry_run = forms.BooleanField(
        label=_("Dry run: check and report, write nothing"), required=False, initial=True
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        kind = data.get("kind")
        if upload is None or kind is None:
            return data
        allowed = BOUNDARY_SUFFIXES if kind == BOUNDARIES else HOUSEHOLD_SUFFIXES
        if Path(upload.name).suffix.lower() not in allowed:
            self.add_error(
                "file", _("Use one of these file types: %(types)s.") % {"types": ", ".join(allowed)}
            )
        if kind == BOUNDARIES:
            if not data.get("level"):
                self.add_error("level", _("Choose the level of the boundaries."))
            data["code_field"] = data.get("code_field") or "code"
            data["name_field"] = data.get("name_field") or "name"
        return data


def _run(data: dict[str, Any], user: Any) -> ImportReport:
    """Copy the upload to a temporary file with its extension (GDAL picks the driver by it) and import."""
    upload = data["file"]
    suffix = Path(upload.name).suffix.lower()
    with NamedTemporaryFile(suffix=suffix) as tmp:
        for chunk in upload.chunks():
            tmp.write(chunk)
        tmp.flush()
        if data["kind"] == BOUNDARIES:
            return import_boundaries(
                tmp.name,
                level=data["level"],
                code_field=data["code_field"],
                name_field=data["name_field"],
                name_en_field=data.get("name_en_field") or None,
                gcj02=data["gcj02"],
                srid=data.get("srid"),
                dry_run=data["dry_run"],
                actor=user,
                source_name=upload.name,
            )
        return import_households(tmp.name, dry_run=data["dry_run"], actor=user, source_name=upload.name)


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    if not request.user.is_administrator:
        raise PermissionDenied
    report: ImportReport | None = None
    problems: list[Problem] = []
    warnings: list[Problem] = []
    error = ""
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                report = _run(form.cleaned_data, request.user)
            except ImportRejected as exc:
                problems, warnings = exc.problems, exc.warnings
            except GridgovError as exc:
                error = exc.message
    else:
        form = ImportForm()
    return render(
        request,
        "imports/upload.html",
        {
            "form": form,
            "report": report,
            "problems": problems,
            "problems_shown": problems[:MAX_PROBLEMS_SHOWN],
            "problems_hidden": max(0, len(problems) - MAX_PROBLEMS_SHOWN),
            "warnings": warnings[:MAX_PROBLEMS_SHOWN],
            "error": error,
        },
    )
