"""Pages for grid members (mobile-first, offline-capable) and the leader's review queue."""

from __future__ import annotations

import functools
import hashlib
import os

from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _

from gridgov.accounts import scoping
from gridgov.accounts.models import Role
from gridgov.core.files import private_file
from gridgov.geo.models import ResponsibilityArea
from gridgov.households.models import Household, KeyGroup

from .models import Channel, Finding, Flag
from .selectors import orphans, visible_visits
from .services import areas_out_of_range

PHOTO_ID = "00000000-0000-0000-0000-000000000000"  # replaced by the visit's id in visits.js


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    labels = {
        "overdue": _("overdue"),
        "due_soon": _("due this week"),
        "due": _("due this period"),
        "done": _("done this period"),
        "log": _("Log a visit"),
        "save": _("Save"),
        "cancel": _("Cancel"),
        "unsynced": _("Not yet sent"),
        "synced": _("All visits sent."),
        "offline": _("Offline: visits are kept on this phone and sent when the network returns."),
        "locating": _("Getting the GPS fix…"),
        "no_fix": _("No GPS fix: log it as a phone or other visit, or try again outside."),
        "saved": _("Saved on this phone."),
        "last": _("last visit"),
        "never": _("never visited"),
        "due_by": _("due by"),
        "route": _("Suggested order for today"),
        "error": _("Refused"),
        "report": _("Report an issue from this visit"),
        "accuracy": _("accuracy"),
        "awaiting": _("awaiting the leader's review"),
        "report_now": _("Report the issue now"),
        "key_groups": dict(KeyGroup.choices),
        "photo_refused": _("Photo not kept"),
        "resend": _("Edit and resend"),
        "discard": _("Discard this visit"),
        "fix_and_resend": _("Correct what the message names and save: the visit is sent again."),
    }
    return render(
        request,
        "visits/mine.html",
        {
            "labels": labels,
            "channels": Channel.choices,
            "findings": Finding.choices,
            "report_url": reverse("cases:new"),
            "photo_url": reverse("visit-photo", args=[PHOTO_ID]),
        },
    )


SW_ASSETS = [
    "visits/visits.js",
    "visits/phone.js",
    "gridgov/gridgov.css",
    "leaflet/leaflet.js",
    "leaflet/leaflet.css",
]


def assets_version(paths: list[str]) -> str:
    """A digest of the static files' contents. The service worker serves them from its cache first and
    static URLs carry no hash, so the worker's cache name carries this: a changed file changes sw.js, the
    browser installs the new worker, which caches the new files and drops the old. By content, not by
    modification time, so that every server of one release names the cache alike (a phone moving between
    them does not re-install the worker); a file is read again only when its size or time changed."""
    digest = hashlib.sha256()
    for path in paths:
        found = finders.find(path)
        if not found:
            continue
        name = found if isinstance(found, str) else found[0]
        stat = os.stat(name)
        digest.update(f"{path}:{_file_digest(name, stat.st_size, stat.st_mtime_ns)};".encode())
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=64)
def _file_digest(name: str, size: int, mtime_ns: int) -> str:
    """The digest of a file's contents (size and time: the cache's key, so a changed file is read again)."""
    with open(name, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served under /visits/ so that it controls the member's pages."""
    assets = [static(path) for path in SW_ASSETS]
    response = render(
        request,
        "visits/sw.js",
        {"assets": assets, "version": assets_version(SW_ASSETS)},
        content_type="application/javascript",
    )
    response["Cache-Control"] = "no-cache"
    return response


@login_required
def review_page(request: HttpRequest) -> HttpResponse:
    labels = {"flags": dict(Flag.choices), "channels": dict(Channel.choices)}
    return render(request, "visits/review.html", {"labels": labels})


TEAM_ROLES = (Role.LEADER, Role.COMMUNITY)


@login_required
def team_page(request: HttpRequest) -> HttpResponse:
    """A grid leader's (or community staff's) households by responsibility area and member, the orphans
    (no active member), and moving households to another area: the reassignment API on a page."""
    user = request.user
    if getattr(user, "role", None) not in TEAM_ROLES:
        raise PermissionDenied
    areas = list(
        scoping.visible_nodes(user, ResponsibilityArea.objects.select_related("member", "grid"))
        .filter(code__startswith=user.scope_code)
        .order_by("code")
    )
    by_area: dict[int, list[Household]] = {a.pk: [] for a in areas}
    for h in scoping.households(user).filter(active=True, area__isnull=False).order_by("code"):
        by_area.setdefault(h.area_id, []).append(h)
    out = {o["area"]: o for o in areas_out_of_range([a.pk for a in areas])}  # (marked on the page)
    rows = [(a, by_area.get(a.pk, []), out.get(a.code)) for a in areas]
    return render(request, "visits/team.html", {"rows": rows, "orphans": orphans(user)})


@login_required
def visit_photo_file(request: HttpRequest, pk: str) -> HttpResponse:
    """A visit's photo, for its member and for staff whose scope holds the household (never public)."""
    return private_file(get_object_or_404(visible_visits(request.user), pk=pk).photo)
