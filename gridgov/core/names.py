"""Names in the reader's language: records carry a Chinese `name` and an optional English `name_en`."""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language


def display_name(obj: Any) -> str:
    """The English name when the active language is English and one is kept, else the name; "" for None."""
    if obj is None:
        return ""
    english = (get_language() or "").startswith("en")
    return (getattr(obj, "name_en", "") if english else "") or obj.name
