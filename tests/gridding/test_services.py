"""Gridding services against PostGIS: plan, approve, re-grid, adjust, restore, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.gis.geos import Point
from django.core.management import CommandError, call_command
from django.db.models import Count

from gridgov.core.errors import GridgovError
from gridgov.core.models import AuditEntry
from gridgov.geo.models import Building, Community, Grid, ResponsibilityArea
from gridgov.gridding.models import GriddingPlan, PlanArea, PlanCell
from gridgov.gridding.services import (
    GriddingSettings,
    plan_approve,
    plan_create,
    plan_move_cell,
    plan_restore,
)
from gridgov.households.models import Household

from .. import factories as f

pytestmark = pytest.mark.django_db

X0, Y0 = 114.25, 22.57


def lattice_community(code: str = "440308002003", n: int = 64, seed: int = 4) -> Community:
    """A 0.008° square community (~820 m × 890 m) with `n` buildings of 1–30 households."""
    rng = np.random.default_rng(seed)
    street = f.StreetFactory(code=code[:9])
    size = 0.008
    community = f.CommunityFactory(street=street, code=code, boundary=f.mbox(X0, Y0, X0 + size, Y0 + size))
    side = int(np.ceil(np.sqrt(n)))
    households = []
    for i in range(n):
        x = X0 + size * (i % side + 0.5 + rng.uniform(-0.25, 0.25)) / side
        y = Y0 + size * (i // side + 0.5 + rng.uniform(-0.25, 0.25)) / side
        b = Building.objects.create(
            community=community, code=f"{code}B{i:03d}", address=f"{i}号楼", point=Point(x, y, srid=4326)
        )
        k = int(rng.integers(21, 31)) if rng.random() < 0.08 else int(rng.integers(1, 21))
        for h in range(k):
            households.append(
                Household(
                    community=community,
                    building=b,
                    code=f"{b.code}-{h:02d}",
                    unit="1",
                    floor=h // 2 + 1,
                    room=f"{h % 2 + 1:02d}",
                    point=b.point,
                )
            )
    Household.objects.bulk_create(households)
    return community


def test_plan_then_approve_puts_every_household_in_one_area():
    community = lattice_community()
    result = plan_create(community=community, actor=None)
    plan = result.plan
    assert plan.status == "draft" and plan.method == "fresh"
    assert result.quality["areas_in_range"] >= 0.95
    assert result.quality["gap_area_m2"] < 1 and result.quality["overlap_area_m2"] < 1
    # Draft changes nothing in force yet.
    assert not Grid.objects.filter(community=community).exists()
    applied = plan_approve(plan=plan, actor=None)
    active = Household.objects.filter(community=community, active=True)
    assert not active.filter(area__isnull=True).exists()
    assert Grid.objects.filter(community=community).count() == applied.grids == plan.grids.count()
    assert ResponsibilityArea.objects.filter(grid__community=community).count() == applied.areas
    assert len(applied.unassigned_areas) == applied.areas  # nobody was a member before
    community.refresh_from_db()
    assert community.gridded_at is not None
    assert set(AuditEntry.objects.values_list("action", flat=True)) >= {
        "gridding.plan_create",
        "gridding.plan_approve",
    }
    # Every cell's households are in that cell's area in force.
    for cell in PlanCell.objects.filter(plan=plan).select_related("area")[:50]:
        codes = set(Household.objects.filter(id__in=cell.household_ids).values_list("area__code", flat=True))
        assert codes == {cell.area.code}


def test_regrid_after_a_new_building_keeps_codes_and_members():
    community = lattice_community()
    plan_approve(plan=plan_create(community=community, actor=None).plan, actor=None)
    member = f.MemberFactory(community=community)
    area = ResponsibilityArea.objects.filter(grid__community=community).order_by("code").first()
    area.member = member
    area.save()
    leader = f.MemberFactory(community=community)
    grid = area.grid
    grid.leader = leader
    grid.save()
    before = dict(Household.objects.filter(community=community).values_list("id", "area__code"))
    b = Building.objects.create(
        community=community, code="NEW", address="新楼", point=Point(X0 + 0.0041, Y0 + 0.0043, srid=4326)
    )
    # Staff put new households in the area where the building lies (a gridded community needs one).
    here = ResponsibilityArea.objects.get(grid__community=community, boundary__intersects=b.point)
    Household.objects.bulk_create(
        [
            Household(community=community, building=b, code=f"NEW-{i}", point=b.point, active=True, area=here)
            for i in range(12)
        ]
    )
    result = plan_create(community=community, actor=None)
    assert result.plan.method == "regrid"
    plan_approve(plan=result.plan, actor=None)
    after = dict(Household.objects.filter(community=community).values_list("id", "area__code"))
    kept = sum(before[h] == after[h] for h in before) / len(before)
    assert kept >= 0.95
    area.refresh_from_db()
    assert area.member == member
    assert Grid.objects.get(code=grid.code).leader == leader


def test_a_regrid_after_a_new_building_rebuilds_only_its_region(monkeypatch):
    """The service re-grids incrementally: the plan in force's cells kept but around the change, the
    path said in the plan's quality (and on the plan page, translated); a barrier drawn since takes the
    full rebuild."""
    from django.contrib.gis.geos import LineString
    from django.test import Client

    import gridgov.gridding.services as services
    from gridgov.gridding.models import Barrier

    community = lattice_community()
    first = plan_create(community=community, actor=None).plan
    plan_approve(plan=first, actor=None)
    before = dict(Household.objects.filter(community=community).values_list("id", "area__code"))
    b = Building.objects.create(
        community=community, code="NEW", address="新楼", point=Point(X0 + 0.0041, Y0 + 0.0043, srid=4326)
    )
    # (a gridded community's active households need an area: staff put them where the building lies)
    here = ResponsibilityArea.objects.get(grid__community=community, boundary__intersects=b.point)
    Household.objects.bulk_create(
        [
            Household(community=community, building=b, code=f"NEW-{i}", point=b.point, area=here)
            for i in range(12)
        ]
    )
    measured = []
    measure = services.measure
    monkeypatch.setattr(services, "measure", lambda *a, **k: measured.append(1) or measure(*a, **k))
    result = plan_create(community=community, actor=None, save=False)
    assert result.quality["regrid_path"].startswith("incremental")
    assert not measured  # the re-grid measured the plan it chose: not measured again
    assert result.quality["kept_same_area"] >= 0.95 and result.quality["kept_same_grid"] >= 0.95
    assert result.quality["multipart_polygons"] == 0 and result.quality["areas_contiguous"] == 1.0
    km2 = result.engine_plan.area_polygons and sum(p.area for p in result.engine_plan.area_polygons) / 1e6
    assert result.quality["gap_area_m2"] <= km2 and result.quality["overlap_area_m2"] <= km2
    # The staff's area has no room for 12 more: they are not held to it, every area ends in range.
    assert result.quality["areas_in_range"] == 1.0
    # Most areas are the stored ones as they are (their outlines read back, not dissolved again); those
    # around the new building are re-cut to take its households in (12 of 46 here).
    old = {a.code: a.boundary for a in first.areas.all()}
    plan = plan_create(community=community, actor=None).plan
    same = [
        a for a in plan.areas.all() if a.code in old and a.boundary.sym_difference(old[a.code]).area < 1e-12
    ]
    assert len(same) >= 0.7 * plan.areas.count()
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(f.UserFactory(role="admin"))
    page = client.get(f"/gridding/plans/{plan.pk}/").content.decode()
    assert 'id="q-path"' in page and "仅重划变动周边" in page
    plan_approve(plan=plan, actor=None)
    after = dict(Household.objects.filter(community=community).values_list("id", "area__code"))
    assert sum(before[h] == after[h] for h in before) / len(before) >= 0.95
    # A barrier drawn since the plan in force: its cells may cross it, so they are all rebuilt.
    mid = X0 + 0.0043
    Barrier.objects.create(name="新路", line=LineString((mid, Y0 - 0.001), (mid, Y0 + 0.009), srid=4326))
    Household.objects.filter(building=b).first().delete()
    again = plan_create(community=community, actor=None, save=False)
    # The plan in force is not read at all once the barriers near the community changed since it
    # (`selectors.stored_plan` gives None), so the re-grid is not even offered the local path; it says why.
    assert again.quality["regrid_path"] == "full (barriers changed since the plan in force: 1 drawn)"
    assert again.quality["multipart_polygons"] == 0


@pytest.mark.parametrize("change", ["deleted", "moved off", "moved", "renamed"])
def test_a_regrid_after_a_barrier_changed_rebuilds_in_full(change):
    """The plan in force's cells were cut along the barriers of its day: a barrier deleted or moved since
    (not only one drawn since) takes the full rebuild, the reason in the path, where the incremental
    re-grid would keep cells along a line no longer there; a barrier renamed only does not. A restored
    plan keeps the barriers of the plan it copies."""
    from django.contrib.gis.geos import LineString

    from gridgov.gridding.models import Barrier

    community = lattice_community()
    mid = X0 + 0.0043
    road = Barrier.objects.create(
        name="主干道", line=LineString((mid, Y0 - 0.001), (mid, Y0 + 0.009), srid=4326)
    )
    first = plan_create(community=community, actor=None).plan
    plan_approve(plan=first, actor=None)
    pk, digest = road.pk, road_digest(road)
    # (nothing changed: the plan in force as it is)
    assert plan_create(community=community, actor=None, save=False).quality["regrid_path"] == "stored"
    if change == "deleted":
        road.delete()
    elif change == "moved off":  # off the community: no longer one of its barriers
        road.line = LineString((X0 - 0.003, Y0 - 0.001), (X0 - 0.003, Y0 + 0.009), srid=4326)
        road.save()
    elif change == "moved":
        road.line = LineString((mid + 0.001, Y0 - 0.001), (mid + 0.001, Y0 + 0.009), srid=4326)
        road.save()
    else:
        road.name = "中山路"
        road.save()
    # (and a household gone: a change the incremental re-grid would take on the cells in force)
    gone = Household.objects.filter(community=community).order_by("id").first()
    Household.objects.filter(pk=gone.pk).update(active=False)
    result = plan_create(community=community, actor=None)
    why = {"deleted": "1 removed", "moved off": "1 removed", "moved": "1 moved"}.get(change)
    if why is None:
        assert result.quality["regrid_path"].startswith("incremental")
        return
    assert result.quality["regrid_path"] == f"full (barriers changed since the plan in force: {why})"
    assert result.quality["multipart_polygons"] == 0 and result.quality["areas_contiguous"] == 1.0
    # (each plan keeps the barriers it was cut along: barrier pk → a digest of its line)
    assert first.barriers == {str(pk): digest}
    assert result.plan.barriers == ({} if change != "moved" else {str(pk): road_digest(road)})
    # Restoring the first plan brings back cells cut along the old barrier: its re-grid rebuilds in full.
    Household.objects.filter(pk=gone.pk).update(active=True)
    plan_approve(plan=plan_restore(plan=first, actor=None), actor=None)
    again = plan_create(community=community, actor=None, save=False)
    assert again.quality["regrid_path"] == f"full (barriers changed since the plan in force: {why})"


def road_digest(barrier) -> str:  # type: ignore[no-untyped-def]
    import hashlib

    barrier.refresh_from_db()
    return hashlib.sha1(bytes(barrier.line.wkb)).hexdigest()


def test_a_regrid_with_no_change_is_the_plan_in_force(monkeypatch):
    import gridgov.gridding.algorithm.regrid as regrid

    community = lattice_community()
    first = plan_create(community=community, actor=None).plan
    plan_approve(plan=first, actor=None)
    member = f.MemberFactory(community=community)
    area = ResponsibilityArea.objects.filter(grid__community=community).order_by("code").first()
    area.member = member
    area.save()
    before = dict(Household.objects.filter(community=community).values_list("id", "area__code"))

    def rebuilt(*args, **kw):
        raise AssertionError("the cells were rebuilt")

    monkeypatch.setattr(regrid, "regrid_inputs", rebuilt)  # the stored cells, not rebuilt ones
    result = plan_create(community=community, actor=None)
    plan = result.plan
    assert plan.method == "regrid" and plan.based_on == first
    assert result.quality["kept_same_area"] == 1.0 and result.quality["kept_same_grid"] == 1.0
    assert plan.problems == first.problems

    def cells(p):
        return sorted(
            (c.building_id, c.part, tuple(c.household_ids), c.area.code, c.index, tuple(c.neighbours))
            for c in PlanCell.objects.filter(plan=p).select_related("area")
        )

    assert [c[:4] for c in cells(plan)] == [c[:4] for c in cells(first)]
    old = {a.code: a.boundary for a in first.areas.all()}
    for a in plan.areas.all():
        assert a.boundary.sym_difference(old[a.code]).area < 1e-12  # (degrees²: under ~0.01 m²)
    old_grids = {g.code: g.boundary for g in first.grids.all()}
    assert {g.code for g in plan.grids.all()} == set(old_grids)
    for g in plan.grids.all():
        assert g.boundary.sym_difference(old_grids[g.code]).area < 1e-12
    assert plan.areas.get(code=area.code).member == member
    # Other settings than the plan in force's: its cells are not the answer.
    with pytest.raises(AssertionError, match="rebuilt"):
        plan_create(community=community, actor=None, settings=GriddingSettings(area_min=14), save=False)
    plan_approve(plan=plan, actor=None)
    after = dict(Household.objects.filter(community=community).values_list("id", "area__code"))
    assert after == before


def test_dry_run_saves_nothing():
    community = lattice_community()
    result = plan_create(community=community, actor=None, save=False)
    assert result.plan is None and result.engine_plan.n_areas > 0
    assert not GriddingPlan.objects.exists()


def test_plan_is_refused_when_the_ledger_changed():
    community = lattice_community()
    plan = plan_create(community=community, actor=None).plan
    b = Building.objects.first()
    Household.objects.create(community=community, building=b, code="LATE", point=b.point)
    with pytest.raises(GridgovError) as exc:
        plan_approve(plan=plan, actor=None)
    assert exc.value.code == "gridding.stale"
    assert not Grid.objects.filter(community=community).exists()


def test_move_building_to_a_neighbouring_area_updates_sizes():
    community = lattice_community()
    plan = plan_create(community=community, actor=None).plan
    cell = target = source = None
    for area in (
        PlanArea.objects.filter(plan=plan).annotate(n=Count("cells")).filter(n__gt=1).order_by("code")
    ):
        for c in area.cells.all():
            target = (
                PlanArea.objects.filter(plan=plan, boundary__intersects=c.boundary)
                .exclude(pk=area.pk)
                .first()
            )
            if target:
                source, cell = area, c
                break
        if cell:
            break
    assert cell is not None
    before = source.households + target.households
    sizes = plan_move_cell(plan=plan, cell=cell, to_area=target, actor=None)["sizes"]
    assert sizes[source.code]["households"] + sizes[target.code]["households"] == before
    assert PlanCell.objects.get(pk=cell.pk).area_id == target.pk
    far = PlanArea.objects.filter(plan=plan).exclude(boundary__intersects=cell.boundary).first()
    with pytest.raises(GridgovError):
        plan_move_cell(plan=plan, cell=PlanCell.objects.get(pk=cell.pk), to_area=far, actor=None)


def test_restore_an_earlier_plan():
    community = lattice_community()
    first = plan_create(community=community, actor=None).plan
    plan_approve(plan=first, actor=None)
    codes_first = set(
        ResponsibilityArea.objects.filter(grid__community=community).values_list("code", flat=True)
    )
    second = plan_create(
        community=community,
        actor=None,
        fresh=True,
        settings=GriddingSettings(area_min=10, area_max=14, grid_min=60, grid_max=200),
    ).plan
    plan_approve(plan=second, actor=None)
    first.refresh_from_db()
    assert first.status == "superseded"
    copy = plan_restore(plan=first, actor=None)
    plan_approve(plan=copy, actor=None)
    codes_now = set(
        ResponsibilityArea.objects.filter(grid__community=community).values_list("code", flat=True)
    )
    assert codes_now == codes_first
    assert GriddingPlan.objects.filter(community=community, status="approved").count() == 1


def test_bad_communities_are_refused_and_nothing_is_applied():
    street = f.StreetFactory(code="440308004")
    empty = f.CommunityFactory(street=street, code="440308004009")
    with pytest.raises(GridgovError) as exc:
        plan_create(community=empty, actor=None)
    assert "no households" in exc.value.message
    no_boundary = f.CommunityFactory(street=street, code="440308004010", boundary=None)
    with pytest.raises(GridgovError) as exc:
        plan_create(community=no_boundary, actor=None)
    assert "no boundary" in exc.value.message
    assert not GriddingPlan.objects.exists()


def test_command_grids_a_street_and_reports(capsys):
    lattice_community("440308002003", n=36)
    lattice_community("440308002004", n=36, seed=9)
    call_command("grid_community", "440308002", "--approve")
    out = capsys.readouterr().out
    assert out.count("approved:") == 2 and "in range" in out
    with pytest.raises(CommandError):
        call_command("grid_community", "44030")


def test_split_then_merge_an_area():
    from gridgov.gridding.services import plan_merge_areas, plan_split_area

    community = lattice_community()
    plan = plan_create(community=community, actor=None).plan
    area = (
        PlanArea.objects.filter(plan=plan)
        .annotate(n=Count("cells"))
        .filter(n__gte=2)
        .order_by("code")
        .first()
    )
    total = area.households
    sizes = plan_split_area(plan=plan, area=area, actor=None)["sizes"]
    assert len(sizes) == 2 and sum(s["households"] for s in sizes.values()) == total
    assert all(s["pieces"] == 1 for s in sizes.values())
    new_code = next(c for c in sizes if c != area.code)
    new = PlanArea.objects.get(plan=plan, code=new_code)
    sizes = plan_merge_areas(plan=plan, area=area, other=new, actor=None)["sizes"]
    assert sizes[area.code]["households"] == total
    assert not PlanArea.objects.filter(plan=plan, code=new_code).exists()
    single = PlanArea.objects.filter(plan=plan).annotate(n=Count("cells")).filter(n=1).first()
    with pytest.raises(GridgovError):
        plan_split_area(plan=plan, area=single, actor=None)


def test_infeasible_block_between_barriers_is_reported_with_its_outline():
    from django.contrib.gis.geos import LineString

    from gridgov.gridding.models import Barrier

    community = lattice_community(n=36)
    mid = X0 + 0.004
    Barrier.objects.create(name="主干道", line=LineString((mid, Y0 - 0.001), (mid, Y0 + 0.009), srid=4326))
    # Leave the west block with 25 households: impossible to cut into groups of 15–20.
    west = Household.objects.filter(
        community=community, point__within=f.box(X0 - 0.001, Y0 - 0.001, mid, Y0 + 0.009)
    )
    west = west.order_by("id")
    keep = list(west.values_list("id", flat=True)[:25])
    west.exclude(id__in=keep).update(active=False)
    result = plan_create(community=community, actor=None)
    blocks = [p for p in result.problems if p["kind"] == "infeasible_block"]
    assert blocks and "25" in blocks[0]["message"]
    assert blocks[0]["geometry"]["type"] == "Polygon"


def test_more_areas_in_a_grid_than_codes_allow_is_refused_with_the_numbers(capsys):
    """Areas are numbered with 2 digits in their grid, grids with 3: a plan that would need more is
    refused with a clear error (not a database error on a code too long), by the service, the API and
    the command alike; nothing is saved."""
    from django.utils import translation

    from .test_api import client_for

    community = lattice_community("440308002003", n=36)
    tiny = GriddingSettings(area_min=1, area_max=1, grid_min=300, grid_max=600)
    with pytest.raises(GridgovError) as exc:
        plan_create(community=community, actor=None, settings=tiny)
    assert exc.value.code == "gridding.codes"
    assert "440308002003" in exc.value.message and "at most 99" in exc.value.message
    assert exc.value.params["areas"] > 99 and exc.value.params["grids"] >= 1
    with translation.override("zh-hans"):
        zh = GridgovError("gridding.codes", **exc.value.params).message
    assert "440308002003" in zh and "网格" in zh

    from gridgov.accounts.models import Role

    staff = client_for(Role.COMMUNITY, community.code)
    r = staff.post(
        "/api/v1/gridding/plans/",
        {"community": community.code, "area_min": 1, "area_max": 1, "grid_min": 300, "grid_max": 600},
        content_type="application/json",
    )
    assert r.status_code == 400 and r.json()["code"] == "gridding.codes", r.content
    assert "440308002003" in r.json()["detail"]
    with pytest.raises(CommandError):
        call_command("grid_community", "440308002003", "--area-range", "1-1", "--grid-range", "300-600")
    assert "at most 99" in capsys.readouterr().err
    assert not GriddingPlan.objects.exists()


def test_members_follow_their_households_not_the_codes(monkeypatch):
    """An area whose households got another code in force (here two areas of a grid swap codes) takes
    the member of the area its households were in: the member stays with the households, the code
    does not carry it to others."""
    from gridgov.gridding import services

    community = lattice_community()
    plan_approve(plan=plan_create(community=community, actor=None).plan, actor=None)
    grid = Grid.objects.filter(community=community).order_by("code").first()
    first, second = ResponsibilityArea.objects.filter(grid=grid).order_by("code")[:2]
    members = {}
    for area in (first, second):
        area.member = members[area.code] = f.MemberFactory(community=community)
        area.save()
    as_is = services.regrid

    def swapped(*args, **kw):
        plan = as_is(*args, **kw)
        i, j = plan.area_codes.index(first.code), plan.area_codes.index(second.code)
        plan.area_codes[i], plan.area_codes[j] = plan.area_codes[j], plan.area_codes[i]
        return plan

    monkeypatch.setattr(services, "regrid", swapped)
    plan = plan_create(community=community, actor=None).plan
    # The area holding the first area's households (now coded as the second) has the first's member.
    assert plan.areas.get(code=second.code).member == members[first.code]
    assert plan.areas.get(code=first.code).member == members[second.code]


def test_command_refuses_unusable_ranges_before_gridding():
    """Walked as a user: `--area-range 0-0` ended in a ZeroDivisionError, `20-15` and `nan-20` left the
    engine looping for minutes, `--grid-range 10-12` made a draft no grid could be in range of."""
    lattice_community("440308002003", n=16)
    for args in (
        ["--area-range", "0-0"],
        ["--grid-range", "10-12"],
        ["--area-range", "20-15"],
        ["--area-range", "nan-20"],
    ):
        with pytest.raises(CommandError) as exc:
            call_command("grid_community", "440308002003", *args)
        assert args[0] in str(exc.value), args
    with pytest.raises(GridgovError) as service:
        plan_create(
            community=Community.objects.get(), actor=None, settings=GriddingSettings(area_min=20, area_max=15)
        )
    assert service.value.code == "gridding.settings"
    assert not GriddingPlan.objects.exists()


def test_a_member_whose_households_are_spread_is_left_unassigned(monkeypatch):
    """A member follows their households only to an area holding at least half of them
    (`regrid.MEMBER_MIN_SHARE`): here an area keeps its code and one building, its other buildings
    going each to another area. Before, the area keeping the code kept the member though it held a
    few of their households; now no area takes that member (the area is listed unassigned), and the
    members of the areas that took a building stay."""
    from gridgov.gridding import services

    community = lattice_community()
    plan_approve(plan=plan_create(community=community, actor=None).plan, actor=None)
    members = {}
    for area in ResponsibilityArea.objects.filter(grid__community=community):
        area.member = members[area.code] = f.MemberFactory(community=community)
        area.save()
    as_is = services.regrid
    spread = {}

    def spreading(*args, **kw):
        plan = as_is(*args, **kw)
        w = plan.area_weights()
        for a in range(plan.n_areas):  # an area of three buildings or more, none half of it
            mine = [i for i, x in enumerate(plan.area_of) if x == a]
            if len(mine) >= 3 and all(plan.items[i].weight < w[a] / 2 for i in mine):
                break
        others = [b for b in range(plan.n_areas) if b != a]
        for k, i in enumerate(mine[1:]):
            plan.area_of[i] = others[k]
        spread["code"], spread["to"] = (
            plan.area_codes[a],
            {plan.area_codes[b] for b in others[: len(mine) - 1]},
        )
        return plan

    monkeypatch.setattr(services, "regrid", spreading)
    plan = plan_create(community=community, actor=None).plan
    assert plan.areas.get(code=spread["code"]).member is None
    for code in spread["to"]:
        assert plan.areas.get(code=code).member == members[code]
    assert not plan.areas.filter(member=members[spread["code"]]).exists()


def test_a_grid_leader_follows_the_grid_s_households_not_its_code(monkeypatch):
    """Two grids' codes swapped (their areas renumbered with them): each grid takes the leader of the
    grid its households were in, as an area takes its member (before, the leader followed the code)."""
    from gridgov.gridding import services

    community = lattice_community()
    plan_approve(plan=plan_create(community=community, actor=None).plan, actor=None)
    leaders = {}
    for grid in Grid.objects.filter(community=community):
        grid.leader = leaders[grid.code] = f.MemberFactory(community=community)
        grid.save()
    as_is = services.regrid
    codes = []

    def swapped(*args, **kw):
        plan = as_is(*args, **kw)
        ci, cj = plan.grid_codes[0], plan.grid_codes[1]
        codes[:] = [ci, cj]
        plan.grid_codes[0], plan.grid_codes[1] = cj, ci
        for a, g in enumerate(plan.grid_of_area):
            if g in (0, 1):
                old = ci if g == 0 else cj
                plan.area_codes[a] = plan.grid_codes[g] + plan.area_codes[a][len(old) :]
        return plan

    monkeypatch.setattr(services, "regrid", swapped)
    plan = plan_create(community=community, actor=None).plan
    assert plan.grids.get(code=codes[0]).leader == leaders[codes[1]]
    assert plan.grids.get(code=codes[1]).leader == leaders[codes[0]]
    for code in set(leaders) - set(codes):
        assert plan.grids.get(code=code).leader == leaders[code]
