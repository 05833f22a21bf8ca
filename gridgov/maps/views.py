"""Home page per role, the map page and the map reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin

from gridgov.accounts import scoping
from gridgov.accounts.models import Role, User
from gridgov.cases.models import Category
from gridgov.core.names import display_name
from gridgov.geo.models import Building, Community, Grid, ResponsibilityArea, Street
from gridgov.households.models import Household, KeyGroup

from . import reports

LEVEL_NAMES = {
    "community": gettext_lazy("Communities"),
    "grid": gettext_lazy("Grids"),
    "area": gettext_lazy("Responsibility areas"),
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    scope = scoping.scope_of(user)
    households = scoping.households(user, Household.objects.filter(active=True))
    counts = {
        "streets": scoping.visible_nodes(user, Street.objects.all()).count(),
        "communities": scoping.visible_nodes(user, Community.objects.all()).count(),
        "grids": scoping.visible_nodes(user, Grid.objects.all()).count(),
        "areas": scoping.visible_nodes(user, ResponsibilityArea.objects.all()).count(),
        "buildings": scoping.buildings(user, Building.objects.all()).count(),
    }
    key_groups = []
    if scope.households:
        agg = households.aggregate(
            total=Count("id"),
            **{kg.value: Count("id", filter=Q(key_groups__contains=[kg.value])) for kg in KeyGroup},
        )
        counts["households"] = agg.pop("total")
        key_groups = [(KeyGroup(k).label, v) for k, v in agg.items() if v]
    return render(
        request,
        "maps/home.html",
        {
            "counts": counts,
            "key_groups": key_groups,
            "scope": scope,
            "role": Role(user.role).label if user.role in Role.values else "",
            "table": role_table(user),
            "orphans": households.filter(area__isnull=True).count() if scope.households else 0,
        },
    )


def role_table(user: User) -> dict[str, object] | None:
    """The one table each role's home page leads with (rows already scoped)."""
    active = Q(households__active=True)
    if user.role == Role.MEMBER and getattr(user, "member", None):
        rows = user.member.areas.select_related("grid").annotate(n=Count("households", filter=active))
        return {
            "title": _("My responsibility areas"),
            "head": [_("Area"), _("Grid"), _("Households")],
            "rows": [(a.name, a.grid.name, a.n) for a in rows.order_by("code")],
        }
    if user.role == Role.LEADER:
        rows = scoping.visible_nodes(
            user, ResponsibilityArea.objects.filter(code__startswith=user.scope_code)
        )
        rows = rows.select_related("member").annotate(n=Count("households", filter=active)).order_by("code")
        return {
            "title": _("Members of my grid"),
            "head": [_("Area"), _("Grid member"), _("Households")],
            "rows": [(a.name, a.member.name if a.member else _("unassigned"), a.n) for a in rows],
        }
    if user.role == Role.COMMUNITY:
        rows = (
            Grid.objects.filter(code__startswith=user.scope_code)
            .select_related("leader")
            .annotate(areas_n=Count("areas", distinct=True))
            .order_by("code")
        )
        return {
            "title": _("Grids of the community"),
            "head": [_("Grid"), _("Grid leader"), _("Areas")],
            "rows": [(g.name, g.leader.name if g.leader else "—", g.areas_n) for g in rows],
        }
    if user.role in (Role.STREET, Role.COORDINATOR, Role.ADMIN) or user.is_superuser:
        rows = scoping.visible_nodes(user, Community.objects.all())
        if user.scope_code:
            rows = rows.filter(code__startswith=user.scope_code)
        rows = rows.select_related("street").annotate(grids_n=Count("grids", distinct=True)).order_by("code")
        return {
            "title": _("Communities"),
            "head": [_("Community"), _("Street office"), _("Grids")],
            "rows": [(c.name, c.street.name, c.grids_n) for c in rows],
        }
    if user.role == Role.DEPARTMENT and user.department_id:
        return {
            "title": _("My department"),
            "head": [_("Department"), _("District")],
            "rows": [(user.department.name, user.department.district.name)],
        }
    return None


@login_required
def map_page(request: HttpRequest) -> HttpResponse:
    labels = {
        "streets": str(_("Street offices")),
        "communities": str(_("Communities")),
        "grids": str(_("Grids")),
        "areas": str(_("Responsibility areas")),
        "buildings": str(_("Buildings")),
        "households": str(_("households")),
        "member": str(_("Member")),
        "leader": str(_("Grid leader")),
        "loaded": str(_("Loaded.")),
        "failed": str(_("Could not load map data.")),
        "zoom_buildings": str(_("Zoom in to see buildings.")),
        "zoom_in": str(_("Zoom in to see grids and responsibility areas.")),
        "none": str(_("none")),
    }
    return render(
        request, "maps/map.html", {"map_labels": labels, "all_up_to": settings.GRIDGOV_MAP_ALL_UP_TO}
    )


# --- map reports (folium) ---------------------------------------------------------------------------------


def _date(request: HttpRequest, name: str) -> date | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise reports.ReportError(name, _("Enter a date as YYYY-MM-DD.")) from exc


def _report_response(
    request: HttpRequest, make: Callable[[bool], reports.Report], filename: str
) -> HttpResponse:
    download = request.GET.get("download") == "1"
    try:
        report = make(download)
    except reports.ReportError as exc:
        status = 403 if exc.field == "report" else 400
        return JsonResponse({exc.field: [str(exc)]}, status=status)
    response = HttpResponse(report.html, content_type="text/html; charset=utf-8")
    if download:
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@xframe_options_sameorigin  # previewed in the reports page's frame
@login_required
def coverage_report(request: HttpRequest) -> HttpResponse:
    """Visit coverage map (`?day=&level=community|grid|area&download=1`)."""

    def make(standalone: bool) -> reports.Report:
        return reports.coverage(
            request.user,
            day=_date(request, "day"),
            level=request.GET.get("level") or None,
            standalone=standalone,
        )

    day = request.GET.get("day") or timezone.localdate().isoformat()
    return _report_response(request, make, f"visit-coverage-{request.user.scope_code or 'all'}-{day}.html")


@xframe_options_sameorigin
@login_required
def cases_report(request: HttpRequest) -> HttpResponse:
    """Issue heatmap (`?since=&until=&category=&open=1&download=1`)."""

    def make(standalone: bool) -> reports.Report:
        return reports.cases_heatmap(
            request.user,
            since=_date(request, "since"),
            until=_date(request, "until"),
            category=request.GET.get("category", "").strip(),
            open_only=request.GET.get("open") == "1",
            standalone=standalone,
        )

    until = request.GET.get("until") or timezone.localdate().isoformat()
    return _report_response(request, make, f"issues-{request.user.scope_code or 'all'}-{until}.html")


@login_required
def reports_page(request: HttpRequest) -> HttpResponse:
    """Choose a map report, preview it, download it as one self-contained HTML file."""
    user = request.user
    sees_households = scoping.scope_of(user).households
    # (code, name in the user's language, leaves as (code, name)): the names were Chinese on English pages
    categories = [
        (c.code, display_name(c), [(leaf.code, display_name(leaf)) for leaf in c.children.all()])
        for c in Category.objects.filter(parent=None).order_by("order").prefetch_related("children")
    ]
    return render(
        request,
        "maps/reports.html",
        {
            "sees_households": sees_households,
            "levels": [(k, str(LEVEL_NAMES[k])) for k in reports.LEVELS],
            "default_level": reports.default_level(user) if sees_households else "",
            "categories": categories,
            "today": timezone.localdate().isoformat(),
        },
    )
