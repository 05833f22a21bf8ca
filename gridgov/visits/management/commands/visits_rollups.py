"""manage.py visits_rollups: rebuild the compliance rollups from the visits, or check them."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridgov.visits import recompute


class Command(BaseCommand):
    help = (
        "Rebuild the visit compliance rollups from the visits (--check: compare with the kept state first)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Report whether the kept state agrees.")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["check"]:
            started = time.monotonic()
            differ = {name: n for name, n in recompute.differences().items() if n}
            if differ:
                raise CommandError(
                    f"the kept rollups differ from a rebuild ({differ} rows): run visits_rollups to repair"
                )
            took = time.monotonic() - started
            self.stdout.write(f"rollups agree with the visits (checked in {took:.2f} s)")
            return
        started = time.monotonic()
        recompute.rebuild()
        self.stdout.write(f"rollups rebuilt in {time.monotonic() - started:.2f} s")
