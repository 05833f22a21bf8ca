"""The monitoring tally agrees with the cases after every kind of change, and monitoring reads it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine
from rest_framework.test import APIClient

from gridgov.cases import selectors, services, tally
from gridgov.cases.models import Case, CaseTally, CaseTallyDelta

from .conftest import IN_A, IN_B

SH = ZoneInfo("Asia/Shanghai")


def monitored(user) -> dict:
    c = APIClient()
    c.force_authenticate(user)
    return c.get("/api/v1/cases/monitoring/").json()


def test_the_tally_follows_every_change_and_matches_a_direct_count(world) -> None:
    u = world.users
    dept = u["department"].department
    with time_machine.travel(datetime(2026, 11, 24, 9, 0, tzinfo=SH), tick=False):
        a, _ = services.case_report(category="env-garbage", description="A", location=IN_A, channel="hotline")
        b, _ = services.case_report(
            category="facility-manhole", description="B", location=IN_B, channel="hotline"
        )
        c, _ = services.case_report(category="env-noise", description="C", location=IN_A, channel="web")
        services.file_case(a, actor=u["leader_a"])
        b = services.file_case(b, actor=u["community"])
        services.transition(b, "dispatch", actor=u["coordinator"], lead_department=dept)
        services.transition(c, "decline", actor=u["community"], comment="重复")
        a = services.transition(a, "resolve", actor=u["member_a"])
        a = services.transition(a, "verify", actor=u["leader_a"])
        services.evaluate(a, satisfaction=4)
    assert CaseTallyDelta.objects.exists() and tally.check() == []
    tally.fold()
    assert not CaseTallyDelta.objects.exists() and CaseTally.objects.exists() and tally.check() == []
    services.sweep(now=datetime(2026, 11, 30, 9, 0, tzinfo=SH))  # b overdue: red and supervised
    assert tally.check() == []

    with time_machine.travel(datetime(2026, 11, 30, 9, 1, tzinfo=SH), tick=False):
        via_tally = monitored(u["community"])
        direct = selectors.monitoring(u["community"], since=datetime(2026, 11, 1, tzinfo=SH))
    assert via_tally["open"] == direct["open"] == 1
    assert via_tally["red"] == direct["red"] == 1 and via_tally["supervised"] == 1
    assert via_tally["closed"] == direct["closed"] == 1 and via_tally["satisfaction"] == 4.0
    assert via_tally["on_time_rate"] == 1.0
    assert [r["state_id"] for r in via_tally["by_state"]] == ["dispatched"]
    assert via_tally["by_department"][0]["lead_department__code"] == dept.code


def test_rebuild_restores_a_damaged_tally(world) -> None:
    services.case_report(category="env-garbage", description="A", location=IN_A, channel="hotline")
    CaseTallyDelta.objects.all().delete()
    assert tally.check() != []
    tally.rebuild()
    assert tally.check() == [] and Case.objects.count() == 1


def test_the_command_checks_and_rebuilds(world) -> None:
    import pytest
    from django.core.management import CommandError, call_command

    services.case_report(category="env-garbage", description="A", location=IN_A, channel="hotline")
    call_command("cases_tally", "--check")
    CaseTallyDelta.objects.all().delete()
    with pytest.raises(CommandError):
        call_command("cases_tally", "--check")
    call_command("cases_tally")
    call_command("cases_tally", "--check")
