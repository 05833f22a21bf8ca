"""Intake: placement by point in polygon, fallback, idempotency, duplicates, bad input."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from gridgov.cases import selectors, services
from gridgov.cases.models import Case, CaseEvent, Level
from gridgov.core.errors import GridgovError
from gridgov.dispatch.models import Notification, OutboundMessage

from .conftest import IN_A, IN_B, IN_STREET_ONLY, OUTSIDE


def report(**kw):
    values = {
        "category": "env-garbage",
        "description": "楼下垃圾堆放",
        "location": IN_A,
        "channel": "hotline",
    }
    values.update(kw)
    return services.case_report(**values)


def test_a_report_in_a_grid_is_placed_in_its_area_and_waits_for_filing(world) -> None:
    case, created = report(actor=world.users["member_a"], channel="patrol")
    assert created
    assert (case.area, case.grid, case.community) == (world.area_a, world.grid_a, world.community)
    assert case.node_code == world.area_a.code and not case.fallback
    assert case.state_id == "reported" and case.level == Level.GRID
    assert case.deadline is not None and case.deadline > case.reported_at
    assert list(case.events.values_list("action", flat=True)) == ["report"]
    # The grid leader hears of it; the reporter (the member) does not notify themselves.
    notified = set(Notification.objects.filter(case=case).values_list("user__username", flat=True))
    assert notified == {"leader_a"}


def test_outside_every_grid_the_smallest_containing_unit_takes_it(world) -> None:
    case, _ = report(location=IN_STREET_ONLY)
    assert case.fallback and case.grid is None and case.community is None
    assert case.street.code == "440308001" and case.level == Level.STREET


@override_settings(GRIDGOV_TERRITORIAL_FALLBACK="440308001001")
def test_a_configured_territorial_fallback_owner_takes_what_no_grid_covers(world) -> None:
    case, _ = report(location=IN_STREET_ONLY)
    assert case.fallback and case.community == world.community and case.level == Level.COMMUNITY
    inside, _ = report(location=IN_B)
    assert inside.grid == world.grid_b and not inside.fallback


def test_outside_the_district_without_fallback_is_refused_and_nothing_written(world) -> None:
    with pytest.raises(GridgovError) as err:
        report(location=OUTSIDE)
    assert err.value.code == "cases.outside" and err.value.params["field"] == "location"
    assert not Case.objects.exists() and not CaseEvent.objects.exists()


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"category": "no-such"}, "category"),
        ({"category": "hazard"}, "category"),  # a group, not a leaf
        ({"description": "  "}, "description"),
        ({"channel": "fax"}, "channel"),
    ],
)
def test_bad_reports_name_the_field(world, kw, field) -> None:
    with pytest.raises(GridgovError) as err:
        report(**kw)
    assert err.value.params["field"] == field
    assert not Case.objects.exists()


def test_a_resubmitted_form_creates_nothing_twice(world) -> None:
    key = uuid.uuid4()
    first, created = report(uuid=key, reporter_phone="13800138000")
    again, created_again = report(uuid=key, reporter_phone="13800138000")
    assert created and not created_again and again.pk == first.pk
    assert Case.objects.count() == 1
    # The reporter got one SMS, not two.
    assert OutboundMessage.objects.filter(channel="sms").count() == 1


def test_duplicates_are_same_category_near_in_space_and_time(world) -> None:
    case, _ = report()
    near = IN_A.clone()
    near.x += 0.0003  # ~30 m east
    assert list(services.duplicates(case.category, near)) == [case]
    assert not services.duplicates(case.category, IN_B).exists()  # > 100 m
    other = services.leaf_category("env-noise")
    assert not services.duplicates(other, near).exists()
    later = timezone.now() + timedelta(hours=case.category.duplicate_window_hours + 1)
    assert not services.duplicates(case.category, near, at=later).exists()
    assert not services.duplicates(case.category, near, exclude=case).exists()


def test_intake_and_the_console_count_duplicates_by_the_same_rule(world) -> None:
    """Cases just inside and just outside the radius and the window: what intake lists for each case is
    what the console counts for its row."""
    category = services.leaf_category("env-garbage")
    assert (category.duplicate_radius_m, category.duplicate_window_hours) == (100, 48)
    metres_per_degree = 111_320 * math.cos(math.radians(IN_A.y))
    cases = []
    for east_m, hours_later in [(0, 0), (90, 1), (110, 0), (50, 60), (15, 2)]:
        at = IN_A.clone()
        at.x += east_m / metres_per_degree
        case, _ = report(location=at, description=f"{east_m} m, {hours_later} h")
        Case.objects.filter(pk=case.pk).update(reported_at=case.reported_at + timedelta(hours=hours_later))
        cases.append(Case.objects.get(pk=case.pk))
    counts = selectors.duplicate_counts(cases)
    listed = {
        c.pk: services.duplicates(c.category, c.location, at=c.reported_at, exclude=c).count() for c in cases
    }
    assert {pk: counts.get(pk, 0) for pk in listed} == listed
    # 0 m: the 90 m and 15 m ones (110 m is too far, 60 h too late); 90 m: 0, 110 and 15 m; 110 m: 90 and
    # 15 m; 50 m at 60 h: none in its window; 15 m: 0, 90 and 110 m.
    assert [listed[c.pk] for c in cases] == [2, 3, 2, 0, 3]


def test_reusing_another_reports_id_reveals_nothing(world) -> None:
    key = uuid.uuid4()
    report(uuid=key, reporter_phone="13800138000")
    with pytest.raises(GridgovError) as err:
        report(uuid=key, description="something else entirely")
    assert err.value.params["field"] == "uuid"
    with pytest.raises(GridgovError):
        report(uuid=key, actor=world.users["member_a"])  # same text, someone else
    assert Case.objects.count() == 1


def test_the_reference_carries_the_local_date(world) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    early = datetime(2026, 11, 24, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # 23:30 UTC the day before
    case, _ = report(now=early)
    assert case.reference == f"20261124-{case.pk}"
