"""Issue pages: the scoped list with its map, the staff report form, the case page with one form per
allowed action, the coordinators' dispatch console, the department inbox and the monitoring page; and,
without login, the residents' report form and tracking page.

Views are thin: every write is one call into `services` (a `GridgovError` is shown next to its field and
nothing is written), every read goes through `selectors` (always scoped) and `presenters`.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.gis.db.models import GeometryField
from django.contrib.gis.db.models.functions import AsGeoJSON
from django.core.exceptions import PermissionDenied
from django.db.models import Func, Value
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gridgov.accounts.models import Role, acting_role
from gridgov.core.cache import get_or_make
from gridgov.core.errors import GridgovError
from gridgov.core.files import private_file
from gridgov.core.names import display_name
from gridgov.core.pagination import QuickPage
from gridgov.core.ratelimit import allow, client_address
from gridgov.dispatch.models import Department, Notification
from gridgov.geo.models import Community

from . import presenters, selectors, services
from .apis import DEFAULT_CHANNEL
from .forms import ReportForm, StaffReportForm
from .models import Case, CaseState, CaseTransition, Category, Channel, Extension, Level, StateKind

PAGE_SIZE = 50
LIGHT_NAMES = {
    "green": gettext_lazy("on time"),
    "yellow": gettext_lazy("due soon"),
    "red": gettext_lazy("overdue"),
}
# Extra time a handler may ask for, in working minutes (a working day is 420).
EXTENSION_CHOICES = [
    (60, gettext_lazy("1 working hour")),
    (120, gettext_lazy("2 working hours")),
    (210, gettext_lazy("half a working day")),
    (420, gettext_lazy("1 working day")),
    (840, gettext_lazy("2 working days")),
    (1260, gettext_lazy("3 working days")),
    (2100, gettext_lazy("5 working days")),
    (4200, gettext_lazy("10 working days")),
]
# Actions outside the state table that need a reason (the state table says it for the others).
REASON_REQUIRED = {"supervise", "note", "extend"}
# Actions shown as a secondary (less prominent) button.
SECONDARY = {"decline", "return", "verify_fail", "send_back", "escalate", "refer", "note", "supervise"}


# --- helpers ------------------------------------------------------------------------------------------


def roles_required(*roles: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Login required, then one of `roles` (administrators always); anyone else gets 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if acting_role(request.user) not in {*roles, Role.ADMIN}:
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _dt(value: str | None) -> Any:
    return parse_datetime(value) if value else None


def _cases(user: Any) -> Any:
    return selectors.visible_cases(user).select_related(
        "category", "state", "lead_department", "merged_into", "district"
    )


def _get_case(request: HttpRequest, pk: Any) -> Case:
    return get_object_or_404(_cases(request.user), uuid=pk)


@login_required
def case_photo_file(request: HttpRequest, pk: Any, photo: int) -> HttpResponse:
    """A photo of an issue the user may see (uploads are never public)."""
    case = _get_case(request, pk)
    return private_file(get_object_or_404(case.photos, pk=photo).image)


def _rows(cases: Iterable[Case], user: Any) -> list[dict[str, Any]]:
    """The presenters' summaries with what the templates need besides (datetimes, links)."""
    out = []
    for c in cases:
        row = presenters.case_summary(c, user)
        row["deadline_at"] = c.deadline
        row["reported"] = c.reported_at
        row["url"] = reverse("cases:detail", args=[c.uuid])
        row["light_name"] = LIGHT_NAMES.get(row["light"], "")
        row["case"] = c
        out.append(row)
    return out


def _points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Markers for the map of a list."""
    return [
        {
            "x": r["lon"],
            "y": r["lat"],
            "light": r["light"],
            "ref": r["reference"],
            "title": f"{r['reference']} · {r['category']['name']} · {r['state']['name']}",
            "url": r["url"],
        }
        for r in rows
    ]


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _map_context() -> dict[str, Any]:
    center = settings.LEAFLET_CONFIG.get("DEFAULT_CENTER", (22.58, 114.26))
    return {
        "basemap": settings.BASEMAP_URL,
        "attribution": settings.BASEMAP_ATTRIBUTION,
        "center": f"{center[0]},{center[1]}",
        "outlines": reverse("public:outlines"),
    }


def _service_error(exc: GridgovError, fields: Iterable[str] = ()) -> dict[str, str]:
    """A service error as {field: message}; '' for messages that belong above the form."""
    field = exc.params.get("field") or ""
    field = {"reason": "comment"}.get(field, field)
    return {field if field in fields else "": exc.message}


# --- the list -----------------------------------------------------------------------------------------


def _filters(query: Any) -> dict[str, str]:
    """Only values the list understands (a bad level must not reach the database as an integer)."""
    f = {
        "state": query.get("state", ""),
        "open": "1" if query.get("open") in {"1", "true", "on"} else "",
        "level": query.get("level", ""),
        "category": query.get("category", ""),
        "light": query.get("light", ""),
        "supervised": "1" if query.get("supervised") in {"1", "true", "on"} else "",
    }
    if _int(f["level"]) not in Level.values:
        f["level"] = ""
    if f["light"] not in selectors.LIGHTS:
        f["light"] = ""
    return f


def _category_filter_choices() -> list[tuple[str, str]]:
    rows = list(Category.objects.filter(active=True).select_related("parent").order_by("order", "code"))
    out = []
    for top in (c for c in rows if c.parent_id is None):
        out.append((top.code, display_name(top)))
        out.extend((c.code, f"— {display_name(c)}") for c in rows if c.parent_id == top.pk)
    return out


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    f = _filters(request.GET)
    qs = selectors.case_list(request.user, filters=f)
    page = QuickPage(qs, PAGE_SIZE, request.GET.get("page"))
    rows = _rows(page.object_list, request.user)
    return render(
        request,
        "cases/list.html",
        {
            "rows": rows,
            "page": page,
            "f": f,
            "query": urlencode({k: v for k, v in f.items() if v}),
            "states": [(s.code, display_name(s)) for s in CaseState.objects.order_by("order")],
            "levels": [(str(v), label) for v, label in Level.choices],
            "lights": list(LIGHT_NAMES.items()),
            "categories": _category_filter_choices(),
            "points": _points(rows),
            "map": _map_context(),
        },
    )


# --- staff report -------------------------------------------------------------------------------------


@login_required
def case_new(request: HttpRequest) -> HttpResponse:
    user = request.user
    status = 200
    if request.method == "POST":
        form = StaffReportForm(request.POST)
        if form.is_valid():
            try:
                case, created = services.case_report(actor=user, **form.report_kwargs())
            except GridgovError as exc:
                form.add_service_error(exc)
            else:
                # A repeated form (double click, reload) leads to the first report: the service hands
                # it back only to the same reporter with the same text.
                if _cases(user).filter(pk=case.pk).exists():
                    if created:
                        messages.success(request, _("Reported as {ref}.").format(ref=case.reference))
                    return redirect("cases:detail", pk=case.uuid)
                else:
                    messages.success(
                        request,
                        _("Reported as {ref}; it is outside your scope and was passed on.").format(
                            ref=case.reference
                        ),
                    )
                    return redirect("cases:new")
        status = 400
    else:
        initial = {"channel": DEFAULT_CHANNEL.get(acting_role(user), Channel.HOTLINE), **_from_visit(request)}
        form = StaffReportForm(initial=initial)
    return render(request, "cases/new.html", {"form": form, "map": _map_context()}, status=status)


def _from_visit(request: HttpRequest) -> dict[str, Any]:
    """The form filled in from a visit (`?uuid=&lon=&lat=&address=`, the member's visits page): the id the
    visit carries as its `issue_ref`, so that the issue and the visit are linked, and the household's place.
    What does not parse is left out."""
    out: dict[str, Any] = {}
    try:
        out["uuid"] = uuidlib.UUID(request.GET["uuid"])
    except (KeyError, ValueError):
        return out
    try:
        lon, lat = float(request.GET["lon"]), float(request.GET["lat"])
    except (KeyError, ValueError):
        pass
    else:
        if -180 <= lon <= 180 and -90 <= lat <= 90:
            out.update(lon=lon, lat=lat)
    out["address"] = request.GET.get("address", "")[:200]
    return out


# --- the case page ------------------------------------------------------------------------------------


def _may_decide_extensions(case: Case, user: Any) -> bool:
    """Mirrors services.decide_extension: coordinators, administrators, and the level above the case."""
    deciders = {Role.COORDINATOR, Role.ADMIN}
    if case.level < Level.DISTRICT:
        deciders |= {r for r, lvl in services.ROLE_LEVEL.items() if lvl == case.level + 1}
    return acting_role(user) in deciders


def _action_forms(case: Case, actions: list[str], failed: dict[str, Any] | None) -> list[dict[str, Any]]:
    needs = dict(
        CaseTransition.objects.filter(from_state=case.state_id).values_list("action", "needs_comment")
    )
    forms = []
    for code in actions:
        form: dict[str, Any] = {
            "code": code,
            "label": services.action_label(code),
            "needs_comment": needs.get(code, code in REASON_REQUIRED),
            "secondary": code in SECONDARY,
            "errors": {},
            "error": "",
            "values": {},
            "failed": False,
        }
        if failed and failed["action"] == code:
            form.update(
                errors=failed["errors"],
                error=failed["errors"].get("", ""),
                values=failed["values"],
                failed=True,
            )
        forms.append(form)
    return forms


def _case_page(
    request: HttpRequest, case: Case, *, failed: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    detail = presenters.case_detail(case, user)
    duplicates = presenters.duplicates_of(case, user)
    for d in duplicates:
        d["url"] = reverse("cases:detail", args=[d["id"]])
        d["light_name"] = LIGHT_NAMES.get(d["light"], "")
    states = {s.code: display_name(s) for s in CaseState.objects.all()}
    levels = dict(Level.choices)
    for e in detail["timeline"]:
        e["at_dt"] = _dt(e["at"])
        e["from_state_name"] = states.get(e["from_state"], e["from_state"])
        e["to_state_name"] = states.get(e["to_state"], e["to_state"])
        e["from_level_name"] = levels.get(e["from_level"], "")
        e["to_level_name"] = levels.get(e["to_level"], "")
    for x in detail["extensions"]:
        x["requested"] = _dt(x["requested_at"])
    forms = _action_forms(case, detail["actions"], failed)
    merge = next((f for f in forms if f["code"] == "merge"), None)
    forms = [f for f in forms if f["code"] != "merge"]
    departments = list(Department.objects.filter(active=True, district_id=case.district_id).order_by("code"))
    suggested = services.suggest_department(case) if "dispatch" in detail["actions"] else None
    failed_decide = failed if failed and failed["action"] == "decide" else None
    context = {
        "case": detail,
        "obj": case,
        "light_name": LIGHT_NAMES.get(detail["light"], ""),
        "deadline_at": case.deadline,
        "reported": case.reported_at,
        "closed": case.closed_at,
        "forms": forms,
        "merge": merge,
        "duplicates": duplicates,
        "departments": [(d.code, display_name(d)) for d in departments],
        "suggested": suggested.code if suggested else "",
        "file_levels": [(v, label) for v, label in Level.choices if v >= case.level],
        "file_default": max(case.level, case.category.level),
        "extension_choices": EXTENSION_CHOICES,
        "pending": [x for x in detail["extensions"] if x["approved"] is None],
        "may_decide": _may_decide_extensions(case, user),
        "decide_error": failed_decide["errors"].get("", "") if failed_decide else "",
        "tracking_url": (
            request.build_absolute_uri(reverse("public:track", args=[detail["token"]]))
            if detail["token"]
            else ""
        ),
        "state_name": display_name(case.state),
        "category_name": display_name(case.category),
        "merged_into_url": reverse("cases:detail", args=[detail["merged_into"]])
        if detail["merged_into"]
        else "",
        "point": {"x": detail["lon"], "y": detail["lat"], "light": detail["light"]},
        "map": _map_context(),
        "photo_api": reverse("case-photo", args=[case.uuid]),
        "open": case.state.kind == StateKind.OPEN,
    }
    return render(request, "cases/detail.html", context, status=status)


@login_required
def case_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    return _case_page(request, _get_case(request, pk))


def _department(code: str, field: str) -> Department | None:
    if not code:
        return None
    found = Department.objects.filter(active=True, code=code).first()
    if found is None:
        raise services.invalid(_("Unknown department."), field)
    return found


def _into(user: Any, value: str) -> Case:
    """The issue to merge into, by its id or its reference number (20261124-1042)."""
    value = (value or "").strip()
    qs = selectors.visible_cases(user).select_related("state")
    found = None
    pk = Case.id_in_reference(value)
    if pk is not None:
        found = next((c for c in qs.filter(pk=pk) if c.reference == value), None)  # the date must match too
    else:
        try:
            found = qs.filter(uuid=uuidlib.UUID(value)).first()
        except ValueError:
            found = None
    if found is None:
        raise services.invalid(_("No such issue in your scope."), "into")
    return found


def _perform(request: HttpRequest, case: Case, action: str) -> None:
    user, post = request.user, request.POST
    assisting = []
    for code in post.getlist("assisting_departments"):
        dept = _department(code, "assisting_departments")
        if dept is not None:
            assisting.append(dept)
    services.perform(
        case,
        action,
        actor=user,
        comment=post.get("comment", ""),
        expected_version=_int(post.get("version")),
        level=_int(post.get("level")),
        public=post.get("public") == "1",
        satisfaction=_int(post.get("satisfaction")),
        minutes=_int(post.get("minutes")),
        lead_department=_department(post.get("lead_department", ""), "lead_department"),
        assisting=assisting,
        into=_into(user, post.get("into", "")) if action == "merge" else None,
    )


ACTION_FIELDS = (
    "comment",
    "level",
    "lead_department",
    "assisting_departments",
    "into",
    "satisfaction",
    "minutes",
)


@login_required
@require_POST
def case_action(request: HttpRequest, pk: Any, action: str) -> HttpResponse:
    case = _get_case(request, pk)
    try:
        _perform(request, case, action)
    except GridgovError as exc:
        failed = {
            "action": action,
            "errors": _service_error(exc, ACTION_FIELDS),
            "values": {k: request.POST.get(k, "") for k in ACTION_FIELDS},
        }
        if action not in services.allowed_actions(case, request.user):
            messages.error(request, exc.message)
        return _case_page(request, _get_case(request, pk), failed=failed, status=exc.http_status)
    messages.success(request, _("Done: {action}.").format(action=services.action_label(action)))
    target = _next_url(request)
    if target:
        return redirect(target)
    if _cases(request.user).filter(pk=case.pk).exists():
        return redirect("cases:detail", pk=case.uuid)
    return redirect("cases:inbox" if acting_role(request.user) == Role.DEPARTMENT else "cases:list")


@login_required
@require_POST
def extension_decide(request: HttpRequest, pk: int) -> HttpResponse:
    ext = get_object_or_404(
        Extension.objects.filter(case__in=selectors.visible_cases(request.user)).select_related("case"), pk=pk
    )
    approve = request.POST.get("approve") == "1"
    try:
        services.decide_extension(ext, actor=request.user, approve=approve, note=request.POST.get("note", ""))
    except GridgovError as exc:
        failed = {"action": "decide", "errors": {"": exc.message}, "values": {}}
        return _case_page(request, _get_case(request, ext.case.uuid), failed=failed, status=exc.http_status)
    messages.success(request, _("Extension approved.") if approve else _("Extension refused."))
    return redirect("cases:detail", pk=ext.case.uuid)


# --- the dispatch console -----------------------------------------------------------------------------


def _console_page(
    request: HttpRequest,
    *,
    errors: dict[str, str] | None = None,
    selected: Iterable[str] = (),
    chosen: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    page = QuickPage(selectors.console(user), PAGE_SIZE, request.GET.get("page"))
    cases = list(page.object_list)
    suggested = selectors.suggestions(cases)
    twins = selectors.duplicate_counts(cases)
    rows = _rows(cases, user)
    for row, c in zip(rows, cases, strict=True):
        dept = suggested.get(c.pk)
        row["suggested"] = {"code": dept.code, "name": display_name(dept)} if dept else None
        row["twins"] = twins.get(c.pk, 0)
        row["place"] = display_name(c.community or c.street)
        row["returned"] = c.returned_at is not None
    workload = selectors.console_summary(user)["workload"]
    english = (get_language() or "").startswith("en")
    for w in workload:
        w["label"] = (w["name_en"] if english else "") or w["name"]
    return render(
        request,
        "cases/console.html",
        {
            "rows": rows,
            "page": page,
            "workload": workload,
            "errors": errors or {},
            "selected": set(selected),
            "chosen": chosen,
            "points": _points(rows),
            "map": _map_context(),
        },
        status=status,
    )


@roles_required(Role.COORDINATOR)
def console(request: HttpRequest) -> HttpResponse:
    return _console_page(request)


@roles_required(Role.COORDINATOR)
@require_POST
def console_dispatch(request: HttpRequest) -> HttpResponse:
    """Dispatch the ticked issues to one lead department, all or nothing."""
    user = request.user
    ticked = request.POST.getlist("cases")
    code = request.POST.get("lead_department", "")
    errors: dict[str, str] = {}
    wanted = []
    for value in ticked:
        try:
            wanted.append(uuidlib.UUID(value))
        except ValueError:
            continue
    if not wanted:
        errors["cases"] = _("Tick at least one issue.")
    dept = Department.objects.filter(active=True, code=code).first() if code else None
    if dept is None:
        errors["lead_department"] = _("Choose the lead department.")
    visible = {c.uuid: c for c in selectors.visible_cases(user).filter(uuid__in=wanted)}
    if len(visible) < len(set(wanted)):
        errors["cases"] = _("Some ticked issues are outside your scope.")
    if not errors:
        try:
            done = services.bulk_dispatch([visible[u] for u in wanted], actor=user, lead_department=dept)
        except GridgovError as exc:
            errors = _service_error(exc, ("lead_department",))
            status = exc.http_status
        else:
            messages.success(
                request,
                ngettext(
                    "%(n)d issue dispatched to %(dept)s.", "%(n)d issues dispatched to %(dept)s.", len(done)
                )
                % {"n": len(done), "dept": display_name(dept)},
            )
            return redirect("cases:console")
    else:
        status = 400
    return _console_page(request, errors=errors, selected=ticked, chosen=code, status=status)


# --- the department inbox -----------------------------------------------------------------------------


@roles_required(Role.DEPARTMENT)
def inbox(request: HttpRequest) -> HttpResponse:
    user = request.user
    page = QuickPage(selectors.inbox(user), PAGE_SIZE, request.GET.get("page"))
    rows = _rows(page.object_list, user)
    admin = acting_role(user) == Role.ADMIN
    for row in rows:
        row["lead"] = admin or row["case"].lead_department_id == user.department_id
    metrics = selectors.department_metrics(user)
    for m in metrics:
        m["on_time_pct"] = None if m["on_time_rate"] is None else round(100 * m["on_time_rate"])
        m["return_pct"] = None if m["return_rate"] is None else round(100 * m["return_rate"])
    return render(
        request,
        "cases/inbox.html",
        {
            "to_sign": [r for r in rows if r["state"]["code"] == "dispatched"],
            "in_hand": [r for r in rows if r["state"]["code"] != "dispatched"],
            "page": page,
            "metrics": metrics,
            "department": user.department if user.department_id else None,
        },
    )


# --- monitoring ---------------------------------------------------------------------------------------


def monitor_labels() -> dict[str, Any]:
    """Names the monitoring page's script needs to draw the API's codes."""
    return {
        "levels": {str(v): str(label) for v, label in Level.choices},
        "categories": {
            c.code: display_name(c) for c in Category.objects.filter(parent__isnull=True).order_by("order")
        },
        "none": _("none"),
        "no_department": _("not dispatched"),
        "updated": _("Updated"),
        "failed": _("Could not refresh; retrying in a minute."),
        "english": (get_language() or "").startswith("en"),
    }


def _monitor_rows(data: dict[str, Any], labels: dict[str, Any]) -> dict[str, list[tuple[str, int]]]:
    english = labels["english"]
    return {
        "by_state": [
            ((r["state__name_en"] if english else "") or r["state__name"], r["n"]) for r in data["by_state"]
        ],
        "by_level": [(labels["levels"].get(str(r["level"]), r["level"]), r["n"]) for r in data["by_level"]],
        "by_category": [(labels["categories"].get(r["top"], r["top"]), r["n"]) for r in data["by_category"]],
        "by_department": [
            (r["lead_department__name"] or labels["no_department"], r["n"]) for r in data["by_department"]
        ],
    }


@roles_required(Role.STREET, Role.COORDINATOR)
def monitor(request: HttpRequest) -> HttpResponse:
    data = selectors.monitoring(request.user)
    labels = monitor_labels()
    rate = data["on_time_rate"]
    groups = _monitor_rows(data, labels)
    titles = {
        "by_state": _("By state"),
        "by_level": _("By level"),
        "by_category": _("By category"),
        "by_department": _("By lead department"),
    }
    return render(
        request,
        "cases/monitor.html",
        {
            "m": data,
            "tables": [(key, title, groups[key]) for key, title in titles.items()],
            "on_time_pct": None if rate is None else round(100 * rate),
            "labels": labels,
            "api": reverse("case-monitoring"),
        },
    )


# --- residents (no login) -----------------------------------------------------------------------------


def public_outlines(request: HttpRequest) -> JsonResponse:
    """Community outlines (simplified, names only) so that a resident can find the place on the map."""
    english = (get_language() or "").startswith("en")

    def outlines() -> dict[str, Any]:
        simplified = Func(
            "boundary", Value(0.0002), function="ST_SimplifyPreserveTopology", output_field=GeometryField()
        )
        rows = (
            Community.objects.exclude(boundary=None)
            .annotate(geojson=AsGeoJSON(simplified, precision=5))
            .values_list("name", "name_en", "geojson")
        )
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"name": (name_en if english else "") or name},
                    "geometry": json.loads(geojson),
                }
                for name, name_en, geojson in rows
            ],
        }

    data = get_or_make(f"cases:outlines:{get_language()}", 600, outlines)
    response = JsonResponse(data)
    response["Cache-Control"] = "public, max-age=600"
    return response


def public_report(request: HttpRequest) -> HttpResponse:
    """The residents' form: no login, limited per client address (the same count as the API's)."""
    status = 200
    if request.method == "POST":
        if not allow(f"public-report:{client_address(request)}", settings.GRIDGOV_CASE_RULES["public_rate"]):
            return render(request, "cases/public_limited.html", status=429)
        form = ReportForm(request.POST)
        if form.is_valid():
            try:
                case, _created = services.case_report(channel=Channel.WEB, **form.report_kwargs())
            except GridgovError as exc:
                form.add_service_error(exc)
            else:
                # A repeated form (double click, reload) leads to the first report, and only to it:
                # the service refuses an id used by a different report.
                return redirect(f"{reverse('public:track', args=[case.token])}?new=1")
        status = 400
    else:
        form = ReportForm()
    return render(request, "cases/public_report.html", {"form": form, "map": _map_context()}, status=status)


def track(request: HttpRequest, token: str) -> HttpResponse:
    """What a resident sees by the tracking link: status, public notes, the expected date, evaluation."""
    case = get_object_or_404(
        Case.objects.select_related("state", "category", "merged_into__state"), token=token
    )
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("satisfaction", "comment")}
        try:
            services.evaluate(case, satisfaction=_int(values["satisfaction"]) or 0, comment=values["comment"])
        except GridgovError as exc:
            errors = _service_error(exc, ("satisfaction", "comment"))
            status = exc.http_status
        else:
            messages.success(request, _("Thank you for your evaluation."))
            return redirect("public:track", token=token)
    view = presenters.public_view(case)
    for n in view["notes"]:
        n["at_dt"] = _dt(n["at"])
    return render(
        request,
        "cases/track.html",
        {
            "v": view,
            "reported": _dt(view["reported_at"]),
            "expected": _dt(view["expected_at"]),
            "closed": _dt(view["closed_at"]),
            "new": request.GET.get("new") == "1",
            "link": request.build_absolute_uri(reverse("public:track", args=[token])),
            "errors": errors,
            "values": values,
            "scores": [5, 4, 3, 2, 1],
        },
        status=status,
    )


# --- notifications ------------------------------------------------------------------------------------


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """The user's notices, newest first; POST marks them all read."""
    mine = Notification.objects.filter(user=request.user)
    if request.method == "POST":
        mine.filter(read_at__isnull=True).update(read_at=timezone.now())
        return redirect("cases:notifications")
    rows = list(mine.select_related("case")[:100])
    return render(request, "cases/notifications.html", {"rows": rows})
