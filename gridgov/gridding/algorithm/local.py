"""Incremental re-grid (issue 3, "Stability"): rebuild only the cells of the changed buildings (and,
tried as well, one ring of stored cells around them); every other cell is the stored one, as it is.

Switched on where the product re-grids: `services.plan_compute` passes the plan in force
(`selectors.stored_plan`: None when the barriers near the community changed since — drawn, removed or
moved, `selectors.barriers_changed`, the reason then in the path — or a pseudo-building is kept) and
`regrid(stored=, incremental=True)`; `plan.regrid_path` (and the plan's `quality["regrid_path"]`) says
which path was taken: "stored" (no change), "incremental", "full (why)".

- `region`: the stored cells to rebuild (R) — the cells of changed buildings (`changed_buildings`:
  added, gone, moved more than `MOVED_M`, households changed), the stored cell under each changed
  building's point; with `ring`, all their neighbours; without, only the neighbours of cells a building
  left (gone or moved): a new point splits the cell it falls in, a grown building is sliced again in
  its own. Closed over buildings (a building cut into pieces is rebuilt whole or not at all).
- `stored_links`: the stored cells' adjacency from their outlines, plus the stored `neighbours`, plus
  cells within `NEAR_M` along `min_shared_border` (a lon/lat round trip parts the slices of a cut
  building from a neighbour by ~1e-7 m: on the demo's plans, kept before the links were, areas were
  seen in pieces and re-cut far from the change).
- `rebuild_region`: R's outline (its stored cells' union on the 1 cm grid), one whole cell per current
  building point inside it (`building_cells` with R as the boundary, barriers kept), sealed against the
  ring: each Voronoi edge crossing R's outline is snapped to the grid, up to 7 mm off the ring cell's
  straight edge, so the ring cell takes that vertex (no vertex moves; slivers of cm²). The ring's cells
  are not bit-identical to the stored ones; cells beyond it are.
- `local_inputs`: kept items exactly as stored (donation pieces included), R's items (stored runs for
  unchanged buildings, `_items_like_before` for changed ones) sliced from their new whole cells, sealed,
  faced (`face_areas`, R's buildings only); kept cut buildings' whole = union of their pieces. Links: the
  stored ones between kept cells; R and its ring relinked, the ring keeping its stored links to the
  other kept cells (sealed, a ring cell is on the 1 cm grid, the cells read back from PostGIS are not).
- `regrid.finish(touch=, stored=)`: only R's buildings and those of the areas the change reached are
  faced again (`cut_shared_buildings(only=)`); areas whose cells are all the stored objects keep their
  stored polygon, grids all of whose areas do keep theirs; a re-sliced cell's crumbs under 1 m² dropped.
  R's groups are NOT seeded as touched in `regrid_partition` (that let `mend` re-cut R's neighbourhood).
- `regrid` (`regrid._incremental`): `engine.validate` first (as the full rebuild's `prepare`); the local
  path only when no barrier crosses a stored cell and the stored areas tile the community's outline as it
  is (`not_local`: `barrier_through`, `stored.tiles`; a boundary cut back would leave kept cells outside
  it). Both regions tried, the ring's only when it adds cells and the first plan has a fault or loses a
  household's area; the better plan kept (`Faults.score`: households not each once, then polygons in
  pieces + areas and grids out of range + seams — gaps, overlaps and land outside the outline — over
  `SEAMS_M2_PER_KM2`; then more households keeping their area; the smaller region on a tie). The full
  rebuild instead when R is more than `MAX_SHARE` of the cells or the local path raises (its measuring
  included); computed as well when the plan falls short of the plan in force (`shortfall`), keeps fewer
  than `regrid.KEPT_MIN` (95%) in their area or moves an area to another grid, and taken when better by
  (faults, households keeping their area). New area codes on this path are none in force (`_codes
  (retire=)`: an area moved to another grid frees its code, which went to other households).
- Households the stored plan does not have (a new building's, a grown building's added ones), which staff
  place in the area their building lies in, are not held to that code (`regrid.held_codes`, both paths):
  their items start unassigned, so the partition joins them to neighbours with room, cuts the building
  (`_items_like_before`: a run without a code over `area_max` is split as in a fresh plan) or re-cuts the
  neighbourhood; their codes still vote for the areas' and grids' codes and count in the share kept. On
  the bench below: add / grow cases with more areas out of range than the plan in force 10 / 20 of 23 ->
  0 / 1 (kept ≥ 95% in 53 of 69, median 98.0%, min 54.2%); the cost, in 5 add cases (97.3 -> 87.0%,
  100 -> 90.4%, 99.4 -> 91.0%, 98.4 -> 94.3%, 95.5 -> 94.3%): the re-cut neighbourhood crosses a grid
  border (`mend` does not see grids), and areas moved to another grid are renumbered.
- Areas (this path only: `regrid_partition(chains=)`): new items join, and the areas a change broke are
  chained and mended, on the links inside the grid most of each item's households had first, then
  across grids for what is still out of range or in pieces; the mend across the grids alone is kept when
  it leaves fewer faulty areas, or moves fewer households (to another area code; to another grid
  counted twice).
- Grids (this path only: `regrid._grids(chains=)`): a grid short of `grid_min`, or in pieces, takes whole
  areas from neighbouring grids that keep their range and stay in one piece (`_take_areas`: an area
  joining its pieces first, then the smallest area that fills it, else the biggest; several where one
  is not enough, where a chain of one area per grid would dissolve it), or fills by chains of area moves
  (`fill_by_chains` over grids) before `repair` merges it: whichever leaves fewer grids out of range or
  in pieces, keeps the number of grids, then moves fewer households to another grid. When the grids are
  settled again after the shared buildings are cut, the grids in force are tried as a start too (the
  partition's may be left in pieces by the cuts). The full rebuild is main's as it was.

Measured (`bench/gridding_regrid.py --changes add,remove,grow`: the demo's 23 communities, one building
added with 10 households placed by staff, removed, or grown by 5, through `services.plan_compute`):
households keeping their area ≥ 95% in 50 of 69, median 98.2%, min 54.2% (the full rebuild: 0 of 69,
median 70.6%); CPU median 0.54 s, max 3.22 s. Paths: 20 incremental, 44 incremental after comparing
with the full rebuild (mostly an area moved to another grid), 5 full: 2 for an area out of range more
than the plan in force had, 3 (94.8 -> 78.2%, 94.9 -> 60.0%, 78.8 -> 54.2%) because the full rebuild
has fewer areas out of range than the incremental plan, which kept those of the plan in force (the
lead's rule: hard requirements before stability). Since (branch regrid6: areas mended inside their
grids first, grids taking whole areas): 61 of 69 keep >= 95% (55 before, on the same data), median
98.5%, min 89.0%. Since (branch regrid7: new households split between areas with room or given a run
first, `regrid._split_new`; a grid in pieces joined along a chain of two grids, `regrid._join_by_chain`):
62 of 69, median 98.8%, min 92.1%. Still short: a removal that leaves grids short where the neighbouring
grids are at their minimum too still moves whole areas along chains of grids (each area moved
renumbered, its code retired; moving single buildings across a grid border would do with fewer); a new
point in the cell of a cut building rebuilds that building whole, and its slices, faced again, can leave
the areas they were in in pieces, which `mend` then re-cuts (001007 and 003007 add).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from .donate import face_areas
from .engine import prepared
from .model import CommunityIn, Config, Item, Plan
from .quality import Quality, measure
from .regrid import PreviousCodes, RegridInputs, _inputs, _items_like_before
from .stored import (
    MOVED_M,
    StoredCell,
    StoredPlan,
    changed_buildings,
    stored_item,
    tiles,
    wider_than_slivers,
)
from .tessellate import (
    GRID,
    adjacency,
    axis_angles,
    blocks_of,
    building_cells,
    polygonal,
    relink,
    seal,
    slice_cell,
)

# Past this share of the stored cells in R, the incremental re-grid is not worth it: a full rebuild.
MAX_SHARE = 0.3
# Stored cells this close (metres) along a border count as touching there (a lon/lat round trip moves
# vertices by ~1e-7 m; the 1 cm grid's snapping by up to 7 mm is far above this).
NEAR_M = 1e-3
# A barrier farther than this (metres) inside a stored cell crosses it (see `barrier_through`).
BARRIER_SLACK_M = 0.05


@dataclass
class Region:
    """The stored cells to rebuild and the buildings whose cells are rebuilt inside them."""

    cells: set[int]  # stored cell numbers in R
    ring: set[int]  # stored cells outside R that touch it (to relink)
    changed: set[str]  # buildings changed since the stored plan (`changed_buildings`)
    buildings: list[str]  # current buildings whose point lies in R (in the community's order)
    outline: BaseGeometry  # union of R's stored cells on the 1 cm grid


def stored_links(stored: StoredPlan, config: Config) -> list[set[int]]:
    """The stored cells' neighbours from their outlines. (Not the stored `neighbours` alone: those are
    the plan's links, from which a donor's links across its areas were dropped; the partition needs
    every cell it touches.)"""
    geoms = [c.cell for c in stored.cells]
    links = adjacency(geoms, config.min_shared_border)
    for k, c in enumerate(stored.cells):
        for j in c.neighbours or ():
            links[k].add(j)
            links[j].add(k)
    # Cells read back from lon/lat may no longer touch: two slices of a cut building sealed against a
    # neighbour share its vertices, a round trip later they stand ~1e-7 m apart (a plan kept before the
    # links were lost those pairs, and areas were seen in pieces: the partition re-cut them).
    arr = np.array(geoms, dtype=object)
    left, right = shapely.STRtree(arr).query(arr, predicate="dwithin", distance=NEAR_M)
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a >= b or b in links[a] or geoms[a].intersects(geoms[b]):
            continue
        near = min(
            geoms[a].boundary.intersection(geoms[b].buffer(NEAR_M)).length,
            geoms[b].boundary.intersection(geoms[a].buffer(NEAR_M)).length,
        )
        if near >= config.min_shared_border:
            links[a].add(b)
            links[b].add(a)
    return links


def region(
    community: CommunityIn,
    stored: StoredPlan,
    config: Config,
    changed: set[str] | None = None,
    links: list[set[int]] | None = None,
    *,
    ring: bool = True,
) -> Region:
    """R: the cells of changed buildings, the stored cell under each changed building's point (new or
    moved), and their stored neighbours (with `ring`; without, only those of the cells a building left);
    closed over buildings (all of a cut building's pieces or none)."""
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
    here = {b.id: Point(b.x, b.y) for b in community.buildings}
    for k in core:
        bid = stored.cells[k].building
        # With `ring`, every cell of the core takes its neighbours in; without, only the cells left
        # without their building (gone or moved): the others are rebuilt within their own outline (a
        # new point splits the cell it falls in, a grown building is sliced again in its own).
        if ring or bid not in here or (bid in changed and geoms[k].distance(here[bid]) > MOVED_M):
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


def barrier_through(community: CommunityIn, stored: StoredPlan) -> bool:
    """Whether a barrier crosses a stored cell (drawn since the plan: the stored cells were cut along the
    barriers of their day, and a kept cell across a new one would join its two sides). A barrier along
    a cell's border, moved by the lon/lat round trip, stays within `BARRIER_SLACK_M` of it."""
    if not community.barriers:
        return False
    geoms = [c.cell for c in stored.cells]
    tree = shapely.STRtree(geoms)
    for line in community.barriers:
        for k in tree.query(line, predicate="intersects"):
            inner = geoms[int(k)].buffer(-BARRIER_SLACK_M)
            if not inner.is_empty and line.intersection(inner).length > BARRIER_SLACK_M:
                return True
    return False


def share(reg: Region, stored: StoredPlan) -> float:
    return len(reg.cells) / max(1, len(stored.cells))


@dataclass
class LocalInputs:
    """`RegridInputs` built from the stored cells (only R rebuilt), and which items are R's."""

    r: RegridInputs
    region: Region
    rebuilt: set[int]  # item numbers of R's buildings


def not_local(community: CommunityIn, stored: StoredPlan) -> str:
    """Why the plan in force cannot be kept outside a region ("" when it can): a barrier crosses a stored
    cell (`barrier_through`), or the stored areas do not tile the community's outline as it is (`tiles`:
    a boundary moved since; kept cells would keep land outside it or leave new land uncovered)."""
    if barrier_through(community, stored):
        return "a barrier crosses cells of the plan in force"
    if not tiles(stored, community.boundary):
        return "the community's outline changed"
    return ""


def local_inputs(
    community: CommunityIn,
    previous: PreviousCodes,
    stored: StoredPlan,
    config: Config,
    *,
    ring: bool = True,
    links: list[set[int]] | None = None,
    changed: set[str] | None = None,
    reg: Region | None = None,
    checked: bool = False,
) -> LocalInputs | None:
    """The re-grid's inputs with only R rebuilt, or None (the full rebuild then) when R is more than
    `MAX_SHARE` of the cells, or the plan in force cannot be kept around it (`not_local`: a barrier crosses
    a stored cell, the stored areas do not tile the outline; `checked`: the caller asked). Items outside R
    are the stored cells' items exactly (donation pieces included); R's unchanged buildings keep their
    stored runs, its changed ones are cut as `_items_like_before` cuts them; R's whole cells are sliced
    (`slice_cell`, across the whole's long axis), faced toward their areas (`face_areas`, R's buildings
    only) and sealed; links are the stored ones but for R and its ring, relinked. `links`, `changed`:
    `stored_links` and `changed_buildings`, when the caller has them; `reg`: R, when the caller has it."""
    if not checked and not_local(community, stored):
        return None  # the full rebuild: it cuts every cell along the barriers, within the outline
    links = stored_links(stored, config) if links is None else links
    if reg is None:
        reg = region(community, stored, config, changed, links=links, ring=ring)
    if share(reg, stored) > MAX_SHARE:
        return None
    whole, ring_cells = rebuild_region(community, reg, stored, links)
    by_id = {b.id: b for b in community.buildings}
    ids = {b.id: b.household_ids for b in community.buildings}
    items: list[Item] = []
    cells: list[BaseGeometry] = []
    index: dict[int, int] = {}  # stored cell number → item number (cells outside R)
    for k, c in enumerate(stored.cells):
        if k in reg.cells:
            continue
        index[k] = len(items)
        items.append(stored_item(c, by_id[c.building]))
        cells.append(ring_cells.get(k, c.cell))
    runs: dict[str, list[StoredCell]] = defaultdict(list)
    for k in sorted(reg.cells):
        runs[stored.cells[k].building].append(stored.cells[k])
    rebuilt: list[int] = []
    angles: dict[str, float] = {}
    wholes: dict[str, BaseGeometry] = {}
    cut: list[int] = []
    for bid in reg.buildings:
        b = by_id[bid]
        if bid in reg.changed:
            mine = _items_like_before(CommunityIn(community.boundary, [b]), previous, config)
        else:
            mine = [stored_item(c, b) for c in runs[bid]]
        mine.sort(key=lambda it: it.first)
        angle = axis_angles([whole[bid]])[0]
        angles[bid], wholes[bid] = angle, whole[bid]
        pieces = slice_cell(whole[bid], [it.weight for it in mine], angle) if len(mine) > 1 else [whole[bid]]
        for it, piece in zip(mine, pieces, strict=True):
            rebuilt.append(len(items))
            if len(mine) > 1:
                cut.append(len(items))
            items.append(it)
            cells.append(piece)
    # Items in the community's building order (as a full re-grid has them: the partition's ties, and
    # so its grids, follow the items' order).
    pos = {b.id: n for n, b in enumerate(community.buildings)}
    order = sorted(range(len(items)), key=lambda i: (pos[items[i].building], items[i].first, items[i].part))
    inv = {i: n for n, i in enumerate(order)}
    items = [items[i] for i in order]
    cells = [cells[i] for i in order]
    index = {k: inv[i] for k, i in index.items()}
    rebuilt = [inv[i] for i in rebuilt]
    cut = [inv[i] for i in cut]
    if cut:
        seal(cells, cut, community.boundary)
    # Kept cut buildings: their whole cell is the union of their pieces, cut across its long axis.
    pieces_of: dict[str, list[BaseGeometry]] = defaultdict(list)
    for i in index.values():
        pieces_of[items[i].building].append(cells[i])
    kept_cut = sorted(b for b, ps in pieces_of.items() if len(ps) > 1 and b not in wholes)
    if kept_cut:
        kept_wholes = [polygonal(shapely.union_all(pieces_of[b], grid_size=GRID)) for b in kept_cut]
        wholes.update(zip(kept_cut, kept_wholes, strict=True))
        angles.update(zip(kept_cut, axis_angles(kept_wholes), strict=True))
    # Links: the stored cells' between kept cells; R's items and the ring relinked.
    adj: list[set[int]] = [set() for _ in items]
    for k, i in index.items():
        adj[i] = {index[j] for j in links[k] if j in index}
    ring_items = [index[k] for k in sorted(reg.ring)]
    # (a ring cell relinked keeps its links beyond the ring: the cells around it are candidates too)
    pool = set(rebuilt) | set(ring_items) | {index[j] for k in reg.ring for j in links[k] if j in index}
    relink(cells, adj, rebuilt + ring_items, config.min_shared_border, candidates=pool)
    # A ring cell keeps its stored links to the other kept cells: sealing snapped it to the 1 cm
    # grid, and a stored cell read back from lon/lat is off it, so the border they share is no longer
    # an exact edge of both (the link was lost on the PostGIS-read plan; a grid then seen apart).
    for k in reg.ring:
        for j in links[k]:
            if j in index:
                adj[index[k]].add(index[j])
                adj[index[j]].add(index[k])
    code_of = []
    for it in items:
        bid = ids.get(it.building) or ()
        code_of.append(previous.get((it.building, bid[it.first] if bid else str(it.first)), ("", ""))[0])
    faced, _ = face_areas(
        items, cells, code_of, adj, config.min_shared_border, angles, wholes, only=set(reg.buildings)
    )
    del faced  # (`face_areas` relinks what it cuts)
    blocks = blocks_of(community)
    tree = shapely.STRtree(blocks)
    reps = np.array(
        [
            c.representative_point() if not c.is_empty else Point(it.x, it.y)
            for c, it in zip(cells, items, strict=True)
        ],
        dtype=object,
    )
    block_list = [0] * len(items)
    for i, b in zip(*tree.query_nearest(reps, all_matches=False), strict=True):
        block_list[int(i)] = int(b)
    p = prepared(community, config, items, cells, block_list, adj, angles, wholes)
    r = _inputs(p, previous, ids)
    return LocalInputs(r, reg, set(rebuilt))


# An incremental plan with seams (gaps + overlaps) above this, per km², is compared with the full rebuild
# (the tolerance: the 1 cm grid's snapping).
SEAMS_M2_PER_KM2 = 1.0


@dataclass(frozen=True)
class Faults:
    """What a re-grid must not get wrong (`faults`)."""

    wrong: bool  # households not each in exactly one item
    multipart: int  # area and grid polygons in several parts
    out: int  # areas out of range
    seams: bool  # gaps + overlaps + area outside the outline above `SEAMS_M2_PER_KM2`
    grids_out: int = 0  # grids out of range
    quality: Quality | None = field(default=None, compare=False)  # the plan's `measure`, for the caller

    @property
    def score(self) -> tuple[int, int]:
        """Lower is better: households wrong first, then polygons in pieces + areas and grids out of
        range + seams."""
        return int(self.wrong), self.multipart + self.out + self.grids_out + int(self.seams)


def faults(plan: Plan, community: CommunityIn, config: Config) -> Faults:
    """A plan's `Faults`; without polygons (`build_polygons=False`), its households and ranges only."""
    want = Counter((b.id, b.hid(k)) for b in community.buildings for k in range(len(b.weights)))
    got: Counter[tuple[str, str]] = Counter()
    for it in plan.items:
        ids = plan.household_ids.get(it.building)
        got.update((it.building, ids[h] if ids else str(h)) for h in range(it.first, it.first + it.count))
    q = measure(plan, community.boundary, config)
    lo, hi = config.area_min - 1e-9, config.area_max + 1e-9
    out = sum(not lo <= w <= hi for w in plan.area_weights())
    lo, hi = config.grid_min - 1e-9, config.grid_max + 1e-9
    grids_out = sum(not lo <= w <= hi for w in plan.grid_weights())
    seams = False
    if plan.area_polygons:
        # Land outside the outline: kept cells of an outline since cut back (slivers along it are
        # the 1 cm grid's snapping, not land).
        boundary = community.boundary
        shapely.prepare(boundary)
        beyond = sum(
            wider_than_slivers(p.difference(boundary))
            for p in plan.area_polygons
            if not p.is_empty and not boundary.contains(p)
        )
        m2 = q.gap_area_m2 + q.overlap_area_m2 + beyond
        seams = bool(m2 / max(boundary.area / 1e6, 1e-9) > SEAMS_M2_PER_KM2)
    return Faults(got != want, q.multipart_polygons, out, seams, grids_out, q)


def shortfall(f: Faults, stored: StoredPlan, config: Config) -> str:
    """Why an incremental plan (its `faults`) may be worse than a full rebuild ("" if it is not):
    households not each once, more polygons in pieces or areas out of range than the plan in force had,
    seams above the tolerance."""
    polys = [*stored.area_polygons.values(), *stored.grid_polygons.values()]
    multipart_before = sum(p.geom_type != "Polygon" for p in polys)
    weights: Counter[str] = Counter()
    for c in stored.cells:
        weights[c.area] += c.weight
    lo, hi = config.area_min - 1e-9, config.area_max + 1e-9
    out_before = sum(not lo <= w <= hi for w in weights.values())
    grid_weights: Counter[str] = Counter()
    for c in stored.cells:
        grid_weights[c.grid] += c.weight
    lo, hi = config.grid_min - 1e-9, config.grid_max + 1e-9
    grids_out_before = sum(not lo <= w <= hi for w in grid_weights.values())
    why = []
    if f.wrong:
        why.append("households not each once")
    if f.multipart > multipart_before:
        why.append(f"{f.multipart} polygons in pieces (plan in force {multipart_before})")
    if f.out > out_before:
        why.append(f"{f.out} areas out of range (plan in force {out_before})")
    if f.grids_out > grids_out_before:
        why.append(f"{f.grids_out} grids out of range (plan in force {grids_out_before})")
    if f.seams:
        why.append(f"gaps, overlaps or land outside over {SEAMS_M2_PER_KM2:g} m²/km²")
    return "; ".join(why)


__all__ = [
    "MAX_SHARE",
    "SEAMS_M2_PER_KM2",
    "Faults",
    "LocalInputs",
    "Region",
    "barrier_through",
    "faults",
    "local_inputs",
    "not_local",
    "rebuild_region",
    "region",
    "share",
    "shortfall",
    "stored_links",
]
