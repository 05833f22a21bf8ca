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

    sizes = plan_apply_alternative(plan=plan, index=index, actor=None)
    # Every area the alternative involves is in range now, as it said.
    assert sizes and all(s["in_range"] and s["pieces"] == 1 for s in sizes.values())
    for code, w in alt["sizes"].items():
        assert PlanArea.objects.get(plan=plan, code=code).weight == w
    plan.refresh_from_db()
    assert plan.problems[index]["params"]["alternative"]["applied"] and not applicable(plan.problems[index])
    assert problem_text(plan.problems[index])[1].startswith("Applied: ")
    # Alternatives of other problems that touch these areas were for the plan as it was: not offered now.
    for k, other in out_of_range(plan.problems):
        theirs = step_codes(other["params"]["alternative"]) | set(
            other["params"]["alternative"].get("sizes", {})
        )
        if k != index and theirs & (set(alt["sizes"]) | step_codes(alt)):
            assert not applicable(other)
    with pytest.raises(GridgovError) as exc:
        plan_apply_alternative(plan=plan, index=index, actor=None)
    assert exc.value.code == "gridding.no_alternative"


def step_codes(alt: dict) -> set[str]:
    return {c for s in alt["steps"] for k, c in s.items() if k in ("from", "to", "area", "into")}


def test_a_stale_alternative_is_refused_and_nothing_changes(one_area_broken):
    community = lattice_community()
    plan = plan_create(community=community, actor=None).plan
    index, problem = out_of_range(plan.problems)[0]
    step = next(s for s in problem["params"]["alternative"]["steps"] if s["op"] == "move")
    cell = PlanCell.objects.get(plan=plan, household_ids__contains=[int(step["household"])])
    # The staff move that building elsewhere by hand first.
    elsewhere = (
        PlanArea.objects.filter(plan=plan, boundary__intersects=cell.boundary)
        .exclude(code__in=[step["from"], step["to"]])
        .first()
    )
    if elsewhere is None:
        pytest.skip("the building borders no third area")
    plan_move_cell(plan=plan, cell=cell, to_area=elsewhere, actor=None)
    before = dict(PlanCell.objects.filter(plan=plan).values_list("pk", "area_id"))
    with pytest.raises(GridgovError) as exc:
        plan_apply_alternative(plan=plan, index=index, actor=None)
    assert exc.value.code == "gridding.stale_alternative"
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
    assert set(alt["sizes"]) <= set(r.json()) and all(s["in_range"] for s in r.json().values())
    stored = GriddingPlan.objects.get(pk=plan_id).problems[index]["params"]["alternative"]
    assert stored["applied"]
