"""Recording visits: validate every item, verify it, write the batch in one statement.

A batch is what a phone sends when it gets signal back. Each item carries a UUID made on the
device, so a retried batch creates nothing twice; a bad item is reported with its field errors and
does not sink the good ones; device time and server receipt time are both kept.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely
from django.conf import settings
from django.contrib.gis.db.models import GeometryField
from django.contrib.gis.db.models.functions import AsWKB
from django.db import connection, transaction
from django.db.models import Max
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from gridgov.accounts import scoping
from gridgov.accounts.models import Role
from gridgov.core import audit
from gridgov.households.models import Household

from . import rollups
from .models import Channel, Finding, Flag, Review, Visit

EARTH_M = 6_371_008.8
# Enum .values builds a new list on each access: look them up once (parsing runs per visit).
CHANNELS = frozenset(Channel.values)
FINDINGS = frozenset(Finding.values)


@dataclass
class ItemResult:
    index: int
    id: str | None
    status: str  # "created" | "exists" | "error"
    errors: dict[str, list[str]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "id": self.id, "status": self.status}
        if self.errors:
            out["errors"] = self.errors
        if self.status == "created":
            out["flags"] = self.flags
            out["counted"] = not self.flags
        return out


@dataclass
class _Item:
    index: int
    id: uuid.UUID
    household_code: str
    channel: str
    lon: float | None
    lat: float | None
    accuracy: float | None
    device_time: datetime
    notes: str
    findings: list[str]
    issue_ref: uuid.UUID | None
    household: dict[str, Any] | None = None
    flags: list[str] = field(default_factory=list)
    distance: float | None = None


def rules() -> dict[str, float]:
    return settings.GRIDGOV_VISIT_RULES


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _parse(index: int, raw: Any, now: datetime) -> tuple[_Item | None, dict[str, list[str]]]:
    """Field-level validation of one item (no database access)."""
    errors: dict[str, list[str]] = defaultdict(list)
    if not isinstance(raw, dict):
        return None, {"non_field_errors": [_("Each visit must be an object.")]}
    try:
        vid = _uuid(raw.get("id"))
    except (ValueError, TypeError, AttributeError):
        errors["id"].append(_("A UUID made on the device is required."))
        vid = None
    code = raw.get("household")
    if not isinstance(code, str) or not code.strip():
        errors["household"].append(_("The household code is required."))
    channel = raw.get("channel", Channel.IN_PERSON)
    if channel not in CHANNELS:
        errors["channel"].append(_("Unknown channel %(value)s.") % {"value": channel})
    lon, lat, accuracy = raw.get("lon"), raw.get("lat"), raw.get("accuracy")
    if lon is None and lat is None:
        if channel == Channel.IN_PERSON:
            errors["lat"].append(_("An in-person visit needs the GPS fix (lat, lon)."))
    else:
        for name, value, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                errors[name].append(_("Must be a number."))
            elif not -limit <= value <= limit:
                errors[name].append(_("Out of range (±%(limit)s).") % {"limit": int(limit)})
        if accuracy is None:
            errors["accuracy"].append(_("The accuracy of the GPS fix is required with the fix."))
    if accuracy is not None and (
        isinstance(accuracy, bool)
        or not isinstance(accuracy, int | float)
        or not math.isfinite(accuracy)
        or accuracy <= 0
    ):
        errors["accuracy"].append(_("Must be a positive number of metres."))
    when = raw.get("device_time")
    device_time = parse_datetime(when) if isinstance(when, str) else None
    if device_time is None:
        errors["device_time"].append(_("An ISO 8601 date and time with its time zone is required."))
    elif timezone.is_naive(device_time):
        errors["device_time"].append(_("The time zone is missing."))
    elif device_time > now + timedelta(minutes=rules()["future_skew_minutes"]):
        errors["device_time"].append(_("This time is in the future."))
    notes = raw.get("notes", "")
    if not isinstance(notes, str) or len(notes) > 2000:
        errors["notes"].append(_("Text of at most 2,000 characters."))
    findings = raw.get("findings", [])
    if not isinstance(findings, list) or any(f not in FINDINGS for f in findings):
        errors["findings"].append(_("A list of: %(values)s.") % {"values": ", ".join(Finding.values)})
    issue_ref = raw.get("issue_ref")
    if issue_ref is not None:
        try:
            issue_ref = _uuid(issue_ref)
        except (ValueError, TypeError, AttributeError):
            errors["issue_ref"].append(_("Must be a UUID."))
    if errors:
        return None, dict(errors)
    return _Item(
        index,
        vid,
        code.strip(),
        channel,
        None if lon is None else float(lon),
        None if lat is None else float(lat),
        None if accuracy is None else float(accuracy),
        device_time,
        notes,
        sorted(set(findings)),
        issue_ref,
    ), {}


def visitable_households(user: Any) -> Any:
    """Households a user may log visits for: a member's whole grid(s) (visits outside their own areas
    are flagged), a leader's grid, and the ledger scope of community staff and administrators."""
    if getattr(user, "role", None) == Role.MEMBER:
        member = getattr(user, "member", None)
        if member is None or not member.active:
            return Household.objects.none()
        grids = list(member.areas.values_list("grid_id", flat=True))
        return Household.objects.filter(area__grid_id__in=grids)
    return scoping.households(user)


def _haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(a))


def record_visits(raw_items: list[Any], *, actor: Any) -> list[ItemResult]:
    """Validate, verify and store a batch of visits; one result per item, in order."""
    now = timezone.now()
    results: list[ItemResult | None] = [None] * len(raw_items)
    items: list[_Item] = []
    seen: set[uuid.UUID] = set()
    for i, raw in enumerate(raw_items):
        item, errors = _parse(i, raw, now)
        if item is not None and item.id in seen:
            errors = {"id": [_("The same id appears twice in this batch.")]}
            item = None
        if item is None:
            rid = raw.get("id") if isinstance(raw, dict) else None
            results[i] = ItemResult(i, None if rid is None else str(rid), "error", errors)
            continue
        seen.add(item.id)
        items.append(item)
    if items:
        _resolve_households(items, actor, results)
        items = [it for it in items if results[it.index] is None]
    if items:
        _verify(items, actor)
        created = _insert(items, actor, now)
        for it in items:
            status = "created" if it.id in created else "exists"
            results[it.index] = ItemResult(it.index, str(it.id), status, flags=it.flags)
        if created:
            audit.record(
                actor=actor,
                action="visits.sync",
                object_type="visits.visit",
                created=len(created),
                received=len(raw_items),
            )
    return [r for r in results if r is not None]


def _resolve_households(items: list[_Item], actor: Any, results: list[ItemResult | None]) -> None:
    codes = {it.household_code for it in items}
    rows = (
        visitable_households(actor)
        .filter(code__in=codes)
        .annotate(
            target=AsWKB(
                Coalesce(
                    "building__footprint", "building__point", "point", output_field=GeometryField(srid=4326)
                )
            )
        )
        .values("id", "code", "area_id", "area__member_id", "area__grid_id", "building_id", "target")
    )
    by_code = {r["code"]: r for r in rows}
    for it in items:
        hh = by_code.get(it.household_code)
        if hh is None:
            results[it.index] = ItemResult(
                it.index,
                str(it.id),
                "error",
                {"household": [_("Unknown household, or not one you may visit.")]},
            )
        else:
            it.household = hh


def _verify(items: list[_Item], actor: Any) -> None:
    r = rules()
    member = getattr(actor, "member", None) if getattr(actor, "role", None) == Role.MEMBER else None
    located = [it for it in items if it.lon is not None and it.channel != Channel.PHONE]
    if located:
        # Distances in a local plane around the batch (equirectangular: < 0.1% off within 20 km),
        # vectorised with shapely: building footprint, else building point, else household point.
        lon0 = sum(it.lon for it in located) / len(located)
        lat0 = sum(it.lat for it in located) / len(located)
        kx, ky = 111_320.0 * math.cos(math.radians(lat0)), 110_574.0

        def plane(c: np.ndarray) -> np.ndarray:
            return np.column_stack([(c[:, 0] - lon0) * kx, (c[:, 1] - lat0) * ky])

        targets = shapely.transform(
            shapely.from_wkb([bytes(it.household["target"]) for it in located]), plane
        )
        fixes = shapely.transform(shapely.points([(it.lon, it.lat) for it in located]), plane)
        for it, dist in zip(located, shapely.distance(fixes, targets).tolist(), strict=True):
            it.distance = float(dist)
    for it in located:
        if it.distance is not None and it.distance > r["max_distance_m"]:
            it.flags.append(Flag.FAR)
        if it.accuracy is not None and it.accuracy > r["max_accuracy_m"]:
            it.flags.append(Flag.ACCURACY)
    if member is not None:
        for it in items:
            if it.household["area__member_id"] != member.pk:
                it.flags.append(Flag.OUTSIDE)
    # A second visit to the same household within the window (earlier in the database or the batch).
    window = timedelta(hours=r["repeat_window_hours"])
    # Only visits near the batch's times can make a repeat: bound the look-up to that span.
    span = (min(it.device_time for it in items) - window, max(it.device_time for it in items) + window)
    last = dict(
        Visit.objects.filter(
            household_id__in={it.household["id"] for it in items}, counted=True, device_time__range=span
        )
        .values("household_id")
        .annotate(t=Max("device_time"))
        .values_list("household_id", "t")
    )
    for it in sorted(items, key=lambda it: it.device_time):
        hid = it.household["id"]
        prev = last.get(hid)
        if prev is not None and abs(it.device_time - prev) < window:
            it.flags.append(Flag.REPEAT)
        else:
            last[hid] = it.device_time
    # Implausible speed between a member's consecutive located visits.
    if member is not None and located:
        before = (
            Visit.objects.filter(
                member=member, location__isnull=False, device_time__lt=min(it.device_time for it in located)
            )
            .order_by("-device_time")
            .values_list("location", "device_time")
            .first()
        )
        track = [(p.x, p.y, t, None) for p, t in ([before] if before else [])]
        track += [
            (it.lon, it.lat, it.device_time, it) for it in sorted(located, key=lambda it: it.device_time)
        ]
        for (x1, y1, t1, _a), (x2, y2, t2, it) in itertools.pairwise(track):
            seconds = max((t2 - t1).total_seconds(), 1.0)
            if _haversine(x1, y1, x2, y2) / seconds > r["max_speed_mps"]:
                it.flags.append(Flag.SPEED)
    for it in items:
        it.flags = sorted(set(it.flags))


COPY_COLUMNS = (  # the columns a sync writes, in this order
    "id",
    "household_id",
    "member_id",
    "user_id",
    "channel",
    "location",
    "accuracy_m",
    "distance_m",
    "device_time",
    "received_at",
    "notes",
    "findings",
    "photo",
    "issue_ref",
    "flags",
    "review",
    "review_reason",
    "counted",
)


@transaction.atomic
def _insert(items: list[_Item], actor: Any, now: datetime) -> set[uuid.UUID]:
    """One INSERT … SELECT FROM unnest(column arrays) … ON CONFLICT DO NOTHING: ids already stored stay.

    (Cheaper than COPY into a temporary table and copying again: one statement, each row written once.)
    """
    member = getattr(actor, "member", None)

    def pg_array(values: list[str]) -> str:
        return "{" + ",".join(values) + "}"

    params = {
        "member": member.pk if member is not None else None,
        "user": actor.pk if getattr(actor, "is_authenticated", False) else None,
        "now": now,
        "ids": [it.id for it in items],
        "hids": [it.household["id"] for it in items],
        "channels": [it.channel for it in items],
        "locs": [None if it.lon is None else f"SRID=4326;POINT({it.lon!r} {it.lat!r})" for it in items],
        "acc": [it.accuracy for it in items],
        "dist": [it.distance for it in items],
        "times": [it.device_time for it in items],
        "notes": [it.notes for it in items],
        "findings": [pg_array(it.findings) for it in items],
        "issues": [it.issue_ref for it in items],
        "flags": [pg_array(it.flags) for it in items],
        "reviews": [Review.PENDING if it.flags else Review.NONE for it in items],
        "counted": [not it.flags for it in items],
    }
    cols = ", ".join(COPY_COLUMNS)
    with connection.cursor() as cur:
        cur.execute(
            f"""
            INSERT INTO visits_visit ({cols})
            SELECT t.id, t.household_id, %(member)s, %(user)s, t.channel, t.loc::geometry, t.acc, t.dist,
                   t.dt, %(now)s, t.notes, t.findings::varchar[], '', t.issue_ref, t.flags::varchar[],
                   t.review, '', t.counted
            FROM unnest(%(ids)s::uuid[], %(hids)s::bigint[], %(channels)s::text[], %(locs)s::text[],
                        %(acc)s::float8[], %(dist)s::float8[], %(times)s::timestamptz[], %(notes)s::text[],
                        %(findings)s::text[], %(issues)s::uuid[], %(flags)s::text[], %(reviews)s::text[],
                        %(counted)s::bool[])
                 AS t(id, household_id, channel, loc, acc, dist, dt, notes, findings, issue_ref, flags,
                      review, counted)
            ON CONFLICT (id) DO NOTHING
            RETURNING id, household_id, device_time, counted
            """,
            params,
        )
        rows = cur.fetchall()
    rollups.add_counted([(hid, t) for _id, hid, t, counted in rows if counted])
    return {row[0] for row in rows}


@transaction.atomic
def review(*, visit: Visit, approve: bool, reason: str, actor: Any) -> Visit:
    """The grid leader approves a flagged visit (it then counts) or rejects it with a reason."""
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if visit.review != Review.PENDING:
        from gridgov.core.errors import GridgovError

        raise GridgovError("visits.decided", detail=visit.get_review_display())
    visit.review = Review.APPROVED if approve else Review.REJECTED
    visit.counted = approve
    visit.reviewed_by = actor
    visit.reviewed_at = timezone.now()
    visit.review_reason = reason.strip()
    visit.save(update_fields=["review", "counted", "reviewed_by", "reviewed_at", "review_reason"])
    if approve:
        rollups.add_counted([(visit.household_id, visit.device_time)])
    audit.record(
        actor=actor, action="visits.review", obj=visit, decision=visit.review, reason=visit.review_reason
    )
    return visit


@transaction.atomic
def households_reassign(*, codes: list[str], area_code: str, actor: Any, reason: str = "") -> int:
    """A grid leader moves households to another responsibility area (so another member) of their grid.

    Every move is audited with the area it came from. Households or an area outside the leader's
    scope are refused (nothing moves).
    """
    from gridgov.core.errors import GridgovError
    from gridgov.geo.models import ResponsibilityArea

    if (
        getattr(actor, "role", None) not in (Role.LEADER, Role.COMMUNITY, Role.ADMIN)
        and not actor.is_superuser
    ):
        raise GridgovError("scope.denied")
    area = (
        scoping.visible_nodes(actor, ResponsibilityArea.objects.select_related("grid"))
        .filter(code=area_code)
        .first()
    )
    if area is None or not scoping.in_scope_code(actor, area.code):
        raise GridgovError("scope.denied")
    rows = list(scoping.households(actor).filter(code__in=codes).select_related("area"))
    if len(rows) != len(set(codes)):
        raise GridgovError("scope.denied")
    moved = 0
    for h in rows:
        if h.area_id == area.pk:
            continue
        before = h.area.code if h.area else None
        # update(), not save(): the per-row signal would refresh the rollups once per household; they
        # are refreshed once for all of them below.
        Household.objects.filter(pk=h.pk).update(area=area, updated_at=timezone.now())
        audit.record(
            actor=actor, action="households.reassign", obj=h, source=before, target=area.code, reason=reason
        )
        moved += 1
    rollups.refresh([h.pk for h in rows])
    return moved
