"""manage.py import_households FILE: the household ledger from CSV or XLSX (columns: see the importer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridgov.core.errors import GridgovError
from gridgov.geo.management.commands.import_boundaries import ProgressPrinter, fail, write_report
from gridgov.households.importers import import_households


class Command(BaseCommand):
    help = (
        "Import a household ledger (CSV in UTF-8 or GB18030, or XLSX). Validates every row first; "
        "writes all or nothing. Columns are documented in gridgov/households/importers.py."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="Validate and report; write nothing.")

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        progress = ProgressPrinter(self, "rows") if opts["verbosity"] >= 1 else None
        try:
            report = import_households(path, dry_run=opts["dry_run"], progress=progress)
        except GridgovError as exc:
            raise fail(self, exc) from exc
        write_report(self, report)
