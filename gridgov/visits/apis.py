"""Visit API: log one visit, sync a batch from a phone, the member's households with due dates,
and the grid leader's review queue."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from rest_framework import status
from rest_framework.authentication import CSRFCheck
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from gridgov.accounts import scoping
from gridgov.core.errors import GridgovError
from gridgov.core.fastjson import FastJSONRenderer
from gridgov.core.files import image_kind
from gridgov.geo.models import ResponsibilityArea

from . import dashboards, selectors, services


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def visit_create(request: Request) -> Response:
    """One visit (the same checks as a batch of one)."""
    result = services.record_visits([request.data], actor=request.user)[0]
    if result.status == "error":
        return Response(result.errors, status=status.HTTP_400_BAD_REQUEST)
    code = status.HTTP_201_CREATED if result.status == "created" else status.HTTP_200_OK
    return Response(result.as_dict(), status=code)


def _sync(data: Any, user: Any) -> tuple[int, dict[str, Any]]:
    """A batch: {"visits": [...]}; per-item results; retrying the same batch creates nothing twice.
    (status, answer)."""
    visits = data.get("visits") if isinstance(data, dict) else None
    limit = services.rules()["max_batch"]
    if not isinstance(visits, list):
        return status.HTTP_400_BAD_REQUEST, {"visits": [_("A list of visits is required.")]}
    if len(visits) > limit:
        return status.HTTP_400_BAD_REQUEST, {
            "visits": [_("At most {limit} visits per batch.").format(limit=limit)]
        }
    results = services.record_visits(visits, actor=user)
    return status.HTTP_200_OK, {
        "received": len(visits),
        "created": sum(r.status == "created" for r in results),
        "exists": sum(r.status == "exists" for r in results),
        "errors": sum(r.status == "error" for r in results),
        "results": [r.as_dict() for r in results],
    }


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def visit_sync_drf(request: Request) -> Response:
    """A batch through DRF: every request the direct path below does not take."""
    code, answer = _sync(request.data, request.user)
    return Response(answer, status=code)


_csrf = CSRFCheck(lambda request: None)  # the check DRF's session authentication makes (stateless)
_ALLOW = ", ".join(visit_sync_drf.cls().allowed_methods)


@csrf_exempt  # checked below, as DRF checks it
def visit_sync(request: HttpRequest) -> HttpResponse:
    """A batch (see `_sync`). The common request, a logged-in phone's JSON POST, is answered directly,
    without DRF's request, negotiation, authentication and response objects (~0.1 ms of CPU of a 20-visit
    batch's ~1.5 ms in Django, measured in-process against the same view through DRF). It gets what DRF
    gives it: the session user (active, as DRF's session authentication requires), the same CSRF check (a
    failure is DRF's 403 with its message), orjson's parse (a failure is DRF's 400), the same answer and
    headers. Anything else (another method or content type, HTTP Basic credentials, an Accept or a query
    string DRF would negotiate, no session user, no body) goes through DRF as before."""
    meta = request.META
    if (
        request.method != "POST"
        or request.content_type != "application/json"
        or request.content_params.get("charset", "utf-8").lower() not in ("utf-8", "utf8")
        or "HTTP_AUTHORIZATION" in meta
        or meta.get("QUERY_STRING")
        or not int(meta.get("CONTENT_LENGTH") or 0)
        or meta.get("HTTP_ACCEPT", "*/*") not in ("*/*", "application/json")
        or not request.user.is_authenticated
        or not request.user.is_active
    ):
        return visit_sync_drf(request)
    _csrf.process_request(request)  # as DRF: puts the CSRF cookie in META for the check
    reason = _csrf.process_view(request, None, (), {})
    if reason:
        code, answer = status.HTTP_403_FORBIDDEN, {"detail": f"CSRF Failed: {reason}"}
    else:
        try:
            data = orjson.loads(request.body)
        except ValueError as exc:  # orjson.JSONDecodeError, as FastJSONParser reports it
            code, answer = status.HTTP_400_BAD_REQUEST, {"detail": f"JSON parse error - {exc}"}
        else:
            try:
                code, answer = _sync(data, request.user)
            except (GridgovError, APIException):  # rolled back: DRF answers it in its own format
                return visit_sync_drf(request)
    response = HttpResponse(FastJSONRenderer().render(answer), status=code, content_type="application/json")
    response["Allow"] = _ALLOW
    return response


# The schema (drf-spectacular) describes the endpoint from DRF's view.
visit_sync.cls, visit_sync.initkwargs = visit_sync_drf.cls, visit_sync_drf.initkwargs  # type: ignore[attr-defined]


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def my_households(request: Request) -> Response:
    """The user's households with their policy, last counted visit, status and next due date. `user` names
    whose list it is: the phone's cached copy is shown only to that user."""
    return Response({"user": request.user.pk, "households": selectors.due_list(request.user)})


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def review_queue(request: Request) -> Response:
    return Response({"visits": selectors.review_queue(request.user)})


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def review_decide(request: Request, pk: str) -> Response:
    from .models import Visit

    visit = get_object_or_404(selectors.reviewable(request.user), pk=pk)
    decision: Any = request.data.get("decision")
    reason: Any = request.data.get("reason", "")
    errors = {}
    if decision not in ("approve", "reject"):
        errors["decision"] = [_("approve or reject")]
    if decision == "reject" and not (isinstance(reason, str) and reason.strip()):
        errors["reason"] = [_("A reason is required to reject a visit.")]
    if errors:
        return Response(errors, status=status.HTTP_400_BAD_REQUEST)
    services.review(visit=visit, approve=decision == "approve", reason=reason, actor=request.user)
    return Response({"id": str(visit.pk), "review": Visit.objects.get(pk=visit.pk).review})


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def compliance(request: Request) -> Response:
    """?level=member|area|grid|community|street[&day=YYYY-MM-DD]: share of households with the visits of the
    period holding `day` (default today) done. `order=key|worst` (lowest share first); with `page` and/or
    `page_size` (default 50, at most 1,000) one page, the number of rows (`count`) and the scope's
    `total` (households, done, share)."""
    level = request.query_params.get("level", "grid")
    if level not in selectors.LEVEL_PATHS:
        return Response(
            {"level": [f"one of {', '.join(selectors.LEVEL_PATHS)}"]}, status=status.HTTP_400_BAD_REQUEST
        )
    day = timezone.localdate()
    if request.query_params.get("day"):
        from django.utils.dateparse import parse_date

        try:
            day = parse_date(request.query_params["day"])
        except ValueError:
            day = None
        if day is None:
            return Response({"day": [_("A date as YYYY-MM-DD.")]}, status=status.HTTP_400_BAD_REQUEST)
    paged = "page" in request.query_params or "page_size" in request.query_params
    order = request.query_params.get("order", "key")
    errors = {}
    if order not in dashboards.ORDERS:
        errors["order"] = [f"one of {', '.join(dashboards.ORDERS)}"]
    try:
        page = int(request.query_params.get("page", 1))
        size = int(request.query_params.get("page_size", PAGE_SIZE))
    except ValueError:
        page = size = 0
    if not 1 <= page <= MAX_PAGE:  # (an offset past 2^31 is not a statement PostgreSQL takes)
        errors["page"] = [_("A page number from 1 to {n}.").format(n=MAX_PAGE)]
    if not 1 <= size <= MAX_PAGE_SIZE:
        errors["page_size"] = [_("From 1 to {n}.").format(n=MAX_PAGE_SIZE)]
    if errors:
        return Response(errors, status=status.HTTP_400_BAD_REQUEST)
    if not paged:  # every row (as before), in the order asked
        rows = selectors.compliance_rollups(request.user, level, day, order=order)
        return Response({"level": level, "day": day.isoformat(), "rows": rows})
    rows, count, total = selectors.compliance_page(request.user, level, day, order, page, size)
    return Response(
        {"level": level, "day": day.isoformat(), "count": count, "page": page, "total": total, "rows": rows}
    )


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def orphan_households(request: Request) -> Response:
    return Response({"households": selectors.orphans(request.user)})


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def reassign(request: Request) -> Response:
    """{"households": [codes], "area": code, "reason": "..."}: move households to another member's area."""
    codes = request.data.get("households")
    area = request.data.get("area")
    errors = {}
    if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
        errors["households"] = [_("A non-empty list of household codes is required.")]
    if not isinstance(area, str) or not area:
        errors["area"] = [_("The code of the target responsibility area is required.")]
    if errors:
        return Response(errors, status=status.HTTP_400_BAD_REQUEST)
    # The areas the move touches (where the households are, and the target), checked against their range
    # afterwards: a leader sees an area pushed out of 15–20 (the move itself is theirs to decide).
    sources = list(scoping.households(request.user).filter(code__in=codes).values_list("area_id", flat=True))
    moved = services.households_reassign(
        codes=codes, area_code=area, actor=request.user, reason=str(request.data.get("reason", ""))[:200]
    )
    target = ResponsibilityArea.objects.filter(code=area).values_list("pk", flat=True)
    out = services.areas_out_of_range([pk for pk in {*sources, *target} if pk is not None])
    return Response({"moved": moved, "out_of_range": out, "warnings": services.reassign_warnings(out)})


PAGE_SIZE, MAX_PAGE_SIZE, MAX_PAGE = 50, 1000, 1_000_000


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def visit_photo(request: Request, pk: str) -> Response:
    """Attach one photo (JPEG, PNG or WebP, size-limited) to a visit the user logged."""
    from django.core.files.base import ContentFile

    from .models import Visit

    visit = get_object_or_404(Visit, pk=pk, user=request.user)
    upload = request.FILES.get("photo")
    if upload is None:
        return Response(
            {"photo": [_("A file field named photo is required.")]}, status=status.HTTP_400_BAD_REQUEST
        )
    limit = services.rules()["max_photo_bytes"]
    if upload.size > limit:
        return Response(
            {"photo": [_("The photo is larger than {size}.").format(size=filesizeformat(limit))]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    kind = image_kind(upload.read(12))
    if kind is None:
        return Response({"photo": [_("Only JPEG, PNG or WebP images.")]}, status=status.HTTP_400_BAD_REQUEST)
    upload.seek(0)
    visit.photo.save(f"{visit.pk}.{kind}", ContentFile(upload.read()), save=True)
    return Response({"id": str(visit.pk), "photo": reverse("visits:photo", args=[visit.pk])})
