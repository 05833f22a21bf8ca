"""Issue API: intake from staff channels, the scoped list and detail with timeline, every action of the
loop, the dispatch console, department inbox, monitoring, and the residents' public intake and tracking.

Views are thin: input is checked by serializers (field errors → 400), work is done by `services`,
reads come from `selectors`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import transaction
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from gridgov.accounts.models import Role
from gridgov.core.errors import GridgovError
from gridgov.core.files import image_kind
from gridgov.core.pagination import QuickPage as CorePage
from gridgov.core.ratelimit import allow, client_address
from gridgov.dispatch.models import Department

from . import presenters, selectors, services
from .models import Case, CasePhoto, Category, Channel, Extension

# --- input --------------------------------------------------------------------------------------------


class PlaceIn(serializers.Serializer):
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)

    def point(self) -> Point:
        return Point(self.validated_data["lon"], self.validated_data["lat"], srid=4326)


class ReportIn(PlaceIn):
    uuid = serializers.UUIDField(required=False)
    category = serializers.SlugField()
    description = serializers.CharField(max_length=4000)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    reporter_name = serializers.CharField(max_length=60, required=False, allow_blank=True, default="")
    reporter_phone = serializers.RegexField(
        r"^\+?[0-9 -]{5,20}$", max_length=30, required=False, allow_blank=True, default=""
    )
    reporter_email = serializers.EmailField(required=False, allow_blank=True, default="")
    share_contact = serializers.BooleanField(required=False, default=False)


class StaffReportIn(ReportIn):
    channel = serializers.ChoiceField(
        choices=[Channel.PATROL, Channel.VISIT, Channel.HOTLINE, Channel.DEPARTMENT], required=False
    )
    visit = serializers.UUIDField(required=False)


class ActionIn(serializers.Serializer):
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    version = serializers.IntegerField(required=False, min_value=0)
    level = serializers.IntegerField(required=False, min_value=1, max_value=4)
    lead_department = serializers.SlugRelatedField(
        slug_field="code", queryset=Department.objects.filter(active=True), required=False
    )
    assisting_departments = serializers.SlugRelatedField(
        slug_field="code", queryset=Department.objects.filter(active=True), many=True, required=False
    )
    into = serializers.UUIDField(required=False)
    public = serializers.BooleanField(required=False, default=False)
    satisfaction = serializers.IntegerField(required=False, min_value=1, max_value=5)
    minutes = serializers.IntegerField(required=False, min_value=30)


class BulkDispatchIn(serializers.Serializer):
    cases = serializers.ListField(child=serializers.UUIDField(), min_length=1, max_length=200)
    lead_department = serializers.SlugRelatedField(
        slug_field="code", queryset=Department.objects.filter(active=True)
    )
    assisting_departments = serializers.SlugRelatedField(
        slug_field="code", queryset=Department.objects.filter(active=True), many=True, required=False
    )


class DecideIn(serializers.Serializer):
    approve = serializers.BooleanField()
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class EvaluateIn(serializers.Serializer):
    satisfaction = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> serializers.Serializer:
    s = serializer_class(data=data)
    s.is_valid(raise_exception=True)
    return s


REPORT_FIELDS = ("category", "description", "address", "reporter_name", "reporter_phone", "reporter_email")


def _report(data: dict[str, Any]) -> dict[str, Any]:
    """The `case_report` arguments every intake form shares, from validated ReportIn data."""
    return {
        **{k: data[k] for k in REPORT_FIELDS},
        "location": Point(data["lon"], data["lat"], srid=4326),
        "uuid": data.get("uuid"),
        "share_contact": data["share_contact"],
    }


def _case(request: Request, pk: Any) -> Case:
    return get_object_or_404(selectors.visible_cases(request.user), uuid=pk)


class Page(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class QuickPage(Page):
    """API pages without a total (see `core.pagination.QuickPage`): next/previous links only."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        size = self.get_page_size(request) or self.page_size
        self.quick = CorePage(queryset, size, request.query_params.get(self.page_query_param))
        return self.quick.object_list

    def get_paginated_response(self, data: Any) -> Response:
        url = self.request.build_absolute_uri()
        n = self.quick.number

        def link(k: int) -> str:
            return remove_query_param(url, "page") if k == 1 else replace_query_param(url, "page", k)

        return Response(
            {
                "next": link(n + 1) if self.quick.has_next() else None,
                "previous": link(n - 1) if self.quick.has_previous() else None,
                "results": data,
            }
        )


# --- staff --------------------------------------------------------------------------------------------


DEFAULT_CHANNEL = {
    Role.MEMBER: Channel.PATROL,
    Role.LEADER: Channel.PATROL,
    Role.DEPARTMENT: Channel.DEPARTMENT,
}


@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def case_collection(request: Request) -> Response:
    """GET: the scoped list (filters: state, open, level, category, light, supervised).
    POST: report an issue as staff (a member on patrol or from a visit, a hotline operator, a department)."""
    if request.method == "GET":
        filters = request.query_params.dict()
        if not {"state", "all", "open"} & set(filters):
            filters["open"] = "1"  # open cases unless asked otherwise (`all=1`, a state)
        qs = selectors.case_list(request.user, filters=filters)
        pager = QuickPage()
        page = pager.paginate_queryset(qs, request)
        return pager.get_paginated_response([presenters.case_summary(c, request.user) for c in page])
    data = _valid(StaffReportIn, request.data).validated_data
    visit = None
    if data.get("visit"):
        from gridgov.visits.models import Visit

        visit = Visit.objects.filter(pk=data["visit"], user=request.user).first()
        if visit is None:
            raise serializers.ValidationError({"visit": ["Not one of your visits."]})
    channel = data.get("channel") or (
        Channel.VISIT if visit else DEFAULT_CHANNEL.get(request.user.role, Channel.HOTLINE)
    )
    case, created = services.case_report(channel=channel, actor=request.user, visit=visit, **_report(data))
    body = presenters.case_detail(case, request.user)
    body["duplicates"] = presenters.duplicates_of(case, request.user)
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def case_detail(request: Request, pk: Any) -> Response:
    case = _case(request, pk)
    body = presenters.case_detail(case, request.user)
    body["duplicates"] = presenters.duplicates_of(case, request.user)
    return Response(body)


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def case_action(request: Request, pk: Any, action: str) -> Response:
    """One action on a case: any action of the state table, or supervise / note / evaluate / extend.

    Send `version` (from the detail) to be told when someone else acted first (409)."""
    case = _case(request, pk)
    data = _valid(ActionIn, request.data).validated_data
    user = request.user
    into = None
    if data.get("into"):
        into = selectors.visible_cases(user).filter(uuid=data["into"]).select_related("state").first()
        if into is None:
            raise serializers.ValidationError({"into": ["No such issue in your scope."]})
    services.perform(
        case,
        action,
        actor=user,
        comment=data["comment"],
        expected_version=data.get("version"),
        level=data.get("level"),
        public=data["public"],
        satisfaction=data.get("satisfaction"),
        minutes=data.get("minutes"),
        lead_department=data.get("lead_department"),
        assisting=data.get("assisting_departments") or (),
        into=into,
    )
    case.refresh_from_db()
    return Response(presenters.case_detail(case, user))


@api_view(["POST"])
@permission_classes([IsAuthenticated])
@parser_classes([MultiPartParser, FormParser])
def case_photo(request: Request, pk: Any) -> Response:
    case = _case(request, pk)
    upload = request.FILES.get("photo")
    limit = settings.GRIDGOV_CASE_RULES["max_photo_bytes"]
    if upload is None:
        return Response({"photo": ["A photo file is required."]}, status=400)
    if upload.size > limit:
        return Response({"photo": [f"At most {limit // (1024 * 1024)} MB."]}, status=400)
    kind = image_kind(upload.read(12))
    upload.seek(0)
    if kind is None:
        return Response({"photo": ["JPEG, PNG or WebP only."]}, status=400)
    upload.name = f"photo.{kind}"  # stored under the type found, never the client's name
    stage = "feedback" if case.state_id == "department_handling" else "report"
    photo = CasePhoto.objects.create(case=case, image=upload, uploaded_by=request.user, stage=stage)
    return Response(
        {"id": photo.pk, "url": presenters.photo_url(photo), "stage": stage}, status=status.HTTP_201_CREATED
    )


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def extension_decide(request: Request, pk: int) -> Response:
    ext = get_object_or_404(Extension.objects.filter(case__in=selectors.visible_cases(request.user)), pk=pk)
    data = _valid(DecideIn, request.data).validated_data
    ext = services.decide_extension(ext, actor=request.user, approve=data["approve"], note=data["note"])
    return Response({"id": ext.pk, "approved": ext.approved})


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def duplicate_check(request: Request) -> Response:
    """Open issues like the one being reported (same category, near in space and time)."""
    place = _valid(PlaceIn, request.query_params)
    code = request.query_params.get("category", "")
    try:
        category = services.leaf_category(code)
    except GridgovError as exc:
        return Response({"category": [exc.message]}, status=400)
    qs = selectors.visible_cases(request.user, services.duplicates(category, place.point()))[:20]
    return Response({"results": [presenters.case_summary(c, request.user) for c in qs]})


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def console(request: Request) -> Response:
    """The coordinator's dispatch console: awaiting dispatch (returned first, then by deadline), the
    suggested department of each, and every department's workload."""
    pager = QuickPage()
    page = pager.paginate_queryset(selectors.console(request.user), request)
    suggested = selectors.suggestions(page)
    twins = selectors.duplicate_counts(page)
    rows = []
    for case in page:
        row = presenters.case_summary(case, request.user)
        dept = suggested.get(case.pk)
        row["suggested_department"] = {"code": dept.code, "name": dept.name} if dept else None
        row["possible_duplicates"] = twins.get(case.pk, 0)
        rows.append(row)
    response = pager.get_paginated_response(rows)
    response.data.update(selectors.console_summary(request.user))
    return response


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def bulk_dispatch(request: Request) -> Response:
    """Dispatch several cases to one lead department (all or nothing)."""
    data = _valid(BulkDispatchIn, request.data).validated_data
    visible = {c.uuid: c for c in selectors.visible_cases(request.user).filter(uuid__in=data["cases"])}
    missing = [str(u) for u in data["cases"] if u not in visible]
    if missing:
        return Response({"cases": [f"Not in your scope: {', '.join(missing)}"]}, status=400)
    with transaction.atomic():
        done = services.bulk_dispatch(
            [visible[u] for u in data["cases"]],
            actor=request.user,
            lead_department=data["lead_department"],
            assisting=data.get("assisting_departments") or (),
        )
    return Response({"dispatched": [c.reference for c in done]})


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def inbox(request: Request) -> Response:
    pager = Page()
    page = pager.paginate_queryset(selectors.inbox(request.user), request)
    return pager.get_paginated_response([presenters.case_summary(c, request.user) for c in page])


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def monitoring(request: Request) -> Response:
    return Response(presenters.jsonable(selectors.monitoring(request.user)))


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def department_metrics(request: Request) -> Response:
    return Response({"departments": presenters.jsonable(selectors.department_metrics(request.user))})


@api_view(["GET"])
@permission_classes([AllowAny])
def categories(request: Request) -> Response:
    """The category tree with limits (what the report forms offer)."""
    rows = Category.objects.filter(active=True).select_related("parent").order_by("order")
    return Response({"categories": [presenters.category(c) for c in rows]})


# --- residents (no login) -------------------------------------------------------------------------------


@api_view(["POST"])
@permission_classes([AllowAny])
def public_report(request: Request) -> Response:
    """The public web form: no login, limited per client address; the answer carries the tracking token."""
    if not allow(f"public-report:{client_address(request)}", settings.GRIDGOV_CASE_RULES["public_rate"]):
        return Response({"detail": "Too many reports from this address; try again later."}, status=429)
    data = _valid(ReportIn, request.data).validated_data
    case, created = services.case_report(channel=Channel.WEB, **_report(data))
    body = presenters.public_view(case)
    return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@api_view(["GET"])
@permission_classes([AllowAny])
def public_track(request: Request, token: str) -> Response:
    case = get_object_or_404(Case.objects.select_related("state", "category"), token=token)
    return Response(presenters.public_view(case))


@api_view(["POST"])
@permission_classes([AllowAny])
def public_evaluate(request: Request, token: str) -> Response:
    case = get_object_or_404(Case, token=token)
    data = _valid(EvaluateIn, request.data).validated_data
    services.evaluate(case, satisfaction=data["satisfaction"], comment=data["comment"])
    case.refresh_from_db()
    return Response(presenters.public_view(case))
