"""Gridding problems in the user's language: the engine stores a kind and its numbers."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _


def _n(value: Any) -> str:
    return f"{float(value):g}"


def problem_text(problem: dict[str, Any]) -> tuple[str, str]:
    """(message, alternative) for a stored problem; falls back to the engine's English text."""
    p = problem.get("params") or {}
    kind = problem.get("kind")
    if kind == "out_of_range" and p:
        values = {"code": p.get("code", ""), "n": _n(p["weight"]), "lo": _n(p["lo"]), "hi": _n(p["hi"])}
        if p.get("level") == "grid":
            return _("Grid %(code)s holds %(n)s households (range %(lo)s–%(hi)s)") % values, ""
        return _("Area %(code)s holds %(n)s households (range %(lo)s–%(hi)s)") % values, ""
    if kind == "not_contiguous" and p:
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
