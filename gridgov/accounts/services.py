"""Writes on users and roles."""

from __future__ import annotations

from django.db import transaction

from gridgov.core import audit
from gridgov.dispatch.models import Department
from gridgov.geo.models import Community, Grid, ResponsibilityArea, Street

from .models import Role, User


@transaction.atomic
def ensure_demo_users(*, password: str, district_code: str = "440308") -> list[User]:
    """One user per role in the demo district, idempotent (passwords reset to `password`)."""
    street = Street.objects.filter(code__startswith=district_code).order_by("code").first()
    community = Community.objects.filter(street=street).order_by("code").first() if street else None
    grid = Grid.objects.filter(community=community).order_by("code").first() if community else None
    area = (
        ResponsibilityArea.objects.filter(grid=grid, member__isnull=False).order_by("code").first()
        if grid
        else None
    )
    department = Department.objects.filter(district__code=district_code).order_by("code").first()
    if not (street and community and grid and area and department):
        return []
    specs = [
        ("admin", Role.ADMIN, "", None, "管理员"),
        ("member", Role.MEMBER, grid.code, None, area.member.name),
        ("leader", Role.LEADER, grid.code, None, grid.leader.name if grid.leader else "网格长"),
        ("community", Role.COMMUNITY, community.code, None, "社区工作人员"),
        ("street", Role.STREET, street.code, None, "街道办"),
        ("coordinator", Role.COORDINATOR, district_code, None, "调度员"),
        ("department", Role.DEPARTMENT, district_code, department, department.name),
    ]
    users = []
    for username, role, scope, dept, display in specs:
        user, created = User.objects.update_or_create(
            username=username,
            defaults={
                "role": role,
                "scope_code": scope,
                "department": dept,
                "first_name": display,
                "is_staff": role == Role.ADMIN,
                "is_superuser": role == Role.ADMIN,
                "is_active": True,
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        if created:
            audit.record(actor=None, action="user.create_demo", obj=user, role=role, scope=scope)
        users.append(user)
    member = area.member
    if member.user_id != users[1].pk:
        member.user = users[1]
        member.save(update_fields=["user"])
    if grid.leader and grid.leader.user_id != users[2].pk:
        grid.leader.user = users[2]
        grid.leader.save(update_fields=["user"])
    return users
