"""manage.py import_boundaries FILE --level LEVEL: boundaries from GeoJSON, zipped Shapefile or GeoPackage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridgov.core.errors import GridgovError, ImportRejected, ImportReport
from gridgov.geo.importers import AUTO, import_boundaries
from gridgov.geo.models import LEVELS


def write_report(command: BaseCommand, report: ImportReport) -> None:
    """The summary on stdout, repairs and warnings on stderr (shared with import_households)."""
    for problem in report.repaired:
        command.stderr.write(f"repaired: {problem}")
    for problem in report.warnings:
        command.stderr.write(f"warning: {problem}")
    prefix = "Dry run, nothing written: " if report.dry_run else "Imported: "
    command.stdout.write(command.style.SUCCESS(prefix + report.summary()))


def fail(command: BaseCommand, exc: GridgovError) -> CommandError:
    """Every problem on stderr, then the CommandError (exit code 1) to raise."""
    if isinstance(exc, ImportRejected):
        for problem in exc.problems:
            command.stderr.write(f"error: {problem}")
        for problem in exc.warnings:
            command.stderr.write(f"warning: {problem}")
        return CommandError(f"{len(exc.problems)} error(s); nothing was imported.")
    return CommandError(exc.message)


class ProgressPrinter:
    """progress(done, total) on stderr: one rewritten line on a terminal, a line per 10% otherwise."""

    def __init__(self, command: BaseCommand, label: str) -> None:
        self.command = command
        self.label = label
        self.tty = command.stderr.isatty()
        self.last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            end = "\n" if done >= total else ""
            self.command.stderr.write(f"\r{self.label} {done}/{total}", ending=end)
            self.command.stderr.flush()
            return
        decile = 10 * done // max(total, 1)
        if decile != self.last_decile:
            self.last_decile = decile
            self.command.stderr.write(f"{self.label} {done}/{total}")


class Command(BaseCommand):
    help = (
        "Import boundaries (GeoJSON, zipped Shapefile, GeoPackage) at one level of the hierarchy, "
        "or 'auto' (level from code length). Validates everything first; writes all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--level", required=True, choices=[*LEVELS, AUTO])
        parser.add_argument("--code-field", default="code", help="Attribute with the code.")
        parser.add_argument("--name-field", default="name", help="Attribute with the name.")
        parser.add_argument("--name-en-field", default=None, help="Attribute holding the English name.")
        parser.add_argument("--gcj02", action="store_true", help="Coordinates are GCJ-02 (Gaode/Tencent).")
        parser.add_argument(
            "--srid", type=int, default=None, help="EPSG code of the coordinates (needed without a CRS)."
        )
        parser.add_argument("--synthetic", action="store_true", help="Mark the rows as generated demo data.")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report; write nothing.")

    def handle(self, *args: Any, **opts: Any) -> None:
        path: Path = opts["file"]
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        progress = ProgressPrinter(self, "features") if opts["verbosity"] >= 1 else None
        try:
            report = import_boundaries(
                path,
                level=opts["level"],
                code_field=opts["code_field"],
                name_field=opts["name_field"],
                name_en_field=opts["name_en_field"],
                gcj02=opts["gcj02"],
                srid=opts["srid"],
                synthetic=opts["synthetic"],
                dry_run=opts["dry_run"],
                progress=progress,
            )
        except GridgovError as exc:
            raise fail(self, exc) from exc
        write_report(self, report)
