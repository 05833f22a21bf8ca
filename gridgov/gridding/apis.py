"""Gridding API: plans of the communities in the user's scope; staff of the community (and
administrators) run, adjust, approve and restore them. The pages use the same endpoints."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from gridgov.accounts import scoping
from gridgov.accounts.models import Role
from gridgov.geo.models import Community

from . import services
from .models import GriddingPlan, PlanArea, PlanCell, PlanGrid
from .texts import problem_rows

EDITOR_ROLES = {Role.COMMUNITY, Role.ADMIN}


def can_edit(user: Any, community: Community) -> bool:
    return bool(
        user.is_authenticated
        and (user.role in EDITOR_ROLES or user.is_superuser)
        and scoping.in_scope_code(user, community.code)
    )


def plans_for(user: Any) -> QuerySet[GriddingPlan]:
    """Plans of communities under the user's scope (grid members and departments see none)."""
    scope = scoping.scope_of(user)
    qs = GriddingPlan.objects.select_related("community")
    if scope.everything:
        return qs
    if not scope.ledger or user.role in (Role.MEMBER, Role.DEPARTMENT):
        return qs.none()
    prefixes = [p for p in scope.prefixes if len(p) <= 12]
    if not prefixes:
        return qs.none()
    cond = Q(pk__in=[])
    for p in prefixes:
        cond |= Q(community__code__startswith=p)
    return qs.filter(cond)


class PlanSerializer(serializers.ModelSerializer):
    community_code = serializers.CharField(source="community.code", read_only=True)
    community_name = serializers.CharField(source="community.name", read_only=True)

    class Meta:
        model = GriddingPlan
        fields = (
            "id",
            "community_code",
            "community_name",
            "status",
            "method",
            "based_on",
            "created_at",
            "approved_at",
            "config",
            "quality",
            "problems",
        )


class CreateInput(serializers.Serializer):
    community = serializers.CharField(max_length=12)
    area_min = serializers.FloatField(default=15, min_value=1)
    area_max = serializers.FloatField(default=20, min_value=1)
    grid_min = serializers.FloatField(default=100, min_value=1)
    grid_max = serializers.FloatField(default=300, min_value=1)
    fresh = serializers.BooleanField(default=False)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        ranges = {k: data[k] for k in ("area_min", "area_max", "grid_min", "grid_max")}
        wrong = services.GriddingSettings(**ranges).problems()
        if wrong:
            raise serializers.ValidationError(wrong)
        return data


class MergeInput(serializers.Serializer):
    area = serializers.CharField(max_length=17)
    other = serializers.CharField(max_length=17)


class SplitInput(serializers.Serializer):
    area = serializers.CharField(max_length=17)


class ApplyInput(serializers.Serializer):
    problem = serializers.IntegerField(min_value=0)
    # The area or grid the problem is about, as the client saw it: refused if the list changed since.
    code = serializers.CharField(max_length=17, required=False)
    # The fingerprint of the alternative the client showed (`problem_list` rows' `token`).
    token = serializers.CharField(max_length=64, required=False)


class MoveAreaInput(serializers.Serializer):
    area = serializers.CharField(max_length=17)
    grid = serializers.CharField(max_length=15)


class MergeGridsInput(serializers.Serializer):
    grid = serializers.CharField(max_length=15)
    into = serializers.CharField(max_length=15)


class MoveInput(serializers.Serializer):
    cell = serializers.IntegerField()
    area = serializers.CharField(max_length=17)


class AreaFeature(GeoFeatureModelSerializer):
    grid_code = serializers.CharField(source="grid.code", read_only=True)
    member_name = serializers.CharField(source="member.name", read_only=True, default=None)
    in_range = serializers.SerializerMethodField()
    grid_in_range = serializers.SerializerMethodField()
    pieces = serializers.SerializerMethodField()

    class Meta:
        model = PlanArea
        geo_field = "boundary"
        fields = (
            "id",
            "code",
            "grid_code",
            "households",
            "weight",
            "member_name",
            "in_range",
            "grid_in_range",
            "pieces",
        )

    def get_in_range(self, obj: PlanArea) -> bool:
        cfg = self.context["settings"]
        return cfg.area_min <= obj.weight <= cfg.area_max

    def get_grid_in_range(self, obj: PlanArea) -> bool:
        cfg = self.context["settings"]
        return cfg.grid_min <= obj.grid.weight <= cfg.grid_max

    def get_pieces(self, obj: PlanArea) -> int:
        return len(obj.boundary)


class CellFeature(GeoFeatureModelSerializer):
    area_code = serializers.CharField(source="area.code", read_only=True)
    building_name = serializers.CharField(source="building.address", read_only=True, default="")
    households = serializers.SerializerMethodField()

    class Meta:
        model = PlanCell
        geo_field = "boundary"
        fields = ("id", "area_code", "building_name", "part", "households", "weight")

    def get_households(self, obj: PlanCell) -> int:
        return len(obj.household_ids)


class PlanViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = PlanSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[GriddingPlan]:
        qs = plans_for(self.request.user)
        community = self.request.query_params.get("community")
        return qs.filter(community__code=community) if community else qs

    def _editable(self, plan: GriddingPlan) -> None:
        if not can_edit(self.request.user, plan.community):
            raise PermissionDenied(
                _("Only the community's staff or an administrator may change its gridding.")
            )

    def create(self, request: Request) -> Response:
        data = CreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        community = get_object_or_404(
            scoping.visible_nodes(request.user, Community.objects.all()), code=v["community"]
        )
        if not can_edit(request.user, community):
            raise PermissionDenied(_("Only the community's staff or an administrator may grid it."))
        settings = services.GriddingSettings(
            area_min=v["area_min"], area_max=v["area_max"], grid_min=v["grid_min"], grid_max=v["grid_max"]
        )
        result = services.plan_create(
            community=community, actor=request.user, settings=settings, fresh=v["fresh"]
        )
        return Response(
            {**PlanSerializer(result.plan).data, "warnings": result.warnings}, status=status.HTTP_201_CREATED
        )

    @action(detail=True, methods=["get"])
    def areas(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        qs = plan.areas.select_related("grid", "member")
        settings = services.GriddingSettings.from_json(plan.config)
        return Response(AreaFeature(qs, many=True, context={"settings": settings}).data)

    @action(detail=True, methods=["get"])
    def cells(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        return Response(CellFeature(plan.cells.select_related("area", "building"), many=True).data)

    # Every adjustment answers with the sizes of what it touched and the plan's problems (as stored, and
    # as `problem_list`: in the user's language, with whether each alternative can be applied) and
    # quality, checked again in the adjustment's transaction.
    def _adjusted(self, result: dict[str, Any]) -> Response:
        return Response({**result, "problem_list": problem_rows(result["problems"], editable=True)})

    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        self._editable(plan)
        data = MoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        cell = get_object_or_404(PlanCell, pk=data.validated_data["cell"], plan=plan)
        area = get_object_or_404(PlanArea, plan=plan, code=data.validated_data["area"])
        return self._adjusted(services.plan_move_cell(plan=plan, cell=cell, to_area=area, actor=request.user))

    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        self._editable(plan)
        data = MergeInput(data=request.data)
        data.is_valid(raise_exception=True)
        area = get_object_or_404(PlanArea, plan=plan, code=data.validated_data["area"])
        other = get_object_or_404(PlanArea, plan=plan, code=data.validated_data["other"])
        return self._adjusted(
            services.plan_merge_areas(plan=plan, area=area, other=other, actor=request.user)
        )

    @action(detail=True, methods=["post"])
    def split(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        self._editable(plan)
        data = SplitInput(data=request.data)
        data.is_valid(raise_exception=True)
        area = get_object_or_404(PlanArea, plan=plan, code=data.validated_data["area"])
        return self._adjusted(services.plan_split_area(plan=plan, area=area, actor=request.user))

    @action(detail=True, methods=["post"], url_path="move-area")
    def move_area(self, request: Request, pk: str | None = None) -> Response:
        """Move an area to a neighbouring grid (it takes a code of that grid)."""
        plan = self.get_object()
        self._editable(plan)
        data = MoveAreaInput(data=request.data)
        data.is_valid(raise_exception=True)
        area = get_object_or_404(PlanArea, plan=plan, code=data.validated_data["area"])
        grid = get_object_or_404(PlanGrid, plan=plan, code=data.validated_data["grid"])
        return self._adjusted(services.plan_move_area(plan=plan, area=area, to_grid=grid, actor=request.user))

    @action(detail=True, methods=["post"], url_path="merge-grids")
    def merge_grids(self, request: Request, pk: str | None = None) -> Response:
        """Merge a grid into a neighbouring one (its areas take codes of that grid)."""
        plan = self.get_object()
        self._editable(plan)
        data = MergeGridsInput(data=request.data)
        data.is_valid(raise_exception=True)
        grid = get_object_or_404(PlanGrid, plan=plan, code=data.validated_data["grid"])
        into = get_object_or_404(PlanGrid, plan=plan, code=data.validated_data["into"])
        return self._adjusted(services.plan_merge_grids(plan=plan, grid=grid, into=into, actor=request.user))

    @action(detail=True, methods=["post"])
    def apply(self, request: Request, pk: str | None = None) -> Response:
        """Apply the nearest alternative of problem number `problem` (an area's: its cells moved, areas
        merged; a grid's: its areas moved, grids merged)."""
        plan = self.get_object()
        self._editable(plan)
        data = ApplyInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        return self._adjusted(
            services.plan_apply_alternative(
                plan=plan, index=v["problem"], code=v.get("code"), token=v.get("token"), actor=request.user
            )
        )

    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        self._editable(plan)
        result = services.plan_approve(plan=plan, actor=request.user)
        return Response(
            {
                "areas": result.areas,
                "grids": result.grids,
                "unassigned_areas": result.unassigned_areas,
                "grids_without_leader": result.grids_without_leader,
            }
        )

    @action(detail=True, methods=["post"])
    def discard(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        self._editable(plan)
        services.plan_discard(plan=plan, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str | None = None) -> Response:
        plan = self.get_object()
        self._editable(plan)
        copy = services.plan_restore(plan=plan, actor=request.user)
        return Response(PlanSerializer(copy).data, status=status.HTTP_201_CREATED)
