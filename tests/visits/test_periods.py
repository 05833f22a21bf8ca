from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from gridgov.visits.periods import Window, following, previous, strictest, window


@pytest.mark.parametrize(
    ("period", "day", "start", "end"),
    [
        ("month", date(2026, 11, 23), date(2026, 11, 1), date(2026, 12, 1)),
        ("month", date(2026, 12, 31), date(2026, 12, 1), date(2027, 1, 1)),
        ("quarter", date(2026, 11, 23), date(2026, 10, 1), date(2027, 1, 1)),
        ("quarter", date(2026, 1, 1), date(2026, 1, 1), date(2026, 4, 1)),
        ("year", date(2026, 6, 30), date(2026, 1, 1), date(2027, 1, 1)),
    ],
)
def test_windows(period, day, start, end):
    assert window(period, day) == Window(start, end)


def test_previous_and_following():
    q = window("quarter", date(2026, 1, 15))
    assert previous("quarter", q) == Window(date(2025, 10, 1), date(2026, 1, 1))
    assert following("quarter", q) == Window(date(2026, 4, 1), date(2026, 7, 1))


@dataclass
class P:
    key_group: str
    period: str
    visits_per_period: int


def test_strictest_policy_applies():
    policies = [P("", "quarter", 1), P("elderly_alone", "month", 1), P("disabled", "month", 2)]
    assert strictest([], policies).period == "quarter"
    assert strictest(["elderly_alone"], policies).period == "month"
    assert strictest(["elderly_alone", "disabled"], policies).visits_per_period == 2
    assert strictest(["floating"], policies).period == "quarter"
    assert strictest([], []) is None
