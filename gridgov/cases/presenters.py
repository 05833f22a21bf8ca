"""How a case is shown: to staff (by role: reporter contact only where allowed), and to residents."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils import timezone

from gridgov.accounts.models import Role, acting_role
from gridgov.core.names import display_name

from . import selectors, services
from .models import Case, Category, Level
from .texts import ACTIONS, ACTORS

# Who sees the reporter's name and contact (departments only when the reporter agreed).
CONTACT_ROLES = {Role.MEMBER, Role.LEADER, Role.COMMUNITY, Role.COORDINATOR, Role.ADMIN}


def _dt(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value else None


def sees_contact(case: Case, user: Any) -> bool:
    role = acting_role(user)
    if case.reported_by_id and case.reported_by_id == getattr(user, "pk", None):
        return True
    if role == Role.DEPARTMENT:
        return case.share_contact
    return role in CONTACT_ROLES


def case_summary(case: Case, user: Any) -> dict[str, Any]:
    return {
        "id": str(case.uuid),
        "reference": case.reference,
        "category": {"code": case.category.code, "name": display_name(case.category)},
        "description": case.description,
        "lon": case.location.x,
        "lat": case.location.y,
        "address": case.address,
        "channel": case.channel,
        "state": {"code": case.state_id, "name": display_name(case.state), "kind": case.state.kind},
        "level": case.level,
        "level_name": str(Level(case.level).label),
        "light": case.light,
        "deadline": _dt(case.deadline),
        "supervised": case.supervised,
        "returns": case.returns,
        "escalations": case.escalations,
        "node_code": case.node_code,
        "fallback": case.fallback,
        "lead_department": case.lead_department.code if case.lead_department_id else None,
        "reported_at": _dt(case.reported_at),
        "version": case.version,
    }


def case_detail(case: Case, user: Any) -> dict[str, Any]:
    body = case_summary(case, user)
    body.update(
        {
            "token": case.token if sees_contact(case, user) else None,
            "assisting_departments": list(case.assisting_departments.values_list("code", flat=True)),
            "lead_department_name": display_name(case.lead_department) if case.lead_department_id else None,
            "filed_at": _dt(case.filed_at),
            "dispatched_at": _dt(case.dispatched_at),
            "closed_at": _dt(case.closed_at),
            "closed_on_time": case.closed_on_time,
            "warn_at": _dt(case.warn_at),
            "satisfaction": case.satisfaction,
            "evaluation": case.evaluation,
            "merged_into": str(case.merged_into.uuid) if case.merged_into_id else None,
            "attributes": case.attributes,
            "reporter": (
                {"name": case.reporter_name, "phone": case.reporter_phone, "email": case.reporter_email}
                if sees_contact(case, user)
                else None
            ),
            "photos": [{"url": photo_url(p), "stage": p.stage, "at": _dt(p.at)} for p in case.photos.all()],
            "extensions": [
                {
                    "id": e.pk,
                    "minutes": e.minutes,
                    "reason": e.reason,
                    "approved": e.approved,
                    "requested_at": _dt(e.requested_at),
                }
                for e in case.extensions.order_by("requested_at")
            ],
            "timeline": [
                {
                    "at": _dt(e.at),
                    "action": e.action,
                    "action_name": str(ACTIONS.get(e.action, e.action)),
                    "actor": str(ACTORS.get(e.actor_label, e.actor_label)),
                    "from_state": e.from_state,
                    "to_state": e.to_state,
                    "from_level": e.from_level,
                    "to_level": e.to_level,
                    "comment": e.comment,
                    "public": e.public,
                    "data": e.data,
                }
                for e in case.events.order_by("at", "id")
            ],
            "actions": services.allowed_actions(case, user),
        }
    )
    return body


def duplicates_of(case: Case, user: Any) -> list[dict[str, Any]]:
    if case.state.kind != "open":
        return []
    qs = selectors.visible_cases(
        user, services.duplicates(case.category, case.location, at=case.reported_at, exclude=case)
    )
    return [case_summary(c, user) for c in qs.select_related("category", "state", "lead_department")[:10]]


def public_view(case: Case) -> dict[str, Any]:
    """What the tracking link shows: status and public notes only; nothing of a sensitive category's
    content, and never who reported it or who handles it by name."""
    state = case.merged_into.state if case.merged_into_id else case.state
    body: dict[str, Any] = {
        "reference": case.reference,
        "token": case.token,
        "category": display_name(case.category),
        "status": state.kind,
        "status_name": state.public_name or state.name,
        "reported_at": _dt(case.reported_at),
        "expected_at": _dt(case.deadline) if case.state.kind == "open" else None,
        "closed_at": _dt(case.closed_at),
        "satisfaction": case.satisfaction,
        "can_evaluate": case.state_id == "closed" and case.satisfaction is None,
    }
    if not case.category.sensitive:
        body["description"] = case.description
        body["address"] = case.address
    source = case.merged_into if case.merged_into_id else case
    body["notes"] = [
        {"at": _dt(e.at), "action": str(ACTIONS.get(e.action, e.action)), "comment": e.comment}
        for e in source.events.filter(public=True).order_by("at", "id")
    ]
    return body


def category(c: Category) -> dict[str, Any]:
    return {
        "code": c.code,
        "name": display_name(c),
        "parent": c.parent.code if c.parent_id else None,
        "level": c.level,
        "sensitive": c.sensitive,
        "limits": {s: c.limit(s) for s in ("file", "dispatch", "handle", "verify")},
    }


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return _dt(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    return value


def photo_url(photo: Any) -> str:
    """Where a photo is seen: through the scoped view, never a public /media/ address."""
    return reverse("cases:photo", args=[photo.case.uuid, photo.pk])
