"""Who hears about what happens to an issue: in-app notices, and e-mail/SMS to reporters.

Called inside the acting transaction: notices and outbound messages are rows written with the change
(and rolled back with it); delivery is queued with `transaction.on_commit`, so nothing leaves the
server for a change that did not happen.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from gridgov.accounts.models import Role, User
from gridgov.dispatch import outbox
from gridgov.dispatch.models import Notification

from . import selectors
from .models import Case, CaseEvent, Level
from .texts import ACTIONS


def _notice(case: Case, verb: str, users: Iterable[User], exclude: User | None = None) -> None:
    seen: set[int] = set()
    rows = []
    text = f"{case.reference} {case.category.name}: {ACTIONS.get(verb, verb)}"
    for u in users:
        if u.pk in seen or (exclude is not None and u.pk == exclude.pk):
            continue
        seen.add(u.pk)
        rows.append(Notification(user=u, case=case, verb=verb, text=text[:300]))
    Notification.objects.bulk_create(rows)


def _department_users(case: Case) -> QuerySet[User]:
    ids = [case.lead_department_id, *case.assisting_departments.values_list("pk", flat=True)]
    return User.objects.filter(is_active=True, role=Role.DEPARTMENT, department_id__in=[i for i in ids if i])


def reported(case: Case) -> None:
    _notice(case, "report", selectors.users_at(case, case.level), exclude=case.reported_by)
    _tell_reporters(case, _("Your report {ref} was received. Follow it with this code: {token}"))


def transitioned(case: Case, event: CaseEvent) -> None:
    verb, actor = event.action, event.actor
    if verb == "dispatch":
        users: Iterable[User] = _department_users(case)
    elif verb in {"return", "refer", "auto_refer", "extension_request"} and case.level == Level.DISTRICT:
        users = selectors.users_at(case, Level.DISTRICT)
    elif verb in {"resolve", "feedback"}:
        users = selectors.users_at(case, Level.GRID if case.grid_id else case.level)
    elif verb in {"supervise", "overdue"}:
        users = [
            *selectors.users_at(case, case.level),
            *(_department_users(case) if case.lead_department_id else []),
        ]
    elif verb == "extension_request":
        users = selectors.users_at(case, min(case.level + 1, Level.DISTRICT))
    elif verb == "extension_decide":
        users = User.objects.filter(pk__in=case.extensions.values("requested_by"))
    else:
        users = selectors.users_at(case, case.level)
    _notice(case, verb, users, exclude=actor)
    if verb == "verify":
        _tell_reporters(case, _("Your report {ref} has been dealt with. Rate the result: {token}"))
    elif verb == "decline":
        _tell_reporters(case, _("Your report {ref} was not taken up: {comment}"), comment=event.comment)


def swept(cases: list[Case], events: list[CaseEvent]) -> None:
    for case, event in zip(cases, events, strict=True):
        transitioned(case, event)


def _tell_reporters(case: Case, template: str, **params: str) -> None:
    """E-mail or SMS the reporter and the reporters of every case merged into this one."""
    reporters = [case, *case.merged.all()] if case.pk else [case]
    with translation.override("zh-hans"):
        for c in reporters:
            body = str(template).format(ref=c.reference, token=c.token, **params)
            if c.reporter_email:
                outbox.queue(
                    "email",
                    c.reporter_email,
                    body,
                    subject=_("Your report {ref}").format(ref=c.reference),
                    case=c,
                )
            elif c.reporter_phone:
                outbox.queue("sms", c.reporter_phone, body, case=c)
