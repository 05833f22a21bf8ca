"""Re-gridding the demo city's communities from the plans in force: how long a staff member's "re-grid"
waits for the engine, and what it leaves.

    .venv/bin/python bench/gridding_regrid.py                      # the 23 communities of the demo city
    .venv/bin/python bench/gridding_regrid.py --code 440308003005  # one community (or a street: 9 digits)
    .venv/bin/python bench/gridding_regrid.py --tree /work/main    # another checkout's engine, same inputs

For each community the engine's input and the codes in force are read from the demo database (`gridgov`,
read only: what `plan_compute` reads, with the plan in force's cells where the tree's re-grid starts from
them), then `regrid` runs as the service runs it (polygons built, codes checked), `--repeat` times (CPU
seconds of this process, median). Reported per community: CPU, areas and grids in range, multipart
polygons (areas and grids), buildings split, the hull Polsby–Popper minimum, households keeping their
area, gaps + overlaps (`quality.measure` of the tree run), a hash of the households' codes (plans of two
trees compare by it); then the slowest and the total CPU.

    .venv/bin/python bench/gridding_regrid.py --changes add,remove,grow   # one-building changes

With `--changes`, in a throwaway copy of the demo database (`GRIDGOV_BENCH_DB`, default `gridgov_bench`:
made from `gridgov`, dropped afterwards), each community gets each change in turn, rolled back after:
`add` a building of 10 households ~18 m from the building nearest the community's middle (its households
put by staff in the area the point lies in, as a gridded community requires), `remove` the building
nearest the middle (its households deactivated), `grow` that building by 5 households (in its area).
The re-grid then runs through the service (`services.plan_compute`, a dry run: nothing saved), once as
the service runs it (the incremental path, `quality["regrid_path"]` says which it took) and once with
the full rebuild forced, back to back; reported per community and change for both: households keeping
their area / grid code, gaps + overlaps per km², areas in range, multipart polygons, buildings split,
CPU seconds of `plan_compute` (reads included).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--code", default="440308", help="community code, or a prefix (street, district)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per community (the median is reported)")
    ap.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent), help="checkout to run")
    ap.add_argument("--changes", default="", help="one-building changes to re-grid after: add,remove,grow")
    args = ap.parse_args()
    if args.changes:
        changes(args)
        return
    sys.path.insert(0, args.tree)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.bench")
    import django

    django.setup()
    import subprocess

    from gridgov.geo.models import Community
    from gridgov.gridding.algorithm.model import Config
    from gridgov.gridding.algorithm.quality import measure
    from gridgov.gridding.algorithm.regrid import regrid
    from gridgov.gridding.selectors import engine_input, live_codes

    try:  # (a tree whose re-grid starts from the stored cells: the plan in force, as the service reads it)
        from gridgov.gridding.selectors import plan_in_force, stored_plan
        from gridgov.gridding.services import GriddingSettings
    except ImportError:
        plan_in_force = stored_plan = None

    config = Config()
    inputs = []
    for c in Community.objects.filter(code__startswith=args.code).order_by("code"):
        data = engine_input(c)
        kw = {}
        if stored_plan is not None:
            current = plan_in_force(c)
            if current is not None and GriddingSettings.from_json(current.config) == GriddingSettings():
                kw["stored"] = stored_plan(current, data)
        inputs.append((c.code, data.community, live_codes(c, data), kw))
    if not inputs:
        sys.exit(f"no community under {args.code}")
    commit = subprocess.run(
        ["git", "-C", args.tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"# Re-grid of the demo communities from the plans in force ({args.tree} at {commit})\n")
    print(f"Load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}.\n")
    code0, com0, prev0, _kw0 = inputs[0]
    regrid(com0, prev0, config, code=code0)  # numba kernels loaded, outside the timers
    head = ["community", "CPU s", "areas", "in range", "grids in range", "multipart", "split", "hull PP min"]
    head += ["kept area"]
    head += ["gaps + overlaps m²/km²", "plan"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    times: list[tuple[float, str]] = []
    for code, community, previous, kw in inputs:
        runs = []
        for _ in range(max(1, args.repeat)):
            t0 = time.process_time()
            plan = regrid(community, previous, config, code=code, check_codes=True, **kw)
            runs.append(time.process_time() - t0)
        cpu = statistics.median(runs)
        times.append((cpu, code))
        q = measure(plan, community.boundary, config)
        codes = plan.household_codes()
        common = [k for k in previous if k in codes]
        kept = sum(previous[k][0] == codes[k][0] for k in common) / max(1, len(common))
        seams = (q.gap_area_m2 + q.overlap_area_m2) / (community.boundary.area / 1e6)
        digest = hashlib.sha256(repr(sorted(codes.items())).encode()).hexdigest()[:10]
        print(
            f"| {code} | {cpu:.2f} | {q.areas} | {q.areas_in_range:.1%} | {q.grids_in_range:.1%} | "
            f"{q.multipart_polygons} | {q.buildings_split:.1%} | "
            f"{q.hull_pp_min:.3f} | {kept:.1%} | {seams:.2f} | {digest} |",
            flush=True,
        )
    slow, where = max(times)
    total = sum(t for t, _ in times)
    print(f"\nSlowest {slow:.2f} s ({where}); total {total:.1f} s of CPU for {len(times)} re-grids.")
    print(f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}.")


def changes(args: argparse.Namespace) -> None:
    """One-building changes re-gridded through the service, incremental against the full rebuild."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.bench")
    from visits import BENCH_DB, throwaway_db

    sys.path.insert(0, args.tree)  # (after `visits`, which puts its own checkout first)

    with throwaway_db():
        _changes(args, BENCH_DB)


def _changes(args: argparse.Namespace, db: str) -> None:
    import inspect
    import subprocess

    from django.contrib.gis.db.models.functions import Distance
    from django.contrib.gis.geos import Point
    from django.db import transaction

    from gridgov.geo.models import Building, Community, ResponsibilityArea
    from gridgov.gridding import services
    from gridgov.gridding.selectors import live_codes
    from gridgov.gridding.services import GriddingSettings, plan_compute
    from gridgov.households.models import Household

    kinds = [k for k in args.changes.split(",") if k]
    commit = subprocess.run(
        ["git", "-C", args.tree, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    import gridgov

    where = Path(gridgov.__file__).resolve().parent.parent
    print(f"# One-building changes re-gridded through the service ({where} at {commit}, `{db}`)\n")
    print(f"Load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}.\n")
    as_is = services.regrid
    # (a tree without the incremental re-grid: its service's re-grid is the full rebuild already)
    has_incremental = "incremental" in inspect.signature(as_is).parameters

    def full(*a: Any, **kw: Any) -> Any:
        return as_is(*a, **({**kw, "incremental": False} if has_incremental else kw))

    def change(c: Any, kind: str) -> str:
        """The change, made in the open transaction: what it was."""
        mid = c.boundary.centroid
        near = (
            Building.objects.filter(community=c, households__active=True)
            .distinct()
            .annotate(d=Distance("point", mid))
            .order_by("d", "pk")
            .first()
        )
        hh = Household.objects.filter(building=near, active=True)
        n = hh.count()
        if kind == "remove":
            hh.update(active=False)
            return f"{near.code[-4:]} ({n}) gone"
        if kind == "grow":
            area = hh.order_by("id").first().area
            grown = [
                Household(community=c, building=near, code=f"{near.code}-G{i}", point=near.point, area=area)
                for i in range(5)
            ]
            Household.objects.bulk_create(grown)
            return f"{near.code[-4:]} {n}+5"
        for dx, dy in ((0.00017, 0.00008), (-0.00017, 0.00008), (0.00008, -0.00017), (-0.00008, -0.00017)):
            p = Point(near.point.x + dx, near.point.y + dy, srid=4326)
            if c.boundary.contains(p):
                break
        b = Building.objects.create(community=c, code=f"{c.code}NEW", address="新楼", point=p)
        here = ResponsibilityArea.objects.filter(grid__community=c, boundary__intersects=p).first()
        Household.objects.bulk_create(
            [Household(community=c, building=b, code=f"{b.code}-{i}", point=p, area=here) for i in range(10)]
        )
        return f"10 by {near.code[-4:]}"

    def cells(t: float, q: dict[str, Any], km2: float, why: tuple[float, int, int, int]) -> list[str]:
        seams = (q["gap_area_m2"] + q["overlap_area_m2"]) / km2
        return [
            f"{t:.2f}",
            f"{q['kept_same_area']:.1%}",
            f"{q['kept_same_grid']:.1%}",
            f"{why[0]:.1%}",
            f"{why[1]}/{why[2]}/{why[3]}",
            f"{seams:.2f}",
            f"{q['areas_in_range']:.1%}",
            str(q["multipart_polygons"]),
            f"{q['buildings_split']:.1%}",
        ]

    side = [
        "kept area",
        "kept grid",
        "kept grid+member",
        "lost: grid/renumbered/re-cut",
        "gaps+overlaps m²/km²",
        "areas in range",
        "multipart",
        "split",
    ]
    head = ["community", "change", "path", "CPU s", *side, "full: CPU s", *side]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    settings = GriddingSettings()
    kept: dict[str, list[float]] = {"incremental": [], "full": []}
    cpu: dict[str, list[float]] = {"incremental": [], "full": []}
    member: dict[str, list[float]] = {"incremental": [], "full": []}
    for c in Community.objects.filter(code__startswith=args.code).order_by("code"):
        for kind in kinds:
            out, lost = [], []
            with transaction.atomic():
                what = change(c, kind)
                for fn in (as_is, full):
                    services.regrid = fn
                    try:
                        t0 = time.process_time()
                        data, plan, q, _ = plan_compute(c, settings)
                        out.append((time.process_time() - t0, q))
                        lost.append(why_lost(live_codes(c, data), plan))
                    finally:
                        services.regrid = as_is
                transaction.set_rollback(True)
            km2 = data.community.boundary.area / 1e6
            (ti, qi), (tf, qf) = out
            for name, (t, q), why in zip(("incremental", "full"), out, lost, strict=True):
                kept[name].append(q["kept_same_area"])
                member[name].append(why[0])
                cpu[name].append(t)
            row = [
                c.code,
                f"{kind}: {what}",
                qi.get("regrid_path", ""),
                *cells(ti, qi, km2, lost[0]),
                *cells(tf, qf, km2, lost[1]),
            ]
            print("| " + " | ".join(row) + " |", flush=True)
    for name in ("incremental", "full"):
        k, t = kept[name], cpu[name]
        print(
            f"\n{name}: kept area min {min(k):.1%}, median {statistics.median(k):.1%}, "
            f"≥ 95% in {sum(x >= 0.95 for x in k)} of {len(k)}; CPU median {statistics.median(t):.2f} s, "
            f"max {max(t):.2f} s"
        )
        m = member[name]
        print(
            f"{name}: kept grid and member min {min(m):.1%}, median {statistics.median(m):.1%}, "
            f"≥ 95% in {sum(x >= 0.95 for x in m)} of {len(m)}"
        )
    print(f"\nLoad average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}.")


def why_lost(previous: dict, plan: Any) -> tuple[float, int, int, int]:
    """Households in force that lost their area code, by cause: their area is in another grid now,
    renumbered (the area they are in is mostly their old area's households), re-cut (mostly another's);
    and the share keeping their grid and member (`regrid.kept_member_share`, where the tree has it)."""
    from collections import Counter

    try:
        from gridgov.gridding.algorithm.regrid import kept_member_share
    except ImportError:
        kept_member_share = None
    now = plan.household_area()
    origin: list[Counter] = [Counter() for _ in range(plan.n_areas)]
    for k, a in now.items():
        if k in previous:
            origin[a][previous[k][0]] += 1
    grid = renumbered = recut = 0
    for k, a in now.items():
        if k not in previous or plan.area_codes[a] == previous[k][0]:
            continue
        if plan.grid_codes[plan.grid_of_area[a]] != previous[k][1]:
            grid += 1
        elif origin[a].most_common(1)[0][0] == previous[k][0]:
            renumbered += 1
        else:
            recut += 1
    member = kept_member_share(previous, plan) if kept_member_share else float("nan")
    return member, grid, renumbered, recut


if __name__ == "__main__":
    main()
