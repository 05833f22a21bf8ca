"""Calendar periods and which policy applies to a household (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

MONTHS = {"month": 1, "quarter": 3, "year": 12}


class PolicyLike(Protocol):
    key_group: str
    period: str
    visits_per_period: int


@dataclass(frozen=True)
class Window:
    start: date  # first day
    end: date  # day after the last

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def window(period: str, day: date) -> Window:
    """The calendar month, quarter or year holding `day`."""
    months = MONTHS[period]
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    end_month = first_month + months
    end = date(day.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return Window(start, end)


def previous(period: str, w: Window) -> Window:
    return window(period, w.start - timedelta(days=1))


def following(period: str, w: Window) -> Window:
    return window(period, w.end)


def strictest(key_groups: Iterable[str], policies: Sequence[PolicyLike]) -> PolicyLike | None:
    """The policy a household follows: among those that apply (its key groups, or the default with no
    key group), the shortest period, then the most visits per period."""
    groups = set(key_groups)
    applicable = [p for p in policies if not p.key_group or p.key_group in groups]
    if not applicable:
        return None
    return min(applicable, key=lambda p: (MONTHS[p.period], -p.visits_per_period))
