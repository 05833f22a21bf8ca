"""GET errors and edge cases over plain HTTP: dates, statuses, unknown things, methods, XML escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from gridgov.open311 import selectors
from gridgov.open311.formats import to_xml
from tests.cases.conftest import IN_A


@pytest.mark.parametrize(
    ("query", "description"),
    [
        ("start_date=yesterday", "start_date: Not a W3C date and time"),
        ("end_date=2026-13-40", "end_date: Not a W3C date and time"),
        (
            "start_date=2026-03-01T00:00:00Z&end_date=2026-02-01T00:00:00Z",
            "end_date: The end is before the start.",
        ),
        ("start_date=2026-01-01&end_date=2026-06-01", "end_date: The range may not span more than 90 days."),
        ("status=pending", "status: The status is open or closed."),
        ("service_code=no-such", "service_code: There is no service with the code no-such."),
        ("service_request_id=42", "service_request_id: Not a service request id: 42."),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_bad_filters_are_400_naming_the_parameter(client, world, query, description, fmt) -> None:
    response = client.get(f"/open311/v2/requests.{fmt}?{query}")
    assert response.status_code == 400
    if fmt == "json":
        assert response.json()[0]["code"] == 400
        assert response.json()[0]["description"].startswith(description)
    else:
        root = ET.fromstring(response.content)
        assert root.findtext("error/code") == "400"
        assert root.findtext("error/description").startswith(description)


def test_dates_accept_offsets_unencoded_and_plain_days(published, client) -> None:
    # The day the earliest of the three was reported (two hours ago: yesterday shortly after midnight).
    day = (timezone.localtime() - timedelta(hours=2)).date().isoformat()
    rows = client.get(f"/open311/v2/requests.json?start_date={day}").json()
    assert {r["service_request_id"] for r in rows} == {
        c.reference for c in (published.garbage, published.noise, published.sewage)
    }
    # A '+' left unencoded in a query string arrives as a space.
    start = (timezone.localtime() - timedelta(days=130)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    rows = client.get("/open311/v2/requests.json", {"start_date": start.replace("+", " ")}).json()
    assert [r["service_request_id"] for r in rows] == [published.old.reference]


def test_one_page_newest_first(published, client, monkeypatch) -> None:
    monkeypatch.setattr(selectors, "PAGE_ROWS", 2)
    rows = client.get("/open311/v2/requests.json").json()
    assert [r["service_request_id"] for r in rows] == [
        published.garbage.reference,
        published.sewage.reference,
    ]


def test_unknown_resources_methods_and_formats(client, world) -> None:
    response = client.get("/open311/v2/services/no-such.xml")
    assert response.status_code == 404
    assert ET.fromstring(response.content).findtext("error/code") == "404"
    assert client.get("/open311/v2/services/hazard.json").status_code == 404  # a group, not a service
    assert client.get("/open311/v2/requests/20260101-1.json").json()[0]["code"] == 404
    assert client.get("/open311/v2/services.csv").status_code == 404
    assert client.get("/open311/v2/nothing.json").json()[0]["code"] == 404
    response = client.post("/open311/v2/services.json")
    assert response.status_code == 405 and response["Allow"] == "GET, HEAD"
    assert response.json()[0]["code"] == 405


def test_xml_is_escaped_and_well_formed() -> None:
    body = to_xml("service_requests", [{"description": 'a <b> & "c" \x01\x0b é 中', "lat": 1.5, "ok": True}])
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<service_requests><request>')
    request = ET.fromstring(body).find("request")
    assert request.findtext("description") == 'a <b> & "c"  é 中'
    assert (request.findtext("lat"), request.findtext("ok")) == ("1.5", "true")


def test_contact_details_are_hidden_in_public_text(published) -> None:
    case = published.garbage
    text = "Call 13912345678, +86 139 1234 5678 or zhang@example.com; ask for 张三丰. Ref 20260101-12."
    assert selectors.hide_contact(text, case) == "Call ***, *** or ***; ask for ***. Ref 20260101-12."


def test_requests_are_paged(world) -> None:
    from django.test import Client

    from gridgov.cases import services

    for i in range(3):
        services.case_report(category="env-garbage", description=f"垃圾{i}", location=IN_A, channel="web")
    c = Client()
    first = c.get("/open311/v2/requests.json?page_size=2").json()
    second = c.get("/open311/v2/requests.json?page_size=2&page=2").json()
    assert len(first) == 2 and len(second) == 1
    assert {r["service_request_id"] for r in first}.isdisjoint(r["service_request_id"] for r in second)
    bad = c.get("/open311/v2/requests.json?page_size=5000")
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400
    assert c.get("/open311/v2/requests.json?page=0").status_code == 400
