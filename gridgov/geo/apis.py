"""Read API for the spatial hierarchy and buildings (GeoJSON), scoped to the requesting user."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from rest_framework import serializers, viewsets
from rest_framework_gis.filters import InBBoxFilter
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from gridgov.accounts import scoping

from .models import Building, Community, District, Grid, ResponsibilityArea, Street

NODE_FIELDS = ("id", "code", "name", "name_en", "synthetic")


class DistrictSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = District
        geo_field = "boundary"
        fields = NODE_FIELDS


class StreetSerializer(GeoFeatureModelSerializer):
    district_code = serializers.CharField(source="district.code", read_only=True)

    class Meta:
        model = Street
        geo_field = "boundary"
        fields = (*NODE_FIELDS, "district_code")


class CommunitySerializer(GeoFeatureModelSerializer):
    street_code = serializers.CharField(source="street.code", read_only=True)

    class Meta:
        model = Community
        geo_field = "boundary"
        fields = (*NODE_FIELDS, "street_code", "gridded_at")


class GridSerializer(GeoFeatureModelSerializer):
    community_code = serializers.CharField(source="community.code", read_only=True)
    leader_name = serializers.CharField(source="leader.name", read_only=True, default=None)

    class Meta:
        model = Grid
        geo_field = "boundary"
        fields = (*NODE_FIELDS, "community_code", "leader_name")


class AreaSerializer(GeoFeatureModelSerializer):
    grid_code = serializers.CharField(source="grid.code", read_only=True)
    member_name = serializers.CharField(source="member.name", read_only=True, default=None)
    household_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = ResponsibilityArea
        geo_field = "boundary"
        fields = (*NODE_FIELDS, "grid_code", "member_name", "household_count")


class BuildingSerializer(GeoFeatureModelSerializer):
    community_code = serializers.CharField(source="community.code", read_only=True)

    class Meta:
        model = Building
        geo_field = "point"
        fields = ("id", "code", "name", "address", "floors", "units", "community_code", "synthetic")


class ScopedNodeViewSet(viewsets.ReadOnlyModelViewSet):
    """Area nodes the user may see; `?code=` and `?parent=` narrow it, `?in_bbox=` by viewport."""

    lookup_field = "code"
    bbox_filter_field = "boundary"
    filter_backends = [InBBoxFilter]
    bbox_filter_include_overlapping = True
    parent_field = ""

    def get_queryset(self) -> QuerySet:
        qs = scoping.visible_nodes(self.request.user, self.queryset)
        parent = self.request.query_params.get("parent")
        if parent and self.parent_field:
            qs = qs.filter(**{f"{self.parent_field}__code": parent})
        return qs


class DistrictViewSet(ScopedNodeViewSet):
    queryset = District.objects.all()
    serializer_class = DistrictSerializer


class StreetViewSet(ScopedNodeViewSet):
    queryset = Street.objects.select_related("district")
    serializer_class = StreetSerializer
    parent_field = "district"


class CommunityViewSet(ScopedNodeViewSet):
    queryset = Community.objects.select_related("street")
    serializer_class = CommunitySerializer
    parent_field = "street"


class GridViewSet(ScopedNodeViewSet):
    queryset = Grid.objects.select_related("community", "leader")
    serializer_class = GridSerializer
    parent_field = "community"


class AreaViewSet(ScopedNodeViewSet):
    queryset = ResponsibilityArea.objects.select_related("grid", "member")
    serializer_class = AreaSerializer
    parent_field = "grid"

    def get_queryset(self) -> QuerySet:
        # Aggregation drops Meta.ordering, so order again for stable pagination.
        return (
            super()
            .get_queryset()
            .annotate(household_count=Count("households", filter=Q(households__active=True)))
            .order_by("code")
        )


class BuildingViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = BuildingSerializer
    bbox_filter_field = "point"
    filter_backends = [InBBoxFilter]
    lookup_field = "code"

    def get_queryset(self) -> QuerySet:
        qs = scoping.buildings(self.request.user, Building.objects.select_related("community"))
        community = self.request.query_params.get("community")
        if community:
            qs = qs.filter(community__code=community)
        return qs
