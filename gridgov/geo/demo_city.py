"""Deterministic generator of the synthetic demo city (pure numpy + shapely, no Django).

Real: the district outline and the street/community names and codes (geodata/yantian/).
Synthetic, and labelled so everywhere: street and community polygons, grids, responsibility areas,
buildings on a jittered street lattice, households, people, phone and ID numbers.

Geometry is built in a local metric plane (equirectangular around the district centre, good to a
few metres over 15 km) and returned in lon/lat. Every level tiles its parent: Voronoi cells of
seeds clipped to the parent, with stray parts of a non-convex clip merged into the neighbour
that shares the longest border, so every piece is one polygon.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry

from gridgov.gridding.algorithm.projection import Projection

SEED = 440308

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蔡蒋余于杜叶程魏苏吕丁任沈"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强海燕雪梅晓东丹玉兰春梅文"
KEY_GROUP_RATES = {  # share of households carrying each tag in the demo
    "elderly_alone": 0.05,
    "disabled": 0.02,
    "left_behind_child": 0.01,
    "low_income": 0.03,
    "party_member": 0.08,
}
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
ID_CHECK = "10X98765432"
# Area codes that existed in every birth year used (440308 Yantian only dates from 1998; an ID
# issued for an area before it existed is flagged by the ledger import as a warning).
ID_AREAS = ["440300", "440300", "440300", "110101"]


@dataclass
class DemoHousehold:
    code: str
    unit: str
    floor: int
    room: str
    residents: int
    occupancy: str
    key_groups: list[str]
    head_name: str
    phone: str
    id_number: str


@dataclass
class DemoBuilding:
    code: str
    address: str
    footprint: Polygon  # lon/lat
    point: Point  # lon/lat
    floors: int
    units: int
    households: list[DemoHousehold] = field(default_factory=list)


@dataclass
class DemoArea:
    code: str
    name: str
    boundary: Polygon
    building_codes: list[str]
    member_name: str


@dataclass
class DemoGrid:
    code: str
    name: str
    boundary: Polygon
    leader_name: str
    areas: list[DemoArea]


@dataclass
class DemoCommunity:
    code: str
    name: str
    boundary: MultiPolygon
    buildings: list[DemoBuilding]
    grids: list[DemoGrid]


@dataclass
class DemoStreet:
    code: str
    name: str
    boundary: MultiPolygon
    communities: list[DemoCommunity]


@dataclass
class DemoCity:
    district_code: str
    district_name: str
    boundary: MultiPolygon
    streets: list[DemoStreet]

    def household_count(self) -> int:
        return sum(len(b.households) for s in self.streets for c in s.communities for b in c.buildings)


# --- tiling helpers -------------------------------------------------------------------------------


def _parts(geom: BaseGeometry) -> list[Polygon]:
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty] + [
        p for g in getattr(geom, "geoms", []) if isinstance(g, MultiPolygon) for p in g.geoms
    ]


def tile(parent: BaseGeometry, seeds: np.ndarray) -> list[Polygon]:
    """Split `parent` into one single-part polygon per seed (Voronoi cells, stray parts merged)."""
    if len(seeds) == 1:
        return [_largest_connected(parent)]
    pts = shapely.multipoints(seeds)
    cells = shapely.voronoi_polygons(pts, extend_to=parent.envelope.buffer(1000))
    by_seed: list[BaseGeometry] = [Polygon()] * len(seeds)
    tree = shapely.STRtree(shapely.points(seeds))
    for cell in cells.geoms:
        idx = tree.query(cell, predicate="contains")
        if len(idx):
            by_seed[int(idx[0])] = cell.intersection(parent)
    pieces: list[list[Polygon]] = [sorted(_parts(g), key=lambda p: -p.area) for g in by_seed]
    kept = [ps[0] if ps else Polygon() for ps in pieces]
    strays = [p for ps in pieces for p in ps[1:]]
    # Merge each stray part into the kept polygon it shares the longest border with.
    for stray in sorted(strays, key=lambda p: -p.area):
        best, best_len = None, 0.0
        for i, k in enumerate(kept):
            if k.is_empty:
                continue
            shared = stray.boundary.intersection(k.boundary.buffer(0.01)).length
            if shared > best_len:
                best, best_len = i, shared
        if best is not None:
            merged = shapely.union(kept[best], stray.buffer(0.001)).intersection(parent)
            kept[best] = max(_parts(merged), key=lambda p: p.area)
    return [shapely.set_precision(k, 0.001) if not k.is_empty else k for k in kept]


def _largest_connected(geom: BaseGeometry) -> Polygon:
    return max(_parts(geom), key=lambda p: p.area)


def kmeans(
    points: np.ndarray,
    k: int,
    rng: np.random.Generator,
    weights: np.ndarray | None = None,
    iterations: int = 12,
) -> tuple[np.ndarray, np.ndarray]:
    """Plain weighted Lloyd iterations; returns (centres, labels)."""
    k = max(1, min(k, len(points)))
    centres = points[rng.choice(len(points), size=k, replace=False)].astype(float)
    w = np.ones(len(points)) if weights is None else weights
    labels = np.zeros(len(points), dtype=int)
    for _ in range(iterations):
        d = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels = d.argmin(axis=1)
        for j in range(k):
            mask = labels == j
            if mask.any():
                centres[j] = np.average(points[mask], axis=0, weights=w[mask])
    return centres, labels


def random_points_in(poly: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = poly.bounds
    out: list[np.ndarray] = []
    while sum(len(o) for o in out) < n:
        cand = np.column_stack([rng.uniform(minx, maxx, n * 3), rng.uniform(miny, maxy, n * 3)])
        inside = shapely.contains_xy(poly, cand[:, 0], cand[:, 1])
        out.append(cand[inside])
    return np.vstack(out)[:n]


def split_by_sweep(parent: BaseGeometry, shares: list[float]) -> list[BaseGeometry]:
    """Cut `parent` west→east into strips whose areas follow `shares` (bisection on x)."""
    minx, miny, maxx, maxy = parent.bounds
    total = parent.area
    cuts = [minx]
    acc = 0.0
    for share in shares[:-1]:
        acc += share / sum(shares)
        lo, hi = minx, maxx
        for _ in range(40):
            mid = (lo + hi) / 2
            a = parent.intersection(shapely.box(minx - 1, miny - 1, mid, maxy + 1)).area / total
            lo, hi = (mid, hi) if a < acc else (lo, mid)
        cuts.append((lo + hi) / 2)
    cuts.append(maxx)
    return [
        parent.intersection(
            shapely.box(a - (1 if i == 0 else 0), miny - 1, b + (1 if i == len(cuts) - 2 else 0), maxy + 1)
        )
        for i, (a, b) in enumerate(itertools.pairwise(cuts))
    ]


# --- people --------------------------------------------------------------------------------------


def id_number(area: str, birth: str, seq: int) -> str:
    """A GB 11643 citizen ID with a valid check digit (synthetic)."""
    body = f"{area}{birth}{seq:03d}"
    check = ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]
    return body + check


def person_name(rng: np.random.Generator) -> str:
    given = "".join(rng.choice(list(GIVEN), size=int(rng.integers(1, 3))))
    return str(rng.choice(list(SURNAMES))) + given


def make_household(code: str, unit: str, floor: int, room: str, rng: np.random.Generator) -> DemoHousehold:
    occ_roll = rng.random()
    occupancy = "owner" if occ_roll < 0.7 else "rented" if occ_roll < 0.95 else "vacant"
    tags = [k for k, rate in KEY_GROUP_RATES.items() if rng.random() < rate]
    if occupancy == "rented" and rng.random() < 0.6:
        tags.append("floating")
    residents = 0 if occupancy == "vacant" else int(rng.choice([1, 2, 2, 3, 3, 3, 4, 4, 5, 6]))
    if "elderly_alone" in tags:
        residents = 1
    year = int(rng.integers(1940, 2000)) if "elderly_alone" not in tags else int(rng.integers(1930, 1955))
    birth = f"{year}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
    return DemoHousehold(
        code=code,
        unit=unit,
        floor=floor,
        room=room,
        residents=max(residents, 1) if occupancy != "vacant" else 1,
        occupancy=occupancy,
        key_groups=sorted(set(tags)),
        head_name="" if occupancy == "vacant" else person_name(rng),
        phone=""
        if occupancy == "vacant"
        else f"1{rng.choice(['38', '39', '50', '58', '86', '89'])}{int(rng.integers(0, 10**8)):08d}",
        id_number=""
        if occupancy == "vacant"
        else id_number(str(rng.choice(ID_AREAS)), birth, int(rng.integers(0, 1000))),
    )


def read_inputs(directory: Path) -> tuple[BaseGeometry, list[dict[str, str]]]:
    """The real inputs: district outline (GeoJSON) and division codes (CSV) from geodata/."""
    outline_fc = json.loads((directory / "district_440308.geojson").read_text(encoding="utf-8"))
    outline = shape(outline_fc["features"][0]["geometry"])
    with (directory / "divisions_440308.csv").open(encoding="utf-8", newline="") as fh:
        divisions = list(csv.DictReader(fh))
    return outline, divisions


# --- the city ------------------------------------------------------------------------------------

# West to east, as the real streets lie along the coast.
STREET_ORDER = ["440308003", "440308004", "440308002", "440308001"]


def generate(
    outline: MultiPolygon,
    divisions: list[dict[str, str]],
    *,
    households: int = 30_000,
    seed: int = SEED,
    lattice_m: float = 70.0,
) -> DemoCity:
    """Build the whole synthetic city inside the real `outline` (lon/lat) for the given divisions."""
    rng = np.random.default_rng(seed)
    proj = Projection(outline.centroid.x, outline.centroid.y)
    district_m = proj.to_metric(outline).buffer(0)
    district = next(d for d in divisions if d["level"] == "district")
    streets = sorted(
        (d for d in divisions if d["level"] == "street"),
        key=lambda d: STREET_ORDER.index(d["code"]) if d["code"] in STREET_ORDER else 99,
    )
    comms = {
        s["code"]: [d for d in divisions if d["level"] == "community" and d["parent_code"] == s["code"]]
        for s in streets
    }
    strips = split_by_sweep(district_m, [len(comms[s["code"]]) or 1 for s in streets])
    per_community = households / max(1, sum(len(c) for c in comms.values()))

    # Buildings sit on a jittered street lattice, denser toward the coast (the south).
    minx, miny, maxx, maxy = district_m.bounds
    gx, gy = np.meshgrid(np.arange(minx, maxx, lattice_m), np.arange(miny, maxy, lattice_m))
    lattice = np.column_stack([gx.ravel(), gy.ravel()]) + rng.normal(0, lattice_m * 0.12, (gx.size, 2))

    city_streets: list[DemoStreet] = []
    building_seq = 0
    for street, strip in zip(streets, strips, strict=True):
        street_poly = _largest_connected(strip) if len(_parts(strip)) > 1 else strip
        children = comms[street["code"]]
        seeds = kmeans(random_points_in(street_poly, 4000, rng), len(children), rng)[0]
        seeds = seeds[np.lexsort((-seeds[:, 1], seeds[:, 0]))]
        pieces = tile(street_poly, seeds)
        city_comms: list[DemoCommunity] = []
        for comm, piece in zip(children, pieces, strict=True):
            target = int(per_community * rng.uniform(0.75, 1.25))
            inner = piece.buffer(-15)
            inside = lattice[shapely.contains_xy(inner, lattice[:, 0], lattice[:, 1])]
            if not len(inside):
                inside = random_points_in(piece.buffer(-5), 50, rng)
            # Prefer the south (the built-up coast): sort candidate plots by a noisy latitude.
            order = np.argsort(inside[:, 1] + rng.normal(0, 600, len(inside)))
            buildings: list[DemoBuilding] = []
            total = 0
            for idx in order:
                if total >= target:
                    break
                x, y = inside[idx]
                building_seq += 1
                size_roll = rng.random()
                if size_roll < 0.55:
                    units, floors, per_floor = 1, int(rng.integers(2, 7)), int(rng.integers(1, 3))
                elif size_roll < 0.92:
                    units, floors, per_floor = int(rng.integers(1, 3)), int(rng.integers(6, 10)), 2
                else:
                    units, floors, per_floor = int(rng.integers(1, 3)), int(rng.integers(10, 19)), 2
                w, h = 10 + 6 * units + rng.uniform(0, 6), 12 + rng.uniform(0, 10)
                angle = rng.uniform(-0.4, 0.4)
                fp = shapely.affinity.rotate(
                    shapely.box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), angle, use_radians=True
                )
                code = f"{comm['code']}B{len(buildings) + 1:04d}"
                b = DemoBuilding(
                    code=code,
                    address=f"{comm['name'].removesuffix('居委会')}{len(buildings) + 1}栋",
                    footprint=proj.to_lonlat(fp),
                    point=proj.to_lonlat(Point(x, y)),
                    floors=floors,
                    units=units,
                )
                for u in range(1, units + 1):
                    for fl in range(1, floors + 1):
                        for r in range(1, per_floor + 1):
                            room = f"{fl}{r:02d}"
                            b.households.append(make_household(f"{code}-{u}-{room}", str(u), fl, room, rng))
                total += len(b.households)
                buildings.append(b)
            grids = _grid_community(comm["code"], comm["name"], piece, buildings, proj, rng)
            city_comms.append(
                DemoCommunity(
                    comm["code"], comm["name"], MultiPolygon([proj.to_lonlat(piece)]), buildings, grids
                )
            )
        city_streets.append(
            DemoStreet(
                street["code"], street["name"], MultiPolygon([proj.to_lonlat(street_poly)]), city_comms
            )
        )
    return DemoCity(district["code"], district["name"], outline, city_streets)


def _grid_community(
    code: str,
    name: str,
    piece: Polygon,
    buildings: list[DemoBuilding],
    proj: Projection,
    rng: np.random.Generator,
    grid_households: int = 200,
    area_households: int = 17,
) -> list[DemoGrid]:
    """A quick demo partition (the gridding engine replaces it): k-means seeds, Voronoi tiles."""
    if not buildings:
        return []
    pts = np.array([proj.to_metric(b.point).coords[0] for b in buildings])
    weights = np.array([len(b.households) for b in buildings], dtype=float)
    n_grids = max(1, round(weights.sum() / grid_households))
    centres, _ = kmeans(pts, n_grids, rng, weights)
    centres = _order_codes(centres)
    grid_polys = tile(piece, centres)
    short = name.removesuffix("居委会")
    grids = []
    tree = shapely.STRtree(grid_polys)
    owner = _owners(tree, pts)
    for gi, gpoly in enumerate(grid_polys):
        members = np.flatnonzero(owner == gi)
        gcode = f"{code}{gi + 1:03d}"
        areas: list[DemoArea] = []
        if len(members):
            n_areas = max(1, min(len(members), round(weights[members].sum() / area_households), 99))
            sub_centres, _ = kmeans(pts[members], n_areas, rng, weights[members])
            sub_centres = _order_codes(np.unique(sub_centres, axis=0))
            area_polys = tile(gpoly, sub_centres)
            sub_owner = _owners(shapely.STRtree(area_polys), pts[members])
            for ai, apoly in enumerate(area_polys):
                bcodes = [buildings[int(members[j])].code for j in np.flatnonzero(sub_owner == ai)]
                areas.append(
                    DemoArea(
                        f"{gcode}{ai + 1:02d}",
                        f"{short}{gi + 1}-{ai + 1}",
                        proj.to_lonlat(apoly),
                        bcodes,
                        person_name(rng),
                    )
                )
        else:
            areas.append(
                DemoArea(f"{gcode}01", f"{short}{gi + 1}-1", proj.to_lonlat(gpoly), [], person_name(rng))
            )
        grids.append(
            DemoGrid(gcode, f"{short}第{gi + 1}网格", proj.to_lonlat(gpoly), person_name(rng), areas)
        )
    return grids


def _order_codes(centres: np.ndarray) -> np.ndarray:
    """Number west→east in bands north→south (bands of ~300 m) so codes read like a map."""
    band = np.floor(-centres[:, 1] / 300.0)
    return centres[np.lexsort((centres[:, 0], band))]


def _owners(tree: shapely.STRtree, pts: np.ndarray) -> np.ndarray:
    """Index of the polygon holding each point (nearest polygon for points on a boundary)."""
    points = shapely.points(pts)
    owner = np.full(len(pts), -1)
    pi, gi = tree.query(points, predicate="intersects")
    owner[pi] = gi
    missing = np.flatnonzero(owner < 0)
    if len(missing):
        owner[missing] = tree.query_nearest(points[missing], all_matches=False)[1]
    return owner
