"""Boundary import: every format, all-or-nothing validation, repairs, CRS handling, GCJ-02, command, page."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import prcoords
import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client

from gridgov.core.errors import GridgovError, ImportRejected
from gridgov.core.models import AuditEntry
from gridgov.geo.importers import import_boundaries, resolve_srid
from gridgov.geo.models import Community, District, Grid, ResponsibilityArea, Street

from . import factories as f

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
GOOD = DATA / "communities.geojson"
BAD = DATA / "communities_bad.geojson"
ogr2ogr_missing = pytest.mark.skipif(shutil.which("ogr2ogr") is None, reason="needs gdal-bin's ogr2ogr")


# --- helpers -----------------------------------------------------------------------------------


def ring(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def feature(code: str, name: str, coordinates: list, kind: str = "Polygon", **props: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, **props},
        "geometry": {"type": kind, "coordinates": coordinates},
    }


def write_geojson(path: Path, features: list[dict], crs: dict | None = None) -> Path:
    doc: dict = {"type": "FeatureCollection", "features": features}
    if crs is not None:
        doc["crs"] = crs
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def ogr2ogr(*args: str) -> None:
    subprocess.run(["ogr2ogr", *args], check=True, capture_output=True)


def shapefile_zip(src: Path, tmp_path: Path, *, keep_prj: bool = True, extra: tuple[str, ...] = ()) -> Path:
    """src converted to a zipped Shapefile with ogr2ogr (UTF-8 attributes, .cpg written)."""
    out = tmp_path / f"shp_{src.stem}"
    ogr2ogr("-f", "ESRI Shapefile", "-lco", "ENCODING=UTF-8", *extra, str(out), str(src))
    archive = tmp_path / f"{src.stem}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(out.iterdir()):
            if keep_prj or part.suffix != ".prj":
                zf.write(part, f"{src.stem}/{part.name}")  # in a folder, as people zip them
    return archive


def geopackage(src: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"{src.stem}.gpkg"
    ogr2ogr("-f", "GPKG", "-nln", src.stem, str(out), str(src))
    return out


def digest(*models) -> list[tuple[int, str]]:
    """Row count and md5 of every row (all columns, geometry included) of each table."""
    out = []
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM {table} t"
            )
            out.append(cursor.fetchone())
    return out


HIERARCHY = (Street, Community, Grid, ResponsibilityArea, AuditEntry)


@pytest.fixture
def street() -> Street:
    return f.StreetFactory(code="440308001")


# --- formats and idempotency -------------------------------------------------------------------


def check_two_communities(report, street: Street) -> None:
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    haishan = Community.objects.get(code="440308001001")
    tiandong = Community.objects.get(code="440308001002")
    assert haishan.name == "海山社区" and tiandong.name == "田东社区"
    assert haishan.street == street and tiandong.street == street
    assert isinstance(haishan.boundary, MultiPolygon) and len(haishan.boundary) == 1
    assert len(tiandong.boundary) == 2
    assert haishan.boundary.srid == 4326
    assert haishan.boundary.extent == pytest.approx((114.2, 22.55, 114.22, 22.56), abs=1e-12)
    assert haishan.boundary[0].exterior_ring.is_counterclockwise


def test_geojson_imports_and_reimport_is_idempotent(street):
    report = import_boundaries(GOOD, level="community", name_en_field="name_en")
    check_two_communities(report, street)
    assert Community.objects.get(code="440308001001").name_en == "Haishan"
    entry = AuditEntry.objects.get(action="import.boundaries")
    assert entry.data["file"] == "communities.geojson"
    assert (entry.data["created"], entry.data["updated"], entry.data["unchanged"]) == (2, 0, 0)

    before = digest(Community)
    again = import_boundaries(GOOD, level="community", name_en_field="name_en")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert digest(Community) == before


@ogr2ogr_missing
def test_zipped_shapefile_imports_and_reimport_is_idempotent(street, tmp_path):
    archive = shapefile_zip(GOOD, tmp_path)
    check_two_communities(import_boundaries(archive, level="community"), street)
    again = import_boundaries(archive, level="community")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


@ogr2ogr_missing
def test_geopackage_imports_and_reimport_is_idempotent(street, tmp_path):
    gpkg = geopackage(GOOD, tmp_path)
    check_two_communities(import_boundaries(gpkg, level="community"), street)
    again = import_boundaries(gpkg, level="community")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)


@ogr2ogr_missing
def test_same_shapes_in_another_format_are_unchanged(street, tmp_path):
    """Shapefiles store exterior rings clockwise; rings are normalised so nothing counts as changed."""
    import_boundaries(GOOD, level="community")
    before = digest(Community)
    report = import_boundaries(shapefile_zip(GOOD, tmp_path), level="community")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 2)
    assert digest(Community) == before


def test_changed_name_counts_as_updated(street, tmp_path):
    import_boundaries(GOOD, level="community")
    doc = json.loads(GOOD.read_text(encoding="utf-8"))
    doc["features"][1]["properties"]["name"] = "田东社区（新）"
    changed = tmp_path / "changed.geojson"
    changed.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    report = import_boundaries(changed, level="community")
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert Community.objects.get(code="440308001002").name == "田东社区（新）"


def test_real_yantian_district_outline():
    path = Path(__file__).parent.parent / "geodata" / "yantian" / "district_440308.geojson"
    report = import_boundaries(path, level="district", name_en_field="name_en")
    assert report.created == 1 and not report.repaired
    district = District.objects.get(code="440308")
    assert (district.name, district.name_en) == ("盐田区", "Yantian District")
    assert district.boundary.extent == pytest.approx((114.198378, 22.545544, 114.345542, 22.656368), abs=1e-6)


def test_dry_run_reports_and_writes_nothing(street):
    before = digest(*HIERARCHY)
    report = import_boundaries(GOOD, level="community", dry_run=True)
    assert report.dry_run and (report.created, report.updated) == (2, 0)
    assert digest(*HIERARCHY) == before


def test_other_field_names(street, tmp_path):
    path = write_geojson(
        tmp_path / "named.geojson",
        [{"type": "Feature", "properties": {"DM": "440308001007", "MC": "沙头角社区"},
          "geometry": {"type": "Polygon", "coordinates": [ring(114.2, 22.55, 114.21, 22.56)]}}],
    )  # fmt: skip
    with pytest.raises(ImportRejected) as exc:
        import_boundaries(path, level="community")
    assert exc.value.problems[0].field == "code" and "DM" in exc.value.problems[0].message
    report = import_boundaries(path, level="community", code_field="DM", name_field="MC")
    assert report.created == 1 and Community.objects.get(code="440308001007").name == "沙头角社区"


# --- rejection: every problem named, nothing written ---------------------------------------------


def test_bad_file_is_rejected_with_every_problem_and_database_unchanged(street):
    f.CommunityFactory(street=street, code="440308001001", name="旧名")
    before = digest(*HIERARCHY)
    with pytest.raises(ImportRejected) as exc:
        import_boundaries(BAD, level="community")
    found = {(p.where.split(" (")[0], p.field) for p in exc.value.problems}
    assert found == {
        ("feature 2", "code"),  # 11 digits
        ("feature 3", "code"),  # street 440308009 does not exist
        ("feature 4", "code"),  # duplicate of feature 1
        ("feature 6", "name"),  # empty name
        ("feature 7", "geometry"),  # a LineString
    }
    messages = {p.where.split(" (")[0]: p.message for p in exc.value.problems}
    assert "12 digits" in messages["feature 2"]
    assert "440308009" in messages["feature 3"]
    assert "feature 1" in messages["feature 4"]
    # the bow-tie of feature 5 is not an error: it was repaired and that is reported too
    assert [w.where for w in exc.value.warnings] == ["feature 5 (code=440308001003)"]
    assert "Self-intersection" in exc.value.warnings[0].message
    assert digest(*HIERARCHY) == before
    assert Community.objects.get(code="440308001001").name == "旧名"


@ogr2ogr_missing
@pytest.mark.parametrize("kind", ["gpkg", "zip"])
def test_bad_geopackage_and_shapefile_are_rejected_alike(street, tmp_path, kind):
    if kind == "gpkg":
        path, expected = geopackage(BAD, tmp_path), {2, 3, 4, 6, 7}
    else:  # a polygon Shapefile cannot hold feature 7's LineString: leave it out
        path = shapefile_zip(BAD, tmp_path, extra=("-where", "code <> '440308001005'"))
        expected = {2, 3, 4, 6}
    before = digest(*HIERARCHY)
    with pytest.raises(ImportRejected) as exc:
        import_boundaries(path, level="community")
    assert {int(p.where.split()[1]) for p in exc.value.problems} == expected
    assert [w.where for w in exc.value.warnings] == ["feature 5 (code=440308001003)"]
    assert digest(*HIERARCHY) == before


def test_self_intersecting_polygon_is_repaired_and_listed(street, tmp_path):
    bowtie = [[[114.2, 22.55], [114.21, 22.56], [114.21, 22.55], [114.2, 22.56], [114.2, 22.55]]]
    path = write_geojson(tmp_path / "bowtie.geojson", [feature("440308001003", "自相交", bowtie)])
    report = import_boundaries(path, level="community")
    assert report.created == 1
    assert [(p.where, p.field) for p in report.repaired] == [("feature 1 (code=440308001003)", "geometry")]
    boundary = Community.objects.get(code="440308001003").boundary
    assert boundary.valid and len(boundary) == 2  # two triangles
    assert boundary.area == pytest.approx(0.5 * 0.01 * 0.01, rel=1e-9)


def test_hole_outside_its_shell_is_repaired(street, tmp_path):
    rings = [ring(114.2, 22.55, 114.21, 22.56), ring(114.3, 22.55, 114.31, 22.56)]  # "hole" far away
    path = write_geojson(tmp_path / "hole.geojson", [feature("440308001003", "洞", rings)])
    report = import_boundaries(path, level="community")
    assert len(report.repaired) == 1
    assert Community.objects.get(code="440308001003").boundary.valid


@pytest.fixture
def community(street) -> Community:
    return f.CommunityFactory(
        street=street, code="440308001001", boundary=f.mbox(114.2, 22.55, 114.22, 22.56)
    )


def test_grid_outside_its_community_is_an_error_not_a_trigger_failure(community, tmp_path):
    path = write_geojson(
        tmp_path / "grids.geojson",
        [
            feature("440308001001001", "一网格", [ring(114.2, 22.55, 114.21, 22.56)]),
            feature("440308001001002", "出界网格", [ring(114.215, 22.55, 114.23, 22.56)]),
            feature("440308001001003", "两块", [[ring(114.2, 22.55, 114.201, 22.551)],
                                                [ring(114.21, 22.55, 114.211, 22.551)]], "MultiPolygon"),
            feature("440308001001004", "一块", [[ring(114.211, 22.55, 114.212, 22.551)]], "MultiPolygon"),
            feature("440308001001005", "空", [], "Polygon"),
        ],
    )  # fmt: skip
    before = digest(*HIERARCHY)
    with pytest.raises(ImportRejected) as exc:
        import_boundaries(path, level="grid")
    problems = {p.where.split(" (")[0]: p for p in exc.value.problems}
    assert set(problems) == {"feature 2", "feature 3", "feature 5"}
    assert problems["feature 2"].field == "geometry" and "440308001001" in problems["feature 2"].message
    assert "2 parts" in problems["feature 3"].message
    assert "no geometry" in problems["feature 5"].message  # GDAL reads empty coordinates as none
    assert digest(*HIERARCHY) == before


def test_single_part_multipolygon_becomes_a_grid_polygon(community, tmp_path):
    path = write_geojson(
        tmp_path / "grid.geojson",
        [feature("440308001001004", "一块", [[ring(114.211, 22.55, 114.212, 22.551)]], "MultiPolygon")],
    )
    import_boundaries(path, level="grid")
    grid = Grid.objects.get(code="440308001001004")
    assert isinstance(grid.boundary, Polygon) and grid.community == community


def test_whole_hierarchy_from_one_file_with_level_auto(tmp_path):
    f.DistrictFactory(code="440308")
    path = write_geojson(
        tmp_path / "hierarchy.geojson",
        [  # children before parents on purpose: order in the file must not matter
            feature("44030800300100101", "微网格", [ring(114.2, 22.55, 114.205, 22.555)]),
            feature("440308003001001", "网格", [ring(114.2, 22.55, 114.21, 22.56)]),
            feature("440308003001", "社区", [ring(114.2, 22.55, 114.22, 22.56)]),
            feature("440308003", "沙头角街道", [ring(114.2, 22.55, 114.3, 22.6)]),
        ],
    )
    report = import_boundaries(path, level="auto")
    assert report.created == 4
    area = ResponsibilityArea.objects.select_related("grid__community__street__district").get()
    assert area.grid.community.street.district.code == "440308"
    assert import_boundaries(path, level="auto").unchanged == 4


# --- CRS -----------------------------------------------------------------------------------------


@ogr2ogr_missing
def test_file_without_crs_needs_an_integer_srid(street, tmp_path):
    archive = shapefile_zip(GOOD, tmp_path, keep_prj=False)
    with pytest.raises(ImportRejected) as exc:
        import_boundaries(archive, level="community")
    assert exc.value.problems[0].field == "srid"
    assert not Community.objects.exists()
    for bad in ("+proj=longlat +datum=WGS84", "/etc/passwd", "EPSG:4326", "4326; DROP", True, -4326, 9999999):
        with pytest.raises(GridgovError):
            import_boundaries(archive, level="community", srid=bad)
    report = import_boundaries(archive, level="community", srid=4490)
    assert report.created == 2
    assert Community.objects.get(code="440308001001").boundary.extent == pytest.approx(
        (114.2, 22.55, 114.22, 22.56), abs=1e-12
    )


def test_resolve_srid_accepts_only_integer_epsg_codes():
    assert resolve_srid(4490) == 4490
    assert resolve_srid(" 32650 ") == 32650
    for bad in ("EPSG:4490", "urn:ogc:def:crs:EPSG::4490", "WGS84", "4490.0", 0, 4490.0, 990000):
        with pytest.raises(GridgovError):
            resolve_srid(bad)


@ogr2ogr_missing
def test_projected_file_is_transformed_to_wgs84(street, tmp_path):
    utm = tmp_path / "utm.gpkg"
    ogr2ogr("-f", "GPKG", "-t_srs", "EPSG:32650", str(utm), str(GOOD))
    import_boundaries(utm, level="community")
    extent = Community.objects.get(code="440308001001").boundary.extent
    assert extent == pytest.approx((114.2, 22.55, 114.22, 22.56), abs=1e-7)


def test_cgcs2000_is_stored_unchanged_as_wgs84(street, tmp_path):
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
    doc = json.loads(GOOD.read_text(encoding="utf-8"))
    path = write_geojson(tmp_path / "cgcs.geojson", doc["features"], crs)
    import_boundaries(path, level="community")
    boundary = Community.objects.get(code="440308001001").boundary
    assert boundary.srid == 4326
    assert boundary.extent == pytest.approx((114.2, 22.55, 114.22, 22.56), abs=1e-12)


def test_geojson_crs_that_gdal_would_fetch_is_refused(street, tmp_path):
    doc = json.loads(GOOD.read_text(encoding="utf-8"))
    for crs in (
        {"type": "link", "properties": {"href": "http://example.invalid/crs.wkt", "type": "ogcwkt"}},
        {"type": "name", "properties": {"name": "/etc/passwd"}},
    ):
        path = write_geojson(tmp_path / "linked.geojson", doc["features"], crs)
        with pytest.raises(ImportRejected) as exc:
            import_boundaries(path, level="community")
        assert exc.value.problems[0].field == "crs"
    assert not Community.objects.exists()


def test_projected_coordinates_declared_as_lonlat_are_an_error(street, tmp_path):
    path = write_geojson(
        tmp_path / "metres.geojson", [feature("440308001001", "米", [ring(800000, 2490000, 801000, 2491000)])]
    )
    with pytest.raises(ImportRejected) as exc:
        import_boundaries(path, level="community")
    assert exc.value.problems[0].field == "geometry" and "srid" in exc.value.problems[0].message


# --- GCJ-02 --------------------------------------------------------------------------------------


def test_gcj02_option_converts_every_vertex_back_to_wgs84(street, tmp_path):
    wgs = ring(114.2, 22.55, 114.22, 22.56)
    gcj = []
    for lon, lat in wgs:
        g = prcoords.wgs_gcj((lat, lon))  # prcoords works in (lat, lon)
        gcj.append([g.lon, g.lat])
    path = write_geojson(tmp_path / "gaode.geojson", [feature("440308001001", "海山社区", [gcj])])

    import_boundaries(path, level="community", gcj02=True)
    stored = Community.objects.get(code="440308001001").boundary[0].exterior_ring.coords
    assert len(stored) == 5
    for (x, y), (lon, lat), (glon, glat) in zip(stored, wgs, gcj, strict=True):
        assert abs(x - lon) < 1e-6 and abs(y - lat) < 1e-6
        shift_m = prcoords.Coords(lat, lon).distance(prcoords.Coords(glat, glon))
        assert 200 < shift_m < 800  # what GCJ-02 does around Shenzhen: a few hundred metres

    # without the option the GCJ-02 coordinates are stored as they are: the option is what moved them
    import_boundaries(path, level="community")
    raw = Community.objects.get(code="440308001001").boundary[0].exterior_ring.coords
    assert raw[0] == pytest.approx(tuple(gcj[0]), abs=1e-12)


# --- warnings about existing children ------------------------------------------------------------


def test_shrinking_a_community_warns_about_grids_and_households_left_outside(world, tmp_path):
    x, y = f.X0, f.Y0
    path = write_geojson(
        tmp_path / "shrink.geojson", [feature(world.community.code, "缩小", [ring(x, y, x + 0.01, y + 0.01)])]
    )
    report = import_boundaries(path, level="community")
    text = " ".join(w.message for w in report.warnings)
    assert world.grid_b.code in text and world.grid_a.code not in text
    assert "1 existing household" in text  # HB1 lies in grid B


# --- command -------------------------------------------------------------------------------------


def test_command_imports_and_reports(street, capsys):
    call_command("import_boundaries", str(GOOD), "--level", "community")
    out = capsys.readouterr()
    assert "2 created" in out.out
    assert Community.objects.count() == 2


def test_command_dry_run(street, capsys):
    call_command("import_boundaries", str(GOOD), "--level", "community", "--dry-run")
    assert "2 would be created" in capsys.readouterr().out
    assert not Community.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_command_exits_non_zero_with_every_problem_on_stderr(capsys):
    f.StreetFactory(code="440308001")
    command = load_command_class("gridgov.geo", "import_boundaries")
    with pytest.raises(SystemExit) as exc:
        command.run_from_argv(["manage.py", "import_boundaries", str(BAD), "--level", "community"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    for where in ("feature 2", "feature 3", "feature 4", "feature 6", "feature 7"):
        assert where in err
    assert "field 'code'" in err and "field 'geometry'" in err
    assert "CommandError: 5 error(s); nothing was imported." in err
    assert not Community.objects.exists()


def test_command_rejects_missing_file():
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_boundaries", "/nonexistent/x.geojson", "--level", "community")


# --- upload page ---------------------------------------------------------------------------------


def upload(client: Client, path: Path, **fields: str):
    with path.open("rb") as fh:
        data = {"kind": "boundaries", "level": "community", "code_field": "code", "name_field": "name"}
        data.update(fields)
        data["file"] = fh
        return client.post("/imports/", data)


def test_upload_page_dry_run_then_real_for_an_administrator(world):
    client = Client()
    client.force_login(world.users["admin"])
    assert client.get("/imports/").status_code == 200
    communities = digest(Community)

    # the world's two communities exist already (other names): both are updated
    page = upload(client, GOOD, dry_run="on")
    assert page.status_code == 200
    report = page.context["report"]
    assert report.dry_run and (report.created, report.updated, report.unchanged) == (0, 2, 0)
    assert "2 would be updated" in page.content.decode()
    assert digest(Community) == communities

    page = upload(client, GOOD)
    report = page.context["report"]
    assert not report.dry_run and (report.created, report.updated, report.unchanged) == (0, 2, 0)
    assert Community.objects.filter(code="440308001002", name="田东社区").exists()
    assert len(Community.objects.get(code="440308001002").boundary) == 2
    assert AuditEntry.objects.get(action="import.boundaries").data["file"] == "communities.geojson"


@ogr2ogr_missing
def test_upload_page_takes_a_zipped_shapefile(street, tmp_path):
    """The upload goes to a temporary file with the upload's extension: GDAL needs it to pick a driver."""
    client = Client()
    client.force_login(f.UserFactory(username="root", is_superuser=True))
    page = upload(client, shapefile_zip(GOOD, tmp_path), level="community")
    assert page.context["report"].created == 2
    assert AuditEntry.objects.get(action="import.boundaries").data["file"] == "communities.zip"


def test_upload_page_lists_problems(world):
    client = Client()
    client.force_login(world.users["admin"])
    before = digest(*HIERARCHY)
    page = upload(client, BAD)
    assert page.status_code == 200
    problems = page.context["problems"]
    assert {(p.where.split(" (")[0], p.field) for p in problems} >= {
        ("feature 2", "code"),
        ("feature 7", "geometry"),
    }
    assert "feature 3" in page.content.decode()
    assert digest(*HIERARCHY) == before


def test_upload_page_is_forbidden_to_a_grid_member(world):
    client = Client()
    client.force_login(world.users["member_a"])
    assert client.get("/imports/").status_code == 403
    assert upload(client, GOOD).status_code == 403
    assert not Community.objects.filter(code="440308001002", name="田东社区").exists()
