"""An area left out of range is reported with its nearest alternative, shown in the user's language and
applied in one step (service, API)."""

from __future__ import annotations

from collections import Counter

import pytest
from django.utils import translation

from gridgov.accounts.models import Role
from gridgov.core.errors import GridgovError
from gridgov.gridding.algorithm import engine
from gridgov.gridding.algorithm.repair import components
from gridgov.gridding.models import GriddingPlan, PlanArea, PlanCell
from gridgov.gridding.services import plan_apply_alternative, plan_create, plan_move_cell
from gridgov.gridding.texts import applicable, problem_text

from .test_api import client_for
from .test_services import lattice_community

pytestmark = pytest.mark.django_db


@pytest.fixture
def one_area_broken(monkeypatch):
    """The engine's plan with one whole building moved into a neighbouring area of its grid after the
    mending passes, leaving the area it came from short: a canned area out of range that one move mends."""
    original = engine.cut_shared_buildings

    def cut_then_break(plan, cells, adj, p, config, **kw):
        original(plan, cells, adj, p, config, **kw)
        count = Counter(it.building for it in plan.items)
        w = plan.area_weights()
        for i, it in enumerate(plan.items):
            a = plan.area_of[i]
            rest = [j for j, x in enumerate(plan.area_of) if x == a and j != i]
            if count[it.building] > 1 or not rest or len(components(rest, adj)) > 1:
                continue
            if w[a] - it.weight >= config.area_min:
                continue
            for b in sorted({plan.area_of[j] for j in adj[i]} - {a}):
                if plan.grid_of_area[b] == plan.grid_of_area[a]:
                    plan.area_of[i] = b
                    return True
        raise AssertionError("no building to move")

    monkeypatch.setattr(engine, "cut_shared_buildings", cut_then_break)


def out_of_range(problems: list[dict]) -> list[tuple[int, dict]]:
    return [
        (i, p)
        for i, p in enumerate(problems)
        if p["kind"] == "out_of_range" and p["params"]["level"] == "area"
    ]


def test_the_nearest_alternative_is_stored_shown_and_applied_in_one_step(one_area_broken):
    community = lattice_community()
    result = plan_create(community=community, actor=None)
    plan = result.plan
    bad = out_of_range(plan.problems)
    assert bad
    index, problem = bad[0]
    alt = problem["params"]["alternative"]
    assert alt["feasible"] and alt["steps"] and applicable(problem)
    assert all(15 <= w <= 20 for w in alt["sizes"].values())
    # Each move names the building by its address, the areas by code.
    codes = set(PlanArea.objects.filter(plan=plan).values_list("code", flat=True))
    for step in alt["steps"]:
        assert step["op"] in ("move", "merge")
        if step["op"] == "move":
            assert step["building_name"].endswith("号楼") and {step["from"], step["to"]} <= codes
    message, alternative = problem_text(problem)
    assert problem["params"]["code"] in message and alternative.startswith(
        "Nearest feasible alternative: move "
    )
    with translation.override("zh-hans"):
        alternative_zh = problem_text(problem)[1]
    assert alternative_zh.startswith("最近的可行方案") and all(c in alternative_zh for c in step_codes(alt))

    in_range_before = plan.quality["areas_in_range"]
    result = plan_apply_alternative(plan=plan, index=index, actor=None)
    sizes = result["sizes"]
    # Every area the alternative involves is in range now, as it said.
    assert sizes and all(s["in_range"] and s["pieces"] == 1 for s in sizes.values())
    for code, w in alt["sizes"].items():
        assert PlanArea.objects.get(plan=plan, code=code).weight == w
    plan.refresh_from_db()
    # The problems were checked again: the one mended is gone, and every alternative still offered was
    # searched on the plan as it is now (its moves start from the areas its cells are in).
    assert plan.problems == result["problems"]
    assert problem["params"]["code"] not in {p["params"]["code"] for _k, p in out_of_range(plan.problems)}
    for _k, other in out_of_range(plan.problems):
        for step in other["params"]["alternative"]["steps"]:
            if step["op"] == "move":
                cell = PlanCell.objects.get(plan=plan, household_ids__contains=[int(step["household"])])
                assert cell.area.code == step["from"]
    assert result["quality"]["areas_in_range"] > in_range_before
    # The same problem asked for again (by its code) is refused: the list has changed.
    with pytest.raises(GridgovError) as exc:
        plan_apply_alternative(plan=plan, index=index, actor=None, code=problem["params"]["code"])
    assert exc.value.code in ("gridding.no_alternative", "gridding.stale_alternative")


def step_codes(alt: dict) -> set[str]:
    return {c for s in alt["steps"] for k, c in s.items() if k in ("from", "to", "area", "into")}


def test_a_stale_alternative_is_refused_and_nothing_changes(one_area_broken):
    community = lattice_community()
    plan = plan_create(community=community, actor=None).plan
    index, problem = out_of_range(plan.problems)[0]
    step = next(s for s in problem["params"]["alternative"]["steps"] if s["op"] == "move")
    cell = PlanCell.objects.get(plan=plan, household_ids__contains=[int(step["household"])])
    elsewhere = (
        PlanArea.objects.filter(plan=plan, boundary__intersects=cell.boundary)
        .exclude(code__in=[step["from"], step["to"]])
        .first()
    )
    if elsewhere is None:
        pytest.skip("the building borders no third area")
    # The plan changed under the stored alternative (a write that did not check the problems again).
    PlanCell.objects.filter(pk=cell.pk).update(area=elsewhere)
    before = dict(PlanCell.objects.filter(plan=plan).values_list("pk", "area_id"))
    with pytest.raises(GridgovError) as exc:
        plan_apply_alternative(plan=plan, index=index, actor=None)
    assert exc.value.code == "gridding.stale_alternative"
    assert dict(PlanCell.objects.filter(plan=plan).values_list("pk", "area_id")) == before


def test_an_alternative_asked_for_from_an_old_list_is_refused(one_area_broken):
    community = lattice_community()
    plan = plan_create(community=community, actor=None).plan
    index, problem = out_of_range(plan.problems)[0]
    code = problem["params"]["code"]
    # Staff mend the area by hand instead (the alternative's own steps, one by one).
    for step in problem["params"]["alternative"]["steps"]:
        assert step["op"] == "move"
        cell = PlanCell.objects.get(plan=plan, household_ids__contains=[int(step["household"])])
        plan_move_cell(
            plan=plan, cell=cell, to_area=PlanArea.objects.get(plan=plan, code=step["to"]), actor=None
        )
    plan.refresh_from_db()
    assert code not in {p["params"].get("code") for p in plan.problems}
    before = dict(PlanCell.objects.filter(plan=plan).values_list("pk", "area_id"))
    # A page still showing the old list asks for problem `index` of area `code`: refused, nothing changes.
    with pytest.raises(GridgovError) as exc:
        plan_apply_alternative(plan=plan, index=index, code=code, actor=None)
    assert exc.value.code in ("gridding.stale_alternative", "gridding.no_alternative")
    assert dict(PlanCell.objects.filter(plan=plan).values_list("pk", "area_id")) == before


def test_the_api_gives_the_alternative_and_applies_it(one_area_broken):
    community = lattice_community()
    staff = client_for(Role.COMMUNITY, community.code)
    r = staff.post("/api/v1/gridding/plans/", {"community": community.code}, content_type="application/json")
    assert r.status_code == 201, r.content
    plan_id = r.json()["id"]
    index, problem = out_of_range(r.json()["problems"])[0]
    alt = problem["params"]["alternative"]
    assert alt["feasible"] and alt["steps"] and alt["sizes"]
    assert staff.get(f"/api/v1/gridding/plans/{plan_id}/").json()["problems"][index] == problem
    # Only editors apply it; a bad index is a clear error.
    viewer = client_for(Role.STREET, community.code[:9])
    assert viewer.post(f"/api/v1/gridding/plans/{plan_id}/apply/", {"problem": index}).status_code == 403
    bad = staff.post(
        f"/api/v1/gridding/plans/{plan_id}/apply/", {"problem": 999}, content_type="application/json"
    )
    assert bad.status_code == 400 and bad.json()["code"] == "gridding.no_alternative"
    r = staff.post(
        f"/api/v1/gridding/plans/{plan_id}/apply/", {"problem": index}, content_type="application/json"
    )
    assert r.status_code == 200, r.content
    sizes = r.json()["sizes"]
    assert set(alt["sizes"]) <= set(sizes) and all(s["in_range"] for s in sizes.values())
    # The answer carries the problems checked again (stored), listed in the user's language too.
    stored = GriddingPlan.objects.get(pk=plan_id)
    assert r.json()["problems"] == stored.problems and r.json()["quality"] == stored.quality
    assert problem["params"]["code"] not in {row["code"] for row in r.json()["problem_list"]}
    assert len(r.json()["problem_list"]) == len(stored.problems)
