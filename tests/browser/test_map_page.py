"""The map page draws the demo city's streets, communities, grids and areas in a real browser."""

from __future__ import annotations

import pytest

from gridgov.accounts.models import Role
from gridgov.geo.demo_load import build_demo_city, load_demo_city
from gridgov.geo.models import Community, Grid, ResponsibilityArea, Street

from ..factories import UserFactory
from .conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_city(transactional_db):
    load_demo_city(build_demo_city(households=3000))


def drawn(page, kind: str) -> int:
    return page.locator(f"path.gg-{kind}").count()


def test_map_draws_the_demo_city_for_an_administrator(demo_city, page, live_server):
    UserFactory(username="boss", role=Role.ADMIN, is_staff=True, is_superuser=True)
    login(page, live_server, "boss")
    page.goto(f"{live_server.url}/map/")
    page.wait_for_selector("#map[data-loaded='1']", timeout=30_000)
    assert drawn(page, "street") == Street.objects.count() == 4
    assert drawn(page, "community") == Community.objects.count() == 23
    assert drawn(page, "grid") == Grid.objects.count() > 20
    assert drawn(page, "area") == ResponsibilityArea.objects.count()
    assert page.locator("dd[data-kind=grids]").inner_text() == str(Grid.objects.count())
    # Clicking a grid shows its name and code in the side panel.
    grid = Grid.objects.order_by("code").first()
    page.evaluate(
        """code => { const m = window.gridgovMap; for (const l of Object.values(m.layers)) {
             l.eachLayer(f => { if (f.feature.properties.code === code) { f.fire('click'); } }); } }""",
        grid.code,
    )
    assert grid.code in page.locator("#map-info").inner_text()
    assert page.external_requests == []


def test_map_of_a_grid_member_draws_only_their_scope(demo_city, page, live_server):
    area = ResponsibilityArea.objects.filter(member__isnull=False).order_by("code").first()
    user = UserFactory(username="m1", role=Role.MEMBER, scope_code=area.grid.code)
    area.member.user = user
    area.member.save()
    login(page, live_server, "m1")
    page.goto(f"{live_server.url}/map/")
    page.wait_for_selector("#map[data-loaded='1']", timeout=30_000)
    assert drawn(page, "area") == 1
    assert drawn(page, "grid") == 1
    assert drawn(page, "community") == 1
    assert drawn(page, "street") == 1


def test_map_reports_render_in_the_page_with_nothing_from_the_internet(demo_city, page, live_server):
    UserFactory(username="boss", role=Role.ADMIN, is_staff=True, is_superuser=True)
    login(page, live_server, "boss")
    page.goto(f"{live_server.url}/map/reports/")
    frame = page.frame_locator("#report-frame")
    frame.locator(".leaflet-container").wait_for(timeout=30_000)
    assert "Visit coverage" in frame.locator(".gg-title").inner_text()
    assert frame.locator(".gg-legend").is_visible()
    # One coloured polygon per community, drawn on the canvas renderer: Leaflet knows them as layers.
    layers = page.frame("report-frame").evaluate(
        "() => { let n = 0; for (const k in window) { const v = window[k];"
        " if (v && v.feature && v.feature.properties && v.feature.properties.code) n++;"
        " if (v && v.eachLayer && v.toGeoJSON && !v.getTileUrl) {"
        " try { v.eachLayer(l => { if (l.feature) n++; }); } catch (e) {} } } return n; }"
    )
    assert layers == Community.objects.count()
    page.click("#issues-form button:not([name])")
    frame.locator(".gg-title", has_text="Issues reported").wait_for(timeout=30_000)
    assert page.external_requests == []


def test_a_big_scope_draws_grids_and_areas_for_the_viewport_once_zoomed_in(
    demo_city, page, live_server, settings
):
    settings.GRIDGOV_MAP_ALL_UP_TO = 10  # the demo city stands in for a city of a million households
    UserFactory(username="boss", role=Role.ADMIN, is_staff=True, is_superuser=True)
    login(page, live_server, "boss")
    page.goto(f"{live_server.url}/map/")
    page.wait_for_selector("#map[data-loaded='1']", timeout=30_000)
    # The whole district in view: streets and communities, no grids or areas yet; the totals are known.
    assert drawn(page, "community") == Community.objects.count()
    assert drawn(page, "grid") == drawn(page, "area") == 0
    assert "Zoom in" in page.locator("#map-status").inner_text()
    assert page.locator("dd[data-kind=areas]").inner_text() == str(ResponsibilityArea.objects.count())
    area = ResponsibilityArea.objects.order_by("code").first()
    centre = area.boundary.point_on_surface
    page.evaluate(
        "([y, x]) => window.gridgovMap.map.setView([y, x], 17, { animate: false })", [centre.y, centre.x]
    )
    page.wait_for_function("() => (window.gridgovMap.drawn.areas || 0) > 0", timeout=30_000)
    page.wait_for_load_state("networkidle")
    codes = page.evaluate(
        """() => { const out = []; const m = window.gridgovMap;
             for (const l of Object.values(m.layers)) {
               l.eachLayer(f => out.push(f.feature.properties.code)); }
             return out; }"""
    )
    assert area.code in codes
    south, west, north, east = page.evaluate(
        "() => { const b = window.gridgovMap.map.getBounds();"
        " return [b.getSouth(), b.getWest(), b.getNorth(), b.getEast()]; }"
    )
    from django.contrib.gis.geos import Polygon

    view = Polygon.from_bbox((west, south, east, north))
    view.srid = 4326
    # What the API's in_bbox answers: areas whose bounding box overlaps the view.
    in_view = set(ResponsibilityArea.objects.filter(boundary__bboverlaps=view).values_list("code", flat=True))
    drawn_areas = {c for c in codes if len(c) == 17}
    assert drawn_areas == in_view and len(in_view) < ResponsibilityArea.objects.count()
    assert page.external_requests == []
