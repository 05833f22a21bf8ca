"""Gridding plans: proposals that community staff preview, adjust and approve, kept with history."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.utils.translation import gettext_lazy as _

from gridgov.core.models import TimeStamped


class Barrier(TimeStamped):
    """A line that grids should not cross where the numbers allow: a major road, river or wall."""

    class Kind(models.TextChoices):
        ROAD = "road", _("major road")
        RIVER = "river", _("river")
        WALL = "wall", _("wall")
        OTHER = "other", _("other")

    name = models.CharField(_("name"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.ROAD)
    line = models.LineStringField(_("line"), srid=4326)

    class Meta:
        verbose_name = _("barrier")
        verbose_name_plural = _("barriers")

    def __str__(self) -> str:
        return self.name or self.get_kind_display()


class GriddingPlan(TimeStamped):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        APPROVED = "approved", _("approved (in force)")
        SUPERSEDED = "superseded", _("superseded")
        DISCARDED = "discarded", _("discarded")

    community = models.ForeignKey(
        "geo.Community", on_delete=models.CASCADE, related_name="gridding_plans", verbose_name=_("community")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True
    )

    class Method(models.TextChoices):
        FRESH = "fresh", _("fresh plan")
        REGRID = "regrid", _("re-grid of the plan in force")
        RESTORE = "restore", _("restored earlier plan")

    method = models.CharField(_("method"), max_length=10, choices=Method.choices, default=Method.FRESH)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("based on")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    config = models.JSONField(_("settings"), default=dict)
    quality = models.JSONField(_("quality"), default=dict)
    problems = models.JSONField(_("problems"), default=list)
    # The barriers the plan's cells were cut along (`selectors.barrier_set`: barrier pk → a digest of its
    # line), so that a re-grid can tell any change since — drawn, removed, moved — and rebuild in full;
    # None for a plan made before plans recorded them.
    barriers = models.JSONField(_("barriers"), null=True, blank=True, default=None)

    class Meta:
        verbose_name = _("gridding plan")
        verbose_name_plural = _("gridding plans")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["community"],
                condition=models.Q(status="approved"),
                name="one_approved_plan_per_community",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.community.code} #{self.pk} ({self.status})"


class PlanGrid(models.Model):
    plan = models.ForeignKey(GriddingPlan, on_delete=models.CASCADE, related_name="grids")
    code = models.CharField(_("code"), max_length=15)
    boundary = models.MultiPolygonField(_("boundary"), srid=4326)
    households = models.PositiveIntegerField(_("households"), default=0)
    weight = models.FloatField(_("workload"), default=0)
    leader = models.ForeignKey(
        "teams.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["plan", "code"], name="plan_grid_code_unique")]


class PlanArea(models.Model):
    plan = models.ForeignKey(GriddingPlan, on_delete=models.CASCADE, related_name="areas")
    grid = models.ForeignKey(PlanGrid, on_delete=models.CASCADE, related_name="areas")
    code = models.CharField(_("code"), max_length=17)
    boundary = models.MultiPolygonField(_("boundary"), srid=4326)
    households = models.PositiveIntegerField(_("households"), default=0)
    weight = models.FloatField(_("workload"), default=0)
    member = models.ForeignKey(
        "teams.Member", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Polsby–Popper of the area's polygon and of its convex hull (in the community's metric plane), kept
    # so that the plan's compactness figures follow an adjustment without measuring every area again.
    pp = models.FloatField(null=True, blank=True)
    hull_pp = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["plan", "code"], name="plan_area_code_unique")]


class PlanCell(models.Model):
    """One building (or a unit/floor run of one) with its seamless cell, as placed by the plan."""

    plan = models.ForeignKey(GriddingPlan, on_delete=models.CASCADE, related_name="cells")
    area = models.ForeignKey(PlanArea, on_delete=models.CASCADE, related_name="cells")
    building = models.ForeignKey(
        "geo.Building", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    part = models.PositiveSmallIntegerField(default=0)
    household_ids = ArrayField(models.BigIntegerField(), default=list)
    weight = models.FloatField(default=0)
    boundary = models.MultiPolygonField(srid=4326)
    # The cell's number in the plan and the numbers of the cells it borders (links across a barrier only
    # where a block cannot be cut on its own): the graph problems and their alternatives are checked on
    # again after an adjustment. Plans made before these were kept get them from the cells' outlines.
    index = models.PositiveIntegerField(null=True, blank=True)
    neighbours = ArrayField(models.PositiveIntegerField(), default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["plan", "area"], name="plancell_plan_area_idx")]
