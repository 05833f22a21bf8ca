"""The last mending pass: three buildings of a pocket shared out together.

An area that no single re-cut (`recut`) and no two buildings shared out together (`reshare`) brought
into range sits in a pocket whose total the areas around it cannot absorb one or two buildings at a
time: say three areas holding 42 households (two areas are too few for them, three need 45) with two
neighbours outside at 18 and 19. Mending it takes households from outside the pocket and a re-cut
inside it at once: three buildings change.

`mend_pockets` re-partitions the pocket exactly on the numbers, by whole buildings and unit/floor runs:
the pocket is the area, its neighbours and their neighbours; every building with households in it (the
area's own first, then its neighbours', then those of the second ring that border the first) may be
shared out again among the areas holding it and those next to it, one run per area in unit/floor order.
Each triple of buildings (one at least holding or touching the area) is searched building by building
(`share_out`, every count of runs up to `POCKET_RUNS`), the areas a later building of the triple also
reaches only bounded above until then, so that every area involved ends in range or empty. The
share-outs found are ordered by buildings left cut, then runs, then households moved, and the best few
are tried on the cells by the rule of a fresh plan (`reshare._try_pair`), kept only if every area
involved stays in one piece. The search is bounded by a count of share-outs (`POCKET_BUDGET`), so it is
deterministic and its cost does not grow with the community; it runs only where both earlier passes
failed (one area of 57,342 in the bench city).
"""

from __future__ import annotations

import itertools

from shapely.geometry.base import BaseGeometry

from .model import Plan
from .recut import EPS, Mend, _Index, finish, grids_kept, kept_grids, share_out
from .reshare import Moves, Run, _fine, _order, _try_pair

POCKET_BUILDINGS = 10  # buildings of the pocket a triple is drawn from
POCKET_RUNS = 3  # runs a building of a triple may be cut into
POCKET_SPLITS = 12  # distinct ways a building may feed the areas later buildings of its triple reach
POCKET_LIMIT = 256  # share-outs listed per building before they are told apart by what they feed
POCKET_BUDGET = 3000  # share-outs computed per area, at most
POCKET_AREAS = 4  # areas searched per community, at most (the rest are reported)
POCKET_TRIES = 8  # share-outs tried on the cells per area

Building = tuple[str, tuple[float, ...], list[int], dict[int, float]]  # id, weights, areas, held now


def mend_pockets(
    plan: Plan,
    cells: list[BaseGeometry],
    adj: list[set[int]],
    m: Mend,
    *,
    only: set[int] | None = None,
) -> bool:
    """Bring areas still out of range into range by sharing out three buildings of their pocket
    together (see the module); `plan`, `cells` and `adj` change in place (areas left empty are dropped).
    With `m.grid_range`, grids stay in range and in one piece (or keep their households, for a re-grid);
    with `only`, just those areas are mended. Returns whether anything changed."""
    household_weights, lo, hi = m.household_weights, m.lo, m.hi
    wholes, restrict, grid_range = m.wholes, m.restrict, m.grid_range
    bad = m.out_of_range(plan, only)
    if not bad:
        return False
    changed = False
    index = _Index(plan, wholes)
    searched = 0
    for a in bad:
        w = index.weight(plan, a)
        if w <= EPS or lo - EPS <= w <= hi + EPS or searched >= POCKET_AREAS:
            continue
        searched += 1
        adj_f = restrict(adj, plan.items)
        tried: set[tuple] = set()
        grid_of = kept_grids(plan, grid_range)
        for _key, moves, involved in pocket_shares(
            plan, adj_f, a, household_weights, lo, hi, index, grid_of=grid_of
        ):
            # One try per layout (which areas each building feeds), where the neighbour graph allows it.
            layout = tuple((b, tuple(x for x, s, e in sol if e > s)) for b, sol in moves)
            if layout in tried or not plausible(plan, adj_f, moves, involved, index):
                continue
            tried.add(layout)
            if _try_pair(plan, cells, adj, moves, involved, m, index):
                changed = True
                break
            if len(tried) >= POCKET_TRIES:
                break
    return finish(plan, cells, adj, index, changed)


def pocket_shares(
    plan: Plan,
    adj_f: list[set[int]],
    target: int,
    household_weights: dict[str, tuple[float, ...]],
    lo: float,
    hi: float,
    index: _Index,
    budget: int | None = None,
    *,
    grid_of: list[int] | None = None,
) -> list[tuple[tuple[int, int, float], Moves, list[int]]]:
    """Triples of the pocket's buildings shared out together so that every area they touch ends in
    range or empty (numbers only): ((buildings left cut, runs, households moved), the moves, the areas
    involved), best first; at most `budget` share-outs (`POCKET_BUDGET`). With `grid_of` (`kept_grids`),
    every grid keeps its households."""
    items, area_of = plan.items, plan.area_of
    members = index.members
    sizes = index.sizes(plan)

    def ring(areas: set[int]) -> set[int]:
        out = {area_of[j] for a in areas for i in members.get(a, ()) for j in adj_f[i]} - areas
        # A re-grid keeps every grid's households: the pocket is the target's grid.
        return out if grid_of is None else {a for a in out if grid_of[a] == grid_of[target]}

    first = ring({target})
    second = ring({target} | first)
    pocket = {target} | first | second
    own = [items[i].building for i in members.get(target, ())]
    near = [items[i].building for a in sorted(first) for i in members.get(a, ())]
    # Buildings of the second ring only where they border the first (they can feed it directly).
    outer = [
        items[i].building
        for a in sorted(second)
        for i in members.get(a, ())
        if any(area_of[j] in first for j in adj_f[i])
    ]
    names = list(dict.fromkeys(own + near + outer))[:POCKET_BUILDINGS]
    buildings: list[Building] = []
    for b in names:
        got = _order(plan, adj_f, b, target, sizes, index, household_weights, pocket, grid_of)
        if got is not None:
            buildings.append((b, household_weights[b], got[0], got[1]))
    out: list[tuple[tuple[int, int, float], Moves, list[int]]] = []
    left = [POCKET_BUDGET if budget is None else budget]
    for triple in itertools.combinations(buildings, 3):
        if left[0] <= 0:
            break
        orders = [set(t[2]) for t in triple]
        if not any(target in o for o in orders):
            continue
        # Every building shares an area with another of the triple (else two would do: `reshare`).
        if not all(any(orders[k] & orders[m] for m in range(3) if m != k) for k in range(3)):
            continue
        out.extend(share_many(list(triple), sizes, lo, hi, target, left, grid_of))
    out.sort(key=lambda c: c[0])
    return out


def share_many(
    buildings: list[Building],
    sizes: dict[int, float],
    lo: float,
    hi: float,
    target: int,
    left: list[int],
    grid_of: list[int] | None = None,
) -> list[tuple[tuple[int, int, float], Moves, list[int]]]:
    """Ways to share `buildings` out together (each one run per area, in the order of its areas) so that
    every area they reach ends in [lo, hi] or empty (one out of range other than `target` may stay as it
    is); `sizes[a]`: what area `a` holds now. `left[0]`: share-outs still allowed (counted down). With
    `grid_of` (`kept_grids`), every grid keeps its households.
    Returns ((buildings left cut, runs, households moved), the moves, the areas involved), best first."""
    union = list(dict.fromkeys(a for _b, _hw, order, _h in buildings for a in order))
    other = {a: sizes[a] - sum(h.get(a, 0.0) for *_x, h in buildings) for a in union}
    before = {a: sizes[a] for a in union}
    prefixes = [[0.0, *itertools.accumulate(hw)] for _b, hw, _o, _h in buildings]
    found: list[tuple[tuple[int, int, float], Moves, list[int]]] = []
    chosen: list[list[Run]] = []

    def walk(k: int, got: dict[int, float]) -> None:
        _b, hw, order, held = buildings[k]
        later = {a for *_x, o, _h in buildings[k + 1 :] for a in o}
        loose = frozenset(order) & frozenset(later)
        base = {a: other[a] + got.get(a, 0.0) for a in order}
        if left[0] <= 0:
            return
        left[0] -= 1
        limits = {"limit": POCKET_LIMIT, "max_runs": POCKET_RUNS, "every": True}
        sols = share_out(hw, order, base, held, lo, hi, target, loose=loose, **limits)  # type: ignore[arg-type]
        p = prefixes[k]
        seen: set[tuple[float, ...]] = set()
        for sol in sols:
            now = dict(got)
            for a, s, e in sol:
                now[a] = now.get(a, 0.0) + p[e] - p[s]
            if k + 1 < len(buildings):
                key = tuple(round(now.get(a, 0.0), 6) for a in sorted(later))
                if key in seen:
                    continue
                seen.add(key)
                chosen.append(sol)
                walk(k + 1, now)
                chosen.pop()
                if len(seen) >= POCKET_SPLITS or left[0] <= 0:
                    return
                continue
            end = {a: other[a] + now.get(a, 0.0) for a in union}
            if all(_fine(a, end[a], before[a], lo, hi, target) for a in union) and grids_kept(
                grid_of, before, end
            ):
                sols_all = [*chosen, sol]
                runs = [sum(e > s for _a, s, e in x) for x in sols_all]
                moved = sum(abs(end[a] - before[a]) for a in union) / 2
                key3 = (sum(r > 1 for r in runs), sum(runs), moved)
                moves = [(bb[0], x) for bb, x in zip(buildings, sols_all, strict=True)]
                found.append((key3, moves, union))

    walk(0, {})
    return found


def plausible(plan: Plan, adj_f: list[set[int]], moves: Moves, involved: list[int], index: _Index) -> bool:
    """Whether every area of `involved` could still be in one piece once `moves` are applied, on the
    neighbour graph before the cut: each run of a re-cut building counts as one piece touching whatever
    the whole building touched (so an area that loses the building linking its other items fails)."""
    items, by_building = plan.items, index.by_building
    moved = {b for b, _sol in moves}
    # Nodes: items of other buildings (their index), and ("b", area) for each run of a moved building.
    touch: dict[str, set[int]] = {}
    for b in moved:
        own = set(by_building.get(b, ()))
        touch[b] = {j for i in own for j in adj_f[i]} - own
    pieces: dict[int, list[str]] = {}
    for b, sol in moves:
        for a, s, e in sol:
            if e > s:
                pieces.setdefault(a, []).append(b)
    for a in involved:
        mine = [i for i in index.members.get(a, ()) if items[i].building not in moved]
        runs = pieces.get(a, [])
        if len(mine) + len(runs) <= 1:
            continue
        node_set = set(mine)
        seen_items: set[int] = set()
        seen_runs: set[str] = set()
        stack: list[int | str] = [mine[0]] if mine else [runs[0]]
        while stack:
            x = stack.pop()
            if isinstance(x, str):
                if x in seen_runs:
                    continue
                seen_runs.add(x)
                stack.extend(j for j in touch[x] if j in node_set and j not in seen_items)
                stack.extend(
                    b for b in runs if b not in seen_runs and not touch[x].isdisjoint(by_building[b])
                )
                continue
            if x in seen_items:
                continue
            seen_items.add(x)
            stack.extend(j for j in adj_f[x] if j in node_set and j not in seen_items)
            stack.extend(b for b in runs if b not in seen_runs and x in touch[b])
        if len(seen_items) < len(mine) or len(seen_runs) < len(runs):
            return False
    return True


__all__ = ["mend_pockets", "plausible", "pocket_shares", "share_many"]
