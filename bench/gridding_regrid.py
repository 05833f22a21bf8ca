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
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--code", default="440308", help="community code, or a prefix (street, district)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per community (the median is reported)")
    ap.add_argument("--tree", default=str(Path(__file__).resolve().parent.parent), help="checkout to run")
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
