"""How few buildings can a plan cut? An exact integer programme on communities of the bench city.

    .venv/bin/pip install ortools            # research only (requirements-bench.txt pins it)
    .venv/bin/python bench/split_optimum.py                       # 16 communities of the bench city
    .venv/bin/python bench/split_optimum.py --ks 0,1,2 --limit 120

For each community (`lattice_community(140, seed=10_000 + k)`, as `bench/gridding.py`'s city builds them)
it prints the buildings our plan cuts (`engine.plan_community`), the lower bound `quality.split_floor`,
and the optimum of a relaxation of what any plan may do, solved by CP-SAT on one worker:

- the graph: buildings, two of them neighbours where any of their items' cells are (`tessellate.adjacency`
  on the engine's own cells; the bench city has no barriers);
- every building may be cut, into integer shares of households, between several areas (a building of
  more than 20 households is counted as cut whatever happens: the engine cuts it into unit/floor runs;
  a building of up to 20 counts once if any area holds less than all of it);
- each area is a connected set of (shares of) buildings with 15–20 households: a rooted tree per area,
  a single-commodity flow of households towards the root (every share holds ≥ 1 household, so the
  flow allows no cycle);
- a share of a building borders every neighbour of that building (the cell can be cut to face it).

It is a relaxation: the cuts need not be realisable on the cells, unit/floor order is ignored, grids are
ignored. So its optimum is a *lower bound* of the buildings any plan cuts (given at most `--copies`
shares per building up to 20 households and `--big-copies` per bigger one; the printed sensitivity
checks show those caps do not bind), and `split_floor` ≤ optimum ≤ our plan.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridgov.gridding.algorithm import engine  # noqa: E402
from gridgov.gridding.algorithm.model import Config, Plan  # noqa: E402
from gridgov.gridding.algorithm.quality import measure, split_floor  # noqa: E402
from gridgov.gridding.algorithm.splitting import split_buildings  # noqa: E402
from gridgov.gridding.algorithm.synthetic import lattice_community  # noqa: E402
from gridgov.gridding.algorithm.tessellate import adjacency, item_cells  # noqa: E402

CONFIG = Config()
CITY = 610  # communities of bench/gridding.py's city of 1,000,000 households
LO, HI = int(CONFIG.area_min), int(CONFIG.area_max)


def building_graph(seed: int) -> tuple[list[str], list[int], set[tuple[int, int]], object, list, list]:
    """Buildings (ids, households), their neighbour pairs, the community, items and item adjacency."""
    community = lattice_community(140, seed=seed)
    items, _ = split_buildings(community.buildings, CONFIG)
    cells, _blocks = item_cells(community, items)
    adj = adjacency(cells, CONFIG.min_shared_border)
    ids = [b.id for b in community.buildings]
    index = {b: k for k, b in enumerate(ids)}
    hh = [round(b.weight) for b in community.buildings]
    edges: set[tuple[int, int]] = set()
    for i, links in enumerate(adj):
        for j in links:
            a, b = index[items[i].building], index[items[j].building]
            if a != b:
                edges.add((min(a, b), max(a, b)))
    return ids, hh, edges, community, items, adj


def plan_shares(plan: Plan, ids: list[str]) -> list[list[tuple[int, int]]]:
    """Per building, its (area, households) in the plan, the biggest share first."""
    index = {b: k for k, b in enumerate(ids)}
    got: list[dict[int, int]] = [{} for _ in ids]
    for it, a in zip(plan.items, plan.area_of, strict=True):
        d = got[index[it.building]]
        d[a] = d.get(a, 0) + round(it.weight)
    return [sorted(d.items(), key=lambda t: (-t[1], t[0])) for d in got]


def solve(
    hh: list[int],
    edges: set[tuple[int, int]],
    copies: int,
    big_copies: int,
    limit: float,
    shares: list[list[tuple[int, int]]] | None = None,
    at_least: int = 0,
) -> tuple[int, float, str, float]:
    """Minimum number of buildings of ≤ HI households cut (plus those above HI, counted apart), from
    our plan's `shares` as a hint. Returns (best solution's small cuts, best bound, status, seconds)."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    n = len(hh)
    ncopy = [min(h, big_copies if h > HI else copies) for h in hh]
    if shares is not None:  # room for our plan's shares too
        ncopy = [max(k, len(s)) for k, s in zip(ncopy, shares, strict=True)]
    nodes = [(b, c) for b in range(n) for c in range(ncopy[b])]
    use, w, root, g = {}, {}, {}, {}
    for b, c in nodes:
        use[b, c] = m.new_bool_var(f"u{b}_{c}")
        w[b, c] = m.new_int_var(0, hh[b], f"w{b}_{c}")
        root[b, c] = m.new_bool_var(f"r{b}_{c}")
        g[b, c] = m.new_int_var(0, HI, f"g{b}_{c}")
        m.add(w[b, c] >= 1).only_enforce_if(use[b, c])
        m.add(w[b, c] == 0).only_enforce_if(~use[b, c])
        m.add_implication(root[b, c], use[b, c])
        m.add(g[b, c] >= LO).only_enforce_if(root[b, c])
        m.add(g[b, c] == 0).only_enforce_if(~root[b, c])
    for b in range(n):
        m.add(use[b, 0] == 1)
        m.add(sum(w[b, c] for c in range(ncopy[b])) == hh[b])
        for c in range(1, ncopy[b]):  # shares in decreasing order: no symmetric copies
            m.add_implication(use[b, c], use[b, c - 1])
            m.add(w[b, c] <= w[b, c - 1])
    arcs: dict[tuple[int, int, int, int], tuple] = {}
    out: dict[tuple[int, int], list] = {v: [] for v in nodes}
    inn: dict[tuple[int, int], list] = {v: [] for v in nodes}
    for a, b in edges:
        for s, t in ((a, b), (b, a)):
            for cs in range(ncopy[s]):
                for ct in range(ncopy[t]):
                    x = m.new_bool_var("")
                    f = m.new_int_var(0, HI - 1, "")
                    arcs[s, cs, t, ct] = (x, f)
                    m.add_implication(x, use[s, cs])
                    m.add_implication(x, use[t, ct])
                    m.add(f >= 1).only_enforce_if(x)
                    m.add(f == 0).only_enforce_if(~x)
                    out[s, cs].append((x, f))
                    inn[t, ct].append((x, f))
    for v in nodes:
        # A used share is a root or passes its flow to exactly one neighbour's share.
        m.add(sum(x for x, _ in out[v]) + root[v] == use[v])
        m.add(sum(f for _, f in out[v]) + g[v] == w[v] + sum(f for _, f in inn[v]))
    small_cut = [use[b, 1] for b in range(n) if hh[b] <= HI and ncopy[b] > 1]
    m.minimize(sum(small_cut))
    m.add(sum(small_cut) >= at_least)  # a bound proven otherwise (split_floor): the search stops there
    if shares is not None:
        hint(m, edges, ncopy, shares, use, w, root, g, arcs)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_deterministic_time = limit  # the same search whatever the machine's load
    solver.parameters.max_time_in_seconds = 20 * limit
    solver.parameters.linearization_level = 0  # pure CP search: proves these in seconds (LP: minutes)
    t0 = time.process_time()
    status = solver.solve(m)
    spent = time.process_time() - t0
    name = solver.status_name(status)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return round(solver.objective_value), solver.best_objective_bound, name, spent
    return -1, solver.best_objective_bound, name, spent


def hint(
    m: Any,
    edges: set[tuple[int, int]],
    ncopy: list[int],
    shares: list[list[tuple[int, int]]],
    use: dict,
    w: dict,
    root: dict,
    g: dict,
    arcs: dict,
) -> None:
    """Our plan as the solver's first solution: each area a tree (breadth first from its first share)."""
    members: dict[int, list[tuple[int, int]]] = {}
    val: dict[object, int] = {}
    for b, sh in enumerate(shares):
        for c in range(ncopy[b]):
            a, k = sh[c] if c < len(sh) else (-1, 0)
            val[use[b, c]], val[w[b, c]] = int(k > 0), k
            val[root[b, c]], val[g[b, c]] = 0, 0
            if k:
                members.setdefault(a, []).append((b, c))
    nbs: dict[int, set[int]] = {}
    for a, b in edges:
        nbs.setdefault(a, set()).add(b)
        nbs.setdefault(b, set()).add(a)
    for x, f in arcs.values():
        val[x], val[f] = 0, 0
    for nodes in members.values():
        at = {b: c for b, c in nodes}
        parent: dict[int, int] = {nodes[0][0]: -1}
        order = [nodes[0][0]]
        for b in order:
            for nb in sorted(nbs.get(b, ())):
                if nb in at and nb not in parent:
                    parent[nb] = b
                    order.append(nb)
        if len(order) < len(nodes):
            return  # an area not connected on the building graph: no hint
        flow = {b: val[w[b, at[b]]] for b in order}
        for b in reversed(order[1:]):
            flow[parent[b]] += flow[b]
            x, f = arcs[b, at[b], parent[b], at[parent[b]]]
            val[x], val[f] = 1, flow[b]
        r = order[0]
        val[root[r, at[r]]], val[g[r, at[r]]] = 1, flow[r]
    for var, v in val.items():
        m.add_hint(var, v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ks", default="", help="city community indices k (seed 10,000 + k), comma-separated")
    ap.add_argument("--all", action="store_true", help="every community of the 1M-household city (610)")
    ap.add_argument("--limit", type=float, default=60.0, help="CP-SAT's deterministic time per solve")
    ap.add_argument("--copies", type=int, default=3, help="shares per building of ≤ 20 households")
    ap.add_argument("--big-copies", type=int, default=6, help="shares per building of > 20 households")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")] if args.ks else list(range(0, 610, 32))
    if args.all:  # a spread order: any first rows are a sample of the whole city
        ks = [(i * 37) % CITY for i in range(CITY)]
    head = "| k | households | > 20 | our plan cuts | split_floor | optimum | status | CPU s |"
    print(head + "\n|---|---|---|---|---|---|---|---|", flush=True)
    n = ours_sum = floor_sum = low_sum = high_sum = solved = 0
    above: list[int] = []  # per community: the optimum's proven bound above split_floor
    for k in ks:
        ids, hh, edges, community, items, adj = building_graph(10_000 + k)
        plan = engine.plan_community(community, CONFIG, code="C")
        ours = round(measure(plan, community.boundary, CONFIG).buildings_split * len(ids))
        floor = split_floor(items, adj, LO, HI)
        big = sum(h > HI for h in hh)
        best, bound, status, spent = solve(
            hh, edges, args.copies, args.big_copies, args.limit, plan_shares(plan, ids), floor - big
        )
        # The optimum lies between the bounds proven (the solver's, split_floor's) and the best solution.
        low = max(big + math.ceil(bound - 1e-6), floor)
        high = big + best if best >= 0 else ours
        cell = f"{high}" if low == high else f"{low}–{high}"
        solved += low == high
        print(
            f"| {k} | {sum(hh):,} | {big} | {ours} | {floor} | {cell} | {status} | {spent:.1f} |", flush=True
        )
        n, ours_sum, floor_sum = n + len(ids), ours_sum + ours, floor_sum + floor
        low_sum, high_sum = low_sum + low, high_sum + high
        above.append(low - floor)
    opt = f"{low_sum / n:.2%}" if low_sum == high_sum else f"{low_sum / n:.2%}–{high_sum / n:.2%}"
    print(
        f"\n{len(ks)} communities, {n:,} buildings ({solved} solved to optimality): buildings cut by our "
        f"plans {ours_sum / n:.2%}, split_floor {floor_sum / n:.2%}, optimum of the relaxation {opt}"
    )
    if len(above) > 1:
        # The city's split_floor is known for every community (bench/gridding.py prints it): its optimum is
        # at least that plus the city's mean proven excess, estimated from this sample.
        mean, se = statistics.mean(above), statistics.stdev(above) / math.sqrt(len(above))
        per = n / len(ks)
        print(
            f"proven optimum above split_floor: {mean:.2f} ± {se:.2f} (standard error) buildings a "
            f"community = {mean / per:.2%} ± {se / per:.2%} of buildings"
        )


if __name__ == "__main__":
    main()
