"""Who hears about what happens to an issue: in-app notices, and e-mail/SMS to reporters.

Called inside the acting transaction: notices and outbound messages are rows written with the change
(and rolled back with it); delivery is queued with `transaction.on_commit`, so nothing leaves the
server for a change that did not happen. Recipients are resolved for many cases at once (the sweep
may move a thousand) with a fixed number of queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from gridgov.accounts.models import Role, User
from gridgov.dispatch import outbox
from gridgov.dispatch.models import Notification
from gridgov.geo.models import CODE_LENGTHS, ResponsibilityArea

from .models import Case, CaseEvent, Extension, Level
from .texts import ACTIONS

ROLE_AT = {Level.GRID: Role.LEADER, Level.COMMUNITY: Role.COMMUNITY, Level.STREET: Role.STREET}
NODE_AT = {
    Level.GRID: "grid",
    Level.COMMUNITY: "community",
    Level.STREET: "street",
    Level.DISTRICT: "district",
}
RECEIVED = _("Your report {ref} was received. Follow it with this code: {token}")
DONE = _("Your report {ref} has been dealt with. Rate the result: {token}")
DECLINED = _("Your report {ref} was not taken up: {comment}")


def _owner(case: Case, level: int) -> tuple[str, str]:
    """(role, scope code) of the staff who act on the case at `level`; the lowest owner that exists."""
    for lvl in range(level, Level.DISTRICT):
        length = CODE_LENGTHS[NODE_AT[lvl]]
        if len(case.node_code) >= length:
            return ROLE_AT[Level(lvl)], case.node_code[:length]
    return Role.COORDINATOR, case.node_code[: CODE_LENGTHS["district"]]


def _audience(case: Case, verb: str) -> tuple[int, bool]:
    """(level whose staff hear of it, whether the case's departments hear of it too)."""
    if verb == "dispatch":
        return 0, True
    if verb in {"return", "refer", "auto_refer"}:
        return Level.DISTRICT, False
    if verb == "extension_request":
        return min(case.level + 1, Level.DISTRICT), False
    if verb in {"resolve", "feedback"}:
        return Level.GRID, False
    if verb in {"supervise", "overdue", "warn"}:
        return case.level, bool(case.lead_department_id)
    return case.level, False


def notify_many(items: Sequence[tuple[Case, CaseEvent]]) -> None:
    """In-app notices for many (case, event) pairs in a handful of queries."""
    wanted: list[tuple[Case, str, tuple[str, str] | None, bool, bool]] = []
    for case, event in items:
        level, departments = _audience(case, event.action)
        owner = _owner(case, level) if level else None
        with_member = level == Level.GRID and len(case.node_code) == CODE_LENGTHS["area"]
        wanted.append((case, event.action, owner, departments or event.action == "dispatch", with_member))
    owners = {w[2] for w in wanted if w[2]}
    staff: dict[tuple[str, str], list[int]] = defaultdict(list)
    if owners:
        rows = User.objects.filter(
            is_active=True, role__in={r for r, _ in owners}, scope_code__in={c for _, c in owners}
        ).values_list("role", "scope_code", "pk")
        for role, code, pk in rows:
            staff[(role, code)].append(pk)
    area_ids = {w[0].area_id for w in wanted if w[4] and w[0].area_id}
    members = dict(
        ResponsibilityArea.objects.filter(pk__in=area_ids, member__user__is_active=True).values_list(
            "pk", "member__user_id"
        )
    )
    dept_cases = [w[0].pk for w in wanted if w[3]]
    dept_ids: dict[int, set[int]] = defaultdict(set)
    if dept_cases:
        for w in wanted:
            if w[3] and w[0].lead_department_id:
                dept_ids[w[0].pk].add(w[0].lead_department_id)
        through = Case.assisting_departments.through.objects.filter(case_id__in=dept_cases)
        for case_id, dept_id in through.values_list("case_id", "department_id"):
            dept_ids[case_id].add(dept_id)
    handlers: dict[int, list[int]] = defaultdict(list)
    all_depts = set().union(*dept_ids.values()) if dept_ids else set()
    if all_depts:
        for pk, dept in User.objects.filter(
            is_active=True, role=Role.DEPARTMENT, department_id__in=all_depts
        ).values_list("pk", "department_id"):
            handlers[dept].append(pk)
    requesters: dict[int, set[int]] = defaultdict(set)
    decided = [w[0].pk for w in wanted if w[1] == "extension_decide"]
    if decided:
        for case_id, user_id in Extension.objects.filter(case_id__in=decided).values_list(
            "case_id", "requested_by"
        ):
            requesters[case_id].add(user_id)

    notes = []
    for (case, verb, owner, _d, _m), (_c, event) in zip(wanted, items, strict=True):
        users: set[int] = set(staff.get(owner, [])) if owner else set()
        if case.area_id in members and _m:
            users.add(members[case.area_id])
        for dept in dept_ids.get(case.pk, ()):
            users.update(handlers.get(dept, ()))
        if verb == "extension_decide":
            users = requesters.get(case.pk, set())
        users.discard(event.actor_id)
        users.discard(None)  # type: ignore[arg-type]
        text = f"{case.reference} {case.category.name}: {ACTIONS.get(verb, verb)}"[:300]
        notes.extend(Notification(user_id=u, case=case, verb=verb, text=text) for u in sorted(users))
    Notification.objects.bulk_create(notes)


def reported(case: Case, event: CaseEvent) -> None:
    notify_many([(case, event)])
    _tell_reporters(case, RECEIVED)


def transitioned(case: Case, event: CaseEvent) -> None:
    notify_many([(case, event)])
    if event.action == "verify":
        _tell_reporters(case, DONE)
    elif event.action == "decline":
        _tell_reporters(case, DECLINED, comment=event.comment)


def _tell_reporters(case: Case, template: object, **params: str) -> None:
    """E-mail or SMS the reporter and the reporters of every case merged into this one."""
    with translation.override("zh-hans"):
        for c in [case, *case.merged.all()]:
            body = str(template).format(ref=c.reference, token=c.token, **params)
            if c.reporter_email:
                subject = str(_("Your report {ref}")).format(ref=c.reference)
                outbox.queue("email", c.reporter_email, body, subject=subject, case=c)
            elif c.reporter_phone:
                outbox.queue("sms", c.reporter_phone, body, case=c)
