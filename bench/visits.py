"""Visits benchmark: batch sync and single visits through the API, compliance; raw COPY is the baseline.

    .venv/bin/python bench/visits.py               # 200,000 visits put in the table first
    .venv/bin/python bench/visits.py --quick       # 20,000 visits, fewer repeats
    .venv/bin/python bench/visits.py --visits 1000000 --keep

Every write goes to a database made for the run (CREATE DATABASE gridgov_bench TEMPLATE gridgov), dropped
at the end, also on failure; the demo database is only read, as the template.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import itertools
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.bench")

PORT = os.environ.get("GRIDGOV_PGPORT", "54329")
BENCH_DB, TEMPLATE_DB = os.environ.get("GRIDGOV_BENCH_DB", "gridgov_bench"), "gridgov"
DAY = timedelta(hours=25)  # > the 24 h repeat window: the run's own visits to a household are never repeats
Hh = tuple[int, str, float, float, int | None, int | None]  # id, code, lon, lat, member id, user id
Row = tuple[Any, ...]
SYNC = "/api/v1/visits/sync/"
USERS = ("member", "leader", "community", "admin")  # demo users (make demo)


def maintenance() -> psycopg.Connection[Any]:
    return psycopg.connect(host="127.0.0.1", port=PORT, user="gridgov", dbname="postgres", autocommit=True)


def create_db(keep: bool) -> None:
    with maintenance() as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone():
            if keep:
                return
            sys.exit(
                f"database `{BENCH_DB}` exists (left by --keep, or by a run that was killed): drop it with "
                f"`psql -h 127.0.0.1 -p {PORT} -U gridgov postgres -c 'DROP DATABASE {BENCH_DB}'`, "
                "or pass --keep to reuse it"
            )
        try:
            ids = sql.Identifier(BENCH_DB), sql.Identifier(TEMPLATE_DB)
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(*ids))
        except psycopg.errors.ObjectInUse:
            sys.exit(f"`{TEMPLATE_DB}` has other sessions (make run? a shell?): a template must have none")


def drop_db() -> None:
    from django.apps import apps
    from django.db import connections

    if apps.ready:
        connections.close_all()
    with maintenance() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))


@contextlib.contextmanager
def throwaway_db(keep: bool = False, setup: bool = True) -> Iterator[None]:
    """The bench database made from the demo city (`create_db`) with Django pointed at it (and set up, with
    `setup`), dropped afterwards unless `keep`, also on failure."""
    create_db(keep)
    try:
        os.environ["DATABASE_URL"] = f"postgis://gridgov@127.0.0.1:{PORT}/{BENCH_DB}"
        if setup:
            import django

            django.setup()
        yield
    finally:
        if not keep:
            drop_db()


def backend_cpu(pid: int) -> float:
    """CPU seconds used so far by the PostgreSQL backend serving Django (NaN if /proc is not readable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timer:
    """Wall time, this process's CPU and the database backend's CPU of each call."""

    def __init__(self, pid: int) -> None:
        self.pid, self.wall, self.cpu, self.db = pid, list[float](), list[float](), list[float]()

    def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        db0, c0, w0 = backend_cpu(self.pid), time.process_time(), time.perf_counter()
        out = fn(*args)
        self.wall.append(time.perf_counter() - w0)
        self.cpu.append(time.process_time() - c0)
        self.db.append(backend_cpu(self.pid) - db0)
        return out

    def ms(self) -> float:
        return statistics.median(self.wall) * 1000

    def cpu_ms(self) -> float:
        """Mean CPU ms per call, Django and PostgreSQL together (ticks are 10 ms: totals, not medians)."""
        return (sum(self.cpu) + sum(self.db)) / len(self.wall) * 1000


class Clock:
    """Device times going back from now: one block per batch, a day apart."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC) - timedelta(minutes=1)

    def take(self, n: int, households: int) -> list[datetime]:
        step = max(timedelta(minutes=2), DAY / households)  # the same household comes back after > 24 h
        self.t -= step * n + DAY
        return [self.t + step * i for i in range(n)]


def households(qs: Any) -> list[Hh]:
    fields = ("id", "code", "point", "area__member_id", "area__member__user_id")
    return [
        (r["id"], r["code"], r["point"].x, r["point"].y, r["area__member_id"], r["area__member__user_id"])
        for r in qs.filter(active=True).order_by("id").values(*fields)
    ]


def copy_row(h: Hh, when: datetime, now: datetime, rng: random.Random) -> Row:
    """One visits_visit row as record_visits writes it (3% flagged, awaiting review)."""
    hid, _code, x, y, member_id, user_id = h
    flagged = rng.random() < 0.03
    point = f"SRID=4326;POINT({x + rng.gauss(0, 5e-5)!r} {y + rng.gauss(0, 5e-5)!r})"
    received = min(now, when + timedelta(minutes=rng.randint(1, 600)))
    uid = uuid.UUID(int=rng.getrandbits(128), version=4)
    flags, review = (["poor_accuracy"], "pending") if flagged else ([], "none")
    head = (uid, hid, member_id, user_id, "in_person", point, rng.uniform(3, 30), rng.uniform(0, 40), when)
    return (*head, received, "", [], "", None, flags, review, "", not flagged)


def copy_rows(rows: Iterable[Row]) -> None:
    from django.db import connection, transaction

    from gridgov.visits.services import COPY_COLUMNS

    copy = f"COPY visits_visit ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cur, cur.cursor.copy(copy) as cp:
        for row in rows:
            cp.write_row(row)


def api_item(h: Hh, when: datetime, rng: random.Random) -> dict[str, Any]:
    findings = rng.sample(["opinion", "service_request", "policy_explained"], k=rng.choice([0, 0, 1, 2]))
    uid, dx, dy = uuid.UUID(int=rng.getrandbits(128), version=4), rng.gauss(0, 5e-5), rng.gauss(0, 5e-5)
    item = {"id": str(uid), "household": h[1], "channel": "in_person", "device_time": when.isoformat()}
    return item | {"lon": h[2] + dx, "lat": h[3] + dy, "accuracy": rng.randint(3, 30), "findings": findings}


def call(client: Any, url: str, body: str | None = None, expect: int = 200) -> dict[str, Any]:
    r = client.get(url) if body is None else client.post(url, body, content_type="application/json")
    if r.status_code != expect:
        raise RuntimeError(f"{url}: HTTP {r.status_code} {r.content[:300]!r}")
    return r.json()


def table(head: list[str], rows: list[list[Any]]) -> None:
    def cell(v: Any) -> str:
        return f"{v:,.1f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)

    print("| " + " | ".join(head) + " |\n|" + " --- |" * len(head))
    for r in rows:
        print("| " + " | ".join(cell(v) for v in r) + " |")
    print()


def verdict(ok: bool) -> str:
    return "**meets**" if ok else "**misses**"


def header(reps: int, n_households: int) -> None:
    sha = hashlib.sha1(b"".join(p.read_bytes() for p in sorted((ROOT / "gridgov/visits").glob("*.py"))))
    git = ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]
    head = subprocess.run(git, capture_output=True, text=True).stdout.strip() or "?"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"# Visits benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n")
    print(f"- nproc {len(os.sched_getaffinity(0))}, load average {load}; Python {platform.python_version()}")
    print(f"- gridgov {head} + working tree; gridgov/visits/*.py sha1 {sha.hexdigest()[:10]}")
    print(
        f"- `{BENCH_DB}`: the demo city, {n_households:,} households, {os.environ['DJANGO_SETTINGS_MODULE']}"
    )
    print(f"- {reps} timed runs after a warm-up, medians of wall time; CPU = Django + its PostgreSQL backend")


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from gridgov.accounts.models import User
    from gridgov.households.models import Household
    from gridgov.visits import selectors, services

    connection.settings_dict["CONN_MAX_AGE"] = None  # one backend for the whole run: its CPU is read
    call_command("migrate", verbosity=0)  # the copy follows the working tree's migrations
    users = {u.username: u for u in User.objects.filter(username__in=USERS)}
    if len(users) < len(USERS):
        sys.exit("run `make demo` first: the benchmark uses the demo city and its users")
    clients = {name: Client() for name in users}
    for name, c in clients.items():
        c.force_login(users[name])
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        (pid,) = cur.fetchone()
    reps, singles = (3, 50) if args.quick else (7, 200)
    rng, now, clock = random.Random(args.seed), datetime.now(UTC), Clock()
    city = households(Household.objects)
    header(reps, len(city))

    # The table grows first: visits spread over the past year, as record_visits would have written them.
    fill, rebuild = Timer(pid), Timer(pid)
    year = (now - timedelta(days=rng.uniform(0, 365)) for _ in range(args.visits))
    fill(copy_rows, (copy_row(rng.choice(city), when, now, rng) for when in year))
    # The incremental compliance state, if the tree has it (in `recompute` now, in `rollups` before).
    for module in ("gridgov.visits.recompute", "gridgov.visits.rollups"):
        if importlib.util.find_spec(module) and hasattr(importlib.import_module(module), "rebuild"):
            rebuild(importlib.import_module(module).rebuild)
            break
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
        cur.execute("SELECT count(*) FROM visits_visit")
        (total,) = cur.fetchone()
    rollups = f"; recompute.rebuild() {rebuild.wall[0]:.1f} s" if rebuild.wall else ""
    print(f"- fill: {args.visits:,} visits by COPY in {fill.wall[0]:.1f} s (incl. making them){rollups}\n")

    statements: list[str] = []  # SQL statements sent through Django (the COPY is not)

    def count(execute: Callable[..., Any], sql: str, *a: Any) -> Any:
        statements.append(sql)
        return execute(sql, *a)

    sizes, copy_rate, rows, worst_sync, worst_ratio = (500, 1000), dict[int, float](), [], math.inf, math.inf
    for size in sizes:
        t = Timer(pid)
        for k in range(reps + 1):
            batch = [copy_row(rng.choice(city), w, now, rng) for w in clock.take(size, len(city))]
            if k:
                t(copy_rows, batch)
            else:
                copy_rows(batch)  # warm-up
        copy_rate[size] = size / t.ms() * 1000
        rows.append([f"COPY {size} rows", "", t.ms(), copy_rate[size], size / t.cpu_ms() * 1000, "1.00", ""])
    for name, size in itertools.product(("leader", "community"), sizes):
        mine, bodies, direct, url = households(services.visitable_households(users[name])), [], [], SYNC
        for k in range(2 * reps + 1):
            hh = [mine[(k * size + i) % len(mine)] for i in range(size)]
            items = [api_item(h, w, rng) for h, w in zip(hh, clock.take(size, len(mine)), strict=True)]
            (bodies if k <= reps else direct).append(items if k > reps else json.dumps({"visits": items}))
        statements.clear()
        with connection.execute_wrapper(count):
            outs = [call(clients[name], url, bodies[0])]  # warm-up
        t, again = Timer(pid), Timer(pid)
        outs += [t(call, clients[name], url, b) for b in bodies[1:]]
        if bad := [o["errors"] for o in outs if o["created"] != size]:
            raise RuntimeError(f"sync by {name}: not every visit was created ({bad[:3]})")
        flagged = sum(not r["counted"] for o in outs for r in o["results"]) / (size * len(outs))
        retry = again(call, clients[name], url, bodies[-1])
        service = Timer(pid)  # the service alone, on batches of its own: what the request adds is the rest
        for items in direct:
            service(lambda batch, user=users[name]: services.record_visits(batch, actor=user), items)
        rate = size / t.ms() * 1000
        worst_sync, worst_ratio = min(worst_sync, rate), min(worst_ratio, rate / copy_rate[size])
        case = f"sync {size} ({len(statements)} statements, {flagged:.0%} flagged)"
        retried = f"created {retry['created']}, exists {retry['exists']} in {again.ms():.0f} ms"
        ratio, per_cpu = f"{rate / copy_rate[size]:.2f}", size / t.cpu_ms() * 1000
        rows.append([case, name, t.ms(), rate, per_cpu, ratio, service.ms(), retried])
    print("## Batch sync through the API, against COPY of as many rows into visits_visit (all indexes)\n")
    head = ["case", "user", "median ms", "visits/s", "visits/CPU s", "vs COPY", "record_visits alone ms"]
    table([*head, "same batch again"], rows)

    # Single visits: POST /api/v1/visits/ by the grid member, to the households of their own areas.
    own = households(selectors.own_households(users["member"]))
    times = clock.take(2 * singles + 5, len(own))
    items = [api_item(own[i % len(own)], w, rng) for i, w in enumerate(times)]
    bodies = [json.dumps(item) for item in items[: singles + 5]]
    statements.clear()
    with connection.execute_wrapper(count):
        for b in bodies[:5]:
            call(clients["member"], "/api/v1/visits/", b, 201)
    t, service, floor = Timer(pid), Timer(pid), Timer(pid)
    for b in bodies[5:]:
        t(call, clients["member"], "/api/v1/visits/", b, 201)
    for item in items[singles + 5 :]:  # the service alone (user and member record already loaded)
        service(lambda one: services.record_visits([one], actor=users["member"]), item)
    for _ in range(singles):  # the floor: the same user, session and DRF, a 400 answer and no other query
        floor(call, clients["member"], "/api/v1/visits/compliance/?level=none", None, 400)
    single_ms, p95, single_service = t.ms(), statistics.quantiles(t.wall, n=20)[-1] * 1000, service.ms()
    print(
        f"## Single visit (POST /api/v1/visits/ by `member`, {singles} visits, {len(own)} own households)\n"
    )
    print(
        "`record_visits` alone: the service call on visits of its own; request floor: an authenticated API "
        "request that does nothing (`GET /api/v1/visits/compliance/?level=none`, 400: session, user, "
        "DRF).\n"
    )
    row = [single_ms, p95, t.cpu_ms(), len(statements) // 5, service.ms(), floor.ms()]
    table(
        ["median ms", "p95 ms", "CPU ms", "statements", "record_visits alone ms", "request floor ms"], [row]
    )

    # Compliance: what the API answers (selectors.compliance_rollups: scope, then one rollup query), alone
    # and through the endpoint the dashboards call.
    today = timezone.localdate()
    levels = ("member", "grid", "community", "street")
    cases = {"member": ("member",), "leader": ("member", "grid"), "community": levels, "admin": levels}
    limits, worst, rows = {"member": 2.0, "leader": 2.0, "community": 10.0, "admin": 10.0}, {}, []
    for name, level in [(name, level) for name, user_levels in cases.items() for level in user_levels]:
        url = f"/api/v1/visits/compliance/?level={level}"
        t, api = Timer(pid), Timer(pid)
        n = len(selectors.compliance_rollups(users[name], level, today))  # warm-up
        call(clients[name], url)
        for _ in range(max(reps, 15)):
            t(selectors.compliance_rollups, users[name], level, today)
            api(call, clients[name], url)
        sel_ms, api_ms = worst.get(name, (0.0, 0.0))
        worst[name] = max(sel_ms, t.ms()), max(api_ms, api.ms())
        ok = f"{verdict(t.ms() <= limits[name])} / {verdict(api.ms() <= limits[name])}"
        cpu = statistics.median(t.cpu) * 1000
        rows.append([name, level, n, t.ms(), cpu, api.ms(), f"≤ {limits[name]:g}", ok])
    print(f"## Compliance ({total:,} visits in the table; medians of {max(reps, 15)})\n")
    head = ["user (scope)", "level", "groups", "selector ms", "its Django CPU ms", "API ms", "target ms"]
    table([*head, "selector / API"], rows)

    print(f"## Targets (load average now {', '.join(f'{v:.2f}' for v in os.getloadavg())})\n")
    targets = [
        ("batch sync ≥ 10,000 visits/s per core (wall)", f"{worst_sync:,.0f}/s", worst_sync >= 1e4),
        ("batch sync ≥ 40% of COPY", f"{worst_ratio:.0%}", worst_ratio >= 0.4),
        ("single visit ≤ 5 ms median (API)", f"{single_ms:.1f} ms", single_ms <= 5),
        ("single visit ≤ 5 ms median (record_visits alone)", f"{single_service:.1f} ms", single_service <= 5),
    ]
    grid = tuple(max(pair) for pair in zip(worst["member"], worst["leader"], strict=True))
    for label, pair, limit in [("member / grid scope", grid, 2), ("community", worst["community"], 10),
                               ("city dashboards", worst["admin"], 10)]:  # fmt: skip
        for how, ms in zip(("selector", "API"), pair, strict=True):
            targets.append((f"compliance, {label} ≤ {limit} ms ({how})", f"{ms:,.1f} ms", ms <= limit))
    table(["target", "worst case", "verdict"], [[what, got, verdict(ok)] for what, got, ok in targets])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--visits", type=int, help="visits put in the table first (default 200,000; quick 20,000)")
    p.add_argument("--quick", action="store_true", help="fewer visits and repeats")
    p.add_argument("--keep", action="store_true", help=f"reuse `{BENCH_DB}` if it exists, and keep it")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if args.visits is None:
        args.visits = 20_000 if args.quick else 200_000
    with throwaway_db(args.keep):
        run(args)


if __name__ == "__main__":
    main()
