"""manage.py load_demo_city: the synthetic demo city on the real Yantian outline."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from gridgov.geo.demo_load import (
    DemoCityInUse,
    build_demo_city,
    delete_demo_city,
    grid_demo_city,
    load_demo_city,
)
from gridgov.geo.models import District, Street
from gridgov.visits import recompute


class Command(BaseCommand):
    help = "Generate and load the synthetic demo city (deterministic) on the real Yantian district outline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any district exists.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Replace the demo city (what lies below district 440308, the visits to its households "
            "included) in one transaction; refused when issues were reported in it.",
        )
        parser.add_argument("--households", type=int, default=30_000, help="Target number of households.")
        parser.add_argument(
            "--no-gridding",
            action="store_true",
            help="Keep the generator's quick partition instead of running the gridding engine.",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["if_empty"] and District.objects.exists():
            self.stdout.write("Database already holds districts: demo city not loaded.")
            return
        replacing = Street.objects.filter(code__startswith="440308").exists()
        if replacing and not opts["replace"]:
            raise CommandError("District 440308 exists already; use --replace to rebuild the demo city.")
        started = time.monotonic()
        # One transaction: a replacement that fails leaves the demo city as it was. The household table is
        # held first: the deletion's upkeep and the approvals take the delta table, and the rebuild at the
        # end the household table, which must come first (`recompute.hold_households`).
        with transaction.atomic():
            recompute.hold_households()
            if replacing:
                try:
                    gone = delete_demo_city("440308")
                except DemoCityInUse as e:
                    raise CommandError(str(e)) from e
                self.stderr.write(f"demo city deleted, with the {gone['visits']} visits to its households")
            city = build_demo_city(households=opts["households"])
            self.stderr.write(f"generated in {time.monotonic() - started:.1f} s; loading…")
            counts = load_demo_city(city, progress=lambda m: self.stderr.write("  " + m))
            if not opts["no_gridding"]:
                self.stderr.write("gridding every community with the gridding engine…")
                done = grid_demo_city(progress=lambda m: self.stderr.write("  " + m))
                counts["grids"], counts["areas"] = done["grids"], done["areas"]
            else:
                recompute.rebuild()  # (the loader writes households in bulk: the visit rollups derived)
        self.stdout.write(
            self.style.SUCCESS(
                "Demo city loaded (SYNTHETIC data on the real Yantian outline) in "
                f"{time.monotonic() - started:.1f} s: " + ", ".join(f"{v} {k}" for k, v in counts.items())
            )
        )
