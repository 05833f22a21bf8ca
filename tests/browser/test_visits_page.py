"""The member's visits page as a grid member uses it on a phone (360 px, Chinese), found in an audit walk:
key groups shown by their names, a flagged visit shown as waiting for review, a refused visit explained in
words, and "report an issue from this visit" leading to the issue form linked to the visit."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from gridgov.households.models import Household
from gridgov.visits.models import Visit
from gridgov.visits.services import record_visits

from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def phone(browser, locale: str, **geo):
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, locale=locale, permissions=["geolocation"], **geo
    )
    return context, context.new_page()


def test_member_sees_key_groups_by_name_and_a_visit_waiting_for_review(world, browser, live_server):
    Household.objects.filter(code="HA1").update(key_groups=["elderly_alone"])
    far = {
        "id": str(uuid.uuid4()),
        "household": "HA1",
        "channel": "in_person",
        "lon": 114.25,
        "lat": 22.555,
        "accuracy": 10.0,
        "device_time": timezone.now().isoformat(),
    }
    assert record_visits([far], actor=world.users["member_a"])[0].flags == ["far_from_building"]
    context, page = phone(browser, "zh-CN")
    login(page, live_server, "member_a")
    page.goto(f"{live_server.url}/visits/")
    page.wait_for_selector(".visit-row[data-code='HA1']")
    row = page.locator(".visit-row[data-code='HA1']")
    # was the raw code "elderly_alone", and nothing said the visit had arrived
    assert row.locator(".badge").inner_text() == "独居老人"
    assert "1 次走访待网格长审核" in row.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()


def test_a_refused_visit_is_explained_in_words(world, browser, live_server):
    # A fix with an accuracy of 0 m is refused by the server: the member read {"accuracy": [...]}.
    context, page = phone(
        browser, "en-US", geolocation={"latitude": 22.555, "longitude": 114.202, "accuracy": 0}
    )
    login(page, live_server, "member_a")
    page.goto(f"{live_server.url}/visits/")
    page.click(".visit-row[data-code='HA1'] button.log")
    page.click("#visit-form button[type=submit]")
    page.wait_for_selector("#refused li")
    said = page.locator("#refused li").inner_text()
    assert "Must be a positive number of metres." in said and "{" not in said and "accuracy" not in said
    context.close()


def test_report_an_issue_from_a_visit_opens_the_issue_form_linked_to_it(world, browser, live_server):
    context, page = phone(browser, "en-US")
    login(page, live_server, "member_a")
    page.goto(f"{live_server.url}/visits/")
    page.click(".visit-row[data-code='HA1'] button.log")
    page.check("input[name=channel][value=phone]")
    page.check("input[name=report]")
    page.click("#visit-form button[type=submit]")
    # before: the visit kept a random issue id and no issue form ever opened
    page.wait_for_url("**/cases/new/**")
    visit = Visit.objects.get()
    assert visit.issue_ref is not None
    assert page.input_value("input[name=uuid]") == str(visit.issue_ref)
    point = world.household_a.point
    assert float(page.input_value("input[name=lon]")) == pytest.approx(point.x)
    assert float(page.input_value("input[name=lat]")) == pytest.approx(point.y)
    context.close()


def png(width: int, height: int) -> bytes:
    """A plain red PNG (no imaging library here)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_visit_logged_offline_with_a_photo_keeps_it(world, browser, live_server, settings, tmp_path):
    """Issue 4 names an optional photo in the visit form; the page had none (only the API took one)."""
    settings.MEDIA_ROOT = tmp_path
    context, page = phone(browser, "en-US")
    login(page, live_server, "member_a")
    page.goto(f"{live_server.url}/visits/")
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.wait_for_selector("#visits-app[data-loaded='1']")
    context.set_offline(True)
    page.reload()
    page.click(".visit-row[data-code='HA1'] button.log")
    page.check("input[name=channel][value=phone]")
    page.set_input_files(
        "input[name=photo]", {"name": "door.png", "mimeType": "image/png", "buffer": png(2400, 1200)}
    )
    page.click("#visit-form button[type=submit]")
    page.wait_for_function("document.getElementById('sync-status').dataset.unsynced === '1'")
    assert not Visit.objects.exists()
    context.set_offline(False)
    page.evaluate("window.gridgovVisits.sync()")
    page.wait_for_function("document.getElementById('sync-status').dataset.unsynced === '0'")
    assert page.locator("#refused li").count() == 0, page.locator("#refused").inner_text()
    visit = Visit.objects.get()
    assert visit.photo.name.endswith(".jpg")  # made smaller on the phone: 1600 px wide, JPEG
    assert (tmp_path / visit.photo.name).read_bytes()[:3] == b"\xff\xd8\xff"
    context.close()
