"""The spatial hierarchy: district → street → community → grid → responsibility area, and buildings.

Codes are hierarchical strings: GB/T 2260 county (6 digits) + township (3) + community (3) form the
12-digit statistical code; a grid adds 3 digits and a responsibility area 2 more. Every node's code
starts with its parent's code, so "everything under X" is a prefix match (see accounts.scoping).
Geometries are stored in EPSG:4326 (CGCS2000 / EPSG:4490 is equal within a metre here).
"""

from __future__ import annotations

from django.contrib.gis.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridgov.core.models import TimeStamped

CODE_LENGTHS = {"district": 6, "street": 9, "community": 12, "grid": 15, "area": 17}
LEVELS = tuple(CODE_LENGTHS)


def code_digits(model: str, length: int) -> models.CheckConstraint:
    """Database check: the code is exactly `length` digits."""
    return models.CheckConstraint(
        condition=Q(code__regex=rf"^[0-9]{{{length}}}$"), name=f"{model}_code_{length}_digits"
    )


class AreaNode(TimeStamped):
    """Fields common to every administrative or grid node."""

    code = models.CharField(_("code"), max_length=17, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    synthetic = models.BooleanField(
        _("synthetic"), default=False, help_text=_("Generated demo data, not a real boundary.")
    )

    level: str = ""

    class Meta:
        abstract = True
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class District(AreaNode):
    level = "district"
    boundary = models.MultiPolygonField(_("boundary"), srid=4326, null=True, blank=True)

    class Meta(AreaNode.Meta):
        verbose_name = _("district")
        verbose_name_plural = _("districts")
        constraints = [code_digits("district", 6)]


class Street(AreaNode):
    level = "street"
    district = models.ForeignKey(
        District, on_delete=models.PROTECT, related_name="streets", verbose_name=_("district")
    )
    boundary = models.MultiPolygonField(_("boundary"), srid=4326, null=True, blank=True)

    class Meta(AreaNode.Meta):
        verbose_name = _("street office")
        verbose_name_plural = _("street offices")
        constraints = [code_digits("street", 9)]


class Community(AreaNode):
    level = "community"
    street = models.ForeignKey(
        Street, on_delete=models.PROTECT, related_name="communities", verbose_name=_("street office")
    )
    boundary = models.MultiPolygonField(_("boundary"), srid=4326, null=True, blank=True)
    gridded_at = models.DateTimeField(
        _("gridded at"),
        null=True,
        blank=True,
        help_text=_(
            "Set once the community is divided into grids: from then on every active "
            "household must belong to a responsibility area."
        ),
    )

    class Meta(AreaNode.Meta):
        verbose_name = _("community")
        verbose_name_plural = _("communities")
        constraints = [code_digits("community", 12)]


class Grid(AreaNode):
    level = "grid"
    community = models.ForeignKey(
        Community, on_delete=models.CASCADE, related_name="grids", verbose_name=_("community")
    )
    boundary = models.PolygonField(_("boundary"), srid=4326)
    leader = models.ForeignKey(
        "teams.Member",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_grids",
        verbose_name=_("grid leader"),
    )

    class Meta(AreaNode.Meta):
        verbose_name = _("grid")
        verbose_name_plural = _("grids")
        constraints = [code_digits("grid", 15)]
        # "Everything under a code" is LIKE 'prefix%': the pattern index Django makes for a unique
        # CharField (…_like) serves it under any collation.


class ResponsibilityArea(AreaNode):
    """A micro-grid (微网格): one member, 15–20 households."""

    level = "area"
    grid = models.ForeignKey(Grid, on_delete=models.CASCADE, related_name="areas", verbose_name=_("grid"))
    boundary = models.PolygonField(_("boundary"), srid=4326)
    member = models.ForeignKey(
        "teams.Member",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="areas",
        verbose_name=_("grid member"),
    )

    class Meta(AreaNode.Meta):
        verbose_name = _("responsibility area")
        verbose_name_plural = _("responsibility areas")
        constraints = [code_digits("responsibilityarea", 17)]


class Building(TimeStamped):
    """A building (楼栋): footprint polygon where known, always a representative point."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    community = models.ForeignKey(
        Community, on_delete=models.PROTECT, related_name="buildings", verbose_name=_("community")
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=200, db_index=True)
    footprint = models.PolygonField(_("footprint"), srid=4326, null=True, blank=True)
    point = models.PointField(_("location"), srid=4326)
    floors = models.PositiveSmallIntegerField(_("floors"), default=1)
    units = models.PositiveSmallIntegerField(_("units"), default=1)
    synthetic = models.BooleanField(_("synthetic"), default=False)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name or self.address
