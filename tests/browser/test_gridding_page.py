"""Community staff run gridding, adjust a plan on the map and approve it, in a real browser."""

from __future__ import annotations

import pytest

from gridgov.accounts.models import Role
from gridgov.geo.models import ResponsibilityArea
from gridgov.gridding.models import GriddingPlan, PlanArea, PlanCell
from gridgov.gridding.services import plan_create

from ..factories import UserFactory
from ..gridding.test_alternatives import one_area_broken  # noqa: F401 (a fixture)
from ..gridding.test_services import lattice_community
from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_run_adjust_and_approve_a_plan(page, live_server):
    community = lattice_community()
    UserFactory(username="staff", role=Role.COMMUNITY, scope_code=community.code)
    login(page, live_server, "staff")
    page.goto(f"{live_server.url}/gridding/{community.code}/")
    page.click("#run-form button[type=submit]")
    page.wait_for_url("**/gridding/plans/**", timeout=60_000)
    page.wait_for_selector("#map[data-loaded='1']", timeout=30_000)
    plan = GriddingPlan.objects.get(community=community)
    assert page.locator("path.gg-plan-area").count() == PlanArea.objects.filter(plan=plan).count()
    assert page.locator("path.gg-plan-cell").count() == PlanCell.objects.filter(plan=plan).count()

    # Move one building into a neighbouring area: select the area, click the building.
    cell = target = None
    for c in PlanCell.objects.filter(plan=plan).select_related("area"):
        if c.area.cells.count() < 2:
            continue
        target = (
            PlanArea.objects.filter(plan=plan, boundary__intersects=c.boundary).exclude(pk=c.area_id).first()
        )
        if target:
            cell = c
            break
    assert cell is not None
    page.evaluate(
        """([areaCode, cellId]) => {
             const m = window.griddingPlan.map;
             m.eachLayer(l => { if (l.feature && l.feature.properties.code === areaCode) l.fire('click'); });
             m.eachLayer(l => { if (l.feature && l.feature.id === cellId && l.feature.properties.area_code)
                                  l.fire('click'); });
           }""",
        [target.code, cell.pk],
    )
    page.wait_for_function("document.getElementById('plan-status').textContent.startsWith('Moved')")
    assert PlanCell.objects.get(pk=cell.pk).area_id == target.pk

    page.click("#approve")
    page.wait_for_function("document.getElementById('plan-status').textContent.startsWith('Approved')")
    plan.refresh_from_db()
    assert plan.status == "approved"
    assert (
        ResponsibilityArea.objects.filter(grid__community=community).count()
        == PlanArea.objects.filter(plan=plan).count()
    )
    assert page.external_requests == []


@pytest.mark.usefixtures("one_area_broken")
def test_the_plan_page_shows_the_nearest_alternative_and_applies_it(page, live_server):
    community = lattice_community()
    UserFactory(username="staff", role=Role.COMMUNITY, scope_code=community.code)
    plan = plan_create(community=community, actor=None).plan
    index, problem = next(
        (i, p)
        for i, p in enumerate(plan.problems)
        if p["kind"] == "out_of_range" and p["params"]["level"] == "area"
    )
    alt = problem["params"]["alternative"]
    login(page, live_server, "staff")
    page.goto(f"{live_server.url}/gridding/plans/{plan.pk}/")
    page.wait_for_selector("#map[data-loaded='1']", timeout=30_000)
    item = page.locator(f"ul.problems li[data-problem='{index}']")
    assert problem["params"]["code"] in item.inner_text()
    said = item.locator(".alternative").inner_text()
    assert said.startswith("Nearest feasible alternative: move ")
    assert all(code in said for code in alt["sizes"])
    item.locator("button.apply-alternative").click()
    page.wait_for_function(
        "document.getElementById('plan-status').textContent.startsWith('Alternative applied')"
    )
    for code, weight in alt["sizes"].items():
        assert PlanArea.objects.get(plan=plan, code=code).weight == weight
    # No reload: the list was checked again, and the problem mended is gone from it.
    code = problem["params"]["code"]
    page.wait_for_function(
        f"!document.querySelector(\"#plan-problems-list li[data-code='{code}']\")", timeout=10_000
    )
    plan.refresh_from_db()
    assert page.locator("#plan-problems-list ul.problems li").count() == len(plan.problems)
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.external_requests == []


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


def click_move(page, area_code: str, cell_id: int) -> None:
    """Select `area_code` on the map, then click the building `cell_id` (moves it there)."""
    page.evaluate(
        """([areaCode, cellId]) => {
             const m = window.griddingPlan.map;
             m.eachLayer(l => { if (l.feature && l.feature.properties.code === areaCode) l.fire('click'); });
             m.eachLayer(l => { if (l.feature && l.feature.id === cellId && l.feature.properties.area_code)
                                  l.fire('click'); });
           }""",
        [area_code, cell_id],
    )


@pytest.mark.parametrize("width", [360, 1280])
def test_a_move_updates_the_problem_list_and_figures_without_a_reload(page, live_server, width):
    page.set_viewport_size({"width": width, "height": 760})
    community = lattice_community()
    UserFactory(username="staff", role=Role.COMMUNITY, scope_code=community.code)
    plan = plan_create(community=community, actor=None).plan
    cell, source, target = movable(plan)
    login(page, live_server, "staff")
    page.goto(f"{live_server.url}/gridding/plans/{plan.pk}/")
    page.wait_for_selector("#map[data-loaded='1']", timeout=30_000)
    problem = f"#plan-problems-list li[data-code='{source.code}']"
    assert page.locator(problem).count() == 0
    in_range = page.locator("#q-in-range").inner_text()

    # The building moves out: its area falls short, and the list says so with a nearest alternative.
    click_move(page, target.code, cell.pk)
    page.wait_for_selector(problem, timeout=10_000)
    item = page.locator(problem).first
    assert source.code in item.inner_text() and "range 15–20" in item.inner_text()
    assert item.locator(".alternative").count() == 1
    assert page.locator("#q-in-range").inner_text() != in_range
    page.wait_for_selector("path.gg-out", state="attached", timeout=10_000)  # the map redrawn: outlined red
    # The selected area (the one the building went to) says its new size.
    grown = target.households + len(cell.household_ids)
    page.wait_for_function(
        f"document.getElementById('selection').textContent.includes('{target.code}: {grown} households')"
    )
    plan.refresh_from_db()
    assert any(p["params"].get("code") == source.code for p in plan.problems)
    assert page.locator("#plan-problems-list ul.problems li").count() == len(plan.problems)
    item.scroll_into_view_if_needed()
    assert item.is_visible()

    # Moved back by hand: the problem disappears and the figures are as they were.
    click_move(page, source.code, cell.pk)
    page.wait_for_function(f'!document.querySelector("{problem}")', timeout=10_000)
    page.wait_for_function(f"document.getElementById('q-in-range').textContent === '{in_range}'")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert page.external_requests == []


def test_a_reversed_range_is_explained_in_the_pages_words(browser, live_server):
    """Walked in Chinese (audit): the run form answered "area_max: must not be below area_min"."""
    community = lattice_community(n=9)
    UserFactory(username="staff", role=Role.COMMUNITY, scope_code=community.code)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    login(page, live_server, "staff")
    page.goto(f"{live_server.url}/gridding/{community.code}/")
    page.fill("input[name=area_min]", "25")
    page.fill("input[name=area_max]", "20")
    page.click("#run-form button[type=submit]")
    page.wait_for_selector("#run-status.error")
    assert page.inner_text("#run-status") == "每个责任区户数: 最大户数不能小于最小户数。"
    assert not GriddingPlan.objects.exists()
    context.close()
