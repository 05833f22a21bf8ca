"""JSON in and out of the API on orjson: DRF's renderer and parser, same output, less time per request.

Kept apart from gridgov.core.api, which imports DRF's views (and so its settings, which name these
classes).
"""

from __future__ import annotations

import codecs
from typing import IO, Any

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_drf_encoder = JSONEncoder()
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _default(obj: Any) -> Any:
    """What orjson leaves to DRF's encoder: dates and times (in DRF's format), decimals, lazy strings…"""
    return _drf_encoder.default(obj)


class FastJSONRenderer(JSONRenderer):
    """DRF's JSON renderer, encoded by orjson: compact UTF-8, `; indent=N` in Accept indents by 2."""

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        if data is None:
            return b""
        options = _OPTIONS
        if self.get_indent(accepted_media_type or "", renderer_context or {}):
            options |= orjson.OPT_INDENT_2
        return orjson.dumps(data, default=_default, option=options)


class FastJSONParser(JSONParser):
    """DRF's JSON parser on orjson, which refuses NaN and Infinity like DRF's strict mode."""

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw: bytes | str = stream.read()
            if codecs.lookup(encoding).name != "utf-8":
                raw = raw.decode(encoding)  # type: ignore[union-attr]
            return orjson.loads(raw)
        except (ValueError, LookupError) as exc:  # orjson.JSONDecodeError, UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from exc


class FastContentNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, answering the common case at once: no format asked for (no query string, so
    no `?format=`, and no suffix) and an Accept header that is absent, `*/*` or exactly the first renderer's
    type (what phones and scripts send). DRF's own choice is then the first renderer with its own media type;
    anything else goes through DRF's parsing of the header as before."""

    def select_renderer(self, request: Any, renderers: list[Any], format_suffix: str | None = None) -> Any:
        meta = request._request.META
        if renderers and not format_suffix and not meta.get("QUERY_STRING"):
            first = renderers[0]
            if meta.get("HTTP_ACCEPT", "*/*") in ("*/*", first.media_type):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
