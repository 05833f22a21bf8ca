"""Household API (GeoJSON points), scoped; personal data masked for roles that do not need it."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers, viewsets
from rest_framework_gis.filters import InBBoxFilter
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from gridgov.accounts import scoping

from .masking import personal_fields
from .models import Household


class HouseholdSerializer(GeoFeatureModelSerializer):
    community_code = serializers.CharField(source="community.code", read_only=True)
    building_code = serializers.CharField(source="building.code", read_only=True, default=None)
    area_code = serializers.CharField(source="area.code", read_only=True, default=None)

    class Meta:
        model = Household
        geo_field = "point"
        fields = (
            "id",
            "code",
            "community_code",
            "building_code",
            "area_code",
            "unit",
            "floor",
            "room",
            "address",
            "residents",
            "occupancy",
            "key_groups",
            "head_name",
            "phone",
            "id_number",
            "active",
            "synthetic",
        )

    def to_representation(self, instance: Household) -> dict[str, Any]:
        data = super().to_representation(instance)
        pii = self.context.get("pii", False)
        data["properties"].update(personal_fields(instance, pii=pii))
        return data


class HouseholdViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = HouseholdSerializer
    bbox_filter_field = "point"
    filter_backends = [InBBoxFilter]
    lookup_field = "code"

    def get_queryset(self) -> QuerySet[Household]:
        qs = scoping.households(
            self.request.user, Household.objects.select_related("community", "building", "area")
        )
        params = self.request.query_params
        if params.get("area"):
            qs = qs.filter(area__code=params["area"])
        if params.get("building"):
            qs = qs.filter(building__code=params["building"])
        if params.get("key_group"):
            qs = qs.filter(key_groups__contains=[params["key_group"]])
        return qs

    def get_serializer_context(self) -> dict[str, Any]:
        ctx = super().get_serializer_context()
        ctx["pii"] = scoping.scope_of(self.request.user).pii
        return ctx
