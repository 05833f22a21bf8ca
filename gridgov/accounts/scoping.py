"""The one selector layer that scopes every queryset: pages, API, admin and exports call it.

A scope is a set of area-node code prefixes. Because every node's code starts with its parent's,
"under X" is `code LIKE 'X%'`. A user sees nodes under their scope and the ancestors of their scope
(to draw context on the map), and ledger rows (buildings, households, members) only under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model, Q, QuerySet

from gridgov.geo.models import CODE_LENGTHS, Building, ResponsibilityArea
from gridgov.households.models import Household
from gridgov.teams.models import Member

from .models import Role

M = TypeVar("M", bound=Model)

GRID_CODE_LEN = CODE_LENGTHS["grid"]


@dataclass(frozen=True)
class Scope:
    everything: bool = False
    prefixes: tuple[str, ...] = ()
    ledger: bool = False  # may see buildings
    households: bool = False  # may see households
    pii: bool = False  # sees names, phones and ID numbers unmasked


NOTHING = Scope()


def scope_of(user: Any) -> Scope:
    """The scope of a user; anonymous or misconfigured users see nothing."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NOTHING
    if user.is_superuser or user.role == Role.ADMIN:
        return Scope(everything=True, ledger=True, households=True, pii=True)
    if user.role == Role.MEMBER:
        member = getattr(user, "member", None)
        if member is None or not member.active:
            return NOTHING
        return Scope(prefixes=member_area_codes(member.pk), ledger=True, households=True, pii=True)
    if user.role == Role.DEPARTMENT:
        district = user.department.district.code if user.department_id else ""
        return Scope(prefixes=(district,) if district else (), ledger=False)
    if not user.scope_code:
        return NOTHING
    if user.role == Role.COORDINATOR:
        return Scope(prefixes=(user.scope_code,), ledger=True, households=False)
    if user.role == Role.STREET:
        return Scope(prefixes=(user.scope_code,), ledger=True, households=True, pii=False)
    # grid leader, community staff
    return Scope(prefixes=(user.scope_code,), ledger=True, households=True, pii=True)


_AREA_CODES_SQL = "SELECT {code} FROM {table} WHERE {member} = %s ORDER BY {code}".format(
    table=connection.ops.quote_name(ResponsibilityArea._meta.db_table),
    code=connection.ops.quote_name(ResponsibilityArea._meta.get_field("code").column),
    member=connection.ops.quote_name(ResponsibilityArea._meta.get_field("member").column),
)


def member_area_codes(member_id: int) -> tuple[str, ...]:
    """The codes of a member's responsibility areas, in code order: `member.areas.values_list("code")`
    in plain SQL. Every request of a grid member asks for it, and building the query with
    the ORM took three times as long as running it."""
    with connection.cursor() as cur:
        cur.execute(_AREA_CODES_SQL, [member_id])
        return tuple(code for (code,) in cur.fetchall())


def _any(conditions: list[Q]) -> Q:
    return reduce(or_, conditions) if conditions else Q(pk__in=[])


def _ancestors(code: str) -> list[str]:
    return [code[:n] for n in CODE_LENGTHS.values() if n < len(code)]


def visible_nodes(user: Any, qs: QuerySet[M]) -> QuerySet[M]:
    """Area nodes (District … ResponsibilityArea) under the user's scope, plus their ancestors."""
    scope = scope_of(user)
    if scope.everything:
        return qs
    conditions = []
    for p in scope.prefixes:
        conditions.append(Q(code__startswith=p))
        conditions.append(Q(code__in=_ancestors(p)))
    return qs.filter(_any(conditions))


def _household_q(prefix: str, path: str = "") -> Q:
    if len(prefix) >= GRID_CODE_LEN:
        return Q(**{f"{path}area__code__startswith": prefix})
    return Q(**{f"{path}community__code__startswith": prefix})


def households(user: Any, qs: QuerySet[Household] | None = None) -> QuerySet[Household]:
    qs = Household.objects.all() if qs is None else qs
    scope = scope_of(user)
    if scope.everything:
        return qs
    if not scope.households:
        return qs.none()
    return qs.filter(_any([_household_q(p) for p in scope.prefixes]))


def buildings(user: Any, qs: QuerySet[Building] | None = None) -> QuerySet[Building]:
    """Buildings of the user's communities; below community level, buildings with a household in scope."""
    qs = Building.objects.all() if qs is None else qs
    scope = scope_of(user)
    if scope.everything:
        return qs
    if not scope.ledger:
        return qs.none()
    conditions = []
    for p in scope.prefixes:
        if len(p) >= GRID_CODE_LEN:
            in_area = Household.objects.filter(area__code__startswith=p).values("building_id")
            conditions.append(Q(pk__in=in_area))
        else:
            conditions.append(Q(community__code__startswith=p))
    return qs.filter(_any(conditions))


def members(user: Any, qs: QuerySet[Member] | None = None) -> QuerySet[Member]:
    qs = Member.objects.all() if qs is None else qs
    scope = scope_of(user)
    if scope.everything:
        return qs
    if not scope.ledger:
        return qs.none()
    conditions = []
    for p in scope.prefixes:
        if len(p) >= GRID_CODE_LEN:
            conditions.append(Q(areas__code__startswith=p) | Q(led_grids__code__startswith=p[:GRID_CODE_LEN]))
        else:
            conditions.append(Q(community__code__startswith=p))
    return qs.filter(_any(conditions)).distinct()


def in_scope_code(user: Any, code: str) -> bool:
    """Whether `code` (an area node) lies under the user's scope (not merely an ancestor of it)."""
    scope = scope_of(user)
    return scope.everything or any(code.startswith(p) for p in scope.prefixes)
