"""What one re-cut cannot do: two buildings shared out again together (`recut` re-shares one at a time).

- `mend_pairs`: an area `recut` left out of range (typically a short pocket of 5–14 households between
  areas at or near the top of the range) often needs two buildings to move at once: one gives the
  pocket a run or a whole building, the other makes up what its neighbour lost (or the pocket
  vanishes, its buildings shared out among neighbours with room). The pairs of buildings around it
  are shared out together on the numbers (`share_pair`: every area the two touch ends in range, or
  empty), fewest buildings cut first, and the best few are tried on the cells by the rule of a fresh
  plan, kept only if every area involved stays in one piece; failing that, a pair may leave one
  neighbour out of range for a third re-cut (or chains of whole-building moves) to mend.
- `uncut_pairs`: a building within the area range that a donation cut, and that `uncut_small` could
  not make whole, goes whole to one area while a building nearby (already cut, or moved whole) makes
  up the difference; `uncut_chains`: or the area it leaves out of range takes a whole building from a
  neighbour (or gives one), and a building already cut next to that neighbour is re-shared to bring it
  back. No building is newly cut.
- `widen_thin`: an area whose convex hull is thin (Polsby–Popper below 0.45: in practice pieces of cut
  buildings) is shared out again with its neighbours (one building, or two together), keeping the
  change that leaves the thinnest area involved the most compact.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .donate import _hull_pp
from .model import Plan
from .quality import polsby_popper
from .recut import (
    EPS,
    MAX_AREAS,
    Mend,
    _apply,
    _chain_fix,
    _grid_weight,
    _Index,
    _mend_area,
    _options,
    _restore,
    _Sizes,
    _snapshot,
    finish,
    grid_parts,
    grids_kept,
    kept_grids,
    share_out,
)
from .repair import components

PAIR_FIRST = 8  # buildings at the area tried as the first of a pair
PAIR_SECOND = 10  # second buildings per first (buildings already cut first)
PAIR_SPLITS = 24  # distinct ways the first building can feed the areas the two share
PAIR_TRIES = 8  # pairs tried on the cells per area

Run = tuple[int, int, int]  # (area, first household, end)


def share_pair(
    hw1: tuple[float, ...] | list[float],
    order1: list[int],
    hw2: tuple[float, ...] | list[float],
    order2: list[int],
    other: dict[int, float],
    held1: dict[int, float],
    held2: dict[int, float],
    lo: float,
    hi: float,
    target: int,
    whole1: bool = False,
    spill: int | None = None,
    grid_of: list[int] | None = None,
) -> list[tuple[list[Run], list[Run]]]:
    """Ways to share two buildings out together (`share_out` each: one run per area, in the order given)
    so that every area of `order1` and `order2` ends in [lo, hi] or empty (`other[a]`: what area `a`
    holds of neither building; one out of range other than `target` may also stay as it is). Best first:
    fewest buildings left cut, fewest runs, fewest households moved. With `whole1`, the first building
    goes whole to one area; with `spill` (an area of `order2` other than `target`), that area may end
    anywhere up to `hi` (a third re-cut is to mend it, see `_mend_pair`). With `grid_of` (`kept_grids`),
    only share-outs that leave every grid's households as they are."""
    shared = frozenset(order1) & frozenset(order2)
    p1 = [0.0, *itertools.accumulate(hw1)]
    p2 = [0.0, *itertools.accumulate(hw2)]
    runs1 = 1 if whole1 else None
    firsts = share_out(
        hw1, order1, other, held1, lo, hi, target, loose=shared, limit=8 * PAIR_SPLITS, max_runs=runs1
    )
    seen: set[tuple[float, ...]] = set()
    out: list[tuple[tuple[int, int, float], list[Run], list[Run]]] = []
    areas = list(dict.fromkeys(order1 + order2))
    before = {a: other.get(a, 0.0) + held1.get(a, 0.0) + held2.get(a, 0.0) for a in areas}
    for s1 in firsts:
        got = dict.fromkeys(shared, 0.0)
        for a, s, e in s1:
            if a in shared:
                got[a] += p1[e] - p1[s]
        key = tuple(round(got[a], 6) for a in sorted(shared))
        if key in seen:
            continue
        seen.add(key)
        other2 = {a: other.get(a, 0.0) + got.get(a, 0.0) for a in order2}
        loose = frozenset() if spill is None else frozenset((spill,))
        for s2 in share_out(hw2, order2, other2, held2, lo, hi, target, loose=loose, limit=8)[:4]:
            end = {a: other.get(a, 0.0) for a in areas}
            for p, sol in ((p1, s1), (p2, s2)):
                for a, s, e in sol:
                    end[a] += p[e] - p[s]
            if all(a == spill or _fine(a, end[a], before[a], lo, hi, target) for a in areas) and grids_kept(
                grid_of, before, end
            ):
                runs1, runs2 = sum(e > s for _, s, e in s1), sum(e > s for _, s, e in s2)
                moved = sum(abs(end[a] - before[a]) for a in areas) / 2
                out.append(((int(runs1 > 1) + int(runs2 > 1), runs1 + runs2, moved), s1, s2))
        if len(seen) >= PAIR_SPLITS:
            break
    out.sort(key=lambda t: t[0])
    return [(s1, s2) for _key, s1, s2 in out]


def _fine(a: int, w: float, before: float, lo: float, hi: float, target: int) -> bool:
    if w <= EPS or lo - EPS <= w <= hi + EPS:
        return True
    return a != target and abs(w - before) <= EPS and not lo - EPS <= before <= hi + EPS


def mend_pairs(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    m: Mend,
    *,
    only: set[int] | None = None,
) -> bool:
    """Bring areas still out of range into range by sharing out two buildings together (see the
    module); `plan`, `cells` and `adj` change in place (areas left empty are dropped). With
    `m.grid_range`, grids stay in range and in one piece (or keep their households, for a re-grid); with
    `only`, just those areas are mended. Returns whether anything changed."""
    lo, hi, wholes = m.lo, m.hi, m.wholes
    bad = m.out_of_range(plan, only)
    if not bad:
        return False
    changed = False
    index = _Index(plan, wholes)
    for a in bad:
        w = index.weight(plan, a)
        if w <= EPS or lo - EPS <= w <= hi + EPS:
            continue
        if _mend_pair(plan, cells, adj, a, m, index=index, bad=set(bad)):
            changed = True
    return finish(plan, cells, adj, index, changed)


def _order(
    plan: Plan,
    adj_f: list[set[int]],
    b: str,
    target: int,
    sizes: dict[int, float],
    index: _Index,
    household_weights: dict[str, tuple[float, ...]],
    prefer: set[int],
    grid_of: list[int] | None = None,
    grids: frozenset[int] = frozenset(),
) -> tuple[list[int], dict[int, float]] | None:
    """The areas building `b` may be shared among (those holding it in unit/floor order, `target` if it
    is next to it, then neighbours: those in `prefer` first, then the smallest) and what each holds of
    it now; None if it cannot be shared out. With `grid_of` (`kept_grids`), only areas of the grids
    holding it and of `grids` (where another building of the share-out may make up for it)."""
    items, area_of = plan.items, plan.area_of
    parts = sorted(index.by_building.get(b, ()), key=lambda i: items[i].first)
    hw = household_weights.get(b)
    if not parts or hw is None or sum(items[i].count for i in parts) != len(hw):
        return None
    held: dict[int, float] = {}
    for i in parts:
        held[area_of[i]] = held.get(area_of[i], 0.0) + items[i].weight
    around = {area_of[j] for i in parts for j in adj_f[i]} - set(held)
    if grid_of is not None:
        in_grids = {grid_of[a] for a in held} | grids
        around = {a for a in around if grid_of[a] in in_grids}
    order = list(dict.fromkeys(area_of[i] for i in parts))
    if target in around:
        order.append(target)
    rest = sorted(around - {target}, key=lambda a: (a not in prefer, sizes[a]))
    order += rest[: max(0, MAX_AREAS - len(order))]
    return order, held


Moves = list[tuple[str, list[Run]]]  # buildings and the runs each is re-cut into


def _combos(
    plan: Plan,
    adj_f: list[set[int]],
    target: int,
    household_weights: dict[str, tuple[float, ...]],
    lo: float,
    hi: float,
    index: _Index,
    per_pair: int = 2,
    spill: bool = False,
    grid_of: list[int] | None = None,
) -> list[tuple[tuple[int, int], Moves, list[int], int | None]]:
    """Pairs of buildings around `target` shared out together so that every area they touch ends in
    range (numbers only): (buildings left cut, runs), the moves, the areas involved and (with `spill`)
    the one area left for a third re-cut to mend, best first. With `grid_of` (`kept_grids`), every grid
    keeps its households: a building is shared out among the areas of its grids, and (without `spill`)
    the first also of `target`'s grid, the second also of the grids the first reaches, so that the one
    makes up for what the other moves across a grid's border."""
    items, area_of = plan.items, plan.area_of
    by_building, members = index.by_building, index.members
    sizes = index.sizes(plan)
    cross = frozenset((grid_of[target],)) if grid_of is not None and not spill else frozenset()
    mine = members.get(target, [])
    own = list(dict.fromkeys(items[i].building for i in mine))
    touching = (items[j].building for i in mine for j in sorted(adj_f[i]) if area_of[j] != target)
    near = [b for b in dict.fromkeys(touching) if b not in own]
    firsts = (own + near)[:PAIR_FIRST]
    combos: list[tuple[tuple[int, int], Moves, list[int], int | None]] = []
    done: set[frozenset[str]] = set()
    for b1 in firsts:
        got1 = _order(plan, adj_f, b1, target, sizes, index, household_weights, set(), grid_of, cross)
        if got1 is None:
            continue
        order1, held1 = got1
        if target not in order1:
            continue
        ring = set(order1)
        held_by = (items[i].building for a in order1 for i in members.get(a, ()))
        seconds = [b for b in dict.fromkeys(held_by) if b != b1]
        seconds.sort(key=lambda b: len(by_building[b]) < 2)
        for b2 in seconds[:PAIR_SECOND]:
            if frozenset((b1, b2)) in done:
                continue
            done.add(frozenset((b1, b2)))
            # (the second building may make up in the grids the first one reaches)
            grids1 = cross | {grid_of[a] for a in order1} if cross else cross
            got2 = _order(plan, adj_f, b2, target, sizes, index, household_weights, ring, grid_of, grids1)
            if got2 is None:
                continue
            order2, held2 = got2
            union = list(dict.fromkeys(order1 + order2))
            other = {a: sizes[a] - held1.get(a, 0.0) - held2.get(a, 0.0) for a in union}
            hw1, hw2 = household_weights[b1], household_weights[b2]
            spills: list[int | None] = [x for x in order2 if x != target] if spill else [None]
            for x in spills:
                pairs = share_pair(
                    hw1, order1, hw2, order2, other, held1, held2, lo, hi, target, spill=x, grid_of=grid_of
                )
                for s1, s2 in pairs[:per_pair]:
                    cut = sum(sum(e > s for _a, s, e in sol) > 1 for sol in (s1, s2))
                    runs = sum(e > s for sol in (s1, s2) for _a, s, e in sol)
                    combos.append(((cut, runs), [(b1, s1), (b2, s2)], union, x))
    combos.sort(key=lambda c: c[0])
    return combos


def _mend_pair(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    target: int,
    m: Mend,
    *,
    index: _Index,
    bad: set[int],
) -> bool:
    """Bring `target` into range by two buildings shared out together, else by two and a third re-cut
    (or chains) for the one area the pair leaves out of range; `bad`: the areas out of range before."""
    household_weights, lo, hi = m.household_weights, m.lo, m.hi
    restrict, grid_range = m.restrict, m.grid_range
    adj_f = restrict(adj, plan.items)
    grid_of = kept_grids(plan, grid_range)
    for _key, moves, involved, _x in _combos(
        plan, adj_f, target, household_weights, lo, hi, index, grid_of=grid_of
    )[:PAIR_TRIES]:
        if _try_pair(plan, cells, adj, moves, involved, m, index):
            return True
    # Three buildings: a pair leaves one area out of range for a single re-cut (or chains) to mend.
    spilled = _combos(plan, adj_f, target, household_weights, lo, hi, index, spill=True, grid_of=grid_of)
    for _key, moves, involved, x in spilled[:PAIR_TRIES]:
        assert x is not None
        snapshot = _snapshot(plan, cells, adj, index)
        index.touched = set()
        if not _try_pair(plan, cells, adj, moves, involved, m, index):
            continue
        w = index.weight(plan, x)
        ok = (
            w <= EPS
            or lo - EPS <= w <= hi + EPS
            or _mend_area(plan, cells, adj, x, m, index=index)
            or _chain_fix(plan, cells, adj, {x}, lo, hi, restrict, index=index)
        )
        areas = set(involved) | index.touched
        ok = ok and all(_in_range(index.weight(plan, a), lo, hi) or a in bad for a in areas - {target, x})
        ok = ok and _in_range(index.weight(plan, target), lo, hi) and _in_range(index.weight(plan, x), lo, hi)
        adj_f = restrict(adj, plan.items)
        ok = ok and all(len(components(list(index.members.get(a, ())), adj_f)) <= 1 for a in areas)
        if ok:
            return True
        _restore(plan, cells, adj, snapshot, index)
    return False


def _in_range(w: float, lo: float, hi: float) -> bool:
    return w <= EPS or lo - EPS <= w <= hi + EPS


def _try_pair(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    moves: list[tuple[str, list[Run]]],
    involved: list[int],
    m: Mend,
    index: _Index,
) -> bool:
    """Re-cut each building of `moves` into its runs, then keep the change only if every involved area
    is in one piece (and the grids as `m.grid_range` asks); else restore everything."""
    household_weights, hi, min_shared, angles = m.household_weights, m.hi, m.min_shared, m.angles
    wholes, restrict, grid_range = m.wholes, m.restrict, m.grid_range
    snapshot = _snapshot(plan, cells, adj, index)
    grids = sorted({plan.grid_of_area[a] for a in involved}) if grid_range is not None else []
    grid_w = {g: _grid_weight(plan, index, g) for g in grids}
    grid_pieces = grid_parts(plan, index, grids, restrict(adj, plan.items)) if grids else {}
    changed = False
    for b, sol in moves:
        hw = household_weights[b]
        a_args = (min_shared, angles, wholes, restrict, involved, hi)
        changed |= _apply(plan, cells, adj, b, sol, hw, *a_args, index=index, check=False)
    if not changed:
        return False
    adj_f = restrict(adj, plan.items)
    ok = all(len(components(list(index.members.get(a, ())), adj_f)) <= 1 for a in involved)
    if ok and grid_range is not None:
        glo, ghi, keep_grids = grid_range
        after = {g: _grid_weight(plan, index, g) for g in grids}
        ok = all(
            abs(after[g] - grid_w[g]) <= EPS or (not keep_grids and glo - EPS <= after[g] <= ghi + EPS)
            for g in grids
        )
        ok = ok and all(n <= max(1, grid_pieces[g]) for g, n in grid_parts(plan, index, grids, adj_f).items())
    if not ok:
        _restore(plan, cells, adj, snapshot, index)
    return ok


UNCUT_SECOND = 4  # buildings already cut tried with each building to make whole


def uncut_pairs(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    m: Mend,
) -> bool:
    """Make whole again buildings within the area range still cut between areas (what `uncut_small`
    left) by sharing each out together with a building already cut nearby: the building goes whole to
    one area and the other's runs make up the difference, every area involved staying in range and in
    one piece (no building newly cut). Returns whether anything changed."""
    household_weights, lo, hi, wholes, restrict = m.household_weights, m.lo, m.hi, m.wholes, m.restrict
    index = _Index(plan, wholes)
    items = plan.items
    small = [
        b
        for b, parts in index.by_building.items()
        if len(parts) > 1 and b in household_weights and sum(household_weights[b]) <= hi + EPS
    ]
    changed = False
    for b in small:
        items = plan.items
        adj_f = restrict(adj, items)
        sizes = index.sizes(plan)
        got1 = _order(plan, adj_f, b, -1, sizes, index, household_weights, set())
        if got1 is None:
            continue
        order1, held1 = got1
        if len(held1) < 2 or not all(lo - EPS <= sizes[a] <= hi + EPS for a in held1):
            continue
        members, by_building = index.members, index.by_building
        held_by = (items[i].building for a in order1 for i in members.get(a, ()))
        seconds = [x for x in dict.fromkeys(held_by) if x != b and len(by_building[x]) > 1]
        combos: list[tuple[tuple[int, int], Moves, list[int]]] = []
        for b2 in seconds[:UNCUT_SECOND]:
            got2 = _order(plan, adj_f, b2, -1, sizes, index, household_weights, set(order1))
            if got2 is None:
                continue
            order2, held2 = got2
            union = list(dict.fromkeys(order1 + order2))
            other = {a: sizes[a] - held1.get(a, 0.0) - held2.get(a, 0.0) for a in union}
            hw1, hw2 = household_weights[b], household_weights[b2]
            for s1, s2 in share_pair(hw1, order1, hw2, order2, other, held1, held2, lo, hi, -1, whole1=True)[
                :2
            ]:
                runs2 = sum(e > s for _a, s, e in s2)
                combos.append(((runs2, 0), [(b, s1), (b2, s2)], union))
        combos.sort(key=lambda c: c[0])
        for _key, moves, involved in combos[:2]:
            if _try_pair(plan, cells, adj, moves, involved, m, index):
                changed = True
                break
    return finish(plan, cells, adj, index, changed)


def uncut_chains(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    m: Mend,
) -> bool:
    """Make whole again buildings within the area range still cut between areas: the building goes whole
    to one of its areas; the other, now out of range, takes a whole building from a neighbour (or gives
    one), and that neighbour, if it leaves the range, is mended by re-sharing a building already cut
    next to it. No building is newly cut; every area involved ends in range and in one piece. Returns
    whether anything changed."""
    household_weights, hi, wholes, grid_range = m.household_weights, m.hi, m.wholes, m.grid_range
    if grid_range is not None:  # a fresh plan's pass: its grids are grouped again afterwards
        return False
    index = _Index(plan, wholes)
    if index.tree is None:  # item indices must not shift between the steps of a try
        return False
    small = [
        b
        for b, parts in index.by_building.items()
        if len(parts) > 1 and b in household_weights and sum(household_weights[b]) <= hi + EPS
    ]
    changed = False
    for b in small:
        if len(index.by_building.get(b, ())) < 2:
            continue
        if _uncut_by_chain(plan, cells, adj, b, m, index):
            changed = True
    return finish(plan, cells, adj, index, changed)


def _uncut_by_chain(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    b: str,
    m: Mend,
    index: _Index,
) -> bool:
    household_weights, lo, hi, min_shared = m.household_weights, m.lo, m.hi, m.min_shared
    angles, wholes, restrict = m.angles, m.wholes, m.restrict
    items, area_of = plan.items, plan.area_of
    parts = index.by_building[b]
    held: dict[int, float] = {}
    for i in parts:
        held[area_of[i]] = held.get(area_of[i], 0.0) + items[i].weight
    sizes = index.sizes(plan)
    if len(held) < 2 or not all(lo - EPS <= sizes[a] <= hi + EPS for a in held):
        return False
    adj_f = restrict(adj, items)
    total = sum(held.values())
    hw = household_weights[b]
    for into in sorted(held, key=lambda a: -held[a]):
        virt = {a: sizes[a] - held[a] + (total if a == into else 0.0) for a in held}
        bad = [a for a in held if not _in_range(virt[a], lo, hi)]
        if len(bad) != 1:
            continue
        y = bad[0]
        mine_y = [i for i in index.members.get(y, ()) if items[i].building != b] + (
            parts if y == into else []
        )
        for j, src, dst, fix in _chain_steps(
            plan, adj_f, index, y, mine_y, virt, b, household_weights, lo, hi
        ):
            snapshot = _snapshot(plan, cells, adj, index)
            n = len(hw)
            sol_b = [(into, 0, n)] + [(a, n, n) for a in held if a != into]
            a_args = (min_shared, angles, wholes, restrict, list(held), hi)
            _apply(plan, cells, adj, b, sol_b, hw, *a_args, index=index, check=False)
            for a, now in (
                (src, [i for i in index.members.get(src, ()) if i != j]),
                (dst, [*index.members.get(dst, ()), j]),
            ):
                index.regroup(a, now)
            plan.area_of[j] = dst
            involved = set(held) | {src, dst}
            if fix is not None:
                c, order, sol = fix
                involved |= set(order)
                c_args = (min_shared, angles, wholes, restrict, order, hi)
                _apply(plan, cells, adj, c, sol, household_weights[c], *c_args, index=index, check=False)
            links = restrict(adj, plan.items)
            ok = all(_in_range(index.weight(plan, a), lo, hi) for a in involved)
            ok = ok and all(len(components(list(index.members.get(a, ())), links)) <= 1 for a in involved)
            if ok:
                return True
            _restore(plan, cells, adj, snapshot, index)
    return False


CHAIN_OPTIONS = 2  # whole buildings tried per area out of range


def _chain_steps(
    plan: Plan,
    adj_f: list[set[int]],
    index: _Index,
    y: int,
    mine_y: list[int],
    virt: dict[int, float],
    b: str,
    household_weights: dict[str, tuple[float, ...]],
    lo: float,
    hi: float,
) -> Iterator[tuple[int, int, int, tuple[str, list[int], list[Run]] | None]]:
    """Whole-building moves that bring area `y` (its items `mine_y` and the sizes `virt` once `b` is whole)
    into range: a short `y` takes a whole building from a neighbour, one too big gives one to a neighbour.
    Yields (item, from, to, None) where the neighbour stays in range, or (item, from, to, (building,
    areas, share-out)) where re-sharing a building already cut next to it brings it back (numbers only)."""
    items, area_of = plan.items, plan.area_of
    members = index.members
    sizes = index.sizes(plan)

    def size(a: int) -> float:
        return virt[a] if a in virt else sizes[a]

    vy = virt[y]
    short = vy < lo
    mid = (lo + hi) / 2
    options: list[
        tuple[float, int, int, int]
    ] = []  # (how far the neighbour ends from mid-range, item, from, to)
    if short:
        for j in dict.fromkeys(j for i in mine_y for j in sorted(adj_f[i])):
            z, w = area_of[j], items[j].weight
            if z == y or items[j].part != 0 or items[j].building == b or len(members.get(z, ())) < 2:
                continue
            if lo - EPS <= vy + w <= hi + EPS:
                options.append((abs(size(z) - w - mid), j, z, y))
    else:
        for j in mine_y:
            w = items[j].weight
            if items[j].part != 0 or items[j].building == b or not lo - EPS <= vy - w <= hi + EPS:
                continue
            for z in sorted({area_of[k] for k in adj_f[j]} - {y}):
                options.append((abs(size(z) + w - mid), j, y, z))
    options.sort()
    for _key, j, src, dst in options[:CHAIN_OPTIONS]:
        w = items[j].weight
        rest = [i for i in (mine_y if src == y else members.get(src, ())) if i != j]
        if len(components(rest, adj_f)) > 1:
            continue
        other = src if short else dst  # the neighbour the move takes from or gives to
        after = size(other) - w if short else size(other) + w
        if _in_range(after, lo, hi):
            yield j, src, dst, None
            continue
        sizes2 = _Sizes(index, plan)
        sizes2.update(virt)
        sizes2[y] = vy + w if short else vy - w
        sizes2[other] = after
        mine_o = rest if short else [*members.get(other, ()), j]
        by_building = index.by_building
        hw = household_weights
        found = _options(
            plan, adj_f, other, sizes2, by_building, mine_o, hw, lo, hi, False, frozenset({b}), 1
        )
        for c, order, sols in found:
            yield j, src, dst, (c, order, sols[0])
            break


HULL_MIN = 0.45  # an area whose convex hull's Polsby–Popper is below this is re-shared if that helps
HULL_TRIES = 24  # re-shares tried on the cells per thin area
HULL_GAIN = 0.001  # kept only if the thinnest area involved gains at least this much


def hull_pps(cells: list[BaseGeometry], area_of: list[int], n_areas: int) -> np.ndarray:
    """Polsby–Popper of each area's convex hull (the hull of its cells' vertices); 1 for an empty area."""
    geoms = np.array(cells, dtype=object)
    xy, which = shapely.get_coordinates(geoms, return_index=True)
    area = np.asarray(area_of, dtype=np.int64)[which] if len(which) else np.zeros(0, dtype=np.int64)
    order = np.argsort(area, kind="stable")
    xy, area = xy[order], area[order]
    out = np.ones(n_areas)
    used = np.unique(area)
    if len(used):
        hulls = shapely.convex_hull(shapely.multipoints(xy, indices=np.searchsorted(used, area)))
        out[used] = polsby_popper(list(hulls))
    return out


def _hulls_of(plan: Plan, cells: list[BaseGeometry], areas: list[int], index: _Index) -> dict[int, float]:
    """Hull Polsby–Popper of each of `areas` that holds anything."""
    out = {}
    for a in areas:
        geoms = [cells[i] for i in index.members.get(a, ()) if not cells[i].is_empty]
        if geoms:
            out[a] = _hull_pp(*geoms)
    return out


def widen_thin(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    m: Mend,
    *,
    only: set[int] | None = None,
) -> bool:
    """Areas whose convex hull is thin (Polsby–Popper below HULL_MIN; in practice pieces of cut buildings,
    such as half of a long cell) are shared out again with their neighbours: one building re-shared, or
    two together (a neighbouring whole building joins the area and the cut moves), every area involved
    staying in range and in one piece; the re-share that leaves the thinnest area involved the most
    compact is kept, if it gains. Returns whether anything changed."""
    household_weights, lo, hi = m.household_weights, m.lo, m.hi
    wholes, restrict, grid_range = m.wholes, m.restrict, m.grid_range
    pp = hull_pps(cells, plan.area_of, plan.n_areas)
    thin = [int(a) for a in np.argsort(pp, kind="stable") if pp[a] < HULL_MIN and (only is None or a in only)]
    if not thin:
        return False
    changed = False
    index = _Index(plan, wholes)
    for a in thin:
        now = _hulls_of(plan, cells, [a], index).get(a, 1.0)
        if now >= HULL_MIN:
            continue
        adj_f = restrict(adj, plan.items)
        sizes = index.sizes(plan)
        mine = index.members.get(a, [])
        cands: list[tuple[tuple[int, int], Moves, list[int]]] = []
        grid_of = kept_grids(plan, grid_range)
        singles = _options(
            plan, adj_f, a, sizes, index.by_building, mine, household_weights, lo, hi, True, frozenset(),
            grid_of=grid_of,
        )  # fmt: skip
        for b, order, solutions in singles:
            for sol in solutions[:3]:
                runs = sum(e > s for _a, s, e in sol)
                cands.append(((int(runs > 1), runs), [(b, sol)], order))
        cands.sort(key=lambda c: c[0])
        cands = cands[: HULL_TRIES // 2]
        pairs = _combos(plan, adj_f, a, household_weights, lo, hi, index, 3, grid_of=grid_of)
        cands += [(k, m, i) for k, m, i, _x in pairs]
        best: tuple[float, Moves, list[int]] | None = None
        for _key, moves, involved in cands[:HULL_TRIES]:
            floor = min(_hulls_of(plan, cells, involved, index).values(), default=now)
            snapshot = _snapshot(plan, cells, adj, index)
            if not _try_pair(plan, cells, adj, moves, involved, m, index):
                continue
            score = min(_hulls_of(plan, cells, involved, index).values(), default=0.0)
            _restore(plan, cells, adj, snapshot, index)
            if score >= floor + HULL_GAIN and (best is None or score > best[0]):
                best = (score, moves, involved)
                if score >= HULL_MIN:
                    break
        if best is not None and _try_pair(plan, cells, adj, best[1], best[2], m, index):
            changed = True
    return finish(plan, cells, adj, index, changed)


__all__ = ["hull_pps", "mend_pairs", "share_pair", "uncut_chains", "uncut_pairs", "widen_thin"]
