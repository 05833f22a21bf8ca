"""The full recompute of the compliance rollups: every kept table (`rollups.KEPT`) derived again from the
households and the visits, compared with the kept one and, for `rebuild`, made equal to it by writing only
the rows that differ. The counting is done in numpy (`recount`): each source streamed as one row of packed
columns, the visits read in parts (ranges of households) by two sessions that share one snapshot, each part
counted as soon as it is read; the dashboard marks checked against the dashboard rows.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import psycopg
from django.db import connection, transaction

from . import recount, rollups
from .periods import MONTHS
from .rollups import (
    DASHBOARD,
    DEFAULT,
    DELTAS,
    KEPT,
    KEPT_MONTH,
    MARKS,
    MARKS_DIFFERING,
    NODE_LENGTHS,
    NODES,
    _quiesce_and_fold,
    _tz,
    dashboard_marks,
)

REAL = {
    "rollups": "visits_areaperiodrollup",
    "node_rollups": "visits_nodeperiodrollup",
    "dashboard": DASHBOARD,
}


# What `rebuild` and `differences` answer for: the kept tables and the dashboard marks.
CHECKED = (*KEPT, "marks")
DERIVE_LOCK = 7_240_003  # advisory lock: one derivation at a time
# The recompute's sessions (for their transactions only): each source is streamed as one row, a bytea
# per column (`_read`: one message per source, not one per row), which needs memory; no parallel plans
# (the recompute runs its own two sessions) and no JIT (compiling costs more than it saves here).
RECOMPUTE_SETTINGS = {
    "work_mem": "256MB",
    "hash_mem_multiplier": "1",
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
}
# Sessions reading for `rebuild`/`differences` when they own their transaction (a second one shares the
# first's snapshot); 1: the caller's session alone (also always inside a caller's transaction, whose
# own writes another session could not see).
RECOMPUTE_SESSIONS = 2

KINDS = tuple(MONTHS)  # kind codes in the recompute: 0 month, 1 quarter, 2 year
CODE_BASE = 10**17  # a node code as an int: length * CODE_BASE + its digits (codes have up to 17)
# How each kept column is read as an int (`read`: SQL of {c}, giving a value no fresh row has when the
# kept one is not well-formed, so that the row differs and is replaced), carried (`type`: binary COPY
# type) and written from that int (`write`). A kept table with other columns adds them to COLUMNS.
CODECS: dict[str, dict[str, str]] = {
    "int": {"read": "{c}::int8", "type": "int8", "write": "{c}"},
    "nullable": {"read": "coalesce({c}, -1)::int8", "type": "int8", "write": "nullif({c}, -1)"},
    "kind": {
        "read": "(CASE {c} "
        + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(KINDS))
        + " ELSE -1 END)::int2",
        "type": "int2",
        "write": "(ARRAY[" + ", ".join(f"'{k}'" for k in KINDS) + "])[{c} + 1]",
    },
    "date": {"read": "{c}", "type": "date", "write": "{c}"},
    "code": {
        "read": f"(CASE WHEN length({{c}}) BETWEEN 1 AND 17 AND ltrim({{c}}, '0123456789') = ''"
        f" THEN length({{c}}) * {CODE_BASE}::int8 + {{c}}::int8 ELSE -1 END)",
        "type": "int8",
        "write": f"lpad(({{c}} % {CODE_BASE})::text, ({{c}} / {CODE_BASE})::int, '0')",
    },
}
# The dashboard rows' levels (and their count rows, '#' + the level) as codes in the recompute.
DASH_LEVELS = ("area", "member", "district", "street", "community", "grid")
DASH_LEVELS += tuple("#" + level for level in DASH_LEVELS)
CODECS["level"] = {
    "read": "(CASE {c} "
    + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(DASH_LEVELS))
    + " ELSE -1 END)::int2",
    "type": "int2",
    "write": "(ARRAY[" + ", ".join(f"'{k}'" for k in DASH_LEVELS) + "])[{c} + 1]",
}
# a dashboard row's key: a code, a member id (digits as a code) or NULL (-2)
CODECS["nullable code"] = {
    "read": f"(CASE WHEN {{c}} IS NULL THEN -2 ELSE {CODECS['code']['read']} END)",
    "type": "int8",
    "write": f"(CASE WHEN {{c}} = -2 THEN NULL ELSE {CODECS['code']['write']} END)",
}
COLUMNS = {
    "household_id": "int",
    "area_id": "nullable",
    "kind": "kind",
    "need": "int",
    "period_start": "date",
    "done": "int",
    "households": "int",
    "code": "code",
    "month": "date",
    "level": "level",
    "key": "nullable code",
    "member_id": "nullable",
}


class Source(NamedTuple):
    """A source of the recompute: a select, its columns and their binary types; `main`: only the
    session that folded may read it (the kept rollups, which the fold has just written)."""

    select: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    main: bool = False


SEND = {"int8": "int8send", "int4": "int4send", "int2": "int2send", "date": "date_send"}
SEND |= {"timestamptz": "timestamptz_send", "tid": "tidsend"}


def _read(cur: Any, source: Source) -> list[np.ndarray]:
    """A source's columns as int64 arrays: one row of a bytea per column, its values' binary forms one after
    the other (in the select's order; a value never NULL)."""
    aggs = ", ".join(
        f"string_agg({SEND[t]}(s.{c}), '')" for c, t in zip(source.columns, source.types, strict=True)
    )
    with cur.copy(f"COPY (SELECT {aggs} FROM ({source.select}) s) TO STDOUT (FORMAT binary)") as copy:
        data = b"".join(copy)
    return recount.decode_packed(data, source.types)


def _policy_sql(cur: Any) -> str:
    """SQL of a household's (h) policy as STATES_SELECT picks it (the first policy that applies in its
    order, else the default), written out from the active policies: its kind code * 65536 + its need, in
    one CASE (each key group tested once), and for a household without key groups (most) without testing
    any: the first policy for every household, else the default."""
    cur.execute(
        "SELECT key_group, period, visits_per_period FROM visits_visitpolicy p WHERE p.active"
        f" ORDER BY CASE p.period {' '.join(f'WHEN {_quote(k)} THEN {m}' for k, m in MONTHS.items())} END,"
        " p.visits_per_period DESC"
    )
    otherwise = KINDS.index(DEFAULT[0]) * 65536 + DEFAULT[1]  # (no policy applies: the default)
    whens = []
    for group, period, n in cur.fetchall():
        packed = KINDS.index(period) * 65536 + int(n)
        if group == "":  # every household's: no later policy is ever picked
            otherwise = packed
            break
        whens.append(f"WHEN {_quote(group)} = ANY(h.key_groups) THEN {packed}")
    if not whens:
        return str(otherwise)
    return (
        f"(CASE WHEN cardinality(h.key_groups) = 0 THEN {otherwise}"
        f" ELSE (CASE {' '.join(whens)} ELSE {otherwise} END) END)"
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _by_key(name: str) -> bool:
    """Whether a kept table's rows are deleted by key (its keys are plain ints, always read as they are)
    rather than by position."""
    return all(COLUMNS[c] == "int" for c in KEPT[name][1])


def _with_pending(table: str, keys: str, deltas: str) -> str:
    """The kept rows of `table` with the pending deltas (`deltas`: rows of `keys` and done, summed per key)
    added, as KEPT's view of it answers them (the kept rows plus the deltas, summed per key), with the
    deltas hashed and the kept rows joined to them rather than all grouped again."""
    match = " AND ".join(f"d.{k} = k.{k}" for k in keys.split(", "))
    return f"""(
        WITH d AS MATERIALIZED ({deltas})
        SELECT {", ".join(f"k.{k}" for k in keys.split(", "))}, k.done + coalesce(d.done, 0) AS done
        FROM {table} k LEFT JOIN d ON {match}
        UNION ALL
        SELECT d.* FROM d WHERE NOT EXISTS (SELECT FROM {table} k WHERE {match})
    )"""


# The kept tables as readers see them (`differences`: the pending deltas not folded), read other ways than
# KEPT's views: the same rows.
WITH_PENDING = {
    "rollups": _with_pending(
        "visits_areaperiodrollup",
        "area_id, kind, period_start",
        f"SELECT area_id, kind, period_start, sum(done) AS done FROM {DELTAS} GROUP BY 1, 2, 3",
    ),
    "node_rollups": _with_pending(
        "visits_nodeperiodrollup",
        "code, kind, period_start",
        f"""SELECT left(a.code, n.len)::varchar AS code, x.kind, x.period_start, sum(x.done) AS done
            FROM {DELTAS} x JOIN geo_responsibilityarea a ON a.id = x.area_id CROSS JOIN {NODES}
            GROUP BY 1, 2, 3""",
    ),
}


# Which rows of a kept table count (KEPT's SQL condition, as numpy reads it on the table's columns): a
# kept row that does not is deleted by the repair.
COUNTING: dict[str, Any] = {"true": None, "done > 0": lambda columns: columns["done"] > 0}
if {rows for *_kept, rows in KEPT.values()} - COUNTING.keys():
    raise ValueError("a kept table's counting rows that COUNTING does not read")


def _kept(name: str, repair: bool, positions: bool = False) -> Source:
    """A kept table as ints (see CODECS). With `repair`, the real table's every row (whether it counts: see
    COUNTING) and, with `positions`, first its position, to delete it by (unless `_by_key`: read again
    only when there are rows to delete); else the counting rows as readers see them."""
    table, keys, values, rows = KEPT[name]
    cols = keys + values
    exprs = [CODECS[COLUMNS[c]]["read"].format(c=c) + f" AS {c}" for c in cols]
    types = tuple(CODECS[COLUMNS[c]]["type"] for c in cols)
    if not repair:
        table = WITH_PENDING.get(name, table)
        return Source(f"SELECT {', '.join(exprs)} FROM {table} k WHERE {rows}", cols, types)
    # (after the fold there are no pending deltas: the real table is what readers see)
    if positions:
        exprs, cols, types = ["ctid AS ctid", *exprs], ("ctid", *cols), ("tid", *types)
    return Source(f"SELECT {', '.join(exprs)} FROM {REAL.get(name, table)} k", cols, types, name in REAL)


def _compare(name: str, kept: list[np.ndarray], fresh: list[np.ndarray], repair: bool) -> tuple[Any, ...]:
    """The kept rows to delete (indexes: those that differ and, with `repair`, those that do not count),
    the fresh rows to add (indexes) and the number of keys that differ."""
    _table, keys, values, rows = KEPT[name]
    counts = None
    if repair and COUNTING[rows] is not None:
        counts = COUNTING[rows](dict(zip(keys + values, kept, strict=True)))
    counting = kept if counts is None else [c[counts] for c in kept]
    remove, add, differ = recount.differing(counting, fresh, len(keys))
    gone = (np.arange(len(kept[0])) if counts is None else np.flatnonzero(counts))[remove]
    if counts is not None:  # (no done: never kept)
        gone = np.concatenate([gone, np.flatnonzero(~counts)])
    return gone, add, differ


def _visits(low: int | None, high: int | None) -> Source:
    """The counted visits of households in [low, high), in household and time order (the index's)."""
    where = ["counted"]
    where += [f"household_id >= {int(low)}"] if low is not None else []
    where += [f"household_id < {int(high)}"] if high is not None else []
    select = (
        f"SELECT household_id AS h, device_time AS t FROM visits_visit WHERE {' AND '.join(where)}"
        " ORDER BY household_id, device_time"
    )
    return Source(select, ("h", "t"), ("int8", "timestamptz"))


# The span of months asked for before the visits are read (years before and after now), so that each part
# is counted as soon as it is read; a visit outside it: the months of the visits' span, asked for after.
YEARS_AROUND = (20, 2)
# Parts of the visits per session (at least): the counting of each starts once it is read, so the smaller
# the last, the sooner the counting ends after the reads.
PARTS_PER_SESSION = 4
VISITS_PER_PART = 16_000_000  # a part's column of times: 128 MB (a value may not exceed 1 GB)


def _visit_ranges(cur: Any, sessions: int) -> list[tuple[int | None, int | None]]:
    """Household id ranges with about as many visits each (from the planner's statistics): one per
    session, or more when the visits are many (each range's columns are one value each)."""
    cur.execute(
        "SELECT c.reltuples, s.histogram_bounds::text::int8[] FROM pg_class c"
        " LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = c.relname"
        " AND s.attname = 'household_id' WHERE c.oid = 'visits_visit'::regclass"
    )
    row = cur.fetchone()
    rows, bounds = (row[0] or 0, row[1] or []) if row else (0, [])
    parts = max(sessions * PARTS_PER_SESSION, -(-int(rows) // VISITS_PER_PART))
    if parts <= 1 or len(bounds) < 2 * parts:
        return [(None, None)]
    cuts = sorted({bounds[len(bounds) * i // parts] for i in range(1, parts)})
    return list(itertools.pairwise([None, *cuts, None]))


def _sources(cur: Any, repair: bool, parts: int) -> dict[str, Source]:
    policy = _policy_sql(cur)
    ranges = _visit_ranges(cur, parts)
    sources = {f"visits{i}": _visits(low, high) for i, (low, high) in enumerate(ranges)}
    # the policy state of every active household (in table order: sorted afterwards; -1: inactive), and the
    # state kept on its row (its columns as KEPT reads them; kind -2: none), in one scan of the households
    # (the kept kind's code * 65536 + the kept need + 1: both smallints, the need ≥ 0 or NULL)
    kept_kind = CODECS["kind"]["read"].format(c="h.visits_kind")
    sources["states"] = Source(
        f"SELECT h.id::int8 AS id, coalesce(h.area_id, -1)::int8 AS area,"
        f" (CASE WHEN h.active THEN {policy} ELSE -1 END)::int4 AS policy,"
        f" {CODECS['nullable']['read'].format(c='h.visits_area_id')} AS kept_area,"
        f" ((CASE WHEN h.visits_kind IS NULL THEN -2 ELSE {kept_kind} END) * 65536"
        f" + coalesce(h.visits_need, -1) + 1)::int4 AS kept_state"
        " FROM households_household h WHERE h.active OR h.visits_kind IS NOT NULL",
        ("id", "area", "policy", "kept_area", "kept_state"),
        ("int8", "int8", "int4", "int8", "int4"),
    )
    sources["areas"] = Source(
        "SELECT id::int8 AS id, code::int8 AS code, coalesce(member_id, -1)::int8 AS member"
        " FROM geo_responsibilityarea",
        ("id", "code", "member"),
        ("int8", "int8", "int8"),
    )
    # the month the dashboard rows are kept for (none: no row); the fold may just have changed it
    sources["dashboard_month"] = Source(
        f"SELECT m FROM (SELECT {KEPT_MONTH} AS m) x WHERE m IS NOT NULL", ("m",), ("date",), repair
    )
    # (the states kept are read with the households' own: `_kept_states`)
    sources |= {f"kept_{name}": _kept(name, repair) for name in KEPT if name != "states"}
    # the dashboard marks that differ from those derived again from the dashboard rows as they are (not
    # the fresh ones: the marks are of the rows that pages read, pending deltas aside); after the fold, which
    # may have changed rows (and then deleted every mark)
    every = int(rollups.MARK_EVERY)
    sources["marks"] = Source(
        f"SELECT ({MARKS_DIFFERING % {'every': every}})::int8 AS n", ("n",), ("int8",), repair
    )
    return sources


def _kept_states(got: _Reads) -> list[np.ndarray]:
    """The policy states kept on the households' rows (household, area, kind, need), as `_kept` reads a
    kept table: the households that have one."""
    s_id, _area, _policy, kept_area, kept_state = got["states"]
    kept_kind, kept_need = kept_state >> 16, (kept_state & 0xFFFF) - 1
    has = kept_kind != -2
    return [s_id[has], kept_area[has], kept_kind[has], kept_need[has]]


class _Reads:
    """The sources as they are read, by this session and the helper session (if any; it shares this
    one's snapshot), each taking the next source not taken yet in its own order (`_preferred`) while the
    other reads; `[name]` waits for a source. With a helper both sessions read in threads of their own,
    so that the counting (in the calling thread) starts once the visits and states are in, while this
    session still reads the kept tables (only the comparison needs them)."""

    def __init__(self, sources: dict[str, Source], cur: Any, helper: Any) -> None:
        self.sources, self.taken = sources, set[str]()
        self.results: dict[str, list[np.ndarray]] = {}
        self.failed: list[BaseException] = []
        self.cancelled = False
        self.reading: dict[int, Any] = {}  # thread id: the connection of the read under way
        self.done = threading.Condition()
        self.threads: list[threading.Thread] = []
        self.cur, self.helper_cur = cur, None if helper is None else helper.cursor()
        if self.helper_cur is None:
            self.work(cur, True)
            return
        for args in ((self.helper_cur, False), (cur, True)):
            self.threads.append(threading.Thread(target=self.work, args=args))
            self.threads[-1].start()

    def work(self, cur: Any, main: bool) -> None:
        order = _preferred(self.sources, main)
        me = threading.get_ident()
        while True:
            with self.done:
                stop = self.failed or self.cancelled
                name = None if stop else next((n for n in order if n not in self.taken), None)
                if name is None:
                    return
                self.taken.add(name)
                self.reading[me] = cur.connection
            try:
                data = _read(cur, self.sources[name])
            except BaseException as e:
                with self.done:
                    del self.reading[me]
                    if not self.cancelled:
                        self.failed.append(e)
                    self.done.notify_all()
                return
            with self.done:
                del self.reading[me]
                self.results[name] = data
                self.done.notify_all()

    def __getitem__(self, name: str) -> list[np.ndarray]:
        """A source once read (waits for it)."""
        with self.done:
            while name not in self.results and not self.failed:
                self.done.wait(1)
            if self.failed:
                raise self.failed[0]
            return self.results[name]

    def names(self) -> list[str]:
        return list(self.sources)

    def as_read(self, names: list[str]) -> Any:
        """These sources' names, each once it is read, in the order they come (waits for each)."""
        left = list(names)
        while left:
            with self.done:
                while not self.failed and not any(n in self.results for n in left):
                    self.done.wait(1)
                if self.failed:
                    raise self.failed[0]
                name = next(n for n in left if n in self.results)
            left.remove(name)
            yield name

    def idle_cursor(self) -> Any:
        """A cursor of a session that has read all it will (the helper's once it is done, else this
        session's): for the counting's own small queries while the other still reads."""
        if self.helper_cur is None:
            return self.cur
        self.threads[0].join()
        if self.failed:
            raise self.failed[0]
        return self.helper_cur

    def cancel(self) -> None:
        """Read no more (the counting failed): no session starts another read, and a read under way is
        cancelled on the server (its transaction is rolled back anyway); `join` then waits only for that."""
        with self.done:
            self.cancelled = True
            reading = list(self.reading.values())
        for conn in reading:
            with contextlib.suppress(Exception):  # a courtesy: else the read ends on its own
                conn.cancel_safe(timeout=5)

    def join(self) -> None:
        for thread in self.threads:
            thread.join()
        if self.failed and not self.cancelled:
            raise self.failed[0]


def _preferred(sources: dict[str, Source], main: bool) -> list[str]:
    """The order in which a session takes the sources (those it may read): this session the first part
    of the visits, the small sources, then the kept tables (which only it may read, and which only the
    comparison needs); the helper the states, then the other parts of the visits."""
    visits = sorted((n for n in sources if n.startswith("visits")), key=lambda n: int(n[6:]))
    small = [n for n in sources if n in ("areas", "dashboard_month")]
    if main:
        first = [*visits[:1], *small, *(n for n in sources if sources[n].main), "states", *visits[1:]]
    else:
        first = ["states", *reversed(visits[1:]), *small, *visits[:1]]
    order = [n for n in first if n in sources] + [n for n in sources if n not in first]
    return [n for n in order if main or not sources[n].main]


def _helper(cur: Any) -> Any:
    """A second session in a transaction sharing this one's snapshot (read only), set up as this one."""
    cur.execute("SELECT pg_export_snapshot()")
    (snapshot,) = cur.fetchone()
    if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
        raise ValueError(f"snapshot id {snapshot!r}")
    helper = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        helper.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        helper.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        for setting, value in RECOMPUTE_SETTINGS.items():
            helper.execute("SELECT set_config(%s, %s, true)", [setting, value])
    except BaseException:
        helper.close()
        raise
    return helper


def _months(cur: Any, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """The months from the start of the local year holding instant `first` to the month holding `last`
    (microseconds since 2000-01-01 UTC): their first days, and the instants at which they start in the
    time zone as PostgreSQL converts them (its zone rules, daylight saving time included: the bounds
    `period_bounds` gives the upkeep)."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    low, high = (epoch + timedelta(microseconds=int(x)) for x in (first, last))
    cur.execute(
        """SELECT m::date, m AT TIME ZONE %(tz)s FROM generate_series(
               date_trunc('year', %(low)s AT TIME ZONE %(tz)s),
               date_trunc('month', %(high)s AT TIME ZONE %(tz)s), interval '1 month') m""",
        {"tz": _tz(), "low": low, "high": high},
    )
    rows = cur.fetchall()
    starts = np.array([d for d, _i in rows], dtype="datetime64[D]")
    instants = np.array([(i - epoch) // timedelta(microseconds=1) for _d, i in rows], dtype=np.int64)
    if (np.diff(instants) <= 0).any():
        raise ValueError(f"month starts out of order in time zone {_tz()}")
    return starts, instants


def _in_index_order(households: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
    """A part's visits in household and time order (sorted if they are not), and where the household
    changes (`households[1:] != households[:-1]`, None when sorted here)."""
    change = None
    if len(households) > 1:
        change = households[1:] != households[:-1]
        down = (households[1:] < households[:-1]).any()
        if down or (np.less(times[1:], times[:-1]) & ~change).any():  # not in index order: sort
            order = np.lexsort((times, households))
            households, times, change = households[order], times[order], None
    return households, times, change


def _count_visits(
    got: _Reads, states: tuple[np.ndarray, ...], months: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The households that met their policy per period (`recount.count_met`: state index, period index),
    and the months the periods index (their first days, from the local year's start holding the first
    visit to the month holding the last). Each part of the visits (a range of households) is counted as
    soon as it is read, while the sessions read the rest, in `months` (a span of months asked for before
    the reads, its last month after every period: `_months_around_now`); should a visit fall outside it,
    the parts are counted again once all are read, in the months of the visits' own span."""
    s_id, s_kind, s_need = states
    parts = sorted((n for n in got.names() if n.startswith("visits")), key=lambda n: int(n[6:]))
    starts, instants = months
    period_month = recount.month_kinds(starts)
    read: list[tuple[np.ndarray, np.ndarray, Any]] = []
    counted: list[tuple[np.ndarray, np.ndarray]] = []
    first, last, outside = None, None, False
    for name in got.as_read(parts):  # (in the order they come)
        households, times, change = _in_index_order(*got[name])
        if not len(households):
            continue
        read.append((households, times, change))
        low, high = int(times.min()), int(times.max())
        first, last = (
            min(low, first if first is not None else low),
            max(high, last if last is not None else high),
        )
        outside = outside or low < instants[0] or high >= instants[-1]
        if not outside:
            months_of = recount.period_of(times, instants)
            counted.append(
                recount.count_met(households, months_of, s_id, s_kind, s_need, period_month, change)
            )
    if not read:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, "datetime64[D]")
    if outside:  # (the months of the visits' own span, asked for now)
        starts, instants = _months(got.idle_cursor(), first, last)
        period_month, counted = recount.month_kinds(starts), []
        for households, times, change in read:
            months_of = recount.period_of(times, instants)
            if months_of.min() < 0:
                raise ValueError("a visit before the first month start")
            counted.append(
                recount.count_met(households, months_of, s_id, s_kind, s_need, period_month, change)
            )
        state = np.concatenate([c[0] for c in counted])
        return state, np.concatenate([c[1] for c in counted]), starts
    # Only the months from the local year's start holding the first visit to the month holding the last:
    # no period starts before that year (a period lies within its year), none after the last visit's month.
    at = int(np.searchsorted(instants, first, side="right")) - 1
    low = at - int(starts[at].astype("datetime64[M]").astype(np.int64) % 12)
    high = int(np.searchsorted(instants, last, side="right")) - 1
    state = np.concatenate([c[0] for c in counted])
    period = np.concatenate([c[1] for c in counted]) - low
    return state, period, starts[low : high + 1]


def _months_around_now(cur: Any) -> tuple[np.ndarray, np.ndarray]:
    """The months of `_months` from MONTHS_BEFORE years before now to MONTHS_AFTER years after, and one
    month more (its start: the end of the last; a visit at or after it is outside)."""
    now = datetime.now(UTC)
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    low = now.replace(year=now.year - YEARS_AROUND[0], month=1, day=1)
    high = now.replace(year=now.year + YEARS_AROUND[1], day=1)
    return _months(cur, *((t - epoch) // timedelta(microseconds=1) for t in (low, high)))


def _derive(got: _Reads, months: tuple[np.ndarray, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Every kept table derived in numpy from the sources, as int columns (CODECS), keys then values;
    `months`: see `_count_visits`."""
    area_ids, area_codes, area_members = got["areas"]
    by_id = np.argsort(area_ids, kind="stable")
    area_ids, area_codes, area_members = area_ids[by_id], area_codes[by_id], area_members[by_id]
    s_id, s_area, policy, *_kept = got["states"]
    active = policy >= 0
    s_id, s_area, policy = s_id[active], s_area[active], policy[active]
    s_kind, s_need = policy >> 16, policy & 0xFFFF
    if len(s_id) > 1 and (s_id[1:] <= s_id[:-1]).any():
        order = np.argsort(s_id, kind="stable")
        s_id, s_area, s_kind, s_need = s_id[order], s_area[order], s_kind[order], s_need[order]
    state, period, starts = _count_visits(got, (s_id, s_kind, s_need), months)
    period_days = recount.days(starts)
    n_areas, n_periods, n_kinds = len(area_ids), max(len(starts), 1), len(KINDS)

    with_area = s_area >= 0
    s_area_index = np.full(len(s_id), -1)
    s_area_index[with_area] = np.searchsorted(area_ids, s_area[with_area])
    # Area rollups: households that met their policy, per area, kind and period.
    counted = with_area[state]
    state, period = state[counted], period[counted]
    out: dict[str, list[np.ndarray]] = {}
    rollup_keys, done = recount.tally(
        (s_area_index[state] * n_kinds + s_kind[state]) * n_periods + period, n_areas * n_kinds * n_periods
    )
    r_area, r_rest = np.divmod(rollup_keys, n_kinds * n_periods)
    r_kind, r_period = np.divmod(r_rest, n_periods)
    out["rollups"] = [area_ids[r_area], r_kind, period_days[r_period], done]
    total_keys, households_n = recount.tally(
        s_area_index[with_area] * n_kinds + s_kind[with_area], n_areas * n_kinds
    )
    t_area, t_kind = np.divmod(total_keys, n_kinds)
    out["totals"] = [area_ids[t_area], t_kind, households_n]
    out["states"] = [s_id, s_area, s_kind, s_need]
    # Node sums: each node a prefix of the codes of the areas under it.
    node_rollups: list[list[np.ndarray]] = []
    node_totals: list[list[np.ndarray]] = []
    for length in NODE_LENGTHS:
        prefixes = area_codes // 10 ** (17 - length)
        nodes, node_of_area = np.unique(prefixes, return_inverse=True)
        code = length * CODE_BASE + nodes
        keys, sums = recount.tally(
            (node_of_area[r_area] * n_kinds + r_kind) * n_periods + r_period,
            len(nodes) * n_kinds * n_periods,
            done,
        )
        k_node, k_rest = np.divmod(keys, n_kinds * n_periods)
        k_kind, k_period = np.divmod(k_rest, n_periods)
        node_rollups.append([code[k_node], k_kind, period_days[k_period], sums])
        keys, sums = recount.tally(
            node_of_area[t_area] * n_kinds + t_kind, len(nodes) * n_kinds, households_n
        )
        k_node, k_kind = np.divmod(keys, n_kinds)
        node_totals.append([code[k_node], k_kind, sums])
    out["node_rollups"] = [np.concatenate(c) for c in zip(*node_rollups, strict=True)]
    out["node_totals"] = [np.concatenate(c) for c in zip(*node_totals, strict=True)]
    (month,) = got["dashboard_month"]
    out["dashboard"] = _dashboard_rows(
        month,
        (area_codes, area_members),
        (r_area, r_kind, period_days[r_period], done),
        (t_area, households_n),
    )
    return out


def _dashboard_rows(
    month: np.ndarray,
    areas: tuple[np.ndarray, ...],
    rollups: tuple[np.ndarray, ...],
    totals: tuple[np.ndarray, ...],
) -> list[np.ndarray]:
    """The dashboard rows (DASHBOARD_SELECT) for the month kept (`month`: none or its first day, days since
    2000), from the fresh area rollups (area index, kind, period start, done) and totals (area index,
    households): per area with totals, member, node; and per level a row counting its rows."""
    codes, members = areas
    r_area, r_kind, r_start, r_done = rollups
    t_area, t_households = totals
    if not len(month):
        return [np.zeros(0, np.int64) for _c in range(6)]
    first = recount.EPOCH + month[0]
    in_year = first.astype("datetime64[M]").astype(np.int64) % 12
    starts = [first, (first.astype("datetime64[M]") - in_year % 3).astype("datetime64[D]")]
    starts.append((first.astype("datetime64[M]") - in_year).astype("datetime64[D]"))
    periods = np.array([(d - recount.EPOCH).astype(np.int64) for d in starts])  # by kind code
    now = r_start == periods[r_kind]
    n = len(codes)
    done = np.bincount(r_area[now], weights=r_done[now], minlength=n).astype(np.int64)
    households = np.bincount(t_area, weights=t_households, minlength=n).astype(np.int64)
    with_row = np.flatnonzero(np.bincount(t_area, minlength=n) > 0)
    h, d = households[with_row], done[with_row]
    rows: list[tuple] = []  # (level code, key, member_id, households, done) column blocks
    rows.append((0, 17 * CODE_BASE + codes[with_row], members[with_row], h, d))
    member, of = np.unique(members[with_row], return_inverse=True)
    digits = 1 + sum((member >= 10**k).astype(np.int64) for k in range(1, 18))
    key = np.where(member < 0, -2, digits * CODE_BASE + member)
    rows.append(
        (1, key, np.full(len(member), -1), *(np.bincount(of, weights=x).astype(np.int64) for x in (h, d)))
    )
    for level, length in (("district", 6), ("street", 9), ("community", 12), ("grid", 15)):
        node, of = np.unique(codes[with_row] // 10 ** (17 - length), return_inverse=True)
        sums = (np.bincount(of, weights=x).astype(np.int64) for x in (h, d))
        rows.append((DASH_LEVELS.index(level), length * CODE_BASE + node, np.full(len(node), -1), *sums))
    for level, *_rest in list(rows):
        count = len(next(r for r in rows if r[0] == level)[1])
        if count:
            rows.append((level + 6, np.array([-2]), np.array([-1]), np.array([count]), np.array([0])))
    levels = np.concatenate([np.full(len(r[1]), r[0]) for r in rows])
    cols = [np.concatenate([r[i] for r in rows]).astype(np.int64) for i in range(1, 5)]
    return [np.full(len(levels), month[0]), levels, *cols]


def _apply(cur: Any, name: str, remove: list[np.ndarray], add: list[np.ndarray]) -> None:
    """Make the kept table equal to the fresh one: delete the kept rows that differ (`remove`: their keys
    when `_by_key`, else their positions, read in this transaction, which the other writers wait for),
    insert the fresh rows that differ."""
    if name == "states":
        _apply_states(cur, remove, add)
        return
    table, keys, values, _rows = KEPT[name]
    table, cols = REAL.get(name, table), keys + values
    if len(remove[0]) and _by_key(name):
        unnest = ", ".join("unnest(%s::int8[])" for _k in keys)
        cur.execute(
            f"DELETE FROM {table} WHERE ({', '.join(keys)}) IN (SELECT {unnest})",
            [k.tolist() for k in remove],
        )
    elif len(remove[0]):
        tids = [f"({t >> 16},{t & 0xFFFF})" for t in remove[0].tolist()]
        cur.execute(f"DELETE FROM {table} WHERE ctid = ANY(%s::tid[])", [tids])
    if len(add[0]):
        types = [CODECS[COLUMNS[c]]["type"] for c in cols]
        temp = f"visits_fresh_{name}"
        typed = ", ".join(f"{c} {t}" for c, t in zip(cols, types, strict=True))
        cur.execute(f"CREATE TEMPORARY TABLE {temp} ({typed}) ON COMMIT DROP")
        with cur.copy(f"COPY {temp} FROM STDIN (FORMAT binary)") as copy:
            copy.write(recount.encode(add, types))
        exprs = ", ".join(CODECS[COLUMNS[c]]["write"].format(c=c) for c in cols)
        cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {exprs} FROM {temp}")
        cur.execute(f"DROP TABLE {temp}")


def _apply_states(cur: Any, remove: list[np.ndarray], add: list[np.ndarray]) -> None:
    """The policy states kept on the households' rows made equal to the fresh ones: the households of
    `remove` (keys) lose theirs, those of `add` (rows) get theirs (a household in both: its state changes).
    The household table is locked (`rebuild`)."""
    if len(remove[0]):
        cur.execute(
            "UPDATE households_household SET visits_area_id = NULL, visits_kind = NULL, visits_need = NULL"
            " WHERE id = ANY(%s)",
            [remove[0].tolist()],
        )
    if len(add[0]):
        area, kind = (CODECS[COLUMNS[c]]["write"] for c in ("area_id", "kind"))
        cur.execute(
            f"""UPDATE households_household h
                SET visits_area_id = {area.format(c="f.area")}, visits_kind = {kind.format(c="f.kind")},
                    visits_need = f.need
                FROM unnest(%s::int8[], %s::int8[], %s::int2[], %s::int8[]) AS f(id, area, kind, need)
                WHERE h.id = f.id""",
            [c.tolist() for c in add],
        )


def _recompute(cur: Any, repair: bool, sessions: int = 1) -> dict[str, int]:
    """Every kept table derived again from the households and the visits and compared with the kept one:
    the rows that differ per table (missing, extra or with other values); `repair`: also make the kept
    tables equal to the derived ones, writing only the rows that differ (after `fold`: no pending deltas).

    The database streams the sources (the counted visits in household and time order, the households'
    policy states, the kept tables), with `sessions` 2 in two sessions sharing this transaction's snapshot
    (which must then have written nothing they read, but the kept rollups); numpy counts the visits per
    household and period, sums per area and node, and compares (`recount`)."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", [DERIVE_LOCK])
    for setting, value in RECOMPUTE_SETTINGS.items():
        cur.execute("SELECT set_config(%s, %s, true)", [setting, value])
    sources = _sources(cur, repair, sessions)
    months = _months_around_now(cur)
    helper = _helper(cur) if sessions > 1 else None
    try:
        got = _Reads(sources, cur, helper)
        try:
            fresh = _derive(got, months)  # (while the sessions read the rest)
        except BaseException:
            got.cancel()  # not waiting for the reads left (this exception is the one raised)
            raise
        finally:
            got.join()
    finally:
        if helper is not None:
            helper.close()
    out = {}
    for name in KEPT:
        keys = KEPT[name][1]
        kept = _kept_states(got) if name == "states" else list(got[f"kept_{name}"])
        gone, add, out[name] = _compare(name, kept, fresh[name], repair)
        if not repair or not (len(gone) or len(add)):
            continue
        where = kept[: len(keys)]
        if len(gone) and not _by_key(name):  # their positions: read again (same snapshot, not written yet)
            positions, *kept = _read(cur, _kept(name, True, positions=True))
            gone, add, _differ = _compare(name, kept, fresh[name], repair)
            where = [positions]
        _apply(cur, name, [c[gone] for c in where], [c[add] for c in fresh[name]])
    ((marks,),) = got["marks"]
    out["marks"] = int(marks)
    if repair and marks:  # (derived again by the caller: `dashboard_marks`)
        cur.execute(f"DELETE FROM {MARKS}")
    return out


HOLD_HOUSEHOLDS = "LOCK TABLE households_household IN EXCLUSIVE MODE"


def hold_households() -> None:
    """Hold the household table until this transaction ends (every batch, approval and household edit
    waits; reads go on): the first lock of a transaction that writes rollups or area rows (its upkeep takes
    the delta table) and derives everything again later on (`rebuild`, which takes this lock then): taken
    only then, it would come after the delta table, and a batch holding a household and waiting for the
    delta table would wait for this while this waited for it (README, Visits: households first)."""
    with connection.cursor() as cur:
        cur.execute(HOLD_HOUSEHOLDS)


def rebuild() -> dict[str, int]:
    """Everything from the households and the visits: policy states, rollups, totals (the reference for
    the upkeep). Derived and compared with the kept state; only rows that differ are written, so when the
    upkeep is right nothing is. Returns the rows repaired per table (CHECKED; `marks`: dashboard marks
    that did not match the dashboard rows, all derived again)."""
    own = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cur:
        if own:  # before any statement: one snapshot for every read, taken once every lock is held
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        # The policy states are on the households' rows, which batches lock before the delta table: the
        # household table first (every batch, approval and household edit waits; reads go on), in the
        # order `rollups.refresh` takes them in, so that writing a state never waits for a batch that
        # waits for this; then the delta table, which waits for a fold under way (`_quiesce_and_fold`).
        # Both are LOCK statements, which take no snapshot: the first statement that does (the fold's) runs
        # once they are held, so the snapshot sees every batch and fold that committed before.
        cur.execute(HOLD_HOUSEHOLDS)
        _quiesce_and_fold(cur)
        repaired = _recompute(cur, repair=True, sessions=RECOMPUTE_SESSIONS if own else 1)
        # The dashboard marks, if the fold or a repair changed dashboard rows, or they did not match them
        # (nothing when none did).
        dashboard_marks(cur)
        return repaired


def differences() -> dict[str, int]:
    """Rows in which the kept state and a rebuild from the visits differ, per table (CHECKED; all 0: they
    agree exactly), and `marks`: the dashboard marks (if any) that differ from those derived again from the
    dashboard rows. Nothing is written; in a transaction of its own, every table is read in one snapshot."""
    own = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cur:
        if own:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        out = _recompute(cur, repair=False, sessions=RECOMPUTE_SESSIONS if own else 1)
        transaction.set_rollback(True)
    return out
