"""Visit rollups at city scale: full recompute, agreement, upkeep cost, compliance reads.

    .venv/bin/python bench/visits_scale.py          # 1,000,000 households, 5,000,000 visits
    .venv/bin/python bench/visits_scale.py --households 200000 --visits 1000000

The city: the demo city copied side by side until it has `--households` (each copy gets its own
district code, responsibility areas and members; buildings and grids are shared with the original, which
the rollups do not read). The copies are written in SQL with triggers and foreign-key checks switched off
for the session (`session_replication_role = replica`; the rows are copies of rows that passed them).
`--visits` visits over the past year for random households (3% flagged, pending) are generated in SQL,
into the fully indexed table; then `VACUUM ANALYZE`.

Measured, in order:

1. **Initial build and full recompute**: `recompute.rebuild()` twice. The first writes the whole state (the
   city's visits were written without upkeep); the second is the full recompute of the target: every
   table derived again from every household and visit (policy states; area rollups from the visits
   counted per household and period; totals; node rollups and totals) and compared with the kept state,
   writing only rows that differ (none).
2. **Upkeep cost**: batches of 1,000 visits to random households through `services.record_visits` as the
   administrator, each in a transaction rolled back afterwards, alternately with the rollups' upkeep and
   without it (`services.UPKEEP = False`: the batch's statement less the upkeep, `services.insert_sql(
   upkeep=False)`; the resolving statement without the household locks the upkeep needs,
   `services.RESOLVE_LOCK`, and without reading each household's policy state, `rollups.STATE`; both sides
   read each household's latest counted visit in the batch's statement, which the repeat check needs too):
   medians, and the share of insert speed the upkeep costs; then the same with each batch stored both ways
   (after a first run of it that reads its pages in: the upkeep's own work, without the swing of pages read
   from disk between batches; the runs without the upkeep 100 and 200 days earlier, so that the counts of the
   run with it meet no rolled-back visits); then a member's batch (20 visits to one area's households) the
   same way, and other ways on batches of their own (the figures above unchanged): the household locks
   counted in the baseline (`services.BASELINE_LOCKS`: they also make the repeat check exact); the
   statements kept prepared across the rollbacks as a production connection keeps them across its commits
   (`kept_prepared`; psycopg drops them on ROLLBACK, so every batch above is parsed and planned afresh); a
   random batch of 1,000 kept prepared. The verdicts are on the statements kept prepared (a production
   connection prepares them once and keeps them for its `conn_max_age` of 60 s): the figures with them
   prepared afresh charge the upkeep's parsing and planning (~0.2–0.3 ms) to every batch.
3. **Incremental upkeep, then agreement**: `--batches` batches of 1,000 committed the same way (with
   upkeep) and the flagged visits among them approved (`services.review`), then `recompute.differences()`:
   rows in which the kept state and a rebuild differ (must be 0), with its wall time.
4. **Compliance** from the rollups (`selectors.compliance_rollups`, what the API answers) for the city
   administrator at each level and for the demo's community staff and grid leader: medians of 7. Pages of
   50 for the city administrator (`selectors.compliance_page`: page, count and total) by grid, area and
   member: worst first (page 1, page 100, the middle page) and in key order (page 1); then again with a
   batch of 1,000 visits of this month committed and its deltas pending (not folded).

Every write goes to a database made for the run (CREATE DATABASE gridgov_bench_scale TEMPLATE gridgov),
dropped at the end, also on failure (`--keep` keeps it and reuses it: the city is then not made again).

Quick pairs on a city kept with `--keep` (nothing else measured; `--tree`: another checkout's code, e.g.
main's, on the same database, for figures back to back):

    .venv/bin/python bench/visits_scale.py --keep --recompute-only 5                  # rebuild() x 5
    .venv/bin/python bench/visits_scale.py --keep --recompute-only 0 --what pending --seed 601
    .venv/bin/python bench/visits_scale.py --keep --recompute-only 5 --what differences --tree /work/main

`--what rebuild` (the full recompute; it folds pending deltas first), `differences` (nothing written: with the
deltas left pending by `--what pending`, which commits `--batches` batches of 1,000 and folds nothing). Each
after one untimed call (a first call in a new process is slower); one line of JSON with the seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import visits as base  # noqa: E402  (bench/visits.py: database set-up)

base.BENCH_DB = os.environ.get("GRIDGOV_BENCH_SCALE_DB", "gridgov_bench_scale")
OFFSET = 10_000_000  # ids of copy k: original id + k * OFFSET
TARGETS = {"recompute_s": 2.0, "upkeep_share": 0.10, "city_ms": 10.0}
KEPT_LABEL = "statements kept prepared across the rollbacks"


def sql(statement: str, params: Any = None) -> Any:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def grow_city(households: int) -> int:
    """Copies of the demo city's areas, members and households until there are `households`."""
    (base_n,) = sql("SELECT count(*) FROM households_household WHERE code !~ '^9'")[0]
    copies = math.ceil(households / base_n) - 1
    (have,) = sql("SELECT count(*) FROM households_household")[0]
    if have >= households:
        return copies
    sql("SET session_replication_role = replica")
    try:
        for k in range(1, copies + 1):
            off, district = k * OFFSET, str(900000 + k)
            sql(
                """INSERT INTO teams_member (id, created_at, updated_at, name, phone, member_type, active,
                                             synthetic, community_id, user_id)
                   SELECT id + %s, created_at, updated_at, name, phone, member_type, active, synthetic,
                          community_id, NULL FROM teams_member WHERE id < %s""",
                [off, OFFSET],
            )
            sql(
                """INSERT INTO geo_responsibilityarea (id, created_at, updated_at, code, name, name_en,
                                                       synthetic, boundary, grid_id, member_id)
                   SELECT id + %s, created_at, updated_at, %s || substr(code, 7), name, name_en, synthetic,
                          boundary, grid_id, member_id + %s FROM geo_responsibilityarea WHERE id < %s""",
                [off, district, off, OFFSET],
            )
            sql(
                """INSERT INTO households_household (id, created_at, updated_at, code, unit, floor, room,
                       address, point, residents, occupancy, key_groups, head_name, phone, id_number, active,
                       synthetic, area_id, building_id, community_id)
                   SELECT id + %s, created_at, updated_at, %s || substr(code, 7), unit, floor, room, address,
                          point, residents, occupancy, key_groups, head_name, phone, id_number, active,
                          synthetic, area_id + %s, building_id, community_id
                   FROM households_household WHERE id < %s""",
                [off, district, off, OFFSET],
            )
            print(f"  copy {k}/{copies}", file=sys.stderr)
    finally:
        sql("SET session_replication_role = DEFAULT")
    return copies


def fill_visits(n: int, chunk: int = 500_000) -> None:
    sql(
        """CREATE TEMPORARY TABLE hh AS
           SELECT row_number() OVER (ORDER BY h.id) AS rn, h.id, a.member_id, h.point
           FROM households_household h LEFT JOIN geo_responsibilityarea a ON a.id = h.area_id
           WHERE h.active"""
    )
    sql("CREATE UNIQUE INDEX ON hh (rn)")
    (count,) = sql("SELECT count(*) FROM hh")[0]
    done = 0
    while done < n:
        size = min(chunk, n - done)
        sql(
            """INSERT INTO visits_visit (id, household_id, member_id, user_id, channel, location, accuracy_m,
                   distance_m, device_time, received_at, notes, findings, photo, issue_ref, flags, review,
                   review_reason, counted)
               SELECT gen_random_uuid(), hh.id, hh.member_id, NULL, 'in_person',
                      ST_Translate(hh.point, (random() - 0.5) * 1e-4, (random() - 0.5) * 1e-4),
                      3 + random() * 27, random() * 40, g.t, g.t + interval '1 hour', '', '{}', '', NULL,
                      CASE WHEN g.f THEN '{poor_accuracy}'::varchar[] ELSE '{}' END,
                      CASE WHEN g.f THEN 'pending' ELSE 'none' END, '', NOT g.f
               FROM (SELECT 1 + floor(random() * %s)::bigint AS rn,
                            now() - interval '2 hours' - random() * interval '365 days' AS t,
                            random() < 0.03 AS f
                     FROM generate_series(1, %s)) g
               JOIN hh USING (rn)""",
            [count, size],
        )
        done += size
        print(f"  visits {done:,}/{n:,}", file=sys.stderr)
    sql("DROP TABLE hh")


def batch(rng: random.Random, city: list[tuple[str, float, float]], size: int, when: datetime) -> list[dict]:
    """`size` valid visits to random households, a minute apart, ending at `when`."""
    items = []
    for i in range(size):
        code, x, y = city[rng.randrange(len(city))]
        t = when - timedelta(minutes=size - i)
        items.append(
            {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "household": code,
                "channel": "in_person",
                "lon": x + rng.gauss(0, 5e-5),
                "lat": y + rng.gauss(0, 5e-5),
                "accuracy": rng.randint(3, 30),
                "device_time": t.isoformat(),
            }
        )
    return items


def member_batch(
    rng: random.Random, areas: list[list[tuple[str, float, float]]], when: datetime
) -> list[dict]:
    """A member's batch: a visit to each of (up to 20) households of one responsibility area (their own)."""
    own = areas[rng.randrange(len(areas))]
    picked = rng.sample(own, min(20, len(own)))
    # batch() picks with replacement: one household at a time, so that none is visited twice (a repeat)
    return [batch(rng, [h], 1, when - timedelta(minutes=len(picked) - i))[0] for i, h in enumerate(picked)]


@contextlib.contextmanager
def kept_prepared() -> Any:
    """While this holds, the connection keeps its prepared statements across the bench's rollbacks, as a
    production connection keeps them across its committed batches (`core.prepared`: prepared once per
    connection, then run with a plan PostgreSQL may keep, generic after the fifth run). psycopg forgets
    them, and has the server deallocate them, on every ROLLBACK, in case the transaction changed the
    schema; nothing here does, and PostgreSQL keeps a prepared statement across a rollback."""
    from django.db import connection

    connection.ensure_connection()
    manager = connection.connection._prepared  # (psycopg's, per connection)
    manager.clear = lambda: False
    try:
        yield
    finally:
        del manager.clear


def _store(items: list[dict], upkeep: bool, admin: Any, expect: int, locks: bool = False) -> float:
    """Seconds `record_visits` takes on `items`, with the upkeep or without (rolled back); `locks`: the side
    without the upkeep still locks the households (`services.BASELINE_LOCKS`)."""
    from django.db import transaction

    from gridgov.visits import services

    # Without the upkeep: the same statements less its part, no household locks and no policy states read
    # (`services.UPKEEP`).
    services.UPKEEP = upkeep
    if locks:
        services.BASELINE_LOCKS = True
    try:
        with transaction.atomic():
            t = time.perf_counter()
            results = services.record_visits(items, actor=admin)
            took = time.perf_counter() - t
            transaction.set_rollback(True)
    finally:
        services.UPKEEP = True
        if locks:
            services.BASELINE_LOCKS = False
    assert sum(r.status == "created" for r in results) >= expect, results[:3]
    return took


def upkeep_share(
    make: Any, reps: int, admin: Any, expect: int, locks: bool = False, warm: int = 1
) -> tuple[float, float, float]:
    """Median ms of `record_visits` on batches from `make(k)` (its items, or its items and the actor storing
    them instead of `admin`), with and without the upkeep (alternately, each rolled back), after `warm`
    batches of each; and the upkeep's share of the time with it. `locks`: see `_store`."""
    with_upkeep: list[float] = []
    without: list[float] = []
    for k in range(2 * reps + 2 * warm):
        upkeep = k % 2 == 0
        made = make(k)
        items, actor = made if isinstance(made, tuple) else (made, admin)
        took = _store(items, upkeep, actor, expect, locks)
        if k >= 2 * warm:  # the first of each: warm-up
            (with_upkeep if upkeep else without).append(took)
    ms_with, ms_without = statistics.median(with_upkeep) * 1000, statistics.median(without) * 1000
    return ms_with, ms_without, (ms_with - ms_without) / ms_with


def fresh_ids(items: list[dict]) -> list[dict]:
    """The same visits with ids of their own (committed batches: a seed run again on a database kept with
    `--keep` would otherwise find them stored already, and store nothing)."""
    return [dict(it, id=str(uuid.uuid4())) for it in items]


def _earlier(items: list[dict], days: int) -> list[dict]:
    """The same visits, `days` earlier."""
    return [
        dict(it, device_time=(datetime.fromisoformat(it["device_time"]) - timedelta(days=days)).isoformat())
        for it in items
    ]


def upkeep_paired(make: Any, reps: int, admin: Any, expect: int) -> tuple[float, float, float]:
    """As `upkeep_share`, but each batch stored both ways (in turn in either order), after a first run
    without the upkeep that reads its households' pages in: the upkeep's own work, without the swing of
    pages read from disk from one batch of random households to the next. The runs without the upkeep
    are 100 and 200 days earlier (in other periods), so that the run with it finds no entries of the
    others' rolled-back visits in the ranges its counts scan."""
    with_upkeep: list[float] = []
    without: list[float] = []
    for k in range(reps):
        items = make(k)
        _store(_earlier(items, 200), False, admin, expect)
        for upkeep in (True, False) if k % 2 else (False, True):
            took = _store(items if upkeep else _earlier(items, 100), upkeep, admin, expect)
            (with_upkeep if upkeep else without).append(took)
    ms_with, ms_without = statistics.median(with_upkeep) * 1000, statistics.median(without) * 1000
    return ms_with, ms_without, (ms_with - ms_without) / ms_with


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from gridgov.accounts.models import User
    from gridgov.visits import dashboards, recompute, rollups, selectors, services

    call_command("migrate", verbosity=0)
    baseline_locks = hasattr(services, "BASELINE_LOCKS")  # (not in trees before it)
    t0 = time.perf_counter()
    copies = grow_city(args.households)
    (have_visits,) = sql("SELECT count(*) FROM visits_visit")[0]
    if have_visits < args.visits:
        fill_visits(args.visits - have_visits)
    sql("VACUUM ANALYZE")
    made = time.perf_counter() - t0
    (n_households,) = sql("SELECT count(*) FROM households_household WHERE active")[0]
    (n_visits,) = sql("SELECT count(*) FROM visits_visit")[0]
    (n_areas,) = sql("SELECT count(*) FROM geo_responsibilityarea")[0]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"# Visit rollups at city scale — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    print(f"- nproc {len(os.sched_getaffinity(0))}, load average {load}")
    print(
        f"- `{base.BENCH_DB}`: the demo city and {copies} copies: {n_households:,} active households, "
        f"{n_areas:,} responsibility areas, {n_visits:,} visits (made in {made:.0f} s)\n"
    )

    # 1. Initial build (the city's visits were written without upkeep), then the full recompute.
    t0 = time.perf_counter()
    built = recompute.rebuild()
    initial = time.perf_counter() - t0
    sql("VACUUM ANALYZE households_household")  # (where the policy states are kept)
    sql("VACUUM ANALYZE visits_areaperiodrollup, visits_areapolicytotal")
    t0 = time.perf_counter()
    repaired = recompute.rebuild()
    recompute_s = time.perf_counter() - t0

    # 2. Upkeep cost: the same batches with and without the upkeep, rolled back.
    admin = User.objects.get(username="admin")
    city = sql("SELECT code, ST_X(point), ST_Y(point) FROM households_household WHERE active")
    rng = random.Random(args.seed)
    when = timezone.now() - timedelta(hours=1)
    ms_with, ms_without, share = upkeep_share(
        lambda k: batch(rng, city, 1000, when - timedelta(days=2 * k)), args.reps, admin, 990
    )
    p_with, p_without, p_share = upkeep_paired(
        lambda k: batch(rng, city, 1000, when - timedelta(days=2 * k + 1)), args.reps, admin, 990
    )
    # A member's batch: 20 visits to the households of one area (households with an area only).
    by_area: dict[int, list[tuple[str, float, float]]] = {}
    for area, code, x, y in sql(
        "SELECT area_id, code, ST_X(point), ST_Y(point) FROM households_household "
        "WHERE active AND area_id IS NOT NULL"
    ):
        by_area.setdefault(area, []).append((code, x, y))
    areas = [own for own in by_area.values() if len(own) >= 10]
    m_with, m_without, m_share = upkeep_share(
        lambda k: member_batch(rng, areas, when - timedelta(days=2 * k)), 5 * args.reps, admin, 10
    )
    # The same measured other ways (batches of their own generator: the ones above and below stay as they
    # were): the household locks counted in the baseline (they also make the repeat check exact); the
    # statements kept prepared, as a production connection keeps them (`kept_prepared`: warmed past the
    # plan cache's five custom plans). The verdicts are on the statements kept prepared: what a batch costs
    # on a production connection (kept `conn_max_age` = 60 s across its committed batches).
    other = random.Random(args.seed + 1_000)
    member_ways: list[tuple[str, tuple[float, float, float] | None]] = []

    def own_batch(k: int) -> list[dict]:
        return member_batch(other, areas, when - timedelta(days=2 * k))

    member_ways.append(
        (
            "the household locks counted in the baseline (`services.BASELINE_LOCKS`)",
            upkeep_share(own_batch, 5 * args.reps, admin, 10, locks=True) if baseline_locks else None,
        )
    )
    with kept_prepared():
        member_ways.append(
            (
                KEPT_LABEL,
                upkeep_share(own_batch, 5 * args.reps, admin, 10, warm=6),
            )
        )
        member_ways.append(
            (
                "statements kept prepared, the household locks counted in the baseline",
                upkeep_share(own_batch, 5 * args.reps, admin, 10, locks=True, warm=6)
                if baseline_locks
                else None,
            )
        )
        r_kept = upkeep_share(
            lambda k: batch(other, city, 1000, when - timedelta(days=2 * k)), args.reps, admin, 990, warm=6
        )

    # 3. Committed batches with upkeep, approvals, then agreement with a rebuild.
    kept = []
    for k in range(args.batches):
        items = fresh_ids(batch(rng, city, 1000, when - timedelta(days=400 + 2 * k)))
        t = time.perf_counter()
        services.record_visits(items, actor=admin)
        kept.append(time.perf_counter() - t)
    flagged = list(
        services.Visit.objects.filter(review="pending", user=admin).values_list("pk", flat=True)[:200]
    )
    for pk in flagged:
        services.review(visit=services.Visit(pk=pk), approve=True, reason="", actor=admin)
    t0 = time.perf_counter()
    differ = recompute.differences()
    check_s = time.perf_counter() - t0

    # 4. Compliance from the rollups.
    day = timezone.localdate()
    users = {u.username: u for u in User.objects.filter(username__in=["admin", "community", "leader"])}
    cases = [("admin", lv) for lv in ("street", "community", "grid", "area", "member")]
    cases += [("community", "grid"), ("community", "member"), ("leader", "grid"), ("leader", "member")]
    reads = []
    for name, level in cases:
        selectors.compliance_rollups(users[name], level, day)  # warm-up
        ts = []
        for _ in range(7):
            t = time.perf_counter()
            rows = selectors.compliance_rollups(users[name], level, day)
            ts.append(time.perf_counter() - t)
        reads.append((name, level, len(rows), statistics.median(ts) * 1000))

    # Pages (what `?order=…&page=…&page_size=50` answers): the page, the row count and the scope's total;
    # worst first: the first page, page 100 and the middle page; in key order: the first page.
    def page_reads(label: str) -> None:
        for level in ("grid", "area", "member"):
            count = dashboards.dashboard_count(level)
            whole = {order: dashboards.dashboard(level, day, order=order) for order in ("worst", "key")}
            for order, page in (("worst", 1), ("worst", 100), ("worst", count // 100 + 1), ("key", 1)):
                ts = []
                for _ in range(8):
                    t = time.perf_counter()
                    rows, n, _total = selectors.compliance_page(users["admin"], level, day, order, page, 50)
                    ts.append(time.perf_counter() - t)
                exact = rows == whole[order][(page - 1) * 50 : page * 50]  # the full sort's slice
                pages.append((label, level, order, page, n, statistics.median(ts[1:]) * 1000, exact))

    from gridgov.visits.models import RollupDelta

    pages: list[tuple] = []
    page_reads(f"{RollupDelta.objects.count():,} past deltas pending")
    # A batch of this month's visits committed (its deltas pending: rows a page must look past), the
    # pages again.
    services.record_visits(fresh_ids(batch(rng, city, 1000, when)), actor=admin)
    page_reads(f"+ a batch of 1,000 visits this month pending ({RollupDelta.objects.count():,} deltas)")
    # Then the fold of the deltas the committed batches left pending.
    pending = RollupDelta.objects.count()
    t0 = time.perf_counter()
    folded = rollups.fold()
    fold_s = time.perf_counter() - t0
    # 5. A household edited in the admin (key groups changed): the save and its rollups refresh (the
    # household's areas, its communities' node rows, the dashboard rows; batches wait meanwhile), rolled
    # back; random households.
    from gridgov.households.models import Household

    edits = []
    for hid in rng.sample([h for (h,) in sql("SELECT id FROM households_household WHERE active")], 20):
        with transaction.atomic():
            household = Household.objects.get(pk=hid)
            household.key_groups = [] if household.key_groups else ["elderly_alone"]
            t = time.perf_counter()
            household.save()
            edits.append(time.perf_counter() - t)
            transaction.set_rollback(True)
    connection.close()

    def verdict(ok: bool) -> str:
        return "**meets**" if ok else "**misses**"

    print("| measurement | figure | target | verdict |\n| --- | --- | --- | --- |")
    print(
        f"| initial build (`recompute.rebuild()` writing {sum(built.values()):,} rows: {n_households:,} "
        f"states, area and node rollups and totals) | {initial:.0f} s | | |"
    )
    print(
        f"| full recompute (`recompute.rebuild()` from {n_visits:,} visits and every household, compared "
        f"with the kept state; {sum(repaired.values())} rows repaired) | {recompute_s:.1f} s | "
        f"≤ {TARGETS['recompute_s']:g} s | {verdict(recompute_s <= TARGETS['recompute_s'])} |"
    )
    print(
        f"| sync of 1,000 visits (`record_visits`, admin), median of {args.reps}: with upkeep / without | "
        f"{ms_with:.0f} ms / {ms_without:.0f} ms | | |"
    )
    print(f"| upkeep's share of the insert time (statements prepared afresh each batch) | {share:.0%} | | |")
    print(
        f"| the same, each batch stored both ways after a run that reads its pages in, median of "
        f"{args.reps}: with / without (share) | {p_with:.0f} ms / {p_without:.0f} ms ({p_share:.0%}) | | |"
    )
    print(
        f"| the same, statements kept prepared across the rollbacks as a production connection keeps them, "
        f"median of {args.reps}: with / without | {r_kept[0]:.0f} ms / {r_kept[1]:.0f} ms | | |"
    )
    print(
        f"| **upkeep's share of the insert time** (statements kept prepared) | {r_kept[2]:.0%} | "
        f"≤ {TARGETS['upkeep_share']:.0%} | {verdict(r_kept[2] <= TARGETS['upkeep_share'])} |"
    )
    print(
        f"| a member's batch (20 visits to one area's households), median of {5 * args.reps}: with upkeep / "
        f"without (share; statements prepared afresh each batch) | {m_with:.1f} ms / {m_without:.1f} ms "
        f"({m_share:.0%}) | | |"
    )
    m_kept = None
    for label, way in member_ways:
        figures = "n/a (this tree has no `services.BASELINE_LOCKS`)"
        if way is not None:
            figures = f"{way[0]:.1f} ms / {way[1]:.1f} ms ({way[2]:.0%})"
            if label == KEPT_LABEL:
                m_kept = way[2]
        way_of = f"a member's batch, {label}, median of {5 * args.reps}: with / without (share)"
        print(f"| {way_of} | {figures} | | |")
    if m_kept is not None:
        print(
            f"| **upkeep's share, a member's batch** (statements kept prepared) | {m_kept:.0%} | "
            f"≤ {TARGETS['upkeep_share']:.0%} | {verdict(m_kept <= TARGETS['upkeep_share'])} |"
        )
    print(
        f"| {args.batches} committed batches of 1,000 + {len(flagged)} approvals, then rows differing from "
        f"a rebuild (`recompute.differences()`, {check_s:.1f} s) | {sum(differ.values())} ({differ}) | 0 | "
        f"{verdict(not any(differ.values()))} |"
    )
    if kept:
        print(f"| committed batch of 1,000, median | {statistics.median(kept) * 1000:.0f} ms | | |")
    print(
        f"| fold of the deltas left by the committed batches ({pending:,} rows pending, {folded:,} folded) "
        f"| {fold_s * 1000:.0f} ms | | |"
    )
    print(
        f"| a household edited (`save()` with its rollups refresh, rolled back), median of {len(edits)} "
        f"| {statistics.median(edits) * 1000:.0f} ms | | |"
    )
    print(
        f"\nCompliance from the rollups with the committed batches' {pending:,} deltas pending "
        "(`selectors.compliance_rollups`, median of 7):\n"
    )
    print("| user (scope) | level | rows | ms |\n| --- | --- | --- | --- |")
    for name, level, n, ms in reads:
        print(f"| {name} | {level} | {n:,} | {ms:.1f} |")
    print(
        "\nA page of 50 for the city administrator (`selectors.compliance_page`: the page, the count of rows "
        "and the total; median of 7):\n"
    )
    print(
        "| deltas | level | order | page | rows in all | = the full sort's slice | ms |\n"
        "| --- | --- | --- | --- | --- | --- | --- |"
    )
    for label, level, order, page, n, ms, exact in pages:
        print(f"| {label} | {level} | {order} | {page} | {n:,} | {'yes' if exact else '**no**'} | {ms:.1f} |")


def recompute_only(args: argparse.Namespace) -> None:
    """`--recompute-only`: only the full recompute or the check, timed (see the module's docstring)."""
    import json

    if args.tree:  # (another checkout's gridgov, imported instead of this one's)
        sys.path.insert(0, str(Path(args.tree).resolve()))
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from gridgov.accounts.models import User
    from gridgov.visits import recompute, services
    from gridgov.visits.models import RollupDelta

    tree = str(Path(recompute.__file__).resolve().parents[2])
    if args.what == "pending":
        admin = User.objects.get(username="admin")
        city = sql("SELECT code, ST_X(point), ST_Y(point) FROM households_household WHERE active")
        rng, when = random.Random(args.seed), timezone.now() - timedelta(hours=1)
        for k in range(args.batches):
            items = fresh_ids(batch(rng, city, 1000, when - timedelta(days=2 * k)))
            services.record_visits(items, actor=admin)
    run_it = recompute.rebuild if args.what == "rebuild" else recompute.differences
    times, differ = [], {}
    for k in range(args.recompute_only + 1 if args.recompute_only else 0):
        t = time.perf_counter()
        differ = run_it()
        if k:  # (the first: untimed)
            times.append(round(time.perf_counter() - t, 3))
    out = {
        "tree": tree,
        "what": args.what,
        "seconds": times,
        "median": statistics.median(times) if times else None,
        "differ": sum(differ.values()),
        "pending": RollupDelta.objects.count(),
        "load": [round(v, 2) for v in os.getloadavg()],
    }
    connection.close()
    print(json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--households", type=int, default=1_000_000)
    p.add_argument("--visits", type=int, default=5_000_000)
    p.add_argument("--reps", type=int, default=15, help="timed batches with and without upkeep (default 15)")
    p.add_argument("--batches", type=int, default=10, help="committed batches before the check (default 10)")
    p.add_argument("--keep", action="store_true", help=f"reuse `{base.BENCH_DB}` if it exists, and keep it")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--recompute-only", type=int, metavar="N", help="with --keep: only N timed runs of --what (see above)"
    )
    p.add_argument("--what", choices=("rebuild", "differences", "pending"), default="rebuild")
    p.add_argument("--tree", help="with --recompute-only: the gridgov of this checkout (e.g. /work/main)")
    args = p.parse_args()
    if args.recompute_only is not None:
        if not args.keep:
            sys.exit("--recompute-only needs a city kept with --keep")
        with base.throwaway_db(True, setup=False):
            recompute_only(args)
        return
    with base.throwaway_db(args.keep, setup=False):  # (`run` sets Django up once the city is grown)
        run(args)


if __name__ == "__main__":
    main()
