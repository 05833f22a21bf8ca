"""Every write to an issue: intake, each transition of the loop, supervision, extensions, evaluation.

Each public function is one atomic action (Zulip's `do_*`): it locks the case, checks the state table
and the actor's role and scope, moves the case, appends one event to the immutable timeline, and
queues notifications; messages leave only after the transaction commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.accounts.models import Role, acting_role
from gridgov.core.errors import GridgovError
from gridgov.dispatch.models import Department
from gridgov.geo.models import Community, District, Grid, ResponsibilityArea, Street
from gridgov.visits.models import Visit

from . import notify, selectors
from .models import (
    CalendarDay,
    Case,
    CaseEvent,
    CaseState,
    CaseTransition,
    Category,
    Channel,
    Extension,
    Level,
    StateKind,
)
from .worktime import WorkCalendar, parse_hours

SYSTEM = "system"
RESIDENT = "resident"
# The level a role works at; coordinators and administrators act at any level.
ROLE_LEVEL = {
    Role.MEMBER: Level.GRID,
    Role.LEADER: Level.GRID,
    Role.COMMUNITY: Level.COMMUNITY,
    Role.STREET: Level.STREET,
}


def work_calendar() -> WorkCalendar:
    """Office hours from settings; the administrator's calendar corrections over the official one."""
    overrides = dict(CalendarDay.objects.values_list("day", "workday"))
    return WorkCalendar(
        hours=parse_hours(settings.GRIDGOV_OFFICE_HOURS),
        overrides=overrides,
        tz=timezone.get_default_timezone(),
    )


def invalid(message: str, field: str = "") -> GridgovError:
    return GridgovError("cases.invalid", detail=message, field=field)


# --- where a case belongs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    district: District
    street: Street | None = None
    community: Community | None = None
    grid: Grid | None = None
    area: ResponsibilityArea | None = None
    fallback: bool = False

    @property
    def node_code(self) -> str:
        node = self.area or self.grid or self.community or self.street or self.district
        return node.code

    @property
    def level(self) -> int:
        if self.grid:
            return Level.GRID
        if self.community:
            return Level.COMMUNITY
        return Level.STREET if self.street else Level.DISTRICT


def locate(point: Point) -> Placement:
    """Point in polygon, smallest unit first: area → grid → community → street → district.

    Outside every grid the configured territorial fallback owner (属地兜底) takes the case; without one,
    the smallest unit that contains the point does; outside the district it is an error.
    """
    area = (
        ResponsibilityArea.objects.filter(boundary__covers=point)
        .select_related("grid__community__street__district")
        .first()
    )
    if area:
        grid = area.grid
        community = grid.community
        return Placement(community.street.district, community.street, community, grid, area)
    grid = Grid.objects.filter(boundary__covers=point).select_related("community__street__district").first()
    if grid:
        c = grid.community
        return Placement(c.street.district, c.street, c, grid)
    fallback = settings.GRIDGOV_TERRITORIAL_FALLBACK
    found = _owner_above_grids({"code": fallback} if fallback else {"boundary__covers": point})
    if found is None:
        raise GridgovError("cases.outside", field="location")
    return found


def _owner_above_grids(lookup: dict[str, Any]) -> Placement | None:
    """The smallest community, street or district matching `lookup`, as a fallback placement."""
    community = Community.objects.filter(**lookup).select_related("street__district").first()
    if community:
        return Placement(community.street.district, community.street, community, fallback=True)
    street = Street.objects.filter(**lookup).select_related("district").first()
    if street:
        return Placement(street.district, street, fallback=True)
    district = District.objects.filter(**lookup).first()
    return Placement(district, fallback=True) if district else None


# --- deadlines ----------------------------------------------------------------------------------------


def _start_step(case: Case, now: datetime, cal: WorkCalendar) -> None:
    """Start the time limit of the case's current state (none in closed states)."""
    step = case.state.step
    if not step:
        case.step_started_at = case.deadline = case.warn_at = case.sweep_at = None
        case.light = ""
        return
    limit = case.category.limit(step)
    case.step_started_at = now
    case.deadline = cal.add(now, limit)
    case.warn_at = cal.add(now, limit * (1 - settings.GRIDGOV_CASE_RULES["yellow_share"]))
    _schedule(case, now)


def _schedule(case: Case, now: datetime) -> None:
    """The light for `now`, and when the sweep must look again: at yellow, then at the deadline."""
    if case.deadline is None:
        case.light, case.sweep_at = "", None
    elif case.warn_at and now < case.warn_at:
        case.light, case.sweep_at = "green", case.warn_at
    else:
        case.light, case.sweep_at = ("yellow" if now < case.deadline else "red"), case.deadline


# --- intake -------------------------------------------------------------------------------------------


def leaf_category(code: str) -> Category:
    category = Category.objects.filter(code=code, active=True).first()
    if category is None or category.children.filter(active=True).exists():
        raise GridgovError("cases.category", detail=repr(code), field="category")
    return category


def case_report(
    *,
    category: Category | str,
    description: str,
    location: Point,
    channel: str,
    actor: Any = None,
    uuid: Any = None,
    address: str = "",
    reporter_name: str = "",
    reporter_phone: str = "",
    reporter_email: str = "",
    share_contact: bool = False,
    visit: Any = None,
    attributes: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[Case, bool]:
    """Take in a report from any channel. Returns (case, created); a repeated `uuid` returns the first case.

    The location sets area, grid, community and street; the case waits to be filed (立案) at the lowest
    level that owns the place.
    """
    if isinstance(category, str):
        category = leaf_category(category)
    if channel not in Channel.values:
        raise invalid(_("Unknown channel."), "channel")
    description = (description or "").strip()
    if not description:
        raise invalid(_("Describe the issue."), "description")
    if uuid is not None:
        existing = Case.objects.filter(uuid=uuid).first()
        if existing is not None:
            # The same submission again (a double click, a retried sync) gets the first case back; a
            # different one that reuses an id learns nothing about that case (not even its token).
            same = (
                existing.reported_by_id == (actor.pk if getattr(actor, "is_authenticated", False) else None)
                and existing.description == description
                and existing.category_id == category.pk
            )
            if not same:
                raise invalid(_("This id belongs to another report."), "uuid")
            return existing, False
    now = now or timezone.now()
    if visit is None and uuid is not None:
        # Reported from a visit on a phone: the visit carries the issue's id (it may have synced first).
        visit = Visit.objects.filter(issue_ref=uuid).first()
        if visit is not None and channel == Channel.PATROL:
            channel = Channel.VISIT
    with transaction.atomic():
        place = locate(location)
        reported = CaseState.objects.get(code="reported")
        case = Case(
            category=category,
            description=description,
            location=location,
            address=address.strip(),
            channel=channel,
            attributes=attributes or {},
            reported_by=actor if getattr(actor, "is_authenticated", False) else None,
            visit=visit,
            reporter_name=reporter_name.strip(),
            reporter_phone=reporter_phone.strip(),
            reporter_email=reporter_email.strip(),
            share_contact=share_contact,
            area=place.area,
            grid=place.grid,
            community=place.community,
            street=place.street,
            district=place.district,
            node_code=place.node_code,
            fallback=place.fallback,
            state=reported,
            level=place.level,
            reported_at=now,
        )
        if uuid is not None:
            case.uuid = uuid
        _start_step(case, now, work_calendar())
        case.save()
        who = actor if actor is not None else (RESIDENT if channel == Channel.WEB else SYSTEM)
        event = _event(case, now, who, "report", to_state="reported", to_level=case.level, public=True)
        notify.reported(case, event)
    return case, True


def duplicates(
    category: Category, location: Point, *, at: datetime | None = None, exclude: Case | None = None
) -> QuerySet[Case]:
    """Open cases of the same category near in space and time (the category's radius and window): the
    rule the console counts per row (`selectors.DUPLICATES_OF_REPORT`, `selectors.DUPLICATE_COUNTS`)."""
    at = at or timezone.now()
    qs = Case.objects.filter(pk__in=RawSQL(selectors.DUPLICATES_OF_REPORT, [location.ewkt, at, category.pk]))
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.order_by("reported_at")


# --- the loop -----------------------------------------------------------------------------------------


def _actor_label(actor: Any) -> str:
    if actor is None:
        return SYSTEM
    if isinstance(actor, str):
        return actor
    return actor.get_full_name() or actor.get_username()


def _event(
    case: Case,
    now: datetime,
    actor: Any,
    action: str,
    *,
    from_state: str = "",
    to_state: str = "",
    from_level: int | None = None,
    to_level: int | None = None,
    comment: str = "",
    public: bool = False,
    **data: Any,
) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        at=now,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_label=_actor_label(actor),
        action=action,
        from_state=from_state,
        to_state=to_state,
        from_level=from_level,
        to_level=to_level,
        comment=comment,
        public=public,
        data=data,
    )


def _locked(case: Case | int, actor: Any, expected_version: int | None) -> Case:
    pk = case.pk if isinstance(case, Case) else case
    # Lock by key alone, no joins: when PostgreSQL re-checks a row it waited for, joined rows keep their
    # old values, so a join on the changed state (or a scope subquery) would drop the case. Read after.
    locked = Case.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True).first()
    found = Case.objects.select_related("state", "category").filter(pk=locked).first() if locked else None
    visible = actor is None or isinstance(actor, str) or selectors.visible_cases(actor).filter(pk=pk).exists()
    if found is None or not visible:
        raise GridgovError("scope.denied")
    if expected_version is not None and found.version != expected_version:
        raise GridgovError("cases.conflict", state=found.state.name)
    return found


def _rule(case: Case, action: str, actor: Any, rule: CaseTransition | None = None) -> CaseTransition:
    """The transition for `action` from the case's state, if the actor may take it (`rule`: already read)."""
    if rule is None:
        rule = (
            CaseTransition.objects.filter(from_state=case.state, action=action)
            .select_related("to_state")
            .first()
        )
    if rule is None:
        raise GridgovError("cases.not_allowed", action=action_label(action), state=case.state.name)
    if not isinstance(actor, str) and actor is not None:
        role = acting_role(actor)
        if role not in rule.roles:
            raise GridgovError("cases.role", action=action_label(action))
        if action in {"resolve", "escalate"} and ROLE_LEVEL.get(role, case.level) != case.level:
            raise GridgovError("cases.role", action=action_label(action))
        lead = actor.department_id == case.lead_department_id
        if action in {"sign", "return", "feedback"} and role == Role.DEPARTMENT and not lead:
            raise GridgovError("cases.role", action=action_label(action))
    return rule


def action_label(action: str) -> str:
    from .texts import ACTIONS

    return str(ACTIONS.get(action, action))


def transition(
    case: Case | int,
    action: str,
    *,
    actor: Any,
    comment: str = "",
    expected_version: int | None = None,
    level: int | None = None,
    lead_department: Department | None = None,
    assisting: Sequence[Department] = (),
    into: Case | None = None,
    now: datetime | None = None,
) -> Case:
    """Take one action of the state table on a case. Raises GridgovError (nothing written) when the
    state, the actor's role or scope, or the input does not allow it."""
    now = now or timezone.now()
    comment = (comment or "").strip()
    with transaction.atomic():
        case = _locked(case, actor, expected_version)
        rule = _rule(case, action, actor)
        if rule.needs_comment and not comment:
            raise GridgovError("cases.comment_required", action=action_label(action), field="comment")
        before_state, before_level = case.state, case.level
        target = rule.to_state or _handling_state(case)
        extra: dict[str, Any] = {}
        restart = target.step != before_state.step

        if action == "file":
            chosen = level or max(case.level, case.category.level)
            if chosen not in Level.values or chosen < case.level:
                raise invalid(_("Choose a level at or above where the issue is."), "level")
            case.level = min(chosen, Level.STREET)
            case.filed_at = now
        elif action == "escalate":
            if case.level >= Level.STREET:
                raise GridgovError("cases.not_allowed", action=action_label(action), state=case.state.name)
            case.level += 1
            case.escalations += 1
            restart = True
        elif action == "refer":
            case.level = Level.DISTRICT
        elif action == "send_back":
            case.level = Level.STREET
        elif action == "dispatch":
            if lead_department is None:
                raise invalid(_("Choose the lead department."), "lead_department")
            if any(d.pk == lead_department.pk for d in assisting):
                raise invalid(_("The lead department cannot also assist."), "assisting_departments")
            for d in (lead_department, *assisting):
                if not d.active or d.district_id != case.district_id:
                    raise invalid(
                        _("{name} cannot take issues of this district.").format(name=d), "lead_department"
                    )
            case.lead_department = lead_department
            case.dispatched_at = now
            extra = {"lead": lead_department.code, "assisting": [d.code for d in assisting]}
        elif action == "return":
            case.returns += 1
            case.returned_at = now
            extra = {"department": case.lead_department.code if case.lead_department else ""}
            case.lead_department = None
            restart = True
        elif action == "merge":
            if into is None or into.pk == case.pk or into.state.kind != StateKind.OPEN:
                raise invalid(_("Merge into another open issue."), "into")
            if into.merged_into_id is not None:
                raise invalid(_("That issue was itself merged."), "into")
            case.merged_into = into
            extra = {"into": into.reference}
        elif action in {"verify_fail", "reopen"}:
            restart = True
        case.state = target
        closing = target.kind == StateKind.CLOSED
        new_step = restart or case.level != before_level
        # The working calendar (a read of its corrections) once, and only when a time is reckoned.
        cal = work_calendar() if new_step or (closing and case.dispatched_at) else None
        if closing:
            case.closed_at = now
            case.closed_on_time = action == "verify" and not case.supervised and case.escalations == 0
            if case.dispatched_at and cal is not None:
                case.handling_minutes = round(max(cal.between(case.dispatched_at, now), 0))
        elif action == "reopen":
            case.closed_at = case.closed_on_time = case.handling_minutes = None
        if new_step and cal is not None:
            _start_step(case, now, cal)
        case.version += 1
        case.save()
        if action == "dispatch":
            case.assisting_departments.set(assisting)
        elif action == "return":
            case.assisting_departments.clear()
        event = _event(
            case,
            now,
            actor,
            action,
            from_state=before_state.code,
            to_state=target.code,
            from_level=before_level,
            to_level=case.level,
            comment=comment,
            public=action in PUBLIC_ACTIONS,
            **extra,
        )
        notify.transitioned(case, event)
        if action == "merge" and into is not None:
            _event(into, now, actor, "merged_in", comment=comment, source=case.reference)
    return case


def allowed_actions(case: Case, actor: Any) -> list[str]:
    """The actions this user may take on the case now (what the page offers as buttons)."""
    role = acting_role(actor)
    out = []
    for rule in CaseTransition.objects.filter(from_state=case.state_id).order_by("id"):
        try:
            _rule(case, rule.action, actor, rule)
        except GridgovError:
            continue
        if rule.action == "escalate" and case.level >= Level.STREET:
            continue
        out.append(rule.action)
    if case.state.kind == StateKind.OPEN:
        if role in {Role.COORDINATOR, Role.STREET, Role.ADMIN} and not case.supervised:
            out.append("supervise")
        if case.state.step and role != Role.COORDINATOR:
            out.append("extend")
    elif case.state_id == "closed" and case.satisfaction is None and role != Role.DEPARTMENT:
        out.append("evaluate")
    out.append("note")
    return out


# Actions residents see on the tracking page (their comments are written for the public).
PUBLIC_ACTIONS = {"file", "decline", "merge", "dispatch", "verify", "reopen", "feedback"}


def _handling_state(case: Case) -> CaseState:
    """Where a case goes back to after a failed verification or a reopening."""
    return CaseState.objects.get(code="department_handling" if case.lead_department_id else "handling")


def file_case(
    case: Case | int, *, actor: Any, level: int | None = None, comment: str = "", **kw: Any
) -> Case:
    """File (立案) at a level; a department-level category goes straight on to the coordinator."""
    with transaction.atomic():
        wanted = level
        case = transition(
            case,
            "file",
            actor=actor,
            level=min(level, Level.STREET) if level else None,
            comment=comment,
            **kw,
        )
        if (wanted or case.category.level) >= Level.DISTRICT:
            reason = _("The category is handled by a department.")
            case = transition(case, "refer", actor=SYSTEM, comment=reason, now=kw.get("now"))
    return case


# --- outside the state table --------------------------------------------------------------------------


def supervise(
    case: Case | int,
    *,
    actor: Any,
    comment: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Put an open case under supervision (督办) by hand (409 on a stale `expected_version`)."""
    now = now or timezone.now()
    if not comment.strip():
        raise GridgovError("cases.comment_required", action=action_label("supervise"), field="comment")
    with transaction.atomic():
        case = _locked(case, actor, expected_version)
        if getattr(actor, "role", None) not in {Role.COORDINATOR, Role.STREET, Role.ADMIN}:
            raise GridgovError("cases.role", action=action_label("supervise"))
        if case.state.kind != StateKind.OPEN or case.supervised:
            raise GridgovError("cases.not_allowed", action=action_label("supervise"), state=case.state.name)
        case.supervised = True
        case.version += 1
        case.save(update_fields=["supervised", "version", "updated_at"])
        event = _event(case, now, actor, "supervise", comment=comment.strip())
        notify.transitioned(case, event)
    return case


def evaluate(
    case: Case | int,
    *,
    satisfaction: int,
    comment: str = "",
    actor: Any = RESIDENT,
    now: datetime | None = None,
) -> Case:
    """The resident's evaluation of a closed case (1–5), once."""
    now = now or timezone.now()
    if not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
        raise invalid(_("Satisfaction is a whole number from 1 to 5."), "satisfaction")
    with transaction.atomic():
        case = _locked(case, None if actor == RESIDENT else actor, None)
        if case.state.kind != StateKind.CLOSED or case.state.code != "closed":
            raise GridgovError("cases.not_allowed", action=action_label("evaluate"), state=case.state.name)
        if case.satisfaction is not None:
            raise invalid(_("This issue was already evaluated."), "satisfaction")
        case.satisfaction, case.evaluation = satisfaction, comment.strip()
        case.version += 1
        case.save(update_fields=["satisfaction", "evaluation", "version", "updated_at"])
        _event(case, now, actor, "evaluate", comment=case.evaluation, satisfaction=satisfaction)
    return case


def add_note(
    case: Case | int, *, actor: Any, comment: str, public: bool = False, now: datetime | None = None
) -> CaseEvent:
    if not comment.strip():
        raise invalid(_("Write a note."), "comment")
    with transaction.atomic():
        case = _locked(case, actor, None)
        return _event(case, now or timezone.now(), actor, "note", comment=comment.strip(), public=public)


def request_extension(
    case: Case | int,
    *,
    actor: Any,
    minutes: int,
    reason: str,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> Extension:
    now = now or timezone.now()
    if not reason.strip():
        raise GridgovError("cases.comment_required", action=action_label("extend"), field="reason")
    if not isinstance(minutes, int) or not 30 <= minutes <= 420 * 30:
        raise invalid(_("Ask for between 30 working minutes and 30 working days."), "minutes")
    with transaction.atomic():
        case = _locked(case, actor, expected_version)
        if case.state.kind != StateKind.OPEN or not case.state.step:
            raise GridgovError("cases.not_allowed", action=action_label("extend"), state=case.state.name)
        if case.extensions.filter(approved__isnull=True).exists():
            raise invalid(_("An extension request is already waiting for a decision."), "minutes")
        ext = Extension.objects.create(
            case=case,
            step=case.state.step,
            minutes=minutes,
            reason=reason.strip(),
            requested_by=actor,
            requested_at=now,
        )
        event = _event(case, now, actor, "extension_request", comment=reason.strip(), minutes=minutes)
        notify.transitioned(case, event)
    return ext


def perform(
    case: Case,
    action: str,
    *,
    actor: Any,
    comment: str = "",
    expected_version: int | None = None,
    level: int | None = None,
    public: bool = False,
    satisfaction: int | None = None,
    minutes: int | None = None,
    lead_department: Department | None = None,
    assisting: Sequence[Department] = (),
    into: Case | None = None,
) -> None:
    """One action on a case as the pages and the API take it: any action of the state table (`file`
    included), or supervise / note / evaluate / extend. Raises GridgovError (nothing written)."""
    if action == "supervise":
        supervise(case, actor=actor, comment=comment, expected_version=expected_version)
    elif action == "note":
        add_note(case, actor=actor, comment=comment, public=public)
    elif action == "evaluate":
        if satisfaction is None:
            raise invalid(_("Give a satisfaction from 1 to 5."), "satisfaction")
        evaluate(case, actor=actor, satisfaction=satisfaction, comment=comment)
    elif action == "extend":
        if minutes is None:
            raise invalid(_("Say how many working minutes more."), "minutes")
        request_extension(
            case, actor=actor, minutes=minutes, reason=comment, expected_version=expected_version
        )
    else:
        kwargs: dict[str, Any] = {
            "actor": actor,
            "comment": comment,
            "expected_version": expected_version,
            "level": level,
            "lead_department": lead_department,
            "assisting": assisting,
            "into": into,
        }
        if action == "file":
            file_case(case, **kwargs)
        else:
            transition(case, action, **kwargs)


def decide_extension(
    extension: Extension | int, *, actor: Any, approve: bool, note: str = "", now: datetime | None = None
) -> Extension:
    """Approve or refuse: departments' requests go to coordinators, local ones one level up."""
    now = now or timezone.now()
    with transaction.atomic():
        ext = Extension.objects.select_for_update().get(pk=getattr(extension, "pk", extension))
        case = _locked(ext.case_id, actor, None)
        if ext.approved is not None:
            raise invalid(_("This request was already decided."), "approve")
        role = acting_role(actor)
        deciders = {Role.COORDINATOR, Role.ADMIN}
        if case.level < Level.DISTRICT:
            deciders |= {r for r, lvl in ROLE_LEVEL.items() if lvl == case.level + 1}
        if role not in deciders:
            raise GridgovError("cases.role", action=action_label("extension_decide"))
        ext.approved, ext.decided_by, ext.decided_at, ext.decision_note = approve, actor, now, note.strip()
        ext.save()
        if approve and ext.step == case.state.step and case.deadline:
            cal = work_calendar()
            case.deadline = cal.add(case.deadline, ext.minutes)
            case.warn_at = cal.add(case.warn_at or case.deadline, ext.minutes)
            if case.deadline > now:  # back within the limit: the sweep watches it again
                _schedule(case, now)
            case.version += 1
            case.save(update_fields=["deadline", "warn_at", "sweep_at", "light", "version", "updated_at"])
        event = _event(
            case, now, actor, "extension_decide", comment=note.strip(), approved=approve, minutes=ext.minutes
        )
        notify.transitioned(case, event)
    return ext


def suggest_department(case: Case) -> Department | None:
    """The routing rule with the longest matching area-code prefix, else the category's default."""
    return selectors.suggestions([case])[case.pk]


# --- the escalation sweep -----------------------------------------------------------------------------


@dataclass
class SweepResult:
    yellowed: int = 0
    escalated: int = 0
    referred: int = 0
    supervised: int = 0

    @property
    def touched(self) -> int:
        return self.escalated + self.referred + self.supervised


def sweep(*, now: datetime | None = None, batch: int = 1000) -> SweepResult:
    """Act on every open case whose next mark has come (index on `sweep_at`; nothing else is read).

    At the yellow mark the light turns yellow and the step's owners are warned (临期预警, an event on the
    timeline; no user's pending action conflicts with it). At the deadline, local handling climbs one level
    (grid → community → street), beyond the street it goes to the coordinators; any other overdue step
    turns red and is put under supervision (督办), and its owners are told.
    Cases locked by a concurrent action are skipped and caught by the next sweep.
    """
    now = now or timezone.now()
    result = SweepResult()
    cal = work_calendar()
    states = {s.code: s for s in CaseState.objects.all()}
    while True:
        with transaction.atomic():
            due = list(
                Case.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("category", "state")
                .filter(sweep_at__lte=now)
                .order_by("sweep_at")[:batch]
            )
            if not due:
                return result
            events = []
            for case in due:
                if case.deadline and now < case.deadline:  # only the yellow mark is due: a warning
                    case.light, case.sweep_at = "yellow", case.deadline
                    result.yellowed += 1
                    events.append(
                        CaseEvent(
                            case=case,
                            at=now,
                            actor_label=SYSTEM,
                            action="warn",
                            from_state=case.state.code,
                            to_state=case.state.code,
                            from_level=case.level,
                            to_level=case.level,
                        )
                    )
                    continue
                before_state, before_level = case.state.code, case.level
                case.supervised = True
                if case.state.code == "handling" and case.level < Level.STREET:
                    case.level += 1
                    case.escalations += 1
                    action = "auto_escalate"
                    result.escalated += 1
                    _start_step(case, now, cal)
                elif case.state.code == "handling":
                    case.level = Level.DISTRICT
                    case.escalations += 1
                    case.state = states["awaiting_dispatch"]
                    action = "auto_refer"
                    result.referred += 1
                    _start_step(case, now, cal)
                else:
                    action = "overdue"
                    result.supervised += 1
                    case.light, case.sweep_at = "red", None
                case.version += 1
                events.append(
                    CaseEvent(
                        case=case,
                        at=now,
                        actor_label=SYSTEM,
                        action=action,
                        from_state=before_state,
                        to_state=case.state.code,
                        from_level=before_level,
                        to_level=case.level,
                    )
                )
            _write_swept(due, now)
            CaseEvent.objects.bulk_create(events)
            # Events were appended in the order of `due`: warnings and moves interleaved.
            notify.notify_many([(e.case, e) for e in events])
        if len(due) < batch:
            return result


SWEPT_UPDATE = """
UPDATE cases_case AS c
SET state_id = v.state_id, level = v.level, supervised = v.supervised, escalations = v.escalations,
    step_started_at = v.step_started_at, deadline = v.deadline, warn_at = v.warn_at, sweep_at = v.sweep_at,
    light = v.light, version = v.version, updated_at = %(now)s
FROM unnest(%(id)s::bigint[], %(state_id)s::varchar[], %(level)s::smallint[], %(supervised)s::boolean[],
            %(escalations)s::smallint[], %(step_started_at)s::timestamptz[], %(deadline)s::timestamptz[],
            %(warn_at)s::timestamptz[], %(sweep_at)s::timestamptz[], %(light)s::varchar[],
            %(version)s::integer[])
     AS v(id, state_id, level, supervised, escalations, step_started_at, deadline, warn_at, sweep_at, light,
          version)
WHERE c.id = v.id
"""
SWEPT_COLUMNS = (
    "state_id",
    "level",
    "supervised",
    "escalations",
    "step_started_at",
    "deadline",
    "warn_at",
    "sweep_at",
    "light",
    "version",
)


def _write_swept(cases: list[Case], now: datetime) -> None:
    """One set-based UPDATE for a sweep batch (bulk_update's CASE per column is 100× slower here)."""
    params: dict[str, Any] = {"now": now, "id": [c.pk for c in cases]}
    params.update({col: [getattr(c, col) for c in cases] for col in SWEPT_COLUMNS})
    with connection.cursor() as cur:
        cur.execute(SWEPT_UPDATE, params)


def bulk_dispatch(
    cases: Iterable[Case | int],
    *,
    actor: Any,
    lead_department: Department,
    assisting: Sequence[Department] = (),
) -> list[Case]:
    """Dispatch several cases to one department, all or nothing."""
    with transaction.atomic():
        return [
            transition(c, "dispatch", actor=actor, lead_department=lead_department, assisting=assisting)
            for c in cases
        ]
