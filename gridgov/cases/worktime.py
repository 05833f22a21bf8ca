"""Working time: deadlines counted in working hours on the Chinese official calendar.

Pure Python (no Django): a `WorkCalendar` knows which dates are working days and the office hours of
a working day. Which dates are working days comes from, in order:

1. explicit overrides (the administrator's `CalendarDay` rows: the State Council publishes each
   year's holidays and adjusted working weekends in November or December);
2. the `chinesecalendar` package (holidays and 调休 working weekends it ships, currently up to 2026);
3. beyond the package's years, Monday to Friday (and the caller is told: `covered()` is False).

A time limit is a number of working minutes; "N working days" is N times the length of a working
day, so a case reported at 16:00 with one working day to go is due at 16:00 on the next working day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 08:30–12:00 and 14:00–17:30: the usual office hours of a Chinese street office (7 hours).
DEFAULT_HOURS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 0), time(17, 30)))


@lru_cache(maxsize=4096)
def _package_workday(day: date) -> bool | None:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year the package does not cover yet
        return None


def parse_hours(spec: str) -> tuple[tuple[time, time], ...]:
    """'08:30-12:00,14:00-17:30' → ((08:30, 12:00), (14:00, 17:30)); raises ValueError when malformed."""
    spans = []
    for part in spec.split(","):
        start, _, end = part.strip().partition("-")
        a, b = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
        if b <= a or (spans and a < spans[-1][1]):
            raise ValueError(f"office hours must be increasing, non-overlapping spans: {spec!r}")
        spans.append((a, b))
    if not spans:
        raise ValueError("no office hours given")
    return tuple(spans)


@dataclass(frozen=True)
class WorkCalendar:
    hours: tuple[tuple[time, time], ...] = DEFAULT_HOURS
    overrides: Mapping[date, bool] = field(default_factory=dict)
    package: Callable[[date], bool | None] = _package_workday
    tz: tzinfo = SHANGHAI  # office hours are local time, whatever zone a moment comes in

    @property
    def day_minutes(self) -> int:
        return sum(_minutes(a, b) for a, b in self.hours)

    def covered(self, day: date) -> bool:
        """Whether the day's status is known (an override or the package), not guessed from the weekday."""
        return day in self.overrides or self.package(day) is not None

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        known = self.package(day)
        return known if known is not None else day.weekday() < 5

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment `minutes` working minutes after `start` (an aware datetime, in its own zone)."""
        if minutes < 0:
            raise ValueError("a time limit cannot be negative")
        tz = self.tz
        start = start.astimezone(tz)
        remaining = timedelta(minutes=minutes)
        day, now = start.date(), start.timetz().replace(tzinfo=None)
        for _ in range(3660):  # ten years of days: a limit that long is a configuration mistake
            if self.is_workday(day):
                for a, b in self.hours:
                    if now >= b:
                        continue
                    begin = max(now, a)
                    span = _dt(day, b) - _dt(day, begin)
                    if remaining <= span:
                        return datetime.combine(day, begin, tz) + remaining
                    remaining -= span
            day, now = day + timedelta(days=1), time(0, 0)
        raise ValueError(f"a time limit of {minutes} working minutes is over ten years")

    def between(self, start: datetime, end: datetime) -> float:
        """Working minutes from `start` to `end` (negative when end is before start)."""
        if end < start:
            return -self.between(end, start)
        start, end = start.astimezone(self.tz), end.astimezone(self.tz)
        total = timedelta()
        day = start.date()
        while day <= end.date():
            if self.is_workday(day):
                for a, b in self.hours:
                    lo = max(_dt(day, a), start.replace(tzinfo=None))
                    hi = min(_dt(day, b), end.replace(tzinfo=None))
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total.total_seconds() / 60


def _dt(day: date, t: time) -> datetime:
    return datetime.combine(day, t)


def _minutes(a: time, b: time) -> int:
    return int((_dt(date.min, b) - _dt(date.min, a)).total_seconds() // 60)
