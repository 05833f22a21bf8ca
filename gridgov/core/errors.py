"""The error catalogue: every error gridgov raises on purpose has a stable code.

Importers follow django.contrib.gis LayerMapping: check the whole input first, collect every
problem with the line or feature and the field at fault, and only then write.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

# Stable codes -> human message templates (translatable). Codes never change meaning.
CATALOGUE: dict[str, Any] = {
    "import.empty": _("The file contains no rows or features."),
    "import.unreadable": _("The file cannot be read: {detail}"),
    "import.format": _("Unsupported file type {detail}; use GeoJSON, a zipped Shapefile or GeoPackage."),
    "import.invalid": _("The file has {count} error(s); nothing was imported."),
    "import.srid": _("The SRID must be an EPSG code (an integer)."),
    "scope.denied": _("This is outside your scope."),
    "visits.decided": _("This visit was already decided ({detail})."),
    "gridding.input": _("The community cannot be gridded: {detail}"),
    "gridding.codes": _(
        "Community {community} cannot be numbered: the plan has {grids} grids (codes allow at most "
        "{max_grids}) and up to {areas} areas in a grid (codes allow at most {max_areas}). Widen the "
        "grid and area ranges, or split the community."
    ),
    "gridding.stale": _(
        "The household ledger changed since this plan was made ({detail}); run gridding again."
    ),
    "gridding.not_draft": _("Only a draft plan can be changed or approved; this one is {detail}."),
    "gridding.multipart": _("Some areas are in several pieces ({detail}); adjust them before approving."),
    "gridding.not_adjacent": _("The building does not border the target area."),
    "gridding.range": _("{detail}"),
    "gridding.settings": _("These ranges cannot be gridded: {detail}"),
    "gridding.no_alternative": _("This problem has no alternative to apply, or it was applied already."),
    "gridding.stale_alternative": _(
        "The plan changed since the alternative was computed ({detail}); adjust the areas by hand."
    ),
    "cases.category": _("Unknown or inactive category {detail}; choose one of the leaf categories."),
    "cases.outside": _(
        "The location is outside every grid, community and street, and no territorial fallback is configured."
    ),
    "cases.not_allowed": _("“{action}” is not possible while the issue is “{state}”."),
    "cases.role": _("Your role may not “{action}” this issue."),
    "cases.conflict": _("Someone else changed this issue meanwhile (now “{state}”); reload and try again."),
    "cases.comment_required": _("A reason is required for “{action}”."),
    "cases.invalid": _("{detail}"),
}

# HTTP status per code where it is not 400.
HTTP_STATUS: dict[str, int] = {"cases.role": 403, "cases.conflict": 409, "cases.not_allowed": 409}


class GridgovError(Exception):
    """Base of every deliberate gridgov error; `code` is from CATALOGUE."""

    def __init__(self, code: str, message: str | None = None, **params: Any) -> None:
        self.code = code
        self.params = params
        template = CATALOGUE.get(code, code)
        self.message = message or str(template).format(**params)
        self.http_status = HTTP_STATUS.get(code, 400)
        super().__init__(self.message)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in an input, located by line or feature and field."""

    where: str
    field: str
    message: str
    severity: str = "error"  # "error" blocks the import, "warning" is reported only

    def __str__(self) -> str:
        loc = f"{self.where}, field '{self.field}'" if self.field else self.where
        return f"{loc}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class ImportReport:
    """What an import did or would do: counts, repairs and warnings."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would be" if self.dry_run else ""
        parts = [
            f"{self.created} {verb} created".replace("  ", " "),
            f"{self.updated} {verb} updated".replace("  ", " "),
            f"{self.unchanged} unchanged",
        ]
        if self.repaired:
            parts.append(f"{len(self.repaired)} geometries repaired")
        if self.warnings:
            parts.append(f"{len(self.warnings)} warnings")
        return ", ".join(parts)


class ImportRejected(GridgovError):
    """The input has errors; nothing was written. `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = [p for p in problems if p.severity == "error"]
        self.warnings = [p for p in problems if p.severity != "error"]
        super().__init__("import.invalid", count=len(self.problems))

    def __str__(self) -> str:
        head = self.message
        lines = [f"  - {p}" for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"  … and {len(self.problems) - 50} more")
        return "\n".join([head, *lines])
