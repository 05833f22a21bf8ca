"""The gridding engine: community in → grids and responsibility areas out.

    plan = plan_community(community, Config(), code="440308001001")

1. Buildings above the area range are cut by unit/floor (`splitting`).
2. Cells tile the community (`tessellate`), giving the neighbour graph.
3. Items in Hilbert order (block by block when barriers cut the community) seed connected groups
   grown to [area_min, area_max] (`grow`); groups left out of range are merged or traded with
   neighbours (`repair`), their neighbourhoods re-cut exactly (`mend`) and, as a last resort, given
   households by an adjacent building (`donate`).
4. Areas, in the same order, are grouped the same way into grids of [grid_min, grid_max].
5. Codes run west→east within rows taken north→south; polygons are dissolved cells.
"""

from __future__ import annotations

import dataclasses
import gc
import math
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from . import compiled
from .chains import fill_by_chains
from .donate import Donation, donate, donate_arrays, face_areas, undo
from .grow import grow, mend
from .hilbert import hilbert_index
from .model import BuildingIn, CommunityIn, Config, Item, Plan, Problem
from .nearest import explain
from .pocket import mend_pockets
from .recut import Mend, drop_empty, mend_out_of_range, uncut_small
from .repair import connected, repair
from .reshare import HULL_MIN, hull_pps, mend_pairs, uncut_chains, uncut_pairs, widen_thin
from .splitting import feasible_total, nearest_feasible, split_buildings
from .tessellate import adjacency, blocks_of, dissolve, forget_cuts, item_cells, seal

# Items in one exact re-cut of a fresh partition's short groups (`grow.mend`; a re-grid keeps mend's
# 24): wider searches leave fewer groups to donations, so fewer buildings cut and less for the passes
# after the partition to mend (the city: buildings split 11.8 → 11.7%, CPU ÷ 2 59.7 → 56.4 s, for
# ~10 ms more at 10,000 buildings; 36 and 40 gain no more and cost 20–30 ms).
MEND_REGION = 32


GRID_CODES = 999  # a grid's code is the community's and 3 digits
AREA_CODES = 99  # an area's code is its grid's and 2 digits


class CodeSpaceError(ValueError):
    """The plan has more grids, or a grid more areas, than its codes have numbers for."""

    def __init__(self, code: str, grids: int, areas: int) -> None:
        self.code, self.grids, self.areas = code, grids, areas
        super().__init__(
            f"community {code or '(no code)'}: {grids} grids (codes allow {GRID_CODES}) and up to "
            f"{areas} areas in a grid (codes allow {AREA_CODES})"
        )


def check_code_space(plan: Plan, code: str) -> None:
    """Raise `CodeSpaceError` if the grids or the areas of a grid cannot all be numbered."""
    most = max(Counter(plan.grid_of_area).values(), default=0)
    if plan.n_grids > GRID_CODES or most > AREA_CODES:
        raise CodeSpaceError(code, plan.n_grids, most)


class GriddingInputError(ValueError):
    """The input cannot be gridded at all; `problems` says why, item by item."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def validate(community: CommunityIn, tolerance: float = 1.0) -> None:
    problems: list[Problem] = []
    b = community.boundary
    if b is None or b.is_empty:
        problems.append(Problem("input", "the community boundary is empty"))
    elif not b.is_valid:
        problems.append(Problem("input", f"the community boundary is invalid: {shapely.is_valid_reason(b)}"))
    ids = Counter(x.id for x in community.buildings)
    dupes = sorted(k for k, v in ids.items() if v > 1)
    if dupes:
        problems.append(Problem("input", f"duplicate building ids: {', '.join(dupes[:10])}", tuple(dupes)))
    if not community.buildings or sum(x.weight for x in community.buildings) <= 0:
        problems.append(Problem("input", "the community has no households to grid"))
    if b is not None and not b.is_empty and b.is_valid and community.buildings:
        xs = np.array([x.x for x in community.buildings])
        ys = np.array([x.y for x in community.buildings])
        dist = shapely.distance(b, shapely.points(xs, ys))
        outside = [community.buildings[i].id for i in np.flatnonzero(dist > tolerance)]
        if outside:
            problems.append(
                Problem(
                    "input",
                    f"{len(outside)} building(s) lie outside the community boundary: "
                    f"{', '.join(outside[:10])}",
                    tuple(outside),
                )
            )
    if problems:
        raise GriddingInputError(problems)


def order_items(xs: np.ndarray, ys: np.ndarray, blocks: np.ndarray, orient: int = 0) -> np.ndarray:
    """Hilbert order, block by block (blocks themselves in Hilbert order of their centres). `orient` lays
    the curve over the community another way, for `best_partition`: bits 0–2 mirror and turn it (x
    mirrored, y mirrored, x and y swapped: the curve's eight symmetric walks), the bits above turn the
    points by 22.5° each first."""
    if orient:
        if orient >> 3:
            turn = math.radians(22.5 * (orient >> 3))
            xs, ys = xs * math.cos(turn) - ys * math.sin(turn), xs * math.sin(turn) + ys * math.cos(turn)
        xs, ys = (-xs if orient & 1 else xs), (-ys if orient & 2 else ys)
        if orient & 4:
            xs, ys = ys, xs
    h = hilbert_index(xs, ys)
    block_ids = np.unique(blocks)
    if len(block_ids) > 1:
        bx = np.array([xs[blocks == b].mean() for b in block_ids])
        by = np.array([ys[blocks == b].mean() for b in block_ids])
        rank = dict(
            zip(block_ids.tolist(), np.argsort(np.argsort(hilbert_index(bx, by))).tolist(), strict=True)
        )
        br = np.array([rank[b] for b in blocks.tolist()])
        return np.lexsort((h, br))
    return np.argsort(h, kind="stable")


def _cut(
    order: np.ndarray,
    weights: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    adj: list[set[int]],
    lo: float,
    hi: float,
    blocks: np.ndarray,
    fixed: np.ndarray,
    config: Config,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """Grow groups in `order`, then repair; returns groups of original indices.

    The exact re-cut (`mend`) is for the tight area range; for grids (a range like 100–300, wider
    than any single area) merging and trading areas between neighbours is enough and far cheaper.
    `graph`: `adj` as CSR arrays (rows in the sets' order), if the caller has them.
    """
    if compiled.ENABLED:
        return _cut_compiled(order, weights, xs, ys, adj, lo, hi, fixed, graph)
    fixed_set = set(np.flatnonzero(fixed).tolist())
    w, x, y = weights.tolist(), xs.tolist(), ys.tolist()
    groups = grow(order.tolist(), w, adj, lo, hi, x, y, fixed_set, graph=graph)
    groups = repair(groups, w, adj, lo, hi, fixed=fixed_set, graph=graph)
    if hi >= 2 * lo:
        return groups
    # (No pushing here: merging a short group into a neighbour that passes buildings on reshapes
    # groups a re-grid of an unchanged community could not rebuild on its own cells; see `_refill`.)
    groups = fill_by_chains(groups, w, adj, lo, hi, x, y, pushing=False, graph=graph)
    return mend(groups, w, adj, lo, hi, x, y, fixed_set, max_region=MEND_REGION, graph=graph)


def partition(
    items: list[Item],
    adj: list[set[int]],
    blocks: list[int],
    config: Config,
    centres: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    household_weights: dict[str, tuple[float, ...]] | None = None,
    orient: int = 0,
) -> Plan:
    """Assign items to areas and areas to grids (the neighbour graph only: no geometry).

    With `household_weights` (building id → weights in unit/floor order) a group the numbers leave
    undersized may take a few households from an adjacent building (`donate`); `items` then grows in
    place (the households given become new items; `adj` is left as it is) and `plan.donations` lists
    what `cut_shared_buildings` must cut out of the donors' cells.

    Python's cyclic garbage collector is paused meanwhile: the partition makes many short-lived lists
    and sets but no cycles, and each collection would walk every object alive (a third of the time at
    10,000 buildings in some runs). `orient`: the Hilbert walk that orders the items (`order_items`).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _partition(items, adj, blocks, config, centres, fixed, household_weights, orient)
    finally:
        if paused:
            gc.enable()


def _partition(
    items: list[Item],
    adj: list[set[int]],
    blocks: list[int],
    config: Config,
    centres: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    household_weights: dict[str, tuple[float, ...]] | None = None,
    orient: int = 0,
) -> Plan:
    if compiled.ENABLED:
        return _partition_compiled(items, adj, blocks, config, centres, fixed, household_weights, orient)
    # The Python reference of `_partition_compiled`.
    donations: list[Donation] = []
    before = len(items)
    weights = np.array([it.weight for it in items], dtype=float)
    xy = (
        centres
        if centres is not None
        else np.array([[it.x, it.y] for it in items], dtype=float).reshape(-1, 2)
    )
    xs, ys = xy[:, 0], xy[:, 1]
    blk = np.asarray(blocks, dtype=np.int64)
    fx = fixed if fixed is not None else np.zeros(len(items), dtype=bool)
    order = order_items(xs, ys, blk, orient)
    full_adj = adj
    adj = respect_barriers(adj, blk, weights, config.area_min, config.area_max)
    areas = _cut(order, weights, xs, ys, adj, config.area_min, config.area_max, blk, fx, config)
    if household_weights is not None:
        if adj is full_adj:  # (`donate` grows the sets it is given: not the caller's)
            adj = [set(s) for s in adj]
        wl, xl, yl = weights.tolist(), xs.tolist(), ys.tolist()
        areas = donate(
            areas,
            items,
            wl,
            xl,
            yl,
            adj,
            config.area_min,
            config.area_max,
            household_weights,
            log=donations,
        )
    n = len(items)
    area_of = [0] * n
    for a, g in enumerate(areas):
        for i in g:
            area_of[i] = a
    if donations:
        # (the block of each new item's building: that of its last item before the donations)
        needed = {it.building for it in items[before:]}
        block_of_building = {
            it.building: b for it, b in zip(items, blk.tolist(), strict=False) if it.building in needed
        }
        blk = np.array(
            blk.tolist() + [block_of_building[it.building] for it in items[before:]], dtype=np.int64
        )
        weights, xs, ys = np.array(wl), np.array(xl), np.array(yl)
        order = np.concatenate([order, np.arange(before, len(items))])
        full_adj = donation_links(full_adj, before, [(d.donor, d.given) for d in donations], area_of)
    grid_of_area = group_areas(area_of, len(areas), weights, xs, ys, blk, order, full_adj, config)
    plan = Plan(items=items, area_of=area_of, grid_of_area=grid_of_area, donations=donations)
    plan.problems.extend(check(plan, adj, config, weights=weights))
    return plan


def donation_links(
    links: Sequence[Collection[int]], before: int, donations: list[tuple[int, int]], area_of: Sequence[int]
) -> list[set[int]]:
    """The neighbour graph the areas are grouped on after `donations` (donor, given item), from the
    cells' graph `links` (its first `before` rows; links to later items ignored); new sets, `links` is
    left as it is (`compiled.donation_links` is this on CSR arrays)."""
    full = [{j for j in links[i] if j < before} for i in range(before)]
    full += [set() for _ in range(before, max([before, *(g + 1 for _, g in donations)]))]
    # A new item links only to what its cell will surely touch: its donor (across the cut) and the
    # receiving area's cells next to the donor.
    for donor, given in donations:
        full[given] = {donor} | {m for m in full[donor] if area_of[m] == area_of[given]}
        for j in full[given]:
            full[j].add(given)
    # A donor's cell is cut later: keep only links sure to survive the cut, the donor's to its own area
    # and to the pieces it gives (which the cut line borders).
    for donor, _ in donations:
        for j in [j for j in full[donor] if area_of[j] != area_of[donor]]:
            full[donor].discard(j)
            full[j].discard(donor)
    for donor, given in donations:
        full[donor].add(given)
        full[given].add(donor)
    return full


def _partition_compiled(
    items: list[Item],
    adj: list[set[int]],
    blocks: list[int],
    config: Config,
    centres: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
    household_weights: dict[str, tuple[float, ...]] | None = None,
    orient: int = 0,
) -> Plan:
    """`_partition` with the compiled kernels, on arrays from end to end: the same plan."""
    before = len(items)
    weights = np.array([it.weight for it in items], dtype=float)
    xy = (
        centres
        if centres is not None
        else np.array([[it.x, it.y] for it in items], dtype=float).reshape(-1, 2)
    )
    xs, ys = (np.ascontiguousarray(v, dtype=np.float64) for v in (xy[:, 0], xy[:, 1]))
    blk = np.asarray(blocks, dtype=np.int64)
    fx = fixed if fixed is not None else np.zeros(len(items), dtype=bool)
    order = order_items(xs, ys, blk, orient)
    lo, hi = config.area_min, config.area_max
    cut_adj = respect_barriers(adj, blk, weights, lo, hi)
    shared = cut_adj is adj  # (no barrier cut a link)
    graph = compiled.csr(cut_adj)
    members, ends = _cut_arrays(order, weights, xs, ys, lo, hi, fx, graph)
    adj_graph = full_graph = graph
    donations: list[Donation] = []
    if household_weights is not None:
        got = donate_arrays(members, ends, graph, weights, xs, ys, items, household_weights, lo, hi)
        donations = got.donations
        members, ends, adj_graph = got.members, got.ends, got.graph
        weights, xs, ys = got.weights, got.xs, got.ys
    n = len(items)
    ao = np.empty(n, dtype=np.int64)
    ao[members] = np.repeat(np.arange(len(ends) - 1, dtype=np.int64), np.diff(ends))
    if donations:
        donors = np.array([d.donor for d in donations], dtype=np.int64)
        given = np.arange(before, n, dtype=np.int64)
        if not _one_block(blk):
            # (the block of each new item's building: that of its last item before the donations)
            needed = {it.building for it in items[before:]}
            block_of_building = {
                it.building: b for it, b in zip(items, blk.tolist(), strict=False) if it.building in needed
            }
            new_blk = [block_of_building[it.building] for it in items[before:]]
            blk = np.concatenate([blk, np.array(new_blk, dtype=np.int64)])
        else:
            blk = np.concatenate([blk, np.full(n - before, blk[0] if before else 0, dtype=np.int64)])
        order = np.concatenate([order, given])
        # For the areas' neighbour graph a new item links only to what its cell will surely touch: its
        # donor (across the cut) and the receiving area's cells next to the donor; a donor, whose cell is
        # cut later, keeps only its links within its area and to the pieces it gives.
        cells_graph = graph if shared else compiled.csr(adj)
        full_graph = compiled.donation_links(*cells_graph, before, donors, given, ao)
    elif not shared:
        full_graph = compiled.csr(adj)
    area_of = ao.tolist()
    grid_of_area = group_areas(ao, len(ends) - 1, weights, xs, ys, blk, order, [], config, graph=full_graph)
    plan = Plan(items=items, area_of=area_of, grid_of_area=grid_of_area, donations=donations)
    plan.problems.extend(check(plan, [], config, graph=adj_graph, weights=weights))
    return plan


def group_areas(
    area_of: list[int],
    na: int,
    weights: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    blk: np.ndarray,
    order: np.ndarray,
    full_adj: list[set[int]],
    config: Config,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[int]:
    """Grid of each area: areas in sequence order, with their own neighbour graph, weights, centres.
    `graph`: `full_adj` as CSR arrays, if the caller has them."""
    n = len(area_of)
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    ao = np.asarray(area_of, dtype=np.int64)
    a_w = np.bincount(ao, weights=weights, minlength=na)
    ww = np.maximum(weights, 1e-9)
    a_ww = np.bincount(ao, weights=ww, minlength=na)
    a_x = np.bincount(ao, weights=ww * xs, minlength=na) / a_ww
    a_y = np.bincount(ao, weights=ww * ys, minlength=na) / a_ww
    several = not _one_block(blk)
    if several:
        votes: list[Counter[int]] = [Counter() for _ in range(na)]
        for a, b in zip(area_of, blk.tolist(), strict=True):
            votes[a][b] += 1
        a_blk = np.array([v.most_common(1)[0][0] for v in votes], dtype=np.int64)
    else:
        a_blk = np.full(na, blk[0] if n else 0, dtype=np.int64)
    first_pos = np.full(na, n, dtype=np.int64)
    np.minimum.at(first_pos, ao, pos)
    a_order = np.argsort(first_pos, kind="stable")
    lo, hi, none = config.grid_min, config.grid_max, np.zeros(na, dtype=bool)
    a_graph: tuple[np.ndarray, np.ndarray] | None = None
    if compiled.ENABLED:
        # The same sets, built compiled: rows in the order the sets below keep their members.
        a_ptr, a_idx = compiled.area_graph(ao, na, *(graph if graph is not None else compiled.csr(full_adj)))
        a_graph, a_adj = (a_ptr, a_idx), []  # (the kernels read the graph alone)
        if several:
            flat, bounds = a_idx.tolist(), a_ptr.tolist()
            rows: list[list[int]] = [flat[a:b] for a, b in pairwise(bounds)]
            # (A set filtered from a row walked in that order is the reference's filtered set, layout
            # and all.)
            a_adj = respect_barriers(rows, a_blk, a_w, lo, hi)  # type: ignore[arg-type]
            a_graph = (a_ptr, a_idx) if a_adj is rows else compiled.csr(a_adj)
    else:
        a_adj = [set() for _ in range(na)]
        for i, nbs in enumerate(full_adj):
            ai = area_of[i]
            for j in sorted(nbs):  # (sorted: how the rows were laid out does not matter)
                aj = area_of[j]
                if ai != aj:
                    a_adj[ai].add(aj)
        a_adj = respect_barriers(a_adj, a_blk, a_w, lo, hi)
    grids = _cut(a_order, a_w, a_x, a_y, a_adj, lo, hi, a_blk, none, config, graph=a_graph)
    grid_of_area = [0] * na
    for gi, g in enumerate(grids):
        for a in g:
            grid_of_area[a] = gi
    return grid_of_area


def _one_block(blocks: np.ndarray) -> bool:
    """Whether all items are in one block (no barrier between any two)."""
    return len(blocks) == 0 or blocks.min() == blocks.max()


def respect_barriers(
    adj: list[set[int]], blocks: np.ndarray, weights: np.ndarray, lo: float, hi: float
) -> list[set[int]]:
    """Drop neighbour links across a barrier between two blocks that can each be cut on their own;
    a block whose total cannot be cut into the range keeps its links (it must join a neighbour)."""
    if _one_block(blocks):
        return adj
    totals: Counter[int] = Counter()
    for b, w in zip(blocks.tolist(), weights.tolist(), strict=True):
        totals[b] += w
    ok = {b: feasible_total(t, lo, hi) for b, t in totals.items()}
    bl = blocks.tolist()
    return [{j for j in nbs if bl[i] == bl[j] or not (ok[bl[i]] and ok[bl[j]])} for i, nbs in enumerate(adj)]


def _cut_compiled(
    order: np.ndarray,
    weights: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    adj: list[set[int]],
    lo: float,
    hi: float,
    fixed: np.ndarray,
    graph: tuple[np.ndarray, np.ndarray] | None,
) -> list[list[int]]:
    """`_cut` with the compiled kernels chained on arrays: what `grow`, `repair`, `fill_by_chains` and
    `mend` do when compiled, with their default settings, without turning the groups into lists and
    back between the steps."""
    flat, bounds = _cut_arrays(
        order, weights, xs, ys, lo, hi, fixed, graph if graph is not None else compiled.csr(adj)
    )
    members, ends = flat.tolist(), bounds.tolist()
    return [members[a:b] for a, b in pairwise(ends)]


def _cut_arrays(
    order: np.ndarray,
    weights: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    lo: float,
    hi: float,
    fixed: np.ndarray,
    graph: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """`_cut_compiled` on arrays: groups `members[ends[g]:ends[g + 1]]`."""
    indptr, indices = graph
    w, x, y = (np.ascontiguousarray(v, dtype=np.float64) for v in (weights, xs, ys))
    fx = np.ascontiguousarray(fixed, dtype=np.bool_)
    lo, hi = float(lo), float(hi)

    def tidy(flat: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # (the groups as the next step's wrapper would pass them: members back to back from 0)
        return np.ascontiguousarray(flat[ends[0] : ends[-1]], dtype=np.int64), ends - ends[0]

    members, ends = tidy(
        *compiled.grow_groups(np.asarray(order, dtype=np.int64), indptr, indices, w, x, y, lo, hi, fx)
    )
    members, ends = tidy(*compiled.repair_groups(members, ends, indptr, indices, w, lo, hi, fx, 6))
    if hi < 2 * lo:
        members, ends = tidy(
            *compiled.chains_fill(members, ends, indptr, indices, w, x, y, lo, hi, fx, 5, 300)
        )
        focus = np.zeros(len(ends) - 1, dtype=np.bool_)
        mended = compiled.mend_groups(
            members, ends, indptr, indices, w, x, y, lo, hi, fx, MEND_REGION, focus, False
        )
        members, ends = tidy(*mended)
    return members, ends


def check(
    plan: Plan,
    adj: list[set[int]],
    config: Config,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
    weights: np.ndarray | None = None,
) -> list[Problem]:
    """Areas or grids out of range or not contiguous in the neighbour graph. `graph`: `adj` as CSR
    arrays, and `weights` the items' weights, if the caller has them."""
    problems = []
    label = np.asarray(plan.area_of, dtype=np.int64) if compiled.ENABLED or weights is not None else None
    if compiled.ENABLED:
        whole = compiled.groups_connected(
            label, plan.n_areas, *(graph if graph is not None else compiled.csr(adj))
        ).tolist()
    else:
        members: list[list[int]] = [[] for _ in range(plan.n_areas)]
        for i, a in enumerate(plan.area_of):
            members[a].append(i)
        whole = [connected(g, adj) for g in members]
    # (bincount adds the weights in item order, as `plan.area_weights()` does: the same sums)
    area_weights = (
        plan.area_weights()
        if label is None or weights is None
        else np.bincount(label, weights=weights, minlength=plan.n_areas).tolist()
    )
    lo, hi = config.area_min - 1e-9, config.area_max + 1e-9
    aw = np.asarray(area_weights, dtype=float)
    bad = np.flatnonzero(~((lo <= aw) & (aw <= hi)) | ~np.asarray(whole, dtype=bool)).tolist()
    for a in bad:  # (the areas out of range or in pieces: checked again one by one)
        w = area_weights[a]
        if not lo <= w <= hi:
            problems.append(
                Problem(
                    "out_of_range",
                    f"area {a} holds {w:g} (range {config.area_min:g}–{config.area_max:g})",
                    (str(a),),
                    params={"level": "area", "weight": w, "lo": config.area_min, "hi": config.area_max},
                )
            )
        if not whole[a]:
            problems.append(
                Problem(
                    "not_contiguous", f"area {a} is in several pieces", (str(a),), params={"level": "area"}
                )
            )
    # (`plan.grid_weights()`, from the area weights at hand: bincount adds them in area order too)
    grid_weights = np.bincount(
        np.asarray(plan.grid_of_area, dtype=np.int64), weights=aw, minlength=plan.n_grids
    ).tolist()
    for g, w in enumerate(grid_weights):
        if not config.grid_min - 1e-9 <= w <= config.grid_max + 1e-9:
            problems.append(
                Problem(
                    "out_of_range",
                    f"grid {g} holds {w:g} (range {config.grid_min:g}–{config.grid_max:g})",
                    (f"grid:{g}",),
                    params={"level": "grid", "weight": w, "lo": config.grid_min, "hi": config.grid_max},
                )
            )
    return problems


def feasibility(items: list[Item], blocks: list[int], config: Config) -> list[Problem]:
    """Blocks (between barriers) and the whole community whose totals cannot be cut into the range."""
    problems = []
    totals: Counter[int] = Counter()
    for it, b in zip(items, blocks, strict=True):
        totals[b] += it.weight
    lo, hi = config.area_min, config.area_max
    if len(totals) > 1:
        for b, t in sorted(totals.items()):
            if not feasible_total(t, lo, hi):
                below, above = nearest_feasible(t, lo, hi)
                problems.append(
                    Problem(
                        "infeasible_block",
                        f"block {b} between barriers holds {t:g} households: it cannot be cut into groups of "
                        f"{lo:g}–{hi:g}",
                        (f"block:{b}",),
                        f"nearest feasible totals are {below:g} and {above:g}; the block is joined with a "
                        "neighbouring block across the barrier instead",
                        params={"total": t, "lo": lo, "hi": hi, "below": below, "above": above},
                    )
                )
    total = sum(totals.values())
    if not feasible_total(total, lo, hi):
        below, above = nearest_feasible(total, lo, hi)
        k = max(1, round(total / ((lo + hi) / 2)))
        problems.append(
            Problem(
                "infeasible_community",
                f"the community holds {total:g} households: it cannot be cut into groups of {lo:g}–{hi:g}",
                (),
                f"nearest feasible totals are {below:g} and {above:g}; or accept {k} area(s) of about "
                f"{total / k:.1f}",
                params={
                    "total": total,
                    "lo": lo,
                    "hi": hi,
                    "below": below,
                    "above": above,
                    "k": k,
                    "average": round(total / k, 1),
                },
            )
        )
    return problems


def number(polys_or_points: np.ndarray, band: float) -> list[int]:
    """Rank of each centre in reading order: rows north→south of height `band`, west→east in a row."""
    if len(polys_or_points) == 0:
        return []
    x, y = polys_or_points[:, 0], polys_or_points[:, 1]
    row = np.floor((y.max() - y) / max(band, 1e-6))
    order = np.lexsort((x, row))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank.tolist()


@dataclass
class Prepared:
    """Everything the partition needs about one community (items, cells, neighbours)."""

    items: list[Item]
    cells: list[BaseGeometry]
    blocks: list[int]
    adj: list[set[int]]
    centres: np.ndarray
    household_weights: dict[str, tuple[float, ...]]
    infeasible: list[Problem]
    angles: dict[str, float]  # building → direction its cell is cut across (`slice_cell`)
    wholes: dict[str, BaseGeometry]  # building → its whole cell, before any cut


def prepare(community: CommunityIn, config: Config, items: list[Item] | None = None) -> Prepared:
    validate(community)
    forget_cuts()  # the cut memos serve this community's passes only
    if items is None:
        items, _ = split_buildings(community.buildings, config)
    angles: dict[str, float] = {}
    wholes: dict[str, BaseGeometry] = {}
    cells, blocks = item_cells(community, items, angles, wholes)
    adj = adjacency(cells, config.min_shared_border)
    return prepared(community, config, items, cells, blocks, adj, angles, wholes)


def prepared(
    community: CommunityIn,
    config: Config,
    items: list[Item],
    cells: list[BaseGeometry],
    blocks: list[int],
    adj: list[set[int]],
    angles: dict[str, float],
    wholes: dict[str, BaseGeometry],
) -> Prepared:
    """The engine's inputs from items, their cells, blocks and links (`prepare`, and an incremental
    re-grid's `local.local_inputs`): centres, household weights and the blocks' feasibility derived."""
    centres = np.array(
        [
            [c.centroid.x, c.centroid.y] if not c.is_empty else [it.x, it.y]
            for c, it in zip(cells, items, strict=True)
        ]
    ).reshape(-1, 2)
    return Prepared(
        items,
        cells,
        blocks,
        adj,
        centres,
        {b.id: b.weights for b in community.buildings},
        feasibility(items, blocks, config),
        angles,
        wholes,
    )


def plan_community(
    community: CommunityIn,
    config: Config | None = None,
    *,
    code: str = "",
    build_polygons: bool = True,
    check_codes: bool = False,
) -> Plan:
    """The whole pipeline for one community.

    The partition is the best of several Hilbert walks (`best_partition`; the first walk alone for a
    community of more than `WALKS_UP_TO` items); where the plan it leads to ends below the quality floor
    (an area out of range or in pieces, a convex hull's Polsby–Popper below `HULL_MIN`, a polygon in
    several parts) the plan of the first walk is made too and kept if it does better. With
    `check_codes`, a plan whose grids or areas cannot all be numbered (3 digits a grid, 2 an area: what
    the database holds) raises `CodeSpaceError`."""
    config = config or Config()
    p = prepare(community, config)
    items0 = list(p.items)
    plan, orient = best_partition(p, config, ORIENTATIONS if len(p.items) <= WALKS_UP_TO else 1)
    plan, below = _complete(community, config, p, plan, code, build_polygons, check_codes, judge=orient != 0)
    if below:
        p0 = dataclasses.replace(p, items=items0)  # (the plan kept so far holds `p.items`)
        first = partition(
            p0.items, p0.adj, p0.blocks, config, centres=p0.centres, household_weights=p0.household_weights
        )
        got, below_first = _complete(
            community, config, p0, first, code, build_polygons, check_codes, judge=True
        )
        if below_first < below:
            plan = got
    return plan


def _complete(
    community: CommunityIn,
    config: Config,
    p: Prepared,
    plan: Plan,
    code: str,
    build_polygons: bool,
    check_codes: bool,
    *,
    judge: bool,
) -> tuple[Plan, int]:
    """`plan_community` after the partition: cells cut and quality passes, codes, polygons, problems
    explained. Returns the plan and, with `judge`, how many of its areas are below the quality floor
    (`_below_floor`, and areas whose polygon is in several parts; else 0)."""
    plan, cells, adj0, block_of = _cells_and_quality(community, config, p, plan)
    below = _below_floor(plan, cells, config) if judge else 0
    plan.household_ids = {b.id: b.household_ids for b in community.buildings if b.household_ids}
    if check_codes:
        check_code_space(plan, code)
    if build_polygons:
        seal(cells, _cut_items(plan.items), community.boundary)
    _finish(plan, cells, code, community.boundary, build_polygons)
    explained(plan, adj0, block_of, config)
    if build_polygons:
        plan.item_cells = cells
        if judge:
            below += sum(poly.geom_type != "Polygon" for poly in plan.area_polygons)
    return plan, below


def _cells_and_quality(
    community: CommunityIn, config: Config, p: Prepared, plan: Plan
) -> tuple[Plan, list[BaseGeometry], list[set[int]], dict[str, int]]:
    """The steps of `plan_community` between the partition and the polygons: shared buildings' cells cut
    and the quality passes (`cut_shared_buildings`), grids grouped again if need be; returns the plan,
    the cells, their neighbour graph and each building's block."""
    n0 = len(p.cells)
    adj0 = [set(s) for s in p.adj]  # (cut_shared_buildings grows and relinks it in place)
    cells = list(p.cells)
    block_of = {it.building: b for it, b in zip(p.items[:n0], p.blocks, strict=True)}
    grid_w = plan.grid_weights()
    changed = cut_shared_buildings(plan, cells, adj0, p, config)
    if changed:
        blk = np.array([block_of[it.building] for it in plan.items], dtype=np.int64)
        weights = np.array([it.weight for it in plan.items])
        lo, hi = config.grid_min - 1e-9, config.grid_max + 1e-9
        moved = plan.grid_weights() != grid_w  # an area mended with households of another grid
        if moved or not _grids_connected(plan, adj0) or not all(lo <= w <= hi for w in plan.grid_weights()):
            # Cut cells moved a border the grids relied on, or an undone donation left a grid short:
            # group the areas again on the cells as cut.
            xy = np.array(
                [
                    [c.centroid.x, c.centroid.y] if not c.is_empty else [it.x, it.y]
                    for c, it in zip(cells, plan.items, strict=True)
                ]
            ).reshape(-1, 2)
            order = order_items(xy[:, 0], xy[:, 1], blk)
            plan.grid_of_area = group_areas(
                plan.area_of, plan.n_areas, weights, xy[:, 0], xy[:, 1], blk, order, adj0, config
            )
        adj_f = respect_barriers(adj0, blk, weights, config.area_min, config.area_max)
        plan.problems = check(plan, adj_f, config)  # on the cells as cut, not the borrowed links
    plan.problems[:0] = p.infeasible
    return plan, cells, adj0, block_of


def _below_floor(plan: Plan, cells: list[BaseGeometry], config: Config) -> int:
    """Areas out of range or in pieces, and areas whose convex hull's Polsby–Popper is below `HULL_MIN`
    (on the cells as cut)."""
    bad = sum(pr.kind in ("out_of_range", "not_contiguous") for pr in plan.problems)
    return bad + int((hull_pps(cells, plan.area_of, plan.n_areas) < HULL_MIN).sum())


# Hilbert walks a fresh plan's partition is run on (`best_partition`, `order_items`): the curve's 8
# symmetric walks, and those of the points turned 22.5°. A fifth of the bench city, buildings split:
# 1 walk 11.47%, 4 walks 11.16%, 8 walks 11.05%, 16 walks 10.92%, 32 walks (turned by 22.5° steps)
# 10.88%; each walk is one partition (~1.2 ms for a community of 140 buildings, ~65 ms for 10,000).
# 4: the city's partitions then take ~3 s of one core (16: ~12 s, over the 5 s a million households may
# take), for most of the gain.
ORIENTATIONS = 4
# Communities of more items are partitioned on the first walk only: the chance that the walk kept ends
# with an area below the quality floor, so that `plan_community` makes the whole plan twice, grows with
# their size (10,000 buildings: 10 → 20 s a plan), and their partition alone is ~65 ms a walk.
WALKS_UP_TO = 5000


def best_partition(p: Prepared, config: Config, orientations: int = ORIENTATIONS) -> tuple[Plan, int]:
    """`partition` on each of `orientations` Hilbert walks (`order_items`), keeping the plan that leaves
    the fewest areas out of range, then cuts the fewest buildings within the area range (donations),
    then the first walk; `p.items` grows in place as `partition` grows it, for the plan kept. Returns
    the plan and its walk.

    Where the partition has to give a short group households of a neighbouring building depends on where
    the walk leaves its tight pockets; no single walk is best everywhere, and the quality passes after
    the partition rarely undo a donation (the areas around hold about 15 households), so trying the
    walks is the cheapest way to fewer buildings split."""
    best: tuple[tuple[int, int, int], Plan, list[Item]] | None = None
    for orient in range(max(1, orientations)):
        items = list(p.items)
        plan = partition(
            items, p.adj, p.blocks, config, centres=p.centres, household_weights=p.household_weights,
            orient=orient,
        )  # fmt: skip
        bad = sum(pr.kind in ("out_of_range", "not_contiguous") for pr in plan.problems)
        key = (bad, _small_cuts(plan.items, config.area_max), orient)
        if best is None or key < best[0]:
            best = (key, plan, items)
    assert best is not None
    p.items[:] = best[2]
    best[1].items = p.items
    return best[1], best[0][2]


def _small_cuts(items: list[Item], hi: float) -> int:
    """Buildings of at most `hi` households cut into several items."""
    count: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for it in items:
        count[it.building] += 1
        total[it.building] += it.weight
    return sum(1 for b, k in count.items() if k > 1 and total[b] <= hi + 1e-9)


def explained(plan: Plan, adj: list[set[int]], block_of: dict[str, int], config: Config) -> None:
    """Give the areas and grids left out of range their nearest alternative (`nearest.explain`, in
    place), on the cells' links (across a barrier only where the blocks' totals cannot be cut); the
    links are kept as `plan.links`."""
    blk = np.array([block_of[it.building] for it in plan.items], dtype=np.int64)
    weights = np.array([it.weight for it in plan.items])
    plan.links = respect_barriers(adj, blk, weights, config.area_min, config.area_max)
    if any(pr.kind == "out_of_range" for pr in plan.problems):
        explain(plan, plan.links, config)


def cut_shared_buildings(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    p: Prepared,
    config: Config,
    *,
    uncut: bool = True,
    focus: Callable[[Plan], set[int]] | None = None,
    only: set[str] | None = None,
) -> bool:
    """Cells of buildings shared by several areas (`cells` and `adj` grow to one entry per item, in
    place): each area's households get the piece facing it, by the rule a re-grid repeats, so it
    rebuilds the same cells wherever a change did not reach. A donation whose building cannot be cut
    so that its areas stay in one piece each is taken back (its receiver is then reported short).
    Areas still out of range are then mended by re-cutting one building each (`recut`); with `uncut`
    (a fresh plan, not a re-grid, which keeps what it can as it was), buildings within the area range
    that a donation cut are made whole again where buildings already cut can make up the difference;
    with `focus`, only the areas it names (those a re-grid's change reached) are mended; with `only`,
    only those buildings are faced at first (an incremental re-grid: the others keep their stored cells).
    Returns whether any cell was cut or any donation taken back."""
    cells += [Polygon()] * (len(plan.items) - len(cells))
    adj += [set() for _ in range(len(plan.items) - len(adj))]
    faced: list[int] = []
    changed = bool(plan.donations)
    around: set[str] | None = only
    for _attempt in range(len(plan.donations) + 1):  # each attempt takes back at least one donation
        labels = [a + 1 for a in plan.area_of]
        cut, failed = face_areas(
            plan.items, cells, labels, adj, config.min_shared_border, p.angles, p.wholes, around
        )
        faced += cut
        donors = {plan.items[d.donor].building for d in plan.donations} & failed
        if not donors:
            break
        # Undone buildings are re-cut across their long axis; then the buildings of the areas the
        # taken-back donations touched (and only those) are faced again from there.
        near = {i for i, it in enumerate(plan.items) if it.building in donors}
        near |= {j for i in list(near) for j in adj[i]}
        areas = {plan.area_of[i] for i in near}
        around = {it.building for it, a in zip(plan.items, plan.area_of, strict=True) if a in areas}
        plan.items, plan.area_of, plan.donations = undo(
            plan.items,
            plan.area_of,
            cells,
            adj,
            plan.donations,
            donors,
            config.min_shared_border,
            p.angles,
            p.wholes,
        )
        changed = True
    refilled = _refill(plan, cells, adj, config, pushing=uncut)
    block_of = {it.building: b for it, b in zip(p.items, p.blocks, strict=False)}
    one_block = len(set(p.blocks)) <= 1
    # A re-cut moves households within a building, so each block's total (and whether it can be cut
    # on its own) stays as it is now: `respect_barriers` read lazily, item by item.
    totals: Counter[int] = Counter()
    for it in plan.items:
        totals[block_of[it.building]] += it.weight
    cuttable = {b: feasible_total(t, config.area_min, config.area_max) for b, t in totals.items()}

    def restrict(links: list[set[int]], items: list[Item]) -> list[set[int]]:
        if one_block:
            return links
        return _AcrossBarriers(links, items, block_of, cuttable)  # type: ignore[return-value]

    # A fresh plan groups its areas into grids again if need be; a re-grid keeps every grid's households.
    grids = None if uncut else (config.grid_min, config.grid_max, True)
    m = Mend(
        p.household_weights, config.area_min, config.area_max, config.min_shared_border, p.angles, p.wholes,
        restrict, grids,
    )  # fmt: skip
    only = focus(plan) if focus is not None else None
    mended = mend_out_of_range(plan, cells, adj, m, only=only)
    whole = uncut and uncut_small(plan, cells, adj, m)
    whole = (uncut and uncut_pairs(plan, cells, adj, m)) or whole
    whole = (uncut and uncut_chains(plan, cells, adj, m)) or whole
    # What no re-cut mended: chains of whole-building moves once more, on the cells as now cut.
    # (A re-grid: only in the areas its change reached.)
    late = _refill(plan, cells, adj, config, only=focus(plan) if focus is not None else None)
    # What is still out of range: two buildings shared out again together.
    only = focus(plan) if focus is not None else None
    paired = mend_pairs(plan, cells, adj, m, only=only)
    # What two cannot mend: three buildings of the area's pocket shared out together (rarely reached).
    only = focus(plan) if focus is not None else None
    paired = mend_pockets(plan, cells, adj, m, only=only) or paired
    # Areas left with a thin convex hull (pieces of cut buildings): shared out again with a neighbour.
    only = focus(plan) if focus is not None else None
    wide = widen_thin(plan, cells, adj, m, only=only)
    return refilled or mended or whole or late or paired or wide or changed or bool(faced)


class _AcrossBarriers(Sequence[set[int]]):
    """`respect_barriers(links, …)` for the items of `items`, computed item by item when read (a re-cut
    reads the neighbours of a few items only)."""

    def __init__(
        self, links: list[set[int]], items: list[Item], block_of: dict[str, int], cuttable: dict[int, bool]
    ) -> None:
        self.links, self.items, self.block_of, self.cuttable = links, items, block_of, cuttable

    def __len__(self) -> int:
        return len(self.links)

    def __getitem__(self, i: int) -> set[int]:  # type: ignore[override]
        bo, items, ok = self.block_of, self.items, self.cuttable
        bi = bo[items[i].building]
        return {
            j
            for j in self.links[i]
            if bo[items[j].building] == bi or not (ok[bi] and ok[bo[items[j].building]])
        }


def _refill(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    config: Config,
    *,
    pushing: bool = True,
    only: set[int] | None = None,
) -> bool:
    """Fill areas a donation taken back left short by chains of whole-building moves on the neighbour
    graph of the cells as cut (buildings shared by several areas stay put, so no cell changes);
    dissolved areas are dropped. With `pushing`, a short area no chain fills may also merge into a
    neighbour that passes whole buildings on; with `only`, just those areas are filled. Returns whether
    any area changed."""
    lo, hi = config.area_min, config.area_max
    short = {a for a, w in enumerate(plan.area_weights()) if w < lo - 1e-9 and (only is None or a in only)}
    if not short:
        return False
    members: list[list[int]] = [[] for _ in range(plan.n_areas)]
    for i, a in enumerate(plan.area_of):
        members[a].append(i)
    count: Counter[str] = Counter(it.building for it in plan.items)
    shared = {i for i, it in enumerate(plan.items) if count[it.building] > 1}
    xy = [
        (c.centroid.x, c.centroid.y) if not c.is_empty else (it.x, it.y)
        for c, it in zip(cells, plan.items, strict=True)
    ]
    weights = [it.weight for it in plan.items]
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    groups = fill_by_chains(
        members, weights, adj, lo, hi, xs, ys, focus=short, keep_empty=True, fixed=shared, pushing=pushing
    )
    if all(plan.area_of[i] == a for a, g in enumerate(groups) for i in g):
        return False
    for a, g in enumerate(groups):  # index for index (keep_empty): a dissolved area is left empty
        for i in g:
            plan.area_of[i] = a
    drop_empty(plan)
    return True


def _cut_items(items: list[Item]) -> list[int]:
    """Items of buildings cut into several (the cells `tessellate.seal` mends)."""
    count = Counter(it.building for it in items)
    return [i for i, it in enumerate(items) if count[it.building] > 1]


def _grids_connected(plan: Plan, adj: list[set[int]]) -> bool:
    """Whether every grid's items form one piece in the neighbour graph."""
    members: list[list[int]] = [[] for _ in range(plan.n_grids)]
    for i, a in enumerate(plan.area_of):
        members[plan.grid_of_area[a]].append(i)
    return all(connected(g, adj) for g in members)


def name_problem(p: Problem, area_code: Callable[[int], str], grid_code: Callable[[int], str]) -> Problem:
    """Problems are found while areas and grids are still numbered by index; once codes exist,
    name them by code (in the message, `where` and params)."""
    if p.kind not in ("out_of_range", "not_contiguous") or not p.where:
        return p
    where = p.where[0]
    if where.startswith("grid:"):
        index, label, name = int(where[5:]), "grid", grid_code(int(where[5:]))
    elif where.isdigit():
        index, label, name = int(where), "area", area_code(int(where))
    else:
        return p
    return Problem(
        p.kind,
        p.message.replace(f"{label} {index} ", f"{label} {name} ", 1),
        (name,),
        p.alternative,
        {**p.params, "code": name},
    )


def _finish(plan: Plan, cells: list[BaseGeometry], code: str, boundary: BaseGeometry, build: bool) -> None:
    """Number grids and areas in reading order, renumber plan indices to match, dissolve polygons."""
    area_members: list[list[int]] = [[] for _ in range(plan.n_areas)]
    for i, a in enumerate(plan.area_of):
        area_members[a].append(i)
    area_polys = dissolve(cells, area_members)
    a_centres = np.array([[p.centroid.x, p.centroid.y] for p in area_polys]).reshape(-1, 2)
    grid_members: list[list[int]] = [[] for _ in range(plan.n_grids)]
    for a, g in enumerate(plan.grid_of_area):
        grid_members[g].append(a)
    grid_polys = dissolve(area_polys, grid_members)
    g_centres = np.array([[p.centroid.x, p.centroid.y] for p in grid_polys]).reshape(-1, 2)
    g_band = math.sqrt(boundary.area / max(1, plan.n_grids))
    g_rank = number(g_centres, g_band)
    # New grid index = rank; areas renumbered within their grid.
    new_area_index: dict[int, int] = {}
    area_codes: list[str] = []
    grid_of_area: list[int] = []
    polys: list[BaseGeometry] = []
    for g in sorted(range(plan.n_grids), key=lambda g: g_rank[g]):
        members = grid_members[g]
        band = math.sqrt(max(grid_polys[g].area, 1.0) / max(1, len(members)))
        ranks = number(a_centres[members], band)
        for a, _r in sorted(zip(members, ranks, strict=True), key=lambda t: t[1]):
            new_area_index[a] = len(area_codes)
            area_codes.append(f"{code}{g_rank[g] + 1:03d}{_r + 1:02d}")
            grid_of_area.append(g_rank[g])
            polys.append(area_polys[a])
    plan.problems = [
        name_problem(p, lambda a: area_codes[new_area_index[a]], lambda g: f"{code}{g_rank[g] + 1:03d}")
        for p in plan.problems
    ]
    plan.area_of = [new_area_index[a] for a in plan.area_of]
    plan.grid_of_area = grid_of_area
    plan.area_codes = area_codes
    plan.grid_codes = [f"{code}{r + 1:03d}" for r in range(plan.n_grids)]
    if build:
        plan.area_polygons = polys
        by_rank = sorted(range(len(grid_polys)), key=lambda g: g_rank[g])
        plan.grid_polygons = [grid_polys[g] for g in by_rank]


__all__ = [
    "BuildingIn",
    "CodeSpaceError",
    "CommunityIn",
    "Config",
    "GriddingInputError",
    "Plan",
    "blocks_of",
    "cut_shared_buildings",
    "partition",
    "plan_community",
]
