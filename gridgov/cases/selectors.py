"""Reads of issues, always scoped: lists, the dispatch console, department inboxes, monitoring."""

from __future__ import annotations

from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, F, Q, QuerySet
from django.utils import timezone

from gridgov.accounts.models import Role, acting_role
from gridgov.accounts.scoping import scope_of
from gridgov.dispatch.models import Department, RoutingRule

from . import tally
from .models import Case, CaseState, Category

LIGHTS = ("green", "yellow", "red")


def visible_cases(user: Any, qs: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """Cases under the user's scope; a department handler sees the cases dispatched to their department
    (lead or assisting); grid members and department handlers also see what they reported themselves."""
    qs = Case.objects.all() if qs is None else qs
    scope = scope_of(user)
    if scope.everything:
        return qs
    if getattr(user, "role", None) == Role.DEPARTMENT:
        if not user.is_active or not user.department_id:
            return qs.none()
        assisting = Case.assisting_departments.through.objects.filter(department_id=user.department_id)
        return qs.filter(
            Q(lead_department_id=user.department_id)
            | Q(pk__in=assisting.values("case_id"))
            | Q(reported_by=user)
        )
    conditions = [Q(node_code__startswith=p) for p in scope.prefixes]
    if getattr(user, "role", None) == Role.MEMBER and scope.prefixes:
        conditions.append(Q(reported_by=user))
    if not conditions:
        return qs.none()
    return qs.filter(reduce(or_, conditions))


def case_list(user: Any, *, filters: dict[str, Any] | None = None) -> QuerySet[Case]:
    """The scoped list with the usual filters: state, level, category (and its children), light, open."""
    f = filters or {}
    qs = visible_cases(user).select_related("category", "state", "lead_department")
    if f.get("state"):
        qs = qs.filter(state_id=f["state"])
    if f.get("open") in {"1", "true", True}:
        qs = qs.filter(is_open=True)
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
        visible_cases(user)
        .filter(is_open=True, state_id="awaiting_dispatch")
        .select_related("category", "state", "community", "street")
        .order_by(F("returned_at").desc(nulls_last=True), F("deadline").asc(nulls_last=True))
    )


def suggestions(cases: list[Case]) -> dict[int, Department | None]:
    """The suggested department of each case: the routing rule with the longest matching area-code
    prefix, else the category's default (rules and defaults read once for all the cases)."""
    categories = {c.category_id for c in cases}
    rules: dict[int, list[RoutingRule]] = {}
    for rule in RoutingRule.objects.filter(
        category_id__in=categories, department__active=True
    ).select_related("department"):
        rules.setdefault(rule.category_id, []).append(rule)
    wanted = {c.category.department_id for c in cases} - {None}
    defaults = Department.objects.filter(active=True).in_bulk(wanted)
    out: dict[int, Department | None] = {}
    for case in cases:
        matching = [r for r in rules.get(case.category_id, []) if case.node_code.startswith(r.node_prefix)]
        best = max(matching, key=lambda r: (len(r.node_prefix), -r.priority), default=None)
        out[case.pk] = best.department if best else defaults.get(case.category.department_id)
    return out


def _duplicate_of(location: str, at: str) -> str:
    """The duplicate rule, written once: open cases `o` of category `k` within the category's radius of
    `location` and its window around `at` (SQL expressions). The box in degrees, wide enough at this
    latitude, lets the spatial index pick the candidates; the distance on the spheroid then decides."""
    return f"""o.category_id = k.id AND o.is_open
    AND o.reported_at BETWEEN {at} - k.duplicate_window_hours * interval '1 hour'
                          AND {at} + k.duplicate_window_hours * interval '1 hour'
    AND ST_DWithin(o.location, {location},
                   k.duplicate_radius_m / (111320 * greatest(cos(radians(ST_Y({location}))), 0.01)))
    AND ST_Distance(o.location::geography, ({location})::geography) <= k.duplicate_radius_m"""


# Per case of a console page: how many others look like it.
DUPLICATE_COUNTS = f"""
SELECT c.id, count(o.id)
FROM cases_case c
JOIN cases_category k ON k.id = c.category_id
JOIN cases_case o ON o.id <> c.id AND {_duplicate_of("c.location", "c.reported_at")}
WHERE c.id = ANY(%s)
GROUP BY c.id
"""

# The cases that look like a report of category %s at the point %s (EWKT) at the time %s.
DUPLICATES_OF_REPORT = f"""
SELECT o.id
FROM cases_category k
CROSS JOIN (SELECT ST_GeomFromEWKT(%s) AS location, %s::timestamptz AS at) a
JOIN cases_case o ON {_duplicate_of("a.location", "a.at")}
WHERE k.id = %s
"""


def duplicate_counts(cases: list[Case]) -> dict[int, int]:
    """How many other open cases look like each of these (`_duplicate_of`), in one query for a whole
    page (the console flags rows that may be merged)."""
    if not cases:
        return {}
    with connection.cursor() as cur:
        cur.execute(DUPLICATE_COUNTS, [[c.pk for c in cases]])
        return dict(cur.fetchall())


def console_summary(user: Any) -> dict[str, Any]:
    """For the dispatch console, from one read of the tally: how many cases await dispatch, and per
    department the open cases in hand and overdue."""
    departments = Department.objects.filter(active=True)
    scope = scope_of(user)
    if not scope.everything:
        departments = departments.filter(district__code__in=[p[:6] for p in scope.prefixes])
    counts = tally.read(None if scope.everything else tuple({p[:6] for p in scope.prefixes}))
    in_hand, overdue = counts.get("department", {}), counts.get("dept_red", {})
    workload = [
        {
            "pk": d.pk,
            "code": d.code,
            "name": d.name,
            "name_en": d.name_en,
            "in_hand": in_hand.get(str(d.pk), {}).get("n", 0),
            "overdue": overdue.get(str(d.pk), {}).get("n", 0),
        }
        for d in departments.order_by("code")
    ]
    awaiting = counts.get("state", {}).get("awaiting_dispatch", {}).get("n", 0)
    return {"awaiting": awaiting, "workload": workload}


def inbox(user: Any) -> QuerySet[Case]:
    """A department's open cases: to sign first, then in hand, by deadline."""
    return (
        visible_cases(user)
        .filter(is_open=True, state_id__in=["dispatched", "department_handling"])
        .select_related("category", "state", "community", "street", "lead_department")
        .order_by("state__order", F("deadline").asc(nulls_last=True))
    )


TALLY_PREFIX_MAX = 12  # the tally counts per community: finer scopes (grid, area) count their cases


def _counts_direct(
    scoped: QuerySet[Case], since: datetime
) -> tuple[dict[str, Any], dict[str, dict[Any, int]]]:
    """Open and closed counts by scanning the scope's cases (small scopes, or a custom period)."""
    groups = (
        scoped.filter(is_open=True)
        .values("state_id", "level", "category_id", "lead_department_id", "light")
        .annotate(n=Count("*"), supervised=Count("state", filter=Q(supervised=True)))
        .order_by()
    )
    totals = {"open": 0, "red": 0, "yellow": 0, "supervised": 0}
    by: dict[str, dict[Any, int]] = {"state": {}, "level": {}, "category": {}, "department": {}}
    tops = dict(Category.objects.values_list("pk", "parent_id"))
    for g in groups:
        totals["open"] += g["n"]
        totals["supervised"] += g["supervised"]
        if g["light"] in ("red", "yellow"):
            totals[g["light"]] += g["n"]
        for name, value in (
            ("state", g["state_id"]),
            ("level", g["level"]),
            ("category", tops.get(g["category_id"]) or g["category_id"]),
            ("department", g["lead_department_id"]),
        ):
            by[name][value] = by[name].get(value, 0) + g["n"]
    closed = scoped.filter(closed_at__gte=since, state_id="closed").aggregate(
        closed=Count("*"),
        on_time=Count("state", filter=Q(closed_on_time=True)),
        satisfaction=Avg("satisfaction"),
        returned=Count("state", filter=Q(returns__gt=0)),
    )
    return {**totals, **closed}, by


def _counts_tally(
    prefixes: tuple[str, ...] | None, month: str
) -> tuple[dict[str, Any], dict[str, dict[Any, int]]]:
    """The same counts from the tally (a few rows per community instead of every case)."""
    t = tally.read(prefixes)

    def n(dim: str, value: str) -> int:
        return t.get(dim, {}).get(value, {}).get("n", 0)

    month_row = t.get("closed", {}).get(month, {})
    sat_n = month_row.get("sat_n", 0)
    totals = {
        "open": sum(v["n"] for v in t.get("state", {}).values()),
        "red": n("light", "red"),
        "yellow": n("light", "yellow"),
        "supervised": n("supervised", "true"),
        "closed": month_row.get("n", 0),
        "on_time": month_row.get("on_time", 0),
        "returned": month_row.get("returned", 0),
        "satisfaction": month_row.get("sat_sum", 0) / sat_n if sat_n else None,
    }

    def dim(name: str, cast: Any = str) -> dict[Any, int]:
        return {cast(k) if k else None: v["n"] for k, v in t.get(name, {}).items() if v["n"]}

    by = {"state": dim("state"), "level": dim("level", int), "category": dim("category", int)}
    by["department"] = dim("department", int)
    return totals, by


def monitoring(user: Any, *, since: datetime | None = None) -> dict[str, Any]:
    """Counts for the real-time monitoring page, all within the user's scope.

    Open cases by state, level, top category and department, and how many are yellow, red or
    supervised; cases closed since `since` (default: the start of this month) with the share closed
    within their limits and the average satisfaction. Community scopes and above read the tally
    (`tally.py`); a grid or a member scans its own few cases.
    """
    now = timezone.now()
    month_start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    scope = scope_of(user)
    role = acting_role(user)
    use_tally = (
        since is None
        and role not in (Role.DEPARTMENT, Role.MEMBER)
        and (scope.everything or (scope.prefixes and all(len(p) <= TALLY_PREFIX_MAX for p in scope.prefixes)))
    )
    since = since or month_start
    if use_tally:
        totals, by = _counts_tally(None if scope.everything else scope.prefixes, f"{month_start:%Y-%m}")
    else:
        totals, by = _counts_direct(visible_cases(user), since)
    closed = {k: totals.pop(k) for k in ("closed", "on_time", "returned", "satisfaction")}
    closed["on_time_rate"] = closed["on_time"] / closed["closed"] if closed["closed"] else None
    states = {s.code: s for s in CaseState.objects.all()}
    categories = {c.pk: c for c in Category.objects.filter(pk__in=list(by["category"]))}
    departments = {d.pk: d for d in Department.objects.filter(pk__in=[k for k in by["department"] if k])}

    def ranked(counts: dict[Any, int]) -> list[tuple[Any, int]]:
        return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))

    return {
        "now": now,
        "since": since,
        **totals,
        **closed,
        "by_state": [
            {"state_id": k, "state__name": states[k].name, "state__name_en": states[k].name_en, "n": n}
            for k, n in ranked(by["state"])
            if k in states
        ],
        "by_level": [{"level": k, "n": n} for k, n in ranked(by["level"])],
        "by_category": [
            {"top": categories[k].code, "name": categories[k].name, "name_en": categories[k].name_en, "n": n}
            for k, n in ranked(by["category"])
        ],
        "by_department": [
            {
                "lead_department__code": departments[k].code if k else None,
                "lead_department__name": departments[k].name if k else None,
                "n": n,
            }
            for k, n in ranked(by["department"])
        ],
    }


def department_metrics(user: Any, *, since: datetime | None = None) -> list[dict[str, Any]]:
    """Per department (within scope): cases dispatched since `since`, on-time rate, average handling time
    in working hours (office hours on the working calendar, dispatch to close), return rate, satisfaction."""
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
            handling=Avg("handling_minutes", filter=Q(state_id="closed")),
        )
        .order_by("lead_department__code")
    )
    out = []
    for r in rows:
        r["on_time_rate"] = r["on_time"] / r["closed"] if r["closed"] else None
        r["return_rate"] = r["returned"] / r["dispatched"] if r["dispatched"] else None
        r["handling_hours"] = r["handling"] / 60 if r["handling"] is not None else None
        out.append(r)
    return out
