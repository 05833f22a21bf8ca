"""Last resort for an undersized group: a neighbouring building gives it a few households.

When no re-cut of the neighbourhood works (typically a group of 9–14 households wedged between
buildings of 16–20), the engine splits one adjacent building by unit/floor: the run at its end
joins the undersized group, the rest stays where it was. Each donation cuts one more building,
so it is used only where the numbers leave no other way.
"""

from __future__ import annotations

import math
from dataclasses import replace

import shapely
import shapely.affinity
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from .model import Item
from .tessellate import GRID, polygonal, polygons_of, relink, shared_border


def slice_toward(
    cell: BaseGeometry, target: tuple[float, float], share: float
) -> tuple[BaseGeometry, BaseGeometry]:
    """Cut `cell` across the direction to `target`; the piece on the target's side has `share` of the area."""
    c = cell.centroid
    angle = math.degrees(math.atan2(target[1] - c.y, target[0] - c.x))
    rotated = shapely.affinity.rotate(cell, -angle, origin=c)
    minx, miny, maxx, maxy = rotated.bounds
    lo, hi = minx, maxx
    total = rotated.area
    for _ in range(18):  # 2**-18 of the width: well under a centimetre
        mid = (lo + hi) / 2
        a = shapely.intersection(rotated, shapely.box(mid, miny - 1, maxx + 1, maxy + 1)).area / total
        lo, hi = (lo, mid) if a < share else (mid, hi)
    cut = (lo + hi) / 2
    near = shapely.affinity.rotate(shapely.box(cut, miny - 1, maxx + 1, maxy + 1), angle, origin=c)
    far = shapely.affinity.rotate(shapely.box(minx - 1, miny - 1, cut, maxy + 1), angle, origin=c)
    del near
    # Keep one piece for the donor; everything else of the cell goes to the receiver (no area lost).
    keep = _one(shapely.intersection(cell, far, grid_size=GRID))
    give = polygonal(shapely.difference(cell, keep, grid_size=GRID))
    return keep, give


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
    cells: list[BaseGeometry] | None,
    min_shared: float,
) -> list[list[int]]:
    """Give undersized groups households from adjacent buildings (appends new items in place)."""
    owner = {m: gi for gi, g in enumerate(groups) for m in g}
    sizes = [sum(weights[m] for m in g) for g in groups]
    for gi in range(len(groups)):
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
                    score = (s + t < lo - 1e-9, (xs[c] - cx) ** 2 + (ys[c] - cy) ** 2)
                    if best is None or score < best[0]:
                        best = (score, c, h, k, t)
            if best is None:
                break
            _, c, h, k, t = best
            item = items[c]
            if cells is not None:
                kept, given = slice_toward(cells[c], (cx, cy), t / max(weights[c], 1e-9))
                receiver = [cells[m] for m in groups[gi]]
                touches = any(shared_border(given, r) >= min_shared for r in receiver)
                kept_nbs = {nb for nb in adj[c] if shared_border(kept, cells[nb]) >= min_shared}
                if (
                    not touches
                    or given.is_empty
                    or kept.is_empty
                    or not _still_connected(groups[h], c, kept_nbs, adj)
                ):
                    break  # the pieces would not stay in one piece each: leave it reported instead
            keep = replace(item, count=item.count - k, weight=item.weight - t)
            give = replace(
                item,
                part=max(i.part for i in items if i.building == item.building) + 1,
                first=item.first + item.count - k,
                count=k,
                weight=t,
            )
            items[c] = keep
            items.append(give)
            new = len(items) - 1
            weights[c] -= t
            weights.append(t)
            if cells is not None:
                cells[c] = kept
                cells.append(given)
                xs[c], ys[c] = cells[c].centroid.x, cells[c].centroid.y
                xs.append(cells[new].centroid.x)
                ys.append(cells[new].centroid.y)
                candidates = adj[c] | {c, new}
                adj.append(set())
                relink(cells, adj, [c, new], min_shared, candidates)
            else:
                xs.append(xs[c])
                ys.append(ys[c])
                adj.append(set(adj[c]) | {c})
                for nb in adj[new]:
                    adj[nb].add(new)
            groups[gi].append(new)
            owner[new] = gi
            sizes[gi] += t
            sizes[h] -= t
    return groups


def _still_connected(group: list[int], c: int, c_nbs: set[int], adj: list[set[int]]) -> bool:
    """Whether `group` stays connected when element `c` only keeps the neighbours `c_nbs`."""
    members = set(group)
    start = c
    seen = {start}
    stack = [start]
    while stack:
        a = stack.pop()
        nbs = c_nbs if a == c else {b for b in adj[a] if b != c or a in c_nbs}
        for b in nbs:
            if b in members and b not in seen:
                seen.add(b)
                stack.append(b)
    return seen == members


def _one(geom: BaseGeometry) -> BaseGeometry:
    parts = polygons_of(geom)
    if not parts:
        return Polygon()
    return max(parts, key=lambda p: p.area) if len(parts) > 1 else parts[0]


__all__ = ["donate", "slice_toward"]
