"""Shared fixtures: a two-grid world where scoping can be proved."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from gridgov.accounts.models import Role, User
from gridgov.geo.models import Building, Community, Grid, ResponsibilityArea
from gridgov.households.models import Household
from gridgov.teams.models import Member

from . import factories as f


@dataclass
class World:
    community: Community
    other_community: Community
    grid_a: Grid
    grid_b: Grid
    area_a: ResponsibilityArea
    area_a2: ResponsibilityArea
    area_b: ResponsibilityArea
    member_a: Member
    building_a: Building
    building_b: Building
    household_a: Household
    household_a2: Household
    household_b: Household
    household_other: Household
    users: dict[str, User]


@pytest.fixture
def world(db) -> World:
    """Community C (two grids A | B side by side) and a second community D on the same street."""
    x, y = f.X0, f.Y0
    street = f.StreetFactory(code="440308001")
    community = f.CommunityFactory(
        street=street, code="440308001001", boundary=f.mbox(x, y, x + 0.02, y + 0.01)
    )
    other = f.CommunityFactory(
        street=street, code="440308001002", boundary=f.mbox(x + 0.02, y, x + 0.04, y + 0.01)
    )
    grid_a = f.GridFactory(
        community=community, code="440308001001001", boundary=f.box(x, y, x + 0.01, y + 0.01)
    )
    grid_b = f.GridFactory(
        community=community, code="440308001001002", boundary=f.box(x + 0.01, y, x + 0.02, y + 0.01)
    )
    grid_d = f.GridFactory(
        community=other, code="440308001002001", boundary=f.box(x + 0.02, y, x + 0.04, y + 0.01)
    )
    member_a = f.MemberFactory(community=community)
    member_b = f.MemberFactory(community=community)
    area_a = f.AreaFactory(
        grid=grid_a, code="44030800100100101", member=member_a, boundary=f.box(x, y, x + 0.005, y + 0.01)
    )
    area_a2 = f.AreaFactory(
        grid=grid_a, code="44030800100100102", boundary=f.box(x + 0.005, y, x + 0.01, y + 0.01)
    )
    area_b = f.AreaFactory(grid=grid_b, code="44030800100100201", member=member_b, boundary=grid_b.boundary)
    area_d = f.AreaFactory(grid=grid_d, code="44030800100200101", boundary=grid_d.boundary)
    from django.contrib.gis.geos import Point

    pa = Point(x + 0.002, y + 0.005, srid=4326)
    pa2 = Point(x + 0.007, y + 0.005, srid=4326)
    pb = Point(x + 0.015, y + 0.005, srid=4326)
    pd = Point(x + 0.03, y + 0.005, srid=4326)
    building_a = f.BuildingFactory(community=community, point=pa, address="A栋")
    building_b = f.BuildingFactory(community=community, point=pb, address="B栋")
    building_d = f.BuildingFactory(community=other, point=pd, address="D栋")
    ha = f.HouseholdFactory(community=community, building=building_a, area=area_a, point=pa, code="HA1")
    ha2 = f.HouseholdFactory(community=community, area=area_a2, point=pa2, code="HA2")
    hb = f.HouseholdFactory(community=community, building=building_b, area=area_b, point=pb, code="HB1")
    hd = f.HouseholdFactory(community=other, building=building_d, area=area_d, point=pd, code="HD1")
    dept = f.DepartmentFactory(district=street.district)

    users = {
        "admin": f.UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True),
        "member_a": f.UserFactory(username="member_a", role=Role.MEMBER, scope_code=grid_a.code),
        "leader_a": f.UserFactory(username="leader_a", role=Role.LEADER, scope_code=grid_a.code),
        "community": f.UserFactory(username="community", role=Role.COMMUNITY, scope_code=community.code),
        "street": f.UserFactory(username="street", role=Role.STREET, scope_code=street.code),
        "coordinator": f.UserFactory(username="coordinator", role=Role.COORDINATOR, scope_code="440308"),
        "department": f.UserFactory(
            username="department", role=Role.DEPARTMENT, scope_code="440308", department=dept
        ),
    }
    member_a.user = users["member_a"]
    member_a.save()
    return World(
        community,
        other,
        grid_a,
        grid_b,
        area_a,
        area_a2,
        area_b,
        member_a,
        building_a,
        building_b,
        ha,
        ha2,
        hb,
        hd,
        users,
    )


@pytest.fixture(autouse=True)
def _reset_language():
    """A test that activates a language (zh-hans pages) must not leak it into the next test."""
    from django.utils import translation

    yield
    translation.deactivate()
