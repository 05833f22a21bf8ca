"""Write audit rows. Services call `record` inside their transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from .models import AuditEntry


def record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    **data: Any,
) -> AuditEntry:
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = str(obj.pk)
    return AuditEntry.objects.create(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=data,
    )
