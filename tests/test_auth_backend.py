"""The session user comes with its member record (no second query), and sessions stay valid."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_the_member_record_comes_with_the_session_user(world):
    c = Client()
    c.force_login(world.users["member_a"])
    from django.contrib.auth import get_user
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.session = c.session
    user = get_user(request)
    with CaptureQueriesContext(connection) as queries:
        assert user.member == world.member_a
    assert len(queries) == 0


def test_sessions_of_the_plain_model_backend_stay_valid(world):
    c = Client()
    c.force_login(world.users["member_a"], backend="django.contrib.auth.backends.ModelBackend")
    assert c.get("/api/v1/visits/mine/").status_code == 200


def test_inactive_users_are_not_loaded(world):
    user = world.users["member_a"]
    c = Client()
    c.force_login(user)
    user.is_active = False
    user.save()
    assert c.get("/api/v1/visits/mine/").status_code == 403


def test_the_compiled_user_query_loads_what_the_orm_loads(world):
    from gridgov.accounts.backends import load_user
    from gridgov.accounts.models import User

    def values(obj) -> dict:
        return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}

    for name in ("member_a", "leader_a"):  # with a member record, and without one
        expected = User.objects.select_related("member").get(username=name)
        with CaptureQueriesContext(connection) as queries:
            user = load_user(str(expected.pk))  # the session keeps the id as text
            member = getattr(user, "member", None)
        assert len(queries) == 1
        assert type(user) is User and values(user) == values(expected) and not user._state.adding
        if name == "member_a":
            assert member == world.member_a and values(member) == values(expected.member)
            assert member.user is user
        else:
            assert member is None
    assert load_user(10**9) is None
    assert load_user("not a number") is None
