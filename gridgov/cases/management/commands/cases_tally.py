"""Check or rebuild the monitoring tally (after re-parenting categories, or to verify it)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from gridgov.cases import tally


class Command(BaseCommand):
    help = "Compare the monitoring tally with a recount (--check), or rebuild it from the cases."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--check", action="store_true", help="Only compare; exit 1 when they differ.")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["check"]:
            wrong = tally.check()
            for code, dim, value, kept, fresh in wrong[:20]:
                self.stdout.write(f"{code} {dim}={value}: kept {kept}, recount {fresh}")
            if wrong:
                raise CommandError(
                    f"{len(wrong)} tally rows differ from a recount; run cases_tally to rebuild"
                )
            self.stdout.write("The tally agrees with a recount.")
            return
        tally.rebuild()
        self.stdout.write("Tally rebuilt from the cases.")
