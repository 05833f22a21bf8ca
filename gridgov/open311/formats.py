"""GeoReport v2 output: the same data as JSON or XML, and errors in the spec's format.

XML is built with ElementTree (escaped, well-formed); characters XML 1.0 forbids are dropped.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.utils import timezone

CONTENT_TYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# The element name of one item in a list, by the list's element name.
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}
# Control characters are not allowed in XML 1.0 (tab, line feed and carriage return are).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Open311Error(Exception):
    """A request the API refuses: HTTP status, the message and the parameter at fault."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        self.status = status
        self.field = field
        self.message = str(message)
        super().__init__(self.description)

    @property
    def description(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def w3c(value: datetime | None) -> str | None:
    """A W3C datetime with the offset of the configured time zone, e.g. 2026-03-02T09:30:00+08:00."""
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list | tuple):
        item = ITEMS.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(root: str, data: Any) -> bytes:
    """`data` (dicts, lists, scalars) under the element `root`; list items are named after `ITEMS`."""
    element = ET.Element(root)
    _fill(element, data)
    return XML_DECLARATION + ET.tostring(element, encoding="utf-8", xml_declaration=False)


def to_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def respond(data: Any, fmt: str, root: str, status: int = 200) -> HttpResponse:
    body = to_json(data) if fmt == "json" else to_xml(root, data)
    return HttpResponse(body, status=status, content_type=CONTENT_TYPES[fmt])


def error_response(error: Open311Error, fmt: str) -> HttpResponse:
    """`[{"code": 400, "description": "…"}]` or `<errors><error><code>…` with the same HTTP status."""
    errors = [{"code": error.status, "description": error.description}]
    return respond(errors, fmt, "errors", status=error.status)
