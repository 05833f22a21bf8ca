"""Incremental re-grid (issue 3, "Stability"): rebuild only the cells of the changed buildings and one
ring of stored cells around them; every other cell is the stored one, as it is.

Status (work in progress, not wired into `regrid` yet):
- `region`: the stored cells to rebuild (R) — the cells of changed buildings, the stored cell under each
  new or moved building's point, their stored neighbours (one ring), closed over buildings (a building
  cut into pieces is rebuilt whole or not at all).
- `rebuild_region`: R's outline (the union of its stored cells on the 1 cm grid) and, inside it, one
  cell per current building point (a Voronoi clipped to R cut by the barriers: `building_cells` with R
  in place of the community's boundary, strays merged within R).
Still to do (see the README's "still short"): the items of R's buildings (stored runs for unchanged
buildings, `_items_like_before` for the changed ones) and `slice_cell` of cut buildings, `face_areas`
and `seal` within R, relinking R and its ring only, a `Prepared` from stored + rebuilt parts, then
`regrid_partition` with `touched` seeded by R's groups and stored polygons kept for areas whose cell
set is unchanged and holds none of R's cells; fall back to the full rebuild when R > `MAX_SHARE`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from .model import CommunityIn, Config
from .stored import StoredPlan, changed_buildings
from .tessellate import GRID, adjacency, building_cells, seal

# Past this share of the stored cells in R, the incremental re-grid is not worth it: a full rebuild.
MAX_SHARE = 0.3


@dataclass
class Region:
    """The stored cells to rebuild and the buildings whose cells are rebuilt inside them."""

    cells: set[int]  # stored cell numbers in R
    ring: set[int]  # stored cells outside R that touch it (to relink)
    changed: set[str]  # buildings changed since the stored plan (`changed_buildings`)
    buildings: list[str]  # current buildings whose point lies in R (in the community's order)
    outline: BaseGeometry  # union of R's stored cells on the 1 cm grid


def stored_links(stored: StoredPlan, config: Config) -> list[set[int]]:
    """The stored cells' neighbours (from the outlines for plans kept without them)."""
    if all(c.neighbours is not None for c in stored.cells):
        return [set(c.neighbours or ()) for c in stored.cells]
    return adjacency([c.cell for c in stored.cells], config.min_shared_border)


def region(
    community: CommunityIn,
    stored: StoredPlan,
    config: Config,
    changed: set[str] | None = None,
    links: list[set[int]] | None = None,
) -> Region:
    """R: the cells of changed buildings, the stored cell under each changed building's point (new or
    moved), and their stored neighbours; closed over buildings (all of a cut building's pieces or none)."""
    if changed is None:
        changed = changed_buildings(community, stored)
    if links is None:
        links = stored_links(stored, config)
    cells_of: dict[str, list[int]] = defaultdict(list)
    for k, c in enumerate(stored.cells):
        cells_of[c.building].append(k)
    geoms = [c.cell for c in stored.cells]
    tree = shapely.STRtree(geoms)
    core: set[int] = set()
    for bid in changed:
        core.update(cells_of.get(bid, ()))
    for b in community.buildings:
        if b.id not in changed:
            continue
        here = Point(b.x, b.y)
        hits = [int(k) for k in tree.query(here, predicate="intersects")]
        if not hits:
            hits = [int(tree.nearest(here))]
        core.update(hits)
    r = set(core)
    for k in core:
        r.update(links[k])
    # A building cut into pieces is rebuilt whole: its pieces are slices of one cell.
    for k in list(r):
        r.update(cells_of[stored.cells[k].building])
    ring = {j for k in r for j in links[k]} - r
    outline = shapely.set_precision(unary_union([geoms[k] for k in sorted(r)]), GRID)
    in_r = {stored.cells[k].building for k in r}
    buildings = []
    for b in community.buildings:
        if b.id in in_r and b.id not in changed:
            buildings.append(b.id)  # unchanged: its point is in its stored cells, which are in R
        elif b.id in changed and outline.buffer(GRID).intersects(Point(b.x, b.y)):
            buildings.append(b.id)
    return Region(r, ring, set(changed), buildings, outline)


def rebuild_region(
    community: CommunityIn, reg: Region, stored: StoredPlan, links: list[set[int]]
) -> tuple[dict[str, BaseGeometry], dict[int, BaseGeometry]]:
    """One whole cell per building of R (a Voronoi of their points clipped to R cut by the barriers),
    sealed against the ring: each crossing of a Voronoi edge with R's outline is snapped to the 1 cm grid,
    up to 7 mm off the ring cell's straight edge, so that vertex is inserted into the ring cell's edge
    (`seal`, as for the slices of a cut building: no vertex of the ring moves). Returns the whole cells
    by building and the ring cells that took a vertex (by stored cell number); every other stored cell is
    as it is."""
    where = {b.id: (b.x, b.y) for b in community.buildings}
    if not reg.buildings:
        return {}, {}
    pts = np.array([where[bid] for bid in reg.buildings], dtype=float).reshape(-1, 2)
    inside = CommunityIn(reg.outline, [], community.barriers)
    whole, _ = building_cells(inside, pts)
    ring = sorted(reg.ring)
    context = sorted({j for k in ring for j in links[k]} - reg.cells - reg.ring)  # held still: sealed
    cells = whole + [stored.cells[k].cell for k in ring] + [stored.cells[k].cell for k in context]
    seal(cells, list(range(len(whole))), community.boundary)
    n = len(whole)
    moved = {k: cells[n + m] for m, k in enumerate(ring) if cells[n + m] is not stored.cells[k].cell}
    return dict(zip(reg.buildings, cells[:n], strict=True)), moved


def share(reg: Region, stored: StoredPlan) -> float:
    return len(reg.cells) / max(1, len(stored.cells))


__all__ = ["MAX_SHARE", "Region", "rebuild_region", "region", "share", "stored_links"]
