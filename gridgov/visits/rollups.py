"""Compliance rollups: kept up to date as visits arrive, rebuilt exactly from the visits on demand.

Per household: the policy it follows (kind of period, visits needed) and the area the rollups count it
under, kept on the household's own row (`visits_kind`, `visits_need`, `visits_area_id`: columns of the
visits app, not fields of the Household model, so that no `save()` writes them back stale; see `STATE`);
its counted visits per period are read from the (household, device time) index of the visits. Per
responsibility area: how many households follow each kind of policy (the denominator) and, per period,
how many have met it (the numerator). The same sums are kept per grid, community, street and district
code ("nodes"), so that a city dashboard by street reads a row per street; levels the nodes cannot answer
(areas, members, a scope narrower than the node) sum the area rows whose codes share a prefix.

Upkeep: when a household's counted visits in a period reach its policy's need, the area's and its
nodes' `done` go up by 1 (`upkeep_ctes`: part of the one statement that stores a batch; appended as a
delta, folded later). Changes to households (key groups, area, active) and to the policies re-derive
the affected areas and their nodes (`refresh`). `recompute.rebuild()` derives everything from the
households and the visits, must agree with the incremental state exactly, and writes only the rows that
do not; `dashboards` reads them (per level, pages worst first or in key order).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from gridgov.geo.models import CODE_LENGTHS

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


# The policy state of a household, on its row: `visits_kind` (NULL: the rollups have not seen the household
# yet, or it is inactive), `visits_need`, and `visits_area_id`, the area the rollups count it under (that of
# its last refresh: `refresh` needs it to take the household out of that area's sums when it moves). Only
# `refresh` and `recompute.rebuild` write them (`visits/migrations/0013`), with the household row locked.
#
# Why on the household row: a batch's resolving statement locks every household of the batch (`FOR NO KEY
# UPDATE`, in id order) and reads its state with that lock, in the same row, at no cost; the statement that
# stores the batch gets the states as parameters and looks nothing up again. The same row lock serializes
# the batch with anything that changes a state: a state is only changed by an UPDATE of the row, which
# waits for the batch's transaction to end; a batch that comes second waits in its resolving statement and
# then reads the row as the other transaction committed it. So a batch's upkeep always counts its visits
# under the state that the rollups hold for the household (see `refresh`).
STATE = "h.visits_area_id, h.visits_kind, h.visits_need"  # (as read with the household row `h`)
# The states as a relation (household_id, area_id, kind, need) of the households that have one.
STATES = """(
    SELECT id AS household_id, visits_area_id AS area_id, visits_kind AS kind, visits_need AS need
    FROM households_household WHERE visits_kind IS NOT NULL
)"""

# The policy each household follows, as `periods.strictest` picks it: among the active policies that
# apply (no key group, or one of the household's), the shortest period, then the most visits; the
# default when none does. Inactive households have no state (NULLs), nor an area in the rollups.
STATES_SELECT = f"""
    SELECT h.id,
           CASE WHEN h.active THEN h.area_id END AS area_id,
           CASE WHEN h.active THEN coalesce(p.period, '{DEFAULT[0]}') END AS kind,
           CASE WHEN h.active THEN coalesce(p.visits_per_period, {DEFAULT[1]}) END AS need
    FROM households_household h
    LEFT JOIN LATERAL (
        SELECT p.period, p.visits_per_period FROM visits_visitpolicy p
        WHERE p.active AND (p.key_group = '' OR p.key_group = ANY(h.key_groups))
        ORDER BY CASE p.period {" ".join(f"WHEN '{k}' THEN {m}" for k, m in MONTHS.items())} END,
                 p.visits_per_period DESC
        LIMIT 1
    ) p ON true
    WHERE true {{where}}
"""
# The states derived again: the rows whose state changes are written (an unchanged one is not rewritten);
# answers the area each household was counted under and the area it is counted under now.
REFRESH_STATES = f"""
WITH d AS ({STATES_SELECT}),
old AS (
    SELECT h.id, h.visits_area_id AS area_id FROM households_household h WHERE true {{where}}
), written AS (
    UPDATE households_household h SET visits_area_id = d.area_id, visits_kind = d.kind, visits_need = d.need
    FROM d WHERE h.id = d.id
         AND (h.visits_area_id, h.visits_kind, h.visits_need) IS DISTINCT FROM (d.area_id, d.kind, d.need)
)
SELECT area_id FROM old WHERE area_id IS NOT NULL
UNION SELECT area_id FROM d WHERE area_id IS NOT NULL
"""


def refresh_states(households: Iterable[int] | None = None) -> set[int]:
    """(Re)derive the policy state of households (on their rows), in SQL; returns the areas they were
    counted under and are now. With None, every household's, and it returns nothing (every area is
    touched)."""
    with connection.cursor() as cur:
        if households is None:
            cur.execute(REFRESH_STATES.format(where=""))
            return set()
        cur.execute(REFRESH_STATES.format(where="AND h.id = ANY(%(ids)s)"), {"ids": list(households)})
        return {a for (a,) in cur.fetchall()}


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
# A fold takes the delta table's lock (the mode its DELETE takes: batches go on appending) before its own
# advisory lock, so that no fold holds FOLD_LOCK without it: a writer holding the table EXCLUSIVE
# (`_quiesce_and_fold`) knows no fold is under way, and waits for one by a LOCK TABLE, which takes no
# snapshot (`recompute.rebuild` in REPEATABLE READ takes its snapshot only once every lock is held).
# (One message, two statements: no parameters.)
FOLD_LOCKS = f"LOCK TABLE {DELTAS} IN ROW EXCLUSIVE MODE; SELECT pg_advisory_xact_lock({FOLD_LOCK})"


def fold(cur: Any = None, marks: bool = True) -> int:
    """Move the pending deltas into the area and node rollups (one statement: a delta is folded exactly
    once, and deltas committed meanwhile stay for the next fold). Returns the delta rows folded. `marks`:
    then derive the dashboard marks again if the fold (or any writer since the last fold) changed the
    dashboard rows (`dashboard_marks`); a writer that folds first and then changes rows itself does not."""
    if cur is None:
        with transaction.atomic(), connection.cursor() as own:
            return fold(own, marks)
    cur.execute(FOLD_LOCKS)
    cur.execute(FOLD)
    folded, kept = cur.fetchone()
    if kept != window("month", timezone.localdate()).start:
        dashboard_month(cur, timezone.localdate())
    if marks:
        dashboard_marks(cur)
    return folded


MARKS = "visits_dashboardmark"
# A mark every this many rows of a level, in worst-first order: a deep page steps over fewer rows than this
# after seeking to the nearest mark before it (`dashboards._worst_scan`).
MARK_EVERY = 1000
# The worst-first order (`dashboards.ORDERS["worst"]`) with every column ascending, as the seek index has it
# (`visits/migrations/0016`): a row comparison with a mark's key positions an index scan.
WORST_SEEK = (
    "coalesce(done::float8 / nullif(households, 0), 'Infinity'::float8), (-households), (key IS NULL), "
    "coalesce(key, '')"
)


# The marks as derived from the dashboard rows of the month kept (%(every)s: MARK_EVERY), their columns.
MARKS_SELECT = f"""
    SELECT month, level, position, share, households, key FROM (
        SELECT month, level, key, households,
               coalesce(done::float8 / nullif(households, 0), 'Infinity'::float8) AS share,
               row_number() OVER (PARTITION BY level ORDER BY {WORST_SEEK}) - 1 AS position
        FROM {DASHBOARD} WHERE month = {KEPT_MONTH} AND left(level, 1) <> '#'
    ) r
    WHERE mod(position, %(every)s) = 0"""
# How many marks (by month, level and position) differ from those derived again from the rows as they are
# (missing, extra or other values); 0 when there are none (the next fold derives them).
MARKS_DIFFERING = f"""
    WITH f AS MATERIALIZED ({MARKS_SELECT}),
    k AS MATERIALIZED (SELECT month, level, position, share, households, key FROM {MARKS})
    SELECT count(*) FROM (
        SELECT month, level, position FROM (
            (TABLE f EXCEPT ALL TABLE k) UNION ALL (TABLE k EXCEPT ALL TABLE f)
        ) d
        GROUP BY 1, 2, 3
    ) x WHERE EXISTS (SELECT FROM {MARKS})"""


def dashboard_marks(cur: Any) -> None:
    """Derive the dashboard marks (`DashboardMark`: the rows at positions 0, MARK_EVERY, 2 × MARK_EVERY, …
    of each level, worst first) from the dashboard rows, unless they are there already: any statement that
    changes a dashboard row deletes them all (the triggers of `visits/migrations/0016`). Run by a writer
    of the rollups holding the fold's locks (`fold`, `recompute.rebuild`), which every writer of the rows
    holds as well (`fold`, `refresh`, `dashboard_month`, `rebuild`): no other writer changes the rows
    meanwhile, so marks that exist match the rows in every snapshot that sees them. A new writer of the
    dashboard rows must take those locks too, or marks derived beside its uncommitted change go stale."""
    cur.execute(
        f"""INSERT INTO {MARKS} (month, level, position, share, households, key)
            SELECT * FROM ({MARKS_SELECT}) m WHERE NOT EXISTS (SELECT FROM {MARKS})""",
        {"every": MARK_EVERY},
    )


def vacuum_dashboard() -> None:
    """Set the dashboard rows' pages all-visible again (outside a transaction: VACUUM cannot run in one;
    a vacuum under way elsewhere is not waited for). A fold updates rows all over the table, and a
    worst-first page then fetches each row it reads or skips from the table as well as the index: at 1M
    households the middle page's skip over ~29,000 rows took twice as long until the next vacuum
    (autovacuum waits for a fifth of the rows to change). A page becomes all-visible only once no open
    transaction took its snapshot before the fold committed: `tasks.fold_rollups` queues it to run a
    while after a fold that moved deltas (`tasks.vacuum_dashboard_rows`), not straight after it."""
    if connection.in_atomic_block:
        return
    with connection.cursor() as cur:
        # (INDEX_CLEANUP ON: a page keeping a dead row's line pointer, which a vacuum of few dead rows
        # would leave for later, cannot be all-visible; TRUNCATE false: the empty pages at the table's end
        # are kept rather than cut off under a brief ACCESS EXCLUSIVE lock, which would hold up the
        # dashboards' reads every minute)
        cur.execute(f"VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE false) {DASHBOARD}")


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
    any visit), and every delta committed so far is folded, so nothing is counted twice or lost. The delta
    table's lock, as `fold` takes it first: this waits for a fold under way to commit, and no fold starts
    until this transaction ends (the fold's own advisory lock, taken next, is then free). The first
    statement that takes a snapshot is the fold's, once the table is held."""
    cur.execute(f"LOCK TABLE {DELTAS} IN EXCLUSIVE MODE")
    fold(cur, marks=False)  # (the caller changes rollup rows next: the next fold derives the marks)


def quiesce(areas: Iterable[int] | None = None) -> None:
    """Fold the pending deltas and hold off new ones until this transaction ends (`_quiesce_and_fold`),
    for a writer about to change rollup rows (areas deleted); households it writes are locked before.
    With `areas`, the fold only if one of theirs is pending (new ones are held off all the same)."""
    with connection.cursor() as cur:
        if areas is not None:
            cur.execute(f"LOCK TABLE {DELTAS} IN EXCLUSIVE MODE")
            cur.execute(f"SELECT EXISTS (SELECT FROM {DELTAS} WHERE area_id = ANY(%s))", [list(areas)])
            if not cur.fetchone()[0]:
                return
        _quiesce_and_fold(cur)


def forget(households: Iterable[int]) -> None:
    """Households about to be deleted (in the caller's transaction, which then deletes them): taken out of
    the rollups as if made inactive (their rows locked in id order, then `refresh`). A deleted household
    has no row left for `refresh` to find the area it was counted under."""
    ids = sorted(set(households))
    if not ids:
        return
    lock_households(ids)
    with connection.cursor() as cur:
        cur.execute("UPDATE households_household SET active = false WHERE id = ANY(%s) AND active", [ids])
    refresh(ids)


# name: table (as readers see it: the pending deltas added), key columns, value columns, rows of the table
# that count. `recompute` derives each of them from the households and the visits (in this order: the
# dashboard rows from the area rollups and totals).
KEPT = {
    "states": (STATES, ("household_id",), ("area_id", "kind", "need"), "true"),
    "rollups": (AREA_ROLLUPS_WITH_PENDING, ("area_id", "kind", "period_start"), ("done",), "done > 0"),
    "totals": ("visits_areapolicytotal", ("area_id", "kind"), ("households",), "true"),
    "node_rollups": (NODE_ROLLUPS_WITH_PENDING, ("code", "kind", "period_start"), ("done",), "done > 0"),
    "node_totals": ("visits_nodepolicytotal", ("code", "kind"), ("households",), "true"),
    "dashboard": (
        DASHBOARD_WITH_PENDING,
        ("month", "level", "key"),
        ("member_id", "households", "done"),
        "true",
    ),
}


@transaction.atomic
def refresh(
    households: Iterable[int], areas: Iterable[int] = (), gone: Iterable[tuple[str, int | None]] = ()
) -> None:
    """After households changed (area, key groups, active), or their areas did (a gridding approval
    renumbers, adds and deletes areas): re-derive them, their areas from the visits, and the nodes above.
    `areas`, `gone`: more areas whose dashboard rows to derive again with theirs (areas that changed hands
    or code; (code, member) of areas deleted: see `refresh_dashboard`).

    Local, whatever the size of the city: the communities involved are derived again from their own
    areas (the community row and its grids'), and the street and district rows above only get the
    communities' change added. Pending deltas are folded first (and no batch appends one until this
    transaction ends), so nothing is counted twice.

    The households are locked first (their rows, in id order, as a batch's resolving statement locks
    them), then the delta table and the fold's lock (`_quiesce_and_fold`): the order every writer of the
    rollups takes them in (a batch: its households, then the delta table; `fold`: the delta table, then
    its lock; `recompute.rebuild`: the household table, then the same two), so none waits for another in
    a cycle. With the rows locked, a batch for one of these households either ended before (its visits
    are counted below, its deltas folded) or waits in its resolving statement until this transaction
    ends, and then reads the states written here (see `STATE`)."""
    ids, more, gone = sorted(set(households)), set(areas), list(gone)
    if not ids:
        if more or gone:
            refresh_dashboard(more, gone)
        return
    lock_households(ids)
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
    _refresh_dashboard({*areas, *more}, gone, nodes=nodes)


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


LOCK_STATES = """
SELECT h.id, STATE FROM households_household h WHERE h.id = ANY(%s) ORDER BY h.id FOR NO KEY UPDATE
""".replace("STATE", STATE)


def locked_states(household_ids: Iterable[int]) -> dict[int, tuple[int | None, str, int]]:
    """Lock these households (see `lock_households`) and answer their policy states (area, kind, need),
    those the rollups have not seen yet (new since the last refresh) refreshed first."""
    ids = sorted(set(household_ids))
    with connection.cursor() as cur:
        cur.execute(LOCK_STATES, [ids])
        rows = cur.fetchall()
        missing = [h for h, _a, kind, _n in rows if kind is None]
        if missing:
            refresh(missing)
            cur.execute(LOCK_STATES, [missing])
            rows = [r for r in rows if r[2] is not None] + cur.fetchall()
    return {h: (area, kind, need) for h, area, kind, need in rows if kind is not None}


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
    counts, so that this one's snapshot sees what the other committed. See `upkeep_ctes` and `STATE`."""
    with connection.cursor() as cur:
        cur.execute(LOCK_HOUSEHOLDS, [sorted(set(household_ids))])


def upkeep_ctes(source: str) -> str:
    """The upkeep for newly counted visits as common table expressions, to follow `WITH …,` in one
    statement: `source` names a relation of (household_id, t, area_id, kind, need, last): visits that the
    statement's snapshot does not count yet (being inserted by the same statement, or approved afterwards),
    with their household's policy state and `last`, its latest counted visit (NULL: none), as read with
    its row lock held.

    A household meets its policy in a period when its counted visits there reach the need: the visits
    counted so far and those added. What was counted so far follows from `last` in most cases: none in the
    period when it is before the period's start (the household's first visits of the period: they cross
    if they reach the need), the need (1) met already when it is inside the period and the need is one
    visit (nothing crosses); only a period that ended before `last` (a late visit) or a need of more than
    one visit counts them (an index range scan on (household, time), stopped at the need). The households
    must be locked (`locked_states`, or the sync's resolving statement) by an earlier statement of the same
    transaction, which read their states, and `last` read by a later one (its snapshot taken with the locks
    held): two batches for one household then run one
    after the other, and the second counts the first's visits, so a household's crossing is counted once;
    and no state can change until this transaction ends (see `STATE`). What crosses is appended as one
    delta row per area and period (`fold` sums them later). Needs the parameter %(tz)s."""
    start, end = period_bounds("v.kind", "v.period_start")
    # Whether each household crossed is one expression, its count of the period's visits (the rare case) one
    # subquery: a condition written twice on the count (below the need, and reaching it with the visits
    # added) would be planned, and evaluated, twice.
    return f"""
    v AS (
        SELECT s.household_id, s.area_id, s.kind, s.need,
               date_trunc(s.kind, s.t AT TIME ZONE %(tz)s)::date AS period_start, count(*) AS added,
               max(s.last) AS last
        FROM {source} s
        WHERE s.area_id IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5
    ), reached AS (  -- households that have just met their policy, per area and period: appended, folded
        -- later (`fold`): no shared row to wait on
        INSERT INTO visits_rollupdelta (area_id, kind, period_start, done)
        SELECT v.area_id, v.kind, v.period_start, count(*)
        FROM v
        WHERE CASE
            WHEN v.last IS NULL OR v.last < {start} THEN v.added >= v.need  -- none counted in the period
            WHEN v.need = 1 AND v.last < {end} THEN false  -- met already
            ELSE (SELECT count(*) < v.need AND count(*) + v.added >= v.need FROM (
                SELECT FROM visits_visit x  -- (a late visit, or a need of several: counted, up to the need)
                WHERE x.household_id = v.household_id AND x.counted
                      AND x.device_time >= {start} AND x.device_time < {end}
                LIMIT v.need
            ) x)
        END
        GROUP BY 1, 2, 3
        RETURNING 1
    )"""


ADD_VISITS = f"""
WITH new AS (  -- (each with its household's latest counted visit: the households are locked)
    SELECT n.*, (SELECT max(x.device_time) FROM visits_visit x
                 WHERE x.household_id = n.household_id AND x.counted) AS last
    FROM unnest(%(hids)s::bigint[], %(times)s::timestamptz[], %(areas)s::bigint[], %(kinds)s::text[],
                %(needs)s::int[]) AS n(household_id, t, area_id, kind, need)
), {upkeep_ctes("new")}
SELECT count(*) FROM reached
"""


def add_counted(visits: list[tuple[int, Any]]) -> None:
    """Upkeep for visits about to be counted: (household id, device time) pairs, not counted yet in this
    transaction's view (call before marking them counted, in the same transaction). Locks the households
    and reads their states first (one statement), then reads their latest counted visits and counts (one
    more, its snapshot taken with the locks held)."""
    if not visits:
        return
    states = locked_states(h for h, _t in visits)
    known = [(h, t, *states[h]) for h, t in visits if h in states]
    with connection.cursor() as cur:
        cur.execute(
            ADD_VISITS,
            {
                "hids": [v[0] for v in known],
                "times": [v[1] for v in known],
                "areas": [v[2] for v in known],
                "kinds": [v[3] for v in known],
                "needs": [v[4] for v in known],
                "tz": _tz(),
            },
        )


def snapshot() -> dict[str, list[tuple]]:
    """The whole rollup state as readers see it (pending deltas added), for comparing incremental upkeep
    with a rebuild."""
    out: dict[str, list[tuple]] = {}
    with connection.cursor() as cur:
        for name in ("rollups", "totals", "node_rollups", "node_totals"):
            table, keys, values, rows = KEPT[name]
            cur.execute(f"SELECT {', '.join(keys + values)} FROM {table} k WHERE {rows} ORDER BY 1, 2, 3")
            out[name] = sorted(tuple(row) for row in cur.fetchall())
    return out
