"""Map reports (folium): visit coverage and the issue heatmap, scoped, offline, with clear errors."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from django.apps import apps as django_apps

from gridgov.cases import services as case_services
from gridgov.cases.defaults import seed as seed_cases
from gridgov.maps import reports

from .cases.conftest import IN_A, IN_B
from .visits.test_sync import client, sync, visit

pytestmark = pytest.mark.django_db

AREA_A, AREA_A2, AREA_B, AREA_D = (
    "44030800100100101",
    "44030800100100102",
    "44030800100100201",
    "44030800100200101",
)


@pytest.fixture(autouse=True)
def seeded(db) -> None:
    importlib.import_module("gridgov.visits.migrations.0002_default_policies").seed(django_apps, None)
    seed_cases(django_apps)


def external_links(html: str) -> set[str]:
    return set(re.findall(r'(?:src|href)=["\'](https?:)?//[^"\']+', html))


def codes_in(html: str) -> set[str]:
    return set(re.findall(r'"code": "(\d{12,17})"', html))


def test_coverage_colours_each_area_of_the_scope_by_its_share_visited(world) -> None:
    sync(client(world, "member_a"), [visit()])  # HA1, the only household of area A: done
    report = reports.coverage(world.users["community"])
    assert reports.default_level(world.users["community"]) == "area"
    # The community's three areas, not the other community's.
    assert report.rows == 3 and codes_in(report.html) == {AREA_A, AREA_A2, AREA_B}
    feature_a = re.search(r'\{[^{}]*"code": "' + AREA_A + r'"[^{}]*\}', report.html).group(0)
    assert '"done": 1' in feature_a and '"share": "100%"' in feature_a
    assert f'"colour": "{reports.STEPS[-1][1]}"' in feature_a
    feature_b = re.search(r'\{[^{}]*"code": "' + AREA_B + r'"[^{}]*\}', report.html).group(0)
    assert '"done": 0' in feature_b and f'"colour": "{reports.STEPS[0][1]}"' in feature_b
    # Areas B and A2 still wait (one household each): they are in the heat layer, at their centres;
    # area A, done, is not.
    points = json.loads(re.search(r"L\.heatLayer\(\s*(\[\[.*?\]\])", report.html, re.S).group(1))
    centres = {
        (round(c.y, 6), round(c.x, 6))
        for c in (world.area_a2.boundary.centroid, world.area_b.boundary.centroid)
    }
    assert {(round(y, 6), round(x, 6)) for y, x, _w in points} == centres
    assert [w for _y, _x, w in points] == [1, 1]


def test_coverage_levels_follow_the_scope(world) -> None:
    street = world.users["street"]
    assert reports.default_level(street) == "grid"
    assert reports.default_level(world.users["admin"]) == "community"
    assert codes_in(reports.coverage(street).html) == {
        "440308001001001",
        "440308001001002",
        "440308001002001",
    }
    assert codes_in(reports.coverage(street, level="community").html) == {"440308001001", "440308001002"}
    with pytest.raises(reports.ReportError) as err:
        reports.coverage(street, level="household")
    assert err.value.field == "level"


def test_reports_load_nothing_from_the_internet(world) -> None:
    case_services.case_report(category="env-garbage", description="垃圾", location=IN_A, channel="hotline")
    for html in (
        reports.coverage(world.users["admin"]).html,
        reports.cases_heatmap(world.users["admin"]).html,
    ):
        assert external_links(html) == set()
        assert "/static/leaflet/leaflet.js" in html and "cdn" not in html.lower()
    standalone = reports.coverage(world.users["admin"], standalone=True).html
    # Downloaded, the file carries Leaflet and the heat plugin inside: no link to anything.
    assert "<script src=" not in standalone and 'rel="stylesheet"' not in standalone
    assert "Leaflet 1.9" in standalone and "simpleheat" in standalone


def test_the_issue_heatmap_shows_only_the_users_issues(world) -> None:
    for place in (IN_A, IN_A, IN_B):
        case_services.case_report(
            category="env-garbage", description="垃圾", location=place, channel="hotline"
        )
    case_services.case_report(category="env-noise", description="噪音", location=IN_B, channel="hotline")
    assert reports.cases_heatmap(world.users["community"]).rows == 4
    assert reports.cases_heatmap(world.users["leader_a"]).rows == 2  # grid A only
    assert reports.cases_heatmap(world.users["community"], category="env-noise").rows == 1
    group = case_services.leaf_category("env-noise").parent
    assert group.code == case_services.leaf_category("env-garbage").parent.code  # a group holds its leaves
    assert reports.cases_heatmap(world.users["community"], category=group.code).rows == 4
    assert reports.cases_heatmap(world.users["department"]).rows == 0  # nothing dispatched to them
    with pytest.raises(reports.ReportError) as err:
        reports.cases_heatmap(world.users["community"], category="no-such")
    assert err.value.field == "category"


def test_report_pages_answer_field_errors_and_refuse_roles_without_households(world) -> None:
    c = client(world, "street")
    assert c.get("/map/reports/").status_code == 200
    ok = c.get("/map/reports/coverage/?level=grid")
    assert ok.status_code == 200 and ok["Content-Type"].startswith("text/html")
    bad = c.get("/map/reports/coverage/?level=nope")
    assert bad.status_code == 400 and bad.json().keys() == {"level"}
    assert "day" in c.get("/map/reports/coverage/?day=2026-13-40").json()
    assert c.get("/map/reports/issues/?since=2026-11-20&until=2026-11-01").json().keys() == {"since"}
    download = c.get("/map/reports/issues/?download=1")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment;")
    assert b"<script src=" not in download.content
    coordinator = client(world, "coordinator")
    assert coordinator.get("/map/reports/coverage/").status_code == 403
    assert coordinator.get("/map/reports/issues/").status_code == 200
    page = coordinator.get("/map/reports/").content.decode()
    assert 'id="coverage-form"' not in page and 'id="issues-form"' in page


def test_the_street_offices_issue_report_names_categories_in_the_pages_language(world) -> None:
    """Walked in English as the street office: the category list and the report's title were Chinese."""
    c = client(world, "street")
    page = c.get("/map/reports/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ">— Neighbour dispute</option>" in page and "邻里纠纷" not in page
    assert ">— 邻里纠纷</option>" in c.get("/map/reports/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    report = c.get(
        "/map/reports/issues/?category=dispute-neighbour", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Neighbour dispute" in report and "邻里纠纷" not in report
