"""Reads for visits: due lists, the review queue, compliance shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from gridgov.accounts import scoping
from gridgov.accounts.models import Role
from gridgov.households.models import Household

from . import dashboards
from .models import Review, Visit, VisitPolicy
from .periods import following, previous, strictest, window

DUE_SOON_DAYS = 7


@dataclass(frozen=True)
class DefaultPolicy:
    """What applies when no active policy does (e.g. every policy was switched off): ≥4 visits a year."""

    key_group: str = ""
    period: str = "quarter"
    visits_per_period: int = 1


DEFAULT_POLICY = DefaultPolicy()


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _aware(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=_tz())


def own_households(user: Any) -> QuerySet[Household]:
    """A member's own households (their responsibility areas); for others, their ledger scope."""
    if getattr(user, "role", None) == Role.MEMBER:
        member = getattr(user, "member", None)
        if member is None or not member.active:
            return Household.objects.none()
        return Household.objects.filter(area__member=member)
    return scoping.households(user)


def _counts(qs: QuerySet[Household], today: date) -> QuerySet[Household]:
    """Annotate counted visits in the current and previous month, quarter and year, and the last one."""
    ann: dict[str, Any] = {"last_visit": Max("visits__device_time", filter=Q(visits__counted=True))}
    for period in ("month", "quarter", "year"):
        cur = window(period, today)
        prev = previous(period, cur)
        for name, w in (("cur", cur), ("prev", prev)):
            ann[f"{period}_{name}"] = Count(
                "visits",
                filter=Q(
                    visits__counted=True,
                    visits__device_time__gte=_aware(w.start),
                    visits__device_time__lt=_aware(w.end),
                ),
            )
    return qs.annotate(**ann)


def status_of(policy: Any, counts: dict[str, int], today: date) -> tuple[str, date]:
    """(status, next due date) for one household under `policy`.

    done: this period's visits are made; overdue: last period's were not and this period's are not
    yet; due_soon: the period ends within a week; due: otherwise.
    """
    cur = window(policy.period, today)
    need = policy.visits_per_period
    if counts[f"{policy.period}_cur"] >= need:
        return "done", following(policy.period, cur).last_day
    if counts[f"{policy.period}_prev"] < need:
        return "overdue", cur.last_day
    if (cur.last_day - today).days < DUE_SOON_DAYS:
        return "due_soon", cur.last_day
    return "due", cur.last_day


ORDER = {"overdue": 0, "due_soon": 1, "due": 2, "done": 3}


def due_list(user: Any, today: date | None = None) -> list[dict[str, Any]]:
    today = today or timezone.localdate()
    policies = list(VisitPolicy.objects.filter(active=True))
    rows = []
    qs = _counts(own_households(user).filter(active=True).select_related("building", "area"), today)
    # Visits the checks flagged count only once a leader approves them: the member sees they arrived.
    qs = qs.annotate(awaiting=Count("visits", filter=Q(visits__review=Review.PENDING)))
    for h in qs:
        policy = strictest(h.key_groups, policies) or DEFAULT_POLICY
        counts = {
            k: getattr(h, k)
            for k in ("month_cur", "month_prev", "quarter_cur", "quarter_prev", "year_cur", "year_prev")
        }
        state, due = status_of(policy, counts, today)
        rows.append(
            {
                "code": h.code,
                "address": h.address,
                "lon": h.point.x,
                "lat": h.point.y,
                "area": h.area.code if h.area else None,
                "key_groups": h.key_groups,
                "policy": {"period": policy.period, "visits": policy.visits_per_period},
                "done_this_period": counts[f"{policy.period}_cur"],
                "last_visit": h.last_visit.isoformat() if h.last_visit else None,
                "awaiting_review": h.awaiting,
                "status": state,
                "next_due": due.isoformat(),
            }
        )
    rows.sort(key=lambda r: (ORDER[r["status"]], r["next_due"], r["code"]))
    return rows


def reviewable(user: Any) -> QuerySet[Visit]:
    """Flagged visits the user may decide on: grid leaders (their grid), community staff, administrators."""
    if getattr(user, "role", None) not in (Role.LEADER, Role.COMMUNITY, Role.ADMIN) and not user.is_superuser:
        return Visit.objects.none()
    return Visit.objects.filter(review=Review.PENDING, household__in=scoping.households(user))


def review_queue(user: Any) -> list[dict[str, Any]]:
    qs = reviewable(user).select_related("household", "member").order_by("device_time")[:500]
    return [
        {
            "id": str(v.pk),
            "household": v.household.code,
            "address": v.household.address,
            "member": v.member.name if v.member else None,
            "channel": v.channel,
            "device_time": timezone.localtime(v.device_time).isoformat(),  # the leader's clock, not UTC
            "flags": v.flags,
            "distance_m": None if v.distance_m is None else round(v.distance_m, 1),
            "accuracy_m": v.accuracy_m,
            "photo": reverse("visits:photo", args=[v.pk]) if v.photo else None,
        }
        for v in qs
    ]


def visible_visits(user: Any) -> QuerySet[Visit]:
    """Visits the user logged, and visits to households in the user's ledger scope."""
    if not user.is_authenticated:
        return Visit.objects.none()
    return Visit.objects.filter(Q(user=user) | Q(household__in=scoping.households(user)))


LEVEL_PATHS = {
    "member": "area__member_id",
    "area": "area__code",
    "grid": "area__grid__code",
    "community": "community__code",
    "street": "community__street__code",
}


def compliance_rollups(user: Any, level: str, day: date, order: str = "key") -> list[dict[str, Any]]:
    """What the compliance API answers: per member or node of `level` in the user's scope, households,
    how many have the visits of the period holding `day` done, and the share; from the rollups."""
    scope = scoping.scope_of(user)
    if not scope.households:  # coordinators and departments do not see the ledger
        return []
    return dashboards.dashboard(level, day, [""] if scope.everything else scope.prefixes, order=order)


def compliance_page(
    user: Any, level: str, day: date, order: str, page: int, size: int
) -> tuple[list[dict[str, Any]], int, dict[str, Any] | None]:
    """One page of `compliance_rollups`, the number of rows and the scope's total (from the node rows)."""
    scope = scoping.scope_of(user)
    if not scope.households:
        return [], 0, None
    prefixes = [""] if scope.everything else scope.prefixes
    rows = dashboards.dashboard(level, day, prefixes, order=order, limit=size, offset=(page - 1) * size)
    return rows, dashboards.dashboard_count(level, prefixes), dashboards.summary(day, prefixes)


def compliance(user: Any, level: str, today: date | None = None) -> list[dict[str, Any]]:
    """Per member/area/grid/community/street: households, how many have this period's visits done, share.

    Computed from the visits table: the reference the rollups (`compliance_rollups`) are checked against.
    """
    today = today or timezone.localdate()
    policies = list(VisitPolicy.objects.filter(active=True))
    key = LEVEL_PATHS[level]
    groups: dict[Any, list[int]] = {}
    qs = _counts(scoping.households(user).filter(active=True), today).values(
        key, "key_groups", "month_cur", "month_prev", "quarter_cur", "quarter_prev", "year_cur", "year_prev"
    )
    for row in qs:
        policy = strictest(row["key_groups"], policies) or DEFAULT_POLICY
        state, _due = status_of(policy, row, today)
        g = groups.setdefault(row[key], [0, 0, 0])
        g[0] += 1
        g[1] += state == "done"
        g[2] += state == "overdue"
    return [
        {"key": k, "households": n, "done": d, "overdue": o, "share_done": round(d / n, 4) if n else None}
        for k, (n, d, o) in sorted(groups.items(), key=lambda t: str(t[0]))
    ]


def orphans(user: Any) -> list[dict[str, Any]]:
    """Active households in scope that no active member looks after."""
    qs = (
        scoping.households(user)
        .filter(active=True)
        .filter(Q(area__isnull=True) | Q(area__member__isnull=True) | Q(area__member__active=False))
        .select_related("area")
        .order_by("code")[:2000]
    )
    return [{"code": h.code, "address": h.address, "area": h.area.code if h.area else None} for h in qs]
