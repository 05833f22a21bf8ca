"""The full recompute (`recompute.rebuild` / `differences`, counted in numpy): each visit in its local period,
only what counts, only the rows that differ written, the same from one session or two."""

from __future__ import annotations

import threading
from datetime import date, datetime
from types import SimpleNamespace

import numpy as np
import psycopg
import pytest
from django.db import connection
from django.test import override_settings

from gridgov.visits import recompute, recount, rollups
from gridgov.visits.models import AreaPeriodRollup, NodePolicyTotal, RollupDelta, Visit, VisitPolicy

pytestmark = pytest.mark.django_db

SAME = dict.fromkeys(recompute.CHECKED, 0)  # (the kept tables and the dashboard marks)


def _visits(household, *times: str, counted: bool = True) -> None:
    """Visits written directly (no upkeep: the kept state does not know them until a rebuild)."""
    review = "none" if counted else "pending"
    for t in times:
        Visit.objects.create(
            household=household,
            channel="in_person",
            device_time=datetime.fromisoformat(t),
            counted=counted,
            review=review,
            flags=[] if counted else ["poor_accuracy"],
        )


def _area_rows() -> set[tuple]:
    return set(AreaPeriodRollup.objects.values_list("area__code", "kind", "period_start", "done"))


def _sql_rows() -> set[tuple]:
    """The area rollups as SQL derives them for `refresh` (date_trunc of the local time)."""
    with connection.cursor() as cur:
        cur.execute(rollups.ROLLUPS_SELECT.format(states=rollups.STATES, where=""), {"tz": rollups._tz()})
        rows = cur.fetchall()
        cur.execute("SELECT id, code FROM geo_responsibilityarea")
        codes = dict(cur.fetchall())
    return {(codes[a], k, p, d) for a, k, p, d in rows}


def _household_b_monthly(world, visits: int) -> None:
    """Household B becomes a disabled person's, visited `visits` times a month; the rollups follow."""
    VisitPolicy.objects.create(
        name=f"disabled, {visits} a month", key_group="disabled", period="month", visits_per_period=visits
    )
    world.household_b.key_groups = ["disabled"]
    world.household_b.save()
    recompute.rebuild()


def test_each_visit_counts_in_its_local_period_and_only_counted_visits(world):
    _household_b_monthly(world, 3)
    # Once a quarter: 23:30 local on the last day of the first quarter (15:30 UTC) is in the first quarter;
    # 00:30 local on the first day of the second (16:30 UTC the day before) in the second.
    _visits(world.household_a, "2025-03-31T15:30:00+00:00")
    _visits(world.household_a2, "2025-03-31T16:30:00+00:00")
    # Three a month: May has three (the first at 00:10 local on 1 May, the last at 23:50 local on 31 May);
    # June two, and a flagged visit not approved (not counted), and one at 00:30 local on 1 July.
    _visits(
        world.household_b,
        "2025-04-30T16:10:00+00:00",
        "2025-05-15T02:00:00+00:00",
        "2025-05-31T15:50:00+00:00",
    )
    _visits(
        world.household_b,
        "2025-06-02T02:00:00+00:00",
        "2025-06-20T02:00:00+00:00",
        "2025-06-30T16:30:00+00:00",
    )
    _visits(world.household_b, "2025-06-25T02:00:00+00:00", counted=False)
    expected = {
        (world.area_a.code, "quarter", date(2025, 1, 1), 1),
        (world.area_a2.code, "quarter", date(2025, 4, 1), 1),
        (world.area_b.code, "month", date(2025, 5, 1), 1),
    }
    assert recompute.differences() == SAME | {"rollups": 3, "node_rollups": 12}
    assert recompute.rebuild() == SAME | {"rollups": 3, "node_rollups": 12}
    assert _area_rows() == expected == _sql_rows()
    assert recompute.rebuild() == SAME and recompute.differences() == SAME
    # Approved, the flagged visit counts: June has three.
    Visit.objects.filter(counted=False).update(counted=True, review="approved")
    assert recompute.rebuild() == SAME | {"rollups": 1, "node_rollups": 4}
    assert _area_rows() == expected | {(world.area_b.code, "month", date(2025, 6, 1), 1)} == _sql_rows()


@override_settings(TIME_ZONE="America/New_York")
def test_periods_follow_the_zone_rules_daylight_saving_time_included(world):
    _household_b_monthly(world, 1)
    # 23:30 EST on 28 February; 23:30 EDT on 31 March; 00:30 EDT on 1 November (a fixed -5 h would put it
    # in October); 23:30 EST on 30 November; and once a quarter for household A: 23:30 EDT on 30 September.
    _visits(
        world.household_b,
        "2025-03-01T04:30:00+00:00",
        "2025-04-01T03:30:00+00:00",
        "2025-11-01T04:30:00+00:00",
        "2025-12-01T04:30:00+00:00",
    )
    _visits(world.household_a, "2025-10-01T03:30:00+00:00")
    recompute.rebuild()
    b, a = world.area_b.code, world.area_a.code
    assert (
        _area_rows()
        == {
            (b, "month", date(2025, 2, 1), 1),
            (b, "month", date(2025, 3, 1), 1),
            (b, "month", date(2025, 11, 1), 1),
            (a, "quarter", date(2025, 7, 1), 1),
        }
        == _sql_rows()
    )
    assert recompute.differences() == SAME


def test_visits_outside_the_months_asked_for_first_are_counted_in_their_own(world, monkeypatch):
    """Each part of the visits is counted as soon as it is read, in months asked for before the reads
    (`YEARS_AROUND` now); with a visit outside them (long ago, or far ahead) the parts are counted again in
    the months of the visits' own span: the same rows either way, and the same as SQL derives them."""
    _visits(world.household_a, "1990-02-10T02:00:00+00:00", "2025-05-10T02:00:00+00:00")
    _visits(world.household_b, "2025-05-11T02:00:00+00:00", "2031-01-05T02:00:00+00:00")
    _visits(world.household_a2, "2025-05-12T02:00:00+00:00")
    split = world.household_a2.pk
    monkeypatch.setattr(recompute, "_visit_ranges", lambda cur, parts: [(None, split), (split, None)])
    asked = []
    real_months = recompute._months

    def months(cur, first, last):
        asked.append((first, last))
        return real_months(cur, first, last)

    monkeypatch.setattr(recompute, "_months", months)
    outside = recompute.differences()
    assert len(asked) == 2  # the span around now, then the visits' own
    assert outside["rollups"] > 0
    asked.clear()
    monkeypatch.setattr(recompute, "YEARS_AROUND", (40, 10))  # holds every visit
    assert recompute.differences() == outside and len(asked) == 1
    assert recompute.rebuild() == outside and _area_rows() == _sql_rows()
    monkeypatch.setattr(recompute, "YEARS_AROUND", (20, 2))
    assert recompute.differences() == SAME


def test_the_kept_rows_with_pending_deltas_read_as_the_views_answer_them(world):
    """`differences` reads the area and node rollups with the pending deltas added by joining the kept rows
    to the deltas (`WITH_PENDING`), not through KEPT's views (all grouped again): the same rows, with deltas
    on kept keys, on new keys, summing to 0, and of an area that is gone."""
    _visits(world.household_a, "2025-05-10T02:00:00+00:00", "2025-08-10T02:00:00+00:00")
    _visits(world.household_b, "2025-05-11T02:00:00+00:00")
    recompute.rebuild()
    kept = AreaPeriodRollup.objects.filter(area=world.area_a).first()
    for area, kind, start, done in (
        (kept.area_id, kept.kind, kept.period_start, 2),  # a kept key
        (kept.area_id, kept.kind, kept.period_start, 1),
        (world.area_b.pk, "month", "2021-03-01", 1),  # a new key
        (world.area_b.pk, "month", "2021-03-01", 2),
        (world.area_b.pk, "year", "2019-01-01", 1),  # new, then taken back: 0
        (world.area_b.pk, "year", "2019-01-01", -1),
        (10**12, "quarter", "2021-01-01", 3),  # no such area
    ):
        RollupDelta.objects.create(area_id=area, kind=kind, period_start=start, done=done)
    with connection.cursor() as cur:
        for name in recompute.WITH_PENDING:
            table, keys, values, _rows = rollups.KEPT[name]
            cols = ", ".join(keys + values)
            cur.execute(f"SELECT {cols} FROM {table} k ORDER BY 1, 2, 3")
            view = cur.fetchall()
            cur.execute(f"SELECT {cols} FROM {recompute.WITH_PENDING[name]} k ORDER BY 1, 2, 3")
            assert cur.fetchall() == view, name
    # (the kept key and the new one differ from a rebuild, and the gone area's row; 4 nodes each but it)
    assert recompute.differences() == SAME | {"rollups": 3, "node_rollups": 8}


def test_rebuild_rewrites_only_the_rows_that_differ(world):
    _visits(world.household_a, "2025-05-10T02:00:00+00:00", "2025-08-10T02:00:00+00:00")
    _visits(world.household_b, "2025-05-11T02:00:00+00:00")
    recompute.rebuild()

    def versions() -> dict[str, set[tuple]]:
        with connection.cursor() as cur:
            out = {}
            for table in (
                "visits_areaperiodrollup",
                "visits_nodeperiodrollup",
                "visits_nodepolicytotal",
                "visits_areapolicytotal",
                "households_household",
                "visits_dashboardrow",
            ):
                cur.execute(f"SELECT ctid::text, xmin::text FROM {table}")
                out[table] = set(cur.fetchall())
            return out

    before = versions()
    assert recompute.rebuild() == SAME and versions() == before  # nothing written
    AreaPeriodRollup.objects.filter(area=world.area_b).update(done=5)
    NodePolicyTotal.objects.filter(code=world.grid_a.code).update(households=7)
    with connection.cursor() as cur:  # a dashboard row (the grid's, for the month kept) drifts too
        cur.execute(
            "UPDATE visits_dashboardrow SET households = 99 WHERE level = 'grid' AND key = %s",
            [world.grid_a.code],
        )
        assert cur.rowcount == 1
    # a kept row that does not count (no done): not what readers see, deleted by position (read again)
    AreaPeriodRollup.objects.create(area=world.area_b, kind="month", period_start="2020-01-01", done=0)
    changed = versions()
    assert recompute.differences() == SAME | {"rollups": 1, "node_totals": 1, "dashboard": 1}
    assert recompute.rebuild() == SAME | {"rollups": 1, "node_totals": 1, "dashboard": 1}
    assert not AreaPeriodRollup.objects.filter(done=0).exists()
    after = versions()
    for table, rows in after.items():
        rewritten = {"visits_areaperiodrollup": 1, "visits_nodepolicytotal": 1, "visits_dashboardrow": 1}
        rewritten = rewritten.get(table, 0)
        assert len(rows - changed[table]) == rewritten, table
        assert len(rows) == len(before[table]), table


@pytest.mark.django_db(transaction=True)
def test_two_sessions_sharing_a_snapshot_agree_with_one(world, monkeypatch):
    """In a transaction of its own the recompute reads with a second session on the same snapshot (the
    visits split between the two by household): the same differences and repairs as from one session, even
    when visits are committed between the snapshot's export and the second session's start."""
    _visits(world.household_a, "2025-05-10T02:00:00+00:00", "2025-08-10T02:00:00+00:00")
    _visits(world.household_b, "2025-05-11T02:00:00+00:00")
    _visits(world.household_a2, "2025-05-12T02:00:00+00:00")
    helpers = []
    real_helper = recompute._helper

    def helper(cur):
        helpers.append(1)
        return real_helper(cur)

    monkeypatch.setattr(recompute, "_helper", helper)
    split = world.household_a2.pk
    monkeypatch.setattr(recompute, "_visit_ranges", lambda cur, parts: [(None, split), (split, None)])
    monkeypatch.setattr(recompute, "RECOMPUTE_SESSIONS", 1)
    one = recompute.differences()
    assert one == SAME | {"rollups": 4, "node_rollups": 9} and not helpers
    monkeypatch.setattr(recompute, "RECOMPUTE_SESSIONS", 2)
    # A third session commits counted visits (one in each half of the visits, a period not met yet) once
    # the snapshot is exported, before the second session connects: a second session that did not import
    # it would count them.
    late = []

    def commit_visits():
        try:
            _visits(world.household_a, "2025-11-10T02:00:00+00:00")
            _visits(world.household_a2, "2025-11-12T02:00:00+00:00")
            late.extend(Visit.objects.filter(device_time__month=11).values_list("pk", flat=True))
        finally:
            connection.close()  # this thread's own connection

    def connect(*args, **kwargs):
        third = threading.Thread(target=commit_visits)
        third.start()
        third.join()
        return real_connect(*args, **kwargs)

    real_connect = recompute.psycopg.connect
    monkeypatch.setattr(recompute, "psycopg", SimpleNamespace(connect=connect))
    assert recompute.differences() == one and helpers == [1]
    assert len(late) == 2
    monkeypatch.setattr(recompute, "psycopg", psycopg)
    assert recompute.differences() == one | {"rollups": 6, "node_rollups": 13}  # (they are there)
    Visit.objects.filter(pk__in=late).delete()
    helpers.clear()
    assert recompute.differences() == one and helpers == [1]
    # A pending delta (wrong): the rebuild folds it first (a write before the snapshot is exported).
    RollupDelta.objects.create(area_id=world.area_b.pk, kind="quarter", period_start="2020-01-01", done=2)
    more = one | {"rollups": 5, "node_rollups": 13}
    assert recompute.differences() == more and helpers == [1, 1]
    assert recompute.rebuild() == more and helpers == [1, 1, 1]
    assert not RollupDelta.objects.exists()
    assert recompute.differences() == SAME and _area_rows() == _sql_rows()
    assert recompute.rebuild() == SAME


@pytest.mark.django_db(transaction=True)
def test_a_failed_count_does_not_wait_for_the_reads_left(world, monkeypatch):
    """When the counting fails, the recompute raises at once: this session reads no more of the kept tables
    (which only the comparison needs) once the count has failed."""
    _visits(world.household_a, "2025-05-10T02:00:00+00:00", "2025-08-10T02:00:00+00:00")
    _visits(world.household_a2, "2025-05-12T02:00:00+00:00")
    split = world.household_a2.pk
    monkeypatch.setattr(recompute, "_visit_ranges", lambda cur, parts: [(None, split), (split, None)])
    monkeypatch.setattr(recompute, "RECOMPUTE_SESSIONS", 2)
    sources = {}
    real_sources = recompute._sources

    def all_sources(cur, repair, parts):
        sources.update(real_sources(cur, repair, parts))
        return sources

    monkeypatch.setattr(recompute, "_sources", all_sources)
    # The kept tables' reads (this session's) wait until the recompute joins its reading threads, which
    # it does once the count has failed: the reads started after that are the ones it waited for.
    joined = threading.Event()
    reads = []
    real_read = recompute._read

    def read(cur, source):
        reads.append(source)
        if source.main:
            assert joined.wait(60), "the recompute never joined its reads"
        return real_read(cur, source)

    monkeypatch.setattr(recompute, "_read", read)
    real_join = recompute._Reads.join

    def join(got):
        joined.set()
        real_join(got)

    monkeypatch.setattr(recompute._Reads, "join", join)

    def count_met(*args, **kwargs):
        raise ValueError("the count failed")

    monkeypatch.setattr(recount, "count_met", count_met)
    threads = set(threading.enumerate())  # (other tests' threads may live on: a browser's, a server's)
    with pytest.raises(ValueError, match="the count failed"):
        recompute.rebuild()
    kept = [s for s in sources.values() if s.main]
    assert len(kept) > 1
    assert [s for s in reads if s.main] == kept[:1]  # the one under way when the count failed
    assert set(threading.enumerate()) <= threads  # the recompute's reading threads are gone
    monkeypatch.undo()
    assert recompute.differences().keys() == SAME.keys()  # the session is usable


def test_recount_compares_row_by_row():
    kept = [np.array([1, 2, 3, 5]), np.array([0, 1, 1, 2]), np.array([10, 20, 30, 50])]
    fresh = [np.array([5, 4, 2, 1]), np.array([2, 0, 1, 0]), np.array([50, 40, 21, 10])]
    remove, add, n = recount.differing(kept, fresh, 2)
    # key (2, 1) has another value, (3, 1) is extra, (4, 0) missing
    assert sorted(remove.tolist()) == [1, 2] and sorted(add.tolist()) == [1, 2] and n == 3
    assert recount.differing(kept, [c[[3, 2, 1, 0]] for c in kept], 2)[2] == 0
    keys, sums = recount.tally(np.array([7, 3, 7, 1 << 40]), 1 << 41, np.array([1, 2, 3, 4]))
    assert keys.tolist() == [3, 7, 1 << 40] and sums.tolist() == [2, 4, 4]
    starts = np.arange(np.datetime64("2025-01"), np.datetime64("2026-03")).astype("datetime64[D]")
    kinds = recount.month_kinds(starts)  # the month itself, its quarter's first, its year's first
    assert kinds[[0, 2, 3, 11, 12, 13]].tolist() == [
        [0, 0, 0],
        [2, 0, 0],
        [3, 3, 0],
        [11, 9, 0],
        [12, 12, 12],
        [13, 12, 12],
    ]


def test_recount_finds_each_instants_month_as_a_search_would():
    """`period_of` looks months up by spans of 2^40 µs: the same index as a search among the month starts,
    for instants at, just before and just after every start, before the first and after the last."""
    rng = np.random.default_rng(7)
    day = 86_400_000_000
    lengths = rng.integers(28, 32, 300) * day + rng.choice([-3_600_000_000, 0, 3_600_000_000], 300)
    starts = np.cumsum(np.r_[-40 * 365 * day + 12_345_678, lengths])  # (before 2000 and after)
    edges = np.concatenate([starts, starts - 1, starts + 1, rng.integers(starts[0], starts[-1], 100_000)])
    for times in (edges, edges[edges >= starts[0]], edges[(edges >= starts[0]) & (edges < starts[-1])]):
        expect = np.searchsorted(starts, times, side="right") - 1
        assert (recount.period_of(times, starts) == expect).all()
    far = np.array([starts[-1] + 10**15])
    assert recount.period_of(far, starts).tolist() == [len(starts) - 1]


def test_recount_reads_packed_columns():
    rows = np.array([(1, 2), (3, -4)], dtype=[("a", ">i8"), ("b", ">i2")])
    body = (
        np.array([2], ">i2").tobytes()
        + np.array([16], ">i4").tobytes()
        + rows["a"].tobytes()
        + np.array([4], ">i4").tobytes()
        + rows["b"].tobytes()
    )
    data = recount.HEADER + body + recount.TRAILER
    a, b = recount.decode_packed(data, ["int8", "int2"])
    assert a.tolist() == [1, 3] and b.tolist() == [2, -4]
    with pytest.raises(recount.Unreadable):
        recount.decode_packed(data, ["int8", "int8"])  # (two values, then one)
    with pytest.raises(recount.Unreadable):
        recount.decode_packed(data, ["int8"])
    empty = np.array([1], ">i2").tobytes() + np.array([-1], ">i4").tobytes()  # (NULL: no rows)
    assert [
        c.tolist() for c in recount.decode_packed(recount.HEADER + empty + recount.TRAILER, ["int4"])
    ] == [[]]


def test_policy_states_agree_with_the_sql_that_refresh_uses(world):
    """The recompute writes each household's policy out as a CASE over the active policies; `refresh`
    derives it with STATES_SELECT: for every combination of key groups, they agree (no state differs)."""
    from itertools import combinations

    from gridgov.households.models import Household, KeyGroup

    for name, group, period, n, active in [
        ("disabled, twice a month", "disabled", "month", 2, True),
        ("floating, 3 a year", "floating", "year", 3, True),
        ("elderly, monthly", "elderly_alone", "month", 1, True),
        ("off", "low_income", "month", 9, False),
    ]:
        VisitPolicy.objects.create(
            name=name, key_group=group, period=period, visits_per_period=n, active=active
        )
    households = list(Household.objects.filter(active=True))
    for key_groups in [[]] + [list(c) for n in (1, 2) for c in combinations(list(KeyGroup.values), n)]:
        for h in households:
            h.key_groups = key_groups
        Household.objects.bulk_update(households, ["key_groups"])
        rollups.refresh_states()
        assert recompute.differences()["states"] == 0, key_groups
    VisitPolicy.objects.update(active=False)
    rollups.refresh_states()
    assert recompute.differences()["states"] == 0
    # and a state that is not what the policies give is found
    rollups.refresh_states()
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE households_household SET visits_kind = 'month' WHERE id = %s", [world.household_a.pk]
        )
    assert recompute.differences()["states"] == 1
