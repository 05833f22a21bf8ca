"""The escalation sweep on a frozen clock: grid → community → street → coordinators, supervision."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridgov.cases import services
from gridgov.cases.models import Case, Level
from gridgov.dispatch.models import Notification

from .conftest import IN_A

SH = ZoneInfo("Asia/Shanghai")
# Tuesday 24 November 2026, 09:00: env-garbage has 1 working day (420 min) to handle and to verify.
START = datetime(2026, 11, 24, 9, 0, tzinfo=SH)


def filed(world) -> Case:
    with time_machine.travel(START, tick=False):
        case, _ = services.case_report(
            category="env-garbage", description="垃圾", location=IN_A, channel="hotline"
        )
        return services.file_case(case, actor=world.users["leader_a"])


def test_deadlines_escalate_level_by_level_then_reach_the_coordinators(world) -> None:
    case = filed(world)
    # Due Wednesday 09:00 (7 office hours later); yellow from the last quarter of the step.
    assert case.deadline == datetime(2026, 11, 25, 9, 0, tzinfo=SH)
    # Yellow for the last quarter of the step: 315 office minutes after 09:00 is 16:15.
    assert case.warn_at == datetime(2026, 11, 24, 16, 15, tzinfo=SH) and case.light == "green"
    assert services.sweep(now=datetime(2026, 11, 24, 16, 14, tzinfo=SH)).yellowed == 0
    assert services.sweep(now=datetime(2026, 11, 24, 16, 16, tzinfo=SH)).yellowed == 1
    case.refresh_from_db()
    assert case.light == "yellow" and case.sweep_at == case.deadline and case.version == 1  # no user conflict
    # The yellow mark is a warning on the timeline; the grid's leader (who filed it: the sweep is the
    # actor now) and the area's member hear of it.
    assert case.events.last().action == "warn" and case.events.last().actor_label == "system"
    warned = Notification.objects.filter(case=case, verb="warn")
    assert set(warned.values_list("user__username", flat=True)) == {"leader_a", "member_a"}

    before = datetime(2026, 11, 25, 8, 59, tzinfo=SH)
    assert services.sweep(now=before).touched == 0

    with time_machine.travel(datetime(2026, 11, 25, 9, 1, tzinfo=SH), tick=False):
        assert services.sweep().escalated == 1
        assert services.sweep().touched == 0  # a second run finds nothing more to do
    case.refresh_from_db()
    assert (case.level, case.supervised, case.escalations) == (Level.COMMUNITY, True, 1)
    assert case.light == "green"  # a fresh limit at the new level
    assert case.deadline == datetime(2026, 11, 26, 9, 1, tzinfo=SH)

    assert services.sweep(now=datetime(2026, 11, 26, 9, 2, tzinfo=SH)).escalated == 1
    case.refresh_from_db()
    assert case.level == Level.STREET and case.deadline == datetime(2026, 11, 27, 9, 2, tzinfo=SH)
    assert services.sweep(now=datetime(2026, 11, 27, 9, 0, tzinfo=SH)).touched == 0
    # Referred on Friday at 17:00: two office hours to dispatch run into Monday (the weekend is off).
    assert services.sweep(now=datetime(2026, 11, 27, 17, 0, tzinfo=SH)).referred == 1
    case.refresh_from_db()
    assert (case.state_id, case.level) == ("awaiting_dispatch", Level.DISTRICT)
    assert case.deadline == datetime(2026, 11, 30, 10, 0, tzinfo=SH)
    events = list(case.events.values_list("action", "actor_label"))
    # Each level was warned at its yellow mark on the way (the sweeps at 16:16 and at Friday 09:00).
    assert events[-5:] == [
        ("warn", "system"),
        ("auto_escalate", "system"),
        ("auto_escalate", "system"),
        ("warn", "system"),
        ("auto_refer", "system"),
    ]
    # Not dispatched in time either: supervised, coordinators told, and the sweep stops looking at it.
    result = services.sweep(now=datetime(2026, 12, 2, 10, 0, tzinfo=SH))
    assert result.supervised == 1
    case.refresh_from_db()
    assert case.sweep_at is None and case.events.last().action == "overdue" and case.light == "red"


def test_the_sweep_reads_cases_only_through_the_due_index(world) -> None:
    for _ in range(3):
        filed(world)
    with CaptureQueriesContext(connection) as ctx:
        assert services.sweep(now=datetime(2026, 11, 24, 16, 0, tzinfo=SH)).touched == 0
    on_cases = [q["sql"] for q in ctx.captured_queries if '"cases_case"' in q["sql"]]
    assert len(on_cases) == 1 and '"sweep_at" <=' in on_cases[0] and "SKIP LOCKED" in on_cases[0]


@pytest.mark.parametrize("closed_by", ["verify", "decline"])
def test_closed_cases_are_never_swept(world, closed_by) -> None:
    with time_machine.travel(START, tick=False):
        case, _ = services.case_report(category="env-garbage", description="x", location=IN_A, channel="web")
        if closed_by == "verify":
            case = services.file_case(case, actor=world.users["leader_a"])
            case = services.transition(case, "resolve", actor=world.users["member_a"])
            case = services.transition(case, "verify", actor=world.users["leader_a"])
        else:
            case = services.transition(case, "decline", actor=world.users["leader_a"], comment="重复")
    assert case.sweep_at is None and case.light == ""
    events, version = case.events.count(), case.version
    assert services.sweep(now=datetime(2027, 6, 1, tzinfo=SH)).touched == 0
    case.refresh_from_db()
    assert (case.events.count(), case.version, case.light) == (events, version, "")
