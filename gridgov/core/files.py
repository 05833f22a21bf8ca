"""Uploaded files (issue and visit photos) are never served from a public /media/ URL: each goes through a
view that checks the user's scope first and then answers with this."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404

IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}
IMAGE_MAGIC = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png", b"RIFF": "webp"}


def image_kind(head: bytes) -> str | None:
    """'jpg', 'png' or 'webp' from a file's first 12 bytes; None for anything else. Uploads are stored
    under this extension, never the one the client sent."""
    kind = next((ext for magic, ext in IMAGE_MAGIC.items() if head.startswith(magic)), None)
    if kind == "webp" and head[8:12] != b"WEBP":
        return None
    return kind


def private_file(file: FieldFile) -> FileResponse:
    """The stored file, for this user only: not cached by shared caches, never sniffed as something else;
    shown in the page only when it is an image, otherwise offered as a download."""
    if not file:
        raise Http404("no file")
    name = file.name.lower()
    kind = next((t for ext, t in IMAGE_TYPES.items() if name.endswith(ext)), None)
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("file missing from storage") from exc
    response = FileResponse(handle, content_type=kind or "application/octet-stream")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline" if kind else "attachment"
    return response
