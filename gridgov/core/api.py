"""API plumbing shared by every app: error format."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import GridgovError, ImportRejected


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus gridgov's own errors (400, or 403/409 by code) with a stable code."""
    if isinstance(exc, ImportRejected):
        return Response(
            {"code": exc.code, "detail": exc.message, "problems": [p.as_dict() for p in exc.problems]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, GridgovError):
        body: dict[str, Any] = {"code": exc.code, "detail": exc.message}
        if "field" in exc.params:
            body["field"] = exc.params["field"]
        return Response(body, status=exc.http_status)
    return drf_exception_handler(exc, context)
