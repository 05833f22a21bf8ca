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
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from gridgov.geo.models import CODE_LENGTHS

from .models import HouseholdPolicyState
from .periods import MONTHS, window

DEFAULT = ("quarter", 1)
# Nodes above the areas whose sums are kept too (grid, community, street, district): their code lengths.
NODE_LENGTHS = tuple(CODE_LENGTHS[level] for level in ("district", "street", "community", "grid"))
NODES = "(VALUES " + ", ".join(f"({n})" for n in NODE_LENGTHS) + ") AS n(len)"

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


def _node_cascade(source: str, keys: tuple[str, ...], value: str) -> str:
    """The node sums of an area table, level by level (the grids from the areas, the communities from the
    grids, …): the same figures as NODE_*_SELECT, from far fewer rows than every area at every level."""
    lengths = sorted(NODE_LENGTHS, reverse=True)
    cols, by = ", ".join(keys), ", ".join(str(i) for i in range(1, len(keys) + 2))
    ctes = [
        f"n{lengths[0]} AS (SELECT left(a.code, {lengths[0]}) AS code, {cols}, sum(x.{value}) AS v"
        f" FROM {source} x JOIN geo_responsibilityarea a ON a.id = x.area_id GROUP BY {by})"
    ]
    ctes += [
        f"n{n} AS (SELECT left(code, {n}) AS code, {cols}, sum(v) AS v FROM n{above} GROUP BY {by})"
        for above, n in itertools.pairwise(lengths)
    ]
    return f"WITH {', '.join(ctes)} " + " UNION ALL ".join(f"SELECT * FROM n{n}" for n in lengths)


FRESH_SELECTS = {
    "node_rollups": _node_cascade("{rollups}", ("kind", "period_start"), "done"),
    "node_totals": _node_cascade("{totals}", ("kind",), "households"),
}
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
)
SELECT count(*) FROM moved
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
    return cur.fetchone()[0]


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
}


REAL = {"rollups": "visits_areaperiodrollup", "node_rollups": "visits_nodeperiodrollup"}


DERIVE_LOCK = 7_240_003  # advisory lock: one derivation at a time (the fresh tables have fixed names)
# The recompute's session (for its transaction only): memory to sort and hash in, but not so much that a
# hash aggregate of every household and period looks cheaper than counting the visits in one ordered pass
# (merge join with the states and sorted aggregate, in household order: the 5 M visits of the benchmark
# city in about a third of the time); no parallel plans: they would hash too, and gain nothing on a few
# shared cores.
RECOMPUTE_SETTINGS = {
    "work_mem": "256MB",
    "hash_mem_multiplier": "1",
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
}


def _fresh(name: str) -> str:
    return f"visits_fresh_{name}"


# The policy states that differ from the kept ones (derived from the households in id order and merged
# with the kept table in its key order): a row per household whose state is missing, extra or other;
# `fresh` false for a kept state that should not be there.
STATES_DIFF = f"""
    SELECT coalesce(f.household_id, k.household_id) AS household_id, f.household_id IS NOT NULL AS fresh,
           f.area_id, f.kind, f.need
    FROM ({STATES_SELECT.format(where="")} ORDER BY h.id) AS f(household_id, area_id, kind, need)
    FULL JOIN {STATES} k ON k.household_id = f.household_id
    WHERE (f.household_id, f.area_id, f.kind, f.need)
          IS DISTINCT FROM (k.household_id, k.area_id, k.kind, k.need)
"""


def _recompute(cur: Any, repair: bool) -> dict[str, int]:
    """Every kept table derived again from the households and the visits and compared with the kept one:
    the rows that differ per table; `repair`: also make the kept tables equal to the derived ones, writing
    only the rows that differ (after `fold`: no pending deltas).

    The policy states first: what differs is written to the kept table (also without `repair`: the caller
    then rolls back), so that the rest is derived from the kept states, in household order (their primary
    key), as the visits' (household, time) index is: the visits are counted per household and period in
    one ordered pass. The rest goes to unlogged tables visits_fresh_<name> (gone with the transaction)."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", [DERIVE_LOCK])
    for setting, value in RECOMPUTE_SETTINGS.items():
        cur.execute("SELECT set_config(%s, %s, true)", [setting, value])
    cur.execute(f"CREATE UNLOGGED TABLE {_fresh('states')} AS {STATES_DIFF}")
    out = {"states": cur.rowcount}
    if out["states"]:
        cur.execute(
            f"DELETE FROM {STATES} WHERE household_id IN (SELECT household_id FROM {_fresh('states')})"
        )
        cur.execute(
            f"INSERT INTO {STATES} (household_id, area_id, kind, need)"
            f" SELECT household_id, area_id, kind, need FROM {_fresh('states')} WHERE fresh"
        )
        cur.execute(f"ANALYZE {STATES}")
    sources = {"states": STATES, "rollups": _fresh("rollups"), "totals": _fresh("totals"), "where": ""}
    for name, (_table, keys, values, _rows, select) in KEPT.items():
        if name == "states":
            continue
        select = FRESH_SELECTS.get(name, select)
        cur.execute(
            f"CREATE UNLOGGED TABLE {_fresh(name)} AS SELECT * FROM ({select.format(**sources)}) "
            f"AS f({', '.join(keys + values)})",
            {"tz": _tz()},
        )
        cur.execute(f"ANALYZE {_fresh(name)}")
        out[name] = _differing(cur, name)
        if out[name] and repair:
            _apply(cur, name)
    for name in KEPT:
        cur.execute(f"DROP TABLE {_fresh(name)}")
    return out


def _differing(cur: Any, name: str) -> int:
    """Keys whose row differs between the kept table and the fresh one (missing, extra or other values).

    Both sides in one aggregate (each row counted +1 kept, -1 fresh; a row that is the same in both sums to
    0), which PostgreSQL runs in parallel, where a full join would run on one core."""
    table, keys, values, rows, _select = KEPT[name]
    cols = ", ".join(keys + values)
    cur.execute(
        f"""SELECT count(*) FROM (SELECT DISTINCT {", ".join(keys)} FROM (
                SELECT {cols} FROM (
                    SELECT {cols}, 1 AS w FROM {table} k WHERE {rows}
                    UNION ALL SELECT {cols}, -1 FROM {_fresh(name)}
                ) u GROUP BY {cols} HAVING sum(w) <> 0
            ) d) k"""
    )
    return cur.fetchone()[0]


def _apply(cur: Any, name: str) -> None:
    """Make the kept table equal to the fresh one, writing only the rows that differ (after `fold`: no
    pending deltas)."""
    table, keys, values, _rows, _select = KEPT[name]
    table, fresh = REAL.get(name, table), _fresh(name)
    on = " AND ".join(f"t.{k} = f.{k}" for k in keys)
    t_values, f_values = (", ".join(f"{a}.{v}" for v in values) for a in "tf")
    cols = ", ".join(keys + values)
    cur.execute(f"DELETE FROM {table} t WHERE NOT EXISTS (SELECT FROM {fresh} f WHERE {on})")
    cur.execute(
        f"UPDATE {table} t SET ({', '.join(values)}) = ROW({f_values}) FROM {fresh} f"
        f" WHERE {on} AND ({t_values}) IS DISTINCT FROM ({f_values})"
    )
    # The rows left to add are those whose key is missing: an index probe each (a join would be planned
    # from the kept table's statistics, which a rebuild may have made stale).
    cur.execute(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {fresh} x"
        f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    )


@transaction.atomic
def rebuild() -> dict[str, int]:
    """Everything from the households and the visits: policy states, rollups, totals (the reference for
    the upkeep). Derived and compared with the kept state; only rows that differ are written, so when the
    upkeep is right nothing is. Returns the rows repaired per table."""
    with connection.cursor() as cur:
        _quiesce_and_fold(cur)
        return _recompute(cur, repair=True)


def differences() -> dict[str, int]:
    """Rows in which the kept state and a rebuild from the visits differ, per table (all 0: they agree
    exactly). Compared in SQL, so it scales to the city; nothing is written (what `_recompute` writes to
    the policy states is rolled back)."""
    with transaction.atomic(), connection.cursor() as cur:
        out = _recompute(cur, repair=False)
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
        _rederive_communities(cur, sorted(communities))


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


def _rederive_communities(cur: Any, communities: Sequence[str]) -> None:
    """The communities' node rows and their grids' summed again from the communities' area rows (those
    of grids that are gone deleted), and each community's change added to its street's and district's
    rows: a few statements per node table, whatever the number of communities."""
    above = [n for n in NODE_LENGTHS if n < COMMUNITY_LENGTH]
    below = ", ".join(f"({n})" for n in NODE_LENGTHS if n >= COMMUNITY_LENGTH)
    under, params = _under("code", communities)
    under_areas = _under("a.code", communities)[0]
    for node_table, area_table, keys, value in NODE_TABLES:
        cols = ", ".join(keys)
        change: dict[tuple, int] = {}  # (code above, *keys) → the change of its sum
        cur.execute(f"DELETE FROM {node_table} WHERE {under} RETURNING code, {cols}, {value}", params)
        old = [row for row in cur.fetchall() if len(row[0]) == COMMUNITY_LENGTH]
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
        new = [row for row in cur.fetchall() if len(row[0]) == COMMUNITY_LENGTH]
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
    # One statement per kind of prefix (a member's areas are many prefixes of one kind), not per prefix.
    by_level: dict[str, list[str]] = {}
    for prefix in prefixes:
        level = next((lv for lv, n in LEVEL_LENGTH.items() if n == len(prefix) and lv in NODE_LEVELS), "area")
        by_level.setdefault("district" if prefix == "" else level, []).append(prefix)
    households = done = 0
    for level, group in by_level.items():
        rows = dashboard(level, today, group)
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
