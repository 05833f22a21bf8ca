"""Users, their role and their scope (an area node's code, or a department)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    MEMBER = "member", _("grid member")
    LEADER = "leader", _("grid leader")
    COMMUNITY = "community", _("community staff")
    STREET = "street", _("street office staff")
    COORDINATOR = "coordinator", _("coordinator")
    DEPARTMENT = "department", _("department handler")
    ADMIN = "admin", _("administrator")


class User(AbstractUser):
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.MEMBER)
    scope_code = models.CharField(
        _("scope"),
        max_length=17,
        blank=True,
        help_text=_("Code of the district, street, community or grid this user works in."),
    )
    department = models.ForeignKey(
        "dispatch.Department",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="handlers",
        verbose_name=_("department"),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.CheckConstraint(
                condition=Q(role="admin") | ~Q(scope_code=""), name="user_scope_required_unless_admin"
            ),
            models.CheckConstraint(
                condition=~Q(role="department") | Q(department__isnull=False),
                name="user_department_handler_has_department",
            ),
        ]

    @property
    def is_administrator(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser


def acting_role(user: object) -> str:
    """The role a user acts in: a superuser acts as an administrator; anonymous users have none."""
    return Role.ADMIN if getattr(user, "is_superuser", False) else getattr(user, "role", "")
