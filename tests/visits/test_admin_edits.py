"""Edits made in the Django admin (one row at a time, or a bulk delete) leave every rollup exact: an area's
code, grid or member changed, members and areas deleted in bulk (their upkeep batched: one refresh)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from gridgov.geo.models import ResponsibilityArea
from gridgov.gridding.services import plan_approve
from gridgov.households.models import Household
from gridgov.teams.models import Member
from gridgov.visits import recompute, rollups, services

from .. import factories as f
from .test_sync import visit
from .test_writer_locks import _draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def kept(world):
    """Every household known to the rollups, a visit counted in area A, the dashboard rows kept."""
    rollups.refresh(Household.objects.values_list("id", flat=True))
    services.record_visits([visit("HA1"), visit("HB1")], actor=world.users["admin"])
    rollups.fold()
    assert rollups.dashboard_member_of(world.area_a.code)[0]
    return world


def exact() -> None:
    assert recompute.differences() == dict.fromkeys(rollups.KEPT, 0)
    rollups.fold()
    assert recompute.differences() == dict.fromkeys(rollups.KEPT, 0)


def test_an_area_renumbered_in_its_grid(kept):
    area = kept.area_a
    area.code = area.code[:-2] + "09"
    with transaction.atomic():
        area.save()
    exact()


def test_an_area_moved_to_another_grid(kept):
    """Area A2 (household HA2, a visit) renumbered into grid B: the grid rows of A and B change."""
    world = kept
    services.record_visits(
        [visit("HA2", lon=world.household_a2.point.x, lat=world.household_a2.point.y)],
        actor=world.users["admin"],
    )
    rollups.fold()
    area = world.area_a2
    area.grid = world.grid_b
    area.code = world.grid_b.code + "07"
    area.boundary = world.area_b.boundary
    with transaction.atomic():
        area.save()
    exact()


def test_an_area_changing_hands_and_code(kept):
    world = kept
    area = world.area_a
    area.member = world.area_b.member
    with transaction.atomic():
        area.save()
    exact()
    area.code = area.code[:-2] + "08"
    area.member = None
    with transaction.atomic():
        area.save()
    exact()


def _admin(world) -> Client:
    c = Client()
    c.force_login(world.users["admin"])
    return c


def test_members_and_areas_deleted_in_bulk_refresh_once(kept, monkeypatch):
    """The admin's bulk delete of members, then of areas: exact, with one refresh per deletion."""
    world = kept
    extra = [f.MemberFactory(community=world.community) for _ in range(3)]
    area_d = ResponsibilityArea.objects.get(code="44030800100200101")
    area_d.member = extra[0]
    area_d.save()
    world.area_a2.member = extra[1]
    world.area_a2.save()
    exact()
    calls = []
    real = rollups._refresh_dashboard
    monkeypatch.setattr(rollups, "_refresh_dashboard", lambda *a, **k: calls.append(a) or real(*a, **k))
    members = [world.member_a.pk, *(m.pk for m in extra)]
    bulk = {"action": "delete_selected", "_selected_action": members, "post": "yes"}
    assert _admin(world).post("/admin/teams/member/", bulk).status_code == 302
    assert not Member.objects.filter(pk__in=members).exists()
    assert len(calls) == 1
    exact()
    calls.clear()
    areas = [world.area_a.pk, world.area_b.pk, area_d.pk]
    bulk = {"action": "delete_selected", "_selected_action": areas, "post": "yes"}
    assert _admin(world).post("/admin/geo/responsibilityarea/", bulk).status_code == 302
    assert not ResponsibilityArea.objects.filter(pk__in=areas).exists()
    assert len(calls) == 1
    exact()


def test_a_grid_deleted_in_the_admin_with_its_areas(kept):
    world = kept
    url = f"/admin/geo/grid/{world.grid_a.pk}/delete/"
    assert _admin(world).post(url, {"post": "yes"}).status_code == 302
    assert not ResponsibilityArea.objects.filter(grid_id=world.grid_a.pk).exists()
    exact()


def test_an_approval_deleting_areas_refreshes_once(kept, monkeypatch):
    """A plan that keeps area A only (HA1, HA2, HB1 in it; A2 and B, B with a member, deleted): the
    upkeep of the areas saved and deleted is one refresh, exact."""
    world = kept
    plan = _draft(world, {world.area_a: [world.household_a, world.household_a2, world.household_b]})
    calls = {"refresh": 0, "dashboard": 0}
    refresh, dashboard = rollups.refresh, rollups._refresh_dashboard

    def counted(name, real):
        def run(*a, **k):
            calls[name] += 1
            return real(*a, **k)

        return run

    monkeypatch.setattr(rollups, "refresh", counted("refresh", refresh))
    monkeypatch.setattr(rollups, "_refresh_dashboard", counted("dashboard", dashboard))
    plan_approve(plan=plan, actor=None)
    assert calls == {"refresh": 1, "dashboard": 1}
    assert set(
        ResponsibilityArea.objects.filter(grid__community=world.community).values_list("code", flat=True)
    ) == {world.area_a.code}
    exact()
