"""Intake: placement by point in polygon, fallback, idempotency, duplicates, bad input."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from gridgov.cases import services
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
