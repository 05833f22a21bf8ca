"""Issues benchmark: escalation sweep, dispatch console, monitoring and Open311 on 500,000 issues.

    .venv/bin/python bench/cases.py              # 500,000 issues, 20% open
    .venv/bin/python bench/cases.py --cases 50000 --repeats 10

Writes go to a database made for the run (CREATE DATABASE gridgov_bench_cases TEMPLATE gridgov), dropped
at the end, also on failure. Issues are generated in SQL over the demo city's areas; the baseline in the
same run is the cheapest query of each kind (an indexed count of the due issues, a bare count of open
issues) so the ratios say what the application adds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.bench")

import visits as base  # noqa: E402  (bench/visits.py: the throwaway database made from the demo city)

base.BENCH_DB = "gridgov_bench_cases"
PORT, BENCH_DB = base.PORT, base.BENCH_DB

# state, share of all issues, open?
MIX = [
    ("closed", 0.70, False),
    ("declined", 0.07, False),
    ("merged", 0.03, False),
    ("reported", 0.02, True),
    ("handling", 0.06, True),
    ("awaiting_dispatch", 0.02, True),
    ("dispatched", 0.02, True),
    ("department_handling", 0.05, True),
    ("awaiting_verification", 0.03, True),
]

GENERATE = """
CREATE TEMP TABLE bench_area AS
SELECT row_number() OVER (ORDER BY a.id) AS n, a.id, a.grid_id, g.community_id, c.street_id,
       s.district_id, a.code,
       ST_X(ST_PointOnSurface(a.boundary)) AS x, ST_Y(ST_PointOnSurface(a.boundary)) AS y
FROM geo_responsibilityarea a JOIN geo_grid g ON g.id = a.grid_id
JOIN geo_community c ON c.id = g.community_id
JOIN geo_street s ON s.id = c.street_id;
CREATE TEMP TABLE bench_cat AS
SELECT row_number() OVER (ORDER BY id) AS n, id FROM cases_category WHERE parent_id IS NOT NULL;
CREATE TEMP TABLE bench_dept AS
SELECT row_number() OVER (ORDER BY id) AS n, id FROM dispatch_department WHERE active;
CREATE TEMP TABLE bench_state (lo float, hi float, code varchar, open bool);
"""

INSERT = """
WITH r AS (
  SELECT g, random() AS u, random() AS v, random() AS w,
         1 + floor(random() * (SELECT count(*) FROM bench_area))::int AS an,
         1 + floor(random() * (SELECT count(*) FROM bench_cat))::int AS cn,
         1 + floor(random() * (SELECT count(*) FROM bench_dept))::int AS dn
  FROM generate_series(1, %(n)s) g
), s AS (
  SELECT r.*, st.code AS state, st.open,
         CASE WHEN st.open THEN now() - (r.v * interval '10 days')
              ELSE now() - (r.v * interval '365 days') END AS at,
         CASE WHEN st.open THEN now() + ((r.w * 8 - 3) * interval '1 day') END AS deadline
  FROM r JOIN bench_state st ON r.u >= st.lo AND r.u < st.hi
)
INSERT INTO cases_case (uuid, token, category_id, description, location, address, channel, attributes,
  reporter_name, reporter_phone, reporter_email, share_contact, area_id, grid_id, community_id, street_id,
  district_id, node_code, fallback, state_id, level, lead_department_id, step_started_at, warn_at, deadline,
  sweep_at, supervised, escalations, returns, returned_at, reported_at, filed_at, dispatched_at, closed_at,
  closed_on_time, updated_at, satisfaction, evaluation, version, is_open, light)
SELECT gen_random_uuid(), substr(md5(s.g::text || random()::text), 1, 16), c.id, 'bench issue',
  ST_SetSRID(ST_MakePoint(a.x + (s.w - 0.5) * 1e-4, a.y + (s.v - 0.5) * 1e-4), 4326), '', 'hotline', '{}',
  '', '', '', false, a.id, a.grid_id, a.community_id, a.street_id, a.district_id, a.code, false, s.state,
  CASE WHEN s.state IN ('awaiting_dispatch', 'dispatched', 'department_handling') THEN 4
       ELSE 1 + floor(s.w * 3)::int END,
  CASE WHEN s.state IN ('dispatched', 'department_handling') OR (NOT s.open AND s.w < 0.4) THEN d.id END,
  CASE WHEN s.open THEN s.at END,
  s.deadline - interval '12 hours', s.deadline,
  CASE WHEN s.open AND s.deadline > now() - interval '12 hours' THEN s.deadline - interval '12 hours'
       WHEN s.open AND s.deadline > now() THEN s.deadline END,
  s.open AND s.deadline <= now(), 0, (s.w < 0.05)::int, CASE WHEN s.w < 0.05 THEN s.at END,
  s.at, s.at + interval '1 hour',
  CASE WHEN s.state IN ('dispatched', 'department_handling') OR (NOT s.open AND s.w < 0.4)
       THEN s.at + interval '2 hours' END,
  CASE WHEN NOT s.open THEN s.at + (s.w * interval '10 days') END,
  CASE WHEN s.state = 'closed' THEN s.u < 0.75 END,
  now(), CASE WHEN s.state = 'closed' AND s.v < 0.6 THEN 1 + floor(s.w * 5)::int END, '', 0, s.open,
  CASE WHEN NOT s.open THEN '' WHEN s.deadline <= now() THEN 'red'
       WHEN s.deadline - interval '12 hours' <= now() THEN 'yellow' ELSE 'green' END
FROM s JOIN bench_area a ON a.n = s.an JOIN bench_cat c ON c.n = s.cn JOIN bench_dept d ON d.n = s.dn
"""


def generate(n: int) -> float:
    t = time.perf_counter()
    with psycopg.connect(
        host="127.0.0.1", port=PORT, user="gridgov", dbname=BENCH_DB, autocommit=True
    ) as conn:
        conn.execute(GENERATE)
        lo = 0.0
        for code, share, is_open in MIX:
            conn.execute("INSERT INTO bench_state VALUES (%s, %s, %s, %s)", [lo, lo + share, code, is_open])
            lo += share
        conn.execute("UPDATE bench_state SET hi = 1.0001 WHERE hi = (SELECT max(hi) FROM bench_state)")
        # Row triggers (is_open, the tally) are off for the bulk load: the insert sets is_open and the
        # light itself, and the tally is rebuilt from the rows afterwards in one statement.
        conn.execute("ALTER TABLE cases_case DISABLE TRIGGER USER")
        step = 100_000
        for start in range(0, n, step):
            conn.execute(INSERT, {"n": min(step, n - start)})
        conn.execute("ALTER TABLE cases_case ENABLE TRIGGER USER")
        conn.execute("VACUUM ANALYZE cases_case")
    return time.perf_counter() - t


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def run(args: argparse.Namespace) -> None:
    from django.db import connection
    from django.test import Client

    from gridgov.accounts.models import User
    from gridgov.cases import selectors, services, tally
    from gridgov.cases.models import Case

    t = time.perf_counter()
    tally.rebuild()
    print(f"tally rebuilt in {time.perf_counter() - t:.1f} s", end="; ")
    t = time.perf_counter()
    assert tally.check() == []
    print(f"a full recount agrees with it ({time.perf_counter() - t:.1f} s)")

    total = Case.objects.count()
    open_n = Case.objects.filter(state__kind="open").count()
    print(f"\n{total:,} issues, {open_n:,} open ({open_n / total:.0%}); {args.repeats} repeats per figure\n")
    users = {u.username: u for u in User.objects.filter(username__in=["coordinator", "street", "community"])}
    rows: list[tuple[str, list[float], str]] = []

    def baseline(query: str) -> Callable[[], Any]:
        def go() -> Any:
            with connection.cursor() as cur:
                cur.execute(query)
                return cur.fetchall()

        return go

    # The sweep: nothing due (the usual minute), then a backlog of `due` cases (the worker was down).
    rows.append(("sweep, nothing due", timed(lambda: services.sweep(), args.repeats), "≤ 1,000 ms"))
    rows.append(
        (
            "baseline: count due (index)",
            timed(baseline("SELECT count(*) FROM cases_case WHERE sweep_at <= now()"), args.repeats),
            "",
        )
    )
    backlog = []
    for _ in range(max(3, args.repeats // 4)):
        # A fresh backlog each time: grid-level cases in handling whose deadline passed long ago.
        ids = list(
            Case.objects.filter(state_id="handling", sweep_at__isnull=False)
            .order_by("?")
            .values_list("pk", flat=True)[: args.due]
        )
        past = "2000-01-01T00:00:00Z"
        Case.objects.filter(pk__in=ids).update(sweep_at=past, deadline=past, warn_at=past, level=1)
        t = time.perf_counter()
        result = services.sweep()
        backlog.append((time.perf_counter() - t) * 1000)
        assert result.touched >= len(ids), (result, len(ids))
    rows.append((f"sweep, {args.due:,} due", backlog, "≤ 1,000 ms"))

    client = Client()

    def logged(user: str, url: str) -> Callable[[], Any]:
        client.force_login(users[user])

        def go() -> Any:
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code, r.content[:300])
            return r

        return go

    rows.append(
        (
            "console API (coordinator, page of 50)",
            timed(logged("coordinator", "/api/v1/cases/console/"), args.repeats),
            "p95 ≤ 50 ms",
        )
    )
    rows.append(
        (
            "console selector only",
            timed(lambda: list(selectors.console(users["coordinator"])[:50]), args.repeats),
            "",
        )
    )
    for who in ("coordinator", "street", "community"):
        rows.append(
            (
                f"monitoring API ({who})",
                timed(logged(who, "/api/v1/cases/monitoring/"), args.repeats),
                "p95 ≤ 50 ms",
            )
        )
    rows.append(
        (
            "baseline: count open (bare SQL)",
            timed(
                baseline(
                    "SELECT count(*) FROM cases_case c JOIN cases_casestate s ON s.code = c.state_id "
                    "WHERE s.kind = 'open'"
                ),
                args.repeats,
            ),
            "",
        )
    )
    rows.append(
        (
            "case list API (coordinator, page of 50)",
            timed(logged("coordinator", "/api/v1/cases/?open=1"), args.repeats),
            "",
        )
    )
    anon = Client()

    def open311() -> Any:
        r = anon.get("/open311/v2/requests.json")
        assert r.status_code == 200, r.content[:300]
        return r

    rows.append(("Open311 requests.json (90 days, 200 rows)", timed(open311, args.repeats), "p95 ≤ 50 ms"))

    def open311_max() -> Any:
        r = anon.get("/open311/v2/requests.json?page_size=1000")
        assert r.status_code == 200, r.content[:300]
        return r

    rows.append(("Open311 requests.json (1,000 rows)", timed(open311_max, args.repeats), ""))

    print(f"| {'measure':44} | {'median ms':>9} | {'p95 ms':>8} | target |")
    print(f"|{'-' * 46}|{'-' * 11}|{'-' * 10}|--------|")
    for name, xs, target in rows:
        print(f"| {name:44} | {statistics.median(xs):9.1f} | {p95(xs):8.1f} | {target} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=500_000)
    p.add_argument("--due", type=int, default=1_000, help="backlog of due issues for the second sweep figure")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    with base.throwaway_db(setup=False):
        print(f"generating {args.cases:,} issues …", end=" ", flush=True)
        print(f"{generate(args.cases):.1f} s")
        import django

        django.setup()
        run(args)


if __name__ == "__main__":
    main()
