"""Grid leaders reassign households between members (audited); households with no active member."""

from __future__ import annotations

import pytest

from gridgov.core.models import AuditEntry
from gridgov.households.models import Household

from .. import factories as f
from ..factories import client

pytestmark = pytest.mark.django_db


def test_leader_moves_a_household_to_another_member_and_it_is_audited(world):
    r = client(world, "leader_a").post(
        "/api/v1/visits/reassign/",
        {"households": ["HA2"], "area": world.area_a.code, "reason": "搬迁"},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["moved"] == 1
    assert Household.objects.get(code="HA2").area == world.area_a
    entry = AuditEntry.objects.get(action="households.reassign")
    assert entry.data["source"] == world.area_a2.code and entry.data["target"] == world.area_a.code
    assert entry.actor == world.users["leader_a"]


def test_reassign_is_scoped_and_validated(world):
    leader = client(world, "leader_a")
    # A household of another grid: refused, nothing moves.
    r = leader.post(
        "/api/v1/visits/reassign/",
        {"households": ["HA2", "HB1"], "area": world.area_a.code},
        content_type="application/json",
    )
    assert r.status_code == 400 and r.json()["code"] == "scope.denied"
    assert Household.objects.get(code="HA2").area == world.area_a2
    r = leader.post(
        "/api/v1/visits/reassign/", {"households": [], "area": ""}, content_type="application/json"
    )
    assert r.status_code == 400 and set(r.json()) == {"households", "area"}
    member = client(world, "member_a")
    r = member.post(
        "/api/v1/visits/reassign/",
        {"households": ["HA1"], "area": world.area_a2.code},
        content_type="application/json",
    )
    assert r.status_code == 400


def test_orphans_are_listed(world):
    rows = client(world, "leader_a").get("/api/v1/visits/orphans/").json()["households"]
    assert [r["code"] for r in rows] == ["HA2"]  # area_a2 has no member
    world.member_a.active = False
    world.member_a.save()
    rows = client(world, "community").get("/api/v1/visits/orphans/").json()["households"]
    assert {r["code"] for r in rows} == {"HA1", "HA2"}


def test_the_team_page_is_for_leaders_and_community_staff_in_their_scope(world):
    assert client(world, "member_a").get("/visits/team/").status_code == 403
    assert client(world, "street").get("/visits/team/").status_code == 403
    page = client(world, "leader_a").get("/visits/team/").content.decode()
    assert 'value="HA1"' in page and 'value="HA2"' in page  # HA2: its area has no member, an orphan
    assert 'value="HB1"' not in page and world.area_b.code not in page  # grid B is not the leader's
    staff = client(world, "community").get("/visits/team/").content.decode()
    assert 'value="HB1"' in staff and 'value="HD1"' not in staff  # HD1: another community


def test_a_move_that_leaves_an_area_out_of_its_range_is_said(world):
    """Walked as a leader: moving one household pushed area 1-2 to 21 households without a word. The answer
    (and the page) now names the areas the move left outside the range of their community (defaults 15–20
    here: no plan in force), the target's and the source's; areas in range are not named."""
    for i in range(16):  # area_a: 1 + 16 = 17 households; area_a2: HA2 + 15 = 16
        f.HouseholdFactory(community=world.community, area=world.area_a, code=f"A{i:02d}")
        if i < 15:
            f.HouseholdFactory(community=world.community, area=world.area_a2, code=f"B{i:02d}")
    leader = client(world, "leader_a")
    r = leader.post(
        "/api/v1/visits/reassign/",
        {"households": ["B00"], "area": world.area_a.code},  # 18 and 15: both in range
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["out_of_range"] == [] and r.json()["warnings"] == []
    r = leader.post(
        "/api/v1/visits/reassign/",
        {"households": ["B01", "B02", "B03"], "area": world.area_a.code},  # 21 and 12
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    body = r.json()
    assert r.status_code == 200 and body["moved"] == 3
    assert body["out_of_range"] == [
        {"area": world.area_a.code, "households": 21, "min": 15, "max": 20},
        {"area": world.area_a2.code, "households": 12, "min": 15, "max": 20},
    ]
    assert body["warnings"][0] == f"Area {world.area_a.code} now has 21 households (its range: 15–20)."
    page = leader.get("/visits/team/").content.decode()
    assert page.count('class="badge warn out-of-range"') == 2
