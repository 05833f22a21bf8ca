"""Compliance rollups: kept up to date as visits arrive, rebuilt exactly from the visits on demand.

Per household: the policy it follows (kind of period, visits needed); its counted visits per period
are read from the (household, device time) index of the visits. Per responsibility area: how many
households follow each kind of policy (the denominator) and, per period, how many have met it (the
numerator). The same sums are kept per grid, community, street and district code ("nodes"), so that a
city dashboard by street reads a row per street; levels the nodes cannot answer (areas, members, a scope
narrower than the node) sum the area rows whose codes share a prefix.

Upkeep: when a household's counted visits in a period reach its policy's need, the area's and its
nodes' `done` go up by 1 (`upkeep_ctes`: part of the one statement that stores a batch; appended as a
delta, folded later). Changes to households (key groups, area, active) and to the policies re-derive
the affected areas and their nodes (`refresh`); `rebuild()` derives everything from the households and
the visits, must agree with the incremental state exactly, and writes only the rows that do not.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gridgov.geo.models import CODE_LENGTHS

from . import recount
from .models import HouseholdPolicyState
from .periods import MONTHS, window

DEFAULT = ("quarter", 1)
# Nodes above the areas whose sums are kept too (grid, community, street, district): their code lengths.
NODE_LENGTHS = tuple(CODE_LENGTHS[level] for level in ("district", "street", "community", "grid"))
NODES = "(VALUES " + ", ".join(f"({n})" for n in NODE_LENGTHS) + ") AS n(len)"

# Dashboard rows (`DashboardRow`): per area, member and node, for the periods of one month ({month}: an
# SQL date, the month's first day), households and done summed from area rollups and totals ({rollups},
# {totals}) of the areas chosen by {where}; {only}: which of the rows to answer.
DASHBOARD = "visits_dashboardrow"
DASH_NODES = "(VALUES ('district', 6), ('street', 9), ('community', 12), ('grid', 15)) AS n(level, len)"
DASHBOARD_SELECT = f"""
    WITH per_area AS (
        SELECT a.id, a.code, a.member_id, sum(t.households) AS households, coalesce(sum(r.done), 0) AS done
        FROM {{totals}} t JOIN geo_responsibilityarea a ON a.id = t.area_id
        LEFT JOIN (  -- (the rows of the month's periods only, before joining)
            SELECT area_id, kind, period_start, done FROM {{rollups}}
            WHERE period_start IN (({{month}})::date, date_trunc('quarter', ({{month}})::timestamp)::date,
                                   date_trunc('year', ({{month}})::timestamp)::date)
        ) r ON r.area_id = t.area_id AND r.kind = t.kind
             AND r.period_start = date_trunc(t.kind, ({{month}})::timestamp)::date
        WHERE true {{where}}
        GROUP BY a.id
    )
    SELECT * FROM (
        SELECT 'area' AS level, code AS key, member_id, households, done FROM per_area
        UNION ALL
        SELECT 'member', member_id::text, NULL::bigint, sum(households), sum(done) FROM per_area GROUP BY 2
        UNION ALL
        SELECT n.level, left(code, n.len), NULL, sum(households), sum(done)
        FROM per_area CROSS JOIN {DASH_NODES} GROUP BY 1, 2
    ) x WHERE true {{only}}
"""


def _with_counts(select: str) -> str:
    """Every dashboard row of `select` and, per level, a row counting them (level '#' + the level, no
    key, `households`: the count), so that a page's count is one row read."""
    return f"""WITH d AS MATERIALIZED ({select})
        SELECT * FROM d
        UNION ALL SELECT '#' || level, NULL, NULL::bigint, count(*), 0 FROM d GROUP BY level"""


# The month the dashboard rows are kept for (one at a time; none: no row).
KEPT_MONTH = f"(SELECT max(month) FROM {DASHBOARD})"


def _dashboard_deltas(source: str) -> str:
    """Deltas (area_id, kind, period_start, done rows of `source`) of the month kept's periods, summed per
    dashboard row (level, key)."""
    return f"""
        SELECT x.level, x.key, sum(d.done) AS done
        FROM {source} d JOIN geo_responsibilityarea a ON a.id = d.area_id
        CROSS JOIN LATERAL (
            SELECT 'area', a.code UNION ALL SELECT 'member', a.member_id::text
            UNION ALL SELECT n.level, left(a.code, n.len) FROM {DASH_NODES}
        ) x(level, key)
        WHERE d.period_start = date_trunc(d.kind, {KEPT_MONTH}::timestamp)::date
        GROUP BY 1, 2"""


# The policy each household follows, as `periods.strictest` picks it: among the active policies that
# apply (no key group, or one of the household's), the shortest period, then the most visits; the
# default when none does.
STATES_SELECT = f"""
    SELECT h.id, h.area_id, coalesce(p.period, '{DEFAULT[0]}'), coalesce(p.visits_per_period, {DEFAULT[1]})
    FROM households_household h
    LEFT JOIN LATERAL (
        SELECT p.period, p.visits_per_period FROM visits_visitpolicy p
        WHERE p.active AND (p.key_group = '' OR p.key_group = ANY(h.key_groups))
        ORDER BY CASE p.period {" ".join(f"WHEN '{k}' THEN {m}" for k, m in MONTHS.items())} END,
                 p.visits_per_period DESC
        LIMIT 1
    ) p ON true
    WHERE h.active {{where}}
"""
STATES_FROM_HOUSEHOLDS = (
    "INSERT INTO visits_householdpolicystate (household_id, area_id, kind, need)" + STATES_SELECT
)


def refresh_states(households: Iterable[int] | None = None) -> set[int]:
    """(Re)derive the policy state of households, in SQL; returns the areas touched. With None, every
    household's, and it returns nothing (every area is touched)."""
    with connection.cursor() as cur:
        if households is None:
            cur.execute("DELETE FROM visits_householdpolicystate")
            cur.execute(STATES_FROM_HOUSEHOLDS.format(where=""))
            return set()
        ids = list(households)
        cur.execute(
            "DELETE FROM visits_householdpolicystate WHERE household_id = ANY(%s) RETURNING area_id", [ids]
        )
        before = {a for (a,) in cur.fetchall()}
        cur.execute(STATES_FROM_HOUSEHOLDS.format(where="AND h.id = ANY(%s)") + " RETURNING area_id", [ids])
        after = {a for (a,) in cur.fetchall()}
    return {a for a in before | after if a is not None}


def _tz() -> str:
    return settings.TIME_ZONE


# Each of the kept tables as derived from its sources ({states}: the table, or a fresh copy): the area
# rollups straight from the counted visits, a household's per period of its policy's kind.
ROLLUPS_SELECT = """
    SELECT area_id, kind, period_start, count(*) FROM (
        SELECT s.area_id, s.kind, date_trunc(s.kind, v.device_time AT TIME ZONE %(tz)s)::date AS period_start
        FROM visits_visit v JOIN {states} s ON s.household_id = v.household_id
        WHERE v.counted AND s.area_id IS NOT NULL {where}
        GROUP BY v.household_id, 1, 2, 3, s.need
        HAVING count(*) >= s.need
    ) c
    GROUP BY 1, 2, 3
"""
TOTALS_SELECT = """
    SELECT area_id, kind, count(*) FROM {states} s WHERE area_id IS NOT NULL {where}
    GROUP BY 1, 2
"""
NODE_ROLLUPS_SELECT = f"""
    SELECT left(a.code, n.len), r.kind, r.period_start, sum(r.done)
    FROM {{rollups}} r JOIN geo_responsibilityarea a ON a.id = r.area_id CROSS JOIN {NODES}
    WHERE true {{where}}
    GROUP BY 1, 2, 3
"""
NODE_TOTALS_SELECT = f"""
    SELECT left(a.code, n.len), t.kind, sum(t.households)
    FROM {{totals}} t JOIN geo_responsibilityarea a ON a.id = t.area_id CROSS JOIN {NODES}
    WHERE true {{where}}
    GROUP BY 1, 2
"""


STATES = "visits_householdpolicystate"
ROLLUP_FROM_VISITS = "INSERT INTO visits_areaperiodrollup (area_id, kind, period_start, done)" + (
    ROLLUPS_SELECT.replace("{states}", STATES)
)
TOTALS_FROM_STATES = "INSERT INTO visits_areapolicytotal (area_id, kind, households)" + (
    TOTALS_SELECT.replace("{states}", STATES)
)

DELTAS = "visits_rollupdelta"
# The area and node rollups as readers see them: the kept rows plus the pending deltas.
AREA_ROLLUPS_WITH_PENDING = f"""(
    SELECT area_id, kind, period_start, sum(done) AS done FROM (
        SELECT area_id, kind, period_start, done FROM visits_areaperiodrollup
        UNION ALL SELECT area_id, kind, period_start, done FROM {DELTAS}
    ) u GROUP BY 1, 2, 3
)"""
NODE_ROLLUPS_WITH_PENDING = f"""(
    SELECT code, kind, period_start, sum(done) AS done FROM (
        SELECT code, kind, period_start, done FROM visits_nodeperiodrollup
        UNION ALL
        SELECT left(a.code, n.len), d.kind, d.period_start, d.done
        FROM {DELTAS} d JOIN geo_responsibilityarea a ON a.id = d.area_id CROSS JOIN {NODES}
    ) u GROUP BY 1, 2, 3
)"""
# The dashboard rows as readers see them: the kept rows plus the pending deltas of their periods.
DASHBOARD_WITH_PENDING = f"""(
    SELECT k.month, k.level, k.key, k.member_id, k.households, k.done + coalesce(p.done, 0) AS done
    FROM {DASHBOARD} k LEFT JOIN ({_dashboard_deltas(DELTAS)}) p
         ON p.level = k.level AND coalesce(p.key, '') = coalesce(k.key, '')
)"""
FOLD = f"""
WITH moved AS (
    DELETE FROM {DELTAS} RETURNING area_id, kind, period_start, done
), per_area AS (
    SELECT area_id, kind, period_start, sum(done) AS done FROM moved GROUP BY 1, 2, 3
), areas AS (
    INSERT INTO visits_areaperiodrollup (area_id, kind, period_start, done)
    SELECT area_id, kind, period_start, done FROM per_area ORDER BY 1, 2, 3
    ON CONFLICT (area_id, kind, period_start)
    DO UPDATE SET done = visits_areaperiodrollup.done + EXCLUDED.done
), nodes AS (
    INSERT INTO visits_nodeperiodrollup (code, kind, period_start, done)
    SELECT left(a.code, n.len), p.kind, p.period_start, sum(p.done)
    FROM per_area p JOIN geo_responsibilityarea a ON a.id = p.area_id CROSS JOIN {NODES}
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (code, kind, period_start)
    DO UPDATE SET done = visits_nodeperiodrollup.done + EXCLUDED.done
), kept_month AS (
    SELECT {KEPT_MONTH} AS m
), dash AS (  -- the dashboard rows of the month kept: the deltas of its periods, per row
    {_dashboard_deltas("per_area")}
), dash_keyed AS (
    UPDATE {DASHBOARD} r SET done = r.done + dash.done FROM dash, kept_month
    WHERE r.month = kept_month.m AND r.level = dash.level AND r.key = dash.key
), dash_no_member AS (  -- (the areas without a member: the row whose key is NULL)
    UPDATE {DASHBOARD} r SET done = r.done + dash.done FROM dash, kept_month
    WHERE r.month = kept_month.m AND r.level = 'member' AND r.key IS NULL
          AND dash.level = 'member' AND dash.key IS NULL
)
SELECT count(*), (SELECT m FROM kept_month) FROM moved
"""
FOLD_LOCK = 7_240_002  # advisory lock: one fold at a time


def fold(cur: Any = None) -> int:
    """Move the pending deltas into the area and node rollups (one statement: a delta is folded exactly
    once, and deltas committed meanwhile stay for the next fold). Returns the delta rows folded."""
    if cur is None:
        with transaction.atomic(), connection.cursor() as own:
            return fold(own)
    cur.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
    cur.execute(FOLD)
    folded, kept = cur.fetchone()
    if kept != window("month", timezone.localdate()).start:
        dashboard_month(cur, timezone.localdate())
    return folded


def dashboard_month(cur: Any, today: date) -> None:
    """Keep the dashboard rows for the month holding `today`: when they are for another month (or there
    are none), derive them all again from the (folded) area rollups and totals. Once a month at the
    first fold; until then, reads for the new month sum the area rows (`dashboard`)."""
    month = window("month", today).start
    cur.execute(f"SELECT {KEPT_MONTH}")
    if cur.fetchone()[0] == month:
        return
    cur.execute(f"DELETE FROM {DASHBOARD}")
    areas = {"totals": "visits_areapolicytotal", "rollups": "visits_areaperiodrollup"}
    select = _with_counts(DASHBOARD_SELECT.format(**areas, month="%(month)s", where="", only=""))
    cur.execute(
        f"INSERT INTO {DASHBOARD} (month, level, key, member_id, households, done)"
        f" SELECT %(month)s, * FROM ({select}) d",
        {"month": month},
    )


def _quiesce_and_fold(cur: Any) -> None:
    """Before re-deriving rollups from the visits: no batch may append a delta until this transaction
    ends (a batch takes its lock on the delta table when its statement starts, before its snapshot counts
    any visit), and every delta committed so far is folded, so nothing is counted twice or lost."""
    cur.execute(f"LOCK TABLE {DELTAS} IN EXCLUSIVE MODE")
    fold(cur)


# name: table, key columns, value columns, rows of the table that count, how to derive it
KEPT = {
    "states": (STATES, ("household_id",), ("area_id", "kind", "need"), "true", STATES_SELECT),
    "rollups": (
        AREA_ROLLUPS_WITH_PENDING,
        ("area_id", "kind", "period_start"),
        ("done",),
        "done > 0",
        ROLLUPS_SELECT,
    ),
    "totals": ("visits_areapolicytotal", ("area_id", "kind"), ("households",), "true", TOTALS_SELECT),
    "node_rollups": (
        NODE_ROLLUPS_WITH_PENDING,
        ("code", "kind", "period_start"),
        ("done",),
        "done > 0",
        NODE_ROLLUPS_SELECT,
    ),
    "node_totals": ("visits_nodepolicytotal", ("code", "kind"), ("households",), "true", NODE_TOTALS_SELECT),
    # (derived for the month kept, from the area rollups and totals: after those in this order)
    "dashboard": (
        DASHBOARD_WITH_PENDING,
        ("month", "level", "key"),
        ("member_id", "households", "done"),
        "true",
        f"SELECT {KEPT_MONTH}, d.* FROM ("
        + _with_counts(
            DASHBOARD_SELECT.replace("{month}", KEPT_MONTH).replace("{only}", f"AND {KEPT_MONTH} IS NOT NULL")
        )
        + ") d",
    ),
}


REAL = {
    "rollups": "visits_areaperiodrollup",
    "node_rollups": "visits_nodeperiodrollup",
    "dashboard": DASHBOARD,
}


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
    """A source's columns as int64 arrays: one row of the row count and a bytea per column, its values'
    binary forms one after the other (in the select's order; a value never NULL)."""
    aggs = ", ".join(
        f"string_agg({SEND[t]}(s.{c}), '')" for c, t in zip(source.columns, source.types, strict=True)
    )
    with cur.copy(
        f"COPY (SELECT count(*), {aggs} FROM ({source.select}) s) TO STDOUT (FORMAT binary)"
    ) as copy:
        data = b"".join(copy)
    return recount.decode_packed(data, source.types)


def _policy_sql(cur: Any) -> tuple[str, str]:
    """SQL of a household's (h) policy kind code and need as STATES_SELECT picks them (the first policy
    that applies in its order, else the default), written out from the active policies."""
    cur.execute(
        "SELECT key_group, period, visits_per_period FROM visits_visitpolicy p WHERE p.active"
        f" ORDER BY CASE p.period {' '.join(f'WHEN {_quote(k)} THEN {m}' for k, m in MONTHS.items())} END,"
        " p.visits_per_period DESC"
    )
    kind, need = [], []
    for group, period, n in cur.fetchall():
        applies = "true" if group == "" else f"{_quote(group)} = ANY(h.key_groups)"
        kind.append(f"WHEN {applies} THEN {KINDS.index(period)}")
        need.append(f"WHEN {applies} THEN {int(n)}")
    default = KINDS.index(DEFAULT[0]), DEFAULT[1]
    return (
        f"(CASE {' '.join(kind)} ELSE {default[0]} END)" if kind else str(default[0]),
        f"(CASE {' '.join(need)} ELSE {default[1]} END)" if need else str(default[1]),
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _by_key(name: str) -> bool:
    """Whether a kept table's rows are deleted by key (its keys are plain ints, always read as they are)
    rather than by position."""
    return all(COLUMNS[c] == "int" for c in KEPT[name][1])


def _kept(name: str, repair: bool) -> Source:
    """A kept table as ints (see CODECS). With `repair`, the real table's every row, with its position
    (to delete it by, unless `_by_key`) and whether it counts (unless every row does); else the counting
    rows as readers see them."""
    table, keys, values, rows, _select = KEPT[name]
    cols = keys + values
    exprs = [CODECS[COLUMNS[c]]["read"].format(c=c) + f" AS {c}" for c in cols]
    types = tuple(CODECS[COLUMNS[c]]["type"] for c in cols)
    if not repair:
        return Source(f"SELECT {', '.join(exprs)} FROM {table} k WHERE {rows}", cols, types)
    # (after the fold there are no pending deltas: the real table is what readers see)
    extra = ([] if _by_key(name) else [("ctid", "tid", "ctid")]) + (
        [] if rows == "true" else [("counts", "int4", f"({rows})::int4")]
    )
    select = ", ".join([f"{expr} AS {c}" for c, _t, expr in extra] + exprs)
    return Source(
        f"SELECT {select} FROM {REAL.get(name, table)} k",
        tuple(c for c, _t, _e in extra) + cols,
        tuple(t for _c, t, _e in extra) + types,
        name in REAL,
    )


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
    parts = max(sessions, -(-int(rows) // VISITS_PER_PART))
    if parts <= 1 or len(bounds) < 2 * parts:
        return [(None, None)]
    cuts = sorted({bounds[len(bounds) * i // parts] for i in range(1, parts)})
    return list(itertools.pairwise([None, *cuts, None]))


def _sources(cur: Any, repair: bool, parts: int) -> dict[str, Source]:
    kind, need = _policy_sql(cur)
    ranges = _visit_ranges(cur, parts)
    sources = {f"visits{i}": _visits(low, high) for i, (low, high) in enumerate(ranges)}
    # the policy state of every active household (in table order: sorted afterwards)
    sources["states"] = Source(
        f"SELECT h.id::int8 AS id, coalesce(h.area_id, -1)::int8 AS area,"
        f" ({kind} * 65536 + {need})::int4 AS policy FROM households_household h WHERE h.active",
        ("id", "area", "policy"),
        ("int8", "int8", "int4"),
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
    sources |= {f"kept_{name}": _kept(name, repair) for name in KEPT}
    return sources


class _Reads:
    """The sources as they are read, by this session and the helper session (if any; it shares this
    one's snapshot), each taking the next source not taken yet (this one those only it may read first)
    while the other reads; `[name]` waits for a source, so that the counting can start while the helper
    still reads the kept tables."""

    def __init__(self, sources: dict[str, Source], helper: Any) -> None:
        self.sources, self.pending = sources, list(sources)
        self.results: dict[str, list[np.ndarray]] = {}
        self.failed: list[BaseException] = []
        self.done = threading.Condition()
        self.thread = None
        if helper is not None:
            self.thread = threading.Thread(target=self.work, args=(helper.cursor(), False))
            self.thread.start()

    def work(self, cur: Any, main: bool = True) -> None:
        while True:
            with self.done:
                mine = [n for n in self.pending if main or not self.sources[n].main]
                name = None if self.failed else next((n for n in mine if self.sources[n].main), None)
                name = name or (None if self.failed else next(iter(mine), None))
                if name is None:
                    return
                self.pending.remove(name)
            try:
                data = _read(cur, self.sources[name])
            except BaseException as e:
                with self.done:
                    self.failed.append(e)
                    self.done.notify_all()
                return
            with self.done:
                self.results[name] = data
                self.done.notify_all()

    def __getitem__(self, name: str) -> list[np.ndarray]:
        """A source once read (call after `work`: every source is taken by then)."""
        with self.done:
            while name not in self.results and not self.failed:
                self.done.wait(1)
            if self.failed:
                raise self.failed[0]
            return self.results[name]

    def names(self) -> list[str]:
        return list(self.sources)

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
        if self.failed:
            raise self.failed[0]


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


def _derive(cur: Any, got: _Reads) -> dict[str, list[np.ndarray]]:
    """Every kept table derived in numpy from the sources, as int columns (CODECS), keys then values."""
    area_ids, area_codes, area_members = got["areas"]
    by_id = np.argsort(area_ids, kind="stable")
    area_ids, area_codes, area_members = area_ids[by_id], area_codes[by_id], area_members[by_id]
    s_id, s_area, policy = got["states"]
    s_kind, s_need = policy >> 16, policy & 0xFFFF
    if len(s_id) > 1 and (s_id[1:] <= s_id[:-1]).any():
        order = np.argsort(s_id, kind="stable")
        s_id, s_area, s_kind, s_need = s_id[order], s_area[order], s_kind[order], s_need[order]
    parts = sorted((n for n in got.names() if n.startswith("visits")), key=lambda n: int(n[6:]))
    households = np.concatenate([got[n][0] for n in parts])
    times = np.concatenate([got[n][1] for n in parts])
    n = len(households)
    if n > 1:
        step = np.diff(households)
        if (step < 0).any() or (np.diff(times)[step == 0] < 0).any():  # not in index order: sort
            order = np.lexsort((times, households))
            households, times = households[order], times[order]
    starts, instants = _months(cur, times.min(), times.max()) if n else (np.zeros(0, "datetime64[D]"), None)
    months = recount.period_of(times, instants) if n else np.zeros(0, np.int64)
    if n and months.min() < 0:
        raise ValueError("a visit before the first month start")
    period_month = recount.month_kinds(starts)
    state, period = recount.count_met(households, months, s_id, s_kind, s_need, period_month)
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
    table, keys, values, _rows, _select = KEPT[name]
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
    helper = _helper(cur) if sessions > 1 else None
    got = _Reads(sources, helper)
    try:
        got.work(cur)
        fresh = _derive(cur, got)  # (while the helper reads what is left)
    finally:
        try:
            got.join()
        finally:
            if helper is not None:
                helper.close()
    out = {}
    for name in KEPT:
        _table, keys, _values, rows, _select = KEPT[name]
        kept = list(got[f"kept_{name}"])
        position = kept.pop(0) if repair and not _by_key(name) else None
        counts = kept.pop(0).astype(bool) if repair and rows != "true" else None
        counting = kept if counts is None else [c[counts] for c in kept]
        remove, add, out[name] = recount.differing(counting, fresh[name], len(keys))
        if not repair:
            continue
        # the rows that differ, and those that do not count (no done: never kept)
        gone = (np.arange(len(kept[0])) if counts is None else np.flatnonzero(counts))[remove]
        if counts is not None:
            gone = np.concatenate([gone, np.flatnonzero(~counts)])
        if len(gone) or len(add):
            where = kept[: len(keys)] if position is None else [position]
            _apply(cur, name, [c[gone] for c in where], [c[add] for c in fresh[name]])
    return out


def rebuild() -> dict[str, int]:
    """Everything from the households and the visits: policy states, rollups, totals (the reference for
    the upkeep). Derived and compared with the kept state; only rows that differ are written, so when the
    upkeep is right nothing is. Returns the rows repaired per table."""
    own = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cur:
        if own:  # before any statement: one snapshot for every read, taken once the batches are held
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        _quiesce_and_fold(cur)
        return _recompute(cur, repair=True, sessions=RECOMPUTE_SESSIONS if own else 1)


def differences() -> dict[str, int]:
    """Rows in which the kept state and a rebuild from the visits differ, per table (all 0: they agree
    exactly). Nothing is written; in a transaction of its own, every table is read in one snapshot."""
    own = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cur:
        if own:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        out = _recompute(cur, repair=False, sessions=RECOMPUTE_SESSIONS if own else 1)
        transaction.set_rollback(True)
    return out


@transaction.atomic
def refresh(households: Iterable[int]) -> None:
    """After households changed (area, key groups, active), or their areas did (a gridding approval
    renumbers, adds and deletes areas): re-derive them, their areas from the visits, and the nodes above.

    Local, whatever the size of the city: the communities involved are derived again from their own
    areas (the community row and its grids'), and the street and district rows above only get the
    communities' change added. Pending deltas are folded first (and no batch appends one until this
    transaction ends), so nothing is counted twice."""
    ids = list(households)
    if not ids:
        return
    with connection.cursor() as cur:
        _quiesce_and_fold(cur)
    areas = sorted(refresh_states(ids))  # the areas the households were in and are in now
    with connection.cursor() as cur:
        if areas:
            cur.execute("DELETE FROM visits_areaperiodrollup WHERE area_id = ANY(%s)", [areas])
            cur.execute("DELETE FROM visits_areapolicytotal WHERE area_id = ANY(%s)", [areas])
            where = "AND s.area_id = ANY(%(areas)s)"
            cur.execute(ROLLUP_FROM_VISITS.format(where=where), {"areas": areas, "tz": _tz()})
            cur.execute(TOTALS_FROM_STATES.format(where="AND area_id = ANY(%(areas)s)"), {"areas": areas})
        # Their communities, and the households': an area deleted since (a gridding approval) is gone from
        # the states, but its community is the households'.
        cur.execute(
            """SELECT c.code FROM households_household h JOIN geo_community c ON c.id = h.community_id
               WHERE h.id = ANY(%(ids)s)
               UNION SELECT left(code, %(n)s) FROM geo_responsibilityarea WHERE id = ANY(%(areas)s)""",
            {"ids": ids, "areas": areas, "n": COMMUNITY_LENGTH},
        )
        communities = {code for (code,) in cur.fetchall()}
        nodes = _rederive_communities(cur, sorted(communities))
    _refresh_dashboard(areas, nodes=nodes)


COMMUNITY_LENGTH = CODE_LENGTHS["community"]
# The node tables and how each is summed from its area table: (node table, area table, kind columns, value).
NODE_TABLES = (
    ("visits_nodeperiodrollup", "visits_areaperiodrollup", ("kind", "period_start"), "done"),
    ("visits_nodepolicytotal", "visits_areapolicytotal", ("kind",), "households"),
)


def _under(column: str, prefixes: Iterable[str]) -> tuple[str, list[str]]:
    """SQL (and its parameters) for the codes in `column` that start with any of the digit `prefixes`:
    ranges an index on the column serves, in any collation (digit strings order alike in all of them:
    the next prefix, last digit up with carry, bounds each), each with the exact test."""
    arms, params = [], []
    for prefix in prefixes:
        head = prefix.rstrip("9")
        if head:
            arms.append(f"({column} >= %s AND {column} < %s AND left({column}, {len(prefix)}) = %s)")
            params += [prefix, head[:-1] + str(int(head[-1]) + 1), prefix]
        else:
            arms.append(f"({column} >= %s AND left({column}, {len(prefix)}) = %s)")
            params += [prefix, prefix]
    return " OR ".join(arms) or "false", params


def _rederive_communities(cur: Any, communities: Sequence[str]) -> set[str]:
    """The communities' node rows and their grids' summed again from the communities' area rows (those
    of grids that are gone deleted), and each community's change added to its street's and district's
    rows: a few statements per node table, whatever the number of communities. Returns the node codes
    whose rows were deleted, written or changed."""
    touched: set[str] = set()
    above = [n for n in NODE_LENGTHS if n < COMMUNITY_LENGTH]
    below = ", ".join(f"({n})" for n in NODE_LENGTHS if n >= COMMUNITY_LENGTH)
    under, params = _under("code", communities)
    under_areas = _under("a.code", communities)[0]
    for node_table, area_table, keys, value in NODE_TABLES:
        cols = ", ".join(keys)
        change: dict[tuple, int] = {}  # (code above, *keys) → the change of its sum
        cur.execute(f"DELETE FROM {node_table} WHERE {under} RETURNING code, {cols}, {value}", params)
        old = cur.fetchall()
        touched |= {row[0] for row in old}
        old = [row for row in old if len(row[0]) == COMMUNITY_LENGTH]
        cur.execute(
            f"""INSERT INTO {node_table} (code, {cols}, {value})
                SELECT left(a.code, n.len), {", ".join(f"x.{k}" for k in keys)}, sum(x.{value})
                FROM geo_responsibilityarea a JOIN {area_table} x ON x.area_id = a.id
                CROSS JOIN (VALUES {below}) AS n(len)
                WHERE {under_areas}
                GROUP BY 1, {", ".join(str(i + 2) for i in range(len(keys)))}
                HAVING sum(x.{value}) <> 0
                RETURNING code, {cols}, {value}""",
            params,
        )
        new = cur.fetchall()
        touched |= {row[0] for row in new}
        new = [row for row in new if len(row[0]) == COMMUNITY_LENGTH]
        for sign, rows in ((-1, old), (1, new)):
            for code, *key, v in rows:
                for n in above:
                    k = (code[:n], *key)
                    change[k] = change.get(k, 0) + sign * v
        change = {k: v for k, v in change.items() if v}
        if not change:
            continue
        # Added to the rows above where they exist (an UPDATE: a proposed insert of a negative change would
        # fail the table's check even where the row exists), inserted where they do not.
        ordered = sorted(change)
        columns = list(zip(*ordered, strict=True))
        types = {"code": "varchar", "kind": "varchar", "period_start": "date"}
        arrays = ", ".join(f"%s::{types[k]}[]" for k in ("code", *keys)) + ", %s::integer[]"
        match = " AND ".join(f"t.{k} = c.{k}" for k in ("code", *keys))
        cur.execute(
            f"""WITH c (code, {cols}, v) AS (SELECT * FROM unnest({arrays})),
                updated AS (
                    UPDATE {node_table} t SET {value} = t.{value} + c.v FROM c WHERE {match}
                    RETURNING t.code, {", ".join(f"t.{k}" for k in keys)}
                )
                INSERT INTO {node_table} (code, {cols}, {value})
                SELECT c.code, {", ".join(f"c.{k}" for k in keys)}, c.v FROM c
                WHERE NOT EXISTS (SELECT FROM updated t WHERE {match})""",
            [*(list(col) for col in columns), [change[k] for k in ordered]],
        )
        cur.execute(f"DELETE FROM {node_table} WHERE code = ANY(%s) AND {value} = 0", [list(columns[0])])
        touched |= set(columns[0])
    return touched


def dashboard_member_of(code: str) -> tuple[bool, int | None]:
    """Whether the dashboard rows kept have a row for the area `code`, and the member it is summed under."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT member_id FROM {DASHBOARD} WHERE month = {KEPT_MONTH} AND level = 'area' AND key = %s",
            [code],
        )
        row = cur.fetchone()
    return (row is not None, row[0] if row else None)


@transaction.atomic
def refresh_dashboard(areas: Iterable[int] = (), gone: Iterable[tuple[str, int | None]] = ()) -> None:
    """After an area changed hands or went (`gone`: its code and member): its dashboard rows, its
    member's and its nodes' derived again (the pending deltas folded first, new ones held off)."""
    with connection.cursor() as cur:
        _quiesce_and_fold(cur)
    _refresh_dashboard(areas, gone)


def _refresh_dashboard(
    areas: Iterable[int], gone: Iterable[tuple[str, int | None]] = (), nodes: Iterable[str] = ()
) -> None:
    """Derive again the dashboard rows of the month kept for these areas (ids), their nodes and their
    members, the members before as well as now (an area row keeps the member it was summed under), from
    the area and node rows as they are (after `refresh`, or after an area changed hands); `gone`: (code,
    member) of areas deleted; `nodes`: more nodes whose rows changed (a grid left without areas). The
    pending deltas must have been folded, and new ones held off, in this transaction (`_quiesce_and_fold`,
    as `refresh` does)."""
    ids = sorted(set(areas))
    gone, more_nodes = list(gone), set(nodes)
    with connection.cursor() as cur:
        # The month kept; the areas' codes and members now and, from their rows, before.
        cur.execute(
            f"""SELECT m, x.code, x.member_id, r.member_id, r.key IS NOT NULL
                FROM {KEPT_MONTH} AS k(m)
                LEFT JOIN (
                    SELECT code, member_id FROM geo_responsibilityarea WHERE id = ANY(%s)
                    UNION ALL SELECT * FROM unnest(%s::text[], %s::bigint[])
                ) x ON true
                LEFT JOIN {DASHBOARD} r ON r.month = m AND r.level = 'area' AND r.key = x.code""",
            [ids, [c for c, _m in gone], [m for _c, m in gone]],
        )
        found = cur.fetchall()
        month = found[0][0]
        if month is None:  # nothing kept (the next fold derives every row)
            return
        now = [(code, member) for _m, code, member, _before, _kept in found if code is not None]
        codes = sorted({code for code, _m in now})
        if not codes and not more_nodes:
            return
        members = {m for _m, _c, _now, m, kept in found if kept} | {m for _c, m in now}
        nodes = sorted({code[:n] for code in codes for n in NODE_LENGTHS} | more_nodes)
        keyed = sorted(str(m) for m in members if m is not None)
        no_member = None in members
        params = {
            "month": month,
            "ids": ids,
            "codes": codes,
            "nodes": nodes,
            "members": sorted(m for m in members if m is not None),
            "keyed": keyed,
            "no_member": no_member,
        }
        cur.execute(
            f"""DELETE FROM {DASHBOARD} WHERE month = %(month)s AND (
                    (level = 'area' AND key = ANY(%(codes)s))
                    OR (level IN ('grid', 'community', 'street', 'district') AND key = ANY(%(nodes)s))
                    OR (level = 'member' AND (key = ANY(%(keyed)s) OR (key IS NULL AND %(no_member)s))))
                RETURNING level""",
            params,
        )
        net: dict[str, int] = {}
        for (level,) in cur.fetchall():
            net[level] = net.get(level, 0) - 1
        # The areas and members from the area rows (every area of those members), the nodes from the node
        # rows (which `refresh` has just derived).
        select = DASHBOARD_SELECT.format(
            totals="visits_areapolicytotal",
            rollups="visits_areaperiodrollup",
            month="%(month)s",
            where="""AND (a.id = ANY(%(ids)s) OR a.member_id = ANY(%(members)s)
                          OR (%(no_member)s AND a.member_id IS NULL))""",
            only="""AND ((level = 'area' AND key = ANY(%(codes)s)) OR (level = 'member'
                         AND (key = ANY(%(keyed)s) OR (key IS NULL AND %(no_member)s))))""",
        )
        cols = f"INSERT INTO {DASHBOARD} (month, level, key, member_id, households, done)"
        cur.execute(f"{cols} SELECT %(month)s, * FROM ({select}) d RETURNING level", params)
        inserted = cur.fetchall()
        cur.execute(
            f"""{cols}
                SELECT %(month)s, n.level, t.code, NULL, sum(t.households), coalesce(sum(r.done), 0)
                FROM visits_nodepolicytotal t
                JOIN {DASH_NODES} ON n.len = length(t.code)
                LEFT JOIN visits_nodeperiodrollup r ON r.code = t.code AND r.kind = t.kind
                     AND r.period_start = date_trunc(t.kind, (%(month)s)::timestamp)::date
                WHERE t.code = ANY(%(nodes)s)
                GROUP BY 1, 2, 3
                RETURNING level""",
            params,
        )
        for (level,) in inserted + cur.fetchall():
            net[level] = net.get(level, 0) + 1
        # The rows counted per level, by what went and came (a level left without rows: no count row).
        changed = {level: n for level, n in net.items() if n}
        if changed:
            cur.execute(
                f"""INSERT INTO {DASHBOARD} (month, level, key, member_id, households, done)
                    SELECT %s, '#' || level, NULL, NULL, n, 0 FROM unnest(%s::text[], %s::int[]) c(level, n)
                    ON CONFLICT (month, level, key)
                    DO UPDATE SET households = {DASHBOARD}.households + EXCLUDED.households
                    RETURNING id, households""",
                [month, list(changed), list(changed.values())],
            )
            empty = [i for i, n in cur.fetchall() if n == 0]  # a level left without rows
            if empty:
                cur.execute(f"DELETE FROM {DASHBOARD} WHERE id = ANY(%s)", [empty])


def ensure_states(household_ids: Iterable[int]) -> None:
    """Households the rollups have not seen yet (new since the last refresh) get their state."""
    ids = set(household_ids)
    known = set(
        HouseholdPolicyState.objects.filter(household_id__in=ids).values_list("household_id", flat=True)
    )
    if ids - known:
        refresh(ids - known)


# The period of kind `k` starting on local date `p`, as a range of instants (for an index range scan).
PERIOD_END = "CASE {k} WHEN 'month' THEN interval '1 month' WHEN 'quarter' THEN interval '3 months' " + (
    "ELSE interval '1 year' END"
)


def period_bounds(kind: str, start: str) -> tuple[str, str]:
    """SQL for the first instant of the period (`kind`, local `start` date) and the first after it."""
    return (
        f"({start}::timestamp AT TIME ZONE %(tz)s)",
        f"(({start} + {PERIOD_END.format(k=kind)})::timestamp AT TIME ZONE %(tz)s)",
    )


LOCK_HOUSEHOLDS = """
SELECT count(*) FROM (
    SELECT 1 FROM households_household WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE
) locked
"""


def lock_households(household_ids: Iterable[int]) -> None:
    """Serialize the upkeep of these households with any other transaction's (row locks, taken in id
    order so that two batches cannot deadlock): call in its own statement before the statement that
    counts, so that this one's snapshot sees what the other committed. See `upkeep_ctes`."""
    with connection.cursor() as cur:
        cur.execute(LOCK_HOUSEHOLDS, [sorted(set(household_ids))])


def upkeep_ctes(source: str) -> str:
    """The upkeep for newly counted visits as common table expressions, to follow `WITH …,` in one
    statement: `source` names a relation of (household_id, t) pairs, visits that the statement's snapshot
    does not count yet (being inserted by the same statement, or approved afterwards).

    A household meets its policy in a period when its counted visits there reach the need: the visits
    counted so far (an index range scan on (household, time), stopped at the need) and those added. The
    households must be locked (`lock_households`, or the sync's resolving statement) by an earlier
    statement of the same transaction: two batches for one household then run one after the other, and
    the second counts the first's visits, so a household's crossing is counted once. What crosses is
    appended as one delta row per area and period (`fold` sums them later). Needs the parameter %(tz)s."""
    start, end = period_bounds("v.kind", "v.period_start")
    return f"""
    v AS (
        SELECT s.household_id, s.area_id, s.kind, s.need,
               date_trunc(s.kind, new.t AT TIME ZONE %(tz)s)::date AS period_start, count(*) AS added
        FROM {source} new
        -- One index look-up per visit (LIMIT keeps the planner from hashing the whole state table).
        CROSS JOIN LATERAL (
            SELECT * FROM visits_householdpolicystate s WHERE s.household_id = new.household_id LIMIT 1
        ) s
        WHERE s.area_id IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
    ), crossed AS (  -- households that have just met their policy, per area and period
        SELECT v.area_id, v.kind, v.period_start, count(*) AS n
        FROM v CROSS JOIN LATERAL (
            SELECT count(*) AS before FROM (
                SELECT FROM visits_visit x
                WHERE x.household_id = v.household_id AND x.counted
                      AND x.device_time >= {start} AND x.device_time < {end}
                LIMIT v.need
            ) x
        ) c
        WHERE c.before < v.need AND c.before + v.added >= v.need
        GROUP BY 1, 2, 3
    ), reached AS (  -- appended, folded later (`fold`): no shared row to wait on
        INSERT INTO visits_rollupdelta (area_id, kind, period_start, done)
        SELECT area_id, kind, period_start, n FROM crossed
        RETURNING 1
    )"""


ADD_VISITS = f"""
WITH new AS (
    SELECT unnest(%(hids)s::bigint[]) AS household_id, unnest(%(times)s::timestamptz[]) AS t
), {upkeep_ctes("new")}
SELECT count(*) FROM reached
"""


def add_counted(visits: list[tuple[int, Any]]) -> None:
    """Upkeep for visits about to be counted: (household id, device time) pairs, not counted yet in this
    transaction's view (call before marking them counted, in the same transaction). Locks the households
    first (one statement), then counts (one more)."""
    if not visits:
        return
    ensure_states(h for h, _t in visits)
    lock_households(h for h, _t in visits)
    with connection.cursor() as cur:
        cur.execute(
            ADD_VISITS, {"hids": [h for h, _t in visits], "times": [t for _h, t in visits], "tz": _tz()}
        )


LEVEL_LENGTH = {"area": 17, "grid": 15, "community": 12, "street": 9, "district": 6}
NODE_LEVELS = frozenset(level for level, n in LEVEL_LENGTH.items() if n in NODE_LENGTHS)


ORDERS = {
    "key": "key",
    # worst first: the lowest share done, then the most households (nodes with none last)
    "worst": "done::float8 / nullif(households, 0) ASC NULLS LAST, households DESC, key",
}


def _reads_nodes(level: str, prefixes: Sequence[str]) -> bool:
    """Whether a level's rows come from the node rows (every node of the level lies wholly under a
    prefix) rather than from sums of area rows: `dashboard` and `dashboard_count` decide alike."""
    return level in NODE_LEVELS and all(len(p) <= LEVEL_LENGTH[level] for p in prefixes)


def _reads_rows(level: str, prefixes: Sequence[str]) -> bool:
    """Whether the dashboard rows can answer a level in a scope: each row of the level wholly under a
    prefix (a member's row is over all their areas: the whole city only)."""
    if level == "member":
        return list(prefixes) == [""]
    return all(len(p) <= LEVEL_LENGTH[level] for p in prefixes)


def _pending_select(level: str, month: date, prefixes: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL (and its parameters) for the pending deltas of the periods of `month` per row of `level` under
    the prefixes: (key, done)."""
    node = "a.member_id::text" if level == "member" else f"left(a.code, {LEVEL_LENGTH[level]})"
    under = " OR ".join(["a.code LIKE %s"] * len(prefixes)) or "false"
    query = f"""SELECT {node} AS key, sum(d.done) AS done FROM {DELTAS} d
                CROSS JOIN LATERAL (
                    SELECT code, member_id FROM geo_responsibilityarea WHERE id = d.area_id
                ) a
                WHERE d.period_start = date_trunc(d.kind, %s::timestamp)::date AND ({under})
                GROUP BY 1"""
    return query, [month, *(p + "%" for p in prefixes)]


def _row(key: str | None, households: int, done: int) -> dict[str, Any]:
    return {
        "key": key,
        "households": households,
        "done": done,
        "share_done": round(done / households, 4) if households else None,
    }


def _worst_key(row: tuple[str | None, int, int]) -> tuple:
    """ORDERS["worst"] in Python (the same float8 division; keys compare as the database's C collation
    does: by code point), NULLs last."""
    key, households, done = row
    share = done / households if households else None
    return (share is None, share or 0.0, -households, key is None, key or "")


def _key_page(
    level: str, today: date, prefixes: Sequence[str], limit: int, offset: int
) -> list[dict[str, Any]] | None:
    """A page in key order from the dashboard rows (its keys from the index, then their pending deltas);
    None when the rows are not kept for the month holding `today`."""
    month = window("month", today).start
    pending_select, pending_params = _pending_select(level, month, prefixes)
    under = "true" if list(prefixes) == [""] else " OR ".join(["k.key LIKE %s"] * len(prefixes)) or "false"
    likes = [] if under == "true" else [p + "%" for p in prefixes]
    with connection.cursor() as cur:
        cur.execute(
            f"""WITH pending AS ({pending_select})
                SELECT kept.m, x.* FROM {KEPT_MONTH} AS kept(m) LEFT JOIN LATERAL (
                    SELECT y.key, y.households, y.done + coalesce(p.done, 0) AS done FROM (
                        SELECT k.key, k.households, k.done FROM {DASHBOARD} k
                        WHERE k.month = kept.m AND kept.m = %s AND k.level = %s AND ({under})
                        ORDER BY k.month, k.level, k.key LIMIT %s OFFSET %s
                    ) y LEFT JOIN pending p ON coalesce(p.key, '') = coalesce(y.key, '')
                ) x ON true
                ORDER BY x.key""",
            [*pending_params, month, level, *likes, limit, offset],
        )
        rows = cur.fetchall()
    if rows[0][0] != month:  # the rows are kept for another month (or none is)
        return None
    return [_row(*r[1:]) for r in rows if r[2] is not None]


SCAN_CURSOR = "gridgov_dashboard_scan"
SCAN_CHUNK = 500


def _worst_page(
    level: str, today: date, prefixes: Sequence[str], limit: int, offset: int
) -> list[dict[str, Any]] | None:
    """A worst-first page from the dashboard rows, exact with pending deltas; None when the rows are not
    kept for the month holding `today` (the caller sums the area rows).

    The whole city: the kept rows are read in worst-first order (the index) until `offset + limit` rows
    without a pending delta are found (their figures are exact). The true first `offset + limit` lie among
    them and the rows with a delta read on the way: a row without a delta keeps its place relative to
    every other such row, so none beyond those can come first; a delta only adds to `done` (the share
    rises, households stay), so a row with a delta read after them comes after them with its delta too.
    Those rows, their deltas added, sorted again, answer the page. One statement (one snapshot: a fold
    committed meanwhile cannot count a delta twice or not at all), read through a cursor as far as needed:
    the pending deltas first, then the kept rows in order. In a scope: its rows by key range, the deltas
    added, sorted in SQL (one statement too)."""
    month = window("month", today).start
    pending_select, pending_params = _pending_select(level, month, prefixes)
    if list(prefixes) != [""]:
        under = " OR ".join(["k.key LIKE %s"] * len(prefixes)) or "false"
        with connection.cursor() as cur:
            cur.execute(
                f"""WITH pending AS ({pending_select})
                    SELECT kept.m, x.* FROM {KEPT_MONTH} AS kept(m) LEFT JOIN LATERAL (
                        SELECT key, households, done FROM (
                            SELECT k.key, k.households, k.done + coalesce(p.done, 0) AS done
                            FROM {DASHBOARD} k
                            LEFT JOIN pending p ON coalesce(p.key, '') = coalesce(k.key, '')
                            WHERE k.month = kept.m AND kept.m = %s AND k.level = %s AND ({under})
                        ) y ORDER BY {ORDERS["worst"]} LIMIT %s OFFSET %s
                    ) x ON true""",
                [*pending_params, month, level, *(p + "%" for p in prefixes), limit, offset],
            )
            rows = cur.fetchall()
        if rows[0][0] != month:  # the rows are kept for another month (or none is)
            return None
        return [_row(*r[1:]) for r in rows if r[2] is not None]
    return _worst_scan(level, month, pending_select, pending_params, limit, offset)


def _worst_scan(
    level: str, month: date, pending_select: str, pending_params: list[Any], limit: int, offset: int
) -> list[dict[str, Any]] | None:
    """The whole city's worst-first page (see `_worst_page`). A deep page skips rows on the server: of
    the first `offset - P` rows (P: the rows with a pending delta) none can be on the page (a row's place
    only moves back with its delta, and at most P rows come back before it), so they are only counted
    (`MOVE`), those with a pending delta among them known from their kept figures (read first)."""
    wanted = offset + limit
    pending: dict[str | None, int] = {}  # the pending deltas per row
    kept: dict[str | None, tuple] = {}  # the kept figures of those rows
    candidates: list[tuple] = []  # rows read (a pending delta added) and rows moved from those skipped
    exact = 0  # rows without a pending delta, read or skipped
    read = 0  # rows of the scan, read or skipped
    last: tuple | None = None  # the sort key of the last row read
    floor: tuple | None = None  # the sort key of the first row read after a skip
    skipped_exact = 0
    chunk = SCAN_CHUNK + limit
    deep = offset - 1 > chunk  # whether a skip may come: then the pending rows' kept figures are read
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"""DECLARE {SCAN_CURSOR} NO SCROLL CURSOR FOR
                WITH pending AS ({pending_select})
                (SELECT 0, key, 0, done FROM pending)
                UNION ALL
                (SELECT 1, k.key, k.households, k.done FROM pending p
                 JOIN {DASHBOARD} k ON k.month = %s AND k.level = %s AND k.key = p.key WHERE %s)
                UNION ALL
                (SELECT 1, k.key, k.households, k.done FROM {DASHBOARD} k
                 WHERE %s AND k.month = %s AND k.level = %s AND k.key IS NULL
                       AND EXISTS (SELECT FROM pending WHERE key IS NULL))
                UNION ALL
                (SELECT 2, key, households, done FROM {DASHBOARD} WHERE month = %s AND level = %s
                 ORDER BY month, level, done::float8 / nullif(households, 0), households DESC, key)""",
            [*pending_params, month, level, deep, deep, month, level, month, level],
        )
        try:
            batch: list[tuple] = []
            while exact < wanted:
                skip = offset - len(pending) - 1 - read  # rows before the (offset - P)th not read yet
                if deep and floor is None and batch and batch[-1][0] == 2 and skip > chunk:
                    # Skip to the (offset - P)th row: MOVE over those before it, then read on from it.
                    cur.execute(f"MOVE FORWARD {skip} IN {SCAN_CURSOR}")
                    skipped = cur.rowcount
                    read += skipped
                    cur.execute(f"FETCH {chunk} FROM {SCAN_CURSOR}")
                    batch = cur.fetchall()
                    if not batch:  # fewer rows than the offset: an empty page
                        return []
                    floor = _worst_key(batch[0][1:])
                    between = [
                        (key, *figures)
                        for key, figures in kept.items()
                        if (last is None or _worst_key((key, *figures)) > last)
                        and _worst_key((key, *figures)) < floor
                    ]
                    candidates += [(key, h, d + pending[key]) for key, h, d in between]
                    skipped_exact = skipped - len(between)
                    exact += skipped_exact
                else:
                    cur.execute(f"FETCH {chunk} FROM {SCAN_CURSOR}")
                    batch = cur.fetchall()
                for part, key, households, done in batch:
                    if part == 0:
                        pending[key] = int(done)
                        continue
                    if part == 1:
                        kept[key] = (households, done)
                        continue
                    row = (key, households, done)
                    order = _worst_key(row)
                    if last is not None and order < last:  # (not in index order: never expected)
                        return None
                    last = order
                    read += 1
                    if key in pending:
                        candidates.append((key, households, done + pending[key]))
                    else:
                        candidates.append(row)
                        exact += 1
                        if exact == wanted:
                            break
                if len(batch) < chunk:
                    break
        finally:
            cur.execute(f"CLOSE {SCAN_CURSOR}")
    if last is None:  # no row kept for this month
        return None
    if floor is None:
        return [_row(*r) for r in sorted(candidates, key=_worst_key)[offset:wanted]]
    # After a skip: the rows before the first read after it are only counted (none is on the page).
    below = sum(_worst_key(r) < floor for r in candidates) + skipped_exact
    above = sorted((r for r in candidates if _worst_key(r) >= floor), key=_worst_key)
    return [_row(*r) for r in above[offset - below : wanted - below]]


def dashboard(
    level: str,
    today: date,
    prefixes: Sequence[str] = ("",),
    nodes: bool = True,
    order: str = "key",
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Households, done and share per node of `level` (or per member) under any of the code `prefixes`,
    for the periods holding `today` (one statement, whatever the number of prefixes), the kept rollups
    plus the pending deltas. `order`: "key" or "worst" (lowest share first); `limit`/`offset`: a page.

    Levels above the area read the node rows when every node of the level lies wholly under a prefix
    (a row per node); otherwise, and with `nodes=False`, the area rows are summed (the same figures)."""
    if isinstance(prefixes, str):  # one prefix, not its characters
        prefixes = [prefixes]
    if limit is not None and nodes and _reads_rows(level, prefixes):
        if order == "worst":
            rows = _worst_page(level, today, prefixes, limit, offset)
        else:
            rows = _key_page(level, today, prefixes, limit, offset)
        if rows is not None:
            return rows
    periods = [window(k, today).start for k in ("month", "quarter", "year")]
    likes = [p + "%" for p in prefixes]

    def under(column: str) -> str:
        return " OR ".join([f"{column} LIKE %s"] * len(prefixes)) or "false"

    def this_period(alias: str) -> str:
        return f"CASE {alias}.kind WHEN 'month' THEN %s::date WHEN 'quarter' THEN %s::date ELSE %s::date END"

    # The pending deltas, driven from their (small) table: an area looked up by key for each.
    node = "a.member_id::text" if level == "member" else f"left(a.code, {LEVEL_LENGTH[level]})"
    pending = f"""pending AS (
                SELECT {node} AS key, sum(d.done) AS done FROM {DELTAS} d
                CROSS JOIN LATERAL (
                    SELECT code, member_id FROM geo_responsibilityarea WHERE id = d.area_id
                ) a
                WHERE d.period_start = {this_period("d")} AND ({under("a.code")})
                GROUP BY 1
            )"""
    # A page in key order: its keys first (in index order), then only their rows are summed.
    page = order == "key" and limit is not None
    if nodes and _reads_nodes(level, prefixes):
        only = ""
        if page:
            only = f"""AND t.code IN (
                SELECT DISTINCT code FROM visits_nodepolicytotal
                WHERE length(code) = {LEVEL_LENGTH[level]} AND ({under("code")})
                ORDER BY code LIMIT {int(limit)} OFFSET {int(offset)})"""
        query = f"""
            WITH kept AS (
                SELECT t.code AS key, sum(t.households) AS households, coalesce(sum(r.done), 0) AS done
                FROM visits_nodepolicytotal t
                LEFT JOIN visits_nodeperiodrollup r ON r.code = t.code AND r.kind = t.kind
                     AND r.period_start = {this_period("t")}
                WHERE length(t.code) = %s AND ({under("t.code")}) {only}
                GROUP BY 1
            ), {pending}"""
        params = [*periods, LEVEL_LENGTH[level], *likes, *(likes if page else []), *periods, *likes]
    else:
        only = ""
        if page and level == "area":
            only = f"""AND a.code IN (
                SELECT a2.code FROM geo_responsibilityarea a2
                WHERE ({under("a2.code")})
                      AND EXISTS (SELECT FROM visits_areapolicytotal t2 WHERE t2.area_id = a2.id)
                ORDER BY a2.code LIMIT {int(limit)} OFFSET {int(offset)})"""
        query = f"""
            WITH kept AS (
                SELECT {node} AS key, sum(t.households) AS households, coalesce(sum(r.done), 0) AS done
                FROM visits_areapolicytotal t
                JOIN geo_responsibilityarea a ON a.id = t.area_id
                LEFT JOIN visits_areaperiodrollup r ON r.area_id = t.area_id AND r.kind = t.kind
                     AND r.period_start = {this_period("t")}
                WHERE ({under("a.code")}) {only}
                GROUP BY 1
            ), {pending}"""
        params = [*periods, *likes, *(likes if only else []), *periods, *likes]
    query += f"""
        SELECT key, households, done FROM (
            SELECT kept.key, kept.households, kept.done + coalesce(p.done, 0) AS done
            FROM kept LEFT JOIN pending p ON coalesce(p.key, '') = coalesce(kept.key, '')
        ) x ORDER BY {ORDERS[order]}"""
    if limit is not None and not only:  # (a page picked by its keys is already just the page)
        query += " LIMIT %s OFFSET %s"
        params += [limit, offset]
    with connection.cursor() as cur:
        cur.execute(query, params)
        return [
            {"key": node, "households": int(h), "done": int(d), "share_done": round(d / h, 4) if h else None}
            for node, h, d in cur.fetchall()
        ]


def dashboard_count(level: str, prefixes: Sequence[str] = ("",)) -> int:
    """How many rows `dashboard(level, …, prefixes)` answers (for paging)."""
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    likes = [p + "%" for p in prefixes]
    if _reads_rows(level, prefixes):  # the dashboard rows kept, if any (whatever their month: same keys)
        if list(prefixes) == [""]:  # the level's count row
            count = f"coalesce((SELECT households FROM {DASHBOARD} WHERE month = m AND level = '#' || %s), 0)"
            params = [level]
        else:
            under = " OR ".join(["key LIKE %s"] * len(prefixes)) or "false"
            count = f"(SELECT count(*) FROM {DASHBOARD} WHERE month = m AND level = %s AND ({under}))"
            params = [level, *likes]
        with connection.cursor() as cur:
            cur.execute(f"SELECT m, {count} FROM {KEPT_MONTH} AS k(m)", params)
            month, n = cur.fetchone()
        if month is not None:
            return n
    under = " OR ".join(["a.code LIKE %s"] * len(prefixes)) or "false"
    if _reads_nodes(level, prefixes):
        under = under.replace("a.code", "code")
        query = (
            f"SELECT count(DISTINCT code) FROM visits_nodepolicytotal WHERE length(code) = %s AND ({under})"
        )
        params: list[Any] = [LEVEL_LENGTH[level], *likes]
    else:
        node = "a.member_id" if level == "member" else f"left(a.code, {LEVEL_LENGTH[level]})"
        # (a group of areas without a member is a row too: not count(DISTINCT …), which skips NULL)
        query = f"""SELECT count(*) FROM (SELECT DISTINCT {node} FROM visits_areapolicytotal t
                    JOIN geo_responsibilityarea a ON a.id = t.area_id WHERE {under}) g"""
        params = likes
    with connection.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchone()[0]


def summary(today: date, prefixes: Sequence[str] = ("",)) -> dict[str, Any]:
    """The scope's whole: households, done and share under the prefixes, from the node rows (plus pending
    deltas) when each prefix is a node or the whole city, else from the area rows."""
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    if list(prefixes) == [""]:  # the whole city: its district rows kept and the periods' pending deltas
        month = window("month", today).start
        district = f"FROM {DASHBOARD} WHERE month = m AND level = 'district'"
        with connection.cursor() as cur:
            cur.execute(
                f"""SELECT m, (SELECT sum(households) {district}), (SELECT sum(done) {district})
                           + (SELECT coalesce(sum(done), 0) FROM {DELTAS} d
                              WHERE period_start = date_trunc(kind, m::timestamp)::date
                                    AND EXISTS (SELECT FROM geo_responsibilityarea WHERE id = d.area_id))
                    FROM {KEPT_MONTH} AS k(m)""",
            )
            kept, households, done = cur.fetchone()
        if kept == month:
            households, done = int(households or 0), int(done or 0)
            share = round(done / households, 4) if households else None
            return {"households": households, "done": done, "share_done": share}
    # One statement per kind of prefix (a member's areas are many prefixes of one kind), not per prefix.
    by_level: dict[str, list[str]] = {}
    for prefix in prefixes:
        level = next((lv for lv, n in LEVEL_LENGTH.items() if n == len(prefix) and lv in NODE_LEVELS), "area")
        by_level.setdefault("district" if prefix == "" else level, []).append(prefix)
    households = done = 0
    for level, group in by_level.items():
        rows = dashboard(level, today, group, limit=10**9)  # (a page: from the dashboard rows if kept)
        households += sum(r["households"] for r in rows)
        done += sum(r["done"] for r in rows)
    share = round(done / households, 4) if households else None
    return {"households": households, "done": done, "share_done": share}


def snapshot() -> dict[str, list[tuple]]:
    """The whole rollup state as readers see it (pending deltas added), for comparing incremental upkeep
    with a rebuild."""
    out: dict[str, list[tuple]] = {}
    with connection.cursor() as cur:
        for name in ("rollups", "totals", "node_rollups", "node_totals"):
            table, keys, values, rows, _select = KEPT[name]
            cur.execute(f"SELECT {', '.join(keys + values)} FROM {table} k WHERE {rows} ORDER BY 1, 2, 3")
            out[name] = sorted(tuple(row) for row in cur.fetchall())
    return out
