"""Issues (事件): categories with time limits, the configurable state table, cases and their timeline.

The loop is data (`CaseState`, `CaseTransition`, seeded by migration and editable in the admin): which
actions lead from which state to which, and which roles may take them. What an action *does* besides
moving the state (dispatching to departments, escalating a level) is code in `services.py`.
"""

from __future__ import annotations

import re
import secrets
import uuid

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GistIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridgov.core.models import TimeStamped

# A reference number: the report date and the id (see `Case.reference`).
REFERENCE = re.compile(r"(\d{8})-(\d{1,18})")


class Level(models.IntegerChoices):
    """Where a case is handled: 小事不出社区，大事不出街道; beyond the street, a district department."""

    GRID = 1, _("grid")
    COMMUNITY = 2, _("community")
    STREET = 3, _("street office")
    DISTRICT = 4, _("district department")


class Step(models.TextChoices):
    FILE = "file", _("filing")
    DISPATCH = "dispatch", _("dispatch")
    HANDLE = "handle", _("handling")
    VERIFY = "verify", _("verification")


class Channel(models.TextChoices):
    PATROL = "patrol", _("grid member (patrol)")
    VISIT = "visit", _("grid member (visit)")
    HOTLINE = "hotline", _("hotline")
    WEB = "web", _("public web form")
    DEPARTMENT = "department", _("department")
    OPEN311 = "open311", _("Open311")


class Category(TimeStamped):
    """An issue category: a node of the category tree, with its default level, department and limits.

    Time limits are in working minutes (office hours on working days); the code is also the Open311
    service_code.
    """

    code = models.SlugField(_("code"), max_length=40, unique=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent category"),
    )
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    level = models.PositiveSmallIntegerField(
        _("default handling level"), choices=Level.choices, default=Level.GRID
    )
    department = models.ForeignKey(
        "dispatch.Department",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("default department"),
    )
    sensitive = models.BooleanField(
        _("sensitive"),
        default=False,
        help_text=_("Disputes and individual hardship: never shown publicly (Open311, public pages)."),
    )
    file_minutes = models.PositiveIntegerField(_("time to file (working minutes)"), default=120)
    dispatch_minutes = models.PositiveIntegerField(_("time to dispatch (working minutes)"), default=120)
    handle_minutes = models.PositiveIntegerField(_("time to handle (working minutes)"), default=5 * 420)
    verify_minutes = models.PositiveIntegerField(_("time to verify (working minutes)"), default=420)
    duplicate_radius_m = models.PositiveIntegerField(_("duplicate radius (m)"), default=100)
    duplicate_window_hours = models.PositiveIntegerField(_("duplicate window (hours)"), default=72)
    active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("issue category")
        verbose_name_plural = _("issue categories")
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.name

    def limit(self, step: str) -> int:
        return int(getattr(self, f"{step}_minutes"))


class StateKind(models.TextChoices):
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")


class CaseState(models.Model):
    code = models.SlugField(_("code"), max_length=30, primary_key=True)
    name = models.CharField(_("name"), max_length=60)
    name_en = models.CharField(_("English name"), max_length=60, blank=True)
    kind = models.CharField(_("type"), max_length=6, choices=StateKind.choices)
    step = models.CharField(
        _("deadline step"),
        max_length=10,
        choices=Step.choices,
        blank=True,
        help_text=_("The time limit that runs while a case is in this state (none for closed states)."),
    )
    public_name = models.CharField(
        _("public name"), max_length=60, blank=True, help_text=_("What residents see; the name when empty.")
    )
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("case state")
        verbose_name_plural = _("case states")
        ordering = ["order"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="open") | Q(step=""), name="case_state_closed_has_no_step"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CaseTransition(models.Model):
    """One allowed move: from a state, an action, to a state, by some roles.

    `to_state` empty means "back to where the case was handled" (a failed verification or a reopened
    case returns to the department when one handled it, else to local handling).
    """

    from_state = models.ForeignKey(
        CaseState, on_delete=models.CASCADE, related_name="transitions", verbose_name=_("from state")
    )
    action = models.SlugField(_("action"), max_length=30)
    to_state = models.ForeignKey(
        CaseState,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("to state"),
    )
    roles = ArrayField(models.CharField(max_length=20), verbose_name=_("roles"), default=list)
    needs_comment = models.BooleanField(_("reason required"), default=False)

    class Meta:
        verbose_name = _("case transition")
        verbose_name_plural = _("case transitions")
        constraints = [
            models.UniqueConstraint(fields=["from_state", "action"], name="case_transition_unique_action")
        ]

    def __str__(self) -> str:
        return f"{self.from_state_id} --{self.action}--> {self.to_state_id or '…'}"


def new_token() -> str:
    return secrets.token_urlsafe(12)


class Case(models.Model):
    """One issue (事件) from report to evaluation."""

    uuid = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    token = models.CharField(
        _("tracking token"), max_length=24, unique=True, default=new_token, editable=False
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="cases", verbose_name=_("category")
    )
    description = models.TextField(_("description"))
    location = models.PointField(_("location"), srid=4326)
    address = models.CharField(_("address"), max_length=200, blank=True)
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)

    # Who reported it. Contact details are private: never public, hidden from departments unless shared.
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported_cases",
        verbose_name=_("reported by"),
    )
    visit = models.ForeignKey(
        "visits.Visit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
        verbose_name=_("visit"),
    )
    reporter_name = models.CharField(_("reporter's name"), max_length=60, blank=True)
    reporter_phone = models.CharField(_("reporter's phone"), max_length=30, blank=True)
    reporter_email = models.EmailField(_("reporter's e-mail"), blank=True)
    share_contact = models.BooleanField(
        _("departments may see the reporter"),
        default=False,
        help_text=_("Reporter identity is hidden from departments unless this is set."),
    )

    # Where it is (point in polygon at intake), denormalised for scoping by code prefix.
    area = models.ForeignKey(
        "geo.ResponsibilityArea", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    grid = models.ForeignKey("geo.Grid", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    community = models.ForeignKey(
        "geo.Community", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    street = models.ForeignKey(
        "geo.Street", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    district = models.ForeignKey("geo.District", on_delete=models.PROTECT, related_name="+")
    node_code = models.CharField(_("owner code"), max_length=17, db_index=True)
    fallback = models.BooleanField(
        _("territorial fallback"),
        default=False,
        help_text=_("Outside every grid: the fallback owner took it."),
    )

    # Where it is in the loop.
    state = models.ForeignKey(CaseState, on_delete=models.PROTECT, related_name="+", verbose_name=_("state"))
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.GRID)
    lead_department = models.ForeignKey(
        "dispatch.Department",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lead_cases",
        verbose_name=_("lead department"),
    )
    assisting_departments = models.ManyToManyField(
        "dispatch.Department",
        blank=True,
        related_name="assisting_cases",
        verbose_name=_("assisting departments"),
    )
    step_started_at = models.DateTimeField(_("step started"), null=True, blank=True)
    warn_at = models.DateTimeField(_("yellow from"), null=True, blank=True)
    deadline = models.DateTimeField(_("step deadline"), null=True, blank=True)
    # When the escalation sweep must look at the case next; NULL when it never needs to.
    sweep_at = models.DateTimeField(null=True, blank=True, editable=False)
    supervised = models.BooleanField(_("under supervision (督办)"), default=False)
    escalations = models.PositiveSmallIntegerField(_("escalations"), default=0)
    returns = models.PositiveSmallIntegerField(_("returns"), default=0)
    returned_at = models.DateTimeField(_("last returned"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged",
        verbose_name=_("merged into"),
    )

    reported_at = models.DateTimeField(_("reported"), db_index=True)
    filed_at = models.DateTimeField(_("filed"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_on_time = models.BooleanField(_("closed within the limits"), null=True, blank=True)
    # Working minutes from dispatch to close (office hours on the working calendar), for departments' metrics.
    handling_minutes = models.PositiveIntegerField(
        _("handling time (working minutes)"), null=True, blank=True
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    satisfaction = models.PositiveSmallIntegerField(
        _("satisfaction"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    evaluation = models.TextField(_("resident's comment"), blank=True)
    version = models.PositiveIntegerField(default=0, editable=False)
    # The kind of `state`, copied by a database trigger so open cases have indexes of their own.
    is_open = models.BooleanField(default=True, editable=False)
    # Traffic light of the current step, moved by the sweep at `warn_at` and `deadline` (so it is
    # at most one sweep interval late) and counted in the tally; '' when no limit runs.
    light = models.CharField(_("traffic light"), max_length=6, blank=True, default="green", editable=False)

    class Meta:
        verbose_name = _("issue")
        verbose_name_plural = _("issues")
        ordering = ["-reported_at"]
        indexes = [
            models.Index(fields=["sweep_at"], name="case_sweep_idx", condition=Q(sweep_at__isnull=False)),
            models.Index(fields=["state", "deadline"], name="case_state_deadline_idx"),
            models.Index(fields=["category", "reported_at"], name="case_category_time_idx"),
            models.Index(
                fields=["node_code"],
                name="case_node_code_like_idx",
                opclasses=["varchar_pattern_ops"],
            ),
            models.Index(fields=["lead_department", "state"], name="case_department_state_idx"),
            # Monitoring reads open cases under a code prefix from this index alone (index-only scan).
            models.Index(
                fields=["node_code"],
                name="case_open_monitor_idx",
                opclasses=["varchar_pattern_ops"],
                include=[
                    "state",
                    "level",
                    "category",
                    "lead_department",
                    "deadline",
                    "warn_at",
                    "supervised",
                ],
                condition=Q(is_open=True),
            ),
            # Duplicate suggestions look among open cases near a point.
            GistIndex(fields=["location"], name="case_open_location_idx", condition=Q(is_open=True)),
            models.Index(
                fields=["category", "reported_at"],
                name="case_open_category_time_idx",
                condition=Q(is_open=True),
            ),
            # Lists of open cases by deadline.
            models.Index(
                F("deadline").asc(nulls_last=True),
                F("reported_at").desc(),
                name="case_open_deadline_idx",
                condition=Q(is_open=True),
            ),
            # The dispatch console: awaiting dispatch, returned first, then by deadline.
            models.Index(
                F("state"),
                F("returned_at").desc(nulls_last=True),
                F("deadline").asc(nulls_last=True),
                name="case_console_idx",
                condition=Q(is_open=True),
            ),
            models.Index(
                fields=["closed_at"],
                name="case_closed_idx",
                include=["node_code", "closed_on_time", "satisfaction", "returns", "state"],
                condition=Q(closed_at__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True) | Q(satisfaction__gte=1, satisfaction__lte=5),
                name="case_satisfaction_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.category}"

    @property
    def reference(self) -> str:
        """The number people quote on the phone: report date and id, e.g. 20261124-1042."""
        return f"{timezone.localtime(self.reported_at):%Y%m%d}-{self.pk}"

    @staticmethod
    def id_in_reference(value: str) -> int | None:
        """The primary key in a reference such as 20261124-1042, or None when it is not one (the date is
        checked by comparing the found case's `reference`)."""
        match = REFERENCE.fullmatch(value.strip())
        return int(match.group(2)) if match else None


class TallyRow(models.Model):
    """A tally key (community code, dimension, value) and its sums."""

    code = models.CharField(max_length=12)
    dim = models.CharField(max_length=12)
    value = models.CharField(max_length=40)
    n = models.IntegerField(default=0)
    on_time = models.IntegerField(default=0)
    returned = models.IntegerField(default=0)
    sat_sum = models.IntegerField(default=0)
    sat_n = models.IntegerField(default=0)

    class Meta:
        abstract = True


class CaseTally(TallyRow):
    """Running counts per community (or the owner's code when outside any community) and dimension, kept
    by a trigger on cases through `CaseTallyDelta` (append-only, so writers never wait on each other) and
    folded in here by the sweep. Monitoring sums these rows instead of scanning every open case.

    Dimensions of open cases: state, level, category (top of the tree), department, light, supervised,
    dept_red (overdue per department); of closed cases: closed (value: the month), with on-time,
    returned and satisfaction sums.
    """

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "dim", "value"], name="case_tally_key")]
        indexes = [
            models.Index(fields=["code"], name="case_tally_code_idx", opclasses=["varchar_pattern_ops"])
        ]


class CaseTallyDelta(TallyRow):
    """+1/-1 rows written by the trigger; `cases.tally.fold` moves them into `CaseTally`."""

    class Meta:
        indexes = [
            models.Index(fields=["code"], name="case_delta_code_idx", opclasses=["varchar_pattern_ops"])
        ]


class CaseEvent(models.Model):
    """The immutable timeline: one row per transition or note. A database trigger forbids changes."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events", verbose_name=_("issue"))
    at = models.DateTimeField(_("time"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(_("actor"), max_length=60, blank=True)
    action = models.CharField(_("action"), max_length=30)
    from_state = models.CharField(_("from state"), max_length=30, blank=True)
    to_state = models.CharField(_("to state"), max_length=30, blank=True)
    from_level = models.PositiveSmallIntegerField(_("from level"), null=True, blank=True)
    to_level = models.PositiveSmallIntegerField(_("to level"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    public = models.BooleanField(_("public"), default=False)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("issue event")
        verbose_name_plural = _("issue timeline")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="case_event_case_time_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action}"


def photo_path(instance: CasePhoto, filename: str) -> str:
    suffix = "." + filename.rsplit(".", 1)[-1].lower()[:5] if "." in filename else ""
    return f"cases/{instance.case.uuid}/{uuid.uuid4().hex}{suffix}"


class CasePhoto(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="photos", verbose_name=_("issue"))
    image = models.FileField(_("photo"), upload_to=photo_path)
    at = models.DateTimeField(_("time"), auto_now_add=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stage = models.CharField(_("stage"), max_length=20, default="report")

    class Meta:
        verbose_name = _("issue photo")
        verbose_name_plural = _("issue photos")


class Extension(models.Model):
    """A request for more time on the current step, approved or refused one level up."""

    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="extensions", verbose_name=_("issue")
    )
    step = models.CharField(_("step"), max_length=10, choices=Step.choices)
    minutes = models.PositiveIntegerField(_("extra working minutes"))
    reason = models.TextField(_("reason"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(_("requested"))
    approved = models.BooleanField(_("approved"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        verbose_name = _("extension request")
        verbose_name_plural = _("extension requests")
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(approved__isnull=True), name="case_one_pending_extension"
            )
        ]


class CalendarDay(models.Model):
    """An administrator's correction to the official calendar (e.g. next year's holidays once published)."""

    day = models.DateField(_("date"), primary_key=True)
    workday = models.BooleanField(_("working day"))
    note = models.CharField(_("note"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("working calendar")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {'workday' if self.workday else 'holiday'}"
