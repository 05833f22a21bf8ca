"""Seamless cells: one polygon per item, together tiling the community exactly.

Building Voronoi cells are clipped to the community (or to the blocks that barriers cut it
into); stray parts that a non-convex clip leaves are merged into the neighbour sharing the longest
border; cells of split buildings are sliced across their long axis in proportion to the slices'
weights. All overlay operations snap to a 1 cm grid so neighbouring cells share exact edges.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numba
import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union

from .model import CommunityIn, Item

GRID = 0.01  # metres: snapping grid of every overlay
PER_M = round(1 / GRID)  # grid steps a metre: a point of the grid is q / PER_M, as GEOS rounds it (q * GRID
# is an ulp off for one in seven: such a vertex, inserted next to GEOS's own, makes GEOS 3.14's overlays
# find a crossing of two edges from one point, or the whole of one cell in another)


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


def merge_strays(
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
    else:
        # Strays touching no cell: the nearest takes them (a part apart rather than a gap).
        for stray in pending:
            live = [i for i, c in enumerate(cells) if c is not None and not c.is_empty]
            if live:
                best = min(live, key=lambda i: cells[i].distance(stray))
                cells[best] = polygonal(shapely.union(cells[best], stray, grid_size=GRID))
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
    return merge_strays(cells, strays), [int(b) for b in block_of]


def _area_left(geom: BaseGeometry, ts: np.ndarray) -> np.ndarray:
    """Area of `geom` left of each vertical line x = t (Green's theorem on the edges, all t at once)."""
    out = np.zeros(len(ts))
    t = ts[:, None]
    for poly in polygons_of(shapely.orient_polygons(geom)):  # exterior counter-clockwise, holes clockwise
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)
            px, py, qx, qy = xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]
            dx = np.where(qx == px, 1.0, qx - px)
            u = np.clip((t - px) / dx, 0.0, 1.0)  # where each edge crosses the line
            p_in, q_in = px <= t, qx <= t
            ix, iy = px + u * (qx - px), py + u * (qy - py)
            ax = np.where(p_in, px, ix)
            ay = np.where(p_in, py, iy)
            bx = np.where(q_in, qx, ix)
            by = np.where(q_in, qy, iy)
            part = (by - ay) * ((ax + bx) / 2 - t)  # ∮ x dy over the inside part, closed along x = t
            out += np.where(p_in | q_in, part, 0.0).sum(axis=1)
    return out


def cut_positions(geom: BaseGeometry, fractions: list[float]) -> list[float]:
    """x of the vertical lines leaving `fractions` of the area of `geom` on their left: exact (the
    area left of x is quadratic between vertices), no iteration."""
    xs = np.unique(shapely.get_coordinates(geom)[:, 0])
    if len(xs) < 2:
        return [float(xs[0]) if len(xs) else 0.0] * len(fractions)
    mids = (xs[:-1] + xs[1:]) / 2
    a = _area_left(geom, np.concatenate([xs, mids]))
    at, am = a[: len(xs)], a[len(xs) :]
    total = at[-1]
    out = []
    for f in fractions:
        target = f * total
        k = int(np.clip(np.searchsorted(at, target) - 1, 0, len(xs) - 2))
        x0, x1 = xs[k], xs[k + 1]
        h = x1 - x0
        # A(x0 + s·h) = a0 + b·s + c·s² through (0, a0), (½, am), (1, a1).
        a0, a1, m = at[k], at[k + 1], am[k]
        c = 2 * (a1 + a0 - 2 * m)
        b = a1 - a0 - c
        d = target - a0
        if abs(c) < 1e-12 * max(total, 1.0):
            s_ = d / b if b else 0.5
        else:
            disc = max(b * b + 4 * c * d, 0.0)
            s_ = (-b + math.sqrt(disc)) / (2 * c)
            if not 0 <= s_ <= 1:
                s_ = (-b - math.sqrt(disc)) / (2 * c)
        out.append(float(x0 + min(max(s_, 0.0), 1.0) * h))
    return out


def axis_angles(cells: list[BaseGeometry]) -> list[float]:
    """Direction (degrees, in [0°, 180°)) of the long side of each cell's minimum rotated rectangle."""
    out = []
    for rect in shapely.minimum_rotated_rectangle(np.array(cells, dtype=object)):
        if rect is None or rect.is_empty or rect.geom_type != "Polygon":
            out.append(0.0)
            continue
        coords = np.asarray(rect.exterior.coords)[:4]
        edges = np.diff(np.vstack([coords, coords[:1]]), axis=0)
        long_edge = edges[np.argmax(np.hypot(edges[:, 0], edges[:, 1]))]
        # In [0°, 180°): the same cell drawn with its vertices in another order is cut the same way.
        out.append(round(math.degrees(math.atan2(long_edge[1], long_edge[0])) % 180.0, 6))
    return out


def rotate(geom: BaseGeometry, angle: float, origin: tuple[float, float]) -> BaseGeometry:
    """`shapely.affinity.rotate(geom, angle, origin=Point(origin))` for 2D shapes, to the last bit (the
    same matrix, the same arithmetic) without its per-call checks."""
    if geom.is_empty:
        return geom
    r = angle * math.pi / 180.0
    cosp, sinp = math.cos(r), math.sin(r)
    if abs(cosp) < 2.5e-16:
        cosp = 0.0
    if abs(sinp) < 2.5e-16:
        sinp = 0.0
    x0, y0 = origin
    a, b, d, e = cosp, -sinp, sinp, cosp
    xoff, yoff = x0 - x0 * cosp + y0 * sinp, y0 - x0 * sinp - y0 * cosp

    def move(coords: np.ndarray) -> np.ndarray:
        x, y = coords.T
        return np.stack([a * x + b * y + xoff, d * x + e * y + yoff]).T

    return shapely.transform(geom, move)


MEMO_MAX = 4096  # entries of each cut's memo (a building is cut again within a few re-cuts)
_SLICES: dict[tuple[bytes, tuple[float, ...], float | None], list[BaseGeometry]] = {}
CUT_MEMOS: list[dict] = [_SLICES]  # every memo of cuts (`forget_cuts`); other modules add theirs


def forget_cuts() -> None:
    """Empty the memos of cuts (`slice_cell`, `donate._slice_at`): `engine.prepare` does at the start of
    each plan or re-grid, so that a memo serves the passes of one community, not the next call."""
    for memo in CUT_MEMOS:
        memo.clear()


def slice_cell(cell: BaseGeometry, weights: list[float], angle: float | None = None) -> list[BaseGeometry]:
    """Cut `cell` across its long axis (or the direction `angle`, in degrees) into len(weights) pieces
    with areas in proportion. A building's pieces are cut along the axis of its whole uncut cell, given
    as `angle`: the same cuts whatever pieces the cell is rebuilt from. Remembered by the cell's shape
    and the arguments: the passes after the partition cut the same building the same way again."""
    if len(weights) == 1:
        return [cell]
    key = (cell.wkb, tuple(weights), angle)
    known = _SLICES.get(key)
    if known is None:
        if len(_SLICES) >= MEMO_MAX:
            _SLICES.clear()
        known = _SLICES[key] = _slice_cell(cell, weights, angle)
    return list(known)


def _slice_cell(cell: BaseGeometry, weights: list[float], angle: float | None) -> list[BaseGeometry]:
    """`slice_cell`, computed."""
    if angle is None:
        angle = axis_angles([cell])[0]
    c = cell.centroid
    origin = (c.x, c.y)
    rotated = rotate(cell, -angle, origin)
    minx, miny, maxx, maxy = rotated.bounds
    total_w = sum(weights)
    cuts = [minx - 1.0, *cut_positions(rotated, list(np.cumsum(weights[:-1]) / total_w)), maxx + 1.0]
    # Cut pieces off one after another so that they share exact edges (no overlap, no gap).
    pieces = []
    remaining = cell
    for b in cuts[1:-1]:
        strip = rotate(shapely.box(minx - 2, miny - 1, b, maxy + 1), angle, origin)
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
    return merge_strays(kept, strays)


def item_cells(
    community: CommunityIn,
    items: list[Item],
    angles: dict[str, float] | None = None,
    wholes: dict[str, BaseGeometry] | None = None,
) -> tuple[list[BaseGeometry], list[int]]:
    """A cell per item (slices for split buildings), and each item's block. `angles` and `wholes`, when
    given, are filled with each building's cutting direction (`slice_cell`) and whole cell: a building
    cut again later is cut from its whole cell, so that its pieces keep its exact outline."""
    by_building: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_building[it.building].append(i)
    order = list(by_building)
    pts = np.array([[items[by_building[b][0]].x, items[by_building[b][0]].y] for b in order], dtype=float)
    cells_b, block_b = building_cells(community, pts.reshape(-1, 2))
    axis = axis_angles(cells_b)
    if angles is not None:
        angles.update(zip(order, axis, strict=True))
    if wholes is not None:
        wholes.update(zip(order, cells_b, strict=True))
    cells: list[BaseGeometry] = [Polygon()] * len(items)
    blocks = [0] * len(items)
    for bi, b in enumerate(order):
        idxs = sorted(by_building[b], key=lambda i: items[i].part)
        w = [items[i].weight for i in idxs]
        pieces = slice_cell(cells_b[bi], w, axis[bi]) if len(idxs) > 1 else [cells_b[bi]]
        for i, piece in zip(idxs, pieces, strict=True):
            cells[i] = piece
            blocks[i] = block_b[bi]
    return cells, blocks


def shared_border(a: BaseGeometry, b: BaseGeometry) -> float:
    """Length (m) of the border two cells share."""
    return shapely.intersection(a.boundary, b.boundary, grid_size=GRID).length


_SHARED: dict[tuple[bytes, bytes], float] = {}  # (cell, neighbour) as WKB → shared border length
_SHARED_MAX = 20_000  # (a building is tried again within a few re-cuts: a small memo suffices)
_SURE = 1e-9  # margin over the threshold for the exact-edge lower bound (float noise is ~1e-14 m)


def _edges(geoms: list[BaseGeometry]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ring edge of `geoms`: the geometry it belongs to, its ends in grid units (lower end first:
    the same edge drawn either way has one key) and its length."""
    rings, ring_geom = shapely.get_rings(np.array(geoms, dtype=object), return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    q = np.rint(xy / GRID).astype(np.int64)
    k = np.flatnonzero(ring_of[1:] == ring_of[:-1])
    p0, p1 = q[k], q[k + 1]
    keep = np.any(p0 != p1, axis=1)
    k, p0, p1 = k[keep], p0[keep], p1[keep]
    swap = (p0[:, 0] > p1[:, 0]) | ((p0[:, 0] == p1[:, 0]) & (p0[:, 1] > p1[:, 1]))
    ends = np.where(swap[:, None], np.hstack([p1, p0]), np.hstack([p0, p1]))
    return ring_geom[ring_of[k]], ends, np.hypot(*(xy[k + 1] - xy[k]).T)


def _exact_shared(geoms: list[BaseGeometry], pairs: list[tuple[int, int]]) -> list[float]:
    """For each pair of `geoms`, the length of the ring edges the two have in common exactly (same
    ends on the grid). A lower bound of the border they share (`shared_border`): an edge both rings
    hold is snapped the same way in each, and snapping only lengthens it."""
    owner, ends, length = _edges(geoms)
    by_edge: dict[tuple[int, int, int, int], list[tuple[int, float]]] = {}
    for g, e, ln in zip(owner.tolist(), map(tuple, ends.tolist()), length.tolist(), strict=True):
        by_edge.setdefault(e, []).append((g, ln))
    common: dict[tuple[int, int], float] = {}
    for holders in by_edge.values():
        if len(holders) < 2:
            continue
        for x in range(len(holders)):
            for y in range(x + 1, len(holders)):
                (ga, la), (gb, _lb) = holders[x], holders[y]
                if ga != gb:
                    key = (min(ga, gb), max(ga, gb))
                    common[key] = common.get(key, 0.0) + la
    return [common.get((min(a, b), max(a, b)), 0.0) for a, b in pairs]


def _jit(func):  # type: ignore[no-untyped-def]
    """`numba.njit`, cached on disk where numba finds a writable place (as `compiled._jit`)."""
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # a read-only install: compiled on first call
        return numba.njit(nogil=True)(func)


HOT_SURE = 0.5 - 1e-6  # grid units: a segment meeting this square around a vertex surely crosses its hot
HOT_MAYBE = 0.5 + 1e-6  # pixel (1 cm, where snap rounding bends it), and one missing this one surely not
HALFWAY = 1e-6  # grid units: a crossing this close to halfway between two pixels may round either way


@_jit
def _meets_pixel(px, py, qx, qy, hx, hy, h):  # type: ignore[no-untyped-def]
    """Whether the segment p–q meets the square of half-side `h` around (hx, hy), and where (0..1)."""
    lo, hi = 0.0, 1.0
    dx, dy = qx - px, qy - py
    if dx == 0.0:
        if abs(hx - px) > h:
            return False, 0.0
    else:
        t0, t1 = (hx - h - px) / dx, (hx + h - px) / dx
        lo, hi = max(lo, min(t0, t1)), min(hi, max(t0, t1))
    if dy == 0.0:
        if abs(hy - py) > h:
            return False, 0.0
    else:
        t0, t1 = (hy - h - py) / dy, (hy + h - py) / dy
        lo, hi = max(lo, min(t0, t1)), min(hi, max(t0, t1))
    return lo <= hi, (lo + hi) / 2


@_jit
def _orient(ax, ay, bx, by, cx, cy):  # type: ignore[no-untyped-def]
    """Side of c from a→b: 1 left, -1 right, 0 on the line (exact: grid units below 2^26)."""
    v = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
    return (v > 0) - (v < 0)


@_jit
def _bent(xy, segs, s0, s1, vx, vy, ex, n):  # type: ignore[no-untyped-def]
    """Append to `ex` (n rows so far: x0, y0, x1, y1, lower end first) the edges of the segments
    `segs[s0:s1]` bent through the hot pixels (vx, vy) each surely crosses, in order along it; a
    segment a hot pixel may just touch is left out (the overlay may or may not bend it). Returns n."""
    ts = np.empty(len(vx))
    hx = np.empty(len(vx))
    hy = np.empty(len(vx))
    for s in range(s0, s1):
        k = segs[s]
        px, py, qx, qy = xy[k, 0], xy[k, 1], xy[k + 1, 0], xy[k + 1, 1]
        m = 0
        doubt = False
        for v in range(len(vx)):
            x, y = vx[v], vy[v]
            if (x == px and y == py) or (x == qx and y == qy):
                continue
            maybe, _t = _meets_pixel(px, py, qx, qy, x, y, HOT_MAYBE)
            if not maybe:
                continue
            sure, t = _meets_pixel(px, py, qx, qy, x, y, HOT_SURE)
            if not sure:
                doubt = True
                break
            j = m  # insertion sort by position along the segment
            while j > 0 and ts[j - 1] > t:
                ts[j], hx[j], hy[j] = ts[j - 1], hx[j - 1], hy[j - 1]
                j -= 1
            ts[j], hx[j], hy[j] = t, x, y
            m += 1
        if doubt:
            continue
        ax, ay = px, py
        for j in range(m + 1):
            bx, by = (hx[j], hy[j]) if j < m else (qx, qy)
            if ax != bx or ay != by:
                if ax < bx or (ax == bx and ay < by):
                    ex[n, 0], ex[n, 1], ex[n, 2], ex[n, 3] = ax, ay, bx, by
                else:
                    ex[n, 0], ex[n, 1], ex[n, 2], ex[n, 3] = bx, by, ax, ay
                n += 1
            ax, ay = bx, by
    return n


@_jit
def _same_edge(ex, i, j):  # type: ignore[no-untyped-def]
    return ex[i, 0] == ex[j, 0] and ex[i, 1] == ex[j, 1] and ex[i, 2] == ex[j, 2] and ex[i, 3] == ex[j, 3]


@_jit
def _shared_lower_kernel(xy, segs, seg_ptr, pairs):  # type: ignore[no-untyped-def]
    """`_shared_lower` on arrays: ring vertices `xy` (grid units), segment starts `segs` grouped by
    geometry (`seg_ptr`), `pairs` of geometries; -1 where it gives no bound."""
    out = np.zeros(len(pairs))
    for p in range(len(pairs)):
        a, b = pairs[p, 0], pairs[p, 1]
        a0, a1, b0, b1 = seg_ptr[a], seg_ptr[a + 1], seg_ptr[b], seg_ptr[b + 1]
        # Hot pixels: every vertex of both, and every point where an edge of one crosses an edge of the
        # other, rounded to the grid (a crossing about halfway between two pixels: no bound).
        nv = (a1 - a0) + (b1 - b0)
        vx = np.empty(nv + (a1 - a0) * (b1 - b0))
        vy = np.empty(len(vx))
        for i in range(a0, a1):
            vx[i - a0], vy[i - a0] = xy[segs[i], 0], xy[segs[i], 1]
        for j in range(b0, b1):
            vx[a1 - a0 + j - b0], vy[a1 - a0 + j - b0] = xy[segs[j], 0], xy[segs[j], 1]
        halfway = False
        for i in range(a0, a1):
            ka = segs[i]
            px, py, qx, qy = xy[ka, 0], xy[ka, 1], xy[ka + 1, 0], xy[ka + 1, 1]
            for j in range(b0, b1):
                kb = segs[j]
                cx, cy, dx, dy = xy[kb, 0], xy[kb, 1], xy[kb + 1, 0], xy[kb + 1, 1]
                if (
                    _orient(px, py, qx, qy, cx, cy) * _orient(px, py, qx, qy, dx, dy) < 0
                    and _orient(cx, cy, dx, dy, px, py) * _orient(cx, cy, dx, dy, qx, qy) < 0
                ):
                    rx, ry, sx, sy = qx - px, qy - py, dx - cx, dy - cy
                    t = ((cx - px) * sy - (cy - py) * sx) / (rx * sy - ry * sx)
                    x, y = px + t * rx, py + t * ry
                    fx, fy = x - math.floor(x), y - math.floor(y)
                    halfway |= abs(fx - 0.5) < HALFWAY or abs(fy - 0.5) < HALFWAY
                    vx[nv], vy[nv] = math.floor(x + 0.5), math.floor(y + 0.5)
                    nv += 1
        if halfway:
            out[p] = -1.0
            continue
        ex = np.empty((2 * (a1 - a0 + b1 - b0) * (nv + 1), 4))
        na = _bent(xy, segs, a0, a1, vx[:nv], vy[:nv], ex, 0)
        n = _bent(xy, segs, b0, b1, vx[:nv], vy[:nv], ex, na)
        # The edges both outlines hold, each counted once.
        used = np.zeros(n, dtype=np.bool_)
        total = 0.0
        for i in range(na):
            dup = False
            for h in range(i):
                if _same_edge(ex, h, i):
                    dup = True
                    break
            if dup:
                continue
            for j in range(na, n):
                if not used[j] and _same_edge(ex, i, j):
                    used[j] = True
                    total += math.hypot(ex[i, 2] - ex[i, 0], ex[i, 3] - ex[i, 1])
                    break
        out[p] = total * GRID
    return out


def _shared_lower(first: list[BaseGeometry], second: list[BaseGeometry]) -> np.ndarray:
    """For each pair (first[k], second[k]), a lower bound of `shared_border` (-1: none): the length of
    the edges both outlines hold once each segment is bent through the hot pixels it crosses (1 cm
    squares around every vertex of either and every crossing of the two), as the overlay's snap
    rounding bends it. A segment a pixel may just touch is left out, so the bound may fall short, never
    over (`tests/gridding/test_tessellate.py` checks it against the overlay). Settles the T-junctions a
    cut leaves (a piece's snapped vertex on the edge of the cell across), which `_exact_shared` misses."""
    if not first:
        return np.zeros(0)
    uniq: dict[int, int] = {}
    geoms: list[BaseGeometry] = []
    for g in [*first, *second]:
        if id(g) not in uniq:
            uniq[id(g)] = len(geoms)
            geoms.append(g)
    pairs = np.array([[uniq[id(a)], uniq[id(b)]] for a, b in zip(first, second, strict=True)], dtype=np.int64)
    rings, ring_geom = shapely.get_rings(np.array(geoms, dtype=object), return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    q = np.rint(xy / GRID)  # (the overlay rounds its input to the grid first)
    k = np.flatnonzero(ring_of[1:] == ring_of[:-1])
    k = k[np.any(q[k] != q[k + 1], axis=1)]
    seg_geom = ring_geom[ring_of[k]]  # rings come geometry by geometry: segments grouped already
    seg_ptr = np.zeros(len(geoms) + 1, dtype=np.int64)
    np.cumsum(np.bincount(seg_geom, minlength=len(geoms)), out=seg_ptr[1:])
    return _shared_lower_kernel(q, k.astype(np.int64), seg_ptr, pairs)


def warm() -> None:
    """Compile the kernels of `_shared_lower` and `_unstable` (or load them from numba's cache) on two
    squares: `scripts/bootstrap.sh` runs this with `compiled.warm()` (~3 s CPU the first time)."""
    squares = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    _shared_lower(squares[:1], squares[1:])
    _unstable(squares)


def _linked(first: list[BaseGeometry], second: list[BaseGeometry], min_shared: float) -> list[bool]:
    """Whether each pair (first[k], second[k]) shares at least `min_shared` of border (snapped to the
    grid, as `adjacency`). Most pairs are settled by the edges the two hold in common once bent through
    the hot pixels they cross (`_shared_lower`, a lower bound of the overlay's length); the rest (cells
    touching at a corner, or sharing a short border) are overlaid, remembered by the two shapes: cutting
    a building tries the same pieces again (facing its areas, then across its axis)."""
    low = _shared_lower(first, second)
    out: list[bool] = (low >= min_shared + _SURE).tolist()
    todo = [n for n, yes in enumerate(out) if not yes]
    if not todo:
        return out
    keys = [(first[n].wkb, second[n].wkb) for n in todo]
    lengths = [_SHARED.get(k) for k in keys]
    miss = [m for m, v in enumerate(lengths) if v is None]
    if miss:
        a = shapely.boundary(np.array([first[todo[m]] for m in miss], dtype=object))
        b = shapely.boundary(np.array([second[todo[m]] for m in miss], dtype=object))
        got = shapely.length(shapely.intersection(a, b, grid_size=GRID)).tolist()
        if len(_SHARED) > _SHARED_MAX:
            _SHARED.clear()
        for m, v in zip(miss, got, strict=True):
            _SHARED[keys[m]] = lengths[m] = v
    for n, v in zip(todo, lengths, strict=True):
        out[n] = v >= min_shared  # type: ignore[operator]
    return out


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
    done: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for i in changed:
        done.add(i)
        if cells[i].is_empty:
            continue
        if tree is None:
            pool = [j for j in candidates if j not in done and not cells[j].is_empty]
            if not pool:
                continue
            touching = shapely.intersects(cells[i], np.array([cells[j] for j in pool], dtype=object))
            pairs.extend((i, j) for j, t in zip(pool, touching.tolist(), strict=True) if t)
        else:  # the tree's query already kept the cells that intersect this one
            hits = tree.query(cells[i], predicate="intersects")
            pairs.extend((i, int(j)) for j in hits if int(j) not in done and not cells[int(j)].is_empty)
    if not pairs:
        return
    linked = _linked([cells[i] for i, _ in pairs], [cells[j] for _, j in pairs], min_shared)
    for (i, j), yes in zip(pairs, linked, strict=True):
        if yes:
            adj[i].add(j)
            adj[j].add(i)


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
        # Edges held exactly by both cells settle most pairs, the hot-pixel bound the slices of split
        # buildings against their neighbours; the rest are overlaid on the grid.
        exact = np.array(_exact_shared(cells, list(zip(left.tolist(), right.tolist(), strict=True))))
        sure = exact >= min_shared + _SURE
        shared = np.where(sure, exact, 0.0)
        rest = np.flatnonzero(~sure)
        if len(rest):
            low = _shared_lower([cells[i] for i in left[rest]], [cells[j] for j in right[rest]])
            bound = low >= min_shared + _SURE
            shared[rest[bound]] = low[bound]
            rest = rest[~bound]
        if len(rest):
            shared[rest] = shapely.length(
                shapely.intersection(
                    shapely.boundary(arr[left[rest]]), shapely.boundary(arr[right[rest]]), grid_size=GRID
                )
            )
        for a, b, s in zip(left.tolist(), right.tolist(), shared.tolist(), strict=True):
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


SEAL_TOL = 0.015  # m: how far from an edge a vertex of the cell across is inserted into it (two roundings
# of one crossing, one each way: up to 2 × 7 mm)
SEAL_SLIVER = 1e-6  # m²: an overlap of two cells above this is a sliver to take away (exact edges give ~0)
SEAL_LOST = 0.035  # m²: the gap a cell giving a sliver up may open (snapping a sharp tip of the cell to
# the grid cuts it short by centimetres that no cell covers; then an overlap when sealed again). Smaller
# gaps are left to the holes around to fill: the unsnapped cut taken instead overlaps more downstream.
SEAL_ROUNDS = 3  # a sliver taken away snaps the cell's outline anew: sealed again from there


def _insert_vertices(cells: list[BaseGeometry], tree: shapely.STRtree, sources: list[int]) -> set[int]:
    """Insert the vertices of the cells `sources` into every edge of another cell passing within
    `SEAL_TOL` of them (T-junctions a cut left: its pieces got snapped vertices on an edge that the
    cell across does not have). Vertices within `SEAL_TOL` of one of the cell's own are left out, so no
    vertex moves. Returns the cells changed."""
    arr = np.array(cells, dtype=object)
    src = [i for i in sources if not arr[i].is_empty]
    if not src:
        return set()
    xy = np.rint(shapely.get_coordinates(arr[src]) / GRID).astype(np.int64)
    low = xy.min(axis=0)
    packed = np.unique(((xy[:, 0] - low[0]) << 31) | (xy[:, 1] - low[1]))  # grid units: 31 bits each
    q = np.column_stack([(packed >> 31) + low[0], (packed & ((1 << 31) - 1)) + low[1]])
    pts = shapely.points(q / PER_M)
    pi, ci = tree.query(pts, predicate="dwithin", distance=SEAL_TOL)
    if not len(pi):
        return set()
    # (Snapping inserts only the points within SEAL_TOL of an edge; leaving out those near a vertex of
    # the cell keeps every vertex where it is.)
    held, inv = np.unique(ci, return_inverse=True)
    keep = shapely.distance(pts[pi], shapely.extract_unique_points(arr[held])[inv]) > SEAL_TOL
    pi, ci = pi[keep], ci[keep]
    order = np.argsort(ci, kind="stable")
    pi, ci = pi[order], ci[order]
    changed: set[int] = set()
    if not len(ci):
        return changed
    starts = np.flatnonzero(np.r_[True, ci[1:] != ci[:-1]])
    for s0, s1 in zip(starts.tolist(), [*starts[1:].tolist(), len(ci)], strict=True):
        c = int(ci[s0])
        snapped = shapely.snap(arr[c], shapely.multipoints(q[pi[s0:s1]] / PER_M), SEAL_TOL)
        if shapely.get_num_coordinates(snapped) == shapely.get_num_coordinates(arr[c]):
            continue  # nothing inserted
        if snapped.geom_type == "Polygon" and snapped.is_valid and abs(snapped.area - arr[c].area) < 1.0:
            cells[c] = snapped
            changed.add(c)
    return changed


def _unmatched(cells: list[BaseGeometry], boundary: BaseGeometry) -> set[int]:
    """Cells with an edge that no other cell holds (same ends on the grid), off the community's outline."""
    return _lone_edges(cells, boundary)[0]


def _lone_edges(cells: list[BaseGeometry], boundary: BaseGeometry) -> tuple[set[int], np.ndarray]:
    """`_unmatched`, and those edges' ends (grid units, one row each: x0, y0, x1, y1)."""
    owner, ends, _length = _edges(cells)
    if not len(ends):
        return set(), ends
    rel = ends - np.tile(ends[:, :2].min(axis=0), 2)  # grid units from the corner: 31 bits a coordinate
    first, second = (rel[:, 0] << 31) | rel[:, 1], (rel[:, 2] << 31) | rel[:, 3]
    order = np.lexsort((second, first))
    f, t = first[order], second[order]
    same = (f[1:] == f[:-1]) & (t[1:] == t[:-1])
    held = np.zeros(len(order), dtype=bool)
    held[1:] |= same
    held[:-1] |= same
    lone = order[~held]
    if not len(lone):
        return set(), ends[:0]
    mid = shapely.points((ends[lone, :2] + ends[lone, 2:]) * (GRID / 2))
    outline = shapely.set_precision(boundary, GRID).boundary
    inside = shapely.distance(mid, outline) > GRID
    return set(owner[lone[inside]].tolist()), ends[lone[inside]]


def seal(cells: list[BaseGeometry], cut: list[int], boundary: BaseGeometry) -> None:
    """Make the cells of cut buildings (`cut`) and their neighbours tile exactly again (in place).

    Each cut snaps the points where its line crosses the cell's outline to the 1 cm grid, so a piece's
    edge bends by up to 7 mm where the cell across keeps it straight: slivers along long edges. The
    vertices of the pieces are inserted into the edges of the cells around them (which closes the gaps
    too); what overlaps still (two cuts rounding one crossing to pixels 1 cm apart) is taken from one
    of the two cells, and a gap that opens (below 1 m², inside the community `boundary`) goes to the
    cell sharing the longest border with it. Last, the cells around a vertex left off the grid or lying
    in the 1 cm pixel of an edge that does not hold it are tiled again on the grid together (`_retile`).
    A function of the cells alone: a re-grid that rebuilds the same cells seals them the same way (a
    cell next to a piece the re-grid cuts otherwise may take other vertices from it: millimetres)."""
    sources = [i for i in cut if not cells[i].is_empty]
    loose: set[int] = set()  # cells that gave a sliver up unsnapped
    for _round in range(SEAL_ROUNDS):
        if not sources:
            break
        sources = sorted(_seal_round(cells, sources, boundary, loose))
    _close_gaps(cells, boundary)
    _retile(cells, _off_grid(cells, sorted(loose)), boundary)
    _retile(cells, _unstable(cells), boundary)


def _close_gaps(cells: list[BaseGeometry], boundary: BaseGeometry) -> None:
    """Slivers that edges no other cell holds enclose and no cell covers (two roundings of one crossing
    1 cm apart, leaving a gap and no overlap) go to the cell sharing the longest border with them."""
    _owners, ends = _lone_edges(cells, boundary)
    if len(ends) < 3:
        return
    lines = shapely.linestrings(np.stack([ends[:, :2], ends[:, 2:]], axis=1) / PER_M)
    faces = [f for f in polygonize(list(lines)) if 0 < f.area < 1.0]
    if not faces:
        return
    arr = np.array(cells, dtype=object)
    tree = shapely.STRtree(arr)
    inner = shapely.point_on_surface(np.array(faces, dtype=object))
    hit, _cell = tree.query(inner, predicate="within")
    gaps = [f for k, f in enumerate(faces) if k not in set(hit.tolist())]
    if gaps:
        merge_strays(cells, gaps)


SEAL_DEBRIS = 0.001  # m²: parts a cell giving a sliver up may lose besides (left beyond a crossing)


def _without_debris(geom: BaseGeometry) -> BaseGeometry:
    """A multipolygon whose parts but the biggest are below SEAL_DEBRIS in all, as that part alone: three
    cells meeting where two roundings of one point lie 1 cm apart leave a speck of a few cm² beyond the
    crossing of the edges (0.00003 m²; the sliver then stayed, 0.07 m² in a 0.04 km² community)."""
    if geom.geom_type != "MultiPolygon":
        return geom
    parts = sorted(geom.geoms, key=lambda g: -g.area)
    return parts[0] if sum(g.area for g in parts[1:]) < SEAL_DEBRIS else geom


def _lost(
    cells: list[BaseGeometry], tree: shapely.STRtree, loser: int, winner: int, rest: BaseGeometry
) -> float:
    """Area of cell `loser` outside `winner` that `rest` (the cell less `winner`, snapped) no longer
    covers and no other cell covers either: the gap giving the sliver up would open."""
    gone = shapely.difference(shapely.difference(cells[loser], cells[winner]), rest)
    if gone.area <= SEAL_LOST:
        return float(gone.area)
    near = [j for j in tree.query(gone, predicate="intersects").tolist() if j not in (loser, winner)]
    if near:
        gone = shapely.difference(gone, shapely.union_all([cells[j] for j in near]))
    return float(gone.area)


def _seal_round(
    cells: list[BaseGeometry], sources: list[int], boundary: BaseGeometry, loose: set[int]
) -> set[int]:
    """One round of `seal` from the cells `sources`; returns the cells a sliver was taken from and
    those that kept it (the snapped outline may in turn leave T-junctions: the next round's sources).
    Adds to `loose` the cells that gave a sliver up unsnapped."""
    tree = shapely.STRtree(np.array(cells, dtype=object))
    changed = _insert_vertices(cells, tree, sources)
    arr = np.array(cells, dtype=object)
    if changed:
        tree = shapely.STRtree(arr)
    # Two cells overlap only where an edge of each is held by no other cell: only those are looked at.
    look = sorted((set(sources) | changed) & _unmatched(cells, boundary))
    left, right = tree.query(arr[look], predicate="overlaps")
    left = np.asarray(look)[left]
    pairs = {(min(a, b), max(a, b)) for a, b in zip(left.tolist(), right.tolist(), strict=True) if a != b}
    pa = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    touched: set[int] = set()
    if not len(pa):
        return touched
    over = shapely.area(shapely.intersection(arr[pa[:, 0]], arr[pa[:, 1]])) > SEAL_SLIVER
    for a, b in pa[over].tolist():
        # The bigger cell gives the sliver up, else the smaller: whichever is left in one piece and
        # clear of the other (snapped to the grid, a sliver 1 cm wide can stay in the bigger one).
        # Failing both, one loses it unsnapped (a vertex off the grid where the edges cross).
        first, second = (a, b) if cells[a].area >= cells[b].area else (b, a)
        for loser, winner, grid in (
            (first, second, GRID),
            (second, first, GRID),
            (first, second, None),
            (second, first, None),
        ):
            rest = _without_debris(polygonal(shapely.difference(cells[loser], cells[winner], grid_size=grid)))
            if (
                rest.geom_type == "Polygon"
                and not rest.is_empty
                and shapely.intersection(rest, cells[winner]).area <= SEAL_SLIVER
                and _lost(cells, tree, loser, winner, rest) <= SEAL_LOST
            ):
                cells[loser] = rest
                touched |= {loser, winner}
                if grid is None:
                    loose.add(loser)
                break
    if not touched:
        return touched
    # A sliver taken away can open a gap on the cell's far side (its outline snapped anew): holes of
    # the union of the cells around, inside the community, go to the cell sharing the longest border.
    around = tree.query(np.array([cells[i] for i in touched], dtype=object), predicate="intersects")[1]
    near = sorted(set(around.tolist()) | touched)
    union = shapely.union_all([cells[i] for i in near], grid_size=GRID)
    holes = [
        Polygon(ring)
        for part in polygons_of(union)
        for ring in part.interiors
        if Polygon(ring).area < 1.0 and boundary.contains(Polygon(ring).representative_point())
    ]
    if holes:
        before = list(cells)
        merge_strays(cells, holes)
        touched |= {i for i in near if cells[i] is not before[i]}
    return touched


RETILE_RINGS = 3  # rings of cells around an off-grid vertex a re-tiling may take in before it gives up
RETILE_SAME = 1e-9  # m²: a cell of the outer ring re-tiled keeps its area within this (a face on the grid
# is at least 0.5 cm²)
RETILE_NEAR = 1e-6  # m: a vertex a cell of the outer ring takes lies this close to its outline


def _off_grid(cells: list[BaseGeometry], among: list[int]) -> list[int]:
    """The cells `among` with a vertex off the 1 cm grid (beyond float noise)."""
    if not among:
        return []
    xy, owner = shapely.get_coordinates(np.array([cells[i] for i in among], dtype=object), return_index=True)
    off = np.abs(xy / GRID - np.rint(xy / GRID)).max(axis=1) > 1e-6
    return sorted({among[k] for k in owner[off].tolist()})


def _retile(cells: list[BaseGeometry], seeds: list[int], boundary: BaseGeometry) -> None:
    """Re-tile exactly, on the 1 cm grid, the cells `seeds` and the ring around them (in place).

    Two cases call for it. A vertex the seal left off the grid (`_off_grid` of the cells that gave a
    sliver up unsnapped, where neither cell could give it up snapped): any later snapping (the areas'
    dissolve) moves it up to 7 mm off the edge across, and the edges 1 cm apart around it no longer
    meet: a sliver along a 20 m edge. And a vertex within the 1 cm pixel of an edge of another cell
    that does not hold it (`_unstable`): the dissolve of the vertex's area bends that edge through it,
    the area across keeps it straight. Here the outlines of the cells and of the ring around them are
    noded together with snap rounding (one arrangement on the grid: every vertex and crossing one of
    all the edges through its pixel), and each face of it goes to the cell holding it
    (`_faces_to_cells`). The outer ring must come out as it was, else one more ring is taken in (up to
    `RETILE_RINGS`); failing that the cells are left as they are (so where the cells around are off
    the grid themselves, read back from lon/lat)."""
    if not seeds:
        return
    arr = np.array(cells, dtype=object)
    tree = shapely.STRtree(arr)
    inner = set(seeds)
    for _ring in range(RETILE_RINGS):
        near = tree.query(arr[sorted(inner)], predicate="dwithin", distance=SEAL_TOL)[1]
        outer = sorted({int(j) for j in near.tolist()} - inner)
        outer = [j for j in outer if not cells[j].is_empty]
        got = _faces_to_cells(cells, sorted(inner), outer, boundary)
        if got is not None:
            for i, geom in got.items():
                cells[i] = geom
            return
        if not outer:
            return
        inner |= set(outer)


@_jit
def _through_pixels(q, segs, seg_ptr, vx, vy, pv, pc):  # type: ignore[no-untyped-def]
    """For each pair (vertex pv, geometry pc): whether an edge of the geometry meets the vertex's pixel
    (grid units) while no edge of it ends there."""
    out = np.zeros(len(pv), dtype=np.bool_)
    for p in range(len(pv)):
        x, y, c = vx[pv[p]], vy[pv[p]], pc[p]
        held = False
        hit = False
        for s in range(seg_ptr[c], seg_ptr[c + 1]):
            k = segs[s]
            px, py, qx, qy = q[k, 0], q[k, 1], q[k + 1, 0], q[k + 1, 1]
            if (px == x and py == y) or (qx == x and qy == y):
                held = True
                break
            if not hit:
                hit, _t = _meets_pixel(px, py, qx, qy, x, y, 0.5)
        out[p] = hit and not held
    return out


def _unstable(cells: list[BaseGeometry]) -> list[int]:
    """Cells with an edge through the 1 cm pixel of a vertex that they do not hold, and the cells holding
    that vertex: snapped with the vertex's area alone, the edge bends through it. Cells with a vertex off
    the grid (read back from lon/lat) are left out."""
    arr = np.array(cells, dtype=object)
    rings, ring_geom = shapely.get_rings(arr, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    if not len(xy):
        return []
    q = np.rint(xy / GRID)
    geom_of = ring_geom[ring_of]
    off = np.zeros(len(cells), dtype=bool)
    off[geom_of[np.abs(xy / GRID - q).max(axis=1) > 1e-6]] = True
    k = np.flatnonzero(ring_of[1:] == ring_of[:-1])
    seg_ptr = np.zeros(len(cells) + 1, dtype=np.int64)
    np.cumsum(np.bincount(geom_of[k], minlength=len(cells)), out=seg_ptr[1:])
    on = ~off[geom_of]
    qi = q[on].astype(np.int64)
    low = qi.min(axis=0)
    keys = ((qi[:, 0] - low[0]) << 31) | (qi[:, 1] - low[1])  # grid units from the corner: 31 bits each
    packed, first = np.unique(keys, return_index=True)
    v = qi[first]
    lo, hi = (v - 0.5) / PER_M, (v + 0.5) / PER_M
    live = np.flatnonzero(~off & ~shapely.is_empty(arr))
    pv, pc = shapely.STRtree(arr[live]).query(shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]))
    pc = live[pc]
    hit = _through_pixels(
        q, k.astype(np.int64), seg_ptr, v[:, 0].astype(float), v[:, 1].astype(float), pv, pc
    )
    if not hit.any():
        return []
    holders = geom_of[on][np.isin(keys, packed[pv[hit]])]
    return sorted(set(pc[hit].tolist()) | set(holders.tolist()))


def _faces_to_cells(
    cells: list[BaseGeometry], inner: list[int], outer: list[int], boundary: BaseGeometry
) -> dict[int, BaseGeometry] | None:
    """The cells `inner` and `outer` re-tiled from the faces of their outlines noded on the grid: a face
    goes to the cell holding a point inside it (of several, the smallest cell; an overlap), one held by
    none (a gap inside the `boundary`, below 1 m²) to the cell sharing the longest border with it. None
    if a cell of `outer` is off the grid or would change (it may take a vertex of `inner` on its edge),
    or one of `inner` ends in several parts."""
    if _off_grid(cells, outer):
        return None  # (cells read back from lon/lat: the grid would move them)
    ids = inner + outer
    old = [cells[i] for i in ids]
    noded = shapely.union_all(shapely.boundary(np.array(old, dtype=object)), grid_size=GRID)
    faces = [f for f in polygons_of(shapely.polygonize(_lines_of(noded))) if f.area > 0]
    if not faces:
        return None
    # A point inside each face, against the cells as they were (a predicate, no overlay: on the grid the
    # overlay folds slivers under a pixel wide away, and GEOS 3.14's floating one gives two cells sharing
    # an edge whose vertex is 1 ulp off the grid the whole of one as their intersection).
    inside = shapely.point_on_surface(np.array(faces, dtype=object))
    fi, ci = shapely.STRtree(np.array(old, dtype=object)).query(inside, predicate="within")
    owner = [-1] * len(faces)
    for f, c in sorted(zip(fi.tolist(), ci.tolist(), strict=True)):
        o = owner[f]
        if o < 0 or (old[c].area, c) < (old[o].area, o):  # an overlap: the smaller cell keeps it
            owner[f] = c
    mine: list[list[BaseGeometry]] = [[] for _ in ids]
    gaps = []
    for f, o in zip(faces, owner, strict=True):
        if o >= 0:
            mine[o].append(f)
        elif f.area < 1.0 and boundary.contains(f.representative_point()):
            gaps.append(f)
    new = [polygonal(shapely.union_all(m, grid_size=GRID)) if m else Polygon() for m in mine]
    strays = []
    for k, geom in enumerate(new):
        parts = sorted(polygons_of(geom), key=lambda p: -p.area)
        if len(parts) > 1 and sum(p.area for p in parts[1:]) < 1.0:
            new[k] = parts[0]
            strays.extend(parts[1:])
    new = merge_strays(new, gaps + strays)
    for k in range(len(ids)):
        if k >= len(inner):
            if not _same_outline(new[k], old[k]):
                return None
            if shapely.get_num_coordinates(new[k]) == shapely.get_num_coordinates(old[k]):
                new[k] = old[k]  # no vertex taken: the cell as it was
        elif new[k].geom_type != "Polygon" or new[k].is_empty or not new[k].is_valid:
            return None
    return {i: g for i, g, o in zip(ids, new, old, strict=True) if g is not o}


def _same_outline(new: BaseGeometry, old: BaseGeometry) -> bool:
    """Whether `new` is `old` (on the grid) but for vertices inserted into its edges: every vertex of
    `old` is one of `new`, every other vertex of `new` lies on the outline of `old`, the same area."""
    if new.geom_type != old.geom_type or abs(new.area - old.area) > RETILE_SAME:
        return False
    a = np.rint(shapely.get_coordinates(new) / GRID).astype(np.int64)
    b = np.rint(shapely.get_coordinates(old) / GRID).astype(np.int64)
    have = {tuple(v) for v in a.tolist()}
    if any(tuple(v) not in have for v in b.tolist()):
        return False
    known = {tuple(v) for v in b.tolist()}
    extra = [v for v in a.tolist() if tuple(v) not in known]
    if not extra:
        return True
    return bool((shapely.distance(shapely.points(np.array(extra) / PER_M), old.boundary) < RETILE_NEAR).all())


def _lines_of(geom: BaseGeometry) -> list[BaseGeometry]:
    """The line parts of an overlay of lines (for `polygonize`)."""
    if geom.is_empty:
        return []
    return [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in ("LineString", "LinearRing")]
