"""API shape: GeoJSON feature collections, OpenAPI schema, authentication required."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_api_requires_login(world):
    assert Client().get("/api/v1/households/").status_code == 403


def test_hierarchy_endpoints_return_geojson(world):
    client = Client()
    client.force_login(world.users["community"])
    grids = client.get("/api/v1/grids/?format=json").json()
    assert grids["type"] == "FeatureCollection"
    assert {f["properties"]["code"] for f in grids["features"]} == {world.grid_a.code, world.grid_b.code}
    assert grids["features"][0]["geometry"]["type"] == "Polygon"
    areas = client.get(f"/api/v1/areas/?format=json&parent={world.grid_a.code}").json()
    assert {f["properties"]["code"] for f in areas["features"]} == {world.area_a.code, world.area_a2.code}
    counts = {f["properties"]["code"]: f["properties"]["household_count"] for f in areas["features"]}
    assert counts == {world.area_a.code: 1, world.area_a2.code: 1}


def test_bbox_filter_narrows_households(world):
    client = Client()
    client.force_login(world.users["admin"])
    x, y = 114.20, 22.55
    bbox = f"{x},{y},{x + 0.01},{y + 0.01}"
    data = client.get(f"/api/v1/households/?format=json&in_bbox={bbox}").json()
    assert {f["properties"]["code"] for f in data["features"]} == {"HA1", "HA2"}


def test_openapi_schema_lists_the_endpoints(world):
    client = Client()
    client.force_login(world.users["admin"])
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for p in ["/api/v1/households/", "/api/v1/grids/{code}/", "/api/v1/communities/"]:
        assert p in paths
