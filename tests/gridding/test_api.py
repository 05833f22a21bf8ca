"""Gridding API: scoped, editors only for writes, field errors on bad input."""

from __future__ import annotations

import pytest
from django.test import Client

from gridgov.accounts.models import Role
from gridgov.geo.models import ResponsibilityArea
from gridgov.gridding.models import GriddingPlan

from ..factories import UserFactory
from .test_services import lattice_community

pytestmark = pytest.mark.django_db


def client_for(role: str, scope: str = "") -> Client:
    user = UserFactory(
        username=f"{role}-{scope}", role=role, scope_code=scope, is_superuser=role == Role.ADMIN
    )
    c = Client()
    c.force_login(user)
    return c


def test_community_staff_plan_adjust_and_approve_through_the_api():
    community = lattice_community()
    staff = client_for(Role.COMMUNITY, community.code)
    r = staff.post("/api/v1/gridding/plans/", {"community": community.code}, content_type="application/json")
    assert r.status_code == 201, r.content
    plan_id = r.json()["id"]
    areas = staff.get(f"/api/v1/gridding/plans/{plan_id}/areas/").json()
    assert areas["type"] == "FeatureCollection" and len(areas["features"]) > 10
    cells = staff.get(f"/api/v1/gridding/plans/{plan_id}/cells/").json()
    assert sum(f["properties"]["households"] for f in cells["features"]) == sum(
        f["properties"]["households"] for f in areas["features"]
    )
    r = staff.post(f"/api/v1/gridding/plans/{plan_id}/approve/")
    assert r.status_code == 200 and r.json()["areas"] == len(areas["features"])
    assert ResponsibilityArea.objects.filter(grid__community=community).count() == len(areas["features"])
    # Approving twice is refused with a clear error.
    again = staff.post(f"/api/v1/gridding/plans/{plan_id}/approve/")
    assert again.status_code == 400 and again.json()["code"] == "gridding.not_draft"


def test_bad_input_gets_field_errors():
    community = lattice_community()
    staff = client_for(Role.COMMUNITY, community.code)
    r = staff.post(
        "/api/v1/gridding/plans/",
        {"community": community.code, "area_min": 25, "area_max": 20},
        content_type="application/json",
    )
    assert r.status_code == 400 and "area_max" in r.json()
    r = staff.post(
        "/api/v1/gridding/plans/",
        {"community": community.code, "area_min": "x"},
        content_type="application/json",
    )
    assert r.status_code == 400 and "area_min" in r.json()
    assert not GriddingPlan.objects.exists()


def test_scope_and_roles():
    community = lattice_community()
    other = lattice_community("440308002004", n=16, seed=2)
    staff = client_for(Role.COMMUNITY, community.code)
    # Another community is invisible (404), and a street office may look but not run gridding.
    r = staff.post("/api/v1/gridding/plans/", {"community": other.code}, content_type="application/json")
    assert r.status_code == 404
    street = client_for(Role.STREET, community.code[:9])
    r = street.post("/api/v1/gridding/plans/", {"community": community.code}, content_type="application/json")
    assert r.status_code == 403
    plan = staff.post(
        "/api/v1/gridding/plans/", {"community": community.code}, content_type="application/json"
    ).json()
    assert street.get(f"/api/v1/gridding/plans/{plan['id']}/").status_code == 200
    assert street.post(f"/api/v1/gridding/plans/{plan['id']}/approve/").status_code == 403
    member = client_for(Role.MEMBER, community.code + "001")
    assert member.get(f"/api/v1/gridding/plans/{plan['id']}/").status_code == 404
    other_staff = client_for(Role.COMMUNITY, other.code)
    assert other_staff.get(f"/api/v1/gridding/plans/{plan['id']}/areas/").status_code == 404


def test_range_and_adjustment_errors_speak_the_users_language():
    """The run form showed "area_max: must not be below area_min" on the Chinese page, and merging two
    areas that do not touch answered "The building does not border the target area"."""
    from django.db.models import Count

    from gridgov.gridding.models import PlanArea

    community = lattice_community()
    staff = client_for(Role.COMMUNITY, community.code)
    r = staff.post(
        "/api/v1/gridding/plans/",
        {"community": community.code, "area_min": 25, "area_max": 20},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert r.status_code == 400 and r.json()["area_max"] == ["最大户数不能小于最小户数。"]
    plan_id = staff.post(
        "/api/v1/gridding/plans/", {"community": community.code}, content_type="application/json"
    ).json()["id"]
    areas = list(PlanArea.objects.filter(plan_id=plan_id).annotate(n=Count("cells")).order_by("code"))
    first = areas[0]
    far = next(
        a
        for a in areas
        if a.grid_id == first.grid_id and a.pk != first.pk and not a.boundary.intersects(first.boundary)
    )
    r = staff.post(
        f"/api/v1/gridding/plans/{plan_id}/merge/",
        {"area": first.code, "other": far.code},
        content_type="application/json",
    )
    assert r.status_code == 400 and r.json()["detail"] == "The two areas do not share a border."
    other_grid = next(a for a in areas if a.grid_id != first.grid_id)
    r = staff.post(
        f"/api/v1/gridding/plans/{plan_id}/merge/",
        {"area": first.code, "other": other_grid.code},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert r.status_code == 400 and r.json()["detail"] == "只能合并同一网格内的责任区。"
