"""API plumbing shared by every app: error format."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import GridgovError, ImportRejected


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus gridgov's own errors as 400 with a stable code and field messages."""
    if isinstance(exc, ImportRejected):
        return Response(
            {"code": exc.code, "detail": exc.message, "problems": [p.as_dict() for p in exc.problems]},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, GridgovError):
        return Response({"code": exc.code, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
