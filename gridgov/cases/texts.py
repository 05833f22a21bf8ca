"""Human names of the loop's actions and events (translated; the codes are in the state table)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

ACTIONS = {
    "report": _("reported"),
    "file": _("file (立案)"),
    "decline": _("decline"),
    "merge": _("merge"),
    "merged_in": _("another report merged in"),
    "resolve": _("resolved, ask for verification"),
    "escalate": _("escalate"),
    "auto_escalate": _("escalated: deadline passed"),
    "refer": _("refer to the coordinators"),
    "auto_refer": _("referred to the coordinators: deadline passed"),
    "send_back": _("send back to the street office"),
    "dispatch": _("dispatch (派遣)"),
    "sign": _("sign for it (签收)"),
    "return": _("return (退回)"),
    "feedback": _("feed back (反馈)"),
    "verify": _("verified, close (结案)"),
    "verify_fail": _("verification failed"),
    "reopen": _("reopen"),
    "supervise": _("supervise (督办)"),
    "overdue": _("overdue: under supervision"),
    "warn": _("deadline approaching"),
    "evaluate": _("resident's evaluation"),
    "note": _("note"),
    "extend": _("ask for more time"),
    "extension_request": _("asked for more time"),
    "extension_decide": _("decided on more time"),
}

# Timeline actors that are not users (an account's name is shown as it is).
ACTORS = {"system": _("system"), "resident": _("resident")}
