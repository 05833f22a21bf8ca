"""Areas left out of range after the shared buildings were cut: re-cut one building among its areas.

A donation taken back (its building could not be cut so that its areas stay in one piece) leaves its
receiver short: often a single small building, or a run or two of a big building whose other runs
sit in the neighbouring areas. Such an area is mended by re-cutting one building, the households of
every other building staying where they are: the building's households are shared out again, one
unit/floor run per area, among the areas that hold it and the areas next to it, so that every one of
them is in range (an area made only of that building may also vanish). That covers merging a
leftover run back into a neighbour holding the same building, handing a leftover building's
households to its neighbours, and taking a run from an adjacent building. The building's cell is
then cut by the rule of a fresh plan (`face_areas`), and the change is kept only if every area
involved stays in one piece.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from .chains import fill_by_chains
from .donate import face_areas
from .model import Item, Plan
from .repair import components
from .tessellate import GRID, polygonal, relink, slice_cell

EPS = 1e-9
MAX_AREAS = 6  # areas a building is shared out among, at most (the search is exponential in this)
MAX_SOLUTIONS = 64  # share-outs collected per building before the best few are tried on the cells
TRIES = 8  # share-outs tried on the cells per building


_MISSING = object()
IndexState = tuple[int, tuple[dict[str, list[int]], dict[int, list[int]], set[int]] | None]


class _Index:
    """Which items each building and each area holds, kept up to date through the re-cuts (each re-cut
    changes only its building's entries, in a journal that a failed re-cut rolls back), and where the
    buildings' whole cells lie: a re-cut reads the items around its building, not the whole community.
    Lists of item indices are ascending (item order, as a scan of the plan gives them).

    Items a re-cut leaves over are not removed at once (every index after them would shift): they
    stay as dead slots (no area member, no neighbour, empty cell, weight 0) until `compact`."""

    def __init__(self, plan: Plan, wholes: dict[str, BaseGeometry]) -> None:
        self.by_building: dict[str, list[int]] = {}
        self.members: dict[int, list[int]] = {}
        self.dead: set[int] = set()
        self.log: list[tuple[dict, object, object]] = []
        self.rebuild(plan)
        self.touched: set[int] = set()  # areas whose households changed (see `uncut_small`)
        names = list(self.by_building)
        self.wholes = wholes
        self.names: list[str] = []
        self.tree: shapely.STRtree | None = None
        if all(wholes.get(b) is not None for b in names):
            self.names = names
            self.tree = shapely.STRtree([wholes[b] for b in names])

    def rebuild(self, plan: Plan) -> None:
        """From scratch (after indices moved); the journal starts again."""
        self.by_building.clear()
        self.members.clear()
        for i, (it, a) in enumerate(zip(plan.items, plan.area_of, strict=True)):
            if i not in self.dead:
                self.by_building.setdefault(it.building, []).append(i)
                self.members.setdefault(a, []).append(i)
        self.log = []

    def state(self) -> IndexState:
        """What `set_state` returns to: a journal position (copies when there is no spatial index, as
        dead slots are then not used and indices may shift)."""
        if self.tree is None:
            return len(self.log), (dict(self.by_building), dict(self.members), set(self.dead))
        return len(self.log), None

    def set_state(self, state: IndexState) -> None:
        # In place: a caller iterating the buildings' options holds these very dicts.
        at, full = state
        if full is not None:
            self.by_building.clear()
            self.by_building.update(full[0])
            self.members.clear()
            self.members.update(full[1])
            self.dead = set(full[2])
            self.log = []
            return
        while len(self.log) > at:
            d, key, value = self.log.pop()
            if d is self.dead:
                self.dead.discard(key)  # type: ignore[arg-type]
            elif value is _MISSING:
                d.pop(key, None)
            else:
                d[key] = value

    def _put(self, d: dict, key: object, value: object) -> None:
        self.log.append((d, key, d.get(key, _MISSING)))
        if value is _MISSING:
            d.pop(key, None)
        else:
            d[key] = value

    def kill(self, i: int) -> None:
        if i not in self.dead:
            self.log.append((self.dead, i, None))  # type: ignore[arg-type]
            self.dead.add(i)

    def weight(self, plan: Plan, a: int) -> float:
        """What area `a` holds, summed in item order (the very float `plan.area_weights()` gives)."""
        items = plan.items
        out = 0.0
        for i in self.members.get(a, ()):
            out += items[i].weight
        return out

    def sizes(self, plan: Plan) -> _Sizes:
        return _Sizes(self, plan)

    def moved(self, plan: Plan, building: str, before: list[tuple[int, int]], new: list[int]) -> None:
        """`building`'s items were `before` (index, area) and are now `new` (no other index moved)."""
        areas: dict[int, tuple[set[int], set[int]]] = {}
        for i, a in before:
            areas.setdefault(a, (set(), set()))[0].add(i)
        for i in new:
            areas.setdefault(plan.area_of[i], (set(), set()))[1].add(i)
        for a, (out, into) in areas.items():
            now = (set(self.members.get(a, ())) - out) | into
            self.touched.add(a)
            self._put(self.members, a, sorted(now) if now else _MISSING)
        self._put(self.by_building, building, sorted(new))

    def regroup(self, a: int, items: list[int]) -> None:
        """Area `a` now holds exactly `items` (whole-building moves: no building's items changed)."""
        self.touched.add(a)
        self._put(self.members, a, sorted(items) if items else _MISSING)

    def around(self, building: str, margin: float = 1.0) -> set[int]:
        """Items of the buildings whose whole cell comes within about `margin` of `building`'s (a
        superset of every cell its pieces can touch)."""
        assert self.tree is not None
        whole = self.wholes[building]
        if whole.is_empty:
            return set()
        x0, y0, x1, y1 = whole.bounds
        hits = self.tree.query(shapely.box(x0 - margin, y0 - margin, x1 + margin, y1 + margin))
        out: set[int] = set()
        for k in hits.tolist():
            out.update(self.by_building.get(self.names[k], ()))
        return out

    def compact(self, plan: Plan, cells: list[BaseGeometry], adj: list[set[int]]) -> None:
        """Remove the dead slots (the others keep their order)."""
        if self.dead:
            _drop_items(plan, cells, adj, self.dead)
            self.dead = set()
            self.rebuild(plan)


@dataclass(frozen=True)
class Mend:
    """What every mending pass (`recut`, `reshare`, `pocket`) reads besides the plan, its cells and their
    links: each building's household weights, the area range, the border two cells must share to be
    linked, the buildings' cut angles and whole cells, the links across barriers (`restrict`), and the
    grids' range (None for a fresh plan, whose areas are grouped into grids again afterwards; with True
    last, a re-grid's: every grid keeps its households)."""

    household_weights: dict[str, tuple[float, ...]]
    lo: float
    hi: float
    min_shared: float
    angles: dict[str, float]
    wholes: dict[str, BaseGeometry]
    restrict: Callable[[list[set[int]], list[Item]], list[set[int]]]
    grid_range: tuple[float, float, bool] | None = None

    def out_of_range(self, plan: Plan, only: set[int] | None = None) -> list[int]:
        """The areas holding households out of range (of `only`, if given), in order."""
        lo, hi = self.lo, self.hi
        bad = [a for a, w in enumerate(plan.area_weights()) if w > EPS and not lo - EPS <= w <= hi + EPS]
        return [a for a in bad if only is None or a in only]


def finish(plan: Plan, cells: list[BaseGeometry], adj: list[set[int]], index: _Index, changed: bool) -> bool:
    """The end of every mending pass: dead slots removed, areas left empty dropped; returns `changed`."""
    index.compact(plan, cells, adj)
    if changed:
        drop_empty(plan)
    return changed


class _Sizes(dict[int, float]):
    """Area → households, computed on first use from the index (a plain dict otherwise)."""

    def __init__(self, index: _Index, plan: Plan) -> None:
        super().__init__()
        self.index, self.plan = index, plan

    def __missing__(self, a: int) -> float:
        w = self.index.weight(self.plan, a)
        self[a] = w
        return w


def kept_grids(plan: Plan, grid_range: tuple[float, float, bool] | None) -> list[int] | None:
    """Each area's grid when the grids must keep their households (a re-grid), else None: a building is
    then shared out only among areas of the grids holding it (a share-out moving households into another
    grid would change both grids' totals, which a re-grid refuses on the cells)."""
    return plan.grid_of_area if grid_range is not None and grid_range[2] else None


def grids_kept(grid_of: list[int] | None, before: dict[int, float], end: dict[int, float]) -> bool:
    """Whether every grid keeps its households when the areas of `before` end as `end` (True without
    `grid_of`)."""
    if grid_of is None:
        return True
    net: dict[int, float] = {}
    for a, w in end.items():
        g = grid_of[a]
        net[g] = net.get(g, 0.0) + w - before[a]
    return all(abs(v) <= EPS for v in net.values())


def share_out(
    hw: tuple[float, ...] | list[float],
    areas: list[int],
    other: dict[int, float],
    held: dict[int, float],
    lo: float,
    hi: float,
    target: int,
    *,
    loose: frozenset[int] = frozenset(),
    limit: int = MAX_SOLUTIONS,
    max_runs: int | None = None,
    every: bool = False,
) -> list[list[tuple[int, int, int]]]:
    """Ways to share a building's households (weights `hw`, unit/floor order) among `areas`, one
    consecutive run per area in the order given: each solution is a list of (area, start, end).

    `other[a]` is what area `a` holds of other buildings (fixed) and `held[a]` what it holds of this
    one now. An area with other households must end in [lo, hi] (one already out of range may instead
    keep its share as it is, unless it is `target`); an area with none may end empty; an area in
    `loose` (a second building will settle it, see `share_pair`) only must not pass `hi`. Solutions
    are ordered best first: fewest runs (at most `max_runs`), then fewest households moved; at most
    `limit` are collected. Only the fewest runs the numbers allow are searched, unless `every` (then
    every count up to `max_runs`: a building kept whole does not hide the ways to cut it).
    Remembered by its arguments: the pair and pocket searches share the same building out against the
    same numbers many times over."""
    key = (
        tuple(hw),
        tuple(areas),
        tuple(other.get(a, 0.0) for a in areas),
        tuple(held.get(a, 0.0) for a in areas),
        lo,
        hi,
        target,
        frozenset(a for a in loose if a in areas),
        limit,
        max_runs,
        every,
    )
    known = _SHARES.get(key)
    if known is None:
        if len(_SHARES) >= SHARES_MAX:
            _SHARES.clear()
        known = _SHARES[key] = _share_out(
            hw, areas, other, held, lo, hi, target, loose, limit, max_runs, every
        )
    return [list(sol) for sol in known]


SHARES_MAX = 4096  # share-outs remembered (`share_out`)
_SHARES: dict[tuple, list[list[tuple[int, int, int]]]] = {}


def _share_out(
    hw: tuple[float, ...] | list[float],
    areas: list[int],
    other: dict[int, float],
    held: dict[int, float],
    lo: float,
    hi: float,
    target: int,
    loose: frozenset[int],
    limit: int,
    max_runs: int | None,
    every: bool,
) -> list[list[tuple[int, int, int]]]:
    """`share_out`, computed."""
    prefix = [0.0, *itertools.accumulate(hw)]
    n = len(hw)
    total = prefix[-1]

    def allowed(a: int, r: float) -> bool:
        o = other.get(a, 0.0)
        if a in loose:
            return o + r <= hi + EPS
        if o <= EPS and r <= EPS:
            return True
        if lo - EPS <= o + r <= hi + EPS:
            return True
        now = o + held.get(a, 0.0)
        in_range = lo - EPS <= now <= hi + EPS
        return a != target and not in_range and abs(r - held.get(a, 0.0)) <= EPS

    # Bounds on what the areas from k on can take, to prune.
    def cap(a: int) -> tuple[float, float]:
        o, h = other.get(a, 0.0), held.get(a, 0.0)
        if a in loose:
            return 0.0, max(hi - o, 0.0)
        low = 0.0 if o <= EPS else max(0.0, lo - o)
        high = max(hi - o, 0.0)
        if a != target and not lo - EPS <= o + h <= hi + EPS and o > EPS:
            low, high = min(low, h), max(high, h)
        return low, high

    caps = [cap(a) for a in areas]
    rest_lo = [0.0] * (len(areas) + 1)
    rest_hi = [0.0] * (len(areas) + 1)
    for k in range(len(areas) - 1, -1, -1):
        rest_lo[k] = rest_lo[k + 1] + caps[k][0]
        rest_hi[k] = rest_hi[k + 1] + caps[k][1]
    out: list[list[tuple[int, int, int]]] = []
    runs: list[tuple[int, int, int]] = []
    monotone = all(w >= 0.0 for w in hw)

    def _candidate_ends(k: int, start: int) -> list[int]:
        """Ends of area k's run from `start` that `allowed` may accept, ascending: a superset found by
        bisection on the prefix sums (an empty run, one equal to what the area holds, one that brings
        it to [lo, hi]); every end up to the area's cap when the weights are not all >= 0."""
        base = prefix[start]
        top_r = caps[k][1] + EPS
        if not monotone:
            return [e for e in range(start, n + 1) if prefix[e] - base <= top_r]
        a = areas[k]
        last = bisect.bisect_right(prefix, base + top_r, start, n + 1)  # ends < last are within the cap
        o = other.get(a, 0.0)
        low_r = 0.0 if a in loose else max(0.0, lo - o)
        picked = set(range(bisect.bisect_left(prefix, base + low_r - EPS, start, last), last))
        picked.update(range(start, bisect.bisect_right(prefix, base + EPS, start, last)))
        h = held.get(a, 0.0)
        first = bisect.bisect_left(prefix, base + h - EPS, start, last)
        picked.update(range(first, bisect.bisect_right(prefix, base + h + EPS, first, last)))
        return sorted(picked)

    # Whether the areas from k on can share the households from `start` on with `most - used` runs left
    # depends on nothing else: a state that gave no solution once gives none again (memoised, the search
    # is polynomial instead of exponential; the solutions and their order are the same), also when a
    # count of runs that found nothing is followed by the next (the states with as many runs left).
    dead: set[tuple[int, int, int]] = set()
    ends_at: dict[tuple[int, int], list[int]] = {}

    def walk(k: int, start: int, used: int, most: int) -> None:
        if len(out) >= limit:
            return
        left = total - prefix[start]
        if left < rest_lo[k] - EPS or left > rest_hi[k] + EPS or (left > EPS and used >= most):
            return
        if k == len(areas) - 1:
            if allowed(areas[k], left):
                out.append([*runs, (areas[k], start, n)])
            return
        if (k, start, most - used) in dead:
            return
        found = len(out)
        # Runs closest to what the area holds now first (ties: the shorter first).
        ends = ends_at.get((k, start))
        if ends is None:
            # Pruned by arithmetic before the recursion: what is left after the run must fit the areas
            # after k (and, for the last one, be a share it may take).
            low, high, last = rest_lo[k + 1] - EPS, rest_hi[k + 1] + EPS, k + 2 == len(areas)
            ends = [
                e
                for e in _candidate_ends(k, start)
                if low <= total - prefix[e] <= high
                and allowed(areas[k], prefix[e] - prefix[start])
                and (not last or allowed(areas[k + 1], total - prefix[e]))
            ]
            ends.sort(key=lambda e: abs(prefix[e] - prefix[start] - held.get(areas[k], 0.0)))
            ends_at[k, start] = ends
        if k + 2 == len(areas):  # the last area takes the rest: a solution each (`ends` checked it)
            a, b = areas[k], areas[k + 1]
            for end in ends:
                if len(out) >= limit:
                    break
                if total - prefix[end] <= EPS or used + (end > start) < most:
                    out.append([*runs, (a, start, end), (b, end, n)])
        else:
            for end in ends:
                runs.append((areas[k], start, end))
                walk(k + 1, end, used + (end > start), most)
                runs.pop()
        if len(out) == found:
            dead.add((k, start, most - used))

    # Fewest runs first: the building is cut as little as the numbers allow.
    top = min(len(areas), max_runs or len(areas))
    for most in [top] if every else range(1, top + 1):
        walk(0, 0, 0, most)
        if out:
            break

    def moved(sol: list[tuple[int, int, int]]) -> float:
        return sum(abs(prefix[e] - prefix[s] - held.get(a, 0.0)) for a, s, e in sol) / 2

    return sorted(out, key=lambda sol: (sum(e > s for _, s, e in sol), moved(sol)))


def mend_out_of_range(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    m: Mend,
    *,
    only: set[int] | None = None,
) -> bool:
    """Bring out-of-range areas into range by re-cutting one building each (see the module); `plan`,
    `cells` and `adj` change in place (areas left empty are dropped). With `m.grid_range`, grids stay in
    range and in one piece; with `only`, just those areas are mended. Returns whether anything changed."""
    lo, hi, wholes = m.lo, m.hi, m.wholes
    changed = False
    index = _Index(plan, wholes)
    for _round in range(2):
        bad = m.out_of_range(plan, only)
        progress = False
        for a in bad:
            w = index.weight(plan, a)
            if w <= EPS or lo - EPS <= w <= hi + EPS:
                continue
            if _mend_area(plan, cells, adj, a, m, index=index):
                progress = changed = True
        if not progress:
            break
    return finish(plan, cells, adj, index, changed)


def _mend_area(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    target: int,
    m: Mend,
    new_cuts: bool = True,
    skip: frozenset[str] = frozenset(),
    tries: int = TRIES,
    *,
    index: _Index,
) -> bool:
    """Re-cut one building so that area `target` and the areas around it end in range (see the module);
    without `new_cuts`, only buildings already cut are considered, and never those in `skip`."""
    household_weights, lo, hi, min_shared = m.household_weights, m.lo, m.hi, m.min_shared
    angles, wholes, restrict, grid_range = m.angles, m.wholes, m.restrict, m.grid_range
    mine = index.members.get(target, [])
    sizes = index.sizes(plan)
    adj_f = restrict(adj, plan.items)
    grid_of = kept_grids(plan, grid_range)
    options = _options(
        plan, adj_f, target, sizes, index.by_building, mine, household_weights, lo, hi, new_cuts, skip,
        grid_of=grid_of,
    )  # fmt: skip
    for b, order, solutions in options:
        for sol in solutions[:tries]:
            a_args = (min_shared, angles, wholes, restrict, order, hi)
            if _apply(
                plan, cells, adj, b, sol, household_weights[b], *a_args, grid_range=grid_range, index=index
            ):
                return True
    return False


def _options(
    plan: Plan,
    adj_f: list[set[int]],
    target: int,
    sizes: dict[int, float],
    by_building: dict[str, list[int]],
    mine: list[int],
    household_weights: dict[str, tuple[float, ...]],
    lo: float,
    hi: float,
    new_cuts: bool,
    skip: frozenset[str],
    limit: int = MAX_SOLUTIONS,
    *,
    grid_of: list[int] | None = None,
) -> Iterator[tuple[str, list[int], list[list[tuple[int, int, int]]]]]:
    """Buildings whose re-cut could bring `target` into range (numbers only): (building, the areas it
    would be shared among, share-outs best first). With `grid_of` (`kept_grids`), only areas of the
    grids holding the building."""
    items, area_of = plan.items, plan.area_of
    # Its own buildings first, then its neighbours'; buildings already cut first (no new cut).
    own = list(dict.fromkeys(items[i].building for i in mine))
    near = list(
        dict.fromkeys(items[j].building for i in mine for j in sorted(adj_f[i]) if area_of[j] != target)
    )
    near = [b for b in near if b not in own]
    candidates = sorted(own, key=lambda b: len(by_building[b]) < 2) + sorted(
        near, key=lambda b: len(by_building[b]) < 2
    )
    if not new_cuts:
        candidates = [b for b in candidates if len(by_building[b]) > 1]
    for b in candidates:
        if b in skip:
            continue
        parts = sorted(by_building[b], key=lambda i: items[i].first)
        hw = household_weights.get(b)
        if hw is None or len(hw) < 2 or sum(it.count for it in (items[i] for i in parts)) != len(hw):
            continue
        held: dict[int, float] = {}
        for i in parts:
            held[area_of[i]] = held.get(area_of[i], 0.0) + items[i].weight
        around = {area_of[j] for i in parts for j in adj_f[i]} - set(held)
        if grid_of is not None:
            in_grids = {grid_of[a] for a in held}
            around = {a for a in around if grid_of[a] in in_grids}
        if target not in held and target not in around:
            continue
        # The areas holding it in unit/floor order, then the target, then the others by size (smallest first).
        order = list(dict.fromkeys(area_of[i] for i in parts))
        if target not in order:
            order.append(target)
        rest = sorted(around - {target}, key=lambda a: sizes[a])
        order += rest[: max(0, MAX_AREAS - len(order))]
        other = {a: sizes[a] - held.get(a, 0.0) for a in order}
        solutions = share_out(hw, order, other, held, lo, hi, target, limit=limit)
        if grid_of is not None and len({grid_of[a] for a in held}) > 1:
            prefix = [0.0, *itertools.accumulate(hw)]
            before = {a: sizes[a] for a in order}
            solutions = [
                sol
                for sol in solutions
                if grids_kept(grid_of, before, {a: other[a] + prefix[e] - prefix[s] for a, s, e in sol})
            ]
        if solutions:
            yield b, order, solutions


def _apply(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    building: str,
    sol: list[tuple[int, int, int]],
    hw: tuple[float, ...],
    min_shared: float,
    angles: dict[str, float],
    wholes: dict[str, BaseGeometry],
    restrict: Callable[[list[set[int]], list[Item]], list[set[int]]],
    involved: list[int],
    hi: float,
    grid_range: tuple[float, float, bool] | None = None,
    *,
    index: _Index,
    check: bool = True,
) -> bool:
    """Re-cut `building` into the runs of `sol` and cut its cell to face them; undone (False) unless every
    involved area stays in one piece (without `check`, kept as it comes: the caller checks, and restores).

    Local: only the building's items, the areas holding it and the cells around it are read or
    written (see `_local_cut`), except when the re-cut leaves the building fewer items (every index
    after them shifts). The neighbour sets in `adj` are never changed in place, only replaced, so
    the state to restore is a shallow copy of the lists."""
    items, area_of = plan.items, plan.area_of
    old = sorted(index.by_building[building], key=lambda i: items[i].first)
    runs = [(a, s, e) for a, s, e in sol if e > s]
    if [(area_of[i], items[i].first, items[i].first + items[i].count) for i in old] == runs:
        return False
    snapshot = _snapshot(plan, cells, adj, index)
    grids = sorted({plan.grid_of_area[a] for a in involved}) if grid_range is not None and check else []
    grid_w = {g: _grid_weight(plan, index, g) for g in grids}
    grid_pieces = grid_parts(plan, index, grids, restrict(adj, items)) if grids else {}
    x, y = items[old[0]].x, items[old[0]].y
    big = sum(hw) > hi + EPS  # cut by unit/floor in the first place: keep those runs as items
    # New items: one per run; a big building keeps its earlier unit/floor boundaries within a run too.
    bounds = {items[i].first for i in old} if big else set()
    new: list[tuple[int, int, int]] = []  # (area, first, end)
    for a, s, e in runs:
        cuts = sorted({s, e} | {c for c in bounds if s < c < e})
        new.extend((a, c0, c1) for c0, c1 in itertools.pairwise(cuts))
    whole_again = len(new) == 1
    fresh = [
        Item(building, 0 if whole_again else k + 1, f, e - f, float(sum(hw[f:e])), x, y)
        for k, (_a, f, e) in enumerate(new)
    ]
    cell = wholes.get(building) or _union([cells[i] for i in old])
    before = [(i, area_of[i]) for i in old]
    # Reuse the building's slots, append what is new, drop what is left over (indices shift).
    slots = old[: len(fresh)] + list(range(len(items), len(items) + max(0, len(fresh) - len(old))))
    for _ in range(len(fresh) - len(old)):
        items.append(fresh[0])
        area_of.append(0)
        cells.append(Polygon())
        adj.append(set())
    for k, i in enumerate(slots):
        items[i] = fresh[k]
        area_of[i] = new[k][0]
    gone = set(old[len(fresh) :])
    if gone and index.tree is None:
        remap = _drop_items(plan, cells, adj, gone)
        items, area_of = plan.items, plan.area_of
        slots = [remap[i] for i in slots]
        index.rebuild(plan)
        index.touched.update(a for _i, a in before)
        index.touched.update(area_of[i] for i in slots)
    else:
        # Left as dead slots (see `_Index`): no neighbour links to them, nothing in them.
        for i in sorted(gone):
            for j in adj[i]:
                adj[j] = adj[j] - {i}
            adj[i] = set()
            cells[i] = Polygon()
            items[i] = replace(items[i], count=0, weight=0.0)
            index.kill(i)
        index.moved(plan, building, before, slots)
    if gone:
        plan.donations = []  # indices move; donations are only read before the cells are cut
    pieces = slice_cell(cell, [it.weight for it in fresh], angles.get(building)) if len(fresh) > 1 else [cell]
    for i, piece in zip(slots, pieces, strict=True):
        cells[i] = piece
    failed = _local_cut(plan, cells, adj, building, slots, min_shared, angles, wholes, index, len(new))
    if not check:
        return True
    adj_f = restrict(adj, items)
    members = {a: index.members.get(a, []) for a in involved}
    ok = building not in failed and all(len(components(m, adj_f)) <= 1 for m in members.values())
    if ok and grid_range is not None:
        # Grids stay in range (or as they were) and in one piece (no more pieces than they were in): a
        # re-grid keeps their codes.
        glo, ghi, keep_grids = grid_range
        after = {g: _grid_weight(plan, index, g) for g in grids}
        ok = all(
            abs(after[g] - grid_w[g]) <= EPS or (not keep_grids and glo - EPS <= after[g] <= ghi + EPS)
            for g in grids
        )
        ok = ok and all(n <= max(1, grid_pieces[g]) for g, n in grid_parts(plan, index, grids, adj_f).items())
    if ok:
        return True
    _restore(plan, cells, adj, snapshot, index)
    return False


def grid_parts(plan: Plan, index: _Index, grids: list[int], adj_f: list[set[int]]) -> dict[int, int]:
    """How many pieces each of `grids` is in on the links `adj_f`. A re-grid's change may not break a grid
    (its code stays); one that the rebuilt cells left in pieces (an earlier engine cut them otherwise)
    may still have its areas mended, as long as it ends in no more pieces (`regrid` groups the areas
    into grids again afterwards)."""
    out = {}
    for g in grids:
        in_grid = sorted(i for a in _grid_areas(plan, g) for i in index.members.get(a, ()))
        out[g] = len(components(in_grid, adj_f))
    return out


def _grid_areas(plan: Plan, g: int) -> list[int]:
    return [a for a, h in enumerate(plan.grid_of_area) if h == g]


def _grid_weight(plan: Plan, index: _Index, g: int) -> float:
    """What grid `g` holds, summed as `plan.grid_weights()` sums it (area by area, in order)."""
    out = 0.0
    for a in _grid_areas(plan, g):
        out += index.weight(plan, a)
    return out


def _drop_items(plan: Plan, cells: list[BaseGeometry], adj: list[set[int]], gone: set[int]) -> list[int]:
    """Remove items `gone` (in place, keeping the order of the others); returns old index → new (-1:
    gone). Neighbour sets that change are replaced, not changed in place."""
    n = len(plan.items)
    remap = [-1] * n
    k = 0
    for i in range(n):
        if i not in gone:
            remap[i] = k
            k += 1
    first = min(gone)
    keep = [i for i in range(n) if i not in gone]
    new_adj = []
    for i in keep:
        s = adj[i]
        # Indices below the first one dropped do not move: such a set stays as it is.
        new_adj.append(s if not s or max(s) < first else {remap[j] for j in s if remap[j] >= 0})
    adj[:] = new_adj
    cells[:] = [cells[i] for i in keep]
    plan.items = [plan.items[i] for i in keep]
    plan.area_of = [plan.area_of[i] for i in keep]
    return remap


def _local_cut(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    building: str,
    slots: list[int],
    min_shared: float,
    angles: dict[str, float],
    wholes: dict[str, BaseGeometry],
    index: _Index,
    runs: int,
) -> set[str]:
    """Link the building's new pieces and cut them to face their areas (`face_areas`, only this
    building), on the items around it alone: the building's, those of every building with households
    in its areas (their centres) and of every building whose cell comes near it (what the pieces can
    touch). Their cells and neighbour sets are copied out, cut there and written back. Returns the
    buildings whose areas stay in pieces (`face_areas`)."""
    items, area_of = plan.items, plan.area_of
    if index.tree is None:  # a building without its whole cell: the whole community, as it comes
        return _global_cut(plan, cells, adj, building, slots, min_shared, angles, wholes, runs)
    zone = set(slots)
    for i in slots:
        zone.update(adj[i])
    zone |= index.around(building)
    for a in {area_of[i] for i in slots}:
        for i in index.members.get(a, ()):
            zone.update(index.by_building[items[i].building])
    sub = sorted(zone)
    pos = {g: k for k, g in enumerate(sub)}
    s_items = [items[g] for g in sub]
    s_cells = [cells[g] for g in sub]
    s_adj = [{pos[j] for j in adj[g] if j in pos} for g in sub]
    s_slots = [pos[i] for i in slots]
    if runs == 1:
        # (else `face_areas` relinks them) The pieces touch only what the building's cells touched.
        near = {j for i in s_slots for j in s_adj[i]} | set(s_slots)
        relink(s_cells, s_adj, s_slots, min_shared, near)
    labels = [area_of[g] + 1 for g in sub]
    _cut, failed = face_areas(s_items, s_cells, labels, s_adj, min_shared, angles, wholes, only={building})
    for k, g in enumerate(sub):
        cells[g] = s_cells[k]
        was = adj[g]
        inside = {sub[j] for j in s_adj[k]}
        if inside != {j for j in was if j in pos}:
            adj[g] = inside | {j for j in was if j not in pos}
    return failed


def _global_cut(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    building: str,
    slots: list[int],
    min_shared: float,
    angles: dict[str, float],
    wholes: dict[str, BaseGeometry],
    runs: int,
) -> set[str]:
    """`_local_cut` on the whole community (the neighbour sets it changes are copied first)."""
    copy = list(adj)
    adj[:] = [set(x) for x in copy]
    if runs == 1:
        near = {j for i in slots for j in adj[i]} | set(slots)
        relink(cells, adj, slots, min_shared, near)
    labels = [a + 1 for a in plan.area_of]
    _cut, failed = face_areas(plan.items, cells, labels, adj, min_shared, angles, wholes, only={building})
    # Keep the set objects that did not change (a snapshot may hold them).
    adj[:] = [old if old == now else now for old, now in zip(copy, adj, strict=True)]
    return failed


def uncut_small(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    m: Mend,
) -> bool:
    """Make whole again buildings within the area range that a donation cut between areas: the building
    joins the area holding most of it, and the areas that left out of range are mended by re-cutting
    buildings already cut (no new cut); kept only if every area ends in range and in one piece.
    Returns whether anything changed."""
    household_weights, lo, hi, min_shared = m.household_weights, m.lo, m.hi, m.min_shared
    angles, wholes, restrict, grid_range = m.angles, m.wholes, m.restrict, m.grid_range
    changed = False
    index = _Index(plan, wholes)

    def out_of_range(w: float) -> bool:
        return w > EPS and not lo - EPS <= w <= hi + EPS

    # Areas out of range anywhere (a try is kept only if it adds none; one out of range elsewhere does not
    # block it); kept up to date by the areas each try touched.
    bad = {a for a, w in enumerate(plan.area_weights()) if out_of_range(w)}
    cut = index.by_building
    small = [
        b
        for b, parts in cut.items()
        if len(parts) > 1 and sum(plan.items[i].weight for i in parts) <= hi + EPS and b in household_weights
    ]
    for b in small:
        parts = cut[b]
        sizes = index.sizes(plan)
        held: dict[int, float] = {}
        for i in parts:
            held[plan.area_of[i]] = held.get(plan.area_of[i], 0.0) + plan.items[i].weight
        if len(held) < 2 or not all(lo - EPS <= sizes[a] <= hi + EPS for a in held):
            continue
        # Into the area holding most of it, else another; the numbers first (no geometry): can
        # buildings already cut, or chains of whole-building moves, bring the areas back into range?
        adj_f = restrict(adj, plan.items)
        members = index.members
        for into in sorted(held, key=lambda a: -held[a]):
            after = index.sizes(plan)
            for a in held:
                after[a] += (sum(held.values()) if a == into else 0.0) - held[a]
            short = [a for a in held if after[a] > EPS and not lo - EPS <= after[a] <= hi + EPS]
            by_recut = all(
                _could_mend(plan, adj_f, a, after, cut, members, household_weights, lo, hi, b) for a in short
            )
            if by_recut or _chains_could(plan, adj_f, parts, list(held), into, short, lo, hi, members, cut):
                break
        else:
            continue
        snapshot = _snapshot(plan, cells, adj, index)
        index.touched = set()
        n = len(household_weights[b])
        sol = [(into, 0, n)] + [(a, n, n) for a in held if a != into]
        a_args = (min_shared, angles, wholes, restrict, list(held), hi)
        ok = _apply(
            plan, cells, adj, b, sol, household_weights[b], *a_args, grid_range=grid_range, index=index
        )
        if ok:
            for a in list(held):
                w = index.weight(plan, a)
                if (
                    w > EPS
                    and not lo - EPS <= w <= hi + EPS
                    and not _mend_area(
                        plan, cells, adj, a, m, new_cuts=False, skip=frozenset({b}), tries=2, index=index
                    )
                    and not _chain_fix(plan, cells, adj, {a}, lo, hi, restrict, index=index)
                ):
                    ok = False
                    break
        # No area newly out of range: those the try touched are checked again, the others are as they were.
        now = set(bad)
        if ok:
            for a in index.touched:
                now.discard(a)
                if out_of_range(index.weight(plan, a)):
                    now.add(a)
            ok = now <= bad
        if ok:
            changed = True
            bad = now
        else:
            _restore(plan, cells, adj, snapshot, index)
    return finish(plan, cells, adj, index, changed)


RINGS = 3  # rings of areas around the ones to mend that a chain may reach (it is short anyway)


def _region(
    area_of: list[int], members: dict[int, list[int]], start: set[int], adj_f: list[set[int]]
) -> list[int]:
    """`start` and the areas up to RINGS steps away from it: where a chain may run (kept local, so the
    cost does not grow with the community)."""
    region, frontier = set(start), set(start)
    for _ in range(RINGS):
        frontier = {area_of[j] for a in frontier for i in members.get(a, ()) for j in adj_f[i]} - region
        region |= frontier
    return sorted(region)


def _local_chains(
    groups: list[list[int]],
    items: list[Item],
    xy: dict[int, tuple[float, float]],
    adj_f: list[set[int]],
    focus: set[int],
    lo: float,
    hi: float,
    by_building: dict[str, list[int]],
) -> list[list[int]]:
    """`fill_by_chains` (pushing) on a few groups of items (indices into `items`); items of buildings
    cut into several items (`by_building`) stay put."""
    local = [i for g in groups for i in g]
    weights = {i: items[i].weight for i in local}
    xs, ys = {i: xy[i][0] for i in local}, {i: xy[i][1] for i in local}
    fixed = {i for i in local if len(by_building[items[i].building]) > 1}
    return fill_by_chains(
        groups,
        weights,
        adj_f,
        lo,
        hi,
        xs,
        ys,
        focus=focus,
        keep_empty=True,
        fixed=fixed,  # type: ignore[arg-type]
    )


def _chains_could(
    plan: Plan,
    adj_f: list[set[int]],
    parts: list[int],
    held: list[int],
    into: int,
    bad: list[int],
    lo: float,
    hi: float,
    members: dict[int, list[int]],
    by_building: dict[str, list[int]],
) -> bool:
    """Whether, once the building of `parts` (held by the areas `held`) is whole in area `into`, chains
    of whole-building moves (pushing) could bring the areas `bad` back into range (numbers and graph)."""
    if not bad:
        return True
    region = _region(plan.area_of, members, set(held), adj_f)
    own = set(parts)
    groups = [
        [i for i in members.get(a, []) if i not in own] + (list(parts) if a == into else []) for a in region
    ]
    xy = {i: (plan.items[i].x, plan.items[i].y) for g in groups for i in g}
    focus = {k for k, a in enumerate(region) if a in bad}
    out = _local_chains(groups, plan.items, xy, adj_f, focus, lo, hi, by_building)
    sizes = [sum(plan.items[i].weight for i in g) for g in out]
    return all(sizes[k] <= EPS or lo - EPS <= sizes[k] <= hi + EPS for k in focus)


def _chain_fix(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    areas: set[int],
    lo: float,
    hi: float,
    restrict: Callable[[list[set[int]], list[Item]], list[set[int]]],
    *,
    index: _Index,
) -> bool:
    """Bring `areas` into range by chains of whole-building moves on the cells as cut (pull, or merge
    and pass on; buildings shared by several areas stay put, so no cell changes). Changes `plan` only
    if every area it touches ends in range (or empty) and in one piece. The re-cut's `index` gives the
    live items and records the moves (so that a failed try rolls them back)."""
    items = plan.items
    members, by_building = index.members, index.by_building
    adj_f = restrict(adj, items)
    region = _region(plan.area_of, members, set(areas), adj_f)
    groups = [list(members.get(a, [])) for a in region]
    xy = {
        i: (cells[i].centroid.x, cells[i].centroid.y) if not cells[i].is_empty else (items[i].x, items[i].y)
        for g in groups
        for i in g
    }
    focus = {k for k, a in enumerate(region) if a in areas}
    out = _local_chains(groups, items, xy, adj_f, focus, lo, hi, by_building)
    changed = [k for k, g in enumerate(out) if set(g) != set(groups[k])]
    if not changed:
        return False
    for k in changed:
        w = sum(items[i].weight for i in out[k])
        if w > EPS and (not lo - EPS <= w <= hi + EPS or len(components(out[k], adj_f)) > 1):
            return False
    for k in changed:
        for i in out[k]:
            plan.area_of[i] = region[k]
        index.regroup(region[k], out[k])
    return True


def _could_mend(
    plan: Plan,
    adj_f: list[set[int]],
    target: int,
    sizes: dict[int, float],
    by_building: dict[str, list[int]],
    members: dict[int, list[int]],
    household_weights: dict[str, tuple[float, ...]],
    lo: float,
    hi: float,
    skip: str,
) -> bool:
    """Whether a building already cut has a share-out bringing `target` into range with `sizes`."""
    mine = members.get(target, [])
    options = _options(
        plan, adj_f, target, sizes, by_building, mine, household_weights, lo, hi, False, frozenset({skip})
    )
    return next(options, None) is not None


Snapshot = tuple[
    list[Item],
    list[int],
    list[BaseGeometry],
    list[set[int]],
    list,
    IndexState,
]


def _snapshot(plan: Plan, cells: list[BaseGeometry], adj: list[set[int]], index: _Index) -> Snapshot:
    """The state to restore: shallow copies (items and cells are immutable, neighbour sets are replaced
    rather than changed in place while re-cutting, the index's lists likewise)."""
    return list(plan.items), list(plan.area_of), list(cells), list(adj), list(plan.donations), index.state()


def _restore(
    plan: Plan, cells: list[BaseGeometry], adj: list[set[int]], snapshot: Snapshot, index: _Index
) -> None:
    items, area_of, old_cells, old_adj, donations, state = snapshot
    plan.items, plan.area_of, plan.donations = list(items), list(area_of), list(donations)
    cells[:] = old_cells
    adj[:] = old_adj
    index.set_state(state)


def drop_empty(plan: Plan) -> None:
    """Renumber areas without the empty ones, and grids without the areas' empty grids."""
    used = sorted(set(plan.area_of))
    if len(used) == plan.n_areas:
        return
    index = {a: k for k, a in enumerate(used)}
    plan.area_of = [index[a] for a in plan.area_of]
    grids = sorted({plan.grid_of_area[a] for a in used})
    renumber = {g: k for k, g in enumerate(grids)}
    plan.grid_of_area = [renumber[plan.grid_of_area[a]] for a in used]


def _union(geoms: list[BaseGeometry]) -> BaseGeometry:
    geoms = [g for g in geoms if not g.is_empty]
    if not geoms:
        return Polygon()
    return polygonal(shapely.union_all(geoms, grid_size=GRID)) if len(geoms) > 1 else geoms[0]


__all__ = ["Mend", "finish", "mend_out_of_range", "share_out", "uncut_small"]
