"""Quality of a plan: ranges, contiguity, seamlessness, compactness, and stability after a re-grid."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .model import Config, Item, Plan


@dataclass
class Quality:
    areas: int
    grids: int
    areas_in_range: float  # share
    grids_in_range: float
    areas_contiguous: float  # share of single-part area polygons
    multipart_polygons: int
    gap_area_m2: float
    overlap_area_m2: float
    pp_mean: float  # Polsby–Popper of the area polygons
    pp_median: float
    pp_min: float
    hull_pp_min: float  # Polsby–Popper of the areas' convex hulls (elongation)
    buildings_split: float  # share of buildings cut into several items
    kept_same_area: float | None = None  # after a re-grid: households keeping area (and member)
    kept_same_grid: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


GRID = 0.01  # the cells' snapping grid (m)


def snapped_boundary(boundary: BaseGeometry, polys: list[BaseGeometry]) -> BaseGeometry:
    """The community's boundary snapped to the 1 cm grid as the cells along it are: the vertices of
    `polys` lying on its outline (within 1 cm) are inserted into its edges first. Each cell's corner on
    the boundary is snapped on its own, up to 7 mm off the straight edge that snapping the boundary's
    few corners alone would give: along a 1.5 km edge that is metres² of slivers between the two
    outlines (2–18 m² in a demo community of 2–5 km²), which are no gap."""
    xy = shapely.get_coordinates(np.array(polys, dtype=object))
    if not len(xy):
        return shapely.set_precision(boundary, GRID)
    pts = shapely.points(np.unique(xy, axis=0))
    parts = list(getattr(boundary, "geoms", [boundary]))
    out = []
    for part in parts:
        rings = []
        for ring in [part.exterior, *part.interiors]:
            shapely.prepare(ring)
            near = pts[shapely.dwithin(ring, pts, GRID)]
            coords = np.asarray(ring.coords)[:-1]
            at = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(coords, axis=0).T))])
            on = shapely.line_locate_point(ring, near)
            both = np.concatenate([at, on])
            xy_all = np.concatenate([coords, shapely.get_coordinates(near)])
            order = np.argsort(both, kind="stable")
            rings.append(xy_all[order])
        # (a point near a corner may land on the other side of it: a crossing of millimetres, made valid)
        out.append(shapely.make_valid(shapely.Polygon(rings[0], rings[1:])))
    return shapely.union_all(out, grid_size=GRID)


def polsby_popper(geoms: list[BaseGeometry]) -> np.ndarray:
    arr = np.array(geoms, dtype=object)
    area = shapely.area(arr)
    perim = shapely.length(arr)
    return np.where(perim > 0, 4 * math.pi * area / np.maximum(perim, 1e-12) ** 2, 0.0)


def measure(plan: Plan, boundary: BaseGeometry, config: Config, previous: Plan | None = None) -> Quality:
    aw = plan.area_weights()
    gw = plan.grid_weights()
    in_a = sum(config.area_min - 1e-9 <= w <= config.area_max + 1e-9 for w in aw) / max(1, len(aw))
    in_g = sum(config.grid_min - 1e-9 <= w <= config.grid_max + 1e-9 for w in gw) / max(1, len(gw))
    polys = plan.area_polygons
    if polys:
        single = [p.geom_type == "Polygon" for p in polys]
        union = shapely.union_all(polys, grid_size=GRID)
        total = float(sum(p.area for p in polys))
        # What of the community no area covers, against its boundary snapped as the cells are.
        gap = float(shapely.difference(snapped_boundary(boundary, polys), union, grid_size=GRID).area)
        overlap = max(0.0, total - union.area)
        pp = polsby_popper(polys)
        hull = polsby_popper([p.convex_hull for p in polys])
        multipart = sum(not s for s in single) + sum(p.geom_type != "Polygon" for p in plan.grid_polygons)
        contiguous = sum(single) / len(single)
        pp_mean, pp_median, pp_min, hull_min = (
            float(pp.mean()),
            float(np.median(pp)),
            float(pp.min()),
            float(hull.min()),
        )
    else:
        gap = overlap = pp_mean = pp_median = pp_min = hull_min = float("nan")
        multipart, contiguous = 0, float("nan")
    buildings = {it.building for it in plan.items}
    split = {it.building for it in plan.items if it.part > 0}
    q = Quality(
        areas=plan.n_areas,
        grids=plan.n_grids,
        areas_in_range=in_a,
        grids_in_range=in_g,
        areas_contiguous=contiguous,
        multipart_polygons=multipart,
        gap_area_m2=gap,
        overlap_area_m2=overlap,
        pp_mean=pp_mean,
        pp_median=pp_median,
        pp_min=pp_min,
        hull_pp_min=hull_min,
        buildings_split=len(split) / max(1, len(buildings)),
    )
    if previous is not None:
        q.kept_same_area, q.kept_same_grid = stability(previous, plan)
    return q


def split_floor(items: list[Item], adj: list[set[int]], lo: float, hi: float) -> int:
    """A lower bound of the buildings any plan of these items must cut (the neighbour graph of their
    cells, before any donation): those above `hi`, plus one per stranded building in a packing.

    A building of at most `hi` households is stranded when no connected set of whole buildings of at
    most `hi` holding it totals `lo`–`hi` households and none of those sets touches a building above `hi`
    (whose runs could make one up): its area must then take part of a building cut for it, within the
    sets it could grow to and their neighbours (its witness). Stranded buildings with disjoint witnesses
    (packed greedily, smallest witness first) each need a cut of their own."""
    total: dict[str, float] = {}
    for it in items:
        total[it.building] = total.get(it.building, 0.0) + it.weight
    big = {b for b, w in total.items() if w > hi + 1e-9}
    nbs: dict[str, set[str]] = {b: set() for b in total}
    for i, links in enumerate(adj):
        bi = items[i].building
        for j in links:
            if items[j].building != bi:
                nbs[bi].add(items[j].building)
    witnesses: list[tuple[int, str, set[str]]] = []
    for b in sorted(total):
        if b in big or total[b] >= lo - 1e-9:
            continue
        seen: set[frozenset[str]] = set()
        stack = [frozenset((b,))]
        witness: set[str] = set()
        stranded = True
        while stack and stranded:
            group = stack.pop()
            if group in seen:
                continue
            seen.add(group)
            weight = sum(total[m] for m in group)
            around = set().union(*(nbs[m] for m in group)) - group
            if weight >= lo - 1e-9 or around & big:
                stranded = False
            witness |= group | around
            stack.extend(group | {j} for j in around if weight + total[j] <= hi + 1e-9)
        if stranded:
            witnesses.append((len(witness), b, witness))
    used: set[str] = set()
    packed = 0
    for _size, _b, witness in sorted(witnesses, key=lambda t: (t[0], t[1])):
        if witness.isdisjoint(used):
            used |= witness
            packed += 1
    return len(big) + packed


def stability(before: Plan, after: Plan) -> tuple[float, float]:
    """Share of households (present in both plans) with the same area code, and the same grid code."""
    ha, hb = before.household_area(), after.household_area()
    common = ha.keys() & hb.keys()
    if not common:
        return 1.0, 1.0
    same_area = sum(before.area_codes[ha[k]] == after.area_codes[hb[k]] for k in common)
    same_grid = sum(
        before.grid_codes[before.grid_of_area[ha[k]]] == after.grid_codes[after.grid_of_area[hb[k]]]
        for k in common
    )
    return same_area / len(common), same_grid / len(common)
