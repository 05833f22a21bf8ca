"""GeoReport v2 endpoints: each view picks the format, calls one function and renders its answer."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from gridgov.cases.models import CasePhoto
from gridgov.core.files import private_file

from . import intake, selectors
from .formats import Open311Error, error_response, respond

View = Callable[..., HttpResponse]


def endpoint(*methods: str) -> Callable[[View], View]:
    """Allow only `methods`; answer every Open311Error in the spec's error format and the asked format."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, fmt: str = "xml", **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise Open311Error(405, _("Method not allowed."))
                return view(request, *args, fmt=fmt, **kwargs)
            except Open311Error as err:
                response = error_response(err, fmt)
                if err.status == 405:
                    response["Allow"] = ", ".join(methods)
                return response

        return wrapped

    return decorate


@endpoint("GET", "HEAD")
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    document = selectors.discovery(
        request.build_absolute_uri(reverse("open311:root")),
        contact=getattr(settings, "GRIDGOV_OPEN311_CONTACT", ""),
        key_service=getattr(settings, "GRIDGOV_OPEN311_KEY_SERVICE", ""),
    )
    return respond(document, fmt, "discovery")


@endpoint("GET", "HEAD")
def services(request: HttpRequest, fmt: str) -> HttpResponse:
    return respond(selectors.services(), fmt, "services")


@endpoint("GET", "HEAD")
def service_definition(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    return respond(selectors.service_definition(code), fmt, "service_definition")


@csrf_exempt
@endpoint("GET", "HEAD", "POST")
def service_requests(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        key = intake.client_key(request.POST.get("api_key", ""))
        return respond(intake.submit(request.POST, key), fmt, "service_requests")
    rows = selectors.service_requests(request.GET, request.build_absolute_uri)
    return respond(rows, fmt, "service_requests")


@endpoint("GET", "HEAD")
def service_request(request: HttpRequest, reference: str, fmt: str) -> HttpResponse:
    return respond(selectors.one_request(reference, request.build_absolute_uri), fmt, "service_requests")


@endpoint("GET", "HEAD")
def token(request: HttpRequest, token: str, fmt: str) -> HttpResponse:
    return respond(selectors.token(token), fmt, "service_requests")


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Anything else under the endpoint: a 404 in the spec's format (JSON when .json was asked for)."""
    fmt = "json" if path.endswith(".json") else "xml"
    return error_response(Open311Error(404, _("There is no such resource.")), fmt)


def media(request: HttpRequest, pk: str) -> HttpResponse:
    """The first photo of a published request (its `media_url`); nothing of a sensitive category."""
    photo = get_object_or_404(CasePhoto, pk=pk, case__in=selectors.public_cases().values("pk"))
    return private_file(photo.image)
