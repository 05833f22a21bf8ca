"""Many members syncing at once: every member of the demo city sends one batch of their visits.

    .venv/bin/python bench/visits_load.py                 # every member with households, 20 visits each
    .venv/bin/python bench/visits_load.py --workers 8 --members 600
    .venv/bin/python bench/visits_load.py --http          # through the production server (gunicorn)
    .venv/bin/python bench/visits_load.py --http --server granian   # the other production server
    .venv/bin/python bench/visits_load.py --http --server-workers 3

The issue's target is 60,000 members each syncing 20 visits at once, done in ≤ 2 minutes (1,200,000
visits, 10,000 visits/s sustained). The demo city has about 1,600 members with households, so this
measures the sustained rate of a burst of all of them and extrapolates the time of 60,000 linearly
(the work per visit does not grow with the number of members: each batch touches only its own member's
households and rollup rows).

How: by default `--workers` client processes, each sending its share of the members' batches one after
another through Django's own request handler in the client process (the test client: the whole middleware
stack, session and user look-up, DRF, the view; no HTTP parsing, no network), against one PostgreSQL, all
on this machine. With `--http`, over HTTP to the production server that `make run` starts
(scripts/web.sh): gunicorn with scripts/gunicorn.conf.py, or granian with `--server granian`, and
gridgov.settings.prod (`--server-workers`, default: the config's own, 2 × CPUs + 1), on the same cores.
The client is then one process with `--connections` keep-alive connections (a thread and a share of the
members each), as light as an honest client can be: on a real deployment the 60,000 phones' CPU is not on
the server. Every member is logged in (a session) and every request is made before the clock (the raw
HTTP/1.1 request with the session cookie, the CSRF cookie and its header, as a phone's browser sends
them); every answer is checked item by item (a visit counts as created only with its own result `created`
under its own id and index). All start together.

Every write goes to a database made for the run (CREATE DATABASE gridgov_bench_load TEMPLATE gridgov, or
$GRIDGOV_BENCH_LOAD_DB), dropped at the end, also on failure; the demo database is only read, as the
template.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing as mp
import os
import queue
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import visits as base  # noqa: E402  (bench/visits.py: database set-up and visit makers)

base.BENCH_DB = os.environ.get("GRIDGOV_BENCH_LOAD_DB", "gridgov_bench_load")
BENCH_SECRET_KEY = "bench-only-not-secret"  # the clients' sessions must be valid for the server
TARGET_MEMBERS, TARGET_VISITS, TARGET_SECONDS = 60_000, 20, 120.0
Snapshot = dict[int, tuple[str, float]]  # pid: (component, CPU seconds so far)


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


class Phone(NamedTuple):
    """One member's batch as their phone sends it: the whole HTTP/1.1 request, made before the clock, and
    the ids of its visits (every answer is checked item by item against them)."""

    request: bytes
    ids: list[str]


def phone_request(port: int, session: str, csrf: str, body: bytes) -> bytes:
    """A POST of a batch as a logged-in phone sends it: session cookie, CSRF cookie and header."""
    from django.conf import settings

    head = (
        f"POST {base.SYNC} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Cookie: {settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}\r\n"
        f"X-CSRFToken: {csrf}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection to the server on a plain socket: sends a request made beforehand,
    reads the answer's status, headers and `Content-Length` body. Lean on purpose: on a real deployment the
    phones are not on the server's cores, so the load client should take as little of them as it can."""

    def __init__(self, port: int) -> None:
        self.port, self.sock = port, None

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def post(self, request: bytes) -> tuple[int, bytes]:
        """(status, body) of one request. The server closes idle keep-alive connections: a request on a
        connection closed before any answer is sent once more on a new one (a batch can be sent twice:
        the second finds its visits there and creates nothing, which then counts as not created)."""
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = self._open()
            try:
                self.sock.sendall(request)
                return self._answer()
            except (ConnectionError, EOFError):
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _answer(self) -> tuple[int, bytes]:
        sock, buf = self.sock, b""
        assert sock is not None
        while (end := buf.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed before an answer")
            buf += chunk
        head, body = buf[:end].decode("latin-1").split("\r\n"), buf[end + 4 :]
        version, code, *_reason = head[0].split(" ", 2)
        if not version.startswith("HTTP/1."):
            raise RuntimeError(f"not an HTTP/1.x answer: {head[0]!r}")
        fields: dict[str, str] = {}
        for line in head[1:]:
            name, _sep, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "transfer-encoding" in fields or "content-length" not in fields:
            raise RuntimeError(f"answer without a Content-Length: {head!r}")
        length = int(fields["content-length"])
        while len(body) < length:
            chunk = sock.recv(max(65536, length - len(body)))
            if not chunk:
                raise RuntimeError("connection closed in the middle of an answer")
            body += chunk
        if len(body) > length:
            raise RuntimeError("more bytes than the answer's Content-Length (pipelining is not used)")
        if fields.get("connection", "").lower() == "close" or version == "HTTP/1.0":
            self.close()  # the server is done with it (a worker recycled after max_requests)
        return int(code), body


def check(phone: Phone, status: int, body: bytes) -> tuple[int, int]:
    """(created, not created) of one answer, counted item by item: a visit counts only with its own result
    `created` under its own id and index. Anything but a 200 with one result per visit is an error."""
    if status != 200:
        raise RuntimeError(f"{base.SYNC}: HTTP {status} {body[:300]!r}")
    answer = orjson.loads(body)
    results = answer["results"]
    if answer["received"] != len(phone.ids) or len(results) != len(phone.ids):
        raise RuntimeError(f"{len(phone.ids)} visits sent, answer for {answer['received']}: {body[:300]!r}")
    created = 0
    for i, (vid, result) in enumerate(zip(phone.ids, results, strict=True)):
        if result["index"] != i or result["id"] != vid:
            raise RuntimeError(f"result {i} is not the visit sent: {result!r}")
        created += result["status"] == "created"
    if created != answer["created"]:
        raise RuntimeError(f"the answer's count {answer['created']} is not its results' {created}")
    return created, len(results) - created


def http_client(shares: list[list[Phone]], warmup: int, port: int, barrier: Any, out: Any) -> None:
    """The phones' batches over one keep-alive connection per share, one thread each (sockets release the
    GIL while waiting), all in this one process; each connection first sends `warmup` batches before the
    clock, all connections at once."""
    conns = [Connection(port) for _ in shares]

    warmed: list[Connection] = []

    def warm(conn: Connection, share: list[Phone]) -> None:
        for phone in share[:warmup]:
            check(phone, *conn.post(phone.request))
        warmed.append(conn)

    # All connections warm up at once, as they then send: the server's threads that the burst will use exist
    # and have their database connection and prepared statements, as on a server that has been running.
    warming = [threading.Thread(target=warm, args=pair) for pair in zip(conns, shares, strict=True)]
    for t in warming:
        t.start()
    for t in warming:
        t.join()
    if len(warmed) != len(conns):
        raise RuntimeError("a connection's warm-up failed (see above)")
    timed: list[list[Any]] = [[] for _ in shares]

    def send(conn: Connection, share: list[Phone], got: list[Any]) -> None:
        created = missed = 0
        latencies = []
        for phone in share:
            t = time.perf_counter()
            status, body = conn.post(phone.request)
            latencies.append(time.perf_counter() - t)
            c, m = check(phone, status, body)
            created, missed = created + c, missed + m
        got.extend((latencies, created, missed))

    threads = [
        threading.Thread(target=send, args=(conn, share[warmup:], got))
        for conn, share, got in zip(conns, shares, timed, strict=True)
    ]
    barrier.wait()
    started, cpu0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ended, cpu = time.perf_counter(), time.process_time() - cpu0
    if any(len(got) != 3 for got in timed):
        raise RuntimeError("a connection's thread failed (see above)")
    latencies = [x for got in timed for x in got[0]]
    out.put((started, ended, latencies, sum(g[1] for g in timed), sum(g[2] for g in timed), cpu, 0.0))


def http_phones(
    share: list[tuple[int, int]], per_member: int, seed: int, port: int, rounds: int
) -> list[Phone]:
    """One connection's share of the members, each logged in (a session, as the login page makes one) with
    a CSRF token, and their batches in the order they are sent: round after round, every member a batch,
    each batch a day before the last (as the in-process clients do)."""
    from django.conf import settings
    from django.test import Client

    from gridgov.accounts.models import User
    from gridgov.households.models import Household

    rng, clock = random.Random(seed), base.Clock()
    users = User.objects.in_bulk([u for u, _m in share])
    logged_in = []
    for uid, mid in share:
        client = Client()
        client.force_login(users[uid])
        csrf = secrets.token_hex(16)  # a 32-character CSRF secret: cookie and header must match
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        logged_in.append((session, csrf, base.households(Household.objects.filter(area__member_id=mid))))
    phones = []
    for _r in range(rounds):
        for session, csrf, own in logged_in:
            times = clock.take(per_member, len(own))
            items = [base.api_item(own[i % len(own)], w, rng) for i, w in enumerate(times)]
            body = orjson.dumps({"visits": items})
            phones.append(Phone(phone_request(port, session, csrf, body), [it["id"] for it in items]))
    return phones


def worker(
    share: list[tuple[int, int]],
    per_member: int,
    seed: int,
    warmup: int,
    rounds: int,
    barrier: Any,
    out: Any,
) -> None:
    """In-process: one client process sending its share through Django's request handler (test client)."""
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from gridgov.accounts.models import User
    from gridgov.households.models import Household

    rng, clock = random.Random(seed), base.Clock()
    users = {u.pk: u for u in User.objects.filter(pk__in=[u for u, _m in share])}
    requests: list[tuple[Client, str, bool]] = []
    members = []
    for uid, mid in share:
        own = base.households(Household.objects.filter(area__member_id=mid))
        client = Client()
        client.force_login(users[uid])
        members.append((own, client))
    # Round after round, every member sends a batch (the Clock puts each batch a day before the last).
    for r in range(rounds):
        for k, (own, client) in enumerate(members):
            times = clock.take(per_member, len(own))
            items = [base.api_item(own[i % len(own)], w, rng) for i, w in enumerate(times)]
            requests.append((client, json.dumps({"visits": items}), r == 0 and k < warmup))
    for client, body, warm in requests:  # warm-up: the first members of each worker, before the clock
        if warm:
            base.call(client, base.SYNC, body)
    connection.close()  # each worker opens its connection after the barrier, like a fresh server process
    barrier.wait()
    started, cpu0 = time.perf_counter(), time.process_time()
    latencies, created, errors = [], 0, 0
    for client, body, warm in requests:
        if warm:
            continue
        t = time.perf_counter()
        r = base.call(client, base.SYNC, body)
        latencies.append(time.perf_counter() - t)
        created += r["created"]
        errors += r["errors"]
    ended, cpu = time.perf_counter(), time.process_time() - cpu0
    with connection.cursor() as cur:  # this client's own PostgreSQL backend, opened after the barrier
        cur.execute("SELECT pg_backend_pid()")
        db_cpu = base.backend_cpu(cur.fetchone()[0])
    out.put((started, ended, latencies, created, errors, cpu, db_cpu))


def aborting(fn: Callable[..., None], *args: Any) -> None:
    """`fn(*args)` in a client process; if it fails, the start barrier (its second last argument) is broken,
    so that the run stops instead of waiting for this client without end."""
    try:
        fn(*args)
    except BaseException:
        args[-2].abort()
        raise


def redis_pid() -> int | None:
    """The process id of the shared Redis (sessions and users are read from it), if it says."""
    from django.core.cache import cache

    try:
        return int(cache._cache.get_client().info("server")["process_id"])
    except Exception:  # not Redis, or not reachable: its CPU is left out (and said so)
        return None


def cpu_snapshot(server_pid: int | None, redis: int | None) -> Snapshot:
    """CPU seconds so far of the bench database's PostgreSQL backends, of the web server's workers and of
    Redis, by process: (component, seconds)."""
    with base.maintenance() as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [base.BENCH_DB])
        pids = {r[0]: "postgres" for r in rows}
    if server_pid is not None:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == server_pid:
                    pids[int(stat.parent.name)] = "web"
            except (OSError, ValueError, IndexError):
                continue
    if redis is not None:
        pids[redis] = "redis"
    return {pid: (kind, base.backend_cpu(pid)) for pid, kind in pids.items()}


def cpu_by_component(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds of each component between two snapshots (a process that started in between: all of it)."""
    out = {"web": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid, (kind, cpu) in after.items():
        if not math.isnan(cpu):
            out[kind] += cpu - before.get(pid, (kind, 0.0))[1]
    return out


def start_server(workers: int, kind: str) -> tuple[subprocess.Popen[bytes], int, str]:
    """The production web server as `make run` starts it (scripts/web.sh: gunicorn with
    scripts/gunicorn.conf.py, or granian); production settings, bench database."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "gridgov.settings.prod",
        "GRIDGOV_SECRET_KEY": BENCH_SECRET_KEY,
        "GRIDGOV_ALLOWED_HOSTS": "127.0.0.1",
        "GRIDGOV_SECURE_COOKIES": "0",
        "GRIDGOV_STATIC_ROOT": tempfile.mkdtemp(prefix="gridgov-bench-static-"),
        "GRIDGOV_WEB_SERVER": kind,
    }
    if workers:
        env["GRIDGOV_WEB_WORKERS"] = str(workers)
    log = tempfile.NamedTemporaryFile(prefix=f"gridgov-bench-{kind}-", suffix=".log", delete=False)  # noqa: SIM115
    cmd = [str(ROOT / "scripts" / "web.sh"), f"127.0.0.1:{port}"]
    server = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if server.poll() is not None:
                sys.exit(f"{kind} exited, see {log.name}")
            time.sleep(0.1)
    conf = ROOT / "scripts" / "gunicorn.conf.py"  # the same defaults for both servers (scripts/web.sh)
    out = subprocess.run(
        [sys.executable, "-c", f"exec(open({str(conf)!r}).read()); print(workers, threads)"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return server, port, f"{kind}, {out[0]} workers × {out[1]} threads"


def run(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from gridgov.visits import recompute, rollups

    call_command("migrate", verbosity=0)
    filled = fill(args.fill, args.seed) if args.fill else ""
    members = member_users()
    if args.members:
        members = members[: args.members]
    server, port, server_workers = None, None, ""
    try:
        if args.http:  # one client process, a thread per keep-alive connection, every request made before
            server, port, server_workers = start_server(args.server_workers, args.server)
            members_of = [members[c :: args.connections] for c in range(args.connections)]
            shares = [
                http_phones(m, args.visits, args.seed + c, port, args.rounds)
                for c, m in enumerate(members_of)
            ]
            clients: list[tuple[Callable[..., None], tuple[Any, ...]]] = [
                (http_client, (shares, args.warmup, port))
            ]
        else:  # `--workers` processes, each through Django's request handler
            work = [members[w :: args.workers] for w in range(args.workers)]
            clients = [
                (worker, (s, args.visits, args.seed + w, args.warmup, args.rounds))
                for w, s in enumerate(work)
            ]
        connections.close_all()
        barrier, out = mp.Barrier(len(clients) + 1), mp.Queue()
        procs = [
            mp.Process(target=functools.partial(aborting, fn), args=(*a, barrier, out)) for fn, a in clients
        ]
        load0 = os.getloadavg()
        for p in procs:
            p.start()
        redis = redis_pid()
        barrier.wait()
        before = cpu_snapshot(server.pid if server is not None else None, redis)
        results: list[Any] = []
        while len(results) < len(procs):  # a client that failed ends the run instead of a wait without end
            try:
                results.append(out.get(timeout=1))
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise RuntimeError("a client process failed (see above)") from None
        after = cpu_snapshot(server.pid if server is not None else None, redis)
        for p in procs:
            p.join()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
    start = min(r[0] for r in results)
    wall = max(r[1] for r in results) - start
    latencies = sorted(x for r in results for x in r[2])
    created, errors = sum(r[3] for r in results), sum(r[4] for r in results)
    # CPU of the whole burst by component: the client processes; PostgreSQL's backends (in-process: each
    # client's own; over HTTP: every backend of the bench database); the web server's workers; Redis.
    client_cpu = sum(r[5] for r in results)
    parts = cpu_by_component(before, after)
    parts["postgres"] += sum(r[6] for r in results)
    server_cpu = parts["web"] + parts["postgres"] + parts["redis"]
    cpu_ms = (client_cpu + server_cpu) / created * 1000
    timed_batches = len(latencies)
    rate = created / wall
    # The rollups kept by all those concurrent batches must agree exactly with a rebuild.
    kept = rollups.snapshot()
    t0 = time.perf_counter()
    recompute.rebuild()
    rebuild_s = time.perf_counter() - t0
    agree = rollups.snapshot() == kept
    extrapolated = TARGET_MEMBERS * TARGET_VISITS / rate

    print(f"# Visits load benchmark — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC\n")
    load = ", ".join(f"{v:.2f}" for v in load0)
    print(f"- nproc {len(os.sched_getaffinity(0))}, load average at start {load}")
    print(f"- `{base.BENCH_DB}`: the demo city; {len(members):,} members with an account and households")
    print(f"- {filled or 'the visits table empty at the start (`--fill 0`)'}")
    how = (
        f"over HTTP to the web server ({server_workers}, gridgov.settings.prod, on the same 2 cores)"
        if args.http
        else "through Django's request handler (test client, no HTTP)"
    )
    clients_how = (
        f"1 client process, {args.connections} keep-alive connections (a thread and a share of the members "
        "each; raw HTTP/1.1 requests made before the clock, every answer checked item by item)"
        if args.http
        else f"{args.workers} client processes"
    )
    print(
        f"- {clients_how} {how}, one PostgreSQL; {args.warmup} warm-up batch(es) per "
        f"{'connection' if args.http else 'client'} before the clock\n"
    )
    print(
        "| batches timed (members × rounds) | visits each | visits created | errors | wall s | visits/s |"
        " batch p50 ms | batch p95 ms | CPU ms per visit (clients + server) | rollups agree with a rebuild |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    p50 = statistics.median(latencies) * 1000
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
    print(
        f"| {timed_batches:,} | {args.visits} | {created:,} | {errors:,} | {wall:.1f} | {rate:,.0f} | "
        f"{p50:.1f} | {p95:.1f} | {cpu_ms:.3f} ({client_cpu / created * 1000:.3f} + "
        f"{server_cpu / created * 1000:.3f}) | {'yes' if agree else '**no**'} (rebuild {rebuild_s:.1f} s) |\n"
    )
    # The server's own CPU: on a real server the 60,000 phones' CPU is not on its cores.
    cores = len(os.sched_getaffinity(0))
    print("| CPU ms per visit | clients | web server workers | PostgreSQL backends | Redis | server (web "
          "+ PostgreSQL + Redis) | visits/s the server's cores sustain at that |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ms = {k: v / created * 1000 for k, v in parts.items()}
    sustained = cores / (server_cpu / created)
    # In-process the clients are Django: the test client and the request handler share one process.
    django_cell = f"{ms['web']:.3f}" if args.http else "(in the clients)"
    redis_cell = f"{ms['redis']:.3f}" if redis is not None else "not read"
    server_cell, sustained_cell = f"{server_cpu / created * 1000:.3f}", f"{sustained:,.0f}"
    if not args.http:  # Django's share is in the clients' column: no server figure of its own
        server_cell, sustained_cell = f"{server_cpu / created * 1000:.3f} without Django", "n/a (`--http`)"
    print(
        f"| {cores} cores | {client_cpu / created * 1000:.3f} | {django_cell} | {ms['postgres']:.3f} | "
        f"{redis_cell} | {server_cell} | {sustained_cell} |\n"
    )
    verdict = "**meets**" if extrapolated <= TARGET_SECONDS else "**misses**"
    total, needed = TARGET_MEMBERS * TARGET_VISITS, TARGET_MEMBERS * TARGET_VISITS / TARGET_SECONDS
    print(
        f"End to end (clients on the same cores): {TARGET_MEMBERS:,} members × {TARGET_VISITS} visits = "
        f"{total:,} visits at {rate:,.0f} visits/s: **{extrapolated:,.0f} s** (target ≤ "
        f"{TARGET_SECONDS:.0f} s: {verdict}); ≤ {TARGET_SECONDS:.0f} s needs {needed:,.0f} visits/s, "
        f"{needed / rate:.1f}× this machine."
    )
    if args.http:
        server_s = total / sustained
        ok = "**meets**" if server_s <= TARGET_SECONDS else "**misses**"
        print(
            f"\nServer only (its processes' CPU per visit, all {cores} cores busy, the phones' CPU "
            f"elsewhere): {sustained:,.0f} visits/s → **{server_s:,.0f} s** for {total:,} visits (target: "
            f"{ok}). A bound, not a wall time: lock waits, idle cores between requests and the kernel's work "
            "outside those processes are not in it."
        )
    else:
        print(
            "\nServer only: not separable in-process (the test client runs in Django's process); "
            "see `--http`."
        )


def fill(n: int, seed: int) -> str:
    """`n` visits to random households over the past year (COPY, as `bench/visits.py` fills), the rollups
    rebuilt, then VACUUM ANALYZE: a burst meets a table with history, and plans made for it."""
    from django.db import connection

    from gridgov.households.models import Household
    from gridgov.visits import recompute

    rng, now = random.Random(f"fill-{seed}"), base.datetime.now(base.UTC)  # not the clients' ids
    city = base.households(Household.objects)
    year = (now - base.timedelta(days=rng.uniform(0, 365)) for _ in range(n))
    t0 = time.perf_counter()
    base.copy_rows(base.copy_row(rng.choice(city), when, now, rng) for when in year)
    recompute.rebuild()
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return f"{n:,} visits over the past year put in the table first ({time.perf_counter() - t0:.0f} s)"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=4, help="in-process: client processes (default 4)")
    p.add_argument(
        "--connections",
        type=int,
        default=4,
        help="--http: keep-alive connections, one thread each, in one client process (default 4)",
    )
    p.add_argument("--visits", type=int, default=20, help="visits per member (default 20)")
    p.add_argument("--members", type=int, default=0, help="at most this many members (default all)")
    p.add_argument("--warmup", type=int, default=1, help="untimed batches per worker first (default 1)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="batches per member, a day apart (default 1; more: a longer run)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--fill", type=int, default=200_000, help="visits in the table before the burst (default 200,000)"
    )
    p.add_argument("--http", action="store_true", help="over HTTP to the production web server (--server)")
    p.add_argument(
        "--server",
        choices=("gunicorn", "granian"),
        default=os.environ.get("GRIDGOV_WEB_SERVER", "gunicorn"),
        help="--http: the web server (scripts/web.sh; default GRIDGOV_WEB_SERVER, else gunicorn)",
    )
    p.add_argument("--server-workers", type=int, default=0, help="web server workers (default: its config's)")
    args = p.parse_args()
    with base.throwaway_db(setup=False):  # (`run` sets Django up, in the clients and the server)
        os.environ["GRIDGOV_SECRET_KEY"] = BENCH_SECRET_KEY  # the clients' sessions are the server's
        mp.set_start_method("fork")
        run(args)


if __name__ == "__main__":
    main()
