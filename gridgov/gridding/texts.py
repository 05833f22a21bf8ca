"""Gridding problems in the user's language: the engine stores a kind and its numbers."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.utils.translation import gettext as _


def _n(value: Any) -> str:
    return f"{float(value):g}"


def regrid_path_text(path: str) -> str:
    """A re-grid's path (`quality["regrid_path"]`: "stored", "incremental", "full", each perhaps with the
    engine's English reason in parentheses) as staff read it: the kind translated, the reason as given."""
    if not path:
        return ""
    kind, _sep, why = path.partition(" (")
    label = {
        "stored": _("the plan in force, unchanged"),
        "incremental": _("rebuilt around the change only"),
        "full": _("rebuilt in full"),
    }.get(kind, kind)
    return f"{label} ({why}" if why else label


def problem_text(problem: dict[str, Any]) -> tuple[str, str]:
    """(message, alternative) for a stored problem; falls back to the engine's English text."""
    p = problem.get("params") or {}
    kind = problem.get("kind")
    if kind == "out_of_range" and p:
        values = {"code": p.get("code", ""), "n": _n(p["weight"]), "lo": _n(p["lo"]), "hi": _n(p["hi"])}
        alternative = alternative_text(p.get("alternative"), p["lo"], p["hi"], p.get("level") == "grid")
        if alternative is None:  # stored before alternatives were computed: the engine's text, if any
            alternative = problem.get("alternative", "")
        if p.get("level") == "grid":
            return _("Grid %(code)s holds %(n)s households (range %(lo)s–%(hi)s)") % values, alternative
        return _("Area %(code)s holds %(n)s households (range %(lo)s–%(hi)s)") % values, alternative
    if kind == "not_contiguous" and p:
        if p.get("level") == "grid":
            return _("Grid %(code)s is in several pieces") % {"code": p.get("code", "")}, ""
        return _("Area %(code)s is in several pieces") % {"code": p.get("code", "")}, ""
    if kind == "infeasible_block" and p:
        values = {
            "n": _n(p["total"]),
            "lo": _n(p["lo"]),
            "hi": _n(p["hi"]),
            "below": _n(p["below"]),
            "above": _n(p["above"]),
        }
        return (
            _(
                "A block between barriers holds %(n)s households: "
                "it cannot be cut into groups of %(lo)s–%(hi)s"
            )
            % values,
            _(
                "The nearest feasible totals are %(below)s and %(above)s; "
                "the block joins a neighbouring block across the barrier instead."
            )
            % values,
        )
    if kind == "infeasible_community" and p:
        values = {
            "n": _n(p["total"]),
            "lo": _n(p["lo"]),
            "hi": _n(p["hi"]),
            "below": _n(p["below"]),
            "above": _n(p["above"]),
            "k": int(p["k"]),
            "avg": _n(p["average"]),
        }
        return (
            _("The community holds %(n)s households: it cannot be cut into groups of %(lo)s–%(hi)s") % values,
            _(
                "The nearest feasible totals are %(below)s and %(above)s; or accept %(k)s area(s) of about "
                "%(avg)s households."
            )
            % values,
        )
    return problem.get("message", ""), problem.get("alternative", "")


def alternative_text(alt: dict[str, Any] | None, lo: float, hi: float, grid: bool = False) -> str | None:
    """The nearest alternative of an area or grid out of range (`params["alternative"]`), in the user's
    language; None when the problem has none stored."""
    if not isinstance(alt, dict):
        return None
    steps = alt.get("steps") or []
    if not steps:
        if grid:
            return _("No move of whole areas nearby brings it nearer to the range.")
        return _("No move of whole buildings nearby brings it nearer to the range.")
    said = [_step_text(s) for s in steps]
    sizes = ", ".join(f"{code} {_size_text(w, lo, hi)}" for code, w in (alt.get("sizes") or {}).items())
    change = _("; then ").join(said) + " → " + sizes
    if alt.get("applied"):
        return _("Applied: %(change)s") % {"change": change}
    if alt.get("feasible"):
        return _("Nearest feasible alternative: %(change)s") % {"change": change}
    if grid:
        return _("No change of up to three moves puts every grid in range; the nearest: %(change)s") % {
            "change": change
        }
    return _("No change of up to three moves puts every area in range; the nearest: %(change)s") % {
        "change": change
    }


def _step_text(s: dict[str, Any]) -> str:
    op = s.get("op")
    if op == "move":
        values = {
            "building": s.get("building_name") or s.get("building", ""),
            "part": s.get("part", 0),
            "n": s.get("households", 0),
            "from": s.get("from", ""),
            "to": s.get("to", ""),
        }
        if s.get("part"):
            return (
                _("move run %(part)s of %(building)s (%(n)s households) from area %(from)s to area %(to)s")
                % values
            )
        return _("move %(building)s (%(n)s households) from area %(from)s to area %(to)s") % values
    if op == "merge":
        return _("merge area %(area)s into area %(into)s") % {"area": s.get("area"), "into": s.get("into")}
    if op == "move_area":
        values = {"area": s.get("area"), "from": s.get("from"), "to": s.get("to")}
        return _("move area %(area)s from grid %(from)s to grid %(to)s") % values
    return _("merge grid %(grid)s into grid %(into)s") % {"grid": s.get("grid"), "into": s.get("into")}


def _size_text(w: float, lo: float, hi: float) -> str:
    if w < lo - 1e-9:
        return _("%(n)s (%(d)s under)") % {"n": _n(w), "d": _n(lo - w)}
    if w > hi + 1e-9:
        return _("%(n)s (%(d)s over)") % {"n": _n(w), "d": _n(w - hi)}
    return _n(w)


AREA_STEPS = ("move", "merge")  # cells moved between areas, areas merged
GRID_STEPS = ("move_area", "merge_grid")  # areas moved between grids, grids merged


def applicable(problem: dict[str, Any]) -> bool:
    """Whether staff can apply the problem's alternative with the plan's own adjustments (an area's:
    cells moved, areas merged; a grid's: areas moved between grids, grids merged) and have not yet
    (plans stored before problems were checked again after each adjustment mark them so)."""
    params = problem.get("params") or {}
    alt = params.get("alternative")
    if not isinstance(alt, dict) or alt.get("applied") or alt.get("stale"):
        return False
    steps = alt.get("steps") or []
    ops = GRID_STEPS if params.get("level") == "grid" else AREA_STEPS
    return bool(steps) and all(s.get("op") in ops for s in steps)


def alternative_token(problem: dict[str, Any]) -> str:
    """A short fingerprint of a problem's alternative (its steps and the sizes they lead to): the page
    sends it back with "apply", so an alternative searched again since (another adjustment reached the
    area) is refused, not applied unseen."""
    alt = (problem.get("params") or {}).get("alternative")
    if not alt:
        return ""
    text = json.dumps(alt, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def problem_rows(problems: list[dict[str, Any]], editable: bool) -> list[dict[str, Any]]:
    """The plan's problems as a page lists them, in the user's language: number, kind, the area or grid,
    message, alternative and whether it can be applied here in one step."""
    rows = []
    for i, p in enumerate(problems):
        message, alternative = problem_text(p)
        params = p.get("params") or {}
        rows.append(
            {
                "index": i,
                "kind": p.get("kind", ""),
                "level": params.get("level", ""),
                "code": params.get("code", ""),
                "message": message,
                "alternative": alternative,
                "applicable": editable and applicable(p),
                "token": alternative_token(p),
            }
        )
    return rows
