"""A plan's problems and quality follow every adjustment by hand (service and API): a problem made by hand
appears with its nearest alternative, a problem mended by hand disappears, and a grid's alternative is
applied in one step like an area's."""

from __future__ import annotations

import pytest
from django.db.models import Count

from gridgov.accounts.models import Role
from gridgov.core.errors import GridgovError
from gridgov.gridding import checks
from gridgov.gridding.models import GriddingPlan, PlanArea, PlanCell, PlanGrid
from gridgov.gridding.services import (
    plan_apply_alternative,
    plan_approve,
    plan_create,
    plan_merge_areas,
    plan_move_area,
    plan_move_cell,
    plan_split_area,
)
from gridgov.gridding.texts import applicable
from gridgov.households.models import Household

from .test_alternatives import one_area_broken  # noqa: F401 (a fixture)
from .test_api import client_for
from .test_services import lattice_community

pytestmark = pytest.mark.django_db

FIGURES = ("areas", "grids", "areas_in_range", "grids_in_range", "areas_contiguous", "multipart_polygons")


def problem_of(problems: list[dict], code: str, kind: str = "out_of_range") -> dict | None:
    return next((p for p in problems if p["kind"] == kind and p["params"].get("code") == code), None)


def movable(plan: GriddingPlan) -> tuple[PlanCell, PlanArea, PlanArea]:
    """A building whose move to a neighbouring area leaves its own area short (below 15)."""
    for c in PlanCell.objects.filter(plan=plan).select_related("area").order_by("pk"):
        area = c.area
        if area.cells.count() < 2 or area.weight - c.weight >= 15:
            continue
        target = (
            PlanArea.objects.filter(plan=plan, boundary__intersects=c.boundary).exclude(pk=area.pk).first()
        )
        if target is not None:
            return c, area, target
    raise AssertionError("no building to move")


def test_a_problem_made_by_hand_appears_with_its_alternative_and_goes_when_mended():
    plan = plan_create(community=lattice_community(), actor=None).plan
    quality = dict(plan.quality)
    cell, source, target = movable(plan)
    assert problem_of(plan.problems, source.code) is None

    result = plan_move_cell(plan=plan, cell=cell, to_area=target, actor=None)
    made = problem_of(result["problems"], source.code)
    assert made is not None and made["params"]["weight"] == source.weight - cell.weight
    alt = made["params"]["alternative"]
    assert alt["steps"] and alt["sizes"][source.code] >= 15  # the nearest change mends it (on paper)
    assert applicable(made)
    assert all(s.get("building_name", "").endswith("号楼") for s in alt["steps"] if s["op"] == "move")
    q = result["quality"]
    n = quality["areas"]
    assert q["areas_in_range"] == pytest.approx(
        quality["areas_in_range"] - 1 / n - (target.weight + cell.weight > 20) / n
    )
    plan.refresh_from_db()  # stored in the adjustment's transaction
    assert plan.problems == result["problems"] and plan.quality == q

    # Moved back: the problem is gone and the figures are as the engine gave them.
    result = plan_move_cell(plan=plan, cell=cell, to_area=source, actor=None)
    assert problem_of(result["problems"], source.code) is None
    assert {k: result["quality"][k] for k in FIGURES} == {k: quality[k] for k in FIGURES}
    for k in ("pp_mean", "pp_median", "pp_min", "hull_pp_min"):
        assert result["quality"][k] == pytest.approx(quality[k], abs=1e-3)


def test_split_merge_and_an_applied_alternative_keep_the_problems_current():
    plan = plan_create(community=lattice_community(), actor=None).plan
    area = (
        PlanArea.objects.filter(plan=plan)
        .annotate(n=Count("cells"))
        .filter(n__gte=3)
        .order_by("code")
        .first()
    )
    areas = plan.quality["areas"]
    result = plan_split_area(plan=plan, area=area, actor=None)
    halves = list(result["sizes"])
    assert len(halves) == 2 and result["quality"]["areas"] == areas + 1
    # Two halves of an area of 15–20 are both short: each is a problem with its nearest alternative.
    made = [problem_of(result["problems"], code) for code in halves]
    assert all(p is not None and p["params"]["alternative"]["steps"] for p in made)
    index = result["problems"].index(made[0])
    applied = plan_apply_alternative(plan=plan, index=index, code=halves[0], actor=None)
    assert (
        problem_of(applied["problems"], halves[0]) is None or not made[0]["params"]["alternative"]["feasible"]
    )
    for code, w in made[0]["params"]["alternative"]["sizes"].items():
        assert PlanArea.objects.get(plan=plan, code=code).weight == w
    # Whatever is left short is merged back by hand: no problem is left about either half.
    left = [c for c in halves if PlanArea.objects.filter(plan=plan, code=c).exists()]
    if len(left) == 2:
        a, b = (PlanArea.objects.get(plan=plan, code=c) for c in left)
        result = plan_merge_areas(plan=plan, area=a, other=b, actor=None)
        assert result["quality"]["areas"] == areas
        assert all(problem_of(result["problems"], c) is None for c in halves)


def test_a_grid_alternative_is_applied_in_one_step():
    plan = plan_create(community=lattice_community(), actor=None).plan
    # Staff move an area out of a grid that then falls short of 100 households.
    area = grid = None
    for a in PlanArea.objects.filter(plan=plan).select_related("grid").order_by("code"):
        if a.grid.weight - a.weight >= 100:
            continue
        grid = (
            PlanGrid.objects.filter(plan=plan, boundary__intersects=a.boundary).exclude(pk=a.grid_id).first()
        )
        if grid is not None:
            area = a
            break
    assert area is not None
    short = area.grid.code
    result = plan_move_area(plan=plan, area=area, to_grid=grid, actor=None)
    assert result["sizes"][short]["weight"] < 100 and not result["sizes"][short]["in_range"]
    assert not PlanArea.objects.filter(plan=plan, code=area.code, grid__code=short).exists()
    made = problem_of(result["problems"], short)
    assert made is not None and made["params"]["level"] == "grid"
    alt = made["params"]["alternative"]
    assert alt["feasible"] and applicable(made)
    assert {s["op"] for s in alt["steps"]} <= {"move_area", "merge_grid"}
    index = result["problems"].index(made)
    before = dict(PlanArea.objects.filter(plan=plan).values_list("code", "weight"))
    result = plan_apply_alternative(plan=plan, index=index, code=short, actor=None)
    # One step: the grids end as the alternative said, every area's households are intact, and the
    # problem is gone; each area moved took a code of its new grid.
    for code, w in alt["sizes"].items():
        assert PlanGrid.objects.get(plan=plan, code=code).weight == w
    assert problem_of(result["problems"], short) is None
    assert sorted(PlanArea.objects.filter(plan=plan).values_list("weight", flat=True)) == sorted(
        before.values()
    )
    for a in PlanArea.objects.filter(plan=plan).select_related("grid"):
        assert a.code.startswith(a.grid.code) and len(a.code) == len(a.grid.code) + 2
    assert result["quality"]["grids_in_range"] == 1.0


def test_a_stale_grid_alternative_is_refused_and_nothing_changes():
    plan = plan_create(community=lattice_community(), actor=None).plan
    for a in PlanArea.objects.filter(plan=plan).select_related("grid").order_by("code"):
        grid = (
            PlanGrid.objects.filter(plan=plan, boundary__intersects=a.boundary).exclude(pk=a.grid_id).first()
        )
        if a.grid.weight - a.weight < 100 and grid is not None:
            result = plan_move_area(plan=plan, area=a, to_grid=grid, actor=None)
            made = problem_of(result["problems"], a.grid.code)
            break
    step = made["params"]["alternative"]["steps"][0]
    # The plan changed under the alternative (a write that did not check the problems again): the area
    # it moves is no longer the size it was, or the grid it merges is gone.
    if step["op"] == "move_area":
        PlanArea.objects.filter(plan=plan, code=step["area"]).update(weight=0.5)
    else:
        PlanGrid.objects.filter(plan=plan, code=step["grid"]).update(code="440308002003999")
    before = dict(PlanArea.objects.filter(plan=plan).values_list("code", "grid__code"))
    with pytest.raises(GridgovError) as exc:
        plan_apply_alternative(plan=plan, index=result["problems"].index(made), actor=None)
    assert exc.value.code == "gridding.stale_alternative"
    assert dict(PlanArea.objects.filter(plan=plan).values_list("code", "grid__code")) == before


@pytest.mark.usefixtures("one_area_broken")
def test_an_alternative_the_change_did_not_reach_is_kept(monkeypatch):
    plan = plan_create(community=lattice_community(), actor=None).plan
    plan.refresh_from_db()
    kept = next(p for p in plan.problems if p["kind"] == "out_of_range")
    reach = checks._involved(kept["params"]["alternative"]) | {kept["params"]["code"]}
    searched: list[str] = []
    original = checks.explain

    def spy(engine_plan, links, config):  # type: ignore[no-untyped-def]
        searched.extend(p.params["code"] for p in engine_plan.problems)
        return original(engine_plan, links, config)

    monkeypatch.setattr(checks, "explain", spy)
    # A move far from that problem (neither its areas nor their neighbours).
    near = set(reach)
    for code in reach:
        a = PlanArea.objects.get(plan=plan, code=code)
        near |= set(
            PlanArea.objects.filter(plan=plan, boundary__intersects=a.boundary).values_list("code", flat=True)
        )
    cell = target = None
    for c in PlanCell.objects.filter(plan=plan).select_related("area").order_by("-pk"):
        if c.area.code in near or c.area.cells.count() < 2:
            continue
        t = PlanArea.objects.filter(plan=plan, boundary__intersects=c.boundary).exclude(
            code__in=near | {c.area.code}
        )
        if t.exists():
            cell, target = c, t.first()
            break
    assert cell is not None
    result = plan_move_cell(plan=plan, cell=cell, to_area=target, actor=None)
    assert problem_of(result["problems"], kept["params"]["code"]) == kept
    assert kept["params"]["code"] not in searched


def test_a_plan_kept_without_links_is_linked_from_its_outlines():
    plan = plan_create(community=lattice_community(), actor=None).plan
    engine_links = dict(PlanCell.objects.filter(plan=plan).values_list("index", "neighbours"))
    PlanCell.objects.filter(plan=plan).update(index=None, neighbours=[])
    cell, source, target = movable(plan)
    result = plan_move_cell(plan=plan, cell=cell, to_area=target, actor=None)
    assert problem_of(result["problems"], source.code)["params"]["alternative"]["steps"]
    cells = list(PlanCell.objects.filter(plan=plan).order_by("index"))
    assert [c.index for c in cells] == list(range(len(cells)))
    links = {c.index: set(c.neighbours) for c in cells}
    assert all(i in links[j] for i in links for j in links[i])
    # The outlines give (nearly) the engine's links, numbered by pk instead of the engine's order.
    by_pk = sorted(engine_links)  # cells were created in the engine's order: pk order = engine order
    same = sum(len(set(engine_links[k]) & links[k]) for k in by_pk)
    assert same >= 0.95 * sum(len(v) for v in engine_links.values())


def test_households_keeping_their_area_follow_a_move_after_a_regrid():
    community = lattice_community()
    plan_approve(plan=plan_create(community=community, actor=None).plan, actor=None)
    plan = plan_create(community=community, actor=None).plan
    assert plan.method == "regrid" and plan.quality["kept_same_area"] > 0.9
    cell, source, target = movable(plan)
    live = list(Household.objects.filter(id__in=cell.household_ids).values_list("area__code", flat=True))
    result = plan_move_cell(plan=plan, cell=cell, to_area=target, actor=None)
    common = Household.objects.filter(community=community, active=True, area__isnull=False).count()
    change = (live.count(target.code) - live.count(source.code)) / common
    assert live.count(source.code) > 0
    assert result["quality"]["kept_same_area"] == pytest.approx(plan.quality["kept_same_area"] + change)


def test_adjustments_through_the_api_answer_with_problems_and_quality_and_are_scoped():
    community = lattice_community()
    other = lattice_community("440308002004", n=16, seed=2)
    staff = client_for(Role.COMMUNITY, community.code)
    plan = plan_create(community=community, actor=None).plan
    cell, source, target = movable(plan)
    url = f"/api/v1/gridding/plans/{plan.pk}/"
    moves = {
        "move/": {"cell": cell.pk, "area": target.code},
        "split/": {"area": source.code},
        "merge/": {"area": source.code, "other": target.code},
        "move-area/": {"area": source.code, "grid": target.grid.code},
        "merge-grids/": {"grid": source.grid.code, "into": target.grid.code},
        "apply/": {"problem": 0},
    }
    # Staff of another community do not see the plan; a street office sees it but may not adjust it.
    outsider = client_for(Role.COMMUNITY, other.code)
    viewer = client_for(Role.STREET, community.code[:9])
    for path, body in moves.items():
        assert outsider.post(url + path, body, content_type="application/json").status_code == 404
        assert viewer.post(url + path, body, content_type="application/json").status_code == 403
    assert GriddingPlan.objects.get(pk=plan.pk).problems == plan.problems

    r = staff.post(url + "move/", moves["move/"], content_type="application/json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["sizes"][source.code]["households"] == source.households - len(cell.household_ids)
    assert problem_of(body["problems"], source.code) is not None
    row = next(row for row in body["problem_list"] if row["code"] == source.code)
    assert row["message"].startswith(f"Area {source.code} holds") and row["applicable"]
    assert body["quality"] == GriddingPlan.objects.get(pk=plan.pk).quality
    zh = staff.post(
        url + "move/",
        {"cell": cell.pk, "area": source.code},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert zh.status_code == 200 and problem_of(zh.json()["problems"], source.code) is None
    # The list is in the user's language.
    zh = staff.post(
        url + "move/", moves["move/"], content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    row = next(row for row in zh.json()["problem_list"] if row["code"] == source.code)
    assert row["message"].startswith(f"责任区 {source.code} 有"), row["message"]
    # An alternative is applied only as the client saw it: another fingerprint is refused, nothing changes.
    index = row["index"]
    before = GriddingPlan.objects.get(pk=plan.pk).problems
    r = staff.post(
        url + "apply/",
        {"problem": index, "code": source.code, "token": "0" * 16},
        content_type="application/json",
    )
    assert r.status_code == 400 and GriddingPlan.objects.get(pk=plan.pk).problems == before
    # A step that cannot be taken is a clear error and changes nothing.
    grids = dict(PlanArea.objects.filter(plan=plan).values_list("code", "grid__code"))
    r = staff.post(
        url + "move-area/",
        {"area": source.code, "grid": "999999999999999"},
        content_type="application/json",
    )
    assert r.status_code == 404
    assert GriddingPlan.objects.get(pk=plan.pk).problems == before
    assert dict(PlanArea.objects.filter(plan=plan).values_list("code", "grid__code")) == grids
