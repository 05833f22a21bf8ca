"""The request path: sessions and session users come from the cache, and every change to a user or their
member record is seen by the next request; CSRF, JSON in and out, as before."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy as _
from rest_framework.renderers import JSONRenderer

from gridgov.accounts.backends import user_cache_key
from gridgov.accounts.models import Role
from gridgov.core.fastjson import FastJSONRenderer

pytestmark = pytest.mark.django_db

MINE = "/api/v1/visits/mine/"
FLOOR = "/api/v1/visits/compliance/?level=none"  # an authenticated request that answers 400 and reads nothing


def mine(c: Client) -> list[str] | int:
    r = c.get(MINE)
    return sorted(h["code"] for h in r.json()["households"]) if r.status_code == 200 else r.status_code


def logged_in(user) -> Client:
    c = Client()
    c.force_login(user)
    assert c.get(FLOOR).status_code == 400  # the session and the user are cached from here on
    return c


def test_a_request_reads_no_session_or_user_row_once_cached(world):
    c = logged_in(world.users["member_a"])
    with CaptureQueriesContext(connection) as queries:
        assert c.get(FLOOR).status_code == 400
    assert [q["sql"] for q in queries] == []
    from django.core.cache import cache

    assert cache.get(user_cache_key(world.users["member_a"].pk)).member == world.member_a


def test_a_deactivated_user_is_refused_at_the_next_request(world):
    user = world.users["member_a"]
    c = logged_in(user)
    assert mine(c) == ["HA1"]
    user.is_active = False
    user.save()
    assert mine(c) == 403


def test_a_changed_password_ends_the_other_sessions(world):
    user = world.users["member_a"]
    c = logged_in(user)
    user.set_password("a new password 7")
    user.save()
    assert mine(c) == 403


def test_a_new_role_applies_at_the_next_request(world):
    user = world.users["street"]
    c = logged_in(user)
    assert mine(c) == ["HA1", "HA2", "HB1", "HD1"]  # street staff: the whole street
    user.role, user.scope_code = Role.COMMUNITY, world.other_community.code
    user.save()
    assert mine(c) == ["HD1"]


def test_a_deactivated_member_record_applies_at_the_next_request(world):
    c = logged_in(world.users["member_a"])
    assert mine(c) == ["HA1"]
    world.member_a.active = False
    world.member_a.save()
    assert mine(c) == []


def test_a_member_record_moved_to_another_account_leaves_the_first(world):
    first = world.users["member_a"]
    c = logged_in(first)
    assert mine(c) == ["HA1"]
    from tests import factories as f

    second = f.UserFactory(username="member_a2", role=Role.MEMBER, scope_code=world.grid_a.code)
    world.member_a.user = second
    world.member_a.save()
    assert mine(c) == []
    assert mine(logged_in(second)) == ["HA1"]


def test_a_deleted_member_record_applies_at_the_next_request(world):
    c = logged_in(world.users["member_a"])
    assert mine(c) == ["HA1"]
    world.member_a.delete()
    assert mine(c) == []


def test_a_session_ended_by_logout_is_not_served_from_the_cache(world):
    c = logged_in(world.users["member_a"])
    cookie = c.cookies[settings.SESSION_COOKIE_NAME].value
    assert c.post("/accounts/logout/").status_code == 302
    again = Client()
    again.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert again.get(MINE).status_code == 403


def test_session_posts_still_need_the_csrf_token(world):
    c = Client(enforce_csrf_checks=True)
    c.force_login(world.users["member_a"])
    r = c.post("/api/v1/visits/sync/", {"visits": []}, content_type="application/json")
    assert r.status_code == 403
    assert "CSRF" in r.json()["detail"]


def test_the_api_speaks_the_request_language(world):
    c = logged_in(world.users["member_a"])
    r = c.post("/api/v1/visits/sync/", "{}", content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 400
    r = c.get("/api/v1/visits/review/00000000-0000-0000-0000-000000000000/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.status_code == 405
    assert r.json()["detail"] == "方法 “GET” 不被允许。"  # translated by DRF's own catalogue


def test_fast_json_answers_what_drfs_renderer_answered():
    data = {
        "id": uuid.UUID(int=7),
        "when": datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC),
        "day": date(2026, 3, 1),
        "at": time(8, 30),
        "after": timedelta(minutes=3),
        "share": Decimal("0.875"),
        "label": _("Basemap"),
        "role": Role.MEMBER,
        "name": "网格 A栋",
        "rows": [{"n": 1, "x": 1.5, "none": None, "ok": True}],
        3: "non-string key",
    }
    assert FastJSONRenderer().render(data) == JSONRenderer().render(data)
    assert FastJSONRenderer().render(None) == b""


def test_malformed_json_is_a_400_with_drfs_message(world):
    c = logged_in(world.users["member_a"])
    for body in ("{not json", '{"visits": NaN}'):
        r = c.post("/api/v1/visits/sync/", body, content_type="application/json")
        assert r.status_code == 400
        assert r.json()["detail"].startswith("JSON parse error")
    r = c.post("/api/v1/visits/sync/", json.dumps({"visits": []}), content_type="application/json")
    assert r.status_code == 200


def test_a_members_area_codes_are_those_the_orm_gives(world):
    from gridgov.accounts.scoping import member_area_codes, scope_of

    world.area_a2.member = world.member_a
    world.area_a2.save()
    expected = tuple(world.member_a.areas.values_list("code", flat=True))
    assert member_area_codes(world.member_a.pk) == expected == (world.area_a.code, world.area_a2.code)
    assert scope_of(world.users["member_a"]).prefixes == expected
    c = logged_in(world.users["member_a"])
    assert mine(c) == ["HA1", "HA2"]


def test_the_redis_cache_keeps_its_client_and_still_works():
    from gridgov.core.cache import RedisCache

    port = __import__("os").environ.get("GRIDGOV_REDISPORT", "63799")
    cache = RedisCache(f"redis://127.0.0.1:{port}/1", {"KEY_PREFIX": f"test-{uuid.uuid4()}"})
    assert cache._cache.get_client() is cache._cache.get_client(write=True)
    cache.set("k", {"a": 1}, 30)
    assert cache.get("k") == {"a": 1}
    cache.delete("k")
    assert cache.get("k") is None


def test_with_redis_down_logged_in_requests_still_answer_from_the_database(world, settings) -> None:
    """Sessions and session users are cached in Redis; an outage makes them slower, not broken."""
    c = logged_in(world.users["member_a"])
    settings.CACHES = {
        "default": {
            "BACKEND": "gridgov.core.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/1",
        }  # nothing
    }
    assert mine(c) == ["HA1"]
    member = world.users["member_a"]
    member.first_name = "改名"
    member.save()  # dropping the cached copy fails quietly
    assert mine(c) == ["HA1"]
    fresh = Client()
    fresh.force_login(world.users["leader_a"])  # a new session is written to the database alone
    assert fresh.get(FLOOR).status_code == 400
    # Residents' pages: the outlines are made afresh, the rate limit lets reports through.
    from gridgov.core.ratelimit import allow

    assert Client().get("/report/outlines.json").json()["type"] == "FeatureCollection"
    assert all(allow("test-address", "1/h") for _ in range(3))


@pytest.mark.parametrize(
    "accept, query",
    [
        (None, ""),
        ("*/*", ""),
        ("application/json", ""),
        ("application/json; indent=4", ""),
        ("text/html", ""),
        ("text/html, */*;q=0.8", ""),
        ("", ""),
        (None, "format=json"),
        (None, "format=xml"),
        ("*/*", "level=grid"),
    ],
)
def test_the_quick_content_negotiation_chooses_what_drfs_chooses(accept, query):
    from django.http import Http404
    from django.test import RequestFactory
    from rest_framework.exceptions import NotAcceptable
    from rest_framework.negotiation import DefaultContentNegotiation
    from rest_framework.renderers import BrowsableAPIRenderer
    from rest_framework.request import Request

    from gridgov.core.fastjson import FastContentNegotiation

    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(RequestFactory().get(f"/api/v1/x/?{query}" if query else "/api/v1/x/", **headers))
    for renderers in ([FastJSONRenderer()], [FastJSONRenderer(), BrowsableAPIRenderer()]):
        answers = []
        for negotiation in (DefaultContentNegotiation(), FastContentNegotiation()):
            try:
                renderer, media_type = negotiation.select_renderer(request, renderers)
                answers.append((type(renderer), media_type))
            except NotAcceptable:
                answers.append("406")
            except Http404:  # a format no renderer has
                answers.append("404")
        assert answers[0] == answers[1]


def test_the_api_answers_json_through_the_quick_negotiation(world):
    c = logged_in(world.users["member_a"])
    for accept in ("*/*", "application/json"):
        r = c.get(MINE, HTTP_ACCEPT=accept)
        assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert c.get(MINE, HTTP_ACCEPT="text/html").status_code == 406
