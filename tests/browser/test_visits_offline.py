"""A grid member logs a visit with no network; it is sent when the network returns (real Chromium)."""

from __future__ import annotations

import pytest

from gridgov.visits.models import Visit

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_logs_a_visit_offline_and_it_syncs_later(world, browser, live_server):
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        locale="en-US",
        geolocation={"latitude": 22.555, "longitude": 114.202, "accuracy": 8},
        permissions=["geolocation"],
    )
    page = context.new_page()
    login(page, live_server, "member_a", "pw")
    page.goto(f"{live_server.url}/visits/")
    page.wait_for_selector("#visits-app[data-loaded='1']")
    assert page.locator(".visit-row").count() == 1
    assert page.locator(".visit-row").first.get_attribute("data-code") == "HA1"
    # Let the service worker take control, so the page and the household list are cached.
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.wait_for_selector("#visits-app[data-loaded='1']")

    context.set_offline(True)
    page.reload()  # served by the service worker with no network
    page.wait_for_selector(".visit-row[data-code='HA1']")
    page.click(".visit-row[data-code='HA1'] button.log")
    page.check("input[name=findings][value=hidden_danger]")
    page.fill("textarea[name=notes]", "楼道堆放杂物")
    page.click("#visit-form button[type=submit]")
    page.wait_for_function("document.getElementById('sync-status').dataset.unsynced === '1'")
    assert Visit.objects.count() == 0

    context.set_offline(False)
    page.evaluate("window.gridgovVisits.sync()")
    page.wait_for_function("document.getElementById('sync-status').dataset.unsynced === '0'")
    assert page.locator("#refused li").count() == 0, page.locator("#refused").inner_text()
    v = Visit.objects.get()
    assert v.household.code == "HA1" and v.findings == ["hidden_danger"] and v.notes == "楼道堆放杂物"
    assert v.member == world.member_a and v.location is not None and v.counted
    context.close()
