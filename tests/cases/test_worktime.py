"""Working time on the Chinese calendar (pure: no database)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.cases.worktime import WorkCalendar, parse_hours

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_a_working_day_is_seven_office_hours() -> None:
    assert CAL.day_minutes == 420


def test_limits_skip_lunch_and_the_night() -> None:
    # Tuesday 2026-11-24, 11:00 + 2 working hours → 11:00–12:00, 14:00–15:00.
    assert CAL.add(at(2026, 11, 24, 11), 120) == at(2026, 11, 24, 15)
    # 17:00 + 1 hour → 30 minutes today, 30 tomorrow from 08:30.
    assert CAL.add(at(2026, 11, 24, 17), 60) == at(2026, 11, 25, 9)


def test_reported_at_night_counts_from_the_next_opening() -> None:
    assert CAL.add(at(2026, 11, 24, 22), 30) == at(2026, 11, 25, 9)


def test_weekends_and_the_national_day_holiday_do_not_count() -> None:
    # Friday 2026-11-27 17:00 + 1 hour → Monday 11-30 09:00.
    assert CAL.add(at(2026, 11, 27, 17), 60) == at(2026, 11, 30, 9)
    # National Day 2026: 1–7 October off; Wednesday 30 September 17:00 + 1 hour → 8 October 09:00.
    assert not CAL.is_workday(date(2026, 10, 5))
    assert CAL.add(at(2026, 9, 30, 17), 60) == at(2026, 10, 8, 9)


def test_an_adjusted_working_weekend_counts() -> None:
    # Sunday 2026-09-20 is a working day (调休) in the official 2026 schedule.
    assert date(2026, 9, 20).weekday() == 6
    assert CAL.is_workday(date(2026, 9, 20))


def test_beyond_the_package_weekdays_are_assumed_and_overrides_win() -> None:
    day = date(2031, 1, 1)
    assert not CAL.covered(day)
    assert CAL.is_workday(day)  # a Wednesday, guessed
    cal = WorkCalendar(overrides={day: False})
    assert cal.covered(day) and not cal.is_workday(day)
    assert cal.add(at(2030, 12, 31, 17), 60) == at(2031, 1, 2, 9)


def test_office_hours_are_configurable_and_checked() -> None:
    assert parse_hours("09:00-17:00") == ((time(9), time(17)),)
    with pytest.raises(ValueError):
        parse_hours("12:00-09:00")
    with pytest.raises(ValueError):
        parse_hours("09:00-12:00,11:00-13:00")
    with pytest.raises(ValueError):
        CAL.add(at(2026, 11, 24, 9), -1)


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 1)),
    minutes=st.integers(min_value=0, max_value=420 * 15),
)
def test_between_inverts_add(start: datetime, minutes: int) -> None:
    begin = start.replace(tzinfo=SH)
    end = CAL.add(begin, minutes)
    assert end >= begin
    assert CAL.between(begin, end) == pytest.approx(minutes, abs=1e-6)
