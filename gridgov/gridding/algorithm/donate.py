"""Last resort for an undersized group: a neighbouring building gives it a few households.

When no re-cut of the neighbourhood works (typically a group of 9–14 households wedged between
buildings of 16–20), the engine splits one adjacent building by unit/floor: the run at its end
joins the undersized group, the rest stays where it was. Each donation cuts one more building,
so it is used only where the numbers leave no other way.
"""

from __future__ import annotations

import math
from bisect import insort
from dataclasses import dataclass, replace
from itertools import chain, pairwise
from operator import attrgetter

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from . import compiled
from .model import Item
from .repair import components
from .tessellate import (
    CUT_MEMOS,
    GRID,
    MEMO_MAX,
    cut_positions,
    merge_strays,
    polygonal,
    polygons_of,
    relink,
    rotate,
    slice_cell,
)


def slice_toward(
    cell: BaseGeometry, target: tuple[float, float], share: float
) -> tuple[BaseGeometry, BaseGeometry]:
    """Cut `cell` across the direction to `target`; the piece on the target's side has `share` of the area
    (one piece for the donor; everything else of the cell goes to the receiver: no area lost)."""
    c = cell.centroid
    return _slice_at(cell, math.degrees(math.atan2(target[1] - c.y, target[0] - c.x)), share)


def donate(
    groups: list[list[int]],
    items: list[Item],
    weights: list[float],
    xs: list[float],
    ys: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    household_weights: dict[str, tuple[float, ...]],
    log: list[Donation] | None = None,
    only: set[int] | None = None,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """Give undersized groups households from adjacent buildings (appends new items in place), on the
    neighbour graph alone: the new item borrows the donor's neighbours and the donation is recorded in
    `log`; the cells are cut afterwards (`engine.cut_shared_buildings`). `weights`, `xs`, `ys` and `adj`
    grow in place with the new items. With `graph` (`adj` as CSR arrays) it runs compiled
    (`donate_arrays`): the same donations."""
    if compiled.ENABLED and graph is not None:
        return _donate_compiled(
            groups, items, weights, xs, ys, adj, lo, hi, household_weights, log, only, graph
        )
    owner = {m: gi for gi, g in enumerate(groups) for m in g}
    top: dict[str, int] = {}  # highest part number of each building (a donation numbers its run next)
    for it in items:
        known = top.get(it.building)
        if known is None or it.part > known:
            top[it.building] = it.part
    weight = weights.__getitem__
    sizes = [sum(map(weight, g)) for g in groups]
    # The groups to look at, in index order: the short ones (a donor keeps at least the floor, so no
    # other group turns short; one that would, by rounding, joins the list if it comes later).
    todo = [gi for gi, s in enumerate(sizes) if s < lo - 1e-9]
    at = 0
    while at < len(todo):
        gi = todo[at]
        at += 1
        if only is not None and gi not in only:
            continue
        for _attempt in range(3):
            s = sizes[gi]
            if s >= lo - 1e-9 or not groups[gi]:
                break
            cx = sum(xs[m] for m in groups[gi]) / len(groups[gi])
            cy = sum(ys[m] for m in groups[gi]) / len(groups[gi])
            best = None
            for a in groups[gi]:
                for c in adj[a]:
                    h = owner.get(c)
                    if h is None or h == gi or items[c].count < 2:
                        continue
                    spare = sizes[h] - lo
                    hw = household_weights[items[c].building][
                        items[c].first : items[c].first + items[c].count
                    ]
                    # Take the shortest run from the end that reaches the need without starving the donor.
                    t, k = 0.0, 0
                    for w in reversed(hw[1:]):
                        if t >= lo - s - 1e-9:
                            break
                        t += w
                        k += 1
                    if k == 0 or t > spare + 1e-9 or s + t > hi + 1e-9:
                        # Not enough on its own: give what it can spare (a second donor does the rest).
                        t, k = 0.0, 0
                        for w in reversed(hw[1:]):
                            if t + w > spare + 1e-9 or s + t + w > hi + 1e-9:
                                break
                            t += w
                            k += 1
                        if k == 0:
                            continue
                    # A building already cut (a slice) costs no new cut: prefer it over a whole one; then
                    # the nearest, and of equally near ones the first item (not the first met: the order
                    # of the neighbour sets is no tie-break, so `compiled.donate_groups` can make the same
                    # choice).
                    dx, dy = xs[c] - cx, ys[c] - cy
                    score = (s + t < lo - 1e-9, items[c].part == 0, dx * dx + dy * dy, c)
                    if best is None or score < best[0]:
                        best = (score, c, h, k, t)
            if best is None:
                break
            _, c, h, k, t = best
            item = items[c]
            # (`dataclasses.replace`, spelled out: it is slow)
            keep = Item(item.building, item.part, item.first, item.count - k, item.weight - t, item.x, item.y)
            first = item.first + item.count - k
            give = Item(item.building, top[item.building] + 1, first, k, t, item.x, item.y)
            items[c] = keep
            items.append(give)
            top[item.building] = give.part
            new = len(items) - 1
            weights[c] -= t
            weights.append(t)
            if log is not None:
                log.append(Donation(c, len(items) - 1, cx, cy, t / max(weights[c] + t, 1e-9)))
            xs.append(xs[c])
            ys.append(ys[c])
            adj.append(set(adj[c]) | {c})
            for nb in adj[new]:
                adj[nb].add(new)
            groups[gi].append(new)
            owner[new] = gi
            sizes[gi] += t
            sizes[h] -= t
            if h > gi and sizes[h] < lo - 1e-9 and h not in todo[at:]:
                insort(todo, h, lo=at)
    return groups


def _donate_compiled(
    groups: list[list[int]],
    items: list[Item],
    weights: list[float],
    xs: list[float],
    ys: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    household_weights: dict[str, tuple[float, ...]],
    log: list[Donation] | None,
    only: set[int] | None,
    graph: tuple[np.ndarray, np.ndarray],
) -> list[list[int]]:
    """`donate` through `donate_arrays`, its results put back into the lists and sets."""
    ends = np.zeros(len(groups) + 1, dtype=np.int64)
    np.cumsum([len(g) for g in groups], out=ends[1:])
    members = np.fromiter(chain.from_iterable(groups), dtype=np.int64, count=int(ends[-1]))
    allowed = None
    if only is not None:
        allowed = np.zeros(len(groups), dtype=np.bool_)
        allowed[[g for g in only if 0 <= g < len(groups)]] = True
    n = len(items)
    got = donate_arrays(
        members, ends, graph, np.array(weights, dtype=np.float64), np.array(xs, dtype=np.float64),
        np.array(ys, dtype=np.float64), items, household_weights, lo, hi, allowed,
    )  # fmt: skip
    if log is not None:
        log.extend(got.donations)
    grown_links(adj, got.donations)
    weights[:] = got.weights.tolist()
    xs += got.xs[n:].tolist()
    ys += got.ys[n:].tolist()
    flat, bounds = got.members.tolist(), got.ends.tolist()
    groups[:] = [flat[a:b] for a, b in pairwise(bounds)]
    return groups


def grown_links(adj: list[set[int]], donations: list[Donation]) -> None:
    """`adj` as `donate` leaves it after `donations`: each given item borrows its donor's neighbours (and
    the donor), both ways."""
    for d in donations:
        links = set(adj[d.donor])
        links.add(d.donor)
        adj.append(links)
        for nb in links:
            adj[nb].add(d.given)


@dataclass
class Donated:
    """What `donate_arrays` did: the donations in order (donation k made item `n + k`), the groups with
    their given items appended (`members[ends[g]:ends[g + 1]]`), the items' weights and centres, and the
    neighbour graph with the given items (CSR arrays)."""

    donations: list[Donation]
    members: np.ndarray
    ends: np.ndarray
    weights: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    graph: tuple[np.ndarray, np.ndarray]


_COUNT = attrgetter("count")


def donate_arrays(
    members: np.ndarray,
    ends: np.ndarray,
    graph: tuple[np.ndarray, np.ndarray],
    weights: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    items: list[Item],
    household_weights: dict[str, tuple[float, ...]],
    lo: float,
    hi: float,
    allowed: np.ndarray | None = None,
) -> Donated:
    """`donate` compiled (`compiled.donate_groups`), on the groups and the graph as arrays; `items` grows
    in place (donors keep their first households, the runs given become new items). `allowed`: the
    groups that may take donations (default all)."""
    n = len(items)
    count = np.fromiter(map(_COUNT, items), dtype=np.int64, count=n)
    known = np.zeros(n, dtype=np.bool_)
    whole = np.zeros(n, dtype=np.bool_)
    hw_at = np.zeros(n, dtype=np.int64)
    offset: dict[str, int] = {}
    chunks: list[tuple[float, ...]] = []  # households of the buildings learnt, not yet in `hw`
    size = 0
    hw = np.zeros(0, dtype=np.float64)

    def learn(ids: list[int]) -> None:
        # The households of the items that may donate (only those: a pass over every item costs more).
        nonlocal size
        get = offset.get
        ats, parts = [], []
        for it in map(items.__getitem__, ids):
            at = get(it.building)
            if at is None:
                h = household_weights[it.building]
                at = offset[it.building] = size
                chunks.append(h)
                size += len(h)
            ats.append(at + it.first)
            parts.append(it.part)
        hw_at[ids] = ats
        whole[ids] = np.array(parts, dtype=np.int64) == 0
        known[ids] = True

    learn(compiled.donor_candidates(members, ends, *graph, weights, count, float(lo)).tolist())
    if allowed is None:
        allowed = np.ones(len(ends) - 1, dtype=np.bool_)
    while True:
        more = np.fromiter(chain.from_iterable(chunks), dtype=np.float64, count=size - len(hw))
        hw = np.concatenate([hw, more])
        chunks.clear()
        out = compiled.donate_groups(
            members, ends, *graph, weights, xs, ys, known, count, whole, hw_at, hw, float(lo), float(hi),
            allowed,
        )  # fmt: skip
        if out[0] == 0:
            break
        learn(np.unique(out[-1]).tolist())  # (a group left short by rounding, or a donor's donor)
    _, d_int, d_flt, members, ends, weights, xs, ys, g_ptr, g_idx, _ = out
    donations: list[Donation] = []
    if len(d_int):
        donors = set(d_int[:, 0].tolist())
        buildings = {items[c].building for c in donors if c < n}
        top = dict.fromkeys(buildings, 0)  # highest part number of each donor's building
        for it in items:
            if it.building in top and it.part > top[it.building]:
                top[it.building] = it.part
        for (c, _g, k), (t, cx, cy, share) in zip(d_int.tolist(), d_flt.tolist(), strict=True):
            item = items[c]
            b, first = item.building, item.first + item.count - k
            items[c] = Item(b, item.part, item.first, item.count - k, item.weight - t, item.x, item.y)
            top[b] += 1
            items.append(Item(b, top[b], first, k, t, item.x, item.y))
            donations.append(Donation(c, len(items) - 1, cx, cy, share))
    return Donated(donations, members, ends, weights, xs, ys, (g_ptr, g_idx))


@dataclass(frozen=True)
class Donation:
    """Households of item `donor` that became item `given`, to be cut off the side facing `toward`."""

    donor: int
    given: int
    toward_x: float
    toward_y: float
    share: float  # of the donor's weight at the time of the donation


def undo(
    items: list[Item],
    area_of: list[int],
    cells: list[BaseGeometry],
    adj: list[set[int]],
    donations: list[Donation],
    buildings: set[str],
    min_shared: float,
    angles: dict[str, float] | None = None,
    wholes: dict[str, BaseGeometry] | None = None,
) -> tuple[list[Item], list[int], list[Donation]]:
    """Take back every donation made by `buildings`: the households rejoin their donor item and area
    (which was in range before it gave them), the building's cell is re-cut for the items it has left,
    and `cells` and `adj` are re-indexed in place. Returns items, their areas and the other donations."""
    undone = [d for d in donations if items[d.donor].building in buildings]
    gone = {d.given for d in undone}
    items = list(items)
    for d in reversed(undone):  # runs were cut off the donor's end: in reverse they join up again
        donor, given = items[d.donor], items[d.given]
        items[d.donor] = replace(donor, count=donor.count + given.count, weight=donor.weight + given.weight)
    keep = [i for i in range(len(items)) if i not in gone]
    index = {old: k for k, old in enumerate(keep)}
    whole: dict[str, list[BaseGeometry]] = {}
    for i, it in enumerate(items):
        if it.building in buildings and not cells[i].is_empty:
            whole.setdefault(it.building, []).append(cells[i])
    adj[:] = [{index[j] for j in adj[i] if j in index} for i in keep]
    cells[:] = [cells[i] for i in keep]
    items = [items[i] for i in keep]
    area_of = [area_of[i] for i in keep]
    by_building: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if it.building in buildings:
            by_building.setdefault(it.building, []).append(i)
    changed: list[int] = []
    for b, parts in by_building.items():
        parts.sort(key=lambda i: items[i].first)
        cell = (wholes or {}).get(b) or (_union(whole[b]) if b in whole else Polygon())
        w = [items[i].weight for i in parts]
        pieces = slice_cell(cell, w, (angles or {}).get(b)) if len(parts) > 1 else [cell]
        for i, c in zip(parts, pieces, strict=True):
            cells[i] = c
        changed.extend(parts)
    if changed:
        relink(cells, adj, changed, min_shared)
    rest = [
        Donation(index[d.donor], index[d.given], d.toward_x, d.toward_y, d.share)
        for d in donations
        if d.given not in gone
    ]
    return items, area_of, rest


def _union(geoms: list[BaseGeometry]) -> BaseGeometry:
    if not geoms:
        return Polygon()
    return polygonal(shapely.union_all(geoms, grid_size=GRID)) if len(geoms) > 1 else geoms[0]


FACING_TURNS = (0.0, -25.0, 25.0, -50.0, 50.0, -75.0, 75.0)  # degrees off the direction to the area
TURN_BELOW = 0.5  # a straight cut leaving an area's hull Polsby–Popper below this may turn…
TURN_GAIN = 0.05  # …when turning gains at least this much


_SLICED: dict[tuple[bytes, float, float], tuple[BaseGeometry, BaseGeometry]] = {}
CUT_MEMOS.append(_SLICED)


def _slice_at(cell: BaseGeometry, angle: float, share: float) -> tuple[BaseGeometry, BaseGeometry]:
    """`slice_toward` by direction: the piece cut off on the side `angle` (degrees) has `share` of it.
    Remembered by the cell's shape, `angle` and `share`: a building cut again to face its areas (the
    re-cuts after the partition) tries the same turns of the same cuts."""
    key = (cell.wkb, angle, share)
    known = _SLICED.get(key)
    if known is None:
        if len(_SLICED) >= MEMO_MAX:
            _SLICED.clear()
        known = _SLICED[key] = _cut_at(cell, angle, share)
    return known


def _cut_at(cell: BaseGeometry, angle: float, share: float) -> tuple[BaseGeometry, BaseGeometry]:
    """`_slice_at`, computed."""
    c = cell.centroid
    rotated = rotate(cell, -angle, (c.x, c.y))
    minx, miny, _maxx, maxy = rotated.bounds
    cut = cut_positions(rotated, [1.0 - share])[0]
    far = rotate(shapely.box(minx - 1, miny - 1, cut, maxy + 1), angle, (c.x, c.y))
    keep = _one(shapely.intersection(cell, far, grid_size=GRID))
    give = polygonal(shapely.difference(cell, keep, grid_size=GRID))
    return keep, give


BITE_BELOW = 0.45  # a straight or turned cut leaving a hull Polsby–Popper below this may bite instead
BITE_CENTRES = 12  # centres of bites tried, evenly along the cell's outline


def _bites(
    cell: BaseGeometry, target: tuple[float, float], share: float
) -> list[tuple[BaseGeometry, BaseGeometry]]:
    """Pieces with `share` of `cell` bitten out of its outline: discs centred on the outline (at the point
    nearest `target`, then evenly along it) with the radius that takes that share; (rest, piece) pairs
    whose rest stays in one piece."""
    ring = cell.exterior if isinstance(cell, Polygon) else None
    if ring is None or ring.length <= 0 or not 0 < share < 1:
        return []
    length = ring.length
    start = ring.project(shapely.Point(target))
    want = share * cell.area
    out = []
    for k in range(BITE_CENTRES):
        c = ring.interpolate((start + k * length / BITE_CENTRES) % length)
        low, high = 0.0, math.sqrt(cell.area)
        while shapely.intersection(cell, c.buffer(high, quad_segs=16)).area < want and high < length:
            high *= 2
        for _ in range(24):
            mid = (low + high) / 2
            if shapely.intersection(cell, c.buffer(mid, quad_segs=16)).area < want:
                low = mid
            else:
                high = mid
        give = _one(shapely.intersection(cell, c.buffer(high, quad_segs=16), grid_size=GRID))
        keep = polygonal(shapely.difference(cell, give, grid_size=GRID))
        if give.is_empty or len(polygons_of(keep)) != 1:
            continue
        out.append((keep, give))
    return out


def _hull_pp(*geoms: BaseGeometry | None) -> float:
    """Polsby–Popper of the convex hull of `geoms` together (None and empty ones left out)."""
    pts = [shapely.get_coordinates(g) for g in geoms if g is not None and not g.is_empty]
    if not pts:
        return 0.0
    hull = shapely.convex_hull(shapely.multipoints(np.vstack(pts)))
    perimeter = hull.length
    return 4 * math.pi * hull.area / perimeter**2 if perimeter > 0 else 0.0


def _facing(
    cell: BaseGeometry,
    run_w: list[float],
    targets: list[tuple[float, float]],
    hulls: list[BaseGeometry | None] | None = None,
) -> list[BaseGeometry]:
    """One piece of `cell` per run, in proportion to `run_w`: lightest first, each cut off toward its
    target; the heaviest keeps the rest. With `hulls` (the convex hull of each run's area without this
    building, or None), each cut may turn up to 75° off the direction to its target, whichever turn
    keeps both the run's area and the heaviest run's area the most compact (Polsby–Popper of their
    convex hulls with the pieces), but only where the straight cut leaves one of them thin."""
    remaining = sum(run_w)
    pieces: dict[int, BaseGeometry] = {}
    by_weight = sorted(range(len(run_w)), key=lambda k: run_w[k])
    heavy = by_weight[-1]
    rest = cell
    for k in by_weight[:-1]:
        share = run_w[k] / max(remaining, 1e-9)
        if hulls is None:
            rest, pieces[k] = slice_toward(rest, targets[k], share)
        else:
            c = rest.centroid
            toward = math.degrees(math.atan2(targets[k][1] - c.y, targets[k][0] - c.x))
            best: tuple[float, BaseGeometry, BaseGeometry] | None = None
            for turn in FACING_TURNS:
                keep, give = _slice_at(rest, toward + turn, share)
                if give.is_empty or keep.is_empty:
                    continue
                if hulls[k] is not None and shapely.distance(give, hulls[k]) > 0.05:
                    continue  # the piece would not reach its area
                score = min(_hull_pp(hulls[k], give), _hull_pp(hulls[heavy], keep))
                if best is None:
                    best = (score, keep, give)
                    if score >= TURN_BELOW:
                        break  # compact enough straight on
                elif score > best[0] + TURN_GAIN:
                    best = (score, keep, give)
            if best is not None and best[0] < BITE_BELOW:
                # No straight cut leaves both hulls compact enough (half of a long cell): bite the piece
                # out of the cell's side instead, a round piece that leaves the rest its whole hull.
                for keep, give in _bites(rest, targets[k], share):
                    if hulls[k] is not None and shapely.distance(give, hulls[k]) > 0.05:
                        continue
                    score = min(_hull_pp(hulls[k], give), _hull_pp(hulls[heavy], keep))
                    if score > best[0] + TURN_GAIN:
                        best = (score, keep, give)
            if best is None:
                rest, pieces[k] = slice_toward(rest, targets[k], share)
            else:
                _score, rest, pieces[k] = best
        remaining -= run_w[k]
    pieces[heavy] = rest
    return [pieces[k] for k in range(len(run_w))]


def _one(geom: BaseGeometry) -> BaseGeometry:
    parts = polygons_of(geom)
    if not parts:
        return Polygon()
    return max(parts, key=lambda p: p.area) if len(parts) > 1 else parts[0]


__all__ = [
    "Donated",
    "Donation",
    "donate",
    "donate_arrays",
    "face_areas",
    "grown_links",
    "slice_toward",
    "undo",
]


def face_areas(
    items: list[Item],
    cells: list[BaseGeometry],
    labels: list[object],
    adj: list[set[int]] | None = None,
    min_shared: float = 0.5,
    angles: dict[str, float] | None = None,
    wholes: dict[str, BaseGeometry] | None = None,
    only: set[str] | None = None,
) -> tuple[list[int], set[str]]:
    """Cut each building whose households sit in several areas so that each area's run of households
    gets the piece of the building's cell facing that area (in place); returns the items re-cut.

    The one rule for both a fresh plan and a re-grid, so a re-grid rebuilds exactly the cells of
    every building the change did not reach. `labels` name each item's area (index or code; falsy:
    unknown). Consecutive items (unit/floor order) with one label form a run; runs are cut off the
    building's cell lightest first, toward the centre of their area (its buildings' centres weighted
    by its households there); a run of several items is then sliced across its long axis. With `adj`
    (kept up to date), a building whose facing pieces would leave one of its areas in several pieces
    has its runs sliced across its long axis instead; returns the items cut and the buildings whose
    areas are still in pieces even so (for the caller to undo their donations). With `only`, just those
    buildings are cut again (after a local change, around it).
    """
    by_building: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        by_building.setdefault(it.building, []).append(i)
    # Centre of each building's whole cell (the union of its pieces, however they were cut), and of
    # each area: its buildings' centres weighted by the households it has in each.
    centre: dict[str, tuple[float, float]] = {}
    need = by_building
    if only is not None:
        # Only the areas of the buildings to cut need a centre, so only their buildings.
        labs = {labels[i] for b in only for i in by_building.get(b, [])}
        need = {it.building: by_building[it.building] for i, it in enumerate(items) if labels[i] in labs}
    for b, parts in need.items():
        geoms = [cells[i] for i in parts if not cells[i].is_empty]
        area = shapely.area(geoms) if geoms else np.zeros(1)
        xy = shapely.get_coordinates(shapely.centroid(geoms)) if geoms else np.zeros((1, 2))
        total = float(area.sum())
        if total > 0:
            centre[b] = (float((xy[:, 0] * area).sum() / total), float((xy[:, 1] * area).sum() / total))
        else:
            centre[b] = (items[parts[0]].x, items[parts[0]].y)
    sums: dict[object, list[float]] = {}
    for i, it in enumerate(items):
        if labels[i] and it.building in centre:
            s = sums.setdefault(labels[i], [0.0, 0.0, 0.0])
            s[0] += centre[it.building][0] * it.weight
            s[1] += centre[it.building][1] * it.weight
            s[2] += it.weight
    members: dict[object, list[int]] = {}
    if adj is not None:
        for i, lab in enumerate(labels):
            members.setdefault(lab, []).append(i)
    # The buildings to cut, their runs, their whole cells.
    todo: list[tuple[list[int], list[list[int]], BaseGeometry, list[BaseGeometry]]] = []
    for b, parts in by_building.items():
        if len(parts) < 2 or len({labels[i] for i in parts}) < 2 or (only is not None and b not in only):
            continue
        parts = sorted(parts, key=lambda i: items[i].first)
        runs: list[list[int]] = []
        for i in parts:
            if runs and labels[runs[-1][-1]] == labels[i]:
                runs[-1].append(i)
            else:
                runs.append([i])
        old = [cells[i] for i in parts]
        cell = (wholes or {}).get(items[parts[0]].building) or _union([c for c in old if not c.is_empty])
        if not cell.is_empty:
            todo.append((parts, runs, cell, old))

    def put(runs: list[list[int]], pieces: list[BaseGeometry]) -> None:
        # One polygon per run: stray parts of a cut join the run piece they border most.
        kept, strays = [], []
        for piece in pieces:
            parts = sorted(polygons_of(piece), key=lambda q: -q.area)
            kept.append(parts[0] if parts else Polygon())
            strays.extend(parts[1:])
        pieces = merge_strays(kept, strays) if strays else kept
        for r, piece in zip(runs, pieces, strict=True):
            split = slice_cell(piece, [items[i].weight for i in r], axis(r)) if len(r) > 1 else [piece]
            for i, c in zip(r, split, strict=True):
                cells[i] = c

    # First every such building as a re-grid starts it: runs sliced across the long axis of its cell.
    # Each is then tried facing its areas against the same surroundings a re-grid would see.
    def axis(parts: list[int]) -> float | None:
        return angles.get(items[parts[0]].building) if angles else None

    for parts, runs, cell, _old in todo:
        put(runs, slice_cell(cell, [sum(items[i].weight for i in r) for r in runs], axis(parts)))
    # The same cut whenever a building goes back across its axis (`across`): kept, not cut again.
    across_cells = [[cells[i] for i in t[0]] for t in todo]
    if adj is not None and todo:
        relink(cells, adj, [i for t in todo for i in t[0]], min_shared)
    touched = [i for t in todo for i in t[0]]

    # What each building's pieces may touch: every item of every building whose cell meets its whole
    # cell (by the whole cells, so the answer does not depend on how the cells were cut before).
    all_tree = shapely.STRtree(cells) if todo and adj is not None else None
    near: dict[int, set[int]] = {}

    def around(k: int) -> set[int]:
        if k not in near:
            assert all_tree is not None
            hits = all_tree.query(todo[k][2].buffer(0.05), predicate="intersects")
            found = {items[int(j)].building for j in hits}
            near[k] = {i for b in found for i in by_building[b]}
        return near[k]

    def labels_of(parts: list[int]) -> set[object]:
        return {labels[i] for i in parts if labels[i]}

    def connected(parts: list[int]) -> bool:
        return all(len(components(members[a], adj)) <= 1 for a in labels_of(parts))

    def across(k: int) -> None:
        parts = todo[k][0]
        for i, c in zip(parts, across_cells[k], strict=True):
            cells[i] = c
        if adj is not None:
            relink(cells, adj, parts, min_shared, around(k))

    # Facing pieces where the building's areas stay in one piece each (a few rounds: a building next
    # in line may be what joins an area); otherwise runs across the long axis, as they are now.
    def hull_of(label: object, parts: list[int]) -> BaseGeometry | None:
        """Convex hull of the cells of the buildings wholly in `label`'s area (None if none): not of pieces,
        whose cut depends on what was cut before, so that a re-grid makes the same choice."""
        geoms = [
            cells[i]
            for i in members.get(label, [])
            if len(by_building[items[i].building]) == 1 and not cells[i].is_empty
        ]
        if not label or not geoms:
            return None
        pts = np.vstack([shapely.get_coordinates(g) for g in geoms])
        return shapely.convex_hull(shapely.multipoints(pts))

    facing: set[int] = set()
    pending = list(range(len(todo)))
    for _round in range(3 if adj is not None else 1):
        left = []
        for k in pending:
            parts, runs, cell, _old = todo[k]
            bx, by = centre[items[parts[0]].building]
            targets = []
            for r in runs:
                t = sums.get(labels[r[0]])
                targets.append((t[0] / t[2], t[1] / t[2]) if t and t[2] > 0 else (bx + 1.0, by))
            hulls = [hull_of(labels[r[0]], parts) for r in runs] if adj is not None else None
            put(runs, _facing(cell, [sum(items[i].weight for i in r) for r in runs], targets, hulls))
            if adj is None:
                continue
            relink(cells, adj, parts, min_shared, around(k))
            if connected(parts):
                facing.add(k)
                continue
            across(k)
            left.append(k)
        if len(left) == len(pending):
            break
        pending = left
    failed: set[str] = set()
    if adj is None:
        return touched, failed
    # A building that faced its areas may have cut off one that came later: every building sharing an
    # area still in pieces goes back across its long axis, until nothing changes.
    for _round in range(len(todo) + 1):
        bad = {a for t in todo for a in labels_of(t[0]) if len(components(members[a], adj)) > 1}
        back = [k for k in sorted(facing) if labels_of(todo[k][0]) & bad]
        if not back:
            failed = {items[t[0][0]].building for t in todo if labels_of(t[0]) & bad}
            break
        for k in back:
            facing.discard(k)
            across(k)
    if failed:
        # Last resort: the buildings of an area still in pieces keep the cells they came with (a fresh
        # plan's partition was made on those); what is still in pieces then is for the caller.
        stuck = [k for k, t in enumerate(todo) if items[t[0][0]].building in failed]
        for k in stuck:
            parts, _runs, _cell, old = todo[k]
            for i, c in zip(parts, old, strict=True):
                cells[i] = c
            relink(cells, adj, parts, min_shared, around(k))
        bad = {a for k in stuck for a in labels_of(todo[k][0]) if len(components(members[a], adj)) > 1}
        failed = {items[todo[k][0][0]].building for k in stuck if labels_of(todo[k][0]) & bad}
    return touched, failed
