"""POST requests over plain HTTP (Django's test client): intake on the "open311" channel, and errors."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest
from django.test import Client

from gridgov.cases.models import Case, CaseEvent
from gridgov.open311.models import ApiKey
from tests.cases.conftest import IN_A, OUTSIDE

URL = "/open311/v2/requests.{fmt}"


def form(api_key: str, **extra: str) -> dict[str, str]:
    values = {
        "api_key": api_key,
        "service_code": "env-garbage",
        "lat": str(IN_A.y),
        "long": str(IN_A.x),
        "description": "路口垃圾堆放",
    }
    values.update(extra)
    return {k: v for k, v in values.items() if v is not None}


def test_a_post_reports_an_issue_on_the_open311_channel(world, client, api_key) -> None:
    data = form(
        api_key,
        email="li@example.com",
        first_name="Si",
        last_name="Li",
        phone="13800001111",
        **{"attribute[size]": "large", "attribute[days][]": "3", "attribute[client_id]": "c-1"},
    )
    data["attribute[days][]"] = ["3", "4"]
    response = client.post(URL.format(fmt="json"), data)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"
    (answer,) = response.json()
    case = Case.objects.get()
    assert answer == {
        "token": case.token,
        "service_request_id": case.reference,
        "service_notice": "Received. Keep the token to follow the request.",
    }
    assert case.channel == "open311" and case.category.code == "env-garbage"
    assert case.area == world.area_a and case.state_id == "reported"
    assert case.attributes == {"size": "large", "days": ["3", "4"], "client_id": "c-1"}
    assert (case.reporter_name, case.reporter_phone, case.reporter_email) == (
        "Si Li",
        "13800001111",
        "li@example.com",
    )
    assert not case.share_contact and case.reported_by is None
    assert CaseEvent.objects.get(case=case).actor_label == "open311:partner-app"
    assert ApiKey.objects.get().last_used_at is not None


def test_a_post_in_xml_by_address_and_the_token_lookup(world, client, api_key) -> None:
    data = form(api_key, lat=None, long=None, address_string="A栋")
    response = client.post(URL.format(fmt="xml"), data)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == "service_requests"
    token = root.findtext("request/token")
    case = Case.objects.get()
    assert token == case.token and root.findtext("request/service_request_id") == case.reference
    assert case.location.coords == world.building_a.point.coords and case.address == "A栋"
    for fmt in ("json", "xml"):
        found = client.get(f"/open311/v2/tokens/{token}.{fmt}")
        assert found.status_code == 200
    assert found.content.count(case.reference.encode()) == 1
    assert client.get(f"/open311/v2/tokens/{token}.json").json() == [
        {"service_request_id": case.reference, "token": token}
    ]
    assert client.get("/open311/v2/tokens/nope.json").status_code == 404


def test_csrf_does_not_apply_to_posts(world, api_key) -> None:
    response = Client(enforce_csrf_checks=True).post(URL.format(fmt="json"), form(api_key))
    assert response.status_code == 200


def test_a_sensitive_report_is_taken_but_never_shown(world, client, api_key) -> None:
    response = client.post(URL.format(fmt="json"), form(api_key, service_code="dispute-neighbour"))
    assert response.status_code == 200
    (answer,) = response.json()
    assert "never shown publicly" in answer["service_notice"]
    assert client.get(f"/open311/v2/requests/{answer['service_request_id']}.json").status_code == 404
    assert client.get("/open311/v2/requests.json").json() == []


OUTSIDE_MESSAGE = (
    "The location is outside every grid, community and street, and no territorial fallback is configured."
)


@pytest.mark.parametrize(
    ("changes", "status", "description"),
    [
        ({"api_key": None}, 403, "api_key: An api_key is required to post a service request."),
        ({"api_key": "o311_wrong"}, 403, "api_key: This api_key is not valid."),
        ({"service_code": None}, 400, "service_code: Choose a service."),
        ({"service_code": "no-such"}, 400, "service_code: Unknown or inactive category 'no-such'"),
        ({"service_code": "hazard"}, 400, "service_code: Unknown or inactive category 'hazard'"),
        ({"lat": str(OUTSIDE.y), "long": str(OUTSIDE.x)}, 400, f"lat: {OUTSIDE_MESSAGE}"),
        ({"lat": "22.5x"}, 400, "lat: Not a number: 22.5x."),
        ({"long": "nan"}, 400, "long: Out of range"),
        ({"lat": "95"}, 400, "lat: Out of range"),
        ({"long": None}, 400, "long: Send long together with lat."),
        ({"lat": None, "long": None}, 400, "lat: Send lat and long, or address_string."),
        (
            {"lat": None, "long": None, "address_string": "Z栋"},
            400,
            "address_string: No building has this address",
        ),
        ({"description": "  "}, 400, "description: Describe the issue."),
        ({"email": "not-an-address"}, 400, "email: Not an e-mail address."),
        ({"phone": "1" * 31}, 400, "phone: At most 30 characters."),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url: Not an http(s) URL."),
        ({"attribute[<x>]": "1"}, 400, "attribute[<x>]: An attribute code is"),
    ],
)
def test_bad_posts_answer_in_the_spec_format_and_write_nothing(
    world, client, api_key, changes, status, description
):
    data = {k: v for k, v in {**form(api_key), **changes}.items() if v is not None}
    response = client.post(URL.format(fmt="json"), data)
    assert response.status_code == status
    (error,) = response.json()
    assert error["code"] == status and error["description"].startswith(description), error
    xml = client.post(URL.format(fmt="xml"), data)
    assert xml.status_code == status
    root = ET.fromstring(xml.content)
    assert root.tag == "errors"
    assert root.findtext("error/code") == str(status)
    assert root.findtext("error/description") == error["description"]
    assert not Case.objects.exists()


def test_an_inactive_key_is_refused(world, client) -> None:
    _key, raw = ApiKey.issue("old-partner", active=False)
    response = client.post(URL.format(fmt="json"), form(raw))
    assert response.status_code == 403
    assert not Case.objects.exists()


def test_posts_are_rate_limited_per_key(world, client, api_key, settings) -> None:
    settings.GRIDGOV_OPEN311_RATE = "2/h"
    statuses = [client.post(URL.format(fmt="json"), form(api_key)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    _other, raw = ApiKey.issue("second-app")
    assert client.post(URL.format(fmt="json"), form(raw)).status_code == 200
    assert Case.objects.count() == 3


def test_only_a_hash_of_the_key_is_stored(db) -> None:
    key, raw = ApiKey.issue("partner")
    stored = ApiKey.objects.filter(pk=key.pk).values()[0]
    assert raw not in [str(v) for v in stored.values()]
    assert stored["key_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert ApiKey.authenticate(raw) == key and ApiKey.authenticate(raw + "x") is None


def test_the_admin_issues_a_key_and_shows_it_once(world, client) -> None:
    client.force_login(world.users["admin"])
    response = client.post(
        "/admin/open311/apikey/add/", {"name": "city-app", "active": "on", "note": ""}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    key = ApiKey.objects.get(name="city-app")
    (message,) = [m for m in shown if "o311_" in m]
    raw = next(word for word in message.split() if word.startswith("o311_"))
    assert ApiKey.authenticate(raw) == key and key.created_by == world.users["admin"]
    page = client.get(f"/admin/open311/apikey/{key.pk}/change/")
    assert raw not in page.content.decode()
