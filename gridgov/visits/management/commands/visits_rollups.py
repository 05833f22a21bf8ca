"""manage.py visits_rollups: rebuild the compliance rollups from the visits, or check them."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from gridgov.visits import rollups


class Command(BaseCommand):
    help = (
        "Rebuild the visit compliance rollups from the visits (--check: compare with the kept state first)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Report whether the kept state agrees.")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["check"]:
            kept = rollups.snapshot()
            with transaction.atomic():
                rollups.rebuild()
                fresh = rollups.snapshot()
                transaction.set_rollback(True)
            if kept != fresh:
                raise CommandError(
                    "the kept rollups differ from a rebuild: run visits_rollups to repair them"
                )
            self.stdout.write("rollups agree with the visits")
            return
        started = time.monotonic()
        rollups.rebuild()
        self.stdout.write(f"rollups rebuilt in {time.monotonic() - started:.2f} s")
