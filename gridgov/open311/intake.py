"""POST requests: a GeoReport v2 form turned into one `case_report` call on the "open311" channel."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.http import QueryDict
from django.utils.translation import gettext as _

from gridgov.cases.models import Category
from gridgov.cases.services import case_report, leaf_category
from gridgov.core.errors import GridgovError
from gridgov.core.ratelimit import allow
from gridgov.geo.models import Building

from .formats import Open311Error
from .models import ApiKey

ATTRIBUTE = re.compile(r"attribute\[([^\]]*)\](\[\])?")
ATTRIBUTE_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", re.ASCII)
MAX_ATTRIBUTES = 50
# The most characters of each text parameter (what the case's fields hold).
LIMITS = {
    "description": 4000,
    "address_string": 200,
    "first_name": 30,
    "last_name": 29,
    "phone": 30,
    "email": 254,
    "media_url": 500,
}


def client_key(raw: str) -> ApiKey:
    """The active key sent as api_key (403 otherwise), within its rate (GRIDGOV_OPEN311_RATE, per key)."""
    if not raw.strip():
        raise Open311Error(403, _("An api_key is required to post a service request."), "api_key")
    key = ApiKey.authenticate(raw)
    if key is None:
        raise Open311Error(403, _("This api_key is not valid."), "api_key")
    rate = getattr(settings, "GRIDGOV_OPEN311_RATE", "600/h")
    if rate and not allow(f"open311:{key.pk}", rate):
        raise Open311Error(429, _("Too many requests with this api_key; try again later."), "api_key")
    return key


def bad(message: str, field: str) -> Open311Error:
    return Open311Error(400, message, field)


def _coordinate(post: Mapping[str, str], name: str, bound: float) -> float:
    raw = post.get(name, "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise bad(_("Not a number: {value}.").format(value=raw[:30]), name) from None
    if not math.isfinite(value) or abs(value) > bound:
        raise bad(_("Out of range (±{bound}).").format(bound=int(bound)), name)
    return value


def geocode(address: str) -> Point:
    """The point of the one building with exactly this address."""
    points = {
        p.coords: p for p in Building.objects.filter(address=address).values_list("point", flat=True)[:10]
    }
    if not points:
        raise bad(_("No building has this address; send lat and long instead."), "address_string")
    if len(points) > 1:
        raise bad(_("Several buildings have this address; send lat and long instead."), "address_string")
    point = next(iter(points.values()))
    return Point(point.x, point.y, srid=4326)


def location(post: Mapping[str, str]) -> Point:
    """lat and long, else the address string looked up among the buildings."""
    has_lat, has_long = bool(post.get("lat", "").strip()), bool(post.get("long", "").strip())
    if has_lat or has_long:
        if not has_lat:
            raise bad(_("Send lat together with long."), "lat")
        if not has_long:
            raise bad(_("Send long together with lat."), "long")
        return Point(_coordinate(post, "long", 180), _coordinate(post, "lat", 90), srid=4326)
    address = post.get("address_string", "").strip()
    if not address:
        raise bad(_("Send lat and long, or address_string."), "lat")
    return geocode(address)


def attributes(post: QueryDict) -> dict[str, Any]:
    """`attribute[code]=value` (and `attribute[code][]=…` for several values) as {code: value}."""
    out: dict[str, Any] = {}
    for key in post:
        match = ATTRIBUTE.fullmatch(key)
        if not match:
            continue
        code, many = match.group(1), bool(match.group(2))
        if not ATTRIBUTE_CODE.fullmatch(code):
            raise bad(_("An attribute code is letters, digits, '_', '.' or '-' (at most 40)."), key[:60])
        values = [v.strip() for v in post.getlist(key)]
        if any(len(v) > 1000 for v in values):
            raise bad(_("An attribute value is at most 1000 characters."), key)
        out[code] = values if many or len(values) > 1 else values[0]
        if len(out) > MAX_ATTRIBUTES:
            raise bad(_("At most {n} attributes.").format(n=MAX_ATTRIBUTES), "attribute")
    return out


def _text(post: Mapping[str, str], name: str) -> str:
    value = (post.get(name) or "").strip()
    if len(value) > LIMITS[name]:
        raise bad(_("At most {n} characters.").format(n=LIMITS[name]), name)
    return value


def parse(post: QueryDict) -> dict[str, Any]:
    """The keyword arguments of `case_report` for a posted form (nothing is written here)."""
    code = (post.get("service_code") or "").strip()
    if not code:
        raise bad(_("Choose a service."), "service_code")
    try:
        category = leaf_category(code)
    except GridgovError as err:
        raise bad(err.message, "service_code") from None
    email = _text(post, "email")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise bad(_("Not an e-mail address."), "email") from None
    media_url = _text(post, "media_url")
    if media_url:
        try:
            URLValidator(schemes=["http", "https"])(media_url)
        except ValidationError:
            raise bad(_("Not an http(s) URL."), "media_url") from None
    attrs = attributes(post)
    if media_url:
        attrs["_media_url"] = media_url  # attribute codes cannot start with '_'
    name = " ".join(p for p in (_text(post, "first_name"), _text(post, "last_name")) if p)
    return {
        "category": category,
        "description": _text(post, "description"),
        "location": location(post),
        "address": _text(post, "address_string"),
        "reporter_name": name,
        "reporter_phone": _text(post, "phone"),
        "reporter_email": email,
        "attributes": attrs,
    }


def notice(category: Category) -> str:
    if category.sensitive:
        return _("Received. Requests of this kind are never shown publicly; keep the token to follow yours.")
    return _("Received. Keep the token to follow the request.")


def submit(post: QueryDict, key: ApiKey) -> list[dict[str, Any]]:
    """Report the posted request; returns the spec's answer (token, request id, notice)."""
    kwargs = parse(post)
    location_field = "lat" if post.get("lat", "").strip() else "address_string"
    try:
        case, _created = case_report(channel="open311", actor=f"open311:{key.name}"[:60], **kwargs)
    except GridgovError as err:
        field = err.params.get("field", "")
        field = {"location": location_field, "category": "service_code"}.get(field, field)
        raise bad(err.message, field) from None
    return [
        {"token": case.token, "service_request_id": case.reference, "service_notice": notice(case.category)}
    ]
