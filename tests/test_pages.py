"""Pages per role: each home page leads with its own scoped table; exports are masked by role."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def home(world, username: str) -> str:
    client = Client()
    client.force_login(world.users[username])
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def test_home_page_of_each_role(world):
    member = home(world, "member_a")
    assert "My responsibility areas" in member and world.area_a.name in member
    assert world.area_b.name not in member
    leader = home(world, "leader_a")
    assert "Members of my grid" in leader and world.member_a.name in leader
    assert world.area_b.name not in leader
    community = home(world, "community")
    assert "Grids of the community" in community and world.grid_b.name in community
    street = home(world, "street")
    assert "Communities" in street and world.other_community.name in street
    department = home(world, "department")
    assert "My department" in department


def test_home_lists_households_without_area(world):
    world.household_b.area = None
    world.household_b.save()
    assert "1 active household has no responsibility area" in home(world, "community")


def test_login_required_everywhere(world):
    client = Client()
    for url in ["/", "/map/", "/households/", "/households/export.csv", "/imports/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_csv_export_masks_personal_data_for_street_office(world):
    client = Client()
    client.force_login(world.users["street"])
    body = b"".join(client.get("/households/export.csv").streaming_content).decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("code,community_code,building_code,area_code")
    assert len(lines) == 1 + 4
    assert "张**" in body and "138****5678" in body and "13812345678" not in body
    client.force_login(world.users["leader_a"])
    body = b"".join(client.get("/households/export.csv").streaming_content).decode("utf-8-sig")
    assert "13812345678" in body and len(body.strip().splitlines()) == 1 + 2


def test_household_list_filters_by_key_group(world):
    world.household_a.key_groups = ["elderly_alone"]
    world.household_a.save()
    client = Client()
    client.force_login(world.users["community"])
    page = client.get("/households/?key_group=elderly_alone").content.decode()
    assert "HA1" in page and "HB1" not in page
    assert "elderly living alone" in page
