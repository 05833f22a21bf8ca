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
