"""Boundary import: GeoJSON, zipped Shapefile or GeoPackage → districts … responsibility areas.

`import_boundaries(path, level=...)` reads one layer with GDAL (django.contrib.gis.gdal), checks every
feature, and only if nothing is wrong writes all of them in one transaction (upsert by code).

- Formats: ``.geojson``/``.json``, ``.zip`` holding exactly one Shapefile (read through ``/vsizip/``),
  ``.gpkg`` with one layer. Features are numbered from 1 in file order ("feature 3").
- Levels: district (6-digit code), street (9), community (12), grid (15), area (17), or ``auto``: each
  feature's level follows from the length of its code, so one file may hold a whole hierarchy.
- Parents are found by code prefix (a community's street is its first 9 digits), in the database or
  in the same file.
- CRS: taken from the file. A file without one needs ``srid``, an integer EPSG code (given, it also
  overrides a wrong CRS in the file, with a warning). EPSG:4490 (CGCS2000) is stored as EPSG:4326
  unchanged: the two agree within centimetres. Anything else is transformed to EPSG:4326.
- ``gcj02=True``: coordinates are GCJ-02 (AutoNavi/Gaode, Tencent) and every vertex is converted to
  WGS-84 with the exact inverse ``prcoords.gcj_wgs_bored``.
- Invalid polygons (self-intersections, misplaced holes) are repaired with PostGIS ``ST_MakeValid``
  and listed in ``report.repaired``. Rings are stored counter-clockwise (holes clockwise, RFC 7946).
  Districts, streets and communities are MultiPolygons; grids and areas must be single polygons.
- Grids and areas must lie inside their parent with the tolerance of the database trigger, so the
  trigger never has to be the one that refuses.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import prcoords
from django.contrib.gis.gdal import CoordTransform, DataSource, GDALException, SpatialReference
from django.contrib.gis.gdal.error import SRSException
from django.contrib.gis.gdal.layer import Layer
from django.contrib.gis.geos import GEOSGeometry, LinearRing, MultiPolygon, Polygon
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from gridgov.core import audit
from gridgov.core.errors import GridgovError, ImportRejected, ImportReport, Problem
from gridgov.households.models import Household

from .models import CODE_LENGTHS, LEVELS, Community, District, Grid, ResponsibilityArea, Street

ProgressCallback = Callable[[int, int], None]

AUTO = "auto"
SUFFIXES = (".geojson", ".json", ".zip", ".gpkg")
WGS84 = 4326
CGCS2000 = 4490  # equal to WGS-84 within centimetres: relabelled, never transformed
MODELS: dict[str, Any] = {
    "district": District,
    "street": Street,
    "community": Community,
    "grid": Grid,
    "area": ResponsibilityArea,
}
PARENT_LEVEL = {"street": "district", "community": "street", "grid": "community", "area": "grid"}
MULTI_LEVELS = ("district", "street", "community")  # MultiPolygonField; grids and areas are Polygon
# Same tolerance as the trigger in households/migrations/0002_spatial_integrity.py.
TOLERANCE_AREA = 1e-10  # square degrees outside the parent, about 1 m²
TOLERANCE_DIST = 1e-6  # degrees, households
NAME_MAX = 100
PROGRESS_EVERY = 50
# Metres per degree of latitude; only used to state in messages how far outside something lies.
M_PER_DEGREE = 111_320.0


def resolve_srid(value: int | str) -> int:
    """An EPSG code given by a user, checked, as an int.

    Only integers reach GDAL (``importFromEPSG``): a user-supplied SRS *string* could make GDAL < 3.9
    read files or the network while parsing it (the reason gis.W001 is silenced in settings).
    """
    if isinstance(value, bool):
        raise GridgovError("import.srid", message=_("The SRID must be an EPSG code (an integer)."))
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,6}", value.strip()):
            raise GridgovError("import.srid", message=_("The SRID must be an EPSG code (an integer)."))
        value = int(value.strip())
    if not isinstance(value, int) or value <= 0:
        raise GridgovError("import.srid", message=_("The SRID must be an EPSG code (an integer)."))
    try:
        SpatialReference(value)
    except (SRSException, GDALException) as exc:
        raise GridgovError(
            "import.srid", message=_("EPSG:%(srid)d is not a known coordinate system.") % {"srid": value}
        ) from exc
    return value


@dataclass
class _Record:
    """One feature after reading: what will be written if the whole file is valid."""

    index: int
    level: str
    code: str
    name: str
    name_en: str | None
    geom: GEOSGeometry | None
    ok: bool = True

    @property
    def where(self) -> str:
        return _("feature %(n)d (code=%(code)s)") % {"n": self.index, "code": self.code or "?"}


class _Collector:
    """Collects problems; `error` marks the current record as not writable."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.repaired: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, where: str, field: str, message: str) -> None:
        self.problems.append(Problem(where, field, message))

    def warn(self, where: str, field: str, message: str) -> None:
        self.warnings.append(Problem(where, field, message, severity="warning"))

    @property
    def has_errors(self) -> bool:
        return bool(self.problems)


# --- reading -----------------------------------------------------------------------------------


def _file_problem(field: str, message: str) -> ImportRejected:
    return ImportRejected([Problem(_("file"), field, message)])


def _check_geojson_crs(path: Path) -> None:
    """Refuse a GeoJSON "crs" member GDAL would resolve through a URL or a file name.

    The 2008 GeoJSON spec allowed ``{"type": "link", "properties": {"href": ...}}`` and free-form
    names; GDAL < 3.9 follows those while parsing. Only EPSG/OGC names pass to GDAL.
    """
    try:
        with path.open("rb") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise GridgovError("import.unreadable", detail=str(exc)) from exc
    crs = doc.get("crs") if isinstance(doc, dict) else None
    if crs is None:
        return
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    safe = r"(urn:ogc:def:crs:(EPSG:[0-9.]*:[0-9]{1,6}|OGC:1\.3:CRS84)|EPSG:[0-9]{1,6})"
    if not (crs.get("type") == "name" and isinstance(name, str) and re.fullmatch(safe, name, re.I)):
        raise _file_problem(
            "crs",
            _('Only a "crs" of type "name" with an EPSG code is accepted; remove it and give the srid.'),
        )


def _gdal_path(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise GridgovError("import.format", detail=suffix or path.name)
    if suffix in (".geojson", ".json"):
        _check_geojson_crs(path)
        return str(path)
    if suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as zf:
                names = [
                    n for n in zf.namelist() if n.lower().endswith(".shp") and not n.startswith("__MACOSX")
                ]
        except (OSError, zipfile.BadZipFile) as exc:
            raise GridgovError("import.unreadable", detail=str(exc)) from exc
        if len(names) != 1:
            raise _file_problem(
                "",
                _("The zip file must hold exactly one Shapefile (.shp); it holds %(n)d.") % {"n": len(names)},
            )
        return f"/vsizip/{path.resolve()}/{names[0]}"
    return str(path)


def _open_layer(path: Path) -> tuple[DataSource, Layer]:
    gdal_path = _gdal_path(path)
    try:
        ds = DataSource(gdal_path)
    except GDALException as exc:
        raise GridgovError("import.unreadable", detail=path.name) from exc
    if ds.layer_count != 1:
        names = ", ".join(layer.name for layer in ds) or "-"
        raise _file_problem(
            "", _("The file must hold exactly one layer; it holds: %(names)s.") % {"names": names}
        )
    return ds, ds[0]


def _epsg(srs: SpatialReference | None) -> int | None:
    if srs is None:
        return None
    if (srs.attr_value("AUTHORITY", 0) or "").upper() != "EPSG":
        return None
    return srs.srid


def _source_transform(layer: Layer, srid: int | None, col: _Collector) -> CoordTransform | None:
    """The transformation to EPSG:4326 (None when the coordinates are already WGS-84/CGCS2000)."""
    file_srs = layer.srs
    if srid is not None:
        declared = _epsg(file_srs)
        same = {declared, srid} <= {WGS84, CGCS2000} or declared == srid
        if file_srs is not None and not same:
            col.warn(
                _("file"),
                "srid",
                _("The file declares %(crs)s; EPSG:%(srid)d was used as requested.")
                % {"crs": f"EPSG:{declared}" if declared else file_srs.name, "srid": srid},
            )
        source = SpatialReference(srid)
    elif file_srs is None:
        raise _file_problem(
            "srid", _("The file has no coordinate reference system; give its EPSG code (srid).")
        )
    else:
        source = file_srs
    if _epsg(source) in (WGS84, CGCS2000):
        return None
    try:
        return CoordTransform(source, SpatialReference(WGS84))
    except (GDALException, SRSException) as exc:
        raise _file_problem(
            "srid", _("Cannot transform from %(crs)s to WGS-84.") % {"crs": source.name}
        ) from exc


def _text(feature: Any, field: str | None) -> str | None:
    """A field's value as stripped text (None when absent or null); numbers keep no decimals."""
    if field is None:
        return None
    f = feature[field]
    if not f.is_set:
        return None
    value = f.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip() if value is not None else ""
    return text or None


def _gcj_to_wgs(geom: GEOSGeometry) -> GEOSGeometry:
    """Every vertex from GCJ-02 to WGS-84 with prcoords' iterative exact inverse (lat, lon order!)."""

    def ring(r: LinearRing) -> LinearRing:
        out = []
        for x, y in r.coords:
            lat, lon = prcoords.gcj_wgs_bored((y, x))
            out.append((lon, lat))
        return LinearRing(out)

    def polygon(p: Polygon) -> Polygon:
        return Polygon(*[ring(r) for r in p])

    out = polygon(geom) if isinstance(geom, Polygon) else MultiPolygon(*[polygon(p) for p in geom])
    out.srid = WGS84
    return out


def _oriented(poly: Polygon) -> Polygon:
    """Exterior counter-clockwise, holes clockwise (RFC 7946), so every format stores the same rings."""
    rings = []
    for i, r in enumerate(poly):
        rings.append(r if r.is_counterclockwise == (i == 0) else LinearRing(list(reversed(r.coords))))
    return Polygon(*rings, srid=WGS84)


def _make_valid(geom: GEOSGeometry) -> GEOSGeometry:
    """PostGIS ST_MakeValid, keeping only the polygonal parts (type 3)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ST_AsEWKB(ST_CollectionExtract(ST_MakeValid(ST_GeomFromEWKB(%s)), 3))",
            [bytes(geom.ewkb)],
        )
        (wkb,) = cursor.fetchone()
    out = GEOSGeometry(memoryview(bytes(wkb)))
    out.srid = WGS84
    return out


def _read_geometry(
    feature: Any, *, where: str, ct: CoordTransform | None, gcj02: bool, col: _Collector
) -> GEOSGeometry | None:
    """The feature's polygon(s) in EPSG:4326, repaired if needed, or None (an error is recorded)."""
    try:
        ogr = feature.geom
    except GDALException:
        col.error(where, "geometry", _("The feature has no geometry."))
        return None
    if ogr.empty:
        col.error(where, "geometry", _("The geometry is empty."))
        return None
    if ogr.geom_name.upper() not in ("POLYGON", "MULTIPOLYGON"):
        col.error(
            where, "geometry", _("%(type)s is not a polygon or multipolygon.") % {"type": ogr.geom_name}
        )
        return None
    ogr.set_3d(False)
    ogr.set_measured(False)
    if ct is not None:
        try:
            ogr.transform(ct)
        except GDALException:
            col.error(where, "geometry", _("The coordinates cannot be transformed to WGS-84."))
            return None
    geom = GEOSGeometry(ogr.wkb, srid=WGS84)
    xmin, ymin, xmax, ymax = geom.extent
    if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):  # also False for NaN
        col.error(
            where,
            "geometry",
            _("The coordinates are not longitude/latitude; is the CRS (srid) of the file right?"),
        )
        return None
    if gcj02:
        corners = (prcoords.Coords(ymin, xmin), prcoords.Coords(ymax, xmax))
        if not all(prcoords.sanity_in_china_p(c) for c in corners):
            col.error(where, "geometry", _("GCJ-02 only applies inside China; these coordinates are not."))
            return None
        geom = _gcj_to_wgs(geom)
    if not geom.valid:
        reason = geom.valid_reason
        geom = _make_valid(geom)
        if geom.empty:
            col.error(where, "geometry", _("The geometry is invalid and nothing is left after repair."))
            return None
        col.repaired.append(
            Problem(where, "geometry", _("Repaired: %(reason)s") % {"reason": reason}, severity="warning")
        )
    return geom


def _shape_for_level(geom: GEOSGeometry, level: str, where: str, col: _Collector) -> GEOSGeometry | None:
    polygons = [geom] if isinstance(geom, Polygon) else list(geom)
    polygons = [_oriented(p) for p in polygons]
    if level in MULTI_LEVELS:
        return MultiPolygon(*polygons, srid=WGS84)
    if len(polygons) != 1:
        col.error(
            where,
            "geometry",
            _("A %(level)s must be one polygon; this geometry has %(n)d parts.")
            % {"level": _level_label(level), "n": len(polygons)},
        )
        return None
    return polygons[0]


def _level_label(level: str) -> str:
    return str(MODELS[level]._meta.verbose_name)


# --- validation ----------------------------------------------------------------------------------


def _code_problem(code: str | None, level: str) -> str | None:
    if not code:
        return _("The code is missing.")
    if level == AUTO:
        if not code.isascii() or not code.isdigit() or len(code) not in CODE_LENGTHS.values():
            return _("“%(code)s” is not a code of 6, 9, 12, 15 or 17 digits.") % {"code": code}
        return None
    length = CODE_LENGTHS[level]
    if not code.isascii() or not code.isdigit() or len(code) != length:
        return _("“%(code)s” is not a %(level)s code: %(n)d digits expected.") % {
            "code": code,
            "level": _level_label(level),
            "n": length,
        }
    return None


def _level_of(code: str) -> str:
    return next(lvl for lvl, n in CODE_LENGTHS.items() if n == len(code))


def _outside_m2(geom: GEOSGeometry, parent: GEOSGeometry) -> float | None:
    """Area of `geom` outside `parent` in m² (approximate), or None if within the trigger's tolerance."""
    if parent.prepared.contains(geom):
        return None
    outside = geom.difference(parent).area
    if outside <= TOLERANCE_AREA:
        return None
    lat = math.radians(geom.centroid.y)
    return outside * M_PER_DEGREE * M_PER_DEGREE * math.cos(lat)


def _existing(level: str, codes: Iterable[str]) -> dict[str, Any]:
    codes = list(codes)
    if not codes:
        return {}
    return {obj.code: obj for obj in MODELS[level].objects.filter(code__in=codes)}


def _same_geometry(a: GEOSGeometry | None, b: GEOSGeometry) -> bool:
    return a is not None and a.geom_type == b.geom_type and a.equals_exact(b, 1e-12)


def _check_children(
    level: str, obj: Any, geom: GEOSGeometry, file_codes: set[str], where: str, col: _Collector
) -> None:
    """Warn when a changed boundary leaves existing children outside it.

    The triggers only check a grid, area or household when that row is written, so a shrunken
    community would silently leave its old grids outside until someone edits one of them.
    """
    if level == "community":
        outside = [
            g.code
            for g in Grid.objects.filter(community=obj).exclude(code__in=file_codes)
            if _outside_m2(g.boundary, geom) is not None
        ]
        homes = Household.objects.filter(community=obj).exclude(point__dwithin=(geom, TOLERANCE_DIST)).count()
        if homes:
            col.warn(
                where,
                "geometry",
                _("%(n)d existing household(s) of this community lie outside the new boundary.")
                % {"n": homes},
            )
    elif level == "grid":
        outside = [
            a.code
            for a in ResponsibilityArea.objects.filter(grid=obj).exclude(code__in=file_codes)
            if _outside_m2(a.boundary, geom) is not None
        ]
    else:
        return
    if outside:
        col.warn(
            where,
            "geometry",
            _("Existing children lie outside the new boundary: %(codes)s.") % {"codes": ", ".join(outside)},
        )


# --- the service ---------------------------------------------------------------------------------


def import_boundaries(
    path: str | Path,
    *,
    level: str,
    code_field: str = "code",
    name_field: str = "name",
    name_en_field: str | None = None,
    gcj02: bool = False,
    srid: int | str | None = None,
    synthetic: bool = False,
    dry_run: bool = False,
    actor: Any = None,
    progress: ProgressCallback | None = None,
    source_name: str | None = None,
) -> ImportReport:
    """Import one layer of boundaries at `level` (or "auto"); see the module docstring.

    Raises ImportRejected (every problem, nothing written) or GridgovError (file unreadable).
    `source_name` is the name to record in the audit log (the upload's name, not the temp file's).
    """
    if level not in (*LEVELS, AUTO):
        raise ValueError(f"level must be one of {', '.join((*LEVELS, AUTO))}, not {level!r}")
    path = Path(path)
    srid = resolve_srid(srid) if srid is not None else None
    col = _Collector()
    ds, layer = _open_layer(path)
    for fname, role in ((code_field, "code"), (name_field, "name"), (name_en_field, "name_en")):
        if fname is not None and fname not in layer.fields:
            raise _file_problem(
                fname,
                _("No field “%(field)s” (for the %(role)s) in the file; its fields are: %(fields)s.")
                % {"field": fname, "role": role, "fields": ", ".join(layer.fields)},
            )
    ct = _source_transform(layer, srid, col)
    total = layer.num_feat
    if total == 0:
        raise GridgovError("import.empty")

    # 1. Read every feature: code, names, geometry (transformed, converted, repaired).
    records: list[_Record] = []
    first_seen: dict[str, int] = {}
    for index, feature in enumerate(layer, start=1):
        rec = _Record(index=index, level=level, code="", name="", name_en=None, geom=None)
        try:
            rec.code = _text(feature, code_field) or ""
            rec.name = _text(feature, name_field) or ""
            rec.name_en = _text(feature, name_en_field)
        except UnicodeDecodeError:
            col.error(rec.where, name_field, _("Text is not UTF-8; add a .cpg file naming the encoding."))
            rec.ok = False
        where = rec.where
        problem = _code_problem(rec.code, level)
        if problem:
            col.error(where, code_field, problem)
            rec.ok = False
        else:
            rec.level = _level_of(rec.code)
            if rec.code in first_seen:
                col.error(
                    where,
                    code_field,
                    _("Duplicate code; feature %(n)d has it too.") % {"n": first_seen[rec.code]},
                )
                rec.ok = False
            else:
                first_seen[rec.code] = index
        if not rec.name:
            col.error(where, name_field, _("The name is missing."))
        elif len(rec.name) > NAME_MAX:
            col.error(where, name_field, _("The name is longer than %(n)d characters.") % {"n": NAME_MAX})
        if rec.name_en and len(rec.name_en) > NAME_MAX:
            col.error(where, name_en_field, _("The name is longer than %(n)d characters.") % {"n": NAME_MAX})
        geom = _read_geometry(feature, where=where, ct=ct, gcj02=gcj02, col=col)
        if geom is not None and rec.level in CODE_LENGTHS:  # with "auto", only once the code is known
            rec.geom = _shape_for_level(geom, rec.level, where, col)
        records.append(rec)
        if progress and index % PROGRESS_EVERY == 0:
            progress(index, total)
    del layer, ds  # close the file before the (possibly long) checks and writes

    # 2. Hierarchy: parents by code prefix, from this file or the database; containment.
    valid = [r for r in records if r.ok and r.level in CODE_LENGTHS]
    in_file: dict[str, dict[str, _Record]] = {lvl: {} for lvl in LEVELS}
    for r in valid:
        in_file[r.level][r.code] = r
    existing = {lvl: _existing(lvl, in_file[lvl]) for lvl in LEVELS}
    parents_db: dict[str, dict[str, Any]] = {}
    for lvl, parent_level in PARENT_LEVEL.items():
        wanted = {c[: CODE_LENGTHS[parent_level]] for c in in_file[lvl]} - set(in_file[parent_level])
        parents_db[lvl] = _existing(parent_level, wanted)

    for r in valid:
        parent_level = PARENT_LEVEL.get(r.level)
        if parent_level is None:
            continue
        parent_code = r.code[: CODE_LENGTHS[parent_level]]
        parent_rec = in_file[parent_level].get(parent_code)
        parent_obj = parents_db[r.level].get(parent_code)
        if parent_rec is None and parent_obj is None:
            col.error(
                r.where,
                code_field,
                _("No %(level)s with code %(code)s (in the database or this file).")
                % {"level": _level_label(parent_level), "code": parent_code},
            )
            continue
        if r.level in ("grid", "area") and r.geom is not None:
            parent_geom = parent_rec.geom if parent_rec is not None else parent_obj.boundary
            if parent_geom is not None:
                m2 = _outside_m2(r.geom, parent_geom)
                if m2 is not None:
                    col.error(
                        r.where,
                        "geometry",
                        _("Not inside its %(level)s %(code)s: about %(m2).0f m² lie outside.")
                        % {"level": _level_label(parent_level), "code": parent_code, "m2": m2},
                    )

    if col.has_errors:
        raise ImportRejected(col.problems + col.repaired + col.warnings)

    # 3. Plan: create / update / unchanged, decided before writing so a dry run reports the same.
    report = ImportReport(dry_run=dry_run, repaired=col.repaired, warnings=col.warnings)
    file_codes = set(first_seen)
    plan: dict[str, tuple[list[Any], list[Any]]] = {lvl: ([], []) for lvl in LEVELS}
    objects: dict[str, Any] = {}  # code -> instance to write or already current
    now = timezone.now()
    for lvl in LEVELS:  # top-down, so parents from the file exist as instances for their children
        for r in in_file[lvl].values():
            parent = None
            parent_level = PARENT_LEVEL.get(lvl)
            if parent_level:
                parent_code = r.code[: CODE_LENGTHS[parent_level]]
                parent = objects.get(parent_code) or parents_db[lvl][parent_code]
            obj = existing[lvl].get(r.code)
            if obj is None:
                obj = MODELS[lvl](code=r.code, name=r.name, boundary=r.geom, synthetic=synthetic)
                if r.name_en is not None:
                    obj.name_en = r.name_en
                if parent is not None:
                    setattr(obj, parent_level, parent)
                plan[lvl][0].append(obj)
                report.created += 1
            else:
                changed = (
                    obj.name != r.name
                    or (name_en_field is not None and obj.name_en != (r.name_en or ""))
                    or obj.synthetic != synthetic
                    or not _same_geometry(obj.boundary, r.geom)
                    or (parent is not None and getattr(obj, f"{parent_level}_id") != parent.pk)
                )
                if changed:
                    if not _same_geometry(obj.boundary, r.geom):
                        _check_children(lvl, obj, r.geom, file_codes, r.where, col)
                    obj.name = r.name
                    if name_en_field is not None:
                        obj.name_en = r.name_en or ""
                    obj.synthetic = synthetic
                    obj.boundary = r.geom
                    obj.updated_at = now
                    if parent is not None:
                        setattr(obj, parent_level, parent)
                    plan[lvl][1].append(obj)
                    report.updated += 1
                else:
                    report.unchanged += 1
            objects[r.code] = obj
    report.warnings = col.warnings
    if dry_run:
        if progress:
            progress(total, total)
        return report

    # 4. Write: one transaction, level by level (parents first).
    with transaction.atomic():
        for lvl in LEVELS:
            new, changed = plan[lvl]
            if new:
                MODELS[lvl].objects.bulk_create(new, batch_size=500)
            if changed:
                fields = ["name", "name_en", "synthetic", "boundary", "updated_at"]
                if lvl in PARENT_LEVEL:
                    fields.append(PARENT_LEVEL[lvl])
                MODELS[lvl].objects.bulk_update(changed, fields, batch_size=200)
        audit.record(
            actor=actor,
            action="import.boundaries",
            object_type="geo." + (level if level != AUTO else "hierarchy"),
            file=source_name or path.name,
            level=level,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            repaired=len(report.repaired),
            srid=srid,
            gcj02=gcj02,
        )
    if progress:
        progress(total, total)
    return report
