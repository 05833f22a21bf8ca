"""Household visits (走访) and the policies that say how often each household is due."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from gridgov.core.models import TimeStamped
from gridgov.households.models import KeyGroup


class Period(models.TextChoices):
    MONTH = "month", _("month")
    QUARTER = "quarter", _("quarter")
    YEAR = "year", _("year")


PERIOD_MONTHS = {Period.MONTH: 1, Period.QUARTER: 3, Period.YEAR: 12}


class VisitPolicy(TimeStamped):
    """How often households are visited: the default, and stricter ones for key groups.

    A household follows the strictest active policy that applies to it (shortest period, then the
    most visits).
    """

    name = models.CharField(_("name"), max_length=100)
    key_group = models.CharField(
        _("key group"),
        max_length=20,
        choices=KeyGroup.choices,
        blank=True,
        help_text=_("Empty: applies to every household."),
    )
    period = models.CharField(_("period"), max_length=10, choices=Period.choices, default=Period.QUARTER)
    visits_per_period = models.PositiveSmallIntegerField(_("visits per period"), default=1)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("visit policy")
        verbose_name_plural = _("visit policies")
        ordering = ["key_group", "period"]
        constraints = [
            models.CheckConstraint(condition=Q(visits_per_period__gte=1), name="policy_at_least_one_visit"),
        ]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    IN_PERSON = "in_person", _("in person")
    PHONE = "phone", _("phone")
    OTHER = "other", _("other")


class Finding(models.TextChoices):
    OPINION = "opinion", _("opinion collected")
    DISPUTE = "dispute", _("dispute")
    HIDDEN_DANGER = "hidden_danger", _("hidden danger")
    SERVICE_REQUEST = "service_request", _("service request")
    POLICY_EXPLAINED = "policy_explained", _("policy explained")


class Flag(models.TextChoices):
    FAR = "far_from_building", _("far from the building")
    ACCURACY = "poor_accuracy", _("poor GPS accuracy")
    SPEED = "implausible_speed", _("implausible speed from the previous or to the next visit")
    REPEAT = "repeat_visit", _("second visit within a short time")
    OUTSIDE = "outside_assignment", _("household outside the member's assignment")


class Review(models.TextChoices):
    NONE = "none", _("not flagged")
    PENDING = "pending", _("awaiting review")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class Visit(models.Model):
    """One visit. The id is generated on the device, so a retried sync never creates it twice."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes on these two: the (household, time) and (member, time) indexes serve.
    household = models.ForeignKey(
        "households.Household",
        on_delete=models.PROTECT,
        related_name="visits",
        verbose_name=_("household"),
        db_index=False,
    )
    member = models.ForeignKey(
        "teams.Member",
        null=True,
        blank=True,
        db_index=False,
        on_delete=models.SET_NULL,
        related_name="visits",
        verbose_name=_("grid member"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("logged by"),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    # No spatial index: nothing searches visits by place (the speed check reads a member's previous fix
    # through the (member, time) index); a GiST entry per visit was pure cost on every sync.
    location = models.PointField(_("GPS fix"), srid=4326, null=True, blank=True, spatial_index=False)
    accuracy_m = models.FloatField(_("GPS accuracy (m)"), null=True, blank=True)
    distance_m = models.FloatField(_("distance to the building (m)"), null=True, blank=True)
    device_time = models.DateTimeField(_("time on the device"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    notes = models.TextField(_("notes"), blank=True)
    findings = ArrayField(
        models.CharField(max_length=20, choices=Finding.choices),
        default=list,
        blank=True,
        verbose_name=_("findings"),
    )
    photo = models.FileField(_("photo"), upload_to="visits/%Y/%m/", blank=True)
    issue_ref = models.UUIDField(
        _("reported issue"), null=True, blank=True, help_text=_("The issue reported from this visit.")
    )
    flags = ArrayField(
        models.CharField(max_length=24, choices=Flag.choices),
        default=list,
        blank=True,
        verbose_name=_("flags"),
    )
    review = models.CharField(_("review"), max_length=10, choices=Review.choices, default=Review.NONE)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        db_index=False,  # partial index below: only reviewed visits have a reviewer
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_reason = models.CharField(_("reason"), max_length=200, blank=True)
    # Counts toward policy: unflagged, or flagged and approved by the grid leader.
    counted = models.BooleanField(_("counted"), default=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-device_time"]
        indexes = [
            # `counted` included: the rollups count a household's counted visits in a period (the upkeep
            # per household of a batch, the full recompute for every household in this order) from this
            # index alone.
            models.Index(
                fields=["household", "device_time"], include=["counted"], name="visit_household_time_idx"
            ),
            models.Index(fields=["member", "device_time"], name="visit_member_time_idx"),
            models.Index(fields=["review"], name="visit_review_pending_idx", condition=Q(review="pending")),
            # For deleting a user (SET_NULL finds the visits they reviewed): a synced visit has no reviewer,
            # so it adds no entry here (a full index took one NULL entry per visit).
            models.Index(
                fields=["reviewed_by"], name="visit_reviewed_by_idx", condition=Q(reviewed_by__isnull=False)
            ),
            # Linking an issue and the visit it was reported from (whichever reaches the server first):
            # only visits with an issue have an entry.
            models.Index(
                fields=["issue_ref"], name="visit_issue_ref_idx", condition=Q(issue_ref__isnull=False)
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(accuracy_m__isnull=True) | Q(accuracy_m__gt=0), name="visit_accuracy_positive"
            ),
            models.CheckConstraint(
                condition=Q(counted=True, review__in=["none", "approved"])
                | Q(counted=False, review__in=["pending", "rejected"]),
                name="visit_counted_matches_review",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household} {self.device_time:%Y-%m-%d}"


class AreaPeriodRollup(models.Model):
    """Per responsibility area, period kind and period: households that have met their policy."""

    area = models.ForeignKey("geo.ResponsibilityArea", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Period.choices)
    period_start = models.DateField()
    done = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["area", "kind", "period_start"], name="area_period_unique")
        ]
        indexes = [models.Index(fields=["kind", "period_start"], name="rollup_period_idx")]


class AreaPolicyTotal(models.Model):
    """Per responsibility area and period kind: how many active households follow such a policy."""

    area = models.ForeignKey("geo.ResponsibilityArea", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Period.choices)
    households = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["area", "kind"], name="area_kind_unique")]


class NodePeriodRollup(models.Model):
    """Per grid, community, street and district (by code), period kind and period: households that have
    met their policy. The sums of the area rollups under each node, kept with them, so that dashboards
    above the grid read a row per node instead of every area of the city."""

    code = models.CharField(max_length=15)
    kind = models.CharField(max_length=10, choices=Period.choices)
    period_start = models.DateField()
    done = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "kind", "period_start"], name="node_period_unique")
        ]


class NodePolicyTotal(models.Model):
    """Per grid, community, street and district and period kind: active households following such a
    policy (the sums of the area totals under each node)."""

    code = models.CharField(max_length=15)
    kind = models.CharField(max_length=10, choices=Period.choices)
    households = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "kind"], name="node_kind_unique")]


class RollupDelta(models.Model):
    """Households that met their policy, per area and period, appended by the upkeep in the writer's own
    transaction (append only: writers never wait on a shared rollup row) and folded into the area and
    node rollups every minute (`rollups.fold`). Reads add the pending rows."""

    # No foreign key and no index but the primary key: an insert is a heap row and one index entry.
    area_id = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=Period.choices)
    period_start = models.DateField()
    done = models.IntegerField()


class DashboardRow(models.Model):
    """Per dashboard row (an area, member or node, by `level`) for the periods of one month (`month`: its
    first day; it fixes the month, quarter and year): households and how many have met their policy, the
    folded rollups summed (pending deltas are added by the reads). Kept for the current month only, so that
    a city dashboard's worst-first page is an index scan in share order (`dashboards.dashboard`); `fold`
    adds the deltas and moves to a new month, `refresh` re-derives the rows of the areas it touches.

    `key`: the area or node code, or the member id as text (NULL: the areas without a member);
    `member_id`: for an area row, the member its figures were summed under (to re-derive that member's
    row when the area changes hands)."""

    month = models.DateField()
    level = models.CharField(max_length=10)
    key = models.CharField(max_length=20, null=True)
    member_id = models.BigIntegerField(null=True)
    households = models.IntegerField()
    done = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "level", "key"], name="dashboardrow_key_unique", nulls_distinct=False
            )
        ]
        # (and, in the migrations, the worst-first index: month, level, then the sort key in one direction,
        # `dashboards.WORST_SEEK`)


class DashboardMark(models.Model):
    """Every `rollups.MARK_EVERY`th dashboard row of a level in worst-first order, with the number of rows
    before it (`position`) and its sort key, so that a deep worst-first page of the whole city starts its
    index scan at the nearest mark before the page (a keyset seek) rather than stepping over every row
    before it (`dashboards._worst_scan`). Derived from the rows by the fold (`rollups.dashboard_marks`)
    and deleted, in the same transaction, by any statement that changes a dashboard row (triggers, in the
    migration): a mark that exists is exact in any snapshot that sees it.

    `share`: the row's `done / households` (+Infinity without households: those rows come last);
    `households`, `key` (NULL: the areas without a member): the rest of the sort key."""

    month = models.DateField()
    level = models.CharField(max_length=10)
    position = models.IntegerField()
    share = models.FloatField()
    households = models.IntegerField()
    key = models.CharField(max_length=20, null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["month", "level", "position"], name="dashboardmark_unique")
        ]
