"""Seamless cells: one polygon per item, together tiling the community exactly.

Building Voronoi cells are clipped to the community (or to the blocks that barriers cut it
into); stray parts that a non-convex clip leaves are merged into the neighbour sharing the longest
border; cells of split buildings are sliced across their long axis in proportion to the slices'
weights. All overlay operations snap to a 1 cm grid so neighbouring cells share exact edges.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union

from .model import CommunityIn, Item

GRID = 0.01  # metres: snapping grid of every overlay


def polygons_of(geom: BaseGeometry) -> list[Polygon]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom]
    out: list[Polygon] = []
    for g in getattr(geom, "geoms", []):
        out.extend(polygons_of(g))
    return out


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygon parts of an overlay result (snapping can leave lines or points beside them,
    and GEOS refuses mixed-dimension input to the next overlay)."""
    parts = polygons_of(geom)
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def blocks_of(community: CommunityIn) -> list[Polygon]:
    """The community cut by its barrier lines into blocks (one per polygon part without barriers)."""
    boundary = shapely.set_precision(community.boundary, GRID)
    if not community.barriers:
        return polygons_of(boundary)
    lines = unary_union([boundary.boundary, *[b.intersection(boundary) for b in community.barriers]])
    pieces = [p for p in polygonize(lines) if boundary.contains(p.representative_point())]
    return [shapely.set_precision(p, GRID) for p in pieces if p.area > 1.0]


def _merge_strays(
    cells: list[BaseGeometry], strays: list[Polygon], parent: BaseGeometry | None = None
) -> list:
    """Give each stray piece to the cell sharing the longest border with it."""
    if not strays:
        return cells
    pending = sorted(strays, key=lambda p: -p.area)
    for _ in range(3):  # strays can touch only other strays at first; a few passes settle them
        left = []
        tree = shapely.STRtree(cells)
        for stray in pending:
            best, best_len = -1, 0.0
            for i in tree.query(stray, predicate="intersects"):
                if cells[i] is None or cells[i].is_empty:
                    continue
                shared = shapely.intersection(stray.boundary, cells[i].boundary, grid_size=GRID).length
                if shared > best_len:
                    best, best_len = int(i), shared
            if best < 0:
                left.append(stray)
                continue
            cells[best] = polygonal(shapely.union(cells[best], stray, grid_size=GRID))
        if not left:
            break
        pending = left
    return cells


def _dedupe(points: np.ndarray) -> np.ndarray:
    """Nudge coincident points apart (1 mm steps) so each gets its own Voronoi cell."""
    out = points.copy()
    seen: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(points):
        key = (round(float(x), 3), round(float(y), 3))
        k = seen.get(key, 0)
        if k:
            angle = k * 2.399963  # golden angle spreads repeats evenly
            out[i] = (x + 0.001 * k * math.cos(angle), y + 0.001 * k * math.sin(angle))
        seen[key] = k + 1
    return out


def building_cells(community: CommunityIn, points: np.ndarray) -> tuple[list[BaseGeometry], list[int]]:
    """One cell per point (buildings), tiling the community; and the block index of each point."""
    pts = _dedupe(points)
    blocks = blocks_of(community)
    block_of = np.full(len(pts), -1)
    cells: list[BaseGeometry] = [Polygon()] * len(pts)
    strays: list[Polygon] = []
    tree = shapely.STRtree(blocks)
    geoms = shapely.points(pts)
    pi, bi = tree.query(geoms, predicate="intersects")
    block_of[pi] = bi
    # Points outside every block (on a barrier, or just outside): nearest block.
    missing = np.flatnonzero(block_of < 0)
    if len(missing):
        block_of[missing] = tree.query_nearest(geoms[missing], all_matches=False)[1]
    for b, block in enumerate(blocks):
        members = np.flatnonzero(block_of == b)
        if len(members) == 0:
            strays.append(block)
            continue
        if len(members) == 1:
            raw = [block]
        else:
            vor = shapely.voronoi_polygons(shapely.multipoints(pts[members]), extend_to=block, ordered=True)
            raw = list(vor.geoms)
        for idx, cell in zip(members, raw, strict=True):
            parts = polygons_of(shapely.intersection(cell, block, grid_size=GRID))  # polygon parts only
            if not parts:
                cells[idx] = Polygon()
                continue
            own = Point(pts[idx])
            parts.sort(key=lambda p: (not p.intersects(own), -p.area))
            cells[idx] = parts[0]
            strays.extend(parts[1:])
    return _merge_strays(cells, strays), [int(b) for b in block_of]


def slice_cell(cell: BaseGeometry, weights: list[float]) -> list[BaseGeometry]:
    """Cut `cell` across its long axis into len(weights) pieces with areas in proportion."""
    if len(weights) == 1:
        return [cell]
    rect = cell.minimum_rotated_rectangle
    coords = np.asarray(rect.exterior.coords)[:4]
    edges = np.diff(np.vstack([coords, coords[:1]]), axis=0)
    long_edge = edges[np.argmax(np.hypot(edges[:, 0], edges[:, 1]))]
    angle = math.degrees(math.atan2(long_edge[1], long_edge[0]))
    c = cell.centroid
    rotated = shapely.affinity.rotate(cell, -angle, origin=c)
    minx, miny, maxx, maxy = rotated.bounds
    total_area = rotated.area
    cuts = [minx - 1.0]
    acc = 0.0
    for w in weights[:-1]:
        acc += w / sum(weights)
        lo, hi = minx, maxx
        for _ in range(18):  # 2**-18 of the width: well under a centimetre
            mid = (lo + hi) / 2
            a = (
                shapely.intersection(rotated, shapely.box(minx - 1, miny - 1, mid, maxy + 1)).area
                / total_area
            )
            lo, hi = (mid, hi) if a < acc else (lo, mid)
        cuts.append((lo + hi) / 2)
    cuts.append(maxx + 1.0)
    # Cut pieces off one after another so that they share exact edges (no overlap, no gap).
    pieces = []
    remaining = cell
    for b in cuts[1:-1]:
        strip = shapely.affinity.rotate(shapely.box(minx - 2, miny - 1, b, maxy + 1), angle, origin=c)
        piece = polygonal(shapely.intersection(remaining, strip, grid_size=GRID))
        pieces.append(piece)
        remaining = polygonal(shapely.difference(remaining, piece, grid_size=GRID))
    pieces.append(remaining)
    # A non-convex cell can leave a strip in several parts: keep the biggest, merge the rest.
    kept, strays = [], []
    for p in pieces:
        parts = sorted(polygons_of(p), key=lambda q: -q.area)
        kept.append(parts[0] if parts else Polygon())
        strays.extend(parts[1:])
    return _merge_strays(kept, strays)


def item_cells(community: CommunityIn, items: list[Item]) -> tuple[list[BaseGeometry], list[int]]:
    """A cell per item (slices for split buildings), and each item's block."""
    by_building: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_building[it.building].append(i)
    order = list(by_building)
    pts = np.array([[items[by_building[b][0]].x, items[by_building[b][0]].y] for b in order], dtype=float)
    cells_b, block_b = building_cells(community, pts.reshape(-1, 2))
    cells: list[BaseGeometry] = [Polygon()] * len(items)
    blocks = [0] * len(items)
    for bi, b in enumerate(order):
        idxs = sorted(by_building[b], key=lambda i: items[i].part)
        pieces = slice_cell(cells_b[bi], [items[i].weight for i in idxs]) if len(idxs) > 1 else [cells_b[bi]]
        for i, piece in zip(idxs, pieces, strict=True):
            cells[i] = piece
            blocks[i] = block_b[bi]
    return cells, blocks


def shared_border(a: BaseGeometry, b: BaseGeometry) -> float:
    """Length (m) of the border two cells share."""
    return shapely.intersection(a.boundary, b.boundary, grid_size=GRID).length


def relink(
    cells: list[BaseGeometry],
    adj: list[set[int]],
    changed: list[int],
    min_shared: float,
    candidates: set[int] | None = None,
) -> None:
    """Recompute the neighbours of cells whose shape changed (in place), against `candidates` or,
    when None, every cell they touch."""
    for i in changed:
        for nb in adj[i]:
            adj[nb].discard(i)
        adj[i] = set()
    tree = shapely.STRtree(cells) if candidates is None else None
    for i in changed:
        pool = candidates if tree is None else {int(j) for j in tree.query(cells[i], predicate="intersects")}
        for nb in pool:
            if nb != i and not cells[nb].is_empty and shared_border(cells[i], cells[nb]) >= min_shared:
                adj[i].add(nb)
                adj[nb].add(i)


def adjacency(cells: list[BaseGeometry], min_shared: float) -> list[set[int]]:
    """Neighbours: cells whose borders share at least `min_shared` metres."""
    n = len(cells)
    adj: list[set[int]] = [set() for _ in range(n)]
    arr = np.array(cells, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left):
        shared = shapely.length(
            shapely.intersection(shapely.boundary(arr[left]), shapely.boundary(arr[right]), grid_size=GRID)
        )
        for a, b, s in zip(left, right, shared, strict=True):
            if s >= min_shared:
                adj[int(a)].add(int(b))
                adj[int(b)].add(int(a))
    return adj


def dissolve(cells: list[BaseGeometry], groups: list[list[int]]) -> list[BaseGeometry]:
    """Union of the cells of each group."""
    out = []
    for g in groups:
        geoms = [cells[i] for i in g if not cells[i].is_empty]
        if not geoms:
            out.append(Polygon())
            continue
        merged = shapely.union_all(geoms, grid_size=GRID) if len(geoms) > 1 else geoms[0]
        parts = polygons_of(merged)
        out.append(parts[0] if len(parts) == 1 else MultiPolygon(parts))
    return out
