"""Uploaded files (issue and visit photos) are never served from a public /media/ URL: each goes through a
view that checks the user's scope first and then answers with this."""

from __future__ import annotations

import mimetypes

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404

IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


def private_file(file: FieldFile) -> FileResponse:
    """The stored file, for this user only: not cached by shared caches, never sniffed as something else."""
    if not file:
        raise Http404("no file")
    name = file.name.lower()
    kind = next((t for ext, t in IMAGE_TYPES.items() if name.endswith(ext)), None)
    kind = kind or mimetypes.guess_type(name)[0] or "application/octet-stream"
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("file missing from storage") from exc
    response = FileResponse(handle, content_type=kind)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response
