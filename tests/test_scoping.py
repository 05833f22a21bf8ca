"""One selector layer scopes everything: prove it for each role, and through every route."""

from __future__ import annotations

import pytest
from django.test import Client

from gridgov.accounts import scoping
from gridgov.geo.models import Community, Grid, ResponsibilityArea

pytestmark = pytest.mark.django_db


def codes(qs) -> set[str]:
    return set(qs.values_list("code", flat=True))


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("admin", {"HA1", "HA2", "HB1", "HD1"}),
        ("member_a", {"HA1"}),
        ("leader_a", {"HA1", "HA2"}),
        ("community", {"HA1", "HA2", "HB1"}),
        ("street", {"HA1", "HA2", "HB1", "HD1"}),
        ("coordinator", set()),
        ("department", set()),
    ],
)
def test_households_by_role(world, user, expected):
    assert codes(scoping.households(world.users[user])) == expected


def test_member_sees_own_area_and_ancestors_only(world):
    user = world.users["member_a"]
    assert codes(scoping.visible_nodes(user, ResponsibilityArea.objects.all())) == {world.area_a.code}
    assert codes(scoping.visible_nodes(user, Grid.objects.all())) == {world.grid_a.code}
    assert codes(scoping.visible_nodes(user, Community.objects.all())) == {world.community.code}


def test_member_buildings_are_those_with_own_households(world):
    assert codes(scoping.buildings(world.users["member_a"])) == {world.building_a.code}
    assert codes(scoping.buildings(world.users["leader_a"])) == {world.building_a.code}


def test_inactive_member_sees_nothing(world):
    world.member_a.active = False
    world.member_a.save()
    assert not scoping.households(world.users["member_a"]).exists()


def test_anonymous_sees_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    assert not scoping.households(AnonymousUser()).exists()


def _routes_for(code: str) -> list[str]:
    return [
        f"/households/{code}/",
        f"/api/v1/households/{code}/",
        f"/api/v1/households/{code}/?format=json",
    ]


def test_member_of_grid_a_gets_404_for_household_of_grid_b_everywhere(world):
    client = Client()
    client.force_login(world.users["member_a"])
    for url in _routes_for(world.household_b.code):
        assert client.get(url).status_code == 404, url
    for url in _routes_for(world.household_a.code):
        assert client.get(url).status_code == 200, url
    # Lists and exports never include it.
    export = b"".join(client.get("/households/export.csv").streaming_content).decode()
    assert "HA1" in export and "HB1" not in export
    listing = client.get("/api/v1/households/?format=json").json()
    assert {f["properties"]["code"] for f in listing["features"]} == {"HA1"}
    page = client.get("/households/").content.decode()
    assert "HA1" in page and "HB1" not in page
    # Building of grid B through the API, too.
    assert client.get(f"/api/v1/buildings/{world.building_b.code}/").status_code == 404
    assert client.get(f"/api/v1/areas/{world.area_b.code}/").status_code == 404
    assert client.get(f"/api/v1/grids/{world.grid_b.code}/").status_code == 404
    # The admin is closed to grid members altogether.
    admin = client.get(f"/admin/households/household/{world.household_b.pk}/change/")
    assert admin.status_code == 302 and "/login/" in admin["Location"]


def test_street_office_sees_masked_personal_data(world):
    client = Client()
    client.force_login(world.users["street"])
    props = client.get(f"/api/v1/households/{world.household_a.code}/?format=json").json()["properties"]
    assert props["head_name"] == "张**"
    assert props["phone"] == "138****5678"
    assert props["id_number"] == "110105********002X"
    client.force_login(world.users["community"])
    props = client.get(f"/api/v1/households/{world.household_a.code}/?format=json").json()["properties"]
    assert props["head_name"] == "张三丰"
