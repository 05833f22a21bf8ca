"""Household ledger import: CSV (UTF-8, BOM, GB18030), XLSX, all-or-nothing validation, command, page."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command, load_command_class
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone
from openpyxl import Workbook

from gridgov.core.errors import GridgovError, ImportRejected
from gridgov.core.models import AuditEntry
from gridgov.households.importers import (
    COLUMNS,
    _copy_in,
    check_id_number,
    import_households,
    normalize_phone,
)
from gridgov.households.models import Household
from gridgov.households.views import EXPORT_COLUMNS

from . import factories as f

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
GOOD = DATA / "households.csv"
BAD = DATA / "households_bad.csv"


def digest() -> tuple[int, str]:
    """Row count and md5 of every household row (all columns) plus the audit log."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM households_household),"
            " (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM households_household t),"
            " (SELECT count(*) FROM core_auditentry)"
        )
        return cursor.fetchone()


@pytest.fixture
def ledger(world):
    """The world plus buildings with fixed codes the fixture files name."""
    f.BuildingFactory(
        community=world.community,
        code="BLD-HS-01",
        address="海山路1号",
        point=Point(114.204, 22.553, srid=4326),
    )
    f.BuildingFactory(
        community=world.other_community,
        code="BLD-D-01",
        address="D2栋",
        point=Point(114.235, 22.555, srid=4326),
    )
    return world


def rows_of(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def write_xlsx(path: Path, rows: list[list]) -> Path:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


def check_good_ledger(world) -> None:
    h1, h2, h3, h4 = Household.objects.filter(code__startswith="HS-").order_by("code")
    assert h1.community == world.community and h1.area == world.area_a
    assert (h1.unit, h1.floor, h1.room, h1.address) == ("1", 3, "301", "海山路9号301")
    assert h1.point.coords == pytest.approx((114.2021, 22.5531), abs=1e-12)
    assert (h1.residents, h1.occupancy, h1.key_groups) == (3, "owner", ["elderly_alone", "disabled"])
    assert (h1.head_name, h1.phone, h1.id_number, h1.active) == (
        "李四",
        "13812345678",
        "11010519491231002X",
        True,
    )
    # building given, no lon/lat: the building's point; Chinese occupancy, key groups and "是"
    assert h2.building.code == "BLD-HS-01" and h2.point.coords == pytest.approx((114.204, 22.553))
    assert (h2.occupancy, h2.key_groups, h2.active) == (
        "rented",
        ["elderly_alone", "left_behind_child"],
        True,
    )
    assert h2.phone == "0755-25551234"
    # only an address: geocoded to the building with exactly that address, and linked to it
    assert h3.building == world.building_a and h3.point == world.building_a.point
    assert (h3.occupancy, h3.residents, h3.active, h3.phone, h3.key_groups) == ("vacant", 1, False, "", [])
    assert h4.community == world.other_community and h4.area is None
    assert (h4.key_groups, h4.phone) == (["party_member", "low_income"], "13900001111")


# --- formats and idempotency -------------------------------------------------------------------


def test_csv_with_bom_imports_and_reimport_is_idempotent(ledger):
    report = import_households(GOOD)
    assert (report.created, report.updated, report.unchanged) == (4, 0, 0)
    check_good_ledger(ledger)
    # HS-0003's building lies in area A, not in the area A2 the file gives: a warning, not an error
    assert [(w.where, w.field) for w in report.warnings] == [("line 4", "area_code")]
    entry = AuditEntry.objects.get(action="import.households")
    assert (entry.data["file"], entry.data["created"]) == ("households.csv", 4)

    before = digest()
    again = import_households(GOOD)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert digest()[:2] == before[:2]


def test_gb18030_csv_imports(ledger, tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_bytes(GOOD.read_text(encoding="utf-8-sig").encode("gb18030"))
    assert import_households(path).created == 4
    check_good_ledger(ledger)


def test_semicolon_separated_csv_without_bom(ledger, tmp_path):
    path = tmp_path / "ledger.csv"
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerows(rows_of(GOOD))
    path.write_text(buffer.getvalue(), encoding="utf-8")
    assert import_households(path).created == 4
    check_good_ledger(ledger)


def test_xlsx_with_numeric_cells_imports_and_reimport_is_idempotent(ledger, tmp_path):
    rows: list[list] = rows_of(GOOD)
    for row in rows[1:]:  # what Excel makes of typed-in numbers
        for i, name in enumerate(rows[0]):
            if row[i] and name in ("community_code", "floor", "residents", "active", "lon", "lat"):
                row[i] = (
                    float(row[i]) if name in ("lon", "lat") else int(row[i]) if row[i].isdigit() else row[i]
                )
            if name == "phone" and row[i].isdigit() and row[i].startswith("1"):
                row[i] = float(row[i])  # 13812345678.0
    path = write_xlsx(tmp_path / "ledger.xlsx", rows)
    report = import_households(path)
    assert (report.created, report.updated, report.unchanged) == (4, 0, 0)
    check_good_ledger(ledger)
    again = import_households(path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)


def test_chinese_column_names(ledger, tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_text(
        "户编码,社区编码,经度,纬度,户主,电话\nZH-1,440308001001,114.203,22.552,孙七,13812345678\n"
    )
    assert import_households(path).created == 1
    h = Household.objects.get(code="ZH-1")
    assert (h.head_name, h.phone, h.point.coords) == ("孙七", "13812345678", pytest.approx((114.203, 22.552)))


def test_export_then_import_round_trips(ledger, tmp_path):
    """The export's columns are the import's: exporting and importing again changes nothing."""
    assert set(EXPORT_COLUMNS) <= set(COLUMNS)
    client = Client()
    client.force_login(ledger.users["admin"])
    response = client.get("/households/export.csv")
    path = tmp_path / "export.csv"
    path.write_bytes(b"".join(response.streaming_content))
    before = digest()
    report = import_households(path)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert digest()[:2] == before[:2]

    rows = rows_of(path)
    rows[1][rows[0].index("residents")] = "5"
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    report = import_households(path)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3)
    assert Household.objects.get(code=rows[1][0]).residents == 5


def test_masked_export_is_refused(ledger, tmp_path):
    """A street office sees masked personal data; importing its export must not overwrite the real data."""
    client = Client()
    client.force_login(ledger.users["street"])
    path = tmp_path / "masked.csv"
    path.write_bytes(b"".join(client.get("/households/export.csv").streaming_content))
    before = digest()
    with pytest.raises(ImportRejected) as exc:
        import_households(path)
    assert {p.field for p in exc.value.problems} == {"head_name", "phone", "id_number"}
    assert digest() == before


def test_absent_column_keeps_the_stored_value(ledger, tmp_path):
    path = tmp_path / "partial.csv"
    path.write_text(
        f"code,community_code,building_code,residents\nHA1,440308001001,{ledger.building_a.code},7\n"
    )
    report = import_households(path)
    assert (report.created, report.updated) == (0, 1)
    h = Household.objects.get(code="HA1")
    assert (h.residents, h.area, h.phone, h.head_name) == (7, ledger.area_a, "13812345678", "张三丰")


def test_dry_run_reports_and_writes_nothing(ledger):
    before = digest()
    report = import_households(GOOD, dry_run=True)
    assert report.dry_run and report.created == 4
    assert digest() == before


# --- rejection: every problem named, nothing written ---------------------------------------------


def test_bad_file_is_rejected_with_every_problem_and_database_unchanged(ledger):
    import_households(GOOD)
    before = digest()
    with pytest.raises(ImportRejected) as exc:
        import_households(BAD)
    found = {(p.where, p.field) for p in exc.value.problems}
    assert found == {
        ("line 2", "id_number"),  # wrong check digit
        ("line 3", "phone"),  # 12345
        ("line 4", "lon"),  # outside community 440308001001
        ("line 5", "residents"),  # "three"
        ("line 6", "community_code"),  # no such community
        ("line 7", "building_code"),  # building of another community
        ("line 8", "code"),  # duplicate of line 2
        ("line 9", "occupancy"),  # "borrowed"
        ("line 10", "lat"),  # "abc"
        ("line 11", "area_code"),  # area of another community
        ("line 12", "key_groups"),  # 低保 is not a key group
    }
    messages = {p.where: p.message for p in exc.value.problems}
    assert "check digit" in messages["line 2"]
    assert "outside community 440308001001" in messages["line 4"]
    assert "440308001099" in messages["line 6"]
    assert "line 2" in messages["line 8"]
    # an area code unknown in the birth year is only a warning
    assert [(w.where, w.field) for w in exc.value.warnings] == [("line 13", "id_number")]
    assert digest() == before


def test_bad_xlsx_is_rejected_alike(ledger, tmp_path):
    before = digest()
    with pytest.raises(ImportRejected) as exc:
        import_households(write_xlsx(tmp_path / "bad.xlsx", rows_of(BAD)))
    assert {p.where for p in exc.value.problems} == {f"line {n}" for n in range(2, 13)}
    assert ("line 2", "id_number") in {(p.where, p.field) for p in exc.value.problems}
    assert digest() == before


def test_database_triggers_still_guard_the_copy(ledger):
    """COPY skips Django, not the database: a row the validation would have refused still fails."""
    outside = Household(
        code="OUT-1",
        community=ledger.community,
        point=Point(114.3, 22.6, srid=4326),
        created_at=timezone.now(),
    )
    outside.updated_at = outside.created_at
    with pytest.raises(IntegrityError, match="outside its community"), transaction.atomic():
        _copy_in([outside], [], set(), timezone.now())
    assert not Household.objects.filter(code="OUT-1").exists()


def test_gridded_community_needs_area_for_active_households(ledger, tmp_path):
    ledger.community.gridded_at = timezone.now()
    ledger.community.save()
    path = tmp_path / "gridded.csv"
    path.write_text(
        "code,community_code,lon,lat,area_code,active\n"
        "G-1,440308001001,114.201,22.551,,1\n"
        "G-2,440308001001,114.201,22.551,,0\n"
        "G-3,440308001001,114.201,22.551,44030800100100101,1\n"
    )
    with pytest.raises(ImportRejected) as exc:
        import_households(path)
    assert [(p.where, p.field) for p in exc.value.problems] == [("line 2", "area_code")]
    assert "gridded" in exc.value.problems[0].message
    assert not Household.objects.filter(code__startswith="G-").exists()


def test_swapped_coordinates_get_a_hint(ledger, tmp_path):
    path = tmp_path / "swapped.csv"
    path.write_text("code,community_code,lon,lat\nS-1,440308001001,22.555,114.21\n")
    with pytest.raises(ImportRejected) as exc:
        import_households(path)
    assert "swapped" in exc.value.problems[0].message


def test_missing_columns_are_reported_on_line_1(ledger, tmp_path):
    path = tmp_path / "nocols.csv"
    path.write_text("code,name\nX,y\n")
    with pytest.raises(ImportRejected) as exc:
        import_households(path)
    assert {(p.where, p.field) for p in exc.value.problems} == {
        ("line 1", "community_code"),
        ("line 1", "lon"),
    }


def test_unsupported_and_unreadable_files(tmp_path):
    with pytest.raises(GridgovError):
        import_households(tmp_path / "ledger.ods")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(GridgovError) as exc:
        import_households(broken)
    assert exc.value.code == "import.unreadable"


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("0755-25551234", "0755-25551234"),
        ("075525551234", "0755-25551234"),
        ("010 6552 9988", "010-65529988"),
        ("4008001234", "4008001234"),
        ("+852 2123 4567", "+85221234567"),
    ],
)
def test_phone_numbers_are_normalised(raw, stored):
    assert normalize_phone(raw) == stored
    assert normalize_phone(stored) == stored  # idempotent: re-import of an export is a no-op


def test_id_numbers():
    assert check_id_number("11010519491231002x") == ("11010519491231002X", None)
    number, warning = check_id_number("440308199001010017")  # Yantian district was created in 1997
    assert number == "440308199001010017" and "440308" in warning
    for bad in ("110105194912310021", "11010519491231002", "440308199002300016", "44030820990101001X"):
        with pytest.raises(Exception, match=r"ID number|birth date") as exc:
            check_id_number(bad)
        assert type(exc.value).__name__ == "_RowError"


# --- scale: bulk writes, no per-row queries ------------------------------------------------------


def ledger_csv(path: Path, n: int, *, start: int = 0) -> Path:
    lines = ["code,community_code,area_code,lon,lat,residents,phone,id_number"]
    for i in range(start, start + n):
        lon = 114.2001 + (i % 40) * 0.0001
        lines.append(
            f"N-{i:06d},440308001001,44030800100100101,{lon:.6f},22.5531,2,13812345678,11010519491231002X"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_number_of_queries_does_not_grow_with_rows(ledger, tmp_path, django_assert_max_num_queries):
    with django_assert_max_num_queries(31):  # constant: reading, COPY, UPDATE, rollups (+ fold, dashboard)
        assert import_households(ledger_csv(tmp_path / "a.csv", 100)).created == 100
    with django_assert_max_num_queries(31):  # constant: reading, COPY, UPDATE, rollups (+ fold, dashboard)
        assert import_households(ledger_csv(tmp_path / "b.csv", 1000, start=100)).created == 1000
    with django_assert_max_num_queries(31):  # constant: reading, COPY, UPDATE, rollups (+ fold, dashboard)
        assert import_households(ledger_csv(tmp_path / "b.csv", 1000, start=100)).unchanged == 1000


def test_progress_is_reported(ledger, tmp_path):
    calls: list[tuple[int, int]] = []
    import_households(
        ledger_csv(tmp_path / "p.csv", 2500), progress=lambda done, total: calls.append((done, total))
    )
    assert calls[0] == (1000, 2500) and calls[-1] == (2500, 2500)


# --- command -------------------------------------------------------------------------------------


def test_command_imports_and_reports(ledger, capsys):
    call_command("import_households", str(GOOD))
    out = capsys.readouterr()
    assert "4 created" in out.out
    assert "line 4, field 'area_code'" in out.err  # the warning
    assert Household.objects.filter(code__startswith="HS-").count() == 4


@pytest.mark.django_db(transaction=True)
def test_command_exits_non_zero_with_every_problem_on_stderr(ledger, capsys):
    before = Household.objects.count()
    command = load_command_class("gridgov.households", "import_households")
    with pytest.raises(SystemExit) as exc:
        command.run_from_argv(["manage.py", "import_households", str(BAD)])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    for n in range(2, 13):
        assert f"line {n}, field '" in err
    assert "line 2, field 'id_number'" in err and "line 3, field 'phone'" in err
    assert "CommandError: 11 error(s); nothing was imported." in err
    assert Household.objects.count() == before


# --- upload page ---------------------------------------------------------------------------------


def upload(client: Client, path: Path, **fields: str):
    with path.open("rb") as fh:
        return client.post("/imports/", {"kind": "households", "file": fh, **fields})


def test_upload_page_dry_run_then_real_for_an_administrator(ledger):
    client = Client()
    client.force_login(ledger.users["admin"])
    before = digest()
    page = upload(client, GOOD, dry_run="on")
    assert page.status_code == 200
    assert page.context["report"].dry_run and page.context["report"].created == 4
    assert "4 would be created" in page.content.decode()
    assert digest() == before

    page = upload(client, GOOD)
    assert page.context["report"].created == 4 and not page.context["report"].dry_run
    check_good_ledger(ledger)
    entry = AuditEntry.objects.get(action="import.households")
    assert entry.actor == ledger.users["admin"] and entry.data["file"] == "households.csv"


def test_upload_page_lists_problems_and_writes_nothing(ledger):
    client = Client()
    client.force_login(ledger.users["admin"])
    before = digest()
    page = upload(client, BAD)
    assert len(page.context["problems"]) == 11
    html = page.content.decode()
    assert "line 3" in html and "phone" in html
    assert digest() == before


def test_upload_page_refuses_wrong_file_type(ledger):
    client = Client()
    client.force_login(ledger.users["admin"])
    page = upload(client, DATA / "communities.geojson")
    assert page.context["form"].errors["file"]
    assert page.context["report"] is None


def test_upload_page_is_forbidden_to_a_grid_member(ledger):
    client = Client()
    client.force_login(ledger.users["member_a"])
    before = digest()
    assert upload(client, GOOD).status_code == 403
    assert digest() == before
