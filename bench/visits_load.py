"""Many members syncing at once: every member of the demo city sends one batch of their visits.

    .venv/bin/python bench/visits_load.py                 # every member with households, 20 visits each
    .venv/bin/python bench/visits_load.py --workers 8 --members 600

The issue's target is 60,000 members each syncing 20 visits at once, done in ≤ 2 minutes (1,200,000
visits, 10,000 visits/s sustained). The demo city has about 1,600 members with households, so this
measures the sustained rate of a burst of all of them and extrapolates the time of 60,000 linearly
(the work per visit does not grow with the number of members: each batch touches only its own member's
households and rollup rows).

How: `--workers` processes, each serving its share of the members one request after another through
Django's own request handler (the test client: the whole middleware stack, session and user look-up,
DRF, the view; no HTTP parsing, no network) against one PostgreSQL, all on this machine. There is no
WSGI server in the project's requirements; a real deployment adds HTTP parsing per request and spreads
the work over more cores. Sessions are made before the clock starts; all workers start together.

Every write goes to a database made for the run (CREATE DATABASE gridgov_bench_load TEMPLATE gridgov),
dropped at the end, also on failure; the demo database is only read, as the template.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import visits as base  # noqa: E402  (bench/visits.py: database set-up and visit makers)

base.BENCH_DB = "gridgov_bench_load"
TARGET_MEMBERS, TARGET_VISITS, TARGET_SECONDS = 60_000, 20, 120.0


def member_users() -> list[tuple[int, int]]:
    """(user id, member id) of every member with households; members without an account get one."""
    from django.db import connection

    with connection.cursor() as cur:
        # An account per member that has none (the demo city gives accounts to a few): role member,
        # scoped to the member's community, no usable password.
        cur.execute(
            """
            INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email,
                                       is_staff, is_active, date_joined, role, scope_code)
            SELECT '!', false, 'load-member-' || m.id, '', '', '', false, true, now(), 'member', c.code
            FROM teams_member m JOIN geo_community c ON c.id = m.community_id
            WHERE m.user_id IS NULL AND m.active
              AND EXISTS (SELECT FROM geo_responsibilityarea a WHERE a.member_id = m.id)
            """
        )
        cur.execute(
            """
            UPDATE teams_member m SET user_id = u.id FROM accounts_user u
            WHERE m.user_id IS NULL AND u.username = 'load-member-' || m.id
            """
        )
        cur.execute(
            """
            SELECT m.user_id, m.id FROM teams_member m
            WHERE m.active AND m.user_id IS NOT NULL
              AND EXISTS (SELECT FROM households_household h JOIN geo_responsibilityarea a ON a.id = h.area_id
                          WHERE a.member_id = m.id AND h.active)
            ORDER BY m.id
            """
        )
        return cur.fetchall()


def worker(
    share: list[tuple[int, int]], per_member: int, seed: int, barrier: Any, out: Any, warmup: int
) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from gridgov.accounts.models import User
    from gridgov.households.models import Household

    rng, clock = random.Random(seed), base.Clock()
    users = {u.pk: u for u in User.objects.filter(pk__in=[u for u, _m in share])}
    requests = []
    for k, (uid, mid) in enumerate(share):
        own = base.households(Household.objects.filter(area__member_id=mid))
        times = clock.take(per_member, len(own))
        items = [base.api_item(own[i % len(own)], w, rng) for i, w in enumerate(times)]
        client = Client()
        client.force_login(users[uid])
        requests.append((client, json.dumps({"visits": items}), k < warmup))
    for client, body, warm in requests:  # warm-up: the first members of each worker, before the clock
        if warm:
            base.call(client, base.SYNC, body)
    connection.close()  # each worker opens its connection after the barrier, like a fresh server process
    barrier.wait()
    started = time.perf_counter()
    latencies, created, errors = [], 0, 0
    for client, body, warm in requests:
        if warm:
            continue
        t = time.perf_counter()
        r = base.call(client, base.SYNC, body)
        latencies.append(time.perf_counter() - t)
        created += r["created"]
        errors += r["errors"]
    out.put((started, time.perf_counter(), latencies, created, errors))


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from gridgov.visits import rollups

    call_command("migrate", verbosity=0)
    members = member_users()
    if args.members:
        members = members[: args.members]
    connections.close_all()
    shares = [members[w :: args.workers] for w in range(args.workers)]
    barrier, out = mp.Barrier(args.workers + 1), mp.Queue()
    procs = [
        mp.Process(target=worker, args=(s, args.visits, args.seed + w, barrier, out, args.warmup))
        for w, s in enumerate(shares)
    ]
    load0 = os.getloadavg()
    for p in procs:
        p.start()
    barrier.wait()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    start = min(r[0] for r in results)
    wall = max(r[1] for r in results) - start
    latencies = sorted(x for r in results for x in r[2])
    created, errors = sum(r[3] for r in results), sum(r[4] for r in results)
    timed_members = len(latencies)
    rate = created / wall
    # The rollups kept by all those concurrent batches must agree exactly with a rebuild.
    kept = rollups.snapshot()
    t0 = time.perf_counter()
    rollups.rebuild()
    rebuild_s = time.perf_counter() - t0
    agree = rollups.snapshot() == kept
    extrapolated = TARGET_MEMBERS * TARGET_VISITS / rate

    print(f"# Visits load benchmark — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC\n")
    load = ", ".join(f"{v:.2f}" for v in load0)
    print(f"- nproc {len(os.sched_getaffinity(0))}, load average at start {load}")
    print(f"- `{base.BENCH_DB}`: the demo city; {len(members):,} members with an account and households")
    print(
        f"- {args.workers} worker processes through Django's request handler (test client, no HTTP), one "
        f"PostgreSQL; {args.warmup} warm-up batch(es) per worker before the clock\n"
    )
    print("| members (timed) | visits each | visits created | errors | wall s | visits/s | batch p50 ms |"
          " batch p95 ms | rollups agree with a rebuild |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
    print(
        f"| {timed_members:,} | {args.visits} | {created:,} | {errors:,} | {wall:.1f} | {rate:,.0f} | "
        f"{p50:.1f} | {p95:.1f} | {'yes' if agree else '**no**'} (rebuild {rebuild_s:.1f} s) |\n"
    )
    verdict = "**meets**" if extrapolated <= TARGET_SECONDS else "**misses**"
    total, needed = TARGET_MEMBERS * TARGET_VISITS, TARGET_MEMBERS * TARGET_VISITS / TARGET_SECONDS
    print(
        f"Extrapolated to {TARGET_MEMBERS:,} members × {TARGET_VISITS} visits = {total:,} visits at "
        f"{rate:,.0f} visits/s: **{extrapolated:,.0f} s** (target ≤ {TARGET_SECONDS:.0f} s: {verdict}); "
        f"≤ {TARGET_SECONDS:.0f} s needs {needed:,.0f} visits/s, {needed / rate:.1f}× this machine."
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=4, help="client processes (default 4)")
    p.add_argument("--visits", type=int, default=20, help="visits per member (default 20)")
    p.add_argument("--members", type=int, default=0, help="at most this many members (default all)")
    p.add_argument("--warmup", type=int, default=1, help="untimed batches per worker first (default 1)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    base.create_db(keep=False)
    try:
        os.environ["DATABASE_URL"] = f"postgis://gridgov@127.0.0.1:{base.PORT}/{base.BENCH_DB}"
        mp.set_start_method("fork")
        run(args)
    finally:
        base.drop_db()


if __name__ == "__main__":
    main()
