"""Issue pages in a real browser: a coordinator dispatches from the console and the department signs and
feeds back from its inbox; a resident reports on a phone by clicking the map and follows the tracking
link. Nothing may be requested from outside the server."""

from __future__ import annotations

import pytest
from django.apps import apps as django_apps
from django.core.cache import cache

from gridgov.cases import services
from gridgov.cases.defaults import seed
from gridgov.cases.models import Case
from gridgov.dispatch.models import RoutingRule

from ..cases.conftest import IN_A
from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def loop(world):
    """Transactional tests truncate the seeded loop: seed it again."""
    seed(django_apps)
    cache.clear()
    return world


def test_coordinator_dispatches_from_the_console_and_the_department_signs_and_feeds_back(
    loop, page, live_server
):
    world = loop
    dept = world.users["department"].department
    case, _ = services.case_report(
        category="facility-road", description="路面塌陷", location=IN_A, channel="hotline"
    )
    case = services.file_case(case, actor=world.users["community"])
    RoutingRule.objects.create(category=case.category, node_prefix="", department=dept)
    assert case.state_id == "awaiting_dispatch"

    login(page, live_server, "coordinator")
    page.click("nav >> text=Console")
    page.wait_for_url(f"{live_server.url}/cases/console/")
    row = page.locator(f"#console-table tr[data-id='{case.uuid}']")
    assert dept.name in row.inner_text()  # the suggestion
    row.locator("input[name=cases]").check()
    page.select_option("#bulk-department", dept.code)
    page.click("#bulk-form button[type=submit]")
    page.wait_for_selector(".messages li")
    assert "1 issue dispatched" in page.inner_text(".messages")
    assert page.locator("#console-table tr[data-id]").count() == 0
    assert Case.objects.get(pk=case.pk).state_id == "dispatched"

    page.context.clear_cookies()
    login(page, live_server, "department")
    page.click("nav >> text=Inbox")
    page.wait_for_url(f"{live_server.url}/cases/inbox/")
    card = page.locator(f"#to-sign article[data-id='{case.uuid}']")
    card.locator("button:has-text('Sign for it')").click()
    page.wait_for_selector(f"#in-hand article[data-id='{case.uuid}']")
    card = page.locator(f"#in-hand article[data-id='{case.uuid}']")
    card.locator("input[placeholder='What was done']").fill("已修复路面")
    card.locator("button:has-text('Feed back')").click()
    page.wait_for_selector("text=Nothing in hand.")
    case.refresh_from_db()
    assert case.state_id == "awaiting_verification"
    assert list(case.events.values_list("action", flat=True))[-3:] == ["dispatch", "sign", "feedback"]

    # The case page shows the timeline with the department's feedback.
    page.context.clear_cookies()
    login(page, live_server, "coordinator")
    page.goto(f"{live_server.url}/cases/{case.uuid}/")
    page.wait_for_selector("#case-map[data-ready='1']")
    assert "已修复路面" in page.inner_text("#timeline")

    # The monitoring page redraws itself from the API (every minute; here at once).
    page.click("nav >> text=Monitor")
    page.wait_for_url(f"{live_server.url}/cases/monitor/")
    Case.objects.filter(pk=case.pk).update(supervised=True)
    page.evaluate("window.gridgovMonitorRefresh()")
    page.wait_for_selector("#monitor[data-refreshed='1']")
    assert page.inner_text("[data-key=open]") == "1" and page.inner_text("[data-key=supervised]") == "1"
    assert "Awaiting verification" in page.inner_text("tbody[data-group=by_state]")
    assert page.external_requests == []


def test_a_resident_reports_on_a_phone_by_clicking_the_map_and_follows_the_link(loop, page, live_server):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("text=Report an issue")
    page.wait_for_url(f"{live_server.url}/report/")
    page.wait_for_selector("#picker-map[data-ready='1']")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    page.select_option("#id_category", "env-garbage")
    page.fill("#id_description", "楼下垃圾没人清")
    point = page.evaluate(f"window.gridgovCaseMap.latLngToContainerPoint([{IN_A.y}, {IN_A.x}])")
    page.locator("#picker-map").click(position={"x": point["x"], "y": point["y"]})
    assert abs(float(page.input_value("#id_lon")) - IN_A.x) < 0.0005
    assert abs(float(page.input_value("#id_lat")) - IN_A.y) < 0.0005
    page.fill("#id_reporter_phone", "13800138000")
    page.click("button:has-text('Send the report')")
    page.wait_for_selector("#received")
    case = Case.objects.get()
    assert case.channel == "web" and case.area_id == loop.area_a.pk
    assert "13800138000" not in page.content()
    page.click("#tracking-link")
    page.wait_for_url(f"{live_server.url}/track/{case.token}/")
    assert page.inner_text("#reference") == case.reference
    assert page.locator("#status").get_attribute("data-kind") == "open"
    assert page.external_requests == []
