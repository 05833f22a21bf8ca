"""The batch sync's direct path answers what DRF answers (status, body, headers), and leaves to DRF what it
does not take."""

from __future__ import annotations

import json
import uuid
from base64 import b64encode
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from gridgov.visits import apis
from gridgov.visits.models import Visit

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.visits.urls_drf_sync")]

DIRECT, DRF = "/api/v1/visits/sync/", "/drf-sync/"


def item(household: str = "HA1", **kw) -> dict:
    data = {
        "id": str(uuid.uuid4()),
        "household": household,
        "channel": "in_person",
        "lon": 114.202,
        "lat": 22.555,
        "accuracy": 12.0,
        "device_time": (timezone.now() - timedelta(hours=1)).isoformat(),
        "findings": ["opinion"],
    }
    return data | kw


def answer(c: Client, url: str, body: bytes | str, **extra) -> tuple[int, bytes, dict[str, str]]:
    """The answer to one POST, rolled back (both paths see the same database)."""
    content_type = extra.pop("content_type", "application/json")
    with transaction.atomic():
        r = c.post(url, body, content_type=content_type, **extra)
        transaction.set_rollback(True)
    headers = {
        k: v for k, v in r.headers.items() if k in ("Content-Type", "Allow", "Vary", "Content-Language")
    }
    return r.status_code, r.content, headers


@pytest.fixture
def drf_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    drf = apis.visit_sync_drf

    def counting(request):
        calls.append(1)
        return drf(request)

    monkeypatch.setattr(apis, "visit_sync_drf", counting)
    return calls


def logged_in(world, csrf: bool = False) -> Client:
    c = Client(enforce_csrf_checks=csrf)
    c.force_login(world.users["member_a"])
    return c


def test_a_phones_batch_is_answered_directly_as_drf_answers_it(world, drf_calls):
    c = logged_in(world)
    good, other_grid = item(), item("HB1")
    cases = [
        json.dumps({"visits": [good, other_grid, item(lat=95.0), "not an object", good]}),  # per-item results
        json.dumps({"visits": "x"}),
        json.dumps([1, 2]),
        json.dumps({"visits": [item() for _ in range(1001)]}),  # too many
        "{not json",
        '{"visits": NaN}',
        json.dumps({"visits": []}),
    ]
    for body in cases:
        drf = answer(c, DRF, body)
        calls = len(drf_calls)
        direct = answer(c, DIRECT, body)
        assert len(drf_calls) == calls, body[:40]  # answered directly, not by DRF
        assert direct == drf, body[:40]
    status, content, _headers = answer(c, DIRECT, cases[0])
    assert status == 200 and [r["status"] for r in json.loads(content)["results"]] == [
        "created",
        "error",
        "error",
        "error",
        "error",
    ]
    assert not Visit.objects.exists()  # every answer above was rolled back


def test_csrf_is_checked_on_the_direct_path_as_drf_checks_it(world, drf_calls):
    c = logged_in(world, csrf=True)
    body = json.dumps({"visits": [item()]})
    refused = answer(c, DIRECT, body)
    assert refused == answer(c, DRF, body)
    assert refused[0] == 403 and json.loads(refused[1])["detail"].startswith("CSRF Failed")
    token = "a" * 32
    c.cookies[settings.CSRF_COOKIE_NAME] = token
    assert answer(c, DIRECT, body, HTTP_X_CSRFTOKEN="b" * 32) == answer(
        c, DRF, body, HTTP_X_CSRFTOKEN="b" * 32
    )
    accepted = answer(c, DIRECT, body, HTTP_X_CSRFTOKEN=token)
    assert accepted == answer(c, DRF, body, HTTP_X_CSRFTOKEN=token)
    assert accepted[0] == 200 and json.loads(accepted[1])["created"] == 1
    drf_calls.clear()
    c.post(DIRECT, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert drf_calls == [] and Visit.objects.count() == 1


def test_what_the_direct_path_does_not_take_goes_to_drf(world, drf_calls):
    body = json.dumps({"visits": [item()]})
    anonymous = Client()
    c = logged_in(world)
    basic = "Basic " + b64encode(b"member_a:wrong").decode()
    cases = [
        (anonymous, {}),  # no session user: DRF's 403
        (c, {"content_type": "text/plain"}),  # DRF's 415
        (c, {"HTTP_ACCEPT": "text/html"}),  # DRF's 406
        (c, {"HTTP_AUTHORIZATION": basic}),  # HTTP Basic credentials: DRF's authentication
        (c, {"content_type": "application/json; charset=latin-1"}),
    ]
    for client, extra in cases:
        drf_calls.clear()
        direct = answer(client, DIRECT, body, **dict(extra))
        assert drf_calls == [1], extra
        assert direct == answer(client, DRF, body, **dict(extra))
    drf_calls.clear()
    assert answer(c, DIRECT + "?x=1", body)[0] == 200 and drf_calls == [1]  # a query string
    drf_calls.clear()
    assert answer(c, DIRECT, "")[0] == 400 and drf_calls == [1]  # no body: DRF's "a list is required"
    drf_calls.clear()
    assert Client().get(DIRECT).status_code == 403 and drf_calls == [1]


def test_the_schema_still_describes_the_batch_sync(world):
    c = Client()
    c.force_login(world.users["admin"] if "admin" in world.users else world.users["member_a"])
    schema = c.get("/api/schema/?format=json").json()
    assert "post" in schema["paths"]["/api/v1/visits/sync/"]
