"""Compliance rollups: kept up to date as visits arrive, rebuilt exactly from the visits on demand.

Per household: the policy it follows (kind of period, visits needed) and its counted visits per
period. Per responsibility area: how many households follow each kind of policy (the denominator)
and, per period, how many have met it (the numerator). The same sums are kept per grid, community,
street and district code ("nodes"), so that a city dashboard by street reads a row per street; levels
the nodes cannot answer (areas, members, a scope narrower than the node) sum the area rows whose codes
share a prefix.

Upkeep: a counted visit adds 1 to its household's period count, and when that count reaches the
policy's need the area's and its nodes' `done` go up by 1 (`upkeep_ctes`: part of the one statement
that stores a batch). Changes to households (key groups, area, active) and to the policies re-derive
the affected areas and their nodes (`refresh`); `rebuild()` derives everything from the households and
the visits, must agree with the incremental state exactly, and writes only the rows that do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from gridgov.geo.models import CODE_LENGTHS

from .models import (
    AreaPeriodRollup,
    AreaPolicyTotal,
    HouseholdPeriodCount,
    HouseholdPolicyState,
    NodePeriodRollup,
    NodePolicyTotal,
)
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


# Each of the kept tables as derived from its sources ({states}, {counts}: the tables, or fresh copies).
COUNTS_SELECT = """
    SELECT s.household_id, s.kind, date_trunc(s.kind, v.device_time AT TIME ZONE %(tz)s)::date, count(*)
    FROM visits_visit v JOIN {states} s ON s.household_id = v.household_id
    WHERE v.counted {where}
    GROUP BY 1, 2, 3
"""
ROLLUPS_SELECT = """
    SELECT s.area_id, c.kind, c.period_start, count(*)
    FROM {counts} c
    JOIN {states} s ON s.household_id = c.household_id AND s.kind = c.kind
    WHERE s.area_id IS NOT NULL AND c.n >= s.need {where}
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
STATES, COUNTS = "visits_householdpolicystate", "visits_householdperiodcount"
COUNTS_FROM_VISITS = f"INSERT INTO {COUNTS} (household_id, kind, period_start, n)" + COUNTS_SELECT.replace(
    "{states}", STATES
)
ROLLUP_FROM_COUNTS = "INSERT INTO visits_areaperiodrollup (area_id, kind, period_start, done)" + (
    ROLLUPS_SELECT.replace("{states}", STATES).replace("{counts}", COUNTS)
)
TOTALS_FROM_STATES = "INSERT INTO visits_areapolicytotal (area_id, kind, households)" + (
    TOTALS_SELECT.replace("{states}", STATES)
)

# name: table, key columns, value columns, rows of the table that count, how to derive it
KEPT = {
    "states": (STATES, ("household_id",), ("area_id", "kind", "need"), "true", STATES_SELECT),
    "counts": (COUNTS, ("household_id", "kind", "period_start"), ("n",), "true", COUNTS_SELECT),
    "rollups": (
        "visits_areaperiodrollup",
        ("area_id", "kind", "period_start"),
        ("done",),
        "done > 0",
        ROLLUPS_SELECT,
    ),
    "totals": ("visits_areapolicytotal", ("area_id", "kind"), ("households",), "true", TOTALS_SELECT),
    "node_rollups": (
        "visits_nodeperiodrollup",
        ("code", "kind", "period_start"),
        ("done",),
        "done > 0",
        NODE_ROLLUPS_SELECT,
    ),
    "node_totals": ("visits_nodepolicytotal", ("code", "kind"), ("households",), "true", NODE_TOTALS_SELECT),
}


def _derive(cur: Any) -> None:
    """Temporary tables fresh_<name>: every kept table as derived from the households and the visits."""
    sources = {name: f"fresh_{name}" for name in ("states", "counts", "rollups", "totals")} | {"where": ""}
    for name, (_table, keys, values, _rows, select) in KEPT.items():
        cur.execute(
            f"CREATE TEMPORARY TABLE fresh_{name} AS SELECT * FROM ({select.format(**sources)}) "
            f"AS f({', '.join(keys + values)})",
            {"tz": _tz()},
        )
        cur.execute(f"ANALYZE fresh_{name}")


def _differing(cur: Any, name: str) -> int:
    """Keys whose row differs between the kept table and fresh_<name> (missing, extra or other values)."""
    table, keys, values, rows, _select = KEPT[name]
    on = " AND ".join(f"t.{k} = f.{k}" for k in keys)
    t_values, f_values = (", ".join(f"{a}.{v}" for v in values) for a in "tf")
    cur.execute(
        f"""SELECT count(*) FROM (SELECT * FROM {table} WHERE {rows}) t FULL JOIN fresh_{name} f ON {on}
            WHERE t.{keys[0]} IS NULL OR f.{keys[0]} IS NULL OR ({t_values}) IS DISTINCT FROM ({f_values})"""
    )
    return cur.fetchone()[0]


def _apply(cur: Any, name: str) -> None:
    """Make the kept table equal to fresh_<name>, writing only the rows that differ."""
    table, keys, values, _rows, _select = KEPT[name]
    on = " AND ".join(f"t.{k} = f.{k}" for k in keys)
    t_values, f_values = (", ".join(f"{a}.{v}" for v in values) for a in "tf")
    cols = ", ".join(keys + values)
    cur.execute(f"DELETE FROM {table} t WHERE NOT EXISTS (SELECT FROM fresh_{name} f WHERE {on})")
    cur.execute(
        f"UPDATE {table} t SET ({', '.join(values)}) = ROW({f_values}) FROM fresh_{name} f"
        f" WHERE {on} AND ({t_values}) IS DISTINCT FROM ({f_values})"
    )
    # The rows left to add are those whose key is missing: an index probe each (a join would be planned
    # from the kept table's statistics, which a rebuild may have made stale).
    cur.execute(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM fresh_{name}"
        f" ON CONFLICT ({', '.join(keys)}) DO NOTHING"
    )


@transaction.atomic
def rebuild() -> dict[str, int]:
    """Everything from the households and the visits: policy states, counts, rollups, totals (the
    reference for the upkeep). Derived in temporary tables and compared with the kept ones; only rows
    that differ are written, so when the upkeep is right nothing is. Returns the rows repaired per table."""
    repaired = {}
    with connection.cursor() as cur:
        _derive(cur)
        for name in KEPT:
            repaired[name] = _differing(cur, name)
            if repaired[name]:
                _apply(cur, name)
            cur.execute(f"DROP TABLE fresh_{name}")
    return repaired


def differences() -> dict[str, int]:
    """Rows in which the kept state and a rebuild from the visits differ, per table (all 0: they agree
    exactly). Compared in SQL, so it scales to the city; nothing is written."""
    with transaction.atomic(), connection.cursor() as cur:
        _derive(cur)
        out = {name: _differing(cur, name) for name in KEPT}
        transaction.set_rollback(True)  # the temporary tables go with it
    return out


@transaction.atomic
def refresh(households: Iterable[int]) -> None:
    """After households changed (area, key groups, active): re-derive them and their areas."""
    ids = list(households)
    if not ids:
        return
    areas = sorted(refresh_states(ids))
    with connection.cursor() as cur:
        cur.execute("DELETE FROM visits_householdperiodcount WHERE household_id = ANY(%s)", [ids])
        cur.execute(
            COUNTS_FROM_VISITS.format(where="AND v.household_id = ANY(%(ids)s)"), {"tz": _tz(), "ids": ids}
        )
        if areas:
            cur.execute("DELETE FROM visits_areaperiodrollup WHERE area_id = ANY(%s)", [areas])
            cur.execute("DELETE FROM visits_areapolicytotal WHERE area_id = ANY(%s)", [areas])
            cur.execute(ROLLUP_FROM_COUNTS.format(where="AND s.area_id = ANY(%(areas)s)"), {"areas": areas})
            cur.execute(TOTALS_FROM_STATES.format(where="AND area_id = ANY(%(areas)s)"), {"areas": areas})
            # The nodes above those areas: their sums again, from every area under them.
            cur.execute("SELECT code FROM geo_responsibilityarea WHERE id = ANY(%s)", [areas])
            nodes = sorted({code[:n] for (code,) in cur.fetchall() for n in NODE_LENGTHS})
            where = {"where": "AND left(a.code, n.len) = ANY(%(nodes)s)"}
            for table, select, cols, source in (
                ("visits_nodeperiodrollup", NODE_ROLLUPS_SELECT, "code, kind, period_start, done", "rollups"),
                ("visits_nodepolicytotal", NODE_TOTALS_SELECT, "code, kind, households", "totals"),
            ):
                real = {"rollups": "visits_areaperiodrollup", "totals": "visits_areapolicytotal"}[source]
                cur.execute(f"DELETE FROM {table} WHERE code = ANY(%s)", [nodes])
                cur.execute(
                    f"INSERT INTO {table} ({cols})" + select.format(**{source: real}, **where),
                    {"nodes": nodes},
                )


def ensure_states(household_ids: Iterable[int]) -> None:
    """Households the rollups have not seen yet (new since the last refresh) get their state."""
    ids = set(household_ids)
    known = set(
        HouseholdPolicyState.objects.filter(household_id__in=ids).values_list("household_id", flat=True)
    )
    if ids - known:
        refresh(ids - known)


def upkeep_ctes(source: str) -> str:
    """The upkeep for newly counted visits as common table expressions, to follow `WITH …,` in one
    statement: `source` names a relation of (household_id, t) pairs. Rows are written in key order so
    that concurrent batches lock them in the same order. Needs the parameter %(tz)s."""
    return f"""
    v AS (
        SELECT s.household_id, s.area_id, s.kind, s.need,
               date_trunc(s.kind, new.t AT TIME ZONE %(tz)s)::date AS period_start, count(*) AS added
        FROM {source} new
        -- One index look-up per visit (LIMIT keeps the planner from hashing the whole state table).
        CROSS JOIN LATERAL (
            SELECT * FROM visits_householdpolicystate s WHERE s.household_id = new.household_id LIMIT 1
        ) s
        GROUP BY 1, 2, 3, 4, 5
    ), up AS (
        INSERT INTO visits_householdperiodcount (household_id, kind, period_start, n)
        SELECT household_id, kind, period_start, added FROM v ORDER BY 1, 2, 3
        ON CONFLICT (household_id, kind, period_start)
        DO UPDATE SET n = visits_householdperiodcount.n + EXCLUDED.n
        RETURNING household_id, kind, period_start, n
    ), crossed AS (  -- households that have just met their policy, per area and period
        SELECT v.area_id, v.kind, v.period_start, count(*) AS n
        FROM up JOIN v USING (household_id, kind, period_start)
        WHERE v.area_id IS NOT NULL AND up.n >= v.need AND up.n - v.added < v.need
        GROUP BY 1, 2, 3
    ), reached AS (
        INSERT INTO visits_areaperiodrollup (area_id, kind, period_start, done)
        SELECT area_id, kind, period_start, n FROM crossed ORDER BY 1, 2, 3
        ON CONFLICT (area_id, kind, period_start)
        DO UPDATE SET done = visits_areaperiodrollup.done + EXCLUDED.done
        RETURNING 1
    ), reached_nodes AS (
        INSERT INTO visits_nodeperiodrollup (code, kind, period_start, done)
        SELECT left(a.code, n.len), c.kind, c.period_start, sum(c.n)
        FROM crossed c JOIN geo_responsibilityarea a ON a.id = c.area_id CROSS JOIN {NODES}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (code, kind, period_start)
        DO UPDATE SET done = visits_nodeperiodrollup.done + EXCLUDED.done
        RETURNING 1
    )"""


ADD_VISITS = f"""
WITH new AS (
    SELECT unnest(%(hids)s::bigint[]) AS household_id, unnest(%(times)s::timestamptz[]) AS t
), {upkeep_ctes("new")}
SELECT count(*) FROM reached
"""


def add_counted(visits: list[tuple[int, Any]]) -> None:
    """Upkeep for newly counted visits: (household id, device time) pairs. Call inside the transaction
    that stored them (or approved them)."""
    if not visits:
        return
    ensure_states(h for h, _t in visits)
    with connection.cursor() as cur:
        cur.execute(
            ADD_VISITS, {"hids": [h for h, _t in visits], "times": [t for _h, t in visits], "tz": _tz()}
        )


LEVEL_LENGTH = {"area": 17, "grid": 15, "community": 12, "street": 9, "district": 6}
NODE_LEVELS = frozenset(level for level, n in LEVEL_LENGTH.items() if n in NODE_LENGTHS)


def dashboard(
    level: str, today: date, prefixes: Sequence[str] = ("",), nodes: bool = True
) -> list[dict[str, Any]]:
    """Households, done and share per node of `level` (or per member) under any of the code `prefixes`,
    for the periods holding `today` (one statement, whatever the number of prefixes).

    Levels above the area read the node rows when every node of the level lies wholly under a prefix
    (a row per node); otherwise, and with `nodes=False`, the area rows are summed (the same figures)."""
    if isinstance(prefixes, str):  # one prefix, not its characters
        prefixes = [prefixes]
    periods = [window(k, today).start for k in ("month", "quarter", "year")]

    def under(column: str) -> str:
        return " OR ".join([f"{column} LIKE %s"] * len(prefixes)) or "false"

    this_period = "CASE t.kind WHEN 'month' THEN %s::date WHEN 'quarter' THEN %s::date ELSE %s::date END"
    if nodes and level in NODE_LEVELS and all(len(p) <= LEVEL_LENGTH[level] for p in prefixes):
        query = f"""
            SELECT t.code, sum(t.households), coalesce(sum(r.done), 0)
            FROM visits_nodepolicytotal t
            LEFT JOIN visits_nodeperiodrollup r ON r.code = t.code AND r.kind = t.kind
                 AND r.period_start = {this_period}
            WHERE length(t.code) = %s AND ({under("t.code")})
            GROUP BY 1 ORDER BY 1
        """
        params = [*periods, LEVEL_LENGTH[level], *(p + "%" for p in prefixes)]
    else:
        node = "a.member_id::text" if level == "member" else f"left(a.code, {LEVEL_LENGTH[level]})"
        query = f"""
            SELECT {node} AS node, sum(t.households), coalesce(sum(r.done), 0)
            FROM visits_areapolicytotal t
            JOIN geo_responsibilityarea a ON a.id = t.area_id
            LEFT JOIN visits_areaperiodrollup r ON r.area_id = t.area_id AND r.kind = t.kind
                 AND r.period_start = {this_period}
            WHERE {under("a.code")}
            GROUP BY 1 ORDER BY 1
        """
        params = [*periods, *(p + "%" for p in prefixes)]
    with connection.cursor() as cur:
        cur.execute(query, params)
        return [
            {"key": node, "households": int(h), "done": int(d), "share_done": round(d / h, 4) if h else None}
            for node, h, d in cur.fetchall()
        ]


def snapshot() -> dict[str, list[tuple]]:
    """The whole rollup state, for comparing incremental upkeep with a rebuild."""
    return {
        "counts": sorted(
            HouseholdPeriodCount.objects.values_list("household_id", "kind", "period_start", "n")
        ),
        "rollups": sorted(
            AreaPeriodRollup.objects.filter(done__gt=0).values_list("area_id", "kind", "period_start", "done")
        ),
        "totals": sorted(AreaPolicyTotal.objects.values_list("area_id", "kind", "households")),
        "node_rollups": sorted(
            NodePeriodRollup.objects.filter(done__gt=0).values_list("code", "kind", "period_start", "done")
        ),
        "node_totals": sorted(NodePolicyTotal.objects.values_list("code", "kind", "households")),
    }
