"""Reads of issues, always scoped: lists, the dispatch console, department inboxes, monitoring."""

from __future__ import annotations

from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Avg, Count, F, Q, QuerySet, Value, When
from django.db.models import Case as SqlCase
from django.db.models.functions import Coalesce
from django.utils import timezone

from gridgov.accounts.models import Role
from gridgov.accounts.scoping import scope_of
from gridgov.dispatch.models import Department, RoutingRule

from .models import Case, StateKind

LIGHTS = ("green", "yellow", "red")


def visible_cases(user: Any, qs: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """Cases under the user's scope; a department handler sees the cases dispatched to their department
    (lead or assisting); a grid member also sees what they reported themselves."""
    qs = Case.objects.all() if qs is None else qs
    scope = scope_of(user)
    if scope.everything:
        return qs
    if getattr(user, "role", None) == Role.DEPARTMENT:
        if not user.is_active or not user.department_id:
            return qs.none()
        assisting = Case.assisting_departments.through.objects.filter(department_id=user.department_id)
        return qs.filter(Q(lead_department_id=user.department_id) | Q(pk__in=assisting.values("case_id")))
    conditions = [Q(node_code__startswith=p) for p in scope.prefixes]
    if getattr(user, "role", None) == Role.MEMBER and scope.prefixes:
        conditions.append(Q(reported_by=user))
    if not conditions:
        return qs.none()
    return qs.filter(reduce(or_, conditions))


def with_light(qs: QuerySet[Case], now: datetime | None = None) -> QuerySet[Case]:
    """Annotate `light`: green, yellow (last share of the step's time), red (overdue); '' when closed."""
    now = now or timezone.now()
    return qs.annotate(
        light=SqlCase(
            When(deadline__isnull=True, then=Value("")),
            When(deadline__lte=now, then=Value("red")),
            When(warn_at__lte=now, then=Value("yellow")),
            default=Value("green"),
        )
    )


def light_of(case: Case, now: datetime | None = None) -> str:
    now = now or timezone.now()
    if case.deadline is None:
        return ""
    if case.deadline <= now:
        return "red"
    return "yellow" if case.warn_at and case.warn_at <= now else "green"


def case_list(user: Any, *, filters: dict[str, Any] | None = None) -> QuerySet[Case]:
    """The scoped list with the usual filters: state, level, category (and its children), light, open."""
    f = filters or {}
    qs = with_light(visible_cases(user)).select_related("category", "state", "lead_department")
    if f.get("state"):
        qs = qs.filter(state_id=f["state"])
    if f.get("open") in {"1", "true", True}:
        qs = qs.filter(state__kind=StateKind.OPEN)
    if f.get("level"):
        qs = qs.filter(level=f["level"])
    if f.get("category"):
        qs = qs.filter(Q(category__code=f["category"]) | Q(category__parent__code=f["category"]))
    if f.get("light") in LIGHTS:
        qs = qs.filter(light=f["light"])
    if f.get("supervised") in {"1", "true", True}:
        qs = qs.filter(supervised=True)
    return qs.order_by(F("deadline").asc(nulls_last=True), "-reported_at")


def console(user: Any) -> QuerySet[Case]:
    """Cases awaiting dispatch: returned ones first, then by deadline."""
    return (
        with_light(visible_cases(user))
        .filter(state_id="awaiting_dispatch")
        .select_related("category", "state", "community", "street")
        .order_by(F("returned_at").desc(nulls_last=True), F("deadline").asc(nulls_last=True))
    )


def suggestions(cases: list[Case]) -> dict[int, Department | None]:
    """The suggested department of each case (routing rules read once)."""
    categories = {c.category_id for c in cases}
    rules: dict[int, list[RoutingRule]] = {}
    for rule in RoutingRule.objects.filter(
        category_id__in=categories, department__active=True
    ).select_related("department"):
        rules.setdefault(rule.category_id, []).append(rule)
    out: dict[int, Department | None] = {}
    for case in cases:
        matching = [r for r in rules.get(case.category_id, []) if case.node_code.startswith(r.node_prefix)]
        best = max(matching, key=lambda r: (len(r.node_prefix), -r.priority), default=None)
        out[case.pk] = best.department if best else case.category.department
    return out


def workload(user: Any) -> list[dict[str, Any]]:
    """Open cases per department: in hand, overdue, returned (for the dispatch console)."""
    now = timezone.now()
    district_prefixes = scope_of(user).prefixes
    departments = Department.objects.filter(active=True)
    if not scope_of(user).everything:
        departments = departments.filter(district__code__in=[p[:6] for p in district_prefixes])
    open_q = Q(lead_cases__state__kind=StateKind.OPEN)
    return list(
        departments.annotate(
            in_hand=Count("lead_cases", filter=open_q),
            overdue=Count("lead_cases", filter=open_q & Q(lead_cases__deadline__lte=now)),
        )
        .values("pk", "code", "name", "name_en", "in_hand", "overdue")
        .order_by("code")
    )


def inbox(user: Any) -> QuerySet[Case]:
    """A department's open cases: to sign first, then in hand, by deadline."""
    return (
        with_light(visible_cases(user))
        .filter(state__kind=StateKind.OPEN, state_id__in=["dispatched", "department_handling"])
        .select_related("category", "state", "community", "street", "lead_department")
        .order_by("state__order", F("deadline").asc(nulls_last=True))
    )


def monitoring(user: Any, *, since: datetime | None = None) -> dict[str, Any]:
    """Counts for the real-time monitoring page, all within the user's scope.

    Open cases by state, level, top category and department, and how many are yellow, red or
    supervised; cases closed since `since` (default: the start of this month) with the share closed
    within their limits and the average satisfaction.
    """
    now = timezone.now()
    since = since or now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    scoped = visible_cases(user)
    open_qs = scoped.filter(state__kind=StateKind.OPEN)
    totals = open_qs.aggregate(
        open=Count("pk"),
        red=Count("pk", filter=Q(deadline__lte=now)),
        yellow=Count("pk", filter=Q(deadline__gt=now, warn_at__lte=now)),
        supervised=Count("pk", filter=Q(supervised=True)),
    )
    closed = scoped.filter(closed_at__gte=since, state_id="closed").aggregate(
        closed=Count("pk"),
        on_time=Count("pk", filter=Q(closed_on_time=True)),
        satisfaction=Avg("satisfaction"),
        returned=Count("pk", filter=Q(returns__gt=0)),
    )
    closed["on_time_rate"] = closed["on_time"] / closed["closed"] if closed["closed"] else None

    def grouped(field: str, *names: str) -> list[dict[str, Any]]:
        return list(open_qs.values(field, *names).annotate(n=Count("pk")).order_by("-n"))

    return {
        "now": now,
        "since": since,
        **totals,
        **closed,
        "by_state": grouped("state_id", "state__name", "state__name_en"),
        "by_level": grouped("level"),
        "by_category": list(
            open_qs.annotate(top=Coalesce("category__parent__code", "category__code"))
            .values("top")
            .annotate(n=Count("pk"))
            .order_by("-n")
        ),
        "by_department": grouped("lead_department__code", "lead_department__name"),
    }


def department_metrics(user: Any, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Per department (within scope): cases dispatched since `since`, on-time rate, average working
    handling time is approximated by wall-clock hours from dispatch to close, return rate, satisfaction."""
    now = timezone.now()
    since = since or now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = (
        visible_cases(user)
        .filter(dispatched_at__gte=since, lead_department__isnull=False)
        .values("lead_department__code", "lead_department__name")
        .annotate(
            dispatched=Count("pk"),
            closed=Count("pk", filter=Q(state_id="closed")),
            on_time=Count("pk", filter=Q(closed_on_time=True)),
            returned=Count("pk", filter=Q(returns__gt=0)),
            satisfaction=Avg("satisfaction"),
            handling=Avg(F("closed_at") - F("dispatched_at"), filter=Q(state_id="closed")),
        )
        .order_by("lead_department__code")
    )
    out = []
    for r in rows:
        r["on_time_rate"] = r["on_time"] / r["closed"] if r["closed"] else None
        r["return_rate"] = r["returned"] / r["dispatched"] if r["dispatched"] else None
        r["handling_hours"] = r["handling"].total_seconds() / 3600 if r["handling"] else None
        out.append(r)
    return out
