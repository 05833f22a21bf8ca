"""A grid member's batches through `services.record_visits`: the speed check's path (a member's batch with
fixes takes the member's lock and reads the member's stored fixes around its own).

    .venv/bin/python bench/visits_member.py                                   # this tree
    .venv/bin/python bench/visits_member.py --against /work/main/gridgov/visits/services.py

On a throwaway database (`bench/visits.py`'s, `GRIDGOV_BENCH_DB`, default gridgov_bench) made from the demo
city: 20,000 visits of the city over the past year and a track of 1,050 visits of the demo user `member` (20
to 365 days ago), by COPY, then VACUUM ANALYZE. Timed: batches of 20 visits of `member` to their own
households, and single visits, in order (after everything stored, going forward) or out of order (a day
25–360 days ago, among the stored track); medians after 3 warm-up rounds. Each call runs in a transaction
committed after the timer (`record_visits`' own block is then a savepoint): the commit's WAL flush, the
same for any tree, took whole milliseconds when other jobs wrote to the same disk, and hid the rest.
`--against FILE` loads another tree's `services.py` (it must import with this tree's modules) and runs both
in turns, in one process on one database, the order swapped every round.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import visits as bench  # (bench/visits.py: the throwaway database, COPY rows, API items)


def load(path: str) -> Any:
    """Another tree's `gridgov/visits/services.py` as a module of this tree's package."""
    spec = importlib.util.spec_from_file_location("gridgov.visits.services_against", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from gridgov.accounts.models import User
    from gridgov.households.models import Household
    from gridgov.visits import selectors, services

    connection.settings_dict["CONN_MAX_AGE"] = None
    call_command("migrate", verbosity=0)
    trees = {"this tree": services} | ({"against": load(args.against)} if args.against else {})
    rng, now = random.Random(args.seed), datetime.now(UTC)
    user = User.objects.get(username="member")
    city, own = bench.households(Household.objects), bench.households(selectors.own_households(user))
    year = (now - timedelta(days=rng.uniform(1, 365)) for _ in range(20_000))
    bench.copy_rows(bench.copy_row(rng.choice(city), w, now, rng) for w in year)
    track = sorted(now - timedelta(days=rng.uniform(20, 365)) for _ in range(1_050))
    bench.copy_rows(bench.copy_row(rng.choice(own), w, now, rng) for w in track)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    print(f"# A member's batches (`record_visits`), {len(own)} own households\n")
    print(f"- load average at the start {os.getloadavg()}; {args.rounds} rounds, 3 of them warm-up\n")

    def items(start: datetime, n: int, step: timedelta) -> list[dict[str, Any]]:
        return [bench.api_item(own[i % len(own)], start + step * i, rng) for i in range(n)]

    clock = [now - timedelta(days=19)]

    def in_order(n: int) -> list[dict[str, Any]]:
        out = items(clock[0], n, timedelta(minutes=2))
        clock[0] += timedelta(minutes=2 * n + 1)
        return out

    def out_of_order(n: int) -> list[dict[str, Any]]:
        return items(now - timedelta(days=rng.uniform(25, 360)), n, timedelta(minutes=7))

    cases: list[tuple[str, Callable[[int], list[dict[str, Any]]], int]] = [
        ("20 in order", in_order, 20),
        ("20 out of order", out_of_order, 20),
        ("1 in order", in_order, 1),
        ("1 out of order", out_of_order, 1),
    ]
    names = list(trees)
    wall = {(case, name): list[float]() for case, _make, _n in cases for name in names}
    flagged = {(case, name): 0 for case, _make, _n in cases for name in names}
    for k in range(args.rounds):
        for case, make, n in cases:
            for name in names if k % 2 else names[::-1]:
                batch = make(n)
                with transaction.atomic():  # (its commit after the timer: see the docstring)
                    t0 = time.perf_counter()
                    out = trees[name].record_visits(batch, actor=user)
                    if k >= 3:
                        wall[case, name].append(time.perf_counter() - t0)
                if any(r.status != "created" for r in out):
                    raise RuntimeError(f"{case}: not every visit was created ({[r.errors for r in out][:2]})")
                flagged[case, name] += sum("implausible_speed" in r.flags for r in out)
    head = [f"{name} ms" for name in names] + (["this tree ÷ against"] if args.against else [])
    print("| case | " + " | ".join([*head, "flagged too fast"]) + " |")
    print("|" + " --- |" * (len(head) + 2))
    for case, _make, _n in cases:
        ms = [statistics.median(wall[case, name]) * 1000 for name in names]
        ratio = [f"{ms[0] / ms[1]:.2f}"] if args.against else []
        cells = [f"{m:.2f}" for m in ms] + ratio + [" / ".join(str(flagged[case, name]) for name in names)]
        print(f"| {case} | " + " | ".join(cells) + " |")
    print(f"\n- load average at the end {os.getloadavg()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--against", help="another tree's gridgov/visits/services.py, run in turns with this one")
    p.add_argument("--rounds", type=int, default=43, help="rounds of every case (default 43, 3 warm-up)")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    with bench.throwaway_db():
        run(args)


if __name__ == "__main__":
    main()
