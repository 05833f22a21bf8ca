"""The household ledger (台账)."""

from __future__ import annotations

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridgov.core.models import TimeStamped


class Occupancy(models.TextChoices):
    OWNER = "owner", _("owner-occupied")
    RENTED = "rented", _("rented")
    VACANT = "vacant", _("vacant")


class KeyGroup(models.TextChoices):
    """Key service targets (重点服务对象) and other tags that change how a household is looked after."""

    ELDERLY_ALONE = "elderly_alone", _("elderly living alone")
    DISABLED = "disabled", _("disabled")
    LEFT_BEHIND_CHILD = "left_behind_child", _("left-behind child")
    LOW_INCOME = "low_income", _("low income")
    FLOATING = "floating", _("floating population")
    PARTY_MEMBER = "party_member", _("party member household")
    OTHER = "other", _("other")


class Household(TimeStamped):
    code = models.CharField(_("code"), max_length=40, unique=True)
    community = models.ForeignKey(
        "geo.Community", on_delete=models.PROTECT, related_name="households", verbose_name=_("community")
    )
    building = models.ForeignKey(
        "geo.Building",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="households",
        verbose_name=_("building"),
    )
    area = models.ForeignKey(
        "geo.ResponsibilityArea",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="households",
        verbose_name=_("responsibility area"),
    )
    unit = models.CharField(_("unit"), max_length=10, blank=True)
    floor = models.SmallIntegerField(_("floor"), null=True, blank=True)
    room = models.CharField(_("room"), max_length=20, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    point = models.PointField(_("location"), srid=4326)
    residents = models.PositiveSmallIntegerField(_("residents"), default=1)
    occupancy = models.CharField(
        _("occupancy"), max_length=10, choices=Occupancy.choices, default=Occupancy.OWNER
    )
    key_groups = ArrayField(
        models.CharField(max_length=20, choices=KeyGroup.choices),
        default=list,
        blank=True,
        verbose_name=_("key groups"),
    )
    head_name = models.CharField(_("head of household"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    id_number = models.CharField(_("ID number"), max_length=18, blank=True)
    active = models.BooleanField(_("active"), default=True)
    synthetic = models.BooleanField(_("synthetic"), default=False)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["code"]
        indexes = [models.Index(fields=["community", "active"], name="household_comm_active_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(residents__lte=50), name="household_residents_plausible"),
            models.CheckConstraint(
                condition=Q(key_groups__contained_by=[c.value for c in KeyGroup]),
                name="household_key_groups_known",
            ),
        ]

    def __str__(self) -> str:
        return self.address or self.code

    @property
    def key_group_labels(self) -> list[str]:
        return [str(KeyGroup(k).label) for k in self.key_groups]
