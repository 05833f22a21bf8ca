"""GeoJSON pagination: a FeatureCollection with count/next/previous; `page_size` up to 5,000."""

from rest_framework_gis.pagination import GeoJsonPagination


class FeaturePagination(GeoJsonPagination):
    page_size = 500
    max_page_size = 5000
