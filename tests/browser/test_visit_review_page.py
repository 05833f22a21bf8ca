"""A grid leader approves one flagged visit and rejects another (with a reason) on the review page."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from gridgov.visits.models import Visit
from gridgov.visits.services import record_visits

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def far_visit(days: int) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "household": "HA1",
        "channel": "in_person",
        "lon": 114.25,
        "lat": 22.555,
        "accuracy": 10.0,
        "device_time": (timezone.now() - timedelta(days=days)).isoformat(),
    }


def test_leader_reviews_flagged_visits(world, page, live_server):
    results = record_visits([far_visit(3), far_visit(5)], actor=world.users["member_a"])
    assert all("far_from_building" in r.flags for r in results)
    login(page, live_server, "leader_a")
    page.goto(f"{live_server.url}/visits/review/")
    page.wait_for_selector("#review tbody tr")
    assert page.locator("#review tbody tr").count() == 2
    page.on("dialog", lambda d: d.accept("GPS drift, member confirmed by phone"))
    page.locator("#review tbody tr").nth(0).locator("button.no").click()
    page.wait_for_function("document.querySelectorAll('#review tbody tr').length === 1")
    page.locator("#review tbody tr").nth(0).locator("button.ok").click()
    page.wait_for_function("document.querySelectorAll('#review tbody tr').length === 0")
    reviews = dict(Visit.objects.values_list("review", "review_reason"))
    assert reviews == {"rejected": "GPS drift, member confirmed by phone", "approved": ""}
    assert Visit.objects.filter(counted=True).count() == 1


def test_review_queue_speaks_the_leaders_language_and_clock(world, page, live_server):
    """The queue showed "far_from_building" and the time in UTC (8 hours early for a street office)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    at = datetime(2026, 3, 2, 9, 41, tzinfo=ZoneInfo("Asia/Shanghai"))
    visit = {**far_visit(0), "device_time": at.isoformat()}
    record_visits([visit], actor=world.users["member_a"])
    login(page, live_server, "leader_a")
    page.goto(f"{live_server.url}/visits/review/")
    page.wait_for_selector("#review tbody tr")
    row = page.locator("#review tbody tr").first.inner_text()
    assert "2026-03-02 09:41" in row
    assert "far from the building" in row and "far_from_building" not in row
    page.locator("#review tbody tr button.ok").click()
    page.wait_for_selector("#review-empty", state="visible")


def test_leader_moves_an_orphan_household_to_a_member_on_a_page(world, page, live_server):
    """Issue 4: leaders reassign households between members (audited) and orphans are listed; both were
    API calls only, nothing a grid leader could open."""
    from gridgov.core.models import AuditEntry
    from gridgov.households.models import Household

    login(page, live_server, "leader_a")
    page.click("nav >> text=Members and households")
    orphans = page.locator("#orphans input[name=household]")
    assert [orphans.nth(i).get_attribute("value") for i in range(orphans.count())] == ["HA2"]
    orphans.first.check()
    page.select_option("select[name=area]", world.area_a.code)
    page.fill("input[name=reason]", "2号楼无人负责")
    page.click("#team button[type=submit]")
    page.wait_for_function("document.getElementById('team-status').textContent.indexOf('Moved: 1') === 0")
    assert Household.objects.get(code="HA2").area == world.area_a
    entry = AuditEntry.objects.get(action="households.reassign")
    assert entry.data["reason"] == "2号楼无人负责" and entry.data["target"] == world.area_a.code
    page.wait_for_selector("#orphans >> text=None: every household has an active member.")
