"""Grid service teams: grid leaders (网格长) and grid members (网格员)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gridgov.core.models import TimeStamped


class MemberType(models.TextChoices):
    COMMUNITY_CADRE = "cadre", _("community cadre")
    IN_SERVICE_PARTY = "in_service_party", _("in-service party member")
    RETIRED_PARTY = "retired_party", _("retired party member")
    FLOATING_PARTY = "floating_party", _("floating party member")
    RESIDENTS_REP = "residents_rep", _("residents' representative")
    VOLUNTEER = "volunteer", _("volunteer")


class Member(TimeStamped):
    """A person on a grid service team. Their responsibility areas point at them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="member",
        verbose_name=_("user account"),
    )
    community = models.ForeignKey(
        "geo.Community", on_delete=models.PROTECT, related_name="members", verbose_name=_("community")
    )
    name = models.CharField(_("name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    member_type = models.CharField(_("member type"), max_length=20, choices=MemberType.choices)
    active = models.BooleanField(_("active"), default=True)
    synthetic = models.BooleanField(_("synthetic"), default=False)

    class Meta:
        verbose_name = _("grid member")
        verbose_name_plural = _("grid members")
        ordering = ["community", "name"]

    def __str__(self) -> str:
        return self.name
