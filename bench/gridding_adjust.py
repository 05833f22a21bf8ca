"""Adjusting a gridding plan by hand: how long one adjustment takes now that it checks the plan's
problems and quality again (`gridding.checks.recheck`) in its transaction, against the same adjustment
without that check (the baseline: what an adjustment cost before).

    .venv/bin/python bench/gridding_adjust.py                  # the demo city's biggest community and a
                                                               # 10,000-building lattice community
    .venv/bin/python bench/gridding_adjust.py --buildings 0    # the demo community only
    .venv/bin/python bench/gridding_adjust.py --rounds 3

Every write goes to a database made for the run (CREATE DATABASE gg_replan_bench TEMPLATE gridgov,
migrated), dropped at the end, also on failure; the demo database is only read, as the template.

Per community: a draft plan (`plan_create`), then rounds of adjustments through the service layer, as the
views and the API call them, each timed alone (wall, the database included; and this process's CPU):
a building moved so that its area falls short (a problem made, with its nearest alternative searched),
moved back (the problem gone), the alternative of a problem made so applied, an area split and merged
back, an area moved to a neighbouring grid so that its grid falls short and the grid's alternative applied.
Then the same adjustments with `recheck` switched off (the baseline). Medians are printed, with the
number of cells, areas and problems, and the one-off cost of linking a plan kept before the cells'
links were (from the cells' outlines).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.bench")

import visits as base  # noqa: E402  (bench/visits.py: the throwaway database made from the demo city)

base.BENCH_DB = os.environ.get("GRIDGOV_BENCH_DB", "gg_replan_bench")
PROFILE = "--profile" in sys.argv


def lattice_in_db(n: int, seed: int) -> Any:
    """`algorithm.synthetic.lattice_community(n, seed)` as a community of the ledger (its own district
    and street), placed east of the demo city; returns the Community."""
    from django.contrib.gis.geos import MultiPolygon, Point
    from django.contrib.gis.geos import Polygon as GeosPolygon

    from gridgov.geo.models import Building, Community, District, Street
    from gridgov.gridding.algorithm.projection import M_PER_DEG_LAT, Projection
    from gridgov.gridding.algorithm.synthetic import lattice_community
    from gridgov.households.models import Household

    c = lattice_community(n, seed=seed)
    proj = Projection(114.60, 22.60)
    ll = proj.to_lonlat(c.boundary)

    def multi(geom: Any, grow: float = 0.0) -> MultiPolygon:
        g = geom.buffer(grow) if grow else geom
        return MultiPolygon(GeosPolygon(list(g.exterior.coords)), srid=4326)

    district = District.objects.create(code="440399", name="基准区", boundary=multi(ll, 0.01))
    street = Street.objects.create(
        district=district, code="440399001", name="基准街道", boundary=multi(ll, 0.005)
    )
    community = Community.objects.create(
        street=street, code="440399001001", name="基准社区", boundary=multi(ll)
    )
    rows = Building.objects.bulk_create(
        [
            Building(
                community=community,
                code=f"BENCH{b.id}",
                address=f"{b.id}号楼",
                point=Point(b.x / proj.kx + proj.lon0, b.y / M_PER_DEG_LAT + proj.lat0, srid=4326),
            )
            for b in c.buildings
        ],
        batch_size=2000,
    )
    households = [
        Household(
            community=community,
            building=row,
            code=f"BENCH{b.id}-{h:02d}",
            unit="1",
            floor=h // 2 + 1,
            room=f"{h % 2 + 1:02d}",
            point=row.point,
        )
        for b, row in zip(c.buildings, rows, strict=True)
        for h in range(len(b.weights))
    ]
    Household.objects.bulk_create(households, batch_size=5000)
    return community


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def candidates(plan: Any) -> list[tuple[Any, Any, Any]]:
    """(cell, its area, a neighbouring area) whose move leaves the area short, spread over the plan."""
    from gridgov.gridding.models import PlanArea, PlanCell

    lo = plan.config["area_min"]
    out = []
    areas = {a.pk: a for a in PlanArea.objects.filter(plan=plan)}
    count: dict[int, int] = {}
    for area_id in PlanCell.objects.filter(plan=plan).values_list("area_id", flat=True):
        count[area_id] = count.get(area_id, 0) + 1
    seen: set[int] = set()
    cells = PlanCell.objects.filter(plan=plan).order_by("pk")
    step = max(1, cells.count() // 40)
    for c in cells[::step]:
        area = areas[c.area_id]
        if c.area_id in seen or count[c.area_id] < 2 or area.weight - c.weight >= lo:
            continue
        target = (
            PlanArea.objects.filter(plan=plan, boundary__intersects=c.boundary).exclude(pk=area.pk).first()
        )
        if target is not None:
            seen.add(area.pk)
            out.append((c, area, target))
    return out


def run_rounds(plan: Any, rounds: int, check: bool) -> dict[str, list[tuple[float, float]]]:
    from django.db.models import Count

    from gridgov.gridding import services
    from gridgov.gridding.models import GriddingPlan, PlanArea, PlanGrid

    times: dict[str, list[tuple[float, float]]] = {}

    def note(label: str, w: float, c: float) -> None:
        times.setdefault(label, []).append((w, c))

    original = services.recheck
    if not check:
        services.recheck = lambda *a, **k: None  # type: ignore[assignment]
    try:
        moves = candidates(plan)
        for cell, source, target in moves[:rounds]:
            w, c, _r = timed(
                lambda c=cell, t=target: services.plan_move_cell(plan=plan, cell=c, to_area=t, actor=None)
            )
            note("move a building (its area falls short)", w, c)
            w, c, _r = timed(
                lambda c=cell, t=source: services.plan_move_cell(plan=plan, cell=c, to_area=t, actor=None)
            )
            note("move it back (the problem goes)", w, c)
        if check:
            for cell, source, target in moves[rounds : 2 * rounds]:
                r = services.plan_move_cell(plan=plan, cell=cell, to_area=target, actor=None)
                index = next(
                    (
                        i
                        for i, p in enumerate(r["problems"])
                        if p["params"].get("code") == source.code
                        and p["kind"] == "out_of_range"
                        and p["params"]["alternative"].get("feasible")
                    ),
                    None,
                )
                if index is None:
                    continue
                w, c, _r = timed(
                    lambda i=index, code=source.code: services.plan_apply_alternative(
                        plan=plan, index=i, code=code, actor=None
                    )
                )
                note("apply an area's alternative", w, c)
        big = list(
            PlanArea.objects.filter(plan=plan)
            .annotate(n=Count("cells"))
            .filter(n__gte=3)
            .order_by("code")[:rounds]
        )
        for area in big:
            w, c, r = timed(lambda a=area: services.plan_split_area(plan=plan, area=a, actor=None))
            note("split an area", w, c)
            new = PlanArea.objects.get(plan=plan, code=next(k for k in r["sizes"] if k != area.code))
            kept = PlanArea.objects.get(pk=area.pk)
            w, c, _r = timed(
                lambda o=new, k=kept: services.plan_merge_areas(plan=plan, area=k, other=o, actor=None)
            )
            note("merge the halves back", w, c)
        done = 0
        for a in PlanArea.objects.filter(plan=plan).select_related("grid").order_by("code"):
            if done >= rounds:
                break
            if a.grid.weight - a.weight >= plan.config["grid_min"] or a.grid.areas.count() < 2:
                continue
            grid = (
                PlanGrid.objects.filter(plan=plan, boundary__intersects=a.boundary)
                .exclude(pk=a.grid_id)
                .first()
            )
            if grid is None:
                continue
            short = a.grid.code
            w, c, r = timed(
                lambda a=a, g=grid: services.plan_move_area(plan=plan, area=a, to_grid=g, actor=None)
            )
            note("move an area to another grid (its grid falls short)", w, c)
            done += 1
            if check:
                index = next(
                    (
                        i
                        for i, p in enumerate(r["problems"])
                        if p["params"].get("code") == short
                        and p["kind"] == "out_of_range"
                        and p["params"]["alternative"].get("feasible")
                    ),
                    None,
                )
                if index is not None:
                    w, c, _r = timed(
                        lambda i=index, code=short: services.plan_apply_alternative(
                            plan=plan, index=i, code=code, actor=None
                        )
                    )
                    note("apply a grid's alternative", w, c)
        plan.refresh_from_db()
        GriddingPlan.objects.filter(pk=plan.pk).update(problems=plan.problems)
    finally:
        services.recheck = original
    return times


def report(
    name: str,
    plan: Any,
    made: float,
    problems: tuple[int, int],
    with_check: dict,
    baseline: dict,
    relink: float,
) -> None:
    from gridgov.gridding.models import PlanArea, PlanCell

    print(f"\n### {name}\n")
    cells, areas = PlanCell.objects.filter(plan=plan).count(), PlanArea.objects.filter(plan=plan).count()
    print(
        f"{cells:,} cells, {areas:,} areas; problems: {problems[0]} in the plan made, {problems[1]} after "
        f"the rounds with the check; plan_create {made:.1f} s wall\n"
    )
    print("| adjustment | n | with the check: wall / CPU (median, ms) | baseline (no check) | max wall |")
    print("|---|---|---|---|---|")
    for label, values in with_check.items():
        w = statistics.median(v[0] for v in values) * 1000
        c = statistics.median(v[1] for v in values) * 1000
        top = max(v[0] for v in values) * 1000
        base = baseline.get(label)
        b = "—"
        if base:
            bw, bc = (statistics.median(v[k] for v in base) * 1000 for k in (0, 1))
            b = f"{bw:.0f} / {bc:.0f}"
        print(f"| {label} | {len(values)} | {w:.0f} / {c:.0f} | {b} | {top:.0f} |")
    print(f"\nLinking a plan kept without the cells' links (once, from the outlines): {relink:.2f} s wall")


def bench_community(name: str, community: Any, rounds: int, settings: Any = None) -> None:
    from gridgov.gridding import services
    from gridgov.gridding.models import PlanCell

    w, _c, result = timed(lambda: services.plan_create(community=community, actor=None, settings=settings))
    plan = result.plan
    del result  # (the engine's plan, its geometry: not what a web worker holds while staff adjust)
    gc.collect()
    made = len(plan.problems)
    if PROFILE:
        import cProfile
        import pstats

        cell, source, target = candidates(plan)[-1]
        prof = cProfile.Profile()
        prof.runcall(services.plan_move_cell, plan=plan, cell=cell, to_area=target, actor=None)
        services.plan_move_cell(plan=plan, cell=cell, to_area=source, actor=None)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    # The first move of a plan in a process reads its cells (items and links) once: timed apart.
    from gridgov.gridding import checks

    checks._CELLS.clear()
    cell, source, target = candidates(plan)[-1]
    first = timed(lambda: services.plan_move_cell(plan=plan, cell=cell, to_area=target, actor=None))
    services.plan_move_cell(plan=plan, cell=cell, to_area=source, actor=None)
    with_check = {"first move of the plan in a process (its cells read)": [first[:2]]}
    with_check.update(run_rounds(plan, rounds, check=True))
    plan.refresh_from_db()
    after = len(plan.problems)
    baseline = run_rounds(plan, rounds, check=False)
    plan.refresh_from_db()
    # The one-off cost for a plan kept before the links were: its cells linked from their outlines.
    from gridgov.gridding.checks import _link_from_outlines

    PlanCell.objects.filter(plan=plan).update(index=None, neighbours=[])
    relink, _c2, _r = timed(lambda: _link_from_outlines(plan))
    report(name, plan, w, (made, after), with_check, baseline, relink)


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db.models import Count, Q

    from gridgov.geo.models import Community
    from gridgov.gridding.services import GriddingSettings

    call_command("migrate", verbosity=0)
    from gridgov.gridding.algorithm import tessellate

    tessellate.warm()
    from gridgov.gridding.algorithm import plan_community
    from gridgov.gridding.algorithm.synthetic import lattice_community

    plan_community(lattice_community(200, seed=3))  # numba kernels loaded (or compiled) before any timing
    biggest = (
        Community.objects.annotate(n=Count("households", filter=Q(households__active=True)))
        .order_by("-n")
        .first()
    )
    print(f"## Adjusting a plan: load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at the start\n")
    if args.demo:
        bench_community(
            f"demo city's biggest community {biggest.code} ({biggest.n:,} households)", biggest, args.rounds
        )
    if args.buildings:
        t0 = time.perf_counter()
        community = lattice_in_db(args.buildings, args.seed)
        n = community.households.filter(active=True).count()
        print(
            f"\n(lattice community of {args.buildings:,} buildings, {n:,} households, "
            f"made in {time.perf_counter() - t0:.0f} s)"
        )
        # (grid codes have three digits: ~120,000 households in grids of 100–300 would need more than
        # 999 grids, so the lattice's grids hold 300–600 households; areas keep 15–20)
        lo, hi = (float(x) for x in args.lattice_grid_range.split("-"))
        settings = GriddingSettings(grid_min=lo, grid_max=hi)
        bench_community(
            f"lattice community, {args.buildings:,} buildings ({n:,} households), grids of {lo:g}–{hi:g}",
            community,
            args.rounds,
            settings,
        )
    print(f"\nload {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} at the end")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--buildings", type=int, default=10_000, help="lattice community (0: the demo community only)"
    )
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-demo", dest="demo", action="store_false", help="the lattice community only")
    p.add_argument("--profile", action="store_true", help="cProfile of one move with the check (to stderr)")
    p.add_argument("--lattice-grid-range", default="300-600", help="households per grid in the lattice")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    with base.throwaway_db():
        run(args)


if __name__ == "__main__":
    main()
