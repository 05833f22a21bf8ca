"""Compliance dashboards read from the rollups: per member or node of a level, under code prefixes, for the
periods holding a day; pages in key order or worst first (from the kept dashboard rows of the current
month, exact with pending deltas), their row count and the scope's total.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import connection, transaction

from .periods import window
from .rollups import DASHBOARD, DELTAS, KEPT_MONTH, MARKS, NODE_LENGTHS, WORST_SEEK

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
SKIP_MIN = 100  # fewer rows to skip than this are fetched (a MOVE costs a round trip)
# Whether deep pages seek from the dashboard marks (off: they step over every row before them, as the
# reference for tests and measurements).
MARKED = True
# A mark's sort key (`rollups.WORST_SEEK`) as the scan's lower bound, and the bound without a mark (before
# every row: no share is -Infinity).
MARK_DEFAULTS = (("share", "'-Infinity'::float8"), ("neg", "0"), ("no_key", "false"), ("k", "''"))


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
    the first `offset` rows none without a pending delta can be on the page (such a row's place can only
    move forward, as rows before it move back with their deltas), so they are only counted, those with a
    pending delta among them known from their kept figures (read first, added to the rows read). Every row
    counted has its place before the first row read after them, so fewer than `offset` rows come before
    the page's. The scan starts at the last dashboard mark at or before the `offset`th row
    (`DashboardMark`, read in the scan's own snapshot: a mark there is exact), a seek in the index; the
    rows between the mark and it are stepped over by `MOVE` (fewer than `rollups.MARK_EVERY`; all of them
    when there is no mark)."""
    wanted = offset + limit
    pending: dict[str | None, int] = {}  # the pending deltas per row
    kept: dict[str | None, tuple] = {}  # the kept figures of those rows
    candidates: list[tuple] = []  # rows read (a pending delta added), each after its sort key
    kept_order: dict[str | None, tuple] = {}  # the sort keys of the kept figures of `kept`
    read_pending: set[str | None] = set()  # rows with a pending delta read
    exact = 0  # rows without a pending delta, read or skipped
    read = 0  # rows of the scan, read or skipped
    last: tuple | None = None  # the sort key of the last row read
    floor: tuple | None = None  # the sort key of the first row read after the last skip
    skipped = 0  # rows skipped (before the mark, then by MOVE)
    skipped_exact = 0  # … of which without a pending delta, once `floor` is known
    after_skip = moved = False
    chunk = SCAN_CHUNK + limit
    deep = offset - 1 > chunk  # whether a skip may come: then the pending rows' kept figures are read
    # A deep page: the mark, the last at or before the row at position `offset` (rows before the mark: its
    # position), and the kept figures of the rows with a pending delta. (A page near the top: neither, a
    # simpler statement to plan.)
    mark, kept_rows, seek, params = "", "", "", [*pending_params]
    if deep:
        mark = f""", mark AS MATERIALIZED (
                    SELECT position, share, -households AS neg, key IS NULL AS no_key, coalesce(key, '') AS k
                    FROM {MARKS}
                    WHERE %s AND month = %s AND level = %s AND position > 0 AND position <= %s
                    ORDER BY position DESC LIMIT 1
                )"""
        params += [MARKED, month, level, offset]
        kept_rows = f"""(SELECT 3, NULL, position, 0, NULL, NULL::int[], NULL::bigint[] FROM mark)
                UNION ALL
                (SELECT 1, NULL, NULL, NULL, array_agg(key), array_agg(households), array_agg(done) FROM (
                    SELECT k.key, k.households, k.done FROM pending p
                    JOIN {DASHBOARD} k ON k.month = %s AND k.level = %s AND k.key = p.key
                    UNION ALL
                    SELECT k.key, k.households, k.done FROM {DASHBOARD} k
                    WHERE k.month = %s AND k.level = %s AND k.key IS NULL
                          AND EXISTS (SELECT FROM pending WHERE key IS NULL)
                ) k)
                UNION ALL"""
        params += [month, level, month, level]
        mark_values = ", ".join(f"coalesce((SELECT {c} FROM mark), {d})" for c, d in MARK_DEFAULTS)
        seek = f"AND ({WORST_SEEK}) >= ({mark_values})"
    params += [month, level]
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            f"""DECLARE {SCAN_CURSOR} NO SCROLL CURSOR FOR
                WITH pending AS ({pending_select}){mark}
                -- (the pending deltas, and for a deep page their rows' kept figures: arrays, a row each)
                (SELECT 0, NULL, NULL, NULL, array_agg(key), NULL::int[], array_agg(done) FROM pending)
                UNION ALL
                {kept_rows}
                (SELECT 2, key, households, done, NULL, NULL, NULL FROM {DASHBOARD}
                 WHERE month = %s AND level = %s {seek}
                 ORDER BY month, level, {WORST_SEEK})""",
            params,
        )
        try:
            arrays = False  # whether the pending deltas and their rows' kept figures are read
            first = deep  # a deep page fetches those first (and the mark), then skips
            while exact < wanted:
                skip = offset - read  # rows before the `offset`th not read yet
                if deep and not moved and arrays and skip > min(chunk, SKIP_MIN):
                    # Skip to the row at position `offset`: MOVE over those before it, read on from it.
                    cur.execute(f"MOVE FORWARD {skip} IN {SCAN_CURSOR}")
                    moved = after_skip = True
                    skipped += cur.rowcount
                    read += cur.rowcount
                    exact -= skipped_exact  # (counted again below, with the skip's rows)
                cur.execute(f"FETCH {3 if first else chunk} FROM {SCAN_CURSOR}")
                batch = cur.fetchall()
                if after_skip and not batch:  # (after a MOVE) fewer rows than the offset: an empty page
                    return []
                for part, key, households, done, keys, households_of, dones in batch:
                    if part == 3:  # the mark: the rows before it are skipped
                        skipped = read = households
                        after_skip = True
                        continue
                    if part == 0:
                        pending = dict(zip(keys or (), map(int, dones or ()), strict=True))
                        continue
                    if part == 1:
                        figures = zip(keys or (), households_of or (), dones or (), strict=True)
                        kept = {k: (h, d) for k, h, d in figures}
                        kept_order = {k: _worst_key((k, *f)) for k, f in kept.items()}
                        arrays = True
                        continue
                    row = (key, households, done)
                    order = _worst_key(row)
                    if last is not None and order < last:  # (not in index order: never expected)
                        return None
                    if after_skip:  # the first row read after a skip: rows before it are only counted
                        after_skip = False
                        floor = order
                        between = sum(1 for k, o in kept_order.items() if k not in read_pending and o < floor)
                        skipped_exact = skipped - between
                        exact += skipped_exact
                        if exact >= wanted:  # (the page lies among the rows skipped: never expected)
                            return None
                    last = order
                    read += 1
                    if key in pending:
                        read_pending.add(key)
                        moved_row = (key, households, done + pending[key])
                        candidates.append((_worst_key(moved_row), moved_row))
                    else:
                        candidates.append((order, row))
                        exact += 1
                        if exact == wanted:
                            break
                if len(batch) < (3 if first else chunk):
                    break
                first = False
        finally:
            cur.execute(f"CLOSE {SCAN_CURSOR}")
    if last is None:  # no row kept for this month
        return None
    if floor is None:
        candidates.sort(key=_first)
        return [_row(*r) for _o, r in candidates[offset:wanted]]
    # After a skip: the rows before the first read after it are only counted (none is on the page), but
    # those with a pending delta, which may come back after it.
    for k, (h, d) in kept.items():
        if k not in read_pending and kept_order[k] < floor:
            moved_row = (k, h, d + pending[k])
            candidates.append((_worst_key(moved_row), moved_row))
    below = sum(o < floor for o, _r in candidates) + skipped_exact
    above = sorted((c for c in candidates if c[0] >= floor), key=_first)
    return [_row(*r) for _o, r in above[offset - below : wanted - below]]


def _first(pair: tuple) -> Any:
    return pair[0]


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
