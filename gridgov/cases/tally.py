"""The monitoring tally: running counts of cases per community and dimension (see `CaseTally`).

A trigger on `cases_case` appends +1/-1 rows to `cases_casetallydelta` for every change that moves a
count, in the writer's own transaction (so counts are exact and never half-written); `fold()` moves the
deltas into `cases_casetally` (run by the sweep every minute); reads add both tables. `rebuild()`
recomputes from the cases and `check()` compares, like `visits_rollups`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import connection, transaction

FOLD = """
WITH moved AS (DELETE FROM cases_casetallydelta RETURNING *)
INSERT INTO cases_casetally (code, dim, value, n, on_time, returned, sat_sum, sat_n)
SELECT code, dim, value, sum(n), sum(on_time), sum(returned), sum(sat_sum), sum(sat_n)
FROM moved GROUP BY code, dim, value ORDER BY code, dim, value
ON CONFLICT (code, dim, value) DO UPDATE SET
    n = cases_casetally.n + EXCLUDED.n, on_time = cases_casetally.on_time + EXCLUDED.on_time,
    returned = cases_casetally.returned + EXCLUDED.returned,
    sat_sum = cases_casetally.sat_sum + EXCLUDED.sat_sum, sat_n = cases_casetally.sat_n + EXCLUDED.sat_n
"""
COMPUTE = """
SELECT r.code, r.dim, r.value, sum(r.n) AS n, sum(r.on_time) AS on_time, sum(r.returned) AS returned,
       sum(r.sat_sum) AS sat_sum, sum(r.sat_n) AS sat_n
FROM cases_case c, LATERAL cases_tally_rows(c, 1) r
GROUP BY r.code, r.dim, r.value
"""
MEASURES = ("n", "on_time", "returned", "sat_sum", "sat_n")
READ = """
SELECT dim, value, sum(n), sum(on_time), sum(returned), sum(sat_sum), sum(sat_n) FROM (
    SELECT dim, value, n, on_time, returned, sat_sum, sat_n FROM cases_casetally WHERE {where}
    UNION ALL
    SELECT dim, value, n, on_time, returned, sat_sum, sat_n FROM cases_casetallydelta WHERE {where}
) t GROUP BY dim, value
"""
FOLD_LOCK = 7_240_001  # advisory lock: one fold at a time


def fold() -> None:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
        cur.execute(FOLD)
        cur.execute(f"DELETE FROM cases_casetally WHERE ({', '.join(MEASURES)}) = (0, 0, 0, 0, 0)")


def rebuild() -> None:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
        cur.execute("LOCK TABLE cases_case IN SHARE MODE")
        cur.execute("DELETE FROM cases_casetallydelta")
        cur.execute("DELETE FROM cases_casetally")
        cur.execute(
            f"INSERT INTO cases_casetally (code, dim, value, n, on_time, returned, sat_sum, sat_n) {COMPUTE}"
        )


def check() -> list[tuple[Any, ...]]:
    """Rows where the tally (with pending deltas) and a recomputation disagree; empty when exact."""
    with connection.cursor() as cur:
        kept_cols = ", ".join(f"sum({m}) AS {m}" for m in MEASURES)
        k = ", ".join(f"coalesce(k.{m}, 0)" for m in MEASURES)
        f = ", ".join(f"coalesce(f.{m}, 0)" for m in MEASURES)
        cur.execute(
            f"""
            WITH kept AS (
                SELECT code, dim, value, {kept_cols}
                FROM (SELECT * FROM cases_casetally UNION ALL SELECT * FROM cases_casetallydelta) t
                GROUP BY code, dim, value
            ), fresh AS ({COMPUTE})
            SELECT code, dim, value, ({k}), ({f})
            FROM kept k FULL JOIN fresh f USING (code, dim, value)
            WHERE ({k}) IS DISTINCT FROM ({f})
            """
        )
        return cur.fetchall()


def read(prefixes: tuple[str, ...] | None) -> dict[str, dict[str, dict[str, int]]]:
    """Summed counts under code prefixes (None: everything) → {dim: {value: {n, on_time, …}}}."""
    if prefixes is None:
        where, params = "TRUE", []
    else:
        where = "code LIKE ANY(%s)"
        params = [[p.replace("%", "") + "%" for p in prefixes]]
    out: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    with connection.cursor() as cur:
        cur.execute(READ.format(where=where), params * 2)
        for dim, value, n, on_time, returned, sat_sum, sat_n in cur.fetchall():
            out[dim][value] = {
                "n": int(n),
                "on_time": int(on_time),
                "returned": int(returned),
                "sat_sum": int(sat_sum),
                "sat_n": int(sat_n),
            }
    return out
