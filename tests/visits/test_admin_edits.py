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
    assert recompute.differences() == dict.fromkeys(recompute.CHECKED, 0)
    rollups.fold()
    assert recompute.differences() == dict.fromkeys(recompute.CHECKED, 0)


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


def _form(model, fields):
    from gridgov.geo.admin import NodeForm

    meta = type("Meta", (), {"model": model, "fields": fields})
    return type("Form", (NodeForm,), {"Meta": meta})


def test_a_nodes_code_cannot_change_while_nodes_below_carry_it(kept):
    """A grid renumbered while its areas' codes start with the old code: refused by the database (the
    rollups and every prefix search would keep its areas under the old code) and said by the admin's form;
    a grid without areas may be renumbered. The same for a community with grids."""
    from django.db import IntegrityError
    from django.utils import translation

    from gridgov.geo.models import Community, Grid

    world = kept
    grid = Grid.objects.get(pk=world.grid_a.pk)
    grid.code = world.community.code + "009"
    with pytest.raises(IntegrityError, match="cannot change"), transaction.atomic():
        grid.save()
    form = _form(Grid, ["code", "name", "community"])(
        instance=Grid.objects.get(pk=world.grid_a.pk),
        data={"code": world.community.code + "009", "name": "x", "community": world.community.pk},
    )
    assert not form.is_valid()
    assert "2 nodes below carry the code 440308001001001" in form.errors["code"][0]
    with translation.override("zh-hans"):
        assert "下级有 2 个节点的编码以 440308001001001 开头" in form.errors["code"][0]
    # a code that does not start with the parent's (a community moved to another street, code kept)
    other_street = f.StreetFactory(code="440308002")
    form = _form(Community, ["code", "name", "street"])(
        instance=Community.objects.get(pk=world.community.pk),
        data={"code": world.community.code, "name": "x", "street": other_street.pk},
    )
    assert not form.is_valid() and "must start with the code of its parent" in form.errors["code"][0]
    community = Community.objects.get(pk=world.community.pk)
    community.code = "440308001009"
    with pytest.raises(IntegrityError, match="cannot change"), transaction.atomic():
        community.save()
    empty = f.GridFactory(
        community=world.community, code=world.community.code + "005", boundary=world.grid_a.boundary
    )
    empty.code = world.community.code + "006"
    with transaction.atomic():
        empty.save()
    exact()


def test_the_admin_renumbers_an_area_through_its_change_page(kept):
    """The admin's own path: the change form posted (the area's code changed in its grid)."""
    world = kept
    admin = _admin(world)
    url = f"/admin/geo/responsibilityarea/{world.area_a.pk}/change/"
    assert admin.get(url).status_code == 200
    assert admin.get(f"/admin/geo/grid/{world.grid_a.pk}/change/").status_code == 200
    data = {
        "code": world.area_a.code[:-2] + "09",
        "name": world.area_a.name,
        "name_en": "",
        "grid": world.grid_a.pk,
        "boundary": world.area_a.boundary.geojson,
        "member": world.member_a.pk,
    }
    r = admin.post(url, data)
    assert r.status_code == 302, r.content.decode()[:2000]
    assert ResponsibilityArea.objects.get(pk=world.area_a.pk).code.endswith("09")
    exact()
