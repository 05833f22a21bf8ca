"""Map reports made with folium: visit coverage by grid (or community, area) and a heatmap of issues.

A report is a whole HTML page. Served from the site it loads Leaflet and the heat plugin from the site's
own static files; downloaded (`standalone=True`) it carries them inline, so the file opens on a computer
with no network at all (a street office keeps it, mails it, prints it). Nothing is ever loaded from the
internet: folium's CDN links are replaced before rendering.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape
from typing import Any

import folium
from django.conf import settings
from django.contrib.gis.db.models import Extent, GeometryField
from django.contrib.gis.db.models.functions import AsGeoJSON, Centroid
from django.contrib.staticfiles import finders
from django.db.models import Func, Q, Value
from django.templatetags.static import static
from django.utils import timezone
from django.utils.translation import gettext as _
from folium.plugins import HeatMap

from gridgov.accounts import scoping
from gridgov.cases.models import Category
from gridgov.cases.selectors import visible_cases
from gridgov.core.names import display_name
from gridgov.geo.models import Community, Grid, ResponsibilityArea
from gridgov.visits import selectors as visit_selectors

LEVELS = {"community": Community, "grid": Grid, "area": ResponsibilityArea}
# The share of households whose visits of the period are done: colour steps, worst first.
STEPS = ((0.5, "#d73027"), (0.75, "#fc8d59"), (0.9, "#fee08b"), (1.0, "#91cf60"))
NO_DATA = "#bdbdbd"
# Local copies of what folium would take from CDNs (Leaflet from django-leaflet, the heat plugin from
# folium's own wheel, vendored); everything else folium lists (jQuery, Bootstrap, fonts) is not needed.
ASSETS_JS = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet-heat.js": "gridgov/vendor/leaflet-heat.min.js",  # folium 0.20's copy (MIT)
}
ASSETS_CSS = {"leaflet_css": "leaflet/leaflet.css"}
SIMPLIFY_DEGREES = 0.00005  # ~5 m: outlines for an overview, not for surveying
MAX_CASE_POINTS = 50_000


class ReportError(ValueError):
    """A parameter the report cannot use; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Report:
    """A rendered report: the page and what it shows, for the caller's headings and tests."""

    html: str
    title: str
    rows: int


def default_level(user: Any) -> str:
    """The finest level that keeps a report readable for the user's scope."""
    scope = scoping.scope_of(user)
    if scope.everything or any(len(p) <= 9 for p in scope.prefixes):
        return "community" if scope.everything or any(len(p) <= 6 for p in scope.prefixes) else "grid"
    return "area"


def _new_map(bounds: tuple[float, float, float, float] | None) -> folium.Map:
    fmap = folium.Map(location=[0, 0], zoom_start=2, tiles=None, control_scale=True, prefer_canvas=True)
    if settings.BASEMAP_URL:
        folium.TileLayer(
            tiles=settings.BASEMAP_URL,
            attr=settings.BASEMAP_ATTRIBUTION or _("Basemap"),
            name=_("Basemap"),
            maxZoom=19,
        ).add_to(fmap)
    if bounds:
        xmin, ymin, xmax, ymax = bounds
        fmap.fit_bounds([[ymin, xmin], [ymax, xmax]])
    return fmap


def _colour(share: float | None) -> str:
    if share is None:
        return NO_DATA
    for upper, colour in STEPS:
        if share < upper:
            return colour
    return STEPS[-1][1]


def _legend(title: str, entries: Iterable[tuple[str, str]]) -> folium.Element:
    items = "".join(
        f'<div><i style="background:{c};display:inline-block;width:14px;height:14px;margin-right:6px;'
        f'vertical-align:middle;opacity:.8"></i>{escape(label)}</div>'
        for c, label in entries
    )
    return folium.Element(
        '<div class="gg-legend" style="position:fixed;bottom:28px;right:12px;z-index:1000;background:#fff;'
        "padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:13px sans-serif;"
        f'max-width:60vw"><b>{escape(title)}</b>{items}</div>'
    )


def _title(text: str, subtitle: str) -> folium.Element:
    return folium.Element(
        '<div class="gg-title" style="position:fixed;top:10px;left:50px;z-index:1000;background:#fff;'
        'padding:6px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:14px sans-serif">'
        f"<b>{escape(text)}</b><br><small>{escape(subtitle)}</small></div>"
    )


def _bounds(geometries: Iterable[dict[str, Any]]) -> tuple[float, float, float, float] | None:
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            xs.append(coords[0])
            ys.append(coords[1])
        else:
            for c in coords:
                walk(c)

    for g in geometries:
        walk(g["coordinates"])
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def coverage(
    user: Any, *, day: date | None = None, level: str | None = None, standalone: bool = False
) -> Report:
    """Visit coverage for the period holding `day`: each node of `level` in the user's scope coloured by
    the share of its households whose visits are done (from the rollups), and a heat layer of the
    households not yet visited (weighted at each responsibility area's centre)."""
    day = day or timezone.localdate()
    level = level or default_level(user)
    if level not in LEVELS:
        raise ReportError("level", _("Choose one of: %(levels)s.") % {"levels": ", ".join(LEVELS)})
    if not scoping.scope_of(user).households:
        raise ReportError("report", _("Your role does not see households."))
    rows = {r["key"]: r for r in visit_selectors.compliance_rollups(user, level, day)}
    simplified = Func(
        "boundary",
        Value(SIMPLIFY_DEGREES),
        function="ST_SimplifyPreserveTopology",
        output_field=GeometryField(srid=4326),
    )
    nodes = (
        scoping.visible_nodes(user, LEVELS[level].objects.exclude(boundary=None))
        .annotate(geojson=AsGeoJSON(simplified, precision=6))
        .order_by("code")
        .values_list("code", "name", "geojson")
    )
    features = []
    for code, name, geojson in nodes:
        r = rows.get(code, {})
        share = r.get("share_done")
        features.append(
            {
                "type": "Feature",
                "geometry": json.loads(geojson),
                "properties": {
                    "code": code,
                    "name": name,
                    "households": r.get("households", 0),
                    "done": r.get("done", 0),
                    "share": "—" if share is None else f"{share:.0%}",
                    "colour": _colour(share),
                },
            }
        )
    fmap = _new_map(_bounds(f["geometry"] for f in features))
    title = _("Visit coverage")
    fmap.get_root().html.add_child(_title(title, _("Period holding %(day)s") % {"day": day.isoformat()}))
    if features:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            name=_("Share of households visited"),
            style_function=lambda f: {
                "fillColor": f["properties"]["colour"],
                "color": "#555",
                "weight": 1,
                "fillOpacity": 0.6,
            },
            tooltip=folium.GeoJsonTooltip(
                fields=["name", "code", "households", "done", "share"],
                aliases=[_("Name"), _("Code"), _("Households"), _("Visited this period"), _("Share")],
            ),
        ).add_to(fmap)
    # Not yet visited: per area, households minus done, at the area's centre.
    areas = (
        {r["key"]: r for r in visit_selectors.compliance_rollups(user, "area", day)}
        if level != "area"
        else rows
    )
    waiting = {code: r["households"] - r["done"] for code, r in areas.items() if r["households"] > r["done"]}
    # The centres of the scope's areas in one read (no list of codes in the query: a city has ~57,000).
    centres = (
        scoping.visible_nodes(user, ResponsibilityArea.objects.all())
        .annotate(c=Centroid("boundary"))
        .values_list("code", "c")
    )
    heat = [[c.y, c.x, waiting[code]] for code, c in centres if code in waiting]
    if heat:
        HeatMap(heat, name=_("Households not yet visited"), radius=18, blur=14, min_opacity=0.3).add_to(fmap)
    fmap.get_root().html.add_child(
        _legend(
            _("Share of households visited"),
            [
                (STEPS[0][1], "< 50%"),
                (STEPS[1][1], "50–75%"),
                (STEPS[2][1], "75–90%"),
                (STEPS[3][1], "≥ 90%"),
                (NO_DATA, _("no households")),
            ],
        )
    )
    folium.LayerControl(collapsed=False).add_to(fmap)
    return Report(html=render(fmap, standalone=standalone), title=str(title), rows=len(features))


def cases_heatmap(
    user: Any,
    *,
    since: date | None = None,
    until: date | None = None,
    category: str = "",
    open_only: bool = False,
    standalone: bool = False,
) -> Report:
    """Where issues were reported between `since` and `until` (default the last 90 days), in the user's
    scope, optionally one category (a group or a leaf) or open ones only."""
    until = until or timezone.localdate()
    since = since or until - timedelta(days=90)
    if since > until:
        raise ReportError("since", _("The start date is after the end date."))
    tz = timezone.get_current_timezone()
    qs = visible_cases(user).filter(
        reported_at__gte=datetime.combine(since, time.min, tzinfo=tz),
        reported_at__lt=datetime.combine(until + timedelta(days=1), time.min, tzinfo=tz),
    )
    label = ""
    if category:
        cat = Category.objects.filter(code=category).first()
        if cat is None:
            raise ReportError("category", _("No such category."))
        qs = qs.filter(Q(category=cat) | Q(category__parent=cat))  # a group holds its leaves
        label = display_name(cat)
    if open_only:
        qs = qs.filter(is_open=True)
    total = qs.count()
    points = list(qs.order_by("-reported_at").values_list("location", flat=True)[:MAX_CASE_POINTS])
    if points:
        xs, ys = [p.x for p in points], [p.y for p in points]
        bounds = (min(xs), min(ys), max(xs), max(ys))
    else:
        bounds = _scope_extent(user)
    fmap = _new_map(bounds)
    title = _("Issues reported") + (f" · {label}" if label else "") + (f" · {_('open')}" if open_only else "")
    subtitle = _("%(since)s to %(until)s: %(n)s issues") % {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "n": total,
    }
    if total > len(points):
        subtitle += " " + _("(the latest %(n)s shown)") % {"n": len(points)}
    fmap.get_root().html.add_child(_title(title, subtitle))
    if points:
        HeatMap([[p.y, p.x] for p in points], name=title, radius=16, blur=12, min_opacity=0.3).add_to(fmap)
    return Report(html=render(fmap, standalone=standalone), title=str(title), rows=total)


def _scope_extent(user: Any) -> tuple[float, float, float, float] | None:
    """The extent of the communities the user sees (for a map with nothing on it)."""
    communities = scoping.visible_nodes(user, Community.objects.exclude(boundary=None))
    extent = communities.aggregate(e=Extent("boundary"))["e"]
    return tuple(extent) if extent else None  # type: ignore[return-value]


def _localise(element: Any) -> None:
    """Point every element's JS/CSS at local static files; drop what the report does not use."""
    if hasattr(element, "default_js"):
        element.default_js = [(n, static(ASSETS_JS[n])) for n, _u in element.default_js if n in ASSETS_JS]
    if hasattr(element, "default_css"):
        element.default_css = [(n, static(ASSETS_CSS[n])) for n, _u in element.default_css if n in ASSETS_CSS]
    for child in getattr(element, "_children", {}).values():
        _localise(child)


def _inline(html: str) -> str:
    """Replace links to the local assets by their contents."""
    for path in ASSETS_JS.values():
        with open(finders.find(path), encoding="utf-8") as f:
            body = f.read().replace("</script", "<\\/script")
        tag = re.compile(r'<script src="' + re.escape(static(path)) + r'"></script>')
        html = tag.sub(lambda _m, body=body: f"<script>{body}</script>", html)
    for path in ASSETS_CSS.values():
        with open(finders.find(path), encoding="utf-8") as f:
            body = f.read()
        tag = re.compile(r'<link rel="stylesheet" href="' + re.escape(static(path)) + r'"/>')
        html = tag.sub(lambda _m, body=body: f"<style>{body}</style>", html)
    return html


def render(fmap: folium.Map, *, standalone: bool = False) -> str:
    _localise(fmap)
    html = fmap.get_root().render()
    return _inline(html) if standalone else html
