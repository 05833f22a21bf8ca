"""The nearest feasible alternative for an area (or a grid) the engine leaves out of range.

What the mending passes could not do on the cells (or what the numbers do not allow) is reported with a
concrete change the staff can make themselves with the plan's own adjustments: moving cells (a whole
building, or one unit/floor run of a cut one) to a neighbouring area, or merging two neighbouring areas
of a grid. `nearest_change` searches, on the neighbour graph of the plan as it is, chains of up to
`DEPTH` moves starting at the area out of range (each next move mends an area a move before left out of
range), and merges with a neighbour; every area keeps at least one cell and stays in one piece. The
change kept puts every area it touches in range (fewest moves, then fewest households moved) or, where
none does within the bound, leaves them the least out of range ("least bad"); the sizes it leads to are
given with it. Grids out of range are treated alike one level up (areas moved between grids, or grids
merged). The search is deterministic (ties by index) and bounded (`BUDGET` states per problem).

`explain` fills `Problem.alternative` (English) and `Problem.params["alternative"]` (the steps and the
resulting sizes, by code, for a user interface to say in its own language and to apply).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from .model import Config, Plan, Problem

EPS = 1e-9
DEPTH = 3  # moves in a chain
BUDGET = 20000  # search states per problem


@dataclass(frozen=True)
class Change:
    """A change of a partition of units into groups: moves (unit, from, to) then at most one merge
    (group, into); the groups it touches with their sizes after it; how far out of range they end."""

    moves: tuple[tuple[int, int, int], ...]
    merge: tuple[int, int] | None
    sizes: dict[int, float]
    off: float  # sum over the touched groups (and their outer groups) of the distance to the range

    @property
    def feasible(self) -> bool:
        return self.off <= EPS


def _off(w: float, lo: float, hi: float) -> float:
    if w <= EPS:
        return 0.0
    return max(0.0, lo - w, w - hi)


def nearest_change(
    weights: Sequence[float],
    group_of: Sequence[int],
    links: Sequence[set[int]],
    target: int,
    lo: float,
    hi: float,
    *,
    mergeable: Callable[[int, int], bool] = lambda g, h: True,
    outer: tuple[Sequence[int], float, float] | None = None,
    depth: int = DEPTH,
    budget: int = BUDGET,
) -> Change | None:
    """The smallest change of whole units (moves to a neighbouring group, merging `target` into a
    neighbour) after which `target` and every group the change touches are in [lo, hi] (each group
    keeping at least one unit and staying in one piece in `links`); else the least out of range one.
    `outer`: the group → outer group map and the outer range (grids of areas), counted in the distance
    when a move changes outer groups. None when nothing improves on the plan as it is."""
    n_groups = max(group_of, default=-1) + 1
    members: list[set[int]] = [set() for _ in range(n_groups)]
    for u, g in enumerate(group_of):
        members[g].add(u)
    size = [0.0] * n_groups
    for u, g in enumerate(group_of):
        size[g] += weights[u]
    outer_of, olo, ohi = outer if outer is not None else ([0] * n_groups, -1e18, 1e18)
    outer_size: dict[int, float] = {}
    for g in range(n_groups):
        outer_size[outer_of[g]] = outer_size.get(outer_of[g], 0.0) + size[g]
    where = list(group_of)

    def score(touched: set[int]) -> float:
        outs = {outer_of[g] for g in touched}
        return sum(_off(size[g], lo, hi) for g in touched) + sum(_off(outer_size[o], olo, ohi) for o in outs)

    def whole_without(g: int, u: int) -> bool:
        rest = members[g] - {u}
        if not rest:
            return False
        start = next(iter(rest))
        seen, stack = {start}, [start]
        while stack:
            x = stack.pop()
            for y in links[x]:
                if y in rest and y not in seen:
                    seen.add(y)
                    stack.append(y)
        return len(seen) == len(rest)

    def neighbours(g: int) -> list[int]:
        return sorted({where[j] for i in members[g] for j in links[i]} - {g})

    base = score({target})
    best: tuple[tuple[float, int, float], Change] | None = None

    def consider(moves: list[tuple[int, int, int]], merge: tuple[int, int] | None, touched: set[int]) -> None:
        nonlocal best
        off = score(touched)
        moved = sum(weights[u] for u, _a, _b in moves)
        key = (round(off, 9), len(moves) + (merge is not None), moved)
        if off < base - EPS and (best is None or key < best[0]):
            sizes = {g: size[g] for g in sorted(touched)}
            best = (key, Change(tuple(moves), merge, sizes, off))

    def move(u: int, a: int, b: int) -> None:
        members[a].discard(u)
        members[b].add(u)
        where[u] = b
        size[a] -= weights[u]
        size[b] += weights[u]
        outer_size[outer_of[a]] -= weights[u]
        outer_size[outer_of[b]] += weights[u]

    # Merging the target into a neighbour (one step).
    for h in neighbours(target):
        if mergeable(target, h):
            move_all = list(members[target])
            for u in move_all:
                move(u, target, h)
            consider([], (target, h), {h})
            for u in move_all:
                move(u, h, target)
    steps = [0]
    done: set[int] = set()

    def search(moves: list[tuple[int, int, int]], touched: set[int]) -> None:
        if steps[0] >= budget:
            return
        steps[0] += 1
        if moves:
            consider(moves, None, touched)
        if len(moves) >= depth or (best is not None and best[1].feasible and len(moves) + 1 >= best[0][1]):
            return
        for g in sorted(touched):
            off = _off(size[g], lo, hi)
            if off <= EPS:
                continue
            options: list[tuple[int, int, int]] = []
            if size[g] < lo:  # pull a unit from a neighbour
                for i in sorted(members[g]):
                    for u in sorted(links[i]):
                        h = where[u]
                        if h != g and u not in done:
                            options.append((u, h, g))
            else:  # give a unit to a neighbour
                for u in sorted(members[g]):
                    if u in done:
                        continue
                    for h in sorted({where[j] for j in links[u]} - {g}):
                        options.append((u, g, h))
            for u, a, b in dict.fromkeys(options):
                if _off(size[g] + (weights[u] if b == g else -weights[u]), lo, hi) >= off - EPS:
                    continue  # each move brings the area it mends nearer to the range
                if not whole_without(a, u):
                    continue
                move(u, a, b)
                done.add(u)
                search([*moves, (u, a, b)], touched | {a, b})
                done.discard(u)
                move(u, b, a)
                if steps[0] >= budget:
                    return

    search([], {target})
    return best[1] if best is not None else None


def explain(plan: Plan, links: Sequence[set[int]], config: Config) -> None:
    """Give each out-of-range problem of `plan` (areas and grids named by code) its nearest alternative,
    in place: `alternative` says it in English, `params["alternative"]` holds the steps and sizes."""
    if not any(p.kind == "out_of_range" for p in plan.problems):
        return
    area_index = {c: a for a, c in enumerate(plan.area_codes)}
    grid_index = {c: g for g, c in enumerate(plan.grid_codes)}
    weights = [it.weight for it in plan.items]
    out = []
    for p in plan.problems:
        code = str(p.params.get("code", "")) if p.kind == "out_of_range" else ""
        level = p.params.get("level")
        if level == "area" and code in area_index:
            out.append(_area_alternative(plan, links, config, weights, p, area_index[code]))
        elif level == "grid" and code in grid_index:
            out.append(_grid_alternative(plan, links, config, p, grid_index[code]))
        else:
            out.append(p)
    plan.problems = out


def _area_alternative(
    plan: Plan, links: Sequence[set[int]], config: Config, weights: list[float], p: Problem, target: int
) -> Problem:
    gof = plan.grid_of_area
    change = nearest_change(
        weights,
        plan.area_of,
        links,
        target,
        config.area_min,
        config.area_max,
        mergeable=lambda a, b: gof[a] == gof[b],
        outer=(gof, config.grid_min, config.grid_max),
    )
    codes = plan.area_codes
    if change is None:
        text = "no move of whole buildings or runs nearby (up to three) brings it nearer to the range"
        return _none(p, text)
    steps: list[dict[str, object]] = []
    for u, a, b in change.moves:
        it = plan.items[u]
        ids = plan.household_ids.get(it.building)
        steps.append(
            {
                "op": "move",
                "building": it.building,
                "part": it.part,
                "households": it.count,
                "weight": it.weight,
                "household": ids[it.first] if ids else str(it.first),
                "from": codes[a],
                "to": codes[b],
            }
        )
    if change.merge is not None:
        steps.append({"op": "merge", "area": codes[change.merge[0]], "into": codes[change.merge[1]]})
    sizes = {codes[a]: w for a, w in change.sizes.items()}
    return _with(p, steps, sizes, change, config.area_min, config.area_max, "area")


def _grid_alternative(
    plan: Plan, links: Sequence[set[int]], config: Config, p: Problem, target: int
) -> Problem:
    # Areas as units, their neighbours from the cells' links.
    n = plan.n_areas
    area_links: list[set[int]] = [set() for _ in range(n)]
    for i, a in enumerate(plan.area_of):
        for j in links[i]:
            b = plan.area_of[j]
            if b != a:
                area_links[a].add(b)
    change = nearest_change(
        plan.area_weights(), plan.grid_of_area, area_links, target, config.grid_min, config.grid_max
    )
    codes = plan.grid_codes
    if change is None:
        text = "no move of whole areas nearby (up to three) brings it nearer to the range"
        return _none(p, text)
    weights = plan.area_weights()
    names = plan.area_codes
    steps: list[dict[str, object]] = [
        {"op": "move_area", "area": names[u], "weight": weights[u], "from": codes[a], "to": codes[b]}
        for u, a, b in change.moves
    ]
    if change.merge is not None:
        steps.append({"op": "merge_grid", "grid": codes[change.merge[0]], "into": codes[change.merge[1]]})
    sizes = {codes[g]: w for g, w in change.sizes.items()}
    return _with(p, steps, sizes, change, config.grid_min, config.grid_max, "grid")


def _with(
    p: Problem,
    steps: list[dict[str, object]],
    sizes: dict[str, float],
    change: Change,
    lo: float,
    hi: float,
    level: str,
) -> Problem:
    """`p` with the change said in English and given as params."""
    said = []
    for s in steps:
        if s["op"] == "move":
            run = f"run {s['part']} of building {s['building']}" if s["part"] else f"building {s['building']}"
            said.append(f"move {run} ({s['households']} households) from area {s['from']} to area {s['to']}")
        elif s["op"] == "merge":
            said.append(f"merge area {s['area']} into area {s['into']}")
        elif s["op"] == "move_area":
            said.append(f"move area {s['area']} from grid {s['from']} to grid {s['to']}")
        else:
            said.append(f"merge grid {s['grid']} into grid {s['into']}")
    result = ", ".join(f"{c} {_describe(w, lo, hi)}" for c, w in sizes.items())
    text = "; then ".join(said) + f" → {result}"
    if not change.feasible:
        text = f"no change of up to three moves puts every {level} in range; the nearest: {text}"
    params = {"steps": steps, "sizes": sizes, "feasible": change.feasible, "off": round(change.off, 6)}
    return replace(p, alternative=text, params={**p.params, "alternative": params})


def _none(p: Problem, text: str) -> Problem:
    return replace(p, alternative=text, params={**p.params, "alternative": {"steps": [], "feasible": False}})


def _describe(w: float, lo: float, hi: float) -> str:
    if w < lo - EPS:
        return f"{w:g} ({lo - w:g} under)"
    if w > hi + EPS:
        return f"{w:g} ({w - hi:g} over)"
    return f"{w:g}"


__all__ = ["Change", "explain", "nearest_change"]
