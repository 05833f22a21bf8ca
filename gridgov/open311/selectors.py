"""What GeoReport v2 clients may read: services, public requests, tokens, the discovery document.

Nothing here ever shows a request of a sensitive category (disputes, individual hardship) or anything
about the reporter: the reporter's fields are read only to blank them out of the public text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import Max, OuterRef, Q, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from gridgov.cases.models import Case, CaseEvent, CasePhoto, Category, StateKind
from gridgov.core.names import display_name

from .formats import Open311Error, w3c

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
WINDOW = timedelta(days=90)
MAX_ROWS = 1000
# Rows per page unless `page_size` asks for more (up to MAX_ROWS); `page` pages back in time. The spec
# lets a server limit how many requests one answer holds.
PAGE_ROWS = 200
STATUSES = {"open": StateKind.OPEN, "closed": StateKind.CLOSED}
# Phone numbers (mainland mobiles, with or without +86) and e-mail addresses in free text.
_CONTACT = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
HIDDEN = "***"


# --- services -----------------------------------------------------------------------------------------


def leaf_categories() -> QuerySet[Category]:
    """Active categories without active children: what a report can be filed under."""
    return (
        Category.objects.filter(active=True)
        .exclude(children__active=True)
        .select_related("parent")
        .order_by("order", "code")
    )


def service(category: Category) -> dict[str, Any]:
    names = [category.name, category.name_en]
    if category.parent:
        names += [category.parent.name, category.parent.name_en]
    return {
        "service_code": category.code,
        "service_name": display_name(category),
        "description": category.description,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(dict.fromkeys(n for n in names if n)),
        "group": display_name(category.parent),
    }


def services() -> list[dict[str, Any]]:
    """Every leaf category, sensitive ones too: residents may report them (they are never listed back)."""
    return [service(c) for c in leaf_categories()]


def service_definition(code: str) -> dict[str, Any]:
    """No category has extra attributes (metadata is false), so the definition lists none."""
    category = leaf_categories().filter(code=code).first()
    if category is None:
        raise Open311Error(404, _("There is no service with this code."), "service_code")
    return {"service_code": category.code, "attributes": []}


def discovery(endpoint_url: str, contact: str = "", key_service: str = "") -> dict[str, Any]:
    """The service discovery document; its changeset moves when a category changes."""
    changed = Category.objects.aggregate(at=Max("updated_at"))["at"]
    changeset = w3c(changed) or ""
    return {
        "changeset": changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": endpoint_url,
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }


# --- requests: filters --------------------------------------------------------------------------------


def parse_w3c(value: str, name: str, *, end_of_day: bool = False) -> datetime:
    """A W3C datetime (a date alone means the start, or the end, of that day in local time).

    A '+' in an offset that arrived unencoded in a query string reads as a space; it is put back.
    """
    raw = value.strip().replace(" ", "+")
    try:
        parsed = parse_datetime(raw)
        day = None if parsed else parse_date(raw)
    except ValueError:
        parsed = day = None
    if parsed is None and day is not None:
        parsed = datetime.combine(day, time.max if end_of_day else time.min)
    if parsed is None:
        raise Open311Error(400, _("Not a W3C date and time such as 2026-01-31T09:00:00+08:00."), name)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


@dataclass
class RequestFilter:
    ids: list[tuple[str, int]] = field(default_factory=list)  # (reference, primary key)
    codes: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    kinds: list[str] = field(default_factory=list)
    size: int = PAGE_ROWS
    page: int = 1


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def request_filter(params: Mapping[str, str], now: datetime | None = None) -> RequestFilter:
    """The GET requests filters. Listed ids override every other filter (as the spec says); otherwise
    the requested time range is at most 90 days (the last 90 days when none is given)."""
    ids = []
    for ref in _split(params.get("service_request_id")):
        pk = Case.id_in_reference(ref)
        if pk is None:
            raise Open311Error(
                400, _("Not a service request id: {value}.").format(value=ref), "service_request_id"
            )
        ids.append((ref, pk))
    if len(ids) > MAX_ROWS:
        raise Open311Error(400, _("Ask for at most {n} requests.").format(n=MAX_ROWS), "service_request_id")
    if ids:
        return RequestFilter(ids=ids, size=MAX_ROWS)
    size, page = _positive(params, "page_size", PAGE_ROWS), _positive(params, "page", 1)
    if size > MAX_ROWS:
        raise Open311Error(400, _("Ask for at most {n} requests.").format(n=MAX_ROWS), "page_size")
    kinds = []
    for status in _split(params.get("status")):
        if status.lower() not in STATUSES:
            raise Open311Error(400, _("The status is open or closed."), "status")
        kinds.append(STATUSES[status.lower()])
    codes = _split(params.get("service_code"))
    if codes:
        known = set(Category.objects.filter(code__in=codes).values_list("code", flat=True))
        unknown = [c for c in codes if c not in known]
        if unknown:
            message = _("There is no service with the code {code}.").format(code=unknown[0])
            raise Open311Error(400, message, "service_code")
    start = parse_w3c(params["start_date"], "start_date") if params.get("start_date") else None
    end = parse_w3c(params["end_date"], "end_date", end_of_day=True) if params.get("end_date") else None
    if start and end:
        if end < start:
            raise Open311Error(400, _("The end is before the start."), "end_date")
        if end - start > WINDOW:
            raise Open311Error(400, _("The range may not span more than 90 days."), "end_date")
    elif start:
        end = start + WINDOW
    elif end:
        start = end - WINDOW
    else:
        end = now or timezone.now()
        start = end - WINDOW
    return RequestFilter(codes=codes, start=start, end=end, kinds=kinds, size=size, page=page)


def _positive(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    if not str(raw).isdigit() or int(raw) < 1:
        raise Open311Error(400, _("{name} is a whole number from 1.").format(name=name), name)
    return int(raw)


# --- requests: rows -----------------------------------------------------------------------------------


def public_cases() -> QuerySet[Case]:
    """Cases whose category (and its parent) is not sensitive."""
    return Case.objects.filter(category__sensitive=False).filter(
        Q(category__parent__isnull=True) | Q(category__parent__sensitive=False)
    )


def _annotated(qs: QuerySet[Case]) -> QuerySet[Case]:
    notes = (
        CaseEvent.objects.filter(case=OuterRef("pk"), public=True)
        .exclude(comment="")
        .order_by("-at", "-id")
        .values("comment")[:1]
    )
    photo = CasePhoto.objects.filter(case=OuterRef("pk")).order_by("at", "id").values("id")[:1]
    return qs.select_related("category__parent", "state", "lead_department").annotate(
        public_notes=Subquery(notes), first_photo=Subquery(photo)
    )


def case_requests(flt: RequestFilter) -> list[Case]:
    qs = public_cases()
    if flt.ids:
        qs = qs.filter(pk__in=[pk for _ref, pk in flt.ids])
    else:
        qs = qs.filter(reported_at__gte=flt.start, reported_at__lte=flt.end)
        if flt.codes:
            qs = qs.filter(category__code__in=flt.codes)
        if flt.kinds:
            qs = qs.filter(state__kind__in=flt.kinds)
    offset = (flt.page - 1) * flt.size
    cases = list(_annotated(qs).order_by("-reported_at", "-pk")[offset : offset + flt.size])
    if flt.ids:  # the date part of each reference must match too
        wanted = {ref for ref, _pk in flt.ids}
        cases = [c for c in cases if c.reference in wanted]
    return cases


def hide_contact(text: str, case: Case) -> str:
    """Public text with the reporter's own name, phone and e-mail, and anything like a phone number or an
    e-mail address, replaced by ***."""
    if not text:
        return ""
    for value in (case.reporter_phone, case.reporter_email, case.reporter_name):
        value = (value or "").strip()
        if len(value) >= 2:
            text = text.replace(value, HIDDEN)
    return _CONTACT.sub(HIDDEN, text)


def service_request(case: Case, media_url: Callable[[str], str] = lambda url: url) -> dict[str, Any]:
    """One request as the spec lists it. `media_url` makes a URL absolute; the photo is served by
    `views.media` (only for the published requests)."""
    is_open = case.state.kind == StateKind.OPEN
    photo = getattr(case, "first_photo", None)
    return {
        "service_request_id": case.reference,
        "status": "open" if is_open else "closed",
        "status_notes": hide_contact(getattr(case, "public_notes", None) or "", case),
        "service_name": display_name(case.category),
        "service_code": case.category.code,
        "description": hide_contact(case.description, case),
        "agency_responsible": display_name(case.lead_department),
        "service_notice": case.state.public_name or display_name(case.state),
        "requested_datetime": w3c(case.reported_at),
        "updated_datetime": w3c(case.updated_at),
        "expected_datetime": w3c(case.deadline) if is_open else None,
        "address": case.address,
        "address_id": "",
        "zipcode": "",
        "lat": case.location.y,
        "long": case.location.x,
        "media_url": media_url(reverse("open311:media", args=[photo])) if photo else "",
    }


def service_requests(
    params: Mapping[str, str], media_url: Callable[[str], str] = lambda url: url
) -> list[dict[str, Any]]:
    return [service_request(c, media_url) for c in case_requests(request_filter(params))]


def one_request(reference: str, media_url: Callable[[str], str] = lambda url: url) -> list[dict[str, Any]]:
    """A single public request (a list of one, as in the spec); 404 when unknown or sensitive."""
    pk = Case.id_in_reference(reference)
    cases = case_requests(RequestFilter(ids=[(reference, pk)])) if pk is not None else []
    if not cases:
        raise Open311Error(404, _("There is no public service request with this id."), "service_request_id")
    return [service_request(cases[0], media_url)]


def token(value: str) -> list[dict[str, Any]]:
    """The request id behind a token the reporter got when posting."""
    case = Case.objects.filter(token=value).only("pk", "reported_at", "token").first()
    if case is None:
        raise Open311Error(404, _("There is no request with this token."), "token")
    return [{"service_request_id": case.reference, "token": case.token}]
