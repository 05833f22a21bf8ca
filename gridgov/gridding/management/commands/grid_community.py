"""manage.py grid_community CODE: grid one community, or every community of a street or district."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridgov.core.errors import GridgovError
from gridgov.geo.models import Community

from ...services import GriddingSettings, plan_approve, plan_create


def _range(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition("-")
    try:
        return float(lo), float(hi)
    except ValueError as exc:
        raise CommandError(f"a range is written like 15-20, not {text!r}") from exc


class Command(BaseCommand):
    help = (
        "Grid a community (12-digit code), or every community under a street (9) or district (6): "
        "compute a plan, report its quality, keep it as a draft, and with --approve put it in force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("code")
        parser.add_argument("--dry-run", action="store_true", help="Compute and report only; save nothing.")
        parser.add_argument("--approve", action="store_true", help="Put the new plan in force at once.")
        parser.add_argument(
            "--fresh", action="store_true", help="Ignore the grids in force (no stable re-grid)."
        )
        parser.add_argument("--area-range", default="15-20", help="Households per responsibility area.")
        parser.add_argument("--grid-range", default="100-300", help="Households per grid.")

    def handle(self, *args: Any, **opts: Any) -> None:
        code = opts["code"]
        if not code.isdigit() or len(code) not in (6, 9, 12):
            raise CommandError(f"{code!r} is not a district (6), street (9) or community (12) code")
        communities = list(Community.objects.filter(code__startswith=code).order_by("code"))
        if not communities:
            raise CommandError(f"no community under code {code}")
        amin, amax = _range(opts["area_range"])
        gmin, gmax = _range(opts["grid_range"])
        settings = GriddingSettings(area_min=amin, area_max=amax, grid_min=gmin, grid_max=gmax)
        wrong = settings.problems()
        if wrong:  # before any community is touched (a reversed range left the engine looping)
            by_option: dict[str, list[str]] = {}
            for name, messages in wrong.items():
                said = by_option.setdefault(f"--{name.split('_')[0]}-range", [])
                said += [m for m in messages if m not in said]
            raise CommandError("; ".join(f"{opt}: {' '.join(ms)}" for opt, ms in by_option.items()))
        failures = 0
        for i, community in enumerate(communities, start=1):
            started = time.monotonic()
            self.stderr.write(f"[{i}/{len(communities)}] {community.code} {community.name} …")
            try:
                result = plan_create(
                    community=community,
                    actor=None,
                    settings=settings,
                    fresh=opts["fresh"],
                    save=not opts["dry_run"],
                )
                q = result.quality
                self.stdout.write(
                    f"{community.code} {community.name}: {q['grids']} grids, {q['areas']} areas, "
                    f"in range {q['areas_in_range']:.1%} (grids {q['grids_in_range']:.1%}), "
                    f"multipart {q['multipart_polygons']}, gap {q['gap_area_m2']:.2f} m², "
                    f"overlap {q['overlap_area_m2']:.2f} m², "
                    f"Polsby–Popper mean {q['pp_mean']:.2f} min {q['pp_min']:.2f}, "
                    f"buildings split {q['buildings_split']:.1%}"
                    + (
                        f", kept area {q['kept_same_area']:.1%}"
                        if q.get("kept_same_area") is not None
                        else ""
                    )
                    + (f", re-grid {q['regrid_path']}" if q.get("regrid_path") else "")
                    + f" ({time.monotonic() - started:.1f} s)"
                )
                for w in result.warnings:
                    self.stdout.write(f"  warning: {w}")
                for p in result.problems:
                    if p["kind"] in ("infeasible_block", "infeasible_community"):
                        self.stdout.write(f"  infeasible: {p['message']}; {p['alternative']}")
                bad = [p for p in result.problems if p["kind"] in ("out_of_range", "not_contiguous")]
                if bad:
                    self.stdout.write(
                        f"  {len(bad)} area/grid problem(s): " + "; ".join(p["message"] for p in bad[:5])
                    )
                    for p in bad[:5]:
                        if p.get("alternative"):
                            self.stdout.write(
                                f"    {p['where'][0] if p['where'] else ''}: {p['alternative']}"
                            )
                if result.plan is not None:
                    self.stdout.write(f"  draft plan #{result.plan.pk}")
                    if opts["approve"]:
                        applied = plan_approve(plan=result.plan, actor=None)
                        self.stdout.write(
                            self.style.SUCCESS(
                                f"  approved: {applied.grids} grids, {applied.areas} areas; "
                                f"{len(applied.unassigned_areas)} area(s) without a member, "
                                f"{len(applied.grids_without_leader)} grid(s) without a leader"
                            )
                        )
            except GridgovError as exc:
                failures += 1
                self.stderr.write(self.style.ERROR(f"{community.code}: {exc.message}"))
        if failures:
            raise CommandError(f"{failures} of {len(communities)} communities could not be gridded")
