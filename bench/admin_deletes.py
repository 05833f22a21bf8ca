"""Admin deletions and an approval on the demo city: what the visit rollups' upkeep costs them.

    .venv/bin/python bench/admin_deletes.py            # 3 repeats of each, medians
    .venv/bin/python bench/admin_deletes.py --reps 1

Measured, each in a transaction rolled back afterwards (so every repeat starts from the demo city):
- every member of the demo deleted, as the admin's bulk delete does it (`MemberAdmin.delete_queryset`);
- every area of the community with the most areas, the same way (the community marked not gridded first,
  in the timed transaction: its households may be left without an area);
- a fresh gridding plan of that community approved (`plan_approve`; the plan made outside the timer), and
  the same plan with every area renumbered (the approval deletes every area there was).
The rollups are checked exact (`recompute.differences()`, in the transaction) after the first run of each.

Every write goes to a database made for the run (CREATE DATABASE … TEMPLATE gridgov), dropped at the end,
also on failure. GRIDGOV_ROOT: the source tree to import gridgov from (another checkout: its figures,
e.g. before a change).
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

ROOT = Path(os.environ.get("GRIDGOV_ROOT", Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.bench")

import visits as base  # noqa: E402  (bench/visits.py: the throwaway database made from the demo city)

base.BENCH_DB = os.environ.get("GRIDGOV_BENCH_DB", "gridgov_bench_deletes")


def rolled_back(fn: Callable[[], Any], check: bool) -> float:
    """Seconds `fn` takes in a transaction that is rolled back afterwards (the rollups checked first)."""
    from django.db import transaction

    from gridgov.visits import recompute

    with transaction.atomic():
        started = time.perf_counter()
        fn()
        took = time.perf_counter() - started
        if check:
            wrong = {k: v for k, v in recompute.differences().items() if v}
            if wrong:
                raise SystemExit(f"rollups not exact after the run: {wrong}")
        transaction.set_rollback(True)
    return took


def run(reps: int) -> None:
    from django.contrib import admin
    from django.core.management import call_command
    from django.db.models import Count

    from gridgov.geo.models import Community, ResponsibilityArea
    from gridgov.gridding.services import plan_approve, plan_create
    from gridgov.teams.models import Member
    from gridgov.visits import recompute, rollups

    call_command("migrate", verbosity=0)  # (the demo database may be behind this tree's migrations)
    recompute.rebuild()
    rollups.fold()  # (the dashboard rows kept for this month)
    members = Member.objects.filter(community__code__startswith="440308")
    community = (
        Community.objects.annotate(n=Count("grids__areas"))
        .filter(code__startswith="440308")
        .order_by("-n")[0]
    )
    areas = ResponsibilityArea.objects.filter(grid__community=community)
    n_members, n_areas = members.count(), areas.count()

    def ungridded() -> bool:
        """(its households may then be left without an area: the integrity trigger allows it)"""
        return bool(Community.objects.filter(pk=community.pk).update(gridded_at=None))

    member_admin = admin.site._registry[Member]
    area_admin = admin.site._registry[ResponsibilityArea]
    cases: list[tuple[str, Callable[[], Any], bool]] = [
        (
            f"{n_members:,} members, admin bulk delete",
            lambda: member_admin.delete_queryset(None, members),
            True,
        ),
        (
            f"{n_areas} areas of {community.code}, admin bulk delete",
            lambda: ungridded() and area_admin.delete_queryset(None, areas),
            True,
        ),
    ]
    from django.db.models import F, Value
    from django.db.models.functions import Concat, Left, Right

    from gridgov.gridding.models import GriddingPlan, PlanArea
    from gridgov.gridding.services import plan_restore

    plan = plan_create(community=community, actor=None, fresh=True).plan
    # the same plan with every area renumbered (last two digits + 50): the approval deletes every live area
    renumbered = plan_restore(plan=plan, actor=None)
    PlanArea.objects.filter(plan=renumbered).update(
        code=Concat(Left(F("code"), 15), Value("5"), Right(F("code"), 1))
    )
    assert not PlanArea.objects.filter(plan=renumbered, code__in=areas.values("code")).exists()

    def approve(pk: int) -> Callable[[], None]:
        return lambda: plan_approve(plan=GriddingPlan.objects.get(pk=pk), actor=None)

    label = f"approval of a fresh plan of {community.code} ({n_areas} areas before)"
    cases.append((label, approve(plan.pk), True))
    cases.append((f"{label}, every area renumbered", approve(renumbered.pk), True))
    print(f"source: `{ROOT}`; {reps} repeats, medians\n")
    print("| run | median s | all s |")
    print("| --- | ---: | --- |")
    for label, fn, check in cases:
        times = [rolled_back(fn, check and i == 0) for i in range(reps)]
        print(f"| {label} | {statistics.median(times):.2f} | {', '.join(f'{t:.2f}' for t in times)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args()
    with base.throwaway_db():
        run(args.reps)


if __name__ == "__main__":
    main()
