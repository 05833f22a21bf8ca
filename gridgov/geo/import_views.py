"""Upload page for administrators: boundaries and household ledgers, same services as the commands."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def upload(request: HttpRequest) -> HttpResponse:
    if not request.user.is_administrator:
        raise PermissionDenied
    return render(request, "imports/upload.html", {})
